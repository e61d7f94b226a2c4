"""extend_graph equals a from-scratch build of the old edges followed by the new ones."""

import numpy as np
import pytest

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.extend import EdgeRows, NodeRows, extend_graph
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged


def _edges(rng, n_u, n_i, e):
    return rng.integers(0, n_u, e), rng.integers(0, n_i, e), rng.integers(0, 100, e)


def test_matches_a_rebuild_with_the_new_edges_and_nodes():
    rng = np.random.default_rng(1)
    su, di, ts = _edges(rng, 6, 8, 30)
    feats = {"item": {"x": rng.random((8, 3)).astype(np.float32),
                      "tok": Ragged.from_lists([[1, 2]] * 8)}}
    g = HeteroGraph.from_edges({"user": 6, "item": 8},
                               {("user", "clicks", "item"): {"src": su, "dst": di, "timestamp": ts}},
                               features=feats)
    ns, nd, nt = np.array([0, 5, 2, 2]), np.array([8, 1, 9, 1]), np.array([7, 8, 9, 10])
    ext = extend_graph(
        g,
        {"item": NodeRows(features={"x": np.ones((2, 3)), "tok": [[3], []]})},
        {"clicks": EdgeRows(ns, nd, {"timestamp": nt})},
    )
    want = HeteroGraph.from_edges(
        {"user": 6, "item": 10},
        {("user", "clicks", "item"): {"src": np.r_[su, ns], "dst": np.r_[di, nd],
                                      "timestamp": np.r_[ts, nt]}},
        features={"item": {"x": np.r_[feats["item"]["x"], np.ones((2, 3), np.float32)],
                           "tok": Ragged.from_lists([[1, 2]] * 8 + [[3], []])}},
    )
    assert ext.graph.equals(want)
    assert ext.new_nodes["item"].tolist() == [8, 9]
    assert ext.changed_rows[("user", "clicks", "item")].tolist() == [0, 2, 5]
    assert ext.changed_rows[("item", "rev_clicks", "user")].tolist() == [1, 8, 9]
    src, dst = ext.new_edges[("user", "clicks", "item")]  # the pairs, internal ids
    assert src.tolist() == [0, 5, 2, 2] and dst.tolist() == [8, 1, 9, 1]
    assert [a.tolist() for a in ext.new_edges[("item", "rev_clicks", "user")]] == [[8, 1, 9, 1], [0, 5, 2, 2]]
    assert ext.degree_changed["user"].tolist() == [0, 2, 5]
    # an unchanged relation shares its arrays; the old graph is untouched
    assert g.num_nodes["item"] == 8


def test_reverse_relation_names_flip_edges_and_string_ids_extend():
    g = HeteroGraph.from_edges({"user": 2, "item": 2}, {("user", "clicks", "item"): ([0], [1])},
                               node_ids={"item": np.array(["a", "b"])})
    ext = extend_graph(g, {"item": NodeRows(ids=["c"])}, {"rev_clicks": EdgeRows(["c"], [1])},
                       edge_data=False)
    assert ext.graph.external_ids("item").tolist() == ["a", "b", "c"]
    assert ext.graph.csr("clicks").neighbors(1).tolist() == [2]
    assert ext.graph.csr("rev_clicks").neighbors(2).tolist() == [1]


def test_bad_input_is_named():
    g = HeteroGraph.from_edges({"user": 2, "item": 2}, {("user", "clicks", "item"): ([0], [1])},
                               features={"item": {"x": np.zeros((2, 2), np.float32)}})
    with pytest.raises(SchemaError, match="missing"):
        extend_graph(g, {"item": NodeRows(count=1)})
    with pytest.raises(GraphValidationError, match="2 columns"):
        extend_graph(g, {"item": NodeRows(features={"x": np.zeros((1, 3))})})
    with pytest.raises(GraphValidationError, match="node id 7"):
        extend_graph(g, edges={"clicks": EdgeRows([0], [7])})
    with pytest.raises(SchemaError, match="unknown node type"):
        extend_graph(g, {"board": NodeRows(count=1)})


def test_merge_edges_refuses_ids_outside_the_types():
    from graphrep.graph.csr import CSR
    from graphrep.graph.extend import merge_edges

    csr = CSR.from_coo(np.array([0, 1]), np.array([1, 0]), 2, 2)
    with pytest.raises(GraphValidationError, match="destinations: "):
        merge_edges(csr, np.array([0]), np.array([5]), 2, 2)
    with pytest.raises(GraphValidationError, match="sources"):
        merge_edges(csr, np.array([-1]), np.array([0]), 2, 2)
    with pytest.raises(GraphValidationError, match="1 sources but 2 destinations"):
        merge_edges(csr, np.array([0]), np.array([0, 1]), 2, 2)
