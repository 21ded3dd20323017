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


def test_pretrain_without_a_target_or_with_an_unknown_embedded_model_exits_2(tmp_path, capsys):
    assert main(["pretrain"]) == 2
    assert "--out DIR" in capsys.readouterr().err
    assert main(["pretrain", "--embedded", "tiny-kg-huge"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) ['tiny-kg-huge']" in err and "tiny-kg-small" in err and "Traceback" not in err


def test_pretrain_of_the_default_world_copies_the_shipped_tiny_kg(tmp_path, monkeypatch, capsys):
    from ksmith.models.embedded import WEIGHTS_FILE, shipped

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    assert main(["pretrain", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / WEIGHTS_FILE).read_bytes() == (shipped("tiny-kg") / WEIGHTS_FILE).read_bytes()
