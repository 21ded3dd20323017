from ksmith.cli import main
from ksmith.models.tiny import read_meta


def test_pretrain_command_writes_a_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    assert main(["world", "--size", "small", "--out", str(tmp_path / "world.json")]) == 0
    out = tmp_path / "model"
    code = main(["pretrain", "--world", str(tmp_path / "world.json"), "--out", str(out), "--small",
                 "--max-steps", "20", "--threads", "1"])
    assert code == 0
    captured = capsys.readouterr()
    assert "loss" in captured.err and "acc" in captured.err  # the progress bar
    assert str(out) in captured.out
    assert read_meta(out)["steps"] == 20 and (out / "config.json").is_file()


def test_pretrain_command_reports_a_bad_world_file(tmp_path, capsys):
    (tmp_path / "world.json").write_text("{not json")
    assert main(["pretrain", "--world", str(tmp_path / "world.json"), "--out", str(tmp_path / "m")]) == 2
    assert "ksmith: error" in capsys.readouterr().err
