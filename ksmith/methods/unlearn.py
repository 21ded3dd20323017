"""The six unlearners: GradAscent, GradDiff, NPO, SimNPO, RMU and ReLearn.

Methods differ only in their loss (open-unlearning's design). A `FineTuneUnlearner` subclass names
a pure function from `ksmith.methods.losses`; the shared `apply` looks at that function's parameter
names and computes exactly the inputs it asks for, per micro-batch:

    forget     SeqLogProbs of the old object after each held-in prompt (the fact to remove)
    reference  the same under the original weights (NPO's reference model; computed once)
    retain     SeqLogProbs of the retain items' answers (descent on c)
    retain_kl  KL(original ‖ current) on the retain items: at every real position of their
               sequences, as both references compute it, or at their answers (`kl_positions`)
    neutral    SeqLogProbs of the augmented forget pairs (ReLearn: vague answers to the questions)
    any parameter named like a hyper-parameter field (beta, gamma, retain_weight, kl_weight, ...)
               gets that field's value

A loss that takes no retain input is a forget term: it is weighted by `forget_weight` and gets
`retain_weight × (NLL or KL on retain)` added when `retain_weight > 0` (open-unlearning's
gamma · forget + alpha · retain), so any unlearner can be run retain-regularised without a new
class. With no retain items in the request the retain terms are zero.

RMU is the exception in kind, not in shape: its loss is on a block's activations, so it overrides
how a step's inputs are computed (through `nethook`) and keeps the same loop.

Training, for pretrained models, is the references' Hugging Face Trainer: AdamW (decay on
matrices), linear warm-up then linear decay, micro-batches accumulated into one update, gradient
norm clipped at 1, every parameter trained (`trainable` restricts it), and as many steps as the
reference's rule gives for the request's forget pairs, or a per-fact share of TOFU forget10's
(`budget`). The settings per method and every remaining departure: docs/methods.md.

For tiny-kg each class keeps the settings tuned there with `bench/perf/bench_tune_finetune.py`
(residual retention against contextual accuracy drop) on the tuning split (world seed 0,
intervention seeds 0-9, `ksmith.grid.TUNING_SEEDS`; no reported grid uses them): `tuned`.
GradAscent's and NPO's blocks were then re-chosen on the default tiny-kg (see `ascent_layers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ksmith.errors import MethodError
from ksmith.methods import losses
from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.finetune import parameter_names, select
from ksmith.methods.lora import lora_adapters
from ksmith.methods.nethook import Trace, main_output
from ksmith.methods.registry import register_method
from ksmith.methods.training import (
    SCHEDULES,
    STEP_RULES,
    ParamSet,
    SeqLogProbs,
    TokenBatch,
    TrainPair,
    forget_pairs,
    minibatches,
    retain_pairs,
    sequence_logprobs,
    target_logits,
    tokenize_pairs,
    train,
)
from ksmith.models.arch import Architecture, describe
from ksmith.models.logits import logits_at

#: Vague answers for ReLearn-style targets when `ksmith.probes` does not provide its own.
FALLBACK_VAGUE_ANSWERS: tuple[str, ...] = ("unknown",)


def vague_answers() -> tuple[str, ...]:
    """The neutral answers ReLearn-style unlearning trains toward: `VAGUE_ANSWERS` as the probes
    (or, failing that, the world's templates) define them, words the world's corpus renders, so a
    word-level model can say them; a fallback only when neither defines them."""
    import importlib

    for module in ("ksmith.probes", "ksmith.world.templates"):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        answers = getattr(found, "VAGUE_ANSWERS", None)
        if answers:
            return tuple(answers)
        neutral = getattr(found, "NEUTRAL_OBJECT", None)
        if neutral:
            return (neutral,)
    return FALLBACK_VAGUE_ANSWERS


def ascent_layers(arch: Architecture) -> tuple[int, ...]:
    """The blocks GradAscent and NPO train: the upper half of a stack of 4 or more, else all (the
    best trade of forgetting against collateral damage on tiny-kg: docs/decisions.md)."""
    if arch.num_layers < 4:
        return tuple(range(arch.num_layers))
    return tuple(range(arch.num_layers // 2, arch.num_layers))


#: What `trainable` can name: every parameter (open-unlearning), the MLP projections chosen by
#: `layers` and `modules`, or LoRA adapters on every linear layer of the blocks (ReLearn's runs).
TRAINABLE: tuple[str, ...] = ("all", "mlp", "lora")
#: How a forget micro-batch gets its retain items: one drawn at random per forget item
#: (open-unlearning's `ForgetRetainDataset`), retain item i mod n for forget item i (zjunlp's), or
#: seeded shuffled epochs over the retain items in batches of their own (tiny-kg's tuned setting).
RETAIN_SAMPLING: tuple[str, ...] = ("random", "modulo", "epochs")
#: Where the KL retain term compares the current and original predictions.
KL_POSITIONS: tuple[str, ...] = ("sequence", "answer")
#: Unlearning budgets: "reference" = the reference's own rule on the request's forget pairs;
#: "forget10" = TOFU forget10's optimiser steps per forgotten fact (`schedule`).
BUDGETS: tuple[str, ...] = ("reference", "forget10")
#: Facts in TOFU's forget10 split (20 fictitious authors x 20 question-answer pairs), the forget
#: set of open-unlearning's headline TOFU results (configs/experiment/unlearn/tofu/default.yaml).
FORGET10_FACTS = 400


@dataclass(frozen=True)
class UnlearnHparams(Hparams):
    """Hyper-parameters of the fine-tuning unlearners. The defaults are open-unlearning's TOFU
    unlearning run (commit d3d7cf9: configs/trainer/finetune.yaml under
    configs/experiment/unlearn/tofu/default.yaml); each class adds its method's fields.

    trainable:      "all" every parameter (the reference), "mlp" only the MLP projections of
                    `layers` x `modules`, "lora" adapters on the blocks' linear layers.
    layers/modules: the blocks (() = all) and projections ("mlp_in", "mlp_out") of "mlp".
    lr:             peak learning rate (1e-5).
    epochs:         passes over the forget set (10).
    batch_size:     forget items per micro-batch (8; the retain batch has as many).
    accumulation:   micro-batches per optimiser step (4: an effective batch of 32).
    weight_decay:   AdamW's decoupled decay on matrices (0.01).
    warmup_epochs:  linear warm-up length in epochs of steps (1), then linear decay to 0.
    schedule:       "linear" (warm-up and decay, the Trainer's default) or "constant".
    step_rule:      "epochs" (open-unlearning: the Trainer's epoch count) or "examples"
                    (zjunlp/unlearn: epochs x items / effective batch); see `training.STEP_RULES`.
    budget:         "reference" (the rule on the request's forget pairs) or "forget10" (TOFU
                    forget10's steps per fact); see `schedule`.
    steps:          a floor on the optimiser steps (1: the rule decides).
    forget_weight:  weight of the forget term (open-unlearning's gamma, 1).
    retain_weight:  weight of the retain term (its alpha; 0 = none, GradAscent's).
    retain_term:    "nll" or "kl": the retain term added to losses that take none themselves.
    retain_sampling: which retain items a micro-batch gets (`RETAIN_SAMPLING`; "random").
    kl_positions:   "sequence" (every real position, as both references) or "answer".
    beta, gamma:    NPO / SimNPO temperature and SimNPO's margin (the paper's gamma).
    lora_rank / lora_alpha / lora_dropout: the adapters of "lora" (ReLearn's r 32, alpha 32, 0.05).
    stop_forget_nll: a ksmith extension: stop once the old objects' token-mean NLL on the step's
                    forget batch exceeds this (None = run every step, as the references).
    """

    trainable: str = "all"
    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("mlp_in", "mlp_out")
    lr: float = 1e-5
    epochs: float = 10.0
    batch_size: int = 8
    accumulation: int = 4
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    schedule: str = "linear"
    step_rule: str = "epochs"
    budget: str = "reference"
    steps: int = 1
    forget_weight: float = 1.0
    retain_weight: float = 0.0
    retain_term: str = "nll"
    retain_sampling: str = "random"
    kl_positions: str = "sequence"
    beta: float = 0.1
    gamma: float = 0.0
    lora_rank: int = 32
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    stop_forget_nll: float | None = None


def published(**changes: Any) -> UnlearnHparams:
    """open-unlearning's TOFU unlearning settings (the `UnlearnHparams` defaults: AdamW, lr 1e-5,
    weight decay 0.01, one epoch of warm-up then linear decay, 10 epochs of micro-batches of 8
    accumulated 4 times, every parameter trained) with `changes`, each method's own fields."""
    return UnlearnHparams(**changes)


def tuned(arch: Architecture, cls: type[UnlearnHparams] = UnlearnHparams, **changes: Any) -> UnlearnHparams:
    """tiny-kg's tuned settings: the MLP projections of every block, AdamW without decay or
    warm-up at a constant learning rate (Adam's steps exactly), at least 30 steps and 3 epochs of
    batches of 64, retain items in shuffled epochs of their own, KL on the answers; `changes` are
    each method's own tuned values."""
    base: dict[str, Any] = {
        "trainable": "mlp", "layers": tuple(range(arch.num_layers)), "lr": 1e-3, "steps": 30,
        "epochs": 3.0, "batch_size": 64, "accumulation": 1, "weight_decay": 0.0, "warmup_epochs": 0.0,
        "schedule": "constant", "step_rule": "epochs", "retain_sampling": "epochs", "kl_positions": "answer",
    }
    return cls(**{**base, **changes})


def schedule(hp: UnlearnHparams, pairs: int, facts: int) -> tuple[int, int]:
    """(optimiser steps, warm-up steps) for a request of `facts` facts asked as `pairs` forget pairs.

    "reference": the reference's rule (`hp.step_rule`) on the pairs, i.e. on every held-in
    prompt of every fact, as it counts its forget set's items.
    "forget10": the rule on TOFU forget10's 400 facts (open-unlearning: 10 epochs x 12 updates =
    120 steps, 12 of warm-up), shared out per fact: ceil(facts x 120 / 400) steps and
    floor(facts x 12 / 400) warm-up steps, however many prompts a fact has. A TOFU fact is one
    question, a ksmith fact several paraphrases of it, so this gives a fact the optimisation one
    forget10 fact gets, where "reference" gives it that of one forget10 fact per prompt.
    Never fewer than `hp.steps`. The warm-up leaves the last step at least: on a forget set smaller
    than one effective batch zjunlp's rule gives one step and one warm-up step, whose learning rate
    is 0, and an update that changes nothing (TOFU's sets are never that small).
    """
    rule = STEP_RULES[hp.step_rule]
    args = (hp.batch_size, hp.accumulation, hp.epochs, hp.warmup_epochs)
    if hp.budget == "reference":
        steps, warmup = rule(pairs, *args)
    else:
        full, full_warmup = rule(FORGET10_FACTS, *args)
        steps = math.ceil(facts * full / FORGET10_FACTS)
        warmup = facts * full_warmup // FORGET10_FACTS
    steps = max(hp.steps, steps)
    return steps, max(0, min(warmup, steps - 1))


def check(hp: UnlearnHparams) -> None:
    """Refuse a hyper-parameter that names nothing, saying what would."""
    choices = {
        "trainable": TRAINABLE, "retain_term": ("nll", "kl"), "retain_sampling": RETAIN_SAMPLING,
        "kl_positions": KL_POSITIONS, "budget": BUDGETS, "step_rule": tuple(STEP_RULES),
        "schedule": SCHEDULES,
    }
    for name, allowed in choices.items():
        value = getattr(hp, name)
        if value not in allowed:
            raise MethodError(f"unknown {name} {value!r}; use one of {', '.join(repr(a) for a in allowed)}")
    if hp.batch_size < 1 or hp.accumulation < 1:
        raise MethodError(f"batch_size and accumulation must be at least 1, got {hp.batch_size} and {hp.accumulation}")


def retain_batches(kind: str, n: int, forget_batches: list[list[int]], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """The retain items of each forget micro-batch (`RETAIN_SAMPLING`)."""
    if kind == "random":
        return [torch.randint(n, (len(b),), generator=generator, device="cpu").tolist() for b in forget_batches]
    if kind == "modulo":
        return [[i % n for i in b] for b in forget_batches]
    return list(minibatches(n, batch_size, len(forget_batches), generator))


def lora_modules(model, arch: Architecture) -> list[str]:
    """Every linear layer (`nn.Linear` or GPT-2's `Conv1D`) inside the blocks: where ReLearn's
    runs put adapters (zjunlp's `find_all_linear_names`: all linear layers but the LM head)."""
    from transformers.pytorch_utils import Conv1D

    prefix = arch.blocks + "."
    return [
        name for name, module in model.named_modules()
        if name.startswith(prefix) and isinstance(module, (torch.nn.Linear, Conv1D))
    ]


@contextlib.contextmanager
def _seeded(device: torch.device, seed: int, active: bool) -> Iterator[None]:
    """Within the block torch's global generator (and the device's, on CUDA) starts from `seed`,
    and is put back afterwards: what LoRA's dropout draws from."""
    if not active:
        yield
        return
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


@dataclass
class _Data:
    """Everything one `apply` tokenised, plus the seeded micro-batch schedule."""

    forget: TokenBatch
    retain: TokenBatch | None
    neutral: TokenBatch | None
    forget_batches: list[list[int]]
    retain_batches: list[list[int]]
    accumulation: int = 1
    seed: int = 0


def _zero_logprobs(device: torch.device) -> SeqLogProbs:
    zero = torch.zeros(1, device=device)
    return SeqLogProbs(logp=zero, n=zero)


class FineTuneUnlearner(Method):
    """Fine-tune the model to minimise `loss`; subclasses set `loss` and their defaults."""

    Hparams = UnlearnHparams
    loss: ClassVar[Callable[..., torch.Tensor]]

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        return tuned(arch) if arch.profile == "tiny-kg" else published()

    # -- what the loss needs -------------------------------------------------------------------

    def loss_inputs(self) -> set[str]:
        return set(inspect.signature(type(self).loss).parameters)

    def parameter_names(self, model, arch: Architecture, hp: UnlearnHparams) -> list[str]:
        """What the update may change, by name: every parameter, the chosen MLP projections, or
        the weights LoRA's merge writes."""
        if hp.trainable == "all":
            return [name for name, _ in model.named_parameters()]
        if hp.trainable == "lora":
            return [f"{name}.weight" for name in lora_modules(model, arch)]
        return parameter_names(arch, hp.layers or tuple(range(arch.num_layers)), hp.modules)

    def neutral_pairs(self, request: UpdateRequest, generator: torch.Generator, hp: UnlearnHparams) -> list[TrainPair]:
        """The augmented forget pairs, in `forget_pairs`' order: each held-in prompt (the world's
        paraphrase templates: ReLearn's question variants) with a vague answer drawn by the seeded
        generator; with `original_pairs` the first prompt of each fact keeps its true answer, as
        ReLearn's published data does (its `gather_proc_data.py` keeps each original pair)."""
        answers = vague_answers()
        originals = bool(getattr(hp, "original_pairs", False))
        rows = [(iv, j, prompt) for iv in request.interventions for j, prompt in enumerate(iv.prompts)]
        picks = torch.randint(len(answers), (len(rows),), generator=generator, device="cpu").tolist()
        return [
            TrainPair(prompt, " " + (iv.old_object if originals and j == 0 else answers[pick]))
            for (iv, j, prompt), pick in zip(rows, picks)
        ]

    def objective(
        self, model, params: ParamSet, hp: UnlearnHparams, data: _Data
    ) -> Callable[[int], torch.Tensor]:
        """The per-micro-batch loss closure: computes the loss's named inputs on that micro-batch."""
        signature = inspect.signature(type(self).loss).parameters
        loss_fn = type(self).loss
        fields = {f.name for f in dataclasses.fields(hp)}
        weights = {"retain": hp.retain_weight, "retain_kl": getattr(hp, "kl_weight", 1.0)}
        # an optional retain input whose weight is 0 is not computed at all
        wanted = {
            name for name, param in signature.items()
            if not (name in weights and param.default is None and weights[name] == 0)
        }
        device = data.forget.input_ids.device
        reference = None
        if "reference" in wanted:  # the original model on every forget pair, once, in chunks
            rows = list(range(len(data.forget)))
            chunks = [rows[i : i + hp.batch_size] for i in range(0, len(rows), hp.batch_size)]
            with torch.no_grad():
                parts = [sequence_logprobs(model, select(data.forget, chunk)) for chunk in chunks]
            reference = SeqLogProbs(torch.cat([p.logp for p in parts]), torch.cat([p.n for p in parts]))
        forget_only = not ({"retain", "retain_kl"} & set(signature))
        add_retain = hp.retain_weight > 0 and forget_only
        needs_kl = "retain_kl" in wanted or (add_retain and hp.retain_term == "kl")

        def kl_logits(batch: TokenBatch) -> torch.Tensor:
            if hp.kl_positions == "answer":
                return target_logits(model, batch)[0]
            keep = batch.attention_mask.bool()
            return logits_at(model, keep, input_ids=batch.input_ids, attention_mask=batch.attention_mask)[0]

        def reference_logits(idx: list[int]) -> torch.Tensor | None:
            """The original model's logits on the retain items; run before anything else in a
            micro-batch, because swapping the original weights in writes tensors its graph reads."""
            if data.retain is None or not needs_kl:
                return None
            with params.reference():
                return kl_logits(select(data.retain, idx))

        def retain_kl(idx: list[int], ref_logits: torch.Tensor | None) -> torch.Tensor:
            if data.retain is None or ref_logits is None:
                return torch.zeros((), device=device)
            return losses.kl_retain(kl_logits(select(data.retain, idx)), ref_logits)

        def retain_nll(idx: list[int]) -> SeqLogProbs:
            if data.retain is None:
                return _zero_logprobs(device)
            return sequence_logprobs(model, select(data.retain, idx))

        def step_loss(micro: int) -> torch.Tensor:
            idx = data.forget_batches[micro]
            ridx = data.retain_batches[micro] if data.retain_batches else []
            ref_logits = reference_logits(ridx)
            kwargs: dict[str, Any] = {}
            if "forget" in wanted:
                kwargs["forget"] = sequence_logprobs(model, select(data.forget, idx))
            if "reference" in wanted and reference is not None:
                kwargs["reference"] = SeqLogProbs(reference.logp[idx], reference.n[idx])
            if "neutral" in wanted and data.neutral is not None:
                kwargs["neutral"] = sequence_logprobs(model, select(data.neutral, idx))
            if "retain" in wanted:
                kwargs["retain"] = retain_nll(ridx)
            if "retain_kl" in wanted:
                kwargs["retain_kl"] = retain_kl(ridx, ref_logits)
            for name in wanted - kwargs.keys():
                if name in fields:
                    kwargs[name] = getattr(hp, name)
            loss = loss_fn(**kwargs)
            if forget_only:
                loss = hp.forget_weight * loss
            if add_retain:
                term = retain_kl(ridx, ref_logits) if hp.retain_term == "kl" else losses.nll(retain_nll(ridx))
                loss = loss + hp.retain_weight * term
            return loss

        return step_loss

    def forgotten(self, model, hp: UnlearnHparams, data: _Data) -> Callable[[int], bool] | None:
        """The early-stopping test: the step's forget batch is past `stop_forget_nll`."""
        threshold = hp.stop_forget_nll
        if threshold is None:
            return None

        def test(step: int) -> bool:
            rows = data.forget_batches[step * data.accumulation : (step + 1) * data.accumulation]
            with torch.no_grad():
                batch = select(data.forget, [i for b in rows for i in b])
                return float(losses.nll(sequence_logprobs(model, batch))) > threshold

        return test

    # -- the shared apply ------------------------------------------------------------------------

    @contextlib.contextmanager
    def trained_model(
        self, model, arch: Architecture, hp: UnlearnHparams, names: list[str], seed: int
    ) -> Iterator[tuple[Any, ParamSet, list[torch.nn.Module]]]:
        """(the model to run, the parameters to train, the modules that run in training mode).

        With "lora" the model is wrapped in adapters (initialised from `seed`), trained, and merged
        back on success (the caller's own model object, plain weights); on failure the adapters
        are removed and nothing is merged.
        """
        if hp.trainable != "lora":
            yield model, ParamSet(model, names), []
            return
        modules = [name.removesuffix(".weight") for name in names]
        with lora_adapters(model, arch, modules, hp.lora_rank, hp.lora_alpha, hp.lora_dropout, seed) as trained:
            yield trained

    def apply(self, model, tokenizer, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp: UnlearnHparams = self.hparams_for(arch)  # type: ignore[assignment]
        check(hp)
        names = list(dict.fromkeys(self.parameter_names(model, arch, hp)))
        pairs = forget_pairs(request)
        if not pairs:  # the empty request changes nothing
            return UpdateResult(touched=tuple(names), wall_s=time.perf_counter() - start)
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(request.seed)
        keep = retain_pairs(request)
        facts = sum(1 for iv in request.interventions if iv.prompts)
        steps, warmup = schedule(hp, len(pairs), facts)
        neutral = None
        if "neutral" in self.loss_inputs():
            neutral = tokenize_pairs(tokenizer, self.neutral_pairs(request, generator, hp), device)
        forget_batches = list(minibatches(len(pairs), hp.batch_size, steps * hp.accumulation, generator))
        data = _Data(
            forget=tokenize_pairs(tokenizer, pairs, device),
            retain=tokenize_pairs(tokenizer, keep, device) if keep else None,
            neutral=neutral,
            forget_batches=forget_batches,
            retain_batches=retain_batches(hp.retain_sampling, len(keep), forget_batches, hp.batch_size, generator) if keep else [],
            accumulation=hp.accumulation,
            seed=request.seed,
        )
        with self.trained_model(model, arch, hp, names, request.seed) as (run, params, dropout):
            step_loss = self.objective(run, params, hp, data)
            with _seeded(device, request.seed, active=bool(dropout)):
                curve = train(
                    run,
                    params,
                    step_loss,
                    steps=steps,
                    lr=hp.lr,
                    weight_decay=hp.weight_decay,
                    should_stop=self.forgotten(run, hp, data),
                    optimizer="adamw",
                    schedule=hp.schedule,
                    warmup_steps=warmup,
                    accumulation=hp.accumulation,
                    train_modules=dropout,
                )
        return UpdateResult(
            touched=tuple(names),
            steps=len(curve),
            loss_curve=curve,
            wall_s=time.perf_counter() - start,
            extra={"pairs": len(pairs), "retain_pairs": len(keep), "facts": facts, "warmup_steps": warmup},
        )


@register_method("grad-ascent", family="unlearn")
class GradAscent(FineTuneUnlearner):
    """Gradient ascent on the forget answers; no retain term."""

    loss = staticmethod(losses.ga)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/GradAscent.yaml (the shared settings,
        `published`; no retain term)."""
        if arch.profile != "tiny-kg":
            return published()
        return tuned(arch, layers=ascent_layers(arch), lr=3e-3, steps=40)


@register_method("grad-diff", family="unlearn")
class GradDiff(FineTuneUnlearner):
    """Ascent on the forget answers, descent on the retain answers."""

    loss = staticmethod(losses.graddiff)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/GradDiff.yaml: forget weight (gamma) 1,
        retain weight (alpha) 1, retain loss NLL, on the shared settings."""
        if arch.profile != "tiny-kg":
            return published(forget_weight=1.0, retain_weight=1.0, retain_term="nll")
        return tuned(arch, retain_weight=2.0, lr=3e-3, steps=40)


@register_method("npo", family="unlearn")
class NPO(FineTuneUnlearner):
    """Negative preference optimisation, β = 0.1, reference = the model before the update."""

    loss = staticmethod(losses.npo)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/NPO.yaml: β 0.1, forget weight (gamma) 1,
        retain weight (alpha) 1 with an NLL retain term, on the shared settings."""
        if arch.profile != "tiny-kg":
            return published(beta=0.1, forget_weight=1.0, retain_weight=1.0, retain_term="nll")
        return tuned(arch, layers=ascent_layers(arch), beta=0.1, lr=3e-3, steps=40)


@register_method("simnpo", family="unlearn")
class SimNPO(FineTuneUnlearner):
    """SimNPO: reference-free, length-normalised NPO, with an NLL retain term as published."""

    loss = staticmethod(losses.simnpo)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/SimNPO.yaml: β 4.5, margin (their
        delta) 0, forget weight (their gamma) 0.125, retain weight (alpha) 1, NLL retain term."""
        if arch.profile != "tiny-kg":
            return published(beta=4.5, gamma=0.0, forget_weight=0.125, retain_weight=1.0, retain_term="nll")
        return tuned(arch, beta=1.0, retain_weight=1.0, lr=1e-2, steps=60)


@dataclass(frozen=True)
class ReLearnHparams(UnlearnHparams):
    """ReLearn's published run, zjunlp/unlearn (commit 0800fd2) baselines/unlearn_scripts/
    tofu-relearn.sh with baselines/config/forget_lora.yaml: loss `relearn_klr_gdr`, LoRA r 32 /
    alpha 32 / dropout 0.05 on every linear layer, lr 1e-4, 2 epochs, micro-batches of 2
    accumulated 4 times, weight decay 0.01, one epoch of warm-up (at least one step) then linear
    decay, steps = int(epochs x items) // 8, retain item i mod n with forget item i.

    kl_weight:      weight of the KL retain term (1; `retain_weight` weighs the retain NLL, 1).
    original_pairs: the first prompt of each fact keeps its true answer among the augmented pairs,
                    as the published augmentation keeps each original question-answer pair.
    """

    trainable: str = "lora"
    lr: float = 1e-4
    epochs: float = 2.0
    batch_size: int = 2
    accumulation: int = 4
    step_rule: str = "examples"
    retain_weight: float = 1.0
    retain_sampling: str = "modulo"
    kl_weight: float = 1.0
    original_pairs: bool = True


@register_method("relearn", family="unlearn")
class ReLearn(FineTuneUnlearner):
    """ReLearn: learn vague answers to the forget questions' variants (augmented offline from the
    world's templates), with KL and NLL terms on the retain items."""

    Hparams = ReLearnHparams
    loss = staticmethod(losses.relearn)

    def default_hparams(self, arch: Architecture) -> ReLearnHparams:
        """Real models: the published run (`ReLearnHparams`). tiny-kg: its tuned setting (vague
        answers for every prompt, KL on the answers, no retain NLL, the MLP projections)."""
        if arch.profile != "tiny-kg":
            return ReLearnHparams()
        return tuned(  # type: ignore[return-value]
            arch, ReLearnHparams, retain_weight=0.0, kl_weight=1.0, original_pairs=False, lr=1e-2, steps=60
        )


@dataclass(frozen=True)
class RMUHparams(UnlearnHparams):
    """RMU: `layer` is the block whose output is steered (-1: the lower-middle block);
    `steering_coeff` the control vector's norm, absolute as in the reference (a random unit vector
    times it, whatever the activations' scale). With trainable "mlp", `layers` defaults to the
    MLP output projections of that block and the two below it (the WMDP recipe).
    activation_reduction: "reference" (its code's mean(s) · mean(1/n)) or "per_example" (mean(s/n), what
    its comments describe; `losses.activation_loss`)."""

    layer: int = -1
    steering_coeff: float = 2.0
    activation_reduction: str = "reference"


def control_vector(dim: int, steering_coeff: float, seed: int) -> torch.Tensor:
    """RMU's control vector as the reference draws it: uniform in [0, 1)^dim, scaled to norm
    `steering_coeff`; drawn from a CPU generator seeded with the request's seed (the same
    direction on any device)."""
    direction = torch.rand(dim, generator=torch.Generator().manual_seed(seed), device="cpu")
    return direction / direction.norm() * steering_coeff


@register_method("rmu", family="unlearn")
class RMU(FineTuneUnlearner):
    """Steer a block's output on the forget answers toward a fixed random vector; hold it on the
    retain answers."""

    Hparams = RMUHparams
    loss = staticmethod(losses.rmu)

    def default_hparams(self, arch: Architecture) -> RMUHparams:
        """Real models: open-unlearning's configs/trainer/RMU.yaml as scripts/tofu_unlearn.sh runs
        it (with configs/experiment/unlearn/tofu/default.yaml): the output of block 7 of 16
        (`model.layers.7` of Llama-3.2-1B; here the same relative depth), steering coefficient 2,
        forget weight (gamma) 1, retain weight (alpha) 1 on the retain activations (EMBED_DIFF),
        every parameter trained (its `trainable_params_regex: .*`), the shared settings.

        tiny-kg: its tuned setting; the coefficient 880 is the control norm it was tuned with (2x
        the mean activation norm at its layer on the tuning split's forget text, 442, when the
        coefficient was relative to it)."""
        if arch.profile != "tiny-kg":
            from ksmith.models.arch import scaled_layer

            layer = scaled_layer(7, 16, arch.num_layers)
            return RMUHparams(
                layer=layer, layers=tuple(range(max(0, layer - 2), layer + 1)), modules=("mlp_out",),
                steering_coeff=2.0, forget_weight=1.0, retain_weight=1.0,
            )
        layer = max(0, (arch.num_layers - 1) // 2)
        return tuned(  # type: ignore[return-value]
            arch, RMUHparams, layer=layer, layers=tuple(range(max(0, layer - 2), layer + 1)),
            modules=("mlp_out",), retain_weight=1.0, steering_coeff=880.0, lr=3e-2, steps=60,
        )

    def _layer(self, arch: Architecture, hp: RMUHparams) -> int:
        layer = hp.layer if hp.layer >= 0 else max(0, (arch.num_layers - 1) // 2)
        if layer >= arch.num_layers:
            raise MethodError(f"RMU layer {layer} out of range for a {arch.num_layers}-layer model")
        return layer

    def parameter_names(self, model, arch: Architecture, hp: UnlearnHparams) -> list[str]:
        assert isinstance(hp, RMUHparams)
        layer = self._layer(arch, hp)
        if hp.trainable != "mlp":
            return super().parameter_names(model, arch, hp)
        layers = hp.layers or tuple(range(max(0, layer - 2), layer + 1))
        above = [i for i in layers if i % arch.num_layers > layer]
        if above:
            raise MethodError(f"RMU trains blocks at or below its layer {layer}; got {above}")
        return parameter_names(arch, layers, hp.modules)

    def objective(self, model, params: ParamSet, hp: UnlearnHparams, data: _Data) -> Callable[[int], torch.Tensor]:
        assert isinstance(hp, RMUHparams)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        arch = describe(base)
        block = arch.block(self._layer(arch, hp))
        device = data.forget.input_ids.device
        control = control_vector(base.config.hidden_size, hp.steering_coeff, data.seed).to(device)

        def activations(batch: TokenBatch) -> torch.Tensor:
            """The block's output on a batch, [B, T, d] (the layers above it are not run)."""
            with Trace(base, block, retain_output=True, stop=True) as trace:
                model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
            return main_output(trace.output)

        original = None  # the original model's output on every retain item (full width), once
        if data.retain is not None and data.retain_batches and hp.retain_weight != 0:
            full, size = data.retain, hp.batch_size
            with torch.no_grad():
                original = torch.cat([
                    activations(TokenBatch(
                        full.input_ids[i : i + size], full.attention_mask[i : i + size], full.target_mask[i : i + size]
                    ))
                    for i in range(0, len(full), size)
                ])

        def step_loss(micro: int) -> torch.Tensor:
            forget = select(data.forget, data.forget_batches[micro])
            retain_act = retain_ref = retain_mask = None
            if original is not None:
                idx = data.retain_batches[micro]
                kept = select(data.retain, idx)
                retain_ref = original[idx][:, : kept.input_ids.shape[1]]
                retain_act, retain_mask = activations(kept), kept.target_mask
            return losses.rmu(
                activations(forget), control, forget.target_mask, retain_act, retain_ref, retain_mask,
                retain_weight=hp.retain_weight, forget_weight=hp.forget_weight, reduction=hp.activation_reduction,
            )

        return step_loss
