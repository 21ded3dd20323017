"""The example method's CI end to end: `examples/ksmith-example-method/ci.sh`, run as a method author's
CI runs it, on a copy of the example package installed into a fresh virtual environment.

- as committed, it passes (exit 0) against the committed baseline (when ksmith's code version has
  moved since the baseline was recorded: it says so, and passes once the baseline is re-recorded);
- with the method made worse than its recorded baseline (its step size 1,000 times smaller), it
  fails (exit 1) and names the regressed metric;
- against a baseline recorded under another ksmith code version, it reports the baseline as stale
  with what changed, not as a regression.

Each run is the grid the committed baseline names: one cell of the smoke grid at k=30 (the shipped
tiny-kg-small, leaf, 30 interventions), large enough that other CPU kernels (`.ci/run` runs this
file a second time under `MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=avx2`) stay inside its intervals.
The ksmith cache is shared by every xdist worker of the session (never the user's own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ksmith-example-method"
CELL = "tiny-kg-small-top-mlp-ft-edit-leaf-k30-s0"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A ksmith cache shared by this session's workers (never the user's own cache)."""
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "ksmith-ci-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def method_repo(tmp_path: Path) -> Path:
    """A copy of the example package, standing for a method author's repository."""
    return Path(
        shutil.copytree(
            EXAMPLE, tmp_path / "method", ignore=shutil.ignore_patterns("reports", "*.egg-info", "__pycache__")
        )
    )


def committed_code_version(repo: Path) -> str:
    return json.loads((repo / "ksmith-baseline.json").read_text())["cells"][0]["fingerprint"]["code_version"]


def fresh_python(tmp_path: Path) -> Path:
    """A new virtual environment that sees this one's packages (torch, ksmith's dependencies, pip)
    but not its installs of other method packages: what the script installs goes here only."""
    env_dir = tmp_path / "venv"
    if (env_dir / "bin" / "python").exists():
        return env_dir / "bin" / "python"
    venv.create(env_dir, with_pip=False)
    site_dir = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    parent = sysconfig.get_path("purelib")
    (site_dir / "_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return env_dir / "bin" / "python"


def run_script(repo: Path, tmp_path: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("KSMITH_SRC", "GITHUB_ACTIONS", "PYTEST_ADDOPTS")
    }
    env.update(
        PYTHON=str(fresh_python(tmp_path)),
        PYTHONPATH=str(REPO),  # this checkout's ksmith, whatever the environment has installed
        KSMITH_CACHE=str(cache),
        OMP_NUM_THREADS="1",  # the same arithmetic under -n 0 and -n 2
        PIP_NO_INDEX="1",  # offline: everything the install needs is already here
        PIP_NO_BUILD_ISOLATION="0",  # (sic) pip reads "0" as: do not isolate the build
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return subprocess.run(
        ["bash", str(repo / "ci.sh"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )


def summary(proc: subprocess.CompletedProcess[str]) -> str:
    """The `ksmith ci` summary block (the end of the log), for assertions and failure messages."""
    text = proc.stdout
    return text[text.rfind("== ksmith ci") :] if "== ksmith ci" in text else text[-3000:] + proc.stderr[-3000:]


def test_example_passes_against_its_committed_baseline(tmp_path: Path, session_cache: Path) -> None:
    """As committed, the script passes. When ksmith's code version has moved since the baseline was
    recorded, the run must say exactly that (stale, not a regression), and the documented way out,
    re-recording, must then pass (`make example-baseline` refreshes the committed file)."""
    from ksmith.ci import current_code_version

    repo = method_repo(tmp_path)
    recorded = committed_code_version(repo)
    proc = run_script(repo, tmp_path, session_cache)
    out = summary(proc)
    assert "conformance  PASS" in out and "grid         PASS" in out and "REGRESSION" not in out, out
    if recorded != current_code_version():
        assert proc.returncode == 1 and "gate         STALE" in out, out
        assert f"code_version {recorded} -> {current_code_version()}" in out, out
        updated = run_script(repo, tmp_path, session_cache, "--update-baseline", "--skip-conformance")
        assert updated.returncode == 0, summary(updated)
        proc = run_script(repo, tmp_path, session_cache, "--skip-conformance")
        out = summary(proc)
    assert proc.returncode == 0, out + "\n(a change to ksmith that moves these numbers on purpose: `make example-baseline`)"
    assert "gate         PASS" in out and "compared 1 cells: 0 regression(s)" in out, out
    assert out.rstrip().endswith("ksmith ci: PASSED (exit 0)"), out


def test_a_worse_method_fails_with_a_named_regression(tmp_path: Path, session_cache: Path) -> None:
    """A change that makes the method worse (its step size 1,000 times smaller), gated against the
    committed baseline, or against one recorded from the unchanged method when ksmith's code version
    has moved since the committed one (the conformance suite is the other test's business)."""
    from ksmith.ci import current_code_version

    repo = method_repo(tmp_path)
    if committed_code_version(repo) != current_code_version():
        recorded = run_script(repo, tmp_path, session_cache, "--update-baseline", "--skip-conformance")
        assert recorded.returncode == 0, summary(recorded)
    source = repo / "src" / "ksmith_example_method" / "__init__.py"
    text = source.read_text()
    assert "lr: float = 1e-2" in text
    source.write_text(text.replace("lr: float = 1e-2", "lr: float = 1e-5"))  # the planted regression
    proc = run_script(repo, tmp_path, session_cache, "--skip-conformance")
    out = summary(proc)
    assert proc.returncode == 1, out
    assert "grid         PASS" in out and "gate         FAIL" in out, out
    assert f"REGRESSION {CELL}: direct_acc" in out, out
    assert "ksmith ci: REGRESSION (exit 1)" in out, out


def test_a_baseline_from_another_code_version_is_stale_not_a_regression(tmp_path: Path, session_cache: Path) -> None:
    repo = method_repo(tmp_path)
    path = repo / "ksmith-baseline.json"
    data = json.loads(path.read_text())
    from ksmith.ci import current_code_version

    current = current_code_version()  # what the run reports; the committed file may hold an older one
    for cell in data["cells"]:
        cell["fingerprint"]["code_version"] = "older"
        for metric in cell["metrics"].values():  # numbers no run of this code gives: still no regression
            metric["value"] = 1.0 if metric["higher_is_better"] else 0.0
    path.write_text(json.dumps(data, indent=2))
    proc = run_script(repo, tmp_path, session_cache, "--skip-conformance")
    out = summary(proc)
    assert proc.returncode == 1, out
    assert "gate         STALE" in out, out
    assert f"STALE {CELL}: baseline does not apply (code_version older -> {current})" in out, out
    assert "REGRESSION" not in out, out
    assert "ksmith ci: STALE BASELINE (exit 1)" in out, out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--methods", "top-mlp-fx", "--baseline", "{committed}"], "unknown method 'top-mlp-fx'"),
        (["--methods", "rome", "--baseline", "{tmp}/missing.json"], "no baseline file"),
        (["--methods", "rome", "--baseline", "{tmp}/bad.json"], "not valid JSON"),
        (["--methods", "rome", "--baseline", "{committed}", "--fail-on", "direct_acc"], "METRIC:DELTA"),
        (["--methods", "rome", "--update-baseline", "--baseline", "{tmp}/new.json", "--grid", "huge"], "'huge'"),
        (["--methods", "ft-m", "--update-baseline", "--baseline", "{tmp}/new.json", "--tasks", "unlearn"], "no cell"),
        (["--methods", "rome", "--baseline", "{committed}", "--scales", "0"], "--ksmith-scales"),
    ],
)
def test_bad_input_exits_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    """An unknown method, a missing or malformed baseline, bad tolerances, a bad grid option: exit 2
    with the reason, before anything runs (no report directory, no baseline written)."""
    from ksmith.cli import main

    (tmp_path / "bad.json").write_text("{not json")
    args = [arg.format(tmp=tmp_path, committed=EXAMPLE / "ksmith-baseline.json") for arg in args]
    assert main(["ci", *args, "--report-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err, err
    assert not (tmp_path / "reports").exists() and not (tmp_path / "new.json").exists()
