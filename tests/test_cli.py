import os
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


@pytest.fixture
def quick_synth(monkeypatch):
    """`graphrep synth` on a 3-node graph (the generator itself is tested elsewhere)."""
    import graphrep.data.synthetic as synthetic
    from graphrep import HeteroGraph
    from graphrep.data.dataset import GraphDataset

    ds = GraphDataset(HeteroGraph.from_edges({"pin": 3}, {("pin", "r", "pin"): ([0], [1])}))
    monkeypatch.setattr(synthetic, "generate", lambda cfg, seed=0: ds)


def test_synth_never_deletes_a_users_files(tmp_path, capsys, quick_synth):
    v = tmp_path / "v"
    v.mkdir()
    (v / "thesis.txt").write_text("years of work")
    for extra in ([], ["--overwrite"]):
        assert main(["synth", "--preset", "tiny", "--out", str(v), *extra]) == 2
        err = capsys.readouterr().err
        assert "not written by graphrep" in err and str(v) in err and "Traceback" not in err
    assert os.listdir(v) == ["thesis.txt"] and sorted(os.listdir(tmp_path)) == ["v"]


def test_synth_replaces_its_own_output_only_with_overwrite(tmp_path, capsys, quick_synth):
    out = tmp_path / "d"
    assert main(["synth", "--preset", "tiny", "--out", str(out)]) == 0
    assert main(["synth", "--preset", "tiny", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--overwrite"]) == 0
    (out / "graph" / "notes.txt").write_text("mine")
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (out / "graph" / "notes.txt").exists()


def test_an_unwritable_output_is_one_named_line(tmp_path, capsys, quick_synth, monkeypatch):
    import errno
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    assert main(["synth", "--preset", "tiny", "--out", str(tmp_path / "ro" / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ro/d" in err and "writable location" in err


def test_info_on_corrupt_topology_is_an_error(tmp_path, capsys, quick_synth):
    import numpy as np

    main(["synth", "--preset", "tiny", "--out", str(tmp_path / "d")])
    path = tmp_path / "d" / "graph" / "relations" / "0" / "indices.npy"
    np.save(path, np.full_like(np.load(path), 2_000_000_000))
    capsys.readouterr()
    assert main(["info", str(tmp_path / "d")]) == 2
    assert "destination id 2000000000 at edge position 0" in capsys.readouterr().err
