"""The six unlearners: GradAscent, GradDiff, NPO, SimNPO, RMU and a ReLearn-style method.

Methods differ only in their loss (open-unlearning's design). A `FineTuneUnlearner` subclass names
a pure function from `ksmith.methods.losses`; the shared `apply` looks at that function's parameter
names and computes exactly the inputs it asks for, per step, on a minibatch:

    forget     SeqLogProbs of the old object after each held-in prompt (the fact to remove)
    reference  the same under the original weights (NPO's reference model; computed once)
    retain     SeqLogProbs of the retain items' answers (descent on c)
    retain_kl  KL(original ‖ current) at the retain answers' positions
    neutral    SeqLogProbs of a vague, neutral answer after each held-in prompt (ReLearn)
    beta, gamma, retain_weight   taken from the hyper-parameters

Losses that take no retain input get `retain_weight × (NLL or KL on retain)` added when
`retain_weight > 0`, so any unlearner can be run retain-regularised without a new class. With no
retain items in the request the retain terms are zero.

RMU is the exception in kind, not in shape: its loss is on a middle block's activations, so it
overrides how a step's inputs are computed (through `nethook`) and keeps the same loop.

Each class's default learning rate and step count were tuned on tiny-kg-small at k=10 with
`bench/perf/bench_tune_finetune.py` (residual retention against contextual accuracy drop) (the tuning split: world seed 0, intervention seeds 0-9, `ksmith.grid.TUNING_SEEDS`; no reported grid uses them); on a
larger model they are a starting point, not a guarantee. GradAscent's and NPO's blocks were then
re-chosen on the default tiny-kg (see `ascent_layers`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ksmith.errors import MethodError
from ksmith.methods import losses
from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.finetune import parameter_names, select
from ksmith.methods.nethook import Trace, main_output
from ksmith.methods.registry import register_method
from ksmith.methods.training import (
    ParamSet,
    SeqLogProbs,
    TokenBatch,
    TrainPair,
    forget_pairs,
    minibatches,
    retain_pairs,
    sequence_logprobs,
    steps_for,
    target_logits,
    tokenize_pairs,
    train,
)
from ksmith.models.arch import Architecture, describe

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


@dataclass(frozen=True)
class UnlearnHparams(Hparams):
    """Hyper-parameters of the fine-tuning unlearners (each class sets its own defaults).

    layers / modules: which MLP projections are trained (default: every block's mlp_in and mlp_out;
                      GradAscent and NPO: `ascent_layers`).
    steps / epochs:   at least `steps` Adam steps and at least `epochs` passes over the forget pairs.
    retain_weight:    weight of the retain term (GradDiff / ReLearn's own, or the added one).
    retain_term:      "nll" or "kl": the retain term added to losses that take none themselves.
    beta, gamma:      NPO / SimNPO temperature and SimNPO's margin.
    stop_forget_nll:  stop once the old objects' token-mean NLL on the step's forget batch exceeds
                      this (None = run every step): "forgotten" is reached, and every further step
                      only adds collateral damage.
    """

    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("mlp_in", "mlp_out")
    lr: float = 1e-3
    steps: int = 30
    epochs: float = 3.0
    batch_size: int = 64
    weight_decay: float = 0.0
    retain_weight: float = 0.0
    retain_term: str = "nll"
    beta: float = 0.1
    gamma: float = 0.0
    stop_forget_nll: float | None = None


def published(arch: Architecture, **changes: Any) -> UnlearnHparams:
    """The fine-tuning settings open-unlearning publishes for every unlearner (configs/trainer/
    finetune.yaml, commit d3d7cf9): learning rate 1e-5, 10 epochs, effective batch 32 (8 x 4
    accumulation steps), no weight decay; `changes` add each method's own published fields.

    What ksmith cannot take as published: open-unlearning trains every parameter; ksmith's
    unlearners train MLP projections, so the real-model default is every block's MLP (input and
    output projections), the closest set it supports. Adam here, AdamW (with decay 0) there.
    """
    base = dict(
        layers=tuple(range(arch.num_layers)), modules=("mlp_in", "mlp_out"), lr=1e-5, steps=1,
        epochs=10.0, batch_size=32, weight_decay=0.0,
    )
    base.update(changes)
    return UnlearnHparams(**base)


@dataclass
class _Data:
    """Everything one `apply` tokenised, plus the seeded minibatch schedule."""

    forget: TokenBatch
    retain: TokenBatch | None
    neutral: TokenBatch | None
    forget_batches: list[list[int]]
    retain_batches: list[list[int]]
    seed: int = 0


def _zero_logprobs(device: torch.device) -> SeqLogProbs:
    zero = torch.zeros(1, device=device)
    return SeqLogProbs(logp=zero, n=zero)


class FineTuneUnlearner(Method):
    """Fine-tune MLP weights to minimise `loss`; subclasses set `loss` and their defaults."""

    Hparams = UnlearnHparams
    loss: ClassVar[Callable[..., torch.Tensor]]

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        return UnlearnHparams(layers=tuple(range(arch.num_layers)))

    # -- what the loss needs -------------------------------------------------------------------

    def loss_inputs(self) -> set[str]:
        return set(inspect.signature(type(self).loss).parameters)

    def parameter_names(self, arch: Architecture, hp: UnlearnHparams) -> list[str]:
        return parameter_names(arch, hp.layers or tuple(range(arch.num_layers)), hp.modules)

    def neutral_pairs(self, pairs: list[TrainPair], generator: torch.Generator) -> list[TrainPair]:
        """Each forget prompt with a vague answer (drawn by the seeded generator)."""
        answers = vague_answers()
        picks = torch.randint(len(answers), (len(pairs),), generator=generator, device="cpu").tolist()
        return [TrainPair(p.prompt, " " + answers[i]) for p, i in zip(pairs, picks)]

    def objective(
        self, model, params: ParamSet, hp: UnlearnHparams, data: _Data
    ) -> Callable[[int], torch.Tensor]:
        """The per-step loss closure: computes the loss's named inputs on the step's minibatch."""
        wanted = self.loss_inputs()
        loss_fn = type(self).loss
        device = data.forget.input_ids.device
        reference = None
        if "reference" in wanted:  # the original model on every forget pair, once, in chunks
            rows = list(range(len(data.forget)))
            chunks = [rows[i : i + hp.batch_size] for i in range(0, len(rows), hp.batch_size)]
            with torch.no_grad():
                parts = [sequence_logprobs(model, select(data.forget, chunk)) for chunk in chunks]
            reference = SeqLogProbs(torch.cat([p.logp for p in parts]), torch.cat([p.n for p in parts]))
        add_retain = hp.retain_weight > 0 and not ({"retain", "retain_kl"} & wanted)

        needs_kl = "retain_kl" in wanted or (add_retain and hp.retain_term == "kl")

        def reference_logits(idx: list[int]) -> torch.Tensor | None:
            """The original model's logits at the retain answers; run before anything else in a
            step, because swapping the original weights in writes tensors the step's graph reads."""
            if data.retain is None or not needs_kl:
                return None
            with params.reference():
                return target_logits(model, select(data.retain, idx))[0]

        def retain_kl(idx: list[int], ref_logits: torch.Tensor | None) -> torch.Tensor:
            if data.retain is None or ref_logits is None:
                return torch.zeros((), device=device)
            logits, _ = target_logits(model, select(data.retain, idx))
            return losses.kl_retain(logits, ref_logits)

        def retain_nll(idx: list[int]) -> SeqLogProbs:
            if data.retain is None:
                return _zero_logprobs(device)
            return sequence_logprobs(model, select(data.retain, idx))

        def step_loss(step: int) -> torch.Tensor:
            idx = data.forget_batches[step]
            ridx = data.retain_batches[step] if data.retain_batches else []
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
            for name in ("beta", "gamma", "retain_weight"):
                if name in wanted:
                    kwargs[name] = getattr(hp, name)
            loss = loss_fn(**kwargs)
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
            with torch.no_grad():
                batch = select(data.forget, data.forget_batches[step])
                return float(losses.nll(sequence_logprobs(model, batch))) > threshold

        return test

    # -- the shared apply ------------------------------------------------------------------------

    def apply(self, model, tokenizer, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp: UnlearnHparams = self.hparams_for(arch)  # type: ignore[assignment]
        if hp.retain_term not in ("nll", "kl"):
            raise MethodError(f"unknown retain_term {hp.retain_term!r}; use 'nll' or 'kl'")
        names = self.parameter_names(arch, hp)
        pairs = forget_pairs(request)
        if not pairs:  # the empty request changes nothing
            return UpdateResult(touched=tuple(names), wall_s=time.perf_counter() - start)
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(request.seed)
        keep = retain_pairs(request)
        steps = steps_for(len(pairs), hp.batch_size, hp.steps, hp.epochs)
        neutral = None
        if "neutral" in self.loss_inputs():
            neutral = tokenize_pairs(tokenizer, self.neutral_pairs(pairs, generator), device)
        data = _Data(
            forget=tokenize_pairs(tokenizer, pairs, device),
            retain=tokenize_pairs(tokenizer, keep, device) if keep else None,
            neutral=neutral,
            forget_batches=list(minibatches(len(pairs), hp.batch_size, steps, generator)),
            retain_batches=list(minibatches(len(keep), hp.batch_size, steps, generator)) if keep else [],
            seed=request.seed,
        )
        params = ParamSet(model, names)
        step_loss = self.objective(model, params, hp, data)
        curve = train(
            model,
            params,
            step_loss,
            steps=steps,
            lr=hp.lr,
            weight_decay=hp.weight_decay,
            should_stop=self.forgotten(model, hp, data),
        )
        return UpdateResult(
            touched=params.names,
            steps=len(curve),
            loss_curve=curve,
            wall_s=time.perf_counter() - start,
            extra={"pairs": len(pairs), "retain_pairs": len(keep)},
        )


@register_method("grad-ascent", family="unlearn")
class GradAscent(FineTuneUnlearner):
    """Gradient ascent on the forget answers; no retain term."""

    loss = staticmethod(losses.ga)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/GradAscent.yaml (the shared fine-tuning
        settings, `published`)."""
        if arch.profile != "tiny-kg":
            return published(arch)
        return UnlearnHparams(layers=ascent_layers(arch), lr=3e-3, steps=40)


@register_method("grad-diff", family="unlearn")
class GradDiff(FineTuneUnlearner):
    """Ascent on the forget answers, descent on the retain answers."""

    loss = staticmethod(losses.graddiff)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/GradDiff.yaml: forget weight (gamma) 1,
        retain weight (alpha) 1, retain loss NLL, on the shared fine-tuning settings."""
        if arch.profile != "tiny-kg":
            return published(arch, retain_weight=1.0, retain_term="nll")
        return UnlearnHparams(layers=tuple(range(arch.num_layers)), retain_weight=2.0, lr=3e-3, steps=40)


@register_method("npo", family="unlearn")
class NPO(FineTuneUnlearner):
    """Negative preference optimisation, β = 0.1, reference = the model before the update."""

    loss = staticmethod(losses.npo)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/NPO.yaml: β 0.1, forget weight 1, retain
        weight (alpha) 1 with an NLL retain term, on the shared fine-tuning settings."""
        if arch.profile != "tiny-kg":
            return published(arch, beta=0.1, retain_weight=1.0, retain_term="nll")
        return UnlearnHparams(layers=ascent_layers(arch), beta=0.1, lr=3e-3, steps=40)


@register_method("simnpo", family="unlearn")
class SimNPO(FineTuneUnlearner):
    """SimNPO: reference-free, length-normalised NPO, with an NLL retain term as published."""

    loss = staticmethod(losses.simnpo)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: open-unlearning's configs/trainer/SimNPO.yaml: β 4.5, margin (their delta)
        0, forget weight (their gamma) 0.125, retain weight (alpha) 1, NLL retain term. ksmith's
        loss has no forget weight; under Adam a loss's overall scale does not matter, so
        0.125 · forget + 1 · retain is run as forget + 8 · retain."""
        if arch.profile != "tiny-kg":
            return published(arch, beta=4.5, gamma=0.0, retain_weight=8.0, retain_term="nll")
        return UnlearnHparams(
            layers=tuple(range(arch.num_layers)), beta=1.0, retain_weight=1.0, lr=1e-2, steps=60
        )


@register_method("relearn", family="unlearn")
class ReLearn(FineTuneUnlearner):
    """ReLearn-style: learn vague template answers for the forget prompts, KL on retain data."""

    loss = staticmethod(losses.relearn)

    def default_hparams(self, arch: Architecture) -> UnlearnHparams:
        """Real models: no published ReLearn configuration is adopted; it takes open-unlearning's
        shared fine-tuning settings (`published`) with its KL retain weight 1."""
        if arch.profile != "tiny-kg":
            return published(arch, retain_weight=1.0)
        return UnlearnHparams(layers=tuple(range(arch.num_layers)), retain_weight=1.0, lr=1e-2, steps=60)


@dataclass(frozen=True)
class RMUHparams(UnlearnHparams):
    """RMU: `layer` is the block whose output is steered; the trained weights default to the MLP
    output projections of that block and the two below it (as in the WMDP recipe).

    steering_coeff: the control vector's norm as a multiple of the mean norm of the layer's
    activations on (the first batch of) the forget text, so one default fits models of any width.
    """

    layer: int = -1
    steering_coeff: float = 4.0


@register_method("rmu", family="unlearn")
class RMU(FineTuneUnlearner):
    """Steer a middle block's activations on forget text toward a random direction; hold them on
    retain text."""

    Hparams = RMUHparams
    loss = staticmethod(losses.rmu)

    def default_hparams(self, arch: Architecture) -> RMUHparams:
        """Real models: open-unlearning's configs/trainer/RMU.yaml: steered layer 7 of 16
        (Llama-3.2-1B; here the same relative depth), steering coefficient 2, retain weight
        (alpha) 1 on the retain activations, the shared fine-tuning settings; trained weights: the
        MLP output projections of the steered block and the two below (the WMDP recipe that
        config cites; open-unlearning's own default trains everything). ksmith's coefficient is
        relative to the layer's mean activation norm, theirs absolute: the number is theirs."""
        if arch.profile != "tiny-kg":
            from ksmith.models.arch import scaled_layer

            layer = scaled_layer(7, 16, arch.num_layers)
            return RMUHparams(
                layer=layer, layers=tuple(range(max(0, layer - 2), layer + 1)), modules=("mlp_out",),
                retain_weight=1.0, steering_coeff=2.0, lr=1e-5, steps=1, epochs=10.0, batch_size=32,
            )
        layer = max(0, (arch.num_layers - 1) // 2)
        return RMUHparams(
            layer=layer,
            layers=tuple(range(max(0, layer - 2), layer + 1)),
            modules=("mlp_out",),
            retain_weight=1.0,
            steering_coeff=2.0,
            lr=3e-2,
            steps=60,
        )

    def _layer(self, arch: Architecture, hp: RMUHparams) -> int:
        layer = hp.layer if hp.layer >= 0 else max(0, (arch.num_layers - 1) // 2)
        if layer >= arch.num_layers:
            raise MethodError(f"RMU layer {layer} out of range for a {arch.num_layers}-layer model")
        return layer

    def parameter_names(self, arch: Architecture, hp: UnlearnHparams) -> list[str]:
        assert isinstance(hp, RMUHparams)
        layer = self._layer(arch, hp)
        layers = hp.layers or tuple(range(max(0, layer - 2), layer + 1))
        above = [i for i in layers if i % arch.num_layers > layer]
        if above:
            raise MethodError(f"RMU trains blocks at or below its layer {layer}; got {above}")
        return parameter_names(arch, layers, hp.modules)

    def objective(self, model, params: ParamSet, hp: UnlearnHparams, data: _Data) -> Callable[[int], torch.Tensor]:
        assert isinstance(hp, RMUHparams)
        arch = describe(model)
        block = arch.block(self._layer(arch, hp))

        def activations(batch: TokenBatch) -> torch.Tensor:
            """The block's output at every real (non-pad) token, [tokens, d]."""
            with Trace(model, block, retain_output=True, stop=True) as trace:
                model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
            return main_output(trace.output)[batch.attention_mask.bool()]

        generator = torch.Generator().manual_seed(data.seed)
        with torch.no_grad():
            base = activations(select(data.forget, list(range(min(len(data.forget), hp.batch_size)))))
            # Drawn from the CPU generator (the same direction on any device), then moved.
            direction = torch.rand(base.shape[-1], generator=generator, device="cpu").to(base.device)
            control = direction / direction.norm() * hp.steering_coeff * base.norm(dim=-1).mean()

        def step_loss(step: int) -> torch.Tensor:
            if data.retain is None:
                return losses.rmu(activations(select(data.forget, data.forget_batches[step])), control)
            rbatch = select(data.retain, data.retain_batches[step])
            with params.reference():  # before the graph is built: the swap writes the weights
                retain_ref = activations(rbatch)
            retain_act = activations(rbatch)
            forget_act = activations(select(data.forget, data.forget_batches[step]))
            return losses.rmu(forget_act, control, retain_act, retain_ref, hp.retain_weight)

        return step_loss
