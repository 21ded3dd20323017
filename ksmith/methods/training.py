"""One small fine-tuning loop shared by every gradient-based editor and unlearner.

Everything a fine-tuning method needs and nothing more (nanoGPT-sized on purpose):

- `TrainPair` / `tokenize_pairs`: (prompt, target) pairs tokenised together, with a mask that marks
  the target tokens, so every loss is computed on the target tokens only (the prompt is context).
- `sequence_logprobs`: per pair, the summed log-probability of its target tokens and their count,
  the one quantity GA, GradDiff, NPO, SimNPO and the FT losses are functions of.
- `ParamSet`: a chosen subset of the model's parameters by name, with a copy of their original
  values; `reference()` swaps the originals in for a forward pass, so "the original model" (NPO's
  reference, the KL retain term) costs one extra forward and no model copy.
- `train`: the loop itself: Adam (the editors) or AdamW with a linear warm-up and decay (the
  unlearners, as their references' Hugging Face Trainer) on the chosen parameters, a loss closure
  per micro-batch with gradient accumulation, an optional projection after each step (FT-L's
  L-inf bound), seeded, returning the loss curve.
- `epoch_rule` / `example_rule`: how the unlearning references turn epochs, batch size and
  accumulation into a number of optimiser steps and warm-up steps.

Precision: parameters stored in bf16 or fp16 are trained through float32 *master copies*
(`ParamSet.masters`): Adam's state and updates live in float32 and each step's result is rounded
once into the model's tensor. Updating a bf16 weight in place would lose every step smaller than
its rounding step (2^-8 relative): at the published unlearning learning rates (1e-5) most steps
would vanish. The copies cost 4 bytes per trained element (plus Adam's 8), only for the trained
tensors; float32 models train their own tensors directly.

Gradients are taken with `torch.autograd.grad` on the chosen parameters only, so the loop never
flips `requires_grad` on the caller's model and leaves no `.grad` behind. The model runs in eval
mode (no dropout; `train_modules` excepted, whose randomness the caller seeds) so the same seed
gives bit-identical weights.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from ksmith.errors import MethodError
from ksmith.models.logits import logits_at


@dataclass(frozen=True)
class TrainPair:
    """A training example: `target` is the continuation of `prompt` that the loss is taken on."""

    prompt: str
    target: str


@dataclass
class TokenBatch:
    """Right-padded token ids of prompt + target, with the target positions marked.

    target_mask[b, t] is True where token t of row b belongs to the target, i.e. where the logits
    at position t - 1 are scored.
    """

    input_ids: torch.Tensor  # [B, T] long
    attention_mask: torch.Tensor  # [B, T] long
    target_mask: torch.Tensor  # [B, T] bool

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class SeqLogProbs:
    """Per pair: summed log-probability of the target tokens (`logp`) and their count (`n`)."""

    logp: torch.Tensor  # [B] float
    n: torch.Tensor  # [B] float


def _pad_id(tokenizer) -> int:
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def tokenize_pairs(tokenizer, pairs: Sequence[TrainPair], device: torch.device | str = "cpu") -> TokenBatch:
    """Tokenise each prompt + target and mark the tokens that belong to the target.

    The split is the scorer's (`ksmith.tokens.encode_pairs`: the whole text encoded at once, cut at
    the prompt's length, with the tokenizer's own BOS), so a method trains exactly the tokens it is
    scored on. A target that adds no token is a bad request and raises.
    """
    from ksmith.tokens import TokenizationError, encode_pairs

    if not pairs:
        raise MethodError("tokenize_pairs: no pairs given; callers must skip empty requests")
    try:
        split = encode_pairs(tokenizer, [(pair.prompt, pair.target) for pair in pairs])
    except TokenizationError as exc:
        raise MethodError(f"a target adds no token to its prompt ({exc}); give a non-empty target (' ' + object)") from None
    rows = [context + continuation for context, continuation in split]
    starts = [len(context) for context, _ in split]
    width = max(len(r) for r in rows)
    pad = _pad_id(tokenizer)
    # Padded on the host as lists, then one transfer per tensor (no per-row copies to the device).
    fill = [width - len(r) for r in rows]
    ids = torch.tensor([r + [pad] * f for r, f in zip(rows, fill)], dtype=torch.long, device=device)
    attn = torch.tensor([[1] * len(r) + [0] * f for r, f in zip(rows, fill)], dtype=torch.long, device=device)
    tmask = torch.tensor(
        [[False] * s + [True] * (len(r) - s) + [False] * f for r, s, f in zip(rows, starts, fill)],
        dtype=torch.bool, device=device,
    )
    return TokenBatch(ids, attn, tmask)


def _predicting(batch: TokenBatch) -> torch.Tensor:
    """[B, T] mask of the positions whose logits predict a target token (the one before each)."""
    mask = batch.target_mask
    return torch.cat([mask[:, 1:], mask.new_zeros((mask.shape[0], 1))], dim=1)


def target_logits(model, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that predict each target token ([N, V]) and those tokens' ids ([N]), row-major.

    Only those positions go through the LM head (`ksmith.models.logits`)."""
    logits, _ = logits_at(model, _predicting(batch), input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    return logits, batch.input_ids[:, 1:][batch.target_mask[:, 1:]]


def sequence_logprobs(model, batch: TokenBatch) -> SeqLogProbs:
    """Summed target-token log-probabilities per pair (the input of every sequence-level loss)."""
    logits, labels = target_logits(model, batch)
    token_lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    mask = batch.target_mask[:, 1:]
    # back to [B, T-1] with zeros elsewhere, summed per row as a masked dense sum is (same order)
    per_position = token_lp.new_zeros(mask.shape).masked_scatter(mask, token_lp)
    return SeqLogProbs(logp=per_position.sum(-1), n=mask.sum(-1).to(token_lp.dtype))


def first_target_logprobs(model, batch: TokenBatch) -> SeqLogProbs:
    """Log-probability of each pair's first target token only, read at the prompt's last position.

    FT-L's objective (as in the editing literature's FT-L baseline): the prediction right after the
    prompt, which is what a single-token cloze answer depends on.
    """
    first = batch.target_mask.int().argmax(-1)  # index of the first target token per row
    rows = torch.arange(len(batch), device=first.device)
    keep = torch.zeros_like(batch.target_mask)
    keep[rows, first - 1] = True
    logits, _ = logits_at(model, keep, input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    lp = logprobs.gather(-1, batch.input_ids[rows, first].unsqueeze(-1)).squeeze(-1)
    return SeqLogProbs(logp=lp, n=torch.ones_like(lp))


class ParamSet:
    """A named subset of a model's parameters and a copy of their original values.

    The copy serves three purposes: `reference()` (run the original model), `project_linf` (FT-L's
    bound around the original) and nothing else is kept, so memory is one copy of the subset.
    """

    def __init__(self, model, names: Sequence[str]) -> None:
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing:
            raise MethodError(f"no parameter(s) {missing} in the model; check the layer / module hparams")
        if not names:
            raise MethodError("ParamSet: no parameters chosen; choose at least one layer / module")
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        self.params: list[torch.nn.Parameter] = [params[n] for n in self.names]
        self.originals: list[torch.Tensor] = [p.detach().clone() for p in self.params]
        #: float32 copies of the low-precision parameters that `train` optimises (None: the
        #: parameter is float32 and is trained itself).
        self.masters: list[torch.Tensor | None] = [
            None if p.dtype in (torch.float32, torch.float64) else p.detach().float().clone() for p in self.params
        ]

    def trained(self) -> list[torch.Tensor]:
        """What the optimiser updates: the float32 master copy where there is one, else the parameter."""
        return [p if m is None else m for p, m in zip(self.params, self.masters)]

    def sync(self) -> None:
        """Round each master copy once into its parameter."""
        with torch.no_grad():
            for p, m in zip(self.params, self.masters):
                if m is not None:
                    p.copy_(m)

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """Within the block the chosen parameters hold their original values (no grad)."""
        current = [p.detach().clone() for p in self.params]
        try:
            with torch.no_grad():
                for p, o in zip(self.params, self.originals):
                    p.copy_(o)
                yield
        finally:
            with torch.no_grad():
                for p, c in zip(self.params, current):
                    p.copy_(c)

    def project_linf(self, bound: float) -> None:
        """Clamp every chosen parameter (its master copy, if any) to within `bound` (L-inf) of its
        original value."""
        with torch.no_grad():
            for t, o in zip(self.trained(), self.originals):
                o = o.to(t.dtype)
                t.copy_(torch.maximum(torch.minimum(t, o + bound), o - bound))
        self.sync()


def minibatches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[list[int]]:
    """`steps` lists of indices into n items: seeded epochs of shuffled batches (full batch if small)."""
    size = max(1, min(batch_size, n))
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=generator, device="cpu").tolist()  # indices only: host
        for lo in range(0, n, size):
            if done >= steps:
                return
            yield order[lo : lo + size]
            done += 1


def per_epoch(n: int, batch_size: int) -> int:
    """Minibatches in one pass over n items."""
    return math.ceil(n / max(1, min(batch_size, n))) if n else 0


def steps_for(n: int, batch_size: int, steps: int, epochs: float) -> int:
    """At least `steps` steps and at least `epochs` passes over n items."""
    return max(steps, math.ceil(epochs * per_epoch(n, batch_size)))


# -- the unlearning references' step counts (both run the Hugging Face Trainer) --------------------


def updates_per_epoch(n: int, batch_size: int, accumulation: int) -> int:
    """Optimiser steps in one pass over n items as the Hugging Face Trainer counts them: batches of
    `batch_size`, one update per `accumulation` batches, rounded down, at least one."""
    if not n:
        return 0
    return max(1, math.ceil(n / max(1, batch_size)) // max(1, accumulation))


def epoch_rule(n: int, batch_size: int, accumulation: int, epochs: float, warmup_epochs: float) -> tuple[int, int]:
    """(steps, warmup steps) as open-unlearning sets them: `num_train_epochs` epochs of
    `updates_per_epoch` steps, and `warmup_epochs` turned into steps by its `load_trainer_args`
    (int(warmup_epochs * n // (batch * accumulation)))."""
    steps = math.ceil(epochs * updates_per_epoch(n, batch_size, accumulation))
    warmup = int(warmup_epochs * n // max(1, batch_size * accumulation))
    return steps, warmup


def example_rule(n: int, batch_size: int, accumulation: int, epochs: float, warmup_epochs: float) -> tuple[int, int]:
    """(steps, warmup steps) as zjunlp/unlearn's `forget.py` sets them: max_steps = int(epochs * n)
    // (batch * accumulation), warmup max(1, one epoch's steps); a max_steps of 0 leaves the Trainer
    on its default 3 epochs."""
    per_update = max(1, batch_size * accumulation)
    steps = int(epochs * n) // per_update
    if steps <= 0:
        steps = math.ceil(3.0 * updates_per_epoch(n, batch_size, accumulation))
    return steps, max(1, int(warmup_epochs * n) // per_update)


#: How a step count is derived from a forget set, by the reference each follows.
STEP_RULES: dict[str, Callable[[int, int, int, float, float], tuple[int, int]]] = {
    "epochs": epoch_rule,
    "examples": example_rule,
}


# -- the optimiser and its schedule ----------------------------------------------------------------

#: "adam": torch Adam, decay added to the gradient (the editing baselines'); "adamw": decoupled
#: decay on matrices only (what the Hugging Face Trainer builds for the unlearning references).
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
#: "constant": the learning rate throughout; "linear": linear warm-up, then linear decay to 0
#: (the Hugging Face Trainer's default `lr_scheduler_type`).
SCHEDULES: tuple[str, ...] = ("constant", "linear")


def build_optimizer(params: ParamSet, lr: float, weight_decay: float = 0.0, kind: str = "adam") -> torch.optim.Optimizer:
    """The optimiser over `params.trained()`.

    "adamw" puts weight decay on tensors of two or more dimensions only: the Hugging Face Trainer
    exempts biases and normalisation weights (`get_decay_parameter_names`), which are the 1-D
    tensors of every layout ksmith supports. Betas (0.9, 0.999) and eps 1e-8 are its defaults.
    """
    trained = params.trained()
    if kind == "adam":
        return torch.optim.Adam(trained, lr=lr, weight_decay=weight_decay)
    if kind == "adamw":
        groups = [
            {"params": [t for t in trained if t.ndim >= 2], "weight_decay": weight_decay},
            {"params": [t for t in trained if t.ndim < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    raise MethodError(f"unknown optimizer {kind!r}; use one of {OPTIMIZERS}")


def linear_factor(step: int, steps: int, warmup: int) -> float:
    """The learning-rate factor at `step` (0-based) of a linear warm-up over `warmup` steps then a
    linear decay to 0 at `steps`: Hugging Face's `get_linear_schedule_with_warmup` (so with a warm-up
    the first step's factor is 0)."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (steps - step) / max(1, steps - warmup))


def build_schedule(
    optimizer: torch.optim.Optimizer, steps: int, warmup: int = 0, kind: str = "constant"
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule `train` steps once per update (None: constant)."""
    if kind == "constant":
        return None
    if kind == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: linear_factor(step, steps, warmup))
    raise MethodError(f"unknown schedule {kind!r}; use one of {SCHEDULES}")


def train(
    model,
    params: ParamSet,
    step_loss: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
    grad_clip: float | None = 1.0,
    after_step: Callable[[], None] | None = None,
    stop_loss: float | None = None,
    stop_window: int = 1,
    should_stop: Callable[[int], bool] | None = None,
    *,
    optimizer: str = "adam",
    schedule: str = "constant",
    warmup_steps: int = 0,
    accumulation: int = 1,
    train_modules: Sequence[torch.nn.Module] = (),
) -> list[float]:
    """Minimise `step_loss` over `params` for `steps` optimiser steps; return the loss curve.

    `params.reference()` may be used inside `step_loss`, but before the step's graph is built
    (it writes the weights that graph would read).
    `step_loss` builds the whole objective of one micro-batch (forget term, retain term, ...), so
    methods differ only in that closure. It is called with the micro-batch index
    `step * accumulation + i`, i < `accumulation`; their gradients are averaged (each loss divided
    by `accumulation`, as the Hugging Face Trainer does) before one clipped update, and the curve
    records the mean of their losses. `after_step` runs after each update (e.g. a projection). A
    non-finite loss stops the loop early rather than writing NaNs into the weights; a loss below
    the last `stop_window` step losses (one epoch of minibatches) all below `stop_loss` stop it
    because the objective already holds everywhere (no update is made on that step);
    `should_stop(step)`, asked before each step, stops it on any other criterion (e.g. "forgotten").
    A tensor no loss reaches gets no gradient and is left alone by the optimiser (no decay, no
    momentum step), as in torch's optimisers and the Trainer. `train_modules` run in training mode
    (e.g. LoRA's dropout); the rest of the model runs in eval mode.
    """
    was_training = model.training
    model.eval()
    for module in train_modules:
        module.train()
    trained = params.trained()  # float32 masters of low-precision parameters (see the module doc)
    opt = build_optimizer(params, lr, weight_decay, optimizer)
    scheduler = build_schedule(opt, steps, warmup_steps, schedule)
    accumulation = max(1, accumulation)
    flags = [p.requires_grad for p in params.params]
    curve: list[float] = []
    try:
        for p in params.params:  # a model loaded for inference may have grads switched off
            p.requires_grad_(True)
        with torch.enable_grad():
            for step in range(steps):
                if should_stop is not None and should_stop(step):
                    break
                if not _accumulate(step_loss, step, accumulation, params, curve, stop_loss, stop_window):
                    break
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(trained, grad_clip)
                opt.step()
                if scheduler is not None:
                    scheduler.step()
                params.sync()
                if after_step is not None:
                    after_step()
    finally:
        for p, t, flag in zip(params.params, trained, flags):
            p.grad = None
            t.grad = None
            p.requires_grad_(flag)
        model.train(was_training)
    return curve


def _accumulate(
    step_loss: Callable[[int], torch.Tensor],
    step: int,
    accumulation: int,
    params: ParamSet,
    curve: list[float],
    stop_loss: float | None,
    stop_window: int,
) -> bool:
    """One step's micro-batches: record the mean loss, leave the averaged gradients on the trained
    tensors; False when the loop must stop (a non-finite loss, or `stop_loss` reached)."""
    values: list[float] = []
    summed: list[torch.Tensor | None] = [None] * len(params.params)
    for micro in range(accumulation):
        loss = step_loss(step * accumulation + micro)
        value = float(loss.detach())
        if not math.isfinite(value):
            return False
        values.append(value)
        if micro == accumulation - 1:  # the step's loss is known: stop before its last backward
            curve.append(sum(values) / len(values))
            window = curve[-max(1, stop_window) :]
            if stop_loss is not None and len(window) >= stop_window and max(window) < stop_loss:
                return False
        scaled = loss if accumulation == 1 else loss / accumulation
        grads = torch.autograd.grad(scaled, params.params, allow_unused=True)
        summed = [g if s is None else (s if g is None else s + g) for s, g in zip(summed, grads)]
    for t, g in zip(params.trained(), summed):
        t.grad = None if g is None else g.to(t.dtype)
    return True


def edit_pairs(request) -> list[TrainPair]:
    """(prompt, " " + new object) for every held-in prompt of every edit intervention."""
    return [
        TrainPair(prompt, " " + iv.new_object)
        for iv in request.interventions
        if iv.new_object is not None
        for prompt in iv.prompts
    ]


def forget_pairs(request) -> list[TrainPair]:
    """(prompt, " " + old object) for every held-in prompt of every intervention: what to forget."""
    return [TrainPair(prompt, " " + iv.old_object) for iv in request.interventions for prompt in iv.prompts]


def retain_pairs(request) -> list[TrainPair]:
    """(prompt, " " + answer) for every retain item of the request (the constraint c)."""
    return [TrainPair(item.prompt, " " + item.answer) for item in request.retain]
