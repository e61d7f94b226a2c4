import numpy as np
import pytest

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphValidationError, SchemaError


def small_graph():
    return HeteroGraph.from_edges(
        {"user": 2, "pin": 3, "board": 1},
        {
            ("user", "engaged", "pin"): {
                "src": [0, 0, 1],
                "dst": [0, 2, 2],
                "timestamp": [5, 6, 7],
            },
            ("board", "contains", "pin"): ([0, 0], [1, 2]),
        },
        node_ids={"pin": ["a", "b", "c"]},
        features={
            "pin": {
                "image": np.eye(3, 4, dtype=np.float32),
                "text": Ragged.from_lists([[1], [], [2, 3]]),
            }
        },
    )


def test_schema_and_reverses():
    g = small_graph()
    assert g.node_types == ["user", "pin", "board"]
    assert g.canonical_edge_types == [("user", "engaged", "pin"), ("board", "contains", "pin")]
    assert ("pin", "rev_engaged", "user") in g.edge_types
    assert g.reverse_of("engaged") == ("pin", "rev_engaged", "user")
    assert g.is_reverse("rev_contains") and not g.is_reverse("contains")
    rev = g.csr("rev_engaged")
    assert rev.neighbors(2).tolist() == [0, 1]
    assert rev.edge_data["timestamp"].tolist() == [5, 6, 7]
    # reverse carries edge data permuted with the edges
    pairs = {
        (int(s), int(d)): int(t)
        for s, d, t in zip(
            *g.csr("engaged").to_coo(), g.csr("engaged").edge_data["timestamp"], strict=True
        )
    }
    rs, rd = rev.to_coo()
    assert {
        (int(d), int(s)): int(t) for s, d, t in zip(rs, rd, rev.edge_data["timestamp"], strict=True)
    } == pairs
    assert g.num_edges() == 5 and g.num_edges("contains") == 2


def test_degree_and_log_degree():
    g = small_graph()
    assert g.degree("pin").tolist() == [1, 1, 3]
    assert np.allclose(g.log_degree("pin")[:, 0], np.log1p([1, 1, 3]))


def test_external_ids_lookup():
    g = small_graph()
    assert g.index_of("pin", ["c", "a"]).tolist() == [2, 0]
    assert g.external_ids("pin", [1]).tolist() == ["b"]
    assert g.index_of("user", [1]).tolist() == [1]
    with pytest.raises(SchemaError, match="'zz'"):
        g.index_of("pin", ["zz"])


def test_relation_lookup_errors():
    g = small_graph()
    with pytest.raises(SchemaError, match="unknown relation 'likes'"):
        g.csr("likes")


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        ({("user", "engaged", "pin"): ([0], [3])}, r"column 'dst'.*out of range.*\[0, 3\)"),
        ({("user", "engaged", "pin"): ([-1], [0])}, r"column 'src'.*negative"),
        ({("user", "engaged", "pin"): ([0, 1], [0])}, "equal lengths"),
        (
            {("user", "engaged", "pin"): ([0.0], [0])},
            "expected integer node ids, got dtype float64",
        ),
        (
            {("user", "engaged", "pin"): {"src": [0], "dst": [0], "weight": [np.nan]}},
            "column 'weight'.*non-finite",
        ),
        (
            {("user", "engaged", "pin"): {"src": [0], "dst": [0], "weight": [1.0, 2.0]}},
            "column 'weight'.*one value per edge",
        ),
        ({("user", "engaged", "pin"): {"src": [0]}}, "missing column"),
    ],
)
def test_bad_edges_give_clear_errors(edges, match):
    with pytest.raises(GraphValidationError, match=match):
        HeteroGraph.from_edges({"user": 2, "pin": 3}, edges)


def test_unknown_node_type_in_relation():
    with pytest.raises(SchemaError, match="unknown destination node type 'item'"):
        HeteroGraph.from_edges({"user": 2}, {("user", "likes", "item"): ([0], [0])})


def test_bad_features():
    with pytest.raises(
        GraphValidationError, match=r"feature 'image' of node type 'pin'.*non-finite.*node 1"
    ):
        HeteroGraph.from_edges(
            {"pin": 2}, {}, features={"pin": {"image": np.array([[0.0], [np.inf]])}}
        )
    with pytest.raises(GraphValidationError, match=r"expected shape \(2, d\)"):
        HeteroGraph.from_edges({"pin": 2}, {}, features={"pin": {"image": np.zeros((3, 2))}})
    with pytest.raises(GraphValidationError, match="real numeric"):
        HeteroGraph.from_edges(
            {"pin": 2}, {}, features={"pin": {"image": np.array([["a"], ["b"]])}}
        )
    with pytest.raises(SchemaError, match="unknown node type 'pins'"):
        HeteroGraph.from_edges({"pin": 2}, {}, features={"pins": {"x": np.zeros((2, 1))}})


def test_bad_external_ids():
    with pytest.raises(GraphValidationError, match="unique"):
        HeteroGraph.from_edges({"pin": 2}, {}, node_ids={"pin": ["a", "a"]})
    with pytest.raises(GraphValidationError, match="expected 2 external ids"):
        HeteroGraph.from_edges({"pin": 2}, {}, node_ids={"pin": ["a"]})
    with pytest.raises(GraphValidationError, match=r"node_ids\['pin'\].*id 'b' at position 1"):
        HeteroGraph.from_edges({"pin": 3}, {}, node_ids={"pin": [1, "b", 3.5]})


def test_duplicate_reverse_name_is_rejected():
    with pytest.raises(GraphValidationError, match="defined twice"):
        HeteroGraph.from_edges(
            {"a": 1}, {("a", "r", "a"): ([0], [0]), ("a", "rev_r", "a"): ([0], [0])}
        )


def test_equals_detects_differences():
    g, h = small_graph(), small_graph()
    assert g.equals(h)
    h.add_feature("pin", "image", np.zeros((3, 4), dtype=np.float32))
    assert not g.equals(h)


def test_nbytes_topology_is_about_eight_bytes_per_edge_pair():
    n = 1000
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, n, 100_000), rng.integers(0, n, 100_000)
    g = HeteroGraph.from_edges({"a": n, "b": n}, {("a", "r", "b"): (src, dst)})
    # int32 indices both ways (8 B/edge) + two int64 indptr arrays
    assert g.nbytes_topology == 100_000 * 8 + 2 * (n + 1) * 8
