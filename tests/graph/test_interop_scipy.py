import numpy as np
import pytest
import scipy.sparse as sp

from graphrep import HeteroGraph
from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.interop.scipy import from_scipy, to_scipy

ENG = ("user", "engaged", "pin")
SAVE = ("board", "saved", "pin")


def small_graph():
    return HeteroGraph.from_edges(
        {"user": 3, "pin": 4, "board": 2},
        {
            ENG: {
                "src": [0, 0, 2, 2],
                "dst": [3, 1, 0, 0],
                "weight": np.array([0.5, 2.0, 3.0, 4.0], dtype=np.float32),
            },
            SAVE: {"src": [1, 0], "dst": [2, 2], "weight": np.array([7.0, 8.0])},
        },
    )


def test_to_scipy_known_matrix_and_zero_copy():
    g = small_graph()
    m = to_scipy(g, "engaged")
    assert isinstance(m, sp.csr_matrix) and m.shape == (3, 4)
    assert m.dtype == np.float32
    assert m.toarray().tolist() == [[0, 1, 0, 1], [0, 0, 0, 0], [2, 0, 0, 0]]  # parallel edges sum
    assert m.nnz == 4  # ...but stay separate entries
    assert np.shares_memory(m.indices, g.csr("engaged").indices)
    w = to_scipy(g, ENG, weight="weight")
    assert w.toarray()[2, 0] == 7.0 and w.toarray()[0, 3] == 0.5
    rev = to_scipy(g, "rev_engaged", fmt="coo", weight="weight")
    assert isinstance(rev, sp.coo_matrix) and rev.shape == (4, 3)
    assert np.array_equal(rev.toarray(), w.toarray().T)
    assert to_scipy(g, "saved", fmt="csc").format == "csc"


def test_to_scipy_unknown_weight_or_relation():
    g = small_graph()
    with pytest.raises(SchemaError, match=r"'engaged'.*no edge array 'ts'.*\['weight'\]"):
        to_scipy(g, "engaged", weight="ts")
    with pytest.raises(SchemaError, match="unknown relation 'likes'"):
        to_scipy(g, "likes")


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
def test_round_trip_exact(fmt):
    g = small_graph()
    mats = {et: to_scipy(g, et, fmt=fmt, weight="weight") for et in g.canonical_edge_types}
    back = from_scipy(mats, num_nodes=g.num_nodes)
    assert back.equals(g)
    assert HeteroGraph.from_scipy(mats).equals(g)  # counts inferred from shapes


def test_from_scipy_unit_data_and_coo_duplicates():
    coo = sp.coo_array(
        (np.ones(4), (np.array([0, 0, 1, 0]), np.array([2, 0, 1, 2]))), shape=(2, 3)
    )
    g = from_scipy({("a", "r", "b"): coo})
    assert g.num_nodes == {"a": 2, "b": 3}
    csr = g.csr("r")
    assert csr.edge_data == {}  # all ones: no weight array
    assert csr.neighbors(0).tolist() == [0, 2, 2]  # duplicate (0, 2) kept
    merged = from_scipy({("a", "r", "b"): coo}, duplicates="merge")
    assert merged.csr("r").edge_data["weight"].tolist() == [1.0, 2.0, 1.0]
    weighted = from_scipy({("a", "r", "b"): coo * 2.5}, weight_name="w")
    assert weighted.csr("r").edge_data["w"].tolist() == [2.5, 2.5, 2.5, 2.5]


def test_from_scipy_isolated_types_and_shape_conflicts():
    m = sp.csr_matrix(np.eye(2))
    g = from_scipy({("a", "r", "a"): m}, num_nodes={"a": 2, "z": 5})
    assert g.num_nodes == {"a": 2, "z": 5}
    both = r"\('a', 's', 'b'\).*3 rows.*'a' has 2.*\('a', 'r', 'a'\)"
    with pytest.raises(GraphValidationError, match=both):
        from_scipy({("a", "r", "a"): m, ("a", "s", "b"): sp.csr_matrix((3, 4))})
    with pytest.raises(GraphValidationError, match=r"4 columns but node type 'b' has 5.*num_nodes"):
        from_scipy({("a", "s", "b"): sp.csr_matrix((2, 4))}, num_nodes={"b": 5})
    with pytest.raises(GraphValidationError, match=r"expected a scipy\.sparse matrix, got ndarray"):
        from_scipy({("a", "r", "a"): np.eye(2)})
