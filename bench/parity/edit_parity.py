"""ROME, MEMIT and AlphaEdit: ksmith against EasyEdit on the same model, facts, statistics and prompts.

What is made the same on both sides:
- weights: one loaded model; each side edits it, the edited matrices are read, the model restored;
- facts and prompts: each fact's first held-in prompt, nothing else. EasyEdit averages its key
  over the prompt and prefixes it generates from the model (`get_context_templates`); the harness
  sets its template cache to the bare prompt ("{}"), and hands ksmith a request whose
  interventions hold that one prompt;
- statistics: EasyEdit's `layer_stats` (the Wikipedia second moment) is replaced, in each module
  that calls it, by ksmith's `key_stats` for the same layer (E[k kᵀ] of the same projection's
  input), cast to the reference's `mom2_dtype` as `layer_stats` returns it; EasyEdit's own casts,
  inverse and SVD then run on it as they do on theirs;
- hyper-parameters: ksmith's resolved hyper-parameters are handed to EasyEdit's hparams dataclass
  field by field (`reference_hparams`, which also lists ksmith's fields without a counterpart).

ROME is compared one fact at a time (EasyEdit's ROME takes one request; ksmith writes k facts
differently from EasyEdit's sequential editing, so only k=1 is the same algorithm). MEMIT and
AlphaEdit take all facts in one request on both sides.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from parity_table import FactOutcome, UpdateComparison, compare_updates

#: ksmith's `key_position` as EasyEdit's `fact_token`.
FACT_TOKEN = {"subject_last": "subject_last", "prompt_last": "last"}
#: ksmith's value-optimisation forms that EasyEdit hard-codes (field: the reference's value).
FIXED_FORMS: dict[str, object] = {
    "stop_loss": 0.05, "kl_template": "{s} is a", "kl_at": "key", "kl_direction": "new_orig",
    "decay_squared": False, "stop_on": "loss",
}
EDITORS: tuple[str, ...] = ("rome", "memit", "alphaedit")


@dataclass(frozen=True)
class Question:
    """The direct question of a fact: the prompt edited on, its four options, the new object's index."""

    prompt: str
    choices: tuple[str, ...]
    new_index: int


@dataclass(frozen=True)
class Fact:
    """One fact to edit: the intervention (one prompt) and its direct question."""

    intervention: Any  # ksmith.probes.types.Intervention, prompts cut to the first
    question: Question


@dataclass
class Mapped:
    """EasyEdit's hparams built from ksmith's, and the notes on fields without a counterpart."""

    hparams: Any
    notes: list[str]


def head_owner(lm: Any) -> str:
    """The module name under which `named_parameters()` lists the LM head's weight (a tied head is
    listed under the embedding): EasyEdit reads `<lm_head_module>.weight` from that list."""
    head = lm.get_output_embeddings().weight
    for name, param in lm.named_parameters():
        if param is head:
            return name.removesuffix(".weight")
    raise RuntimeError("the LM head's weight is not among the model's parameters")


def edited_layers(method: Any, name: str, arch: Any, hp: Any) -> list[int]:
    """The blocks ksmith edits with these hyper-parameters."""
    if name == "rome":
        from ksmith.methods.rome import default_layer

        return [default_layer(arch, hp.key_position) if hp.layer is None else hp.layer]
    return list(method.layers_for(arch, hp))


def reference_hparams(ee: Any, name: str, hp: Any, arch: Any, lm: Any, layers: list[int], stats_count: int,
                      workdir: Path, overrides: dict[str, Any]) -> Mapped:
    """EasyEdit's hparams for `name` from ksmith's resolved `hp`, field by field; `overrides` last."""
    notes = []
    if hp.key_position not in FACT_TOKEN:
        raise ValueError(f"key_position {hp.key_position!r} has no EasyEdit fact_token")
    for field, value in FIXED_FORMS.items():
        if getattr(hp, field) != value:
            notes.append(f"ksmith {field}={getattr(hp, field)!r}: EasyEdit hard-codes {value!r}; it cannot follow")
    module_out = f"{arch.blocks}.{{}}.{arch.mlp_out}"
    fields: dict[str, Any] = {
        "layers": list(layers),
        "fact_token": FACT_TOKEN[hp.key_position],
        "v_num_grad_steps": hp.v_steps,
        "v_lr": hp.v_lr,
        "v_loss_layer": arch.num_layers - 1,  # the last block: the model's own logits
        "v_weight_decay": hp.weight_decay,
        "clamp_norm_factor": hp.clamp_norm,
        "kl_factor": hp.kl_weight,
        "rewrite_module_tmp": module_out,
        "layer_module_tmp": f"{arch.blocks}.{{}}",
        # ROME adds its value to this module's output: ksmith adds it to the MLP output
        # projection's, which is the MLP's output on every layout ksmith edits
        "mlp_module_tmp": module_out,
        "attn_module_tmp": f"{arch.blocks}.{{}}.{arch.attn}",
        "ln_f_module": arch.final_norm,
        "lm_head_module": head_owner(lm),
        "mom2_dataset": "ksmith key_stats",  # never read: layer_stats is replaced
        "mom2_n_samples": stats_count,
        "mom2_dtype": "float32",  # every published EasyEdit hparams file
        "device": str(next(lm.parameters()).device),
        "stats_dir": str(workdir / "stats"),
    }
    notes.append("ksmith covariance_corpus/covariance_samples/covariance_sample_length: no counterpart "
                 "(the statistics are handed over)")
    notes.append("ksmith chunk: no counterpart (batching of the value optimisation only)")
    if name == "rome":
        # ROME writes with C⁻¹k; every EasyEdit ROME hparams file says mom2_adjustment: false (k alone)
        fields.update(alg_name="ROME", mom2_adjustment=True, context_template_length_params=[[5, 10]],
                      model_name=str(getattr(lm.config, "_name_or_path", "model")))
        if hp.cov_ridge:
            notes.append(f"ksmith cov_ridge={hp.cov_ridge}: no counterpart (EasyEdit inverts C as it is)")
        notes.append("EasyEdit mom2_adjustment=True, as ksmith always writes with C⁻¹k (the ROME paper); "
                     "every EasyEdit ROME hparams file says false (k alone), for which ksmith has no field")
        if hp.value_at != "key":
            notes.append(f"ksmith value_at={hp.value_at!r}: EasyEdit optimises at the key ('key')")
        cls = ee.ROMEHyperParams
    else:
        d_in = _key_width(lm, arch, layers[0])
        fields.update(layer_selection="all", mom2_adjustment=True, mom2_update_weight=hp.mom2_weight * d_in)
        notes.append(f"EasyEdit mom2_update_weight = ksmith mom2_weight x d_in = {hp.mom2_weight * d_in:.1f}")
        if hp.value_site != "residual":
            notes.append(f"ksmith value_site={hp.value_site!r}: EasyEdit optimises the residual ('residual')")
        if name == "memit":
            fields.update(alg_name="MEMIT", model_name=str(getattr(lm.config, "_name_or_path", "model")))
            cls = ee.MEMITHyperParams
        else:
            # AlphaEdit_main picks P's layout from the model name: a d_ff x d_ff P for names with
            # "llama" (nn.Linear layouts), "gpt2-xl" for Conv1D ones
            layout = "gpt2-xl" if arch.conv1d else "llama"
            fields.update(alg_name="AlphaEdit", model_name=f"{getattr(lm.config, '_name_or_path', 'model')} [{layout}]",
                          nullspace_threshold=hp.null_threshold, L2=hp.l2,
                          P_loc=str(workdir / "no-such-P.pt"))  # absent: P is computed from the statistics
            for field, ref in (("null_relative", False), ("l2_scaled", False), ("protect_retain", False)):
                if getattr(hp, field) != ref:
                    notes.append(f"ksmith {field}={getattr(hp, field)}: EasyEdit has only {field}={ref}")
            cls = ee.AlphaEditHyperParams
    fields.update(overrides)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValueError(f"EasyEdit's {cls.__name__} has no field(s) {unknown}; is the checkout the pinned one?")
    return Mapped(cls(**fields), notes)


def _key_width(lm: Any, arch: Any, layer: int) -> int:
    weight = lm.get_parameter(arch.mlp_out_weight(layer))
    return int(weight.shape[0] if arch.conv1d else weight.shape[1])


def fake_layer_stats(moments: dict[str, torch.Tensor]) -> Any:
    """A stand-in for EasyEdit's `layer_stats`: ksmith's E[k kᵀ] of the named module, in `precision`."""

    def layer_stats(model: Any, tokenizer: Any, layer_name: str, *args: Any, precision: str | None = None,
                    **kwargs: Any) -> Any:
        if layer_name not in moments:
            raise KeyError(f"the harness has no statistics for {layer_name}; it has {sorted(moments)}")
        moment = moments[layer_name].to(device="cpu", dtype=getattr(torch, precision or "float32"))
        return SimpleNamespace(mom2=SimpleNamespace(moment=moment.clone))

    return layer_stats


@contextlib.contextmanager
def patched(target: Any, **values: Any) -> Iterator[None]:
    """Set attributes of a module for the block, then put the old ones back."""
    old = {key: getattr(target, key) for key in values}
    for key, value in values.items():
        setattr(target, key, value)
    try:
        yield
    finally:
        for key, value in old.items():
            setattr(target, key, value)


@contextlib.contextmanager
def reference_state(ee: Any, moments: dict[str, torch.Tensor], tokenizer: Any, workdir: Path,
                    log: io.StringIO) -> Iterator[None]:
    """EasyEdit as the harness runs it: ksmith's statistics, the bare prompt as its only context
    template, empty caches, right padding (its target positions assume it), its prints captured
    and its files (AlphaEdit's P) written under `workdir`."""
    stats = fake_layer_stats(moments)
    previous_side, previous_dir = tokenizer.padding_side, os.getcwd()
    backend = _backend_state(tokenizer)
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(ee.compute_u, layer_stats=stats, inv_mom2_cache={}))
        stack.enter_context(patched(ee.rome_main, CONTEXT_TEMPLATES_CACHE=["{}"]))
        stack.enter_context(patched(ee.memit_main, layer_stats=stats, COV_CACHE={}, CONTEXT_TEMPLATES_CACHE=[["{}"]]))
        stack.enter_context(patched(ee.alphaedit_main, layer_stats=stats, COV_CACHE={},
                                    CONTEXT_TEMPLATES_CACHE=[["{}"]], P_loaded=False, cache_c_new=False))
        stack.enter_context(contextlib.redirect_stdout(log))
        tokenizer.padding_side = "right"
        os.chdir(workdir)
        try:
            yield
        finally:
            os.chdir(previous_dir)
            tokenizer.padding_side = previous_side
            _reset_backend(tokenizer, backend)


def _backend_state(tokenizer: Any) -> tuple[Any, Any] | None:
    """The Rust tokenizer's padding and truncation settings, which a padded call leaves switched on
    (ksmith's scorer encodes through `backend_tokenizer.encode_batch` and needs them off)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return None if backend is None else (backend.padding, backend.truncation)


def _reset_backend(tokenizer: Any, state: tuple[Any, Any] | None) -> None:
    if state is None:
        return
    backend = tokenizer.backend_tokenizer
    padding, truncation = state
    if padding is None:
        backend.no_padding()
    else:
        backend.enable_padding(**padding)
    if truncation is None:
        backend.no_truncation()
    else:
        backend.enable_truncation(**truncation)


def ee_request(iv: Any, case_id: int) -> dict[str, Any]:
    return {"prompt": iv.prompts[0], "subject": iv.subject, "target_new": iv.new_object, "case_id": case_id}


def run_reference(ee: Any, name: str, mapped: Mapped, lm: Any, tokenizer: Any, facts: Sequence[Fact]) -> None:
    """Apply EasyEdit's method to `lm` in place (inside `reference_state`)."""
    requests = [ee_request(f.intervention, i) for i, f in enumerate(facts)]
    if name == "rome":
        for request in requests:
            ee.rome_main.apply_rome_to_model(lm, tokenizer, [request], mapped.hparams)
    elif name == "memit":
        ee.memit_main.apply_memit_to_model(lm, tokenizer, requests, mapped.hparams)
    else:
        ee.alphaedit_main.apply_AlphaEdit_to_model(lm, tokenizer, requests, mapped.hparams, reset_cache=True)


def updates(lm: Any, before: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """W' - W per saved matrix, in float64."""
    params = dict(lm.named_parameters())
    return {name: params[name].detach().double() - w.double() for name, w in before.items()}


def outcomes(loaded: Any, facts: Sequence[Fact]) -> list[tuple[bool, float]]:
    """Per fact on the model as it is: (the new object is the argmax of the four options after the
    edited prompt, mean token NLL of " " + new object there)."""
    from ksmith.scoring import Scorer

    scorer = Scorer(loaded)
    requests = [(f.question.prompt, " " + c) for f in facts for c in f.question.choices]
    results = scorer.loglikelihood(requests)
    out, start = [], 0
    for f in facts:
        options = results[start : start + len(f.question.choices)]
        start += len(f.question.choices)
        scores = [o.logprob for o in options]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        new = options[f.question.new_index]
        out.append((best == f.question.new_index, -new.logprob / max(1, new.n_tokens)))
    return out


@dataclass
class EditRun:
    """One method's comparison: per-run update rows, per-fact outcomes, notes, the reference's log."""

    updates: list[UpdateComparison]
    facts: list[FactOutcome]
    notes: list[str]
    log: str


def compare_editor(ee: Any, name: str, loaded: Any, facts: Sequence[Fact], sets: dict[str, Any],
                   ref_sets: dict[str, Any]) -> EditRun:
    """ksmith's and EasyEdit's `name` on `facts`; the model is restored after each side."""
    from ksmith.methods import get_method
    from ksmith.methods.locate import key_stats
    from ksmith.models.snapshot import Snapshot
    from ksmith.probes.types import UpdateRequest

    lm, tok, arch = loaded.lm, loaded.tokenizer, loaded.arch
    method = get_method(name, **sets)
    hp = method.hparams_for(arch).resolved(arch)
    layers = edited_layers(method, name, arch, hp)
    stats = {layer: key_stats(lm, tok, arch, layer, hp) for layer in layers}
    moments = {arch.mlp_out_module(layer): s.moment for layer, s in stats.items()}
    weights = [arch.mlp_out_weight(layer) for layer in layers]
    log = io.StringIO()
    groups = [[f] for f in facts] if name == "rome" else [list(facts)]
    rows: list[UpdateComparison] = []
    results: list[FactOutcome] = []
    with tempfile.TemporaryDirectory(prefix="ksmith-parity-") as tmp:
        mapped = reference_hparams(ee, name, hp, arch, lm, layers, min(s.count for s in stats.values()),
                                   Path(tmp), ref_sets)
        for group in groups:
            run = f"fact {facts.index(group[0])}" if len(group) == 1 else f"batch of {len(group)}"
            snapshot = Snapshot.take(lm, weights)
            request = UpdateRequest(task="edit", interventions=tuple(f.intervention for f in group), seed=0)
            try:
                method.apply(lm, tok, request)
                ours = updates(lm, snapshot.saved)
                ours_out = outcomes(loaded, group)
            finally:
                snapshot.restore(lm)
            snapshot.verify(lm)
            try:
                with reference_state(ee, moments, tok, Path(tmp), log):
                    run_reference(ee, name, mapped, lm, tok, group)
                theirs = updates(lm, snapshot.saved)
                theirs_out = outcomes(loaded, group)
            finally:
                snapshot.restore(lm)
            snapshot.verify(lm)
            rows += compare_updates(name, run, ours, theirs)
            for f, (ok_k, nll_k), (ok_r, nll_r) in zip(group, ours_out, theirs_out):
                results.append(FactOutcome(name, f.intervention.id, ok_k, ok_r, nll_k, nll_r))
    return EditRun(rows, results, mapped.notes, log.getvalue())
