"""Defaults not tuned on the test: the findings grid never draws interventions with a tuning seed."""

from __future__ import annotations

import re
from pathlib import Path

from ksmith.grid import FINDINGS_REAL_SEEDS, FINDINGS_SEEDS, PRESETS, TUNING_SEEDS, resolve
from ksmith.findings.report import tuning_split_text

REPO = Path(__file__).resolve().parents[1]


def test_findings_grid_seeds_are_not_tuning_seeds() -> None:
    assert PRESETS["findings"].seeds == FINDINGS_SEEDS
    assert not set(FINDINGS_SEEDS) & set(TUNING_SEEDS)
    assert not set(resolve("findings").seeds) & set(TUNING_SEEDS)


def test_real_findings_grid_has_three_seeds_none_a_tuning_seed_and_both_real_models() -> None:
    spec = resolve("findings-real")
    assert spec.seeds == FINDINGS_REAL_SEEDS and len(set(spec.seeds)) >= 3
    assert not set(spec.seeds) & set(TUNING_SEEDS)
    assert set(spec.models) == {"smollm2-135m", "gemma3-270m"} and spec.world == "real"
    assert {1, 10, 100} <= set(spec.scales) and spec.tasks == ("edit", "unlearn")


def test_make_findings_real_runs_its_preset_and_compares_with_the_committed_tiny_kg_report() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nfindings-real:", 1)[1].split("\n\n", 1)[0]
    assert "--ksmith-grid findings-real" in recipe and "--ksmith-seeds" not in recipe
    tiny = re.search(r"^FINDINGS_TINY \?= (\S+)$", makefile, re.M).group(1)
    assert (REPO / tiny / "results.jsonl").is_file()


def test_make_findings_runs_the_findings_preset_without_overriding_its_seeds() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nfindings:", 1)[1].split("\n\n", 1)[0]
    assert "--ksmith-grid findings" in recipe
    assert "--ksmith-seeds" not in recipe


def test_the_tuning_script_draws_from_the_tuning_seeds() -> None:
    source = (REPO / "bench" / "perf" / "bench_tune_finetune.py").read_text()
    assert re.search(r"for seed in TUNING_SEEDS\[", source)


def test_the_report_states_the_split_and_flags_an_overlap() -> None:
    assert "None of this run's cells" in tuning_split_text(FINDINGS_SEEDS)
    assert "not out of sample" in tuning_split_text((0, 100))
    real = tuning_split_text((100, 101), ["smollm2-135m"])
    assert "published defaults" in real and "TUNING_SEEDS" not in real
    both = tuning_split_text((0,), ["tiny-kg-small", "smollm2-135m"])
    assert "not out of sample" in both and "published defaults" in both
