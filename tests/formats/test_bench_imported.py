"""One bench case per imported format (`--ksmith-dataset NAME=PATH`), with tiny-kg-small (trained
briefly, see `tests/conftest.py`'s `toy_model`) and FT-M, in a separate pytest process: the cases run, the
leaderboard groups them by dataset, and each carries the authors' metrics of its format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ksmith.probes import Dataset
from ksmith.probes.formats import import_dataset
from ksmith.report.records import read_results
from tests.formats import samples as S

REPO = Path(__file__).resolve().parents[2]
FILES = {
    "cf": ("counterfact", S.COUNTERFACT),
    "zs": ("zsre", S.ZSRE),
    "mq": ("mquake", S.MQUAKE),
    "rp": ("ripple", S.RIPPLE),
    "ke": ("knowedit", S.KNOWEDIT),
}


def test_one_bench_case_per_format(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, toy_model: tuple[Path, Path]
) -> None:
    cache, checkpoint = toy_model
    monkeypatch.setenv("KSMITH_CACHE", str(cache))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pytester.makeconftest('pytest_plugins = ("ksmith.fixtures.harness",)\n')
    pytester.makepyfile(test_update=(REPO / "bench" / "test_update.py").read_text())
    args = []
    datasets = {}
    for name, (fmt, records) in FILES.items():
        ds = import_dataset(fmt, S.write(pytester.path / f"{name}.json", records), "edit")
        ds.to_jsonl(pytester.path / f"{name}.jsonl")
        datasets[name] = ds
        args += ["--ksmith-dataset", f"{name}={name}.jsonl"]
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ksmith-grid", "smoke", "--ksmith-models", f"tiny-kg-small=hf:{checkpoint}",
        "--ksmith-methods", "ft-m", "--ksmith-scales", "2",
        "--ksmith-protocols", "mcq,mcq_norm,gen_match", "--ksmith-report-dir", "reports", *args, timeout=600,
    )
    result.assert_outcomes(passed=5)
    results = {r.key["level"]: r for r in read_results(pytester.path / "reports" / "latest")}
    assert set(results) == set(FILES)  # one row per dataset (the dataset takes the level's place)
    for name, r in results.items():
        assert r.status == "passed" and r.key["task"] == "edit" and r.key["model"] == "tiny-kg-small"
        expected = Dataset.take(datasets[name], 2)
        assert r.n_probes == len(expected.probes)
        assert r.provenance["dataset_hash"] == expected.hash
    cf = results["cf"].metrics
    assert {"cf_efficacy", "cf_generalization", "cf_specificity", "cf_score"} <= set(cf)
    assert all(0.0 <= cf[name].value <= 1.0 for name in ("cf_efficacy", "cf_generalization", "cf_specificity"))
    assert cf["cf_efficacy"].n == 2
    # k=2 on MQuAKE keeps case 2's two rewrites together: both cases, three interventions
    assert {"mquake_multi_hop_acc", "mquake_multi_hop_acc@gen_match"} <= set(results["mq"].metrics)
    assert results["mq"].metrics["mquake_multi_hop_acc"].n == 2
    ripple = results["rp"].metrics
    assert {"ripple_Subject_Aliasing_acc", "ripple_Logical_Generalization_acc"} <= set(ripple)
    assert ripple["ripple_Subject_Aliasing_acc"].executed == 1.0  # no condition query: always executed
    # KnowEdit's portability probes store no answer before the edit, so they always count
    assert results["ke"].metrics["multi_hop_acc"].executed == 1.0
    assert not any(name.startswith(("cf_", "mquake_", "ripple_")) for name in results["zs"].metrics)
    board = (pytester.path / "reports" / "latest" / "leaderboard.md").read_text()
    assert all(f"| {name} " in board for name in FILES)
