import json
import os

import numpy as np
import pytest

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphFormatError, GraphValidationError, UnsafePathError
from graphrep.graph.storage import load_graph, save_graph


def graph():
    rng = np.random.default_rng(1)
    return HeteroGraph.from_edges(
        {"user": 5, "pin": 7},
        {
            ("user", "engaged", "pin"): {
                "src": rng.integers(0, 5, 30),
                "dst": rng.integers(0, 7, 30),
                "timestamp": rng.integers(0, 100, 30),
                "action": rng.integers(0, 3, 30).astype(np.int8),
            }
        },
        node_ids={"pin": [f"p{i}" for i in range(7)], "user": np.arange(100, 105)},
        features={
            "pin": {
                "image": rng.normal(size=(7, 3)).astype(np.float32),
                "text": Ragged.from_lists([[1, 2], [], [3], [4, 5, 6], [], [7], [8]]),
            }
        },
    )


@pytest.mark.parametrize("mmap", [True, False])
def test_roundtrip_is_exact(tmp_path, mmap):
    g = graph()
    save_graph(g, tmp_path / "g")
    h = load_graph(tmp_path / "g", mmap=mmap)
    assert h.equals(g)
    assert isinstance(h.csr("engaged").indices, np.memmap) == mmap
    assert h.index_of("pin", ["p3"]).tolist() == [3]


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path):
    g = graph()
    save_graph(g, tmp_path / "g")
    save_graph(g, tmp_path / "g", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["g"]


def test_failed_save_keeps_previous_version(tmp_path, monkeypatch):
    g = graph()
    save_graph(g, tmp_path / "g")
    import graphrep.graph.storage as storage

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(storage, "write_manifest", boom)
    with pytest.raises(RuntimeError):
        save_graph(g, tmp_path / "g", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["g"]
    assert load_graph(tmp_path / "g").equals(g)


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(GraphFormatError, match="no such directory"):
        load_graph(tmp_path / "nope")
    save_graph(graph(), tmp_path / "g")
    (tmp_path / "g" / "relations" / "0" / "indices.npy").unlink()
    with pytest.raises(GraphFormatError, match=r"indices.npy: missing file"):
        load_graph(tmp_path / "g")


def test_corrupt_manifest(tmp_path):
    save_graph(graph(), tmp_path / "g")
    (tmp_path / "g" / "manifest.json").write_text("{not json")
    with pytest.raises(GraphFormatError, match="not valid JSON"):
        load_graph(tmp_path / "g")
    (tmp_path / "g" / "manifest.json").write_text(json.dumps({"format": "graphrep.heterograph"}))
    with pytest.raises(GraphFormatError, match="field 'node_types'"):
        load_graph(tmp_path / "g")


def test_truncated_array_is_reported(tmp_path):
    save_graph(graph(), tmp_path / "g")
    m = json.loads((tmp_path / "g" / "manifest.json").read_text())
    np.save(tmp_path / "g" / "features" / "pin" / "image.npy", np.zeros((6, 3), np.float32))
    with pytest.raises(
        GraphFormatError, match=r"image.npy: feature 'image' of 'pin' has .*shape \[6, 3\]"
    ):
        load_graph(tmp_path / "g")
    assert m["format"] == "graphrep.heterograph"


def test_inconsistent_counts_are_reported(tmp_path):
    save_graph(graph(), tmp_path / "g")
    p = tmp_path / "g" / "manifest.json"
    m = json.loads(p.read_text())
    m["node_types"]["pin"]["count"] = 6
    p.write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match="inconsistent"):
        load_graph(tmp_path / "g")


def _set_array(path, fn):
    """Rewrite one saved array in place with ``fn(array)`` (dtype and shape unchanged)."""
    arr = np.load(path)
    out = fn(arr.copy())
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.save(path, out)


@pytest.mark.parametrize(
    ("file", "mutate", "match"),
    [
        ("indices.npy", lambda a: np.full_like(a, 2_000_000_000),
         r"relation \('user', 'engaged', 'pin'\): destination id 2000000000 at edge position 0"),
        ("indices.npy", lambda a: np.where(np.arange(len(a)) == 3, -1, a),
         "destination id -1 at edge position 3"),
        ("indptr.npy", lambda a: np.r_[a[0], a[2], a[1], a[3:]], "row pointers decrease at row 1"),
        ("rev_indices.npy", np.sort, "not the transpose of the forward relation"),
        ("rev_edge.timestamp.npy", lambda a: a + 1, r"'timestamp' differs at reverse edge position \d+"),
    ],
)
def test_corrupt_topology_is_a_named_error_not_a_crash(tmp_path, file, mutate, match):
    save_graph(graph(), tmp_path / "g")
    _set_array(tmp_path / "g" / "relations" / "0" / file, mutate)
    with pytest.raises(GraphFormatError, match=match) as info:
        load_graph(tmp_path / "g")
    assert str(tmp_path / "g") in str(info.value)


def test_a_huge_node_count_is_named(tmp_path):
    g = HeteroGraph.from_edges({"user": 2, "tag": 3}, {("user", "has", "tag"): ([0], [1])})
    save_graph(g, tmp_path / "g")
    p = tmp_path / "g" / "manifest.json"
    m = json.loads(p.read_text())
    m["node_types"]["tag"]["count"] = 2**40
    m["relations"] = []
    p.write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match=r"node type 'tag': count = 1099511627776"):
        load_graph(tmp_path / "g")
    with pytest.raises(GraphValidationError, match="node type 'a': count"):
        HeteroGraph.from_edges({"a": 2**40, "b": 2}, {("a", "r", "b"): ([0], [1])})


def test_names_that_are_paths_stay_inside_the_directory(tmp_path):
    names = ["../../escaped", "/abs", "a.offsets", "..", "ü b"]
    rng = np.random.default_rng(0)
    g = HeteroGraph.from_edges(
        {"../up": 2, "pin": 3}, {("../up", "r", "pin"): {"src": [0, 1], "dst": [2, 0], "../w": [1.0, 2.0]}},
        node_ids={"../up": ["x", "y"]},
        features={"pin": {n: rng.normal(size=(3, 2)).astype(np.float32) for n in names}},
    )
    (tmp_path / "inner").mkdir()
    save_graph(g, tmp_path / "inner" / "g")
    assert sorted(os.listdir(tmp_path)) == ["inner"]
    assert sorted(os.listdir(tmp_path / "inner")) == ["g"]
    written = {str(p.relative_to(tmp_path / "inner" / "g")) for p in (tmp_path / "inner" / "g").rglob("*")}
    assert "features/pin/%2E%2E%2F%2E%2E%2Fescaped.npy" in written
    assert load_graph(tmp_path / "inner" / "g").equals(g)


@pytest.mark.parametrize("entry", ["/etc/hostname", "../outside.npy", "nodes/../../outside.npy"])
def test_manifest_entries_outside_the_directory_are_refused(tmp_path, entry):
    np.save(tmp_path / "outside.npy", np.zeros((7, 3), np.float32))
    save_graph(graph(), tmp_path / "g")
    p = tmp_path / "g" / "manifest.json"
    m = json.loads(p.read_text())
    m["features"]["pin"]["image"]["array"]["file"] = entry
    p.write_text(json.dumps(m))
    with pytest.raises(UnsafePathError, match="outside"):
        load_graph(tmp_path / "g")
    target = tmp_path / "g" / "features" / "pin" / "image.npy"
    target.unlink()
    os.symlink(tmp_path / "outside.npy", target)  # a symlink out of the directory
    m["features"]["pin"]["image"]["array"]["file"] = "features/pin/image.npy"
    p.write_text(json.dumps(m))
    with pytest.raises(UnsafePathError, match="symbolic link"):
        load_graph(tmp_path / "g")
