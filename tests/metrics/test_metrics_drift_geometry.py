"""Drift and geometry on hand-computed cases: KL(p, p) = 0, CKA(X, X) = 1, zero angles for equal matrices."""

from __future__ import annotations

import math

import pytest
import torch

from ksmith.errors import KsmithError
from ksmith.metrics.drift import capture, drift, drift_prompts, first_edited_layer, kl_divergence, linear_cka
from ksmith.metrics.efficiency import efficiency, parameters_touched
from ksmith.metrics.geometry import (
    anisotropy,
    geometry,
    matrix_geometry,
    principal_angles,
    random_update,
    singular_value_ratios,
    top_spectrum,
    update_rank,
)


def test_kl_of_a_distribution_with_itself_is_zero_and_known_otherwise() -> None:
    logp = torch.log_softmax(
        torch.randn(5, 11, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    assert torch.allclose(kl_divergence(logp, logp), torch.zeros(5), atol=1e-12)
    p = torch.tensor([[0.5, 0.5]]).log()
    q = torch.tensor([[0.9, 0.1]]).log()
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert float(kl_divergence(p, q)) == pytest.approx(expected)


def test_cka_is_one_for_identical_and_invariant_to_rotation_and_scale() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    assert linear_cka(x, x) == pytest.approx(1.0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)
    noise = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    assert linear_cka(x, noise) < 0.5
    with pytest.raises(KsmithError):
        linear_cka(x[:1], x[:1])


@pytest.fixture(scope="module")
def small_world():
    from ksmith.world import build_world

    return build_world(size="small")


@pytest.fixture
def tiny_model(small_world):
    """A randomly initialised 2-block GPT-2 with tiny-kg's word-level tokenizer (no training needed)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from ksmith.models.arch import describe
    from ksmith.models.loaded import LoadedModel
    from ksmith.models.tiny import build_tokenizer

    tok = build_tokenizer(small_world)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok), n_positions=32, n_embd=16, n_layer=2, n_head=2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    lm = GPT2LMHeadModel(config).eval()
    return LoadedModel(spec="test", lm=lm, tokenizer=tok, arch=describe(lm), weights_hash="", device="cpu")


def test_capture_then_drift_is_zero_without_an_update_and_counts_layers_from_the_edit(
    tiny_model, small_world
) -> None:
    from ksmith.scoring import Scorer

    prompts = drift_prompts(small_world, n=6)
    before = capture(Scorer(tiny_model, batch_size=2), prompts)
    assert before.logprobs.shape == (6, len(tiny_model.tokenizer)) and len(before.hidden) == 3
    same = drift(before, capture(Scorer(tiny_model, batch_size=6), prompts), scale=10)
    assert same["drift_kl"].value == pytest.approx(0.0, abs=1e-9)
    assert same["drift_cka"].value == pytest.approx(0.0, abs=1e-9)
    name = "transformer.h.1.mlp.c_proj.weight"
    with torch.no_grad():
        w = dict(tiny_model.lm.named_parameters())[name]
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(9)))
    after = capture(Scorer(tiny_model), prompts)
    layer = first_edited_layer([name], tiny_model.arch)
    assert layer == 2  # block 1's output is hidden_states[2]
    everywhere = drift(before, after, scale=10)
    assert everywhere["drift_cka_l0"].value == pytest.approx(0.0, abs=1e-9)  # below the edit: cannot move
    assert everywhere["drift_cka_l1"].value == pytest.approx(0.0, abs=1e-9)
    moved = drift(before, after, scale=10, from_layer=layer)
    assert set(n for n in moved if n.startswith("drift_cka_l")) == {"drift_cka_l2"}
    assert moved["drift_kl"].value > 1e-4 and moved["drift_cka"].value > 0
    assert moved["drift_cka"].value == pytest.approx(3 * everywhere["drift_cka"].value)  # not diluted
    assert moved["drift_kl_per_fact"].value == pytest.approx(moved["drift_kl"].value / 10)


def test_next_token_uses_the_scoring_engines_bos_convention(tiny_model, small_world) -> None:
    """The log-probability drift reads for a word is the one `loglikelihood` gives the same text."""
    from ksmith.scoring import Scorer, next_token

    scorer = Scorer(tiny_model, batch_size=3)
    prompts = drift_prompts(small_world, n=5)
    words = [small_world.object_of(*_subject_relation(small_world, p)) or "the" for p in prompts]
    got = next_token(scorer, prompts, hidden=False)
    assert got.hidden == ()
    lls = scorer.loglikelihood([(p, " " + w) for p, w in zip(prompts, words)])
    for i, (w, ll) in enumerate(zip(words, lls)):
        (token,) = tiny_model.tokenizer(" " + w, add_special_tokens=False)["input_ids"]
        assert float(got.logprobs[i, token]) == pytest.approx(ll.logprob, abs=1e-4)
    alone = next_token(Scorer(tiny_model, batch_size=1), prompts, hidden=False)
    assert torch.allclose(got.logprobs, alone.logprobs, atol=1e-5)  # padding changes nothing


def _subject_relation(world, prompt):
    for rel in world.relations.values():
        for template in rel.templates.cloze:
            head, _, tail = template.partition("{s}")
            if prompt.startswith(head) and prompt.endswith(tail):
                subject = prompt[len(head) : len(prompt) - len(tail)]
                if subject in world.entities:
                    return subject, rel.name
    raise AssertionError(prompt)


def test_first_edited_layer_reads_the_architecture_table(tiny_model) -> None:
    arch = tiny_model.arch
    assert first_edited_layer(["transformer.h.1.mlp.c_proj.weight", "transformer.h.0.attn.c_attn.weight"], arch) == 1
    assert first_edited_layer([arch.embed + ".weight"], arch) == 0
    assert first_edited_layer(["lm_head.weight"], arch) == arch.num_layers


def test_principal_angles_zero_for_identical_and_right_angle_for_orthogonal() -> None:
    a = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(
        principal_angles(a, a), torch.zeros(3, dtype=torch.float64), atol=1e-6
    )
    e = torch.eye(4)
    right = torch.full((2,), math.pi / 2, dtype=torch.float64)
    assert torch.allclose(principal_angles(e[:, :2], e[:, 2:]), right)


@pytest.mark.parametrize("shape", [(30, 70), (70, 30)])
@pytest.mark.parametrize("rank", [None, 3])
def test_top_spectrum_matches_the_full_svd(shape: tuple[int, int], rank: int | None) -> None:
    """The Gram route gives the SVD's top values and subspaces, wide or tall; a rank-deficient matrix
    (its 4th-8th singular values are 0, below the Gram floor) falls back to the SVD itself."""
    gen = torch.Generator().manual_seed(6)
    w = torch.randn(*shape, generator=gen, dtype=torch.float64)
    if rank is not None:
        w = torch.randn(shape[0], rank, generator=gen, dtype=torch.float64) @ torch.randn(
            rank, shape[1], generator=gen, dtype=torch.float64
        )
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    top = top_spectrum(w, 8)
    assert top.values.shape == (8,) and top.left.shape == (shape[0], 8) and top.right.shape == (shape[1], 8)
    assert torch.allclose(top.values, s[:8], rtol=1e-10, atol=1e-10)
    known = 8 if rank is None else rank  # singular vectors of a zero singular value are arbitrary
    assert torch.allclose(principal_angles(top.left[:, :known], u[:, :known]), torch.zeros(known, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(principal_angles(top.right[:, :known], vh[:known].T), torch.zeros(known, dtype=torch.float64), atol=1e-6)


def test_uniform_rescale_has_no_rotation_and_no_anisotropy() -> None:
    w = torch.randn(
        20, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    ratios = singular_value_ratios(w, 2.0 * w)
    assert torch.allclose(ratios, torch.full_like(ratios, 2.0))
    assert anisotropy(ratios) == pytest.approx(0.0, abs=1e-12)
    g = matrix_geometry("w", w, 2.0 * w)
    assert g.rotation == pytest.approx(0.0, abs=1e-4) and g.anisotropy == pytest.approx(
        0.0, abs=1e-9
    )
    assert g.relative_norm == pytest.approx(1.0)
    assert (
        g.rotation_random > 0 and g.anisotropy_random > 0
    )  # a random update of the same size moves


def test_anisotropic_scaling_and_rotation_are_told_apart() -> None:
    gen = torch.Generator().manual_seed(4)
    u, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    i = torch.arange(16, dtype=torch.float64)
    s = 10.0 * 0.5**i
    w = u @ torch.diag(s) @ v.T
    scaled = (
        u @ torch.diag(s * 0.5 ** (i / 3)) @ v.T
    )  # shrinks each direction more: order kept
    g_scale = matrix_geometry("w", w, scaled, top=4)
    assert (
        g_scale.anisotropy == pytest.approx(math.log(2) / 3 * math.sqrt(1.25))
        and g_scale.rotation < 1e-3
    )
    r, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    rotated = r @ w
    g_rot = matrix_geometry("w", w, rotated, top=4)
    assert g_rot.anisotropy == pytest.approx(0.0, abs=1e-9) and g_rot.rotation > 10


def test_geometry_metrics_skip_unchanged_and_are_seeded() -> None:
    w = torch.randn(8, 8, generator=torch.Generator().manual_seed(5))
    after = {"a": w + 0.1 * torch.ones(8, 8), "b": w.clone()}
    m = geometry({"a": w, "b": w}, after)
    assert m["geom_rotation"].n == 1  # "b" did not change
    assert m == geometry({"a": w, "b": w}, after)
    assert geometry({"a": w}, {"a": w.clone()}) == {}


def test_efficiency_counts_touched_parameters() -> None:
    lm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))

    class Result:
        wall_s = 0.25
        touched = ("0.weight",)

    assert parameters_touched(lm, ("0.weight",)) == (12, 12 + 3 + 6 + 2)
    m = efficiency(Result(), score_s=1.0, lm=lm, peak_mb=12.0)
    assert m["params_touched"].value == 12 and m[
        "params_touched_frac"
    ].value == pytest.approx(12 / 23)
    assert m["update_s"].value == 0.25 and m["update_s"].higher_is_better is False


def test_drift_prompts_are_fixed_for_a_world() -> None:
    from ksmith.world import build_world

    world = build_world(size="small")
    prompts = drift_prompts(world, n=32)
    assert len(prompts) == 32 == len(set(prompts))
    assert prompts == drift_prompts(build_world(size="small"), n=32)
    assert prompts != drift_prompts(world, n=32, seed=1)
    assert all("{" not in p for p in prompts)


def test_rank_matched_baseline_has_the_updates_rank_and_spectrum() -> None:
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(24, 16, generator=gen, dtype=torch.float64)
    for rank in (1, 3):
        delta = torch.randn(24, rank, generator=gen, dtype=torch.float64) @ torch.randn(
            rank, 16, generator=gen, dtype=torch.float64
        )
        rand = random_update(delta, seed=1)
        assert update_rank(delta) == rank and update_rank(rand) == rank
        assert torch.allclose(torch.linalg.svdvals(rand)[:rank], torch.linalg.svdvals(delta)[:rank])
        assert not torch.allclose(rand, delta)
        g = matrix_geometry("w", w, w + delta)
        assert g.rotation_random > 0
    # a rank-one update against a full-rank Gaussian of equal norm would always look rotation-heavy
    assert update_rank(torch.zeros(4, 4)) == 0 and torch.equal(random_update(torch.zeros(4, 4), 0), torch.zeros(4, 4))


@pytest.mark.parametrize("task", ["edit", "unlearn"])
def test_drift_set_never_holds_an_intervention_or_a_fact_tied_to_one(task: str) -> None:
    """Hypothesis over random worlds, levels, scales and seeds (see `_drift_set_property`)."""
    _drift_set_property(task)


def _drift_set_property(task: str) -> None:
    import re

    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    from ksmith.errors import DatasetError
    from ksmith.metrics.drift import tied_facts
    from ksmith.probes import build_dataset
    from ksmith.world import LEVELS
    from ksmith.world.strategies import worlds

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(worlds(), st.sampled_from(LEVELS), st.integers(1, 6), st.integers(0, 5), st.integers(0, 3))
    def check(world, level, k, seed, drift_seed) -> None:
        try:
            ds = build_dataset(world, task, level, k, seed)
        except DatasetError as exc:
            m = re.search(r"at most (\d+)", str(exc))
            assume(m is not None and int(m.group(1)) > 0)
            ds = build_dataset(world, task, level, int(m.group(1)), seed)
        try:
            prompts = set(drift_prompts(world, ds.interventions, ds.probes, n=10_000, seed=drift_seed))
        except KsmithError:
            return  # every fact is tied: no drift set, which is the right answer
        for item in ds.interventions:
            assert not prompts & set(item.prompts), item
        assert not prompts & {p.prompt for p in ds.probes if p.family == "Q+"}
        tied = tied_facts(world, ds.interventions)
        for subject, relation in tied:
            if world.relations[relation].taxonomy:
                continue
            for template in world.relations[relation].templates.cloze:
                assert template.format(s=subject) not in prompts, (subject, relation)

    check()
