"""load_edge_table on tmp CSV / parquet files with string and integer external ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphrep.data.edge_tables import load_edge_table
from graphrep.errors import ConfigError, GraphFormatError, GraphValidationError, SchemaError

EDGES = pd.DataFrame({
    "who": ["u2", "u1", "u2", "u9"],
    "what": [30, 10, 10, 20],
    "ts": [5, 6, 7, 8],
    "w": [0.5, 1.0, 2.0, 1.5],
    "note": ["a", "b", "c", "d"],
})


def _edges_by_external(ds, et):
    g = ds.graph
    csr = g.csr(et)
    src, dst = csr.to_coo()
    rows = zip(g.external_ids(et[0], src).tolist(), g.external_ids(et[2], dst).tolist(),
               csr.edge_data["timestamp"].tolist(), csr.edge_data["weight"].tolist(), strict=True)
    return sorted(rows)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".csv.gz"])
def test_bipartite_table_with_external_ids(tmp_path, suffix):
    path = tmp_path / f"clicks{suffix}"
    if suffix == ".parquet":
        EDGES.to_parquet(path)
    else:
        EDGES.to_csv(path, index=False)
    ds = load_edge_table(path, "who", "what", src_type="user", dst_type="item",
                         relation="clicked", timestamp_col="ts", weight_col="w")
    g = ds.graph
    et = ("user", "clicked", "item")
    assert g.canonical_edge_types == [et]
    assert g.num_nodes == {"user": 3, "item": 3}
    assert g.external_ids("user").tolist() == ["u1", "u2", "u9"]  # sorted unique ids
    assert "item" in g.node_ids and g.external_ids("item").tolist() == [10, 20, 30]
    want = sorted(zip(EDGES.who, EDGES.what, EDGES.ts, EDGES.w, strict=True))
    assert _edges_by_external(ds, et) == want
    assert g.index_of("user", ["u9"]).tolist() == [2]
    assert set(g.csr(et).edge_data) == {"timestamp", "weight"}  # "note" not kept
    assert ds.meta == {"name": "clicks", "task": None, "source": str(path),
                       "relation": ["user", "clicked", "item"]}
    assert ds.truth == {}


def test_homogeneous_default_types_and_node_table(tmp_path):
    path = tmp_path / "g.csv"
    pd.DataFrame({"a": ["x", "y", "z"], "b": ["y", "z", "x"]}).to_csv(path, index=False)
    nodes = pd.DataFrame({"id": ["z", "y", "x", "lonely"], "age": [3, 2, 1, 9],
                          "label": ["p", "q", "r", "s"]})
    ds = load_edge_table(path, "a", "b", node_features={"node": nodes})
    g = ds.graph
    assert g.canonical_edge_types == [("node", "edge", "node")]
    assert g.external_ids("node").tolist() == ["z", "y", "x", "lonely"]  # table order
    np.testing.assert_array_equal(g.features["node"]["age"][:, 0], [3, 2, 1, 9])
    assert set(g.features["node"]) == {"age"}  # string column ignored
    src, dst = g.csr("edge").to_coo()
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 2), (1, 0), (2, 1)]
    nodes.to_parquet(tmp_path / "nodes.parquet")
    again = load_edge_table(path, "a", "b", node_features={"node": tmp_path / "nodes.parquet"})
    assert again.graph.equals(g)


def test_errors_name_column_file_and_columns(tmp_path):
    path = tmp_path / "e.csv"
    EDGES.to_csv(path, index=False)
    with pytest.raises(SchemaError, match=r"e\.csv.*'whom'.*\['who', 'what', 'ts', 'w', 'note'\]"):
        load_edge_table(path, "whom", "what")
    with pytest.raises(SchemaError, match="'time'"):
        load_edge_table(path, "who", "what", timestamp_col="time")
    with pytest.raises(SchemaError, match="'id'"):
        load_edge_table(path, "who", "what", node_features={"node": pd.DataFrame({"x": [1]})})
    with pytest.raises(SchemaError, match="'paper'"):
        load_edge_table(path, "who", "what", node_features={"paper": pd.DataFrame({"id": [1]})})
    with pytest.raises(GraphValidationError, match="u9"):
        load_edge_table(path, "who", "what", src_type="user", dst_type="item",
                        node_features={"user": pd.DataFrame({"id": ["u1", "u2"]})})
    with pytest.raises(ConfigError, match="two roles"):
        load_edge_table(path, "who", "what", weight_col="who")
    with pytest.raises(ConfigError, match="suffix"):
        load_edge_table(tmp_path / "e.json", "a", "b")
    with pytest.raises(GraphFormatError, match="missing"):
        load_edge_table(tmp_path / "missing.csv", "a", "b")
