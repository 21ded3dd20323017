"""An example plug-in method: fine-tune the top block's MLP output projection on the edit prompts.

What a ksmith method has to do, and nothing more:
- subclass `ksmith.methods.Method`, set `families` and a frozen `Hparams` dataclass with defaults;
- in `apply(model, tokenizer, request)`, change the model in place and return an `UpdateResult`
  naming every parameter it may have changed (`touched`); never restore weights, never score;
- take module names from `ksmith.models.arch.describe(model)`, never from the model's name;
- be deterministic for a given request (`request.seed`) and keep no state between calls;
- tokenize (prompt, target) pairs with `ksmith.tokens.encode_pair`, the split the scorer scores, so
  the loss it lowers is the one the probes measure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.errors import MethodError
from ksmith.methods import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.models.arch import describe
from ksmith.tokens import encode_pair


@dataclass(frozen=True)
class TopMLPHparams(Hparams):
    """40 Adam steps at 1e-2, chosen on tiny-kg-small cells the CI gate never runs (edit, k=1, seeds
    1-8 at the leaf and intermediate levels; the gate's cell is leaf, k=30, seed 0): every direct
    probe of all 16 cells moved to the new object, ccr 0.14 on average. 20 steps left two cells at
    direct_acc 0.67; 20 or 40 steps at 3e-2 also reached 1.0 but with ccr 0.22-0.23 (more collateral
    change)."""

    steps: int = 40
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
        context, answer = encode_pair(tokenizer, prompt, target)
        ids = torch.tensor([context + answer], device=next(model.parameters()).device)
        logp = torch.log_softmax(model(input_ids=ids).logits[0, len(context) - 1 : -1].float(), dim=-1)
        return -logp.gather(1, ids[0, len(context) :, None]).mean()
