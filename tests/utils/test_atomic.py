import errno
import json
import os
import tempfile

import pytest

from graphrep.errors import OutputExistsError, WriteError
from graphrep.utils.atomic import atomic_dir, atomic_file, check_replaceable


def _graphrep_dir(tmp, files=("a.npy",)):
    """Fill ``tmp`` as graphrep does: files named by a graphrep manifest."""
    for f in files:
        (tmp / f).write_text("1")
    entries = {f: {"file": f} for f in files}
    (tmp / "manifest.json").write_text(json.dumps({"format": "graphrep.test", "x": entries}))


def test_atomic_file_replaces_only_on_success(tmp_path):
    p = tmp_path / "f.txt"
    with atomic_file(p, "w") as f:
        f.write("one")
    with pytest.raises(RuntimeError), atomic_file(p, "w") as f:
        f.write("two")
        raise RuntimeError("killed")
    assert p.read_text() == "one"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_dir_swaps_a_graphrep_directory_with_overwrite(tmp_path):
    d = tmp_path / "out"
    with atomic_dir(d) as t:
        _graphrep_dir(t, ["a"])
    with pytest.raises(RuntimeError), atomic_dir(d, overwrite=True) as t:
        (t / "b").write_text("2")
        raise RuntimeError("killed")
    assert sorted(os.listdir(d)) == ["a", "manifest.json"]
    with atomic_dir(d, overwrite=True) as t:
        _graphrep_dir(t, ["c"])
    assert sorted(os.listdir(d)) == ["c", "manifest.json"]
    assert os.listdir(tmp_path) == ["out"]
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_dir(d):
        pass
    assert sorted(os.listdir(d)) == ["c", "manifest.json"]


def test_an_empty_directory_is_written_into(tmp_path):
    (tmp_path / "out").mkdir()
    with atomic_dir(tmp_path / "out") as t:
        _graphrep_dir(t)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.npy", "manifest.json"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_users_directory_is_never_replaced(tmp_path, overwrite):
    d = tmp_path / "v"
    d.mkdir()
    (d / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputExistsError, match="not written by graphrep") as info:
        with atomic_dir(d, overwrite=overwrite) as t:
            _graphrep_dir(t)
    assert str(d) in str(info.value)
    assert (d / "thesis.txt").read_text() == "years of work"
    assert sorted(os.listdir(tmp_path)) == ["v"]  # no temporary left behind


def test_a_foreign_file_inside_graphrep_output_blocks_overwrite(tmp_path):
    d = tmp_path / "out"
    with atomic_dir(d) as t:
        _graphrep_dir(t)
    (d / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes\.txt"), atomic_dir(d, overwrite=True):
        pass
    assert (d / "notes.txt").read_text() == "mine" and (d / "a.npy").exists()


def test_a_file_or_symlink_target_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    os.symlink(tmp_path / "f", tmp_path / "link")
    for name in ("f", "link"):
        with pytest.raises(OutputExistsError, match="not a directory"):
            check_replaceable(tmp_path / name, overwrite=True)
    assert (tmp_path / "f").read_text() == "x"


def test_files_added_during_the_write_are_not_deleted(tmp_path):
    d = tmp_path / "out"
    with pytest.raises(OutputExistsError), atomic_dir(d) as t:
        _graphrep_dir(t)
        d.mkdir()
        (d / "late.txt").write_text("arrived meanwhile")
    assert (d / "late.txt").exists()


def test_permission_and_disk_full_are_named_write_errors(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    with pytest.raises(WriteError, match=r"cannot write .*out.*writable location"), atomic_dir(
        tmp_path / "out"
    ):
        pass
    monkeypatch.undo()
    with pytest.raises(WriteError, match=r"f\.bin.*disk is full"), atomic_file(tmp_path / "f.bin"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert os.listdir(tmp_path) == []
