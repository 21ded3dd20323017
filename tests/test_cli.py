"""The `ksmith` command reports bad input on stderr with exit code 2, never a traceback."""

from pathlib import Path

import pytest

from ksmith.cli import main


def test_unwritable_output_is_exit_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["world", "--size", "small", "--out", str(blocker / "world.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "ksmith: error:" in err and "Traceback" not in err


def test_unknown_subcommand_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
