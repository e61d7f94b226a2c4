import subprocess
import sys

import pytest

from graphrep.cli import build_parser, main


def test_synth_then_info(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["synth", "--preset", "tiny", "--seed", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    for nt in ("pin", "board", "user", "query"):
        assert f"  {nt} " in text
    for rel in ("contains", "engaged", "clicked", "co_engaged"):
        assert f"--{rel}-->" in text
    assert "pin.image: dense float32" in text
    assert "events:" in text and "ground truth:" in text


def test_info_on_missing_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and "missing" in err


def test_info_on_corrupt_manifest(tmp_path, capsys):
    main(["synth", "--preset", "tiny", "--out", str(tmp_path / "d")])
    (tmp_path / "d" / "graph" / "manifest.json").write_text("garbage")
    capsys.readouterr()
    assert main(["info", str(tmp_path / "d")]) == 2
    assert "corrupt manifest" in capsys.readouterr().err


@pytest.mark.parametrize("sub", [[], ["synth"], ["info"]])
def test_help_reads_well(sub):
    text = build_parser().format_help() if not sub else None
    proc = subprocess.run(
        [sys.executable, "-m", "graphrep", *sub, "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "usage: graphrep" in proc.stdout
    if text:
        assert "synth" in text and "info" in text
    if sub == ["synth"]:
        assert "--preset {tiny,default,large}" in proc.stdout and "--out" in proc.stdout
