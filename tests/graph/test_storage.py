import json
import os

import numpy as np
import pytest

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphFormatError
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
    save_graph(g, tmp_path / "g")
    assert sorted(os.listdir(tmp_path)) == ["g"]


def test_failed_save_keeps_previous_version(tmp_path, monkeypatch):
    g = graph()
    save_graph(g, tmp_path / "g")
    import graphrep.graph.storage as storage

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(storage, "write_manifest", boom)
    with pytest.raises(RuntimeError):
        save_graph(g, tmp_path / "g")
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
