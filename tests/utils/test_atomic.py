import os

import pytest

from graphrep.utils.atomic import atomic_dir, atomic_file


def test_atomic_file_replaces_only_on_success(tmp_path):
    p = tmp_path / "f.txt"
    with atomic_file(p, "w") as f:
        f.write("one")
    with pytest.raises(RuntimeError), atomic_file(p, "w") as f:
        f.write("two")
        raise RuntimeError("killed")
    assert p.read_text() == "one"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_dir_swaps_whole_directory(tmp_path):
    d = tmp_path / "out"
    with atomic_dir(d) as t:
        (t / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(d) as t:
        (t / "b").write_text("2")
        raise RuntimeError("killed")
    assert sorted(os.listdir(d)) == ["a"]
    with atomic_dir(d) as t:
        (t / "c").write_text("3")
    assert sorted(os.listdir(d)) == ["c"]
    assert os.listdir(tmp_path) == ["out"]
    with pytest.raises(FileExistsError), atomic_dir(d, overwrite=False):
        pass
