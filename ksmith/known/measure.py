"""Measuring a model's known set (`ksmith.probes.known` holds the data and the questions), and
the committed known sets of the real models: this needs a model and the scoring engine, so it sits
above both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ksmith.cache import kind_version, stable_hash
from ksmith.errors import DatasetError
from ksmith.probes.known import (
    FORMAT_VERSION,
    KNOWN_RULE,
    PROTOCOL,
    KnownSet,
    questions,
    tally,
)
from ksmith.world.world import World

if TYPE_CHECKING:
    from ksmith.models.loaded import LoadedModel


def measure_known(
    model: LoadedModel, world: World, *, batch_size: int = 64, name: str | None = None, sample: int | None = None
) -> KnownSet:
    """Score every held-in question (and its chance control) through the scoring engine.

    Every held-in paraphrase is asked (no early stop once the rule is settled): the direct probe of a
    known fact asks the same questions, so the set records how many of them the model gets right,
    which is what a cell's direct "executed" rate will be. `sample`: ask only that many facts per
    (domain, relation, level) cell (`sample_facts`); the others are absent from the known set (not
    asked, so never drawn as interventions), and the set records the sample size.
    """
    from ksmith.scoring import Scorer

    scorer = Scorer(model, batch_size=batch_size)
    qs = questions(world, sample)
    todo = [p for q in qs for group in (q.probes, q.controls) for p in group]
    scores = scorer.score(todo, (PROTOCOL,))
    picks = {s.probe_id: s.choice for s in scores.of(PROTOCOL).values()}
    return KnownSet(name or model.spec, model.weights_hash, world.hash, tally(qs, picks), sample=sample)


def known_cache_key(model_hash: str, world: World, sample: int | None = None) -> str:
    """The cache key of a known set: (model weights, world, protocol and rule, sample, and the version of
    the code that asks the questions, `kind_version("known")`: measuring SmolLM2's costs half an hour
    on two CPU cores, so an edit to a metric or a method must not throw it away)."""
    parts = ("known", model_hash, world.hash, PROTOCOL, KNOWN_RULE, FORMAT_VERSION, kind_version("known"))
    return stable_hash(*parts) if sample is None else stable_hash(*parts, sample)


#: The committed known sets (package data), one file per model spec: the record, and what the harness
#: draws a real model's interventions from whenever the file was measured on these very weights and
#: world (`committed_known`).
COMMITTED_DIR = Path(__file__).resolve().parent / "sets"


def committed_known(name: str, model_hash: str, world: World, sample: int | None = None) -> KnownSet | None:
    """The committed known set of model `name`, if it was measured on these weights and this world.

    Why the harness prefers it to measuring: a fact on the edge of "known" can fall either way under
    another CPU's kernels, and the interventions, so every number of a real-model cell, would then
    depend on the machine. The committed file is the same everywhere (and saves SmolLM2 7 minutes and
    Gemma 3 half an hour on a fresh machine). Measured with a sample, or on other weights or another
    world, it does not apply, and the caller measures.
    """
    path = COMMITTED_DIR / f"{name}.json"
    if sample is not None or not path.is_file():
        return None
    known = KnownSet.load(path)
    if known.model_hash != model_hash or known.world_hash != world.hash or known.sample is not None:
        return None
    return known


def cached_known(model: LoadedModel, world: World, *, batch_size: int = 64, sample: int | None = None) -> KnownSet:
    """`measure_known`, computed once per (model weights, world, sample, code version) under the
    cache root."""
    import os

    from ksmith.cache import entry, locked

    path = entry("known", f"{known_cache_key(model.weights_hash, world, sample)}.json")
    with locked(path):
        if path.is_file():
            try:
                return KnownSet.load(path)
            except DatasetError:
                pass  # a corrupt entry is recomputed
        known = measure_known(model, world, batch_size=batch_size, sample=sample)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        known.save(tmp)
        os.replace(tmp, path)
        return known
