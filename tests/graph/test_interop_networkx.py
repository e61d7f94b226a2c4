import networkx as nx
import numpy as np
import pytest

from graphrep import HeteroGraph, Ragged
from graphrep.errors import GraphValidationError
from graphrep.graph.interop.networkx import from_networkx, to_networkx

ENG = ("user", "engaged", "pin")
SAVE = ("board", "saved", "pin")


def rich_graph():
    return HeteroGraph.from_edges(
        {"user": 3, "pin": 4, "board": 2, "query": 0},
        {
            ENG: {
                "src": [0, 0, 2, 1, 2, 2],
                "dst": [3, 1, 0, 1, 0, 0],
                "timestamp": np.array([5, 6, 7, 8, 9, 10], dtype=np.int32),
                "weight": np.array([0.1, 1, 2, 3, 4, 5], dtype=np.float32),
                "clicked": np.array([True, False, True, True, False, True]),
            },
            SAVE: ([1, 0, 1], [2, 2, 3]),
            ("pin", "similar", "pin"): {"src": [], "dst": [], "score": np.zeros(0, np.float16)},
        },
        node_ids={"user": [30, 10, 20], "pin": ["p0", "p1", "p2", "p3"]},
        features={
            "pin": {
                "image": np.arange(12, dtype=np.float32).reshape(4, 3),
                "text": Ragged.from_lists([[1, 2], [], [7], [3, 4, 5]]),
            },
            "user": {"age": np.array([[20.0], [30.0], [40.0]])},
        },
    )


def test_to_networkx_layout():
    G = to_networkx(rich_graph())
    assert isinstance(G, nx.MultiDiGraph)
    assert G.number_of_nodes() == 9 and G.number_of_edges() == 9
    u0 = G.nodes["user", 0]
    assert set(u0) == {"type", "ext_id", "age"}
    assert (u0["type"], u0["ext_id"], u0["age"].tolist()) == ("user", 30, [20.0])
    assert G.nodes["board", 1] == {"type": "board"}
    assert G.nodes["pin", 3]["text"].tolist() == [3, 4, 5]
    # the three parallel (user 2 -> pin 0) edges stay three edges with their own data
    par = G.get_edge_data(("user", 2), ("pin", 0))
    assert sorted(d["timestamp"] for d in par.values()) == [7, 9, 10]
    assert all(d["rel"] == "engaged" for d in par.values())
    assert G.get_edge_data(("board", 0), ("pin", 2))[0] == {"rel": "saved"}


def test_round_trip_exact():
    g = rich_graph()
    back = from_networkx(to_networkx(g))
    assert back.equals(g)
    assert back.csr(("pin", "similar", "pin")).edge_data["score"].dtype == np.float16
    assert HeteroGraph.from_networkx(g.to_networkx()).equals(g)


def test_round_trip_without_ids_or_features():
    g = HeteroGraph.from_edges({"a": 3}, {("a", "r", "a"): ([0, 2, 2], [1, 0, 0])})
    back = from_networkx(to_networkx(g))
    assert back.equals(g) and back.node_ids == {}


def test_karate_club_undirected():
    K = nx.karate_club_graph()
    g = from_networkx(K)
    assert g.num_nodes == {"node": 34}
    assert g.node_ids == {}  # labels 0..33 in order are the identity
    csr = g.csr("to")
    assert csr.num_edges == 2 * K.number_of_edges()
    assert np.array_equal(csr.degrees(), np.array([K.degree(i) for i in range(34)]))
    A = np.zeros((34, 34))
    src, dst = csr.to_coo()
    np.add.at(A, (src, dst), csr.edge_data["weight"])
    assert np.array_equal(A, A.T)
    assert np.array_equal(A, nx.to_numpy_array(K, nodelist=range(34), weight="weight"))


def test_plain_typed_digraph_with_string_labels():
    G = nx.DiGraph()
    G.add_node("u1", type="user")
    G.add_node("pB", type="pin")
    G.add_node("u0", type="user")
    G.add_node("pA", type="pin")
    G.add_edge("u1", "pA", rel="saw", ts=3)
    G.add_edge("u0", "pB", rel="saw", ts=1)
    G.add_edge("pA", "pB", ts=2.5)  # no rel: default relation "to"
    g = from_networkx(G)
    assert g.num_nodes == {"user": 2, "pin": 2}
    assert g.node_ids["user"].tolist() == ["u1", "u0"]  # insertion order
    assert g.canonical_edge_types == [("user", "saw", "pin"), ("pin", "to", "pin")]
    saw = g.csr("saw")
    u1, pa = g.index_of("user", ["u1"])[0], g.index_of("pin", ["pA"])[0]
    assert saw.neighbors(u1).tolist() == [pa]
    assert saw.edge_data["ts"].dtype == np.int64
    assert g.csr(("pin", "to", "pin")).edge_data["ts"].tolist() == [2.5]


def test_undirected_cross_type_edges_go_one_way_and_self_loops_once():
    G = nx.Graph()
    G.add_node(0, type="user")
    G.add_node(1, type="pin")
    G.add_node(2, type="pin")
    G.add_edge(1, 0)  # pin-user: oriented user -> pin (user seen first)
    G.add_edge(1, 2)
    G.add_edge(2, 2)
    g = from_networkx(G)
    assert g.canonical_edge_types == [("user", "to", "pin"), ("pin", "to", "pin")]
    assert g.num_edges(("user", "to", "pin")) == 1
    pp = g.csr(("pin", "to", "pin"))
    assert sorted(zip(*pp.to_coo(), strict=True)) == [(0, 1), (1, 0), (1, 1)]


def test_multigraph_parallel_edges_and_partial_attributes_warn():
    G = nx.MultiDiGraph()
    G.add_edge("a", "b", w=1.0)
    G.add_edge("a", "b", w=2.0)
    G.add_edge("b", "a", label="text attr")  # non-numeric: ignored silently
    with pytest.warns(UserWarning, match=r"'w' is not kept.*missing on some edges"):
        g = from_networkx(G)
    assert g.num_edges() == 3
    assert g.csr("to").edge_data == {}
    G.remove_edge("b", "a")
    assert from_networkx(G).csr("to").edge_data["w"].tolist() == [1.0, 2.0]


def test_bad_type_attributes():
    G = nx.DiGraph()
    G.add_node(1, type=5)
    with pytest.raises(GraphValidationError, match="attribute 'type' must be a non-empty string"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_edge(1, 2, rel=None)
    with pytest.raises(GraphValidationError, match=r"edge \(1, 2\): attribute 'rel'"):
        from_networkx(G)
    g = HeteroGraph.from_edges(
        {"a": 1}, {("a", "r", "a"): ([0], [0])}, features={"a": {"type": [1.0]}}
    )
    with pytest.raises(GraphValidationError, match="feature 'type' clashes"):
        to_networkx(g)
