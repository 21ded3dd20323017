"""The baseline file and the gate over it, on hand-made results (no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ksmith.report.baseline import (
    BaselineError,
    dumps_baseline,
    gate,
    make_baseline,
    read_baseline,
    render_gate,
    write_baseline,
)
from ksmith.report.records import CaseResult
from tests.harness.factory import make_result

PROVENANCE = {
    "code_version": "7",
    "world_hash": "w1",
    "dataset_hash": "d1",
    "model_hash": "m1",
    "model_spec": "hf:/models/gpt2",
    "protocols": ["mcq"],
    "mode": "batch",
    "device": "cuda:1",
    "dtype": "torch.float32",
    "hparams": {"lr": 0.01},
    "hparams_hash": "h1",
    "git_commit": "abc",
}


def result(direct: float = 0.9, ccr: float = 0.05, status: str = "passed", **provenance: object) -> CaseResult:
    base = make_result("top-mlp-ft", status=status, direct_acc=direct, ccr=ccr, multi_hop_acc=0.3)
    return replace(base, provenance={**PROVENANCE, **provenance})


def test_file_keeps_the_gated_metrics_and_the_fingerprint_only(tmp_path: Path) -> None:
    baseline = make_baseline([result(direct=0.9123456789)], "direct_acc:0.1,ccr:0.05", {"ksmith_version": "0.1.0"})
    path = write_baseline(tmp_path / "ksmith-baseline.json", baseline)
    data = json.loads(path.read_text())
    (cell,) = data["cells"]
    assert sorted(cell["metrics"]) == ["ccr", "direct_acc"]  # multi_hop_acc is not gated
    assert cell["metrics"]["direct_acc"]["value"] == 0.912346
    assert cell["fingerprint"]["device_type"] == "cuda"
    assert "hparams_hash" not in cell["fingerprint"] and "git_commit" not in cell["fingerprint"]
    assert data["provenance"]["models"] == {"tiny-kg": "m1"}
    assert path.read_text() == dumps_baseline(read_baseline(path))  # stable: re-writing changes nothing
    assert path.read_text().count("\n") > 20  # one value per line: diffs show what moved


def test_unchanged_run_passes_and_a_drop_is_a_named_regression(tmp_path: Path) -> None:
    baseline = read_baseline(write_baseline(tmp_path / "b.json", make_baseline([result()], "direct_acc:0.1", {})))
    same = gate(baseline, [result(hparams_hash="h2")])  # the method's own change is what is gated
    assert not same.regressed and not same.stale and same.comparison.compared == 1
    worse = gate(baseline, [result(direct=0.5, hparams_hash="h2")])
    assert worse.regressed and not worse.stale
    assert "REGRESSION tiny-kg-top-mlp-ft-edit-leaf-k10-s0: direct_acc" in render_gate(worse)


def test_a_changed_fingerprint_is_stale_with_what_changed_not_a_regression() -> None:
    baseline = make_baseline([result()], "direct_acc:0.1", {})
    verdict = gate(baseline, [result(direct=0.1, code_version="8", world_hash="w2")])
    assert not verdict.regressed and verdict.nothing_compared
    assert verdict.stale == {"tiny-kg-top-mlp-ft-edit-leaf-k10-s0": ["code_version 7 -> 8", "world_hash w1 -> w2"]}
    text = render_gate(verdict)
    assert "STALE" in text and "REGRESSION" not in text


def test_other_weights_make_a_cell_stale_for_every_model_the_embedded_ones_too() -> None:
    for spec in ("hf:/models/gpt2", "tiny-kg-small", "tiny-kg"):
        baseline = make_baseline([result(model_spec=spec)], "direct_acc:0.1", {})
        verdict = gate(baseline, [result(direct=0.1, model_spec=spec, model_hash="m2")])
        assert verdict.stale and not verdict.regressed, spec
        assert verdict.stale["tiny-kg-top-mlp-ft-edit-leaf-k10-s0"] == ["model_hash m1 -> m2"]


def test_a_failed_cell_is_a_regression_and_no_baseline_is_made_from_it() -> None:
    baseline = make_baseline([result()], "direct_acc:0.1", {})
    verdict = gate(baseline, [result(status="failed")])
    assert verdict.regressed and verdict.failed_cells == ["tiny-kg-top-mlp-ft-edit-leaf-k10-s0"]
    with pytest.raises(BaselineError, match="failed cells"):
        make_baseline([result(status="failed")], "direct_acc:0.1", {})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not valid JSON"),
        ('{"cells": []}', "not a ksmith baseline"),
        ('{"ksmith_baseline": 99, "cells": [], "fail_on": "direct_acc:0.1"}', "format 99"),
        ('{"ksmith_baseline": 1, "cells": [{"key": {}}], "fail_on": "direct_acc:0.1"}', "malformed baseline"),
        ('{"ksmith_baseline": 1, "cells": [], "fail_on": "direct_acc"}', "METRIC:DELTA"),
    ],
)
def test_a_bad_file_is_named_with_what_to_do(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "ksmith-baseline.json"
    path.write_text(text)
    with pytest.raises(BaselineError, match=reason) as info:
        read_baseline(path)
    assert str(path) in str(info.value)


def test_a_drop_inside_the_intervals_is_noise_not_a_regression(tmp_path: Path) -> None:
    baseline = read_baseline(write_baseline(tmp_path / "b.json", make_baseline([result()], "direct_acc:0.01", {})))
    slightly_worse = gate(baseline, [result(direct=0.86)])  # intervals ±0.05: 0.04 is inside them
    assert not slightly_worse.regressed and slightly_worse.comparison.within_noise
    assert "within noise" in render_gate(slightly_worse)
    assert gate(baseline, [result(direct=0.7)]).regressed
    assert "significant_only" not in (tmp_path / "b.json").read_text()
