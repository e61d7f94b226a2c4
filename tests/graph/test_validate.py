"""The compiled integrity checks loaders rely on, and the id checks of user input."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import GraphValidationError
from graphrep.graph.csr import CSR
from graphrep.graph.validate import (
    check_allocation,
    check_csr,
    check_external_ids,
    check_node_ids,
    check_reverse,
)


def relation():
    """3 sources x 4 destinations, a duplicate edge, one edge array."""
    src, dst = np.array([0, 0, 0, 2, 2, 1]), np.array([3, 1, 1, 0, 3, 2])
    ts = np.array([10, 11, 12, 13, 14, 15])
    fwd = CSR.from_coo(src, dst, 3, 4, {"timestamp": ts})
    return fwd, fwd.transpose()


def test_a_valid_relation_and_its_transpose_pass():
    fwd, rev = relation()
    check_csr(fwd, 3, 4, "r")
    check_reverse(fwd, rev, "r")
    empty = CSR(np.zeros(4, np.int64), np.zeros(0, np.int32), 2)
    check_reverse(empty, CSR(np.zeros(3, np.int64), np.zeros(0, np.int32), 3), "empty")


@pytest.mark.parametrize("value, match", [(2_000_000_000, "id 2000000000 at edge position 2"),
                                          (-1, "id -1 at edge position 2")])  # fmt: skip
def test_out_of_range_indices_are_named_with_their_position(value, match):
    fwd, rev = relation()
    bad = CSR(fwd.indptr, fwd.indices.copy(), 4, fwd.edge_data)
    bad.indices[2] = value
    for check in (lambda: check_csr(bad, 3, 4, "relation r"),
                  lambda: check_reverse(bad, rev, "relation r")):  # fmt: skip
        with pytest.raises(GraphValidationError, match=f"relation r: destination {match}"):
            check()


def test_bad_indptr_is_named():
    fwd, _ = relation()
    ptr = fwd.indptr.copy()
    ptr[1], ptr[2] = ptr[2], ptr[1]  # non-monotone, same end
    with pytest.raises(GraphValidationError, match="decrease at row 1"):
        check_csr(CSR(ptr, fwd.indices, 4), 3, 4, "r")
    short = fwd.indptr.copy()
    short[-1] -= 1
    with pytest.raises(GraphValidationError, match="end at 6"):
        check_csr(CSR(short, fwd.indices, 4), 3, 4, "r")
    with pytest.raises(GraphValidationError, match="int64 row pointers"):
        check_csr(CSR(fwd.indptr.astype(np.int32), fwd.indices, 4), 3, 4, "r")
    with pytest.raises(GraphValidationError, match="int32/int64 ids"):
        check_csr(CSR(fwd.indptr, fwd.indices.astype(np.float32), 4), 3, 4, "r")


def test_a_reverse_that_is_not_the_transpose_is_refused():
    fwd, rev = relation()
    swapped = rev.indices.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # same multiset of ids, other edges
    with pytest.raises(GraphValidationError, match=r"not the transpose.*reverse edge position"):
        check_reverse(fwd, CSR(rev.indptr, swapped, 3, rev.edge_data), "r")
    ts = rev.edge_data["timestamp"].copy()
    ts[3] += 1
    with pytest.raises(GraphValidationError, match="'timestamp' differs at reverse edge position 3"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 3, {"timestamp": ts}), "r")
    moved = rev.indptr.copy()
    moved[1] += 1  # rows shifted: a row too short for its forward edges
    with pytest.raises(GraphValidationError, match="not the transpose"):
        check_reverse(fwd, CSR(moved, rev.indices, 3, rev.edge_data), "r")
    with pytest.raises(GraphValidationError, match="expected the transpose"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 3), "r")


def test_non_finite_edge_arrays_are_refused():
    fwd, _ = relation()
    w = np.ones(6, np.float32)
    w[4] = np.nan
    with pytest.raises(GraphValidationError, match="'weight': non-finite value nan at edge 4"):
        check_csr(CSR(fwd.indptr, fwd.indices, 4, {"weight": w}), 3, 4, "r")


def test_uint64_ids_beyond_int64_are_out_of_range_not_negative():
    ids = np.array([1, 2**63], dtype=np.uint64)
    with pytest.raises(GraphValidationError, match="node id 9223372036854775808 at position 1 is out"):
        check_node_ids(ids, 10, "col")
    with pytest.raises(GraphValidationError, match="9223372036854775808 at position 1 does not fit"):
        check_external_ids(ids, 2, "ids")
    assert check_node_ids(np.array([3], np.uint64), 10, "col").tolist() == [3]


def test_mixed_external_ids_are_refused_not_stringified():
    with pytest.raises(GraphValidationError, match=r"all integers or all strings; id 'b' at position 1"):
        check_external_ids([1, "b", 3.5], 3, "node_ids['pin']")
    with pytest.raises(GraphValidationError, match=r"id 3\.5 at position 2 is a float"):
        check_external_ids([1, 2, 3.5], 3, "ids")
    assert check_external_ids(["a", "b"], 2, "ids").dtype.kind == "U"
    assert check_external_ids([5, 7], 2, "ids").dtype == np.int64


def test_a_count_beyond_memory_is_named():
    with pytest.raises(GraphValidationError, match=r"node type 'a': count = 1099511627776.*GiB"):
        check_allocation(2**40, 8, "node type 'a': count")
    check_allocation(1000, 8, "fine")
