import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrep.errors import GraphValidationError
from graphrep.graph.csr import CSR, index_dtype


def test_from_coo_sorts_rows_and_keeps_edge_data_aligned():
    src = np.array([2, 0, 2, 0, 1])
    dst = np.array([1, 3, 0, 1, 2])
    ts = np.array([10, 11, 12, 13, 14])
    c = CSR.from_coo(src, dst, 3, 4, {"timestamp": ts})
    assert c.indptr.tolist() == [0, 2, 3, 5]
    assert c.indices.tolist() == [1, 3, 2, 0, 1]
    assert c.indices.dtype == np.int32
    assert c.edge_data["timestamp"].tolist() == [13, 11, 14, 12, 10]
    assert c.neighbors(2).tolist() == [0, 1]
    assert c.degrees().tolist() == [2, 1, 2]


def test_merge_duplicates_sums_weight_and_takes_latest_timestamp():
    c = CSR.from_coo(
        np.array([0, 0, 0, 1]),
        np.array([1, 1, 2, 1]),
        2,
        3,
        {
            "weight": np.array([1.0, 2.5, 1.0, 4.0]),
            "timestamp": np.array([5, 3, 1, 7]),
            "action": np.array([9, 8, 7, 6]),
        },
        duplicates="merge",
    )
    assert c.indptr.tolist() == [0, 2, 3]
    assert c.indices.tolist() == [1, 2, 1]
    assert c.edge_data["weight"].tolist() == [3.5, 1.0, 4.0]
    assert c.edge_data["timestamp"].tolist() == [5, 1, 7]
    assert c.edge_data["action"].tolist() == [9, 7, 6]


def test_merge_without_weights_counts_multiplicity():
    c = CSR.from_coo(np.array([0, 0, 0]), np.array([1, 1, 1]), 1, 2, duplicates="merge")
    assert c.num_edges == 1 and c.edge_data["weight"].tolist() == [3.0]


def test_bad_duplicates_argument():
    with pytest.raises(GraphValidationError, match="duplicates"):
        CSR.from_coo(np.array([0]), np.array([0]), 1, 1, duplicates="drop")


def test_index_dtype_switches_at_int32_limit():
    assert index_dtype(2**31 - 1) == np.int32
    assert index_dtype(2**31) == np.int64


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), max_size=40))
def test_transpose_and_coo_roundtrip(edges):
    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    eid = np.arange(len(edges))
    c = CSR.from_coo(src, dst, 7, 5, {"eid": eid})
    s2, d2 = c.to_coo()
    assert sorted(zip(s2.tolist(), d2.tolist(), strict=True)) == sorted(
        zip(src.tolist(), dst.tolist(), strict=True)
    )
    # the edge id still points at the original (src, dst)
    assert np.array_equal(src[c.edge_data["eid"]], s2) and np.array_equal(
        dst[c.edge_data["eid"]], d2
    )
    assert np.array_equal(c.degrees(), np.bincount(src, minlength=7))
    t = c.transpose()
    assert np.array_equal(t.degrees(), np.bincount(dst, minlength=5))
    assert t.transpose().equals(c)


def test_select_edges():
    c = CSR.from_coo(np.array([0, 0, 1]), np.array([0, 1, 1]), 2, 2, {"w": np.array([1, 2, 3])})
    s = c.select_edges(np.array([True, False, True]))
    assert s.indptr.tolist() == [0, 1, 2] and s.indices.tolist() == [0, 1]
    assert s.edge_data["w"].tolist() == [1, 3]


def test_has_edges_by_binary_search_in_sorted_rows():
    csr = CSR.from_coo(np.array([0, 0, 0, 2, 2]), np.array([3, 1, 1, 0, 2]), 3, 4)
    got = csr.has_edges(np.array([0, 0, 0, 0, 1, 2, 2, 2]), np.array([0, 1, 2, 3, 1, 0, 1, 2]))
    assert got.tolist() == [False, True, False, True, False, True, False, True]
    assert csr.has_edges(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0,)
    with pytest.raises(GraphValidationError, match="ids must be in"):
        csr.has_edges(np.array([3]), np.array([0]))
    with pytest.raises(GraphValidationError, match="equal 1-D"):
        csr.has_edges(np.array([0, 1]), np.array([0]))
