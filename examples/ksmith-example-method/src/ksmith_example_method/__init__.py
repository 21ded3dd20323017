"""An example plug-in method: fine-tune the top block's MLP output projection on the edit prompts.

What a ksmith method has to do, and nothing more:
- subclass `ksmith.methods.Method`, set `families` and a frozen `Hparams` dataclass with defaults;
- in `apply(model, tokenizer, request)`, change the model in place and return an `UpdateResult`
  naming every parameter it may have changed (`touched`); never restore weights, never score;
- take module names from `ksmith.models.arch.describe(model)`, never from the model's name;
- be deterministic for a given request (`request.seed`) and keep no state between calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.errors import MethodError
from ksmith.methods import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.models.arch import describe


@dataclass(frozen=True)
class TopMLPHparams(Hparams):
    """20 Adam steps at 1e-2: on tiny-kg-small (k=1, seeds 1) they bring the loss to 0.05-0.4 and every
    direct probe to the new object at the leaf and intermediate levels; 10 steps left a leaf edit
    at loss 6.1 with a third of its direct probes unchanged."""

    steps: int = 20
    lr: float = 1e-2


class TopMLPFinetune(Method):
    """Edits only: minimise the new object's negative log-likelihood after each prompt."""

    families = frozenset({"edit"})
    Hparams = TopMLPHparams

    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp = self.hparams_for(arch)
        name = arch.mlp_out_weight(arch.num_layers - 1)
        if request.task != "edit":
            raise MethodError("top-mlp-ft supports the edit task only")
        rows = [(p, " " + iv.new_object) for iv in request.interventions for p in iv.prompts]
        if not rows:
            return UpdateResult(touched=(name,), wall_s=time.perf_counter() - start)
        weight = model.get_parameter(name)
        optimiser = torch.optim.Adam([weight], lr=hp.lr)
        curve = []
        for _ in range(hp.steps):
            optimiser.zero_grad()
            loss = torch.stack([self._nll(model, tokenizer, p, t) for p, t in rows]).mean()
            loss.backward(inputs=[weight])
            optimiser.step()
            curve.append(float(loss.detach()))
        weight.grad = None  # leave no optimiser state on the model
        return UpdateResult(touched=(name,), steps=hp.steps, loss_curve=curve, wall_s=time.perf_counter() - start)

    @staticmethod
    def _nll(model: Any, tokenizer: Any, prompt: str, target: str) -> torch.Tensor:
        context = tokenizer(prompt)["input_ids"]
        answer = tokenizer(target, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([context + answer], device=next(model.parameters()).device)
        logp = torch.log_softmax(model(input_ids=ids).logits[0, len(context) - 1 : -1].float(), dim=-1)
        return -logp.gather(1, ids[0, len(context) :, None]).mean()
