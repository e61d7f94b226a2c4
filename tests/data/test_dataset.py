import json
import os

import numpy as np
import pytest

from graphrep import HeteroGraph
from graphrep.data.dataset import GraphDataset
from graphrep.errors import GraphFormatError, UnsafePathError
from graphrep.graph.eventlog import EventLog


def test_dataset_roundtrip_and_bare_graph(tmp_path):
    g = HeteroGraph.from_edges(
        {"user": 2, "pin": 3}, {("user", "engaged", "pin"): ([0, 1], [2, 0])}
    )
    ev = EventLog.from_arrays([0, 1, 1], [2, 0, 1], [3, 1, 2], num_users=2)
    ds = GraphDataset(g, ev, {"pin_topic": np.array([0, 1, 1])}, {"cut_time": 2, "name": "x"})
    ds.save(tmp_path / "d")
    back = GraphDataset.load(tmp_path / "d")
    assert back.graph.equals(g) and back.events.equals(ev)
    assert back.truth["pin_topic"].tolist() == [0, 1, 1] and back.meta == {
        "cut_time": 2,
        "name": "x",
    }
    g.save(tmp_path / "bare")
    bare = GraphDataset.load(tmp_path / "bare")
    assert bare.graph.equals(g) and bare.events is None


def test_missing_graph_dir_is_reported(tmp_path):
    g = HeteroGraph.from_edges({"a": 1}, {})
    GraphDataset(g).save(tmp_path / "d")
    import shutil

    shutil.rmtree(tmp_path / "d" / "graph")
    with pytest.raises(GraphFormatError, match="missing graph directory"):
        GraphDataset.load(tmp_path / "d")


def test_truth_names_stay_inside_and_outside_entries_are_refused(tmp_path):
    g = HeteroGraph.from_edges({"a": 2}, {})
    (tmp_path / "in").mkdir()
    GraphDataset(g, truth={"../../escaped": np.arange(2)}).save(tmp_path / "in" / "d")
    assert sorted(os.listdir(tmp_path)) == ["in"] and os.listdir(tmp_path / "in") == ["d"]
    assert GraphDataset.load(tmp_path / "in" / "d").truth["../../escaped"].tolist() == [0, 1]
    np.save(tmp_path / "outside.npy", np.arange(2))
    p = tmp_path / "in" / "d" / "manifest.json"
    m = json.loads(p.read_text())
    m["truth"]["../../escaped"]["file"] = str(tmp_path / "outside.npy")
    p.write_text(json.dumps(m))
    with pytest.raises(UnsafePathError, match="ground truth"):
        GraphDataset.load(tmp_path / "in" / "d")
