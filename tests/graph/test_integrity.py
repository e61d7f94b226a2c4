"""The integrity checks loaded relations pass before a compiled kernel touches them."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import GraphValidationError
from graphrep.graph.csr import CSR
from graphrep.graph.integrity import check_csr, check_reverse


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
    swapped[[0, 1]] = swapped[[1, 0]]  # same multiset of ids, rows no longer sorted
    with pytest.raises(GraphValidationError, match=r"position 2 .*out of order"):
        check_reverse(fwd, CSR(rev.indptr, swapped, 3, rev.edge_data), "r")
    other = rev.indices.copy()
    other[0] = 1  # rows still sorted, but edge (2, 0) became (1, 0)
    with pytest.raises(GraphValidationError, match=r"not the transpose.*reverse edge position 0"):
        check_reverse(fwd, CSR(rev.indptr, other, 3, rev.edge_data), "r")
    ts = rev.edge_data["timestamp"].copy()
    ts[3] += 1
    with pytest.raises(GraphValidationError, match="'timestamp' differs at reverse edge position 3"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 3, {"timestamp": ts}), "r")
    moved = rev.indptr.copy()
    moved[1] += 1  # rows shifted: row 0 now ends with the first source of row 1
    with pytest.raises(GraphValidationError, match=r"position 1 .*out of order"):
        check_reverse(fwd, CSR(moved, rev.indices, 3, rev.edge_data), "r")
    with pytest.raises(GraphValidationError, match="expected the transpose"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 3), "r")


def test_every_edge_array_is_compared_per_edge_two_per_pass():
    src, dst = np.array([0, 0, 0, 2, 2, 1]), np.array([3, 1, 1, 0, 3, 2])
    arrays = {"a": np.arange(6) + 10, "b": np.arange(6, dtype=np.float32) / 4,
              "c": np.array([1, 2, 3, 4, 5, 6], np.int8)}  # fmt: skip
    fwd = CSR.from_coo(src, dst, 3, 4, arrays)
    rev = fwd.transpose()
    check_reverse(fwd, rev, "r")
    for name in ("b", "c"):  # the second of the first pass, the only one of the second
        data = {k: v.copy() for k, v in rev.edge_data.items()}
        data[name][2] += 1
        with pytest.raises(GraphValidationError, match=f"'{name}' differs at reverse edge position 2"):
            check_reverse(fwd, CSR(rev.indptr, rev.indices, 3, data), "r")
    # the duplicate edge 0 -> 1 is reverse row 1's two entries: swapping both edges' values
    # together is the same edge multiset; swapping one array's values pairs them otherwise
    row = slice(int(rev.indptr[1]), int(rev.indptr[2]))
    together = {k: v.copy() for k, v in rev.edge_data.items()}
    for v in together.values():
        v[row] = v[row][::-1]
    check_reverse(fwd, CSR(rev.indptr, rev.indices, 3, together), "r")
    one = {k: v.copy() for k, v in rev.edge_data.items()}
    one["a"][row] = one["a"][row][::-1]
    with pytest.raises(GraphValidationError, match="'a' differs"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 3, one), "r")


def test_non_finite_edge_arrays_are_refused():
    fwd, _ = relation()
    w = np.ones(6, np.float32)
    w[4] = np.nan
    with pytest.raises(GraphValidationError, match="'weight': non-finite value nan at edge 4"):
        check_csr(CSR(fwd.indptr, fwd.indices, 4, {"weight": w}), 3, 4, "r")


def test_a_large_reverse_is_checked_in_parallel_chunks():
    from graphrep.graph.integrity import PARALLEL_MIN

    rng = np.random.default_rng(1)
    n = 3 * PARALLEL_MIN
    fwd = CSR.from_coo(rng.integers(0, 500, n), rng.integers(0, 700, n), 500, 700,
                       {"weight": rng.random(n).astype(np.float32)})  # fmt: skip
    rev = fwd.transpose()
    check_reverse(fwd, rev, "big")
    w = rev.edge_data["weight"].copy()
    w[n - 7] += 1
    with pytest.raises(GraphValidationError, match=f"'weight' differs at reverse edge position {n - 7}"):
        check_reverse(fwd, CSR(rev.indptr, rev.indices, 500, {"weight": w}), "big")
    idx = fwd.indices.copy()
    idx[[n - 9, n - 2]] = 700
    with pytest.raises(GraphValidationError, match=f"id 700 at edge position {n - 9} is out of range"):
        check_reverse(CSR(fwd.indptr, idx, 700, fwd.edge_data), rev, "big")


def test_large_inputs_take_the_parallel_path_and_find_the_first_bad_position():
    from graphrep.graph.eventlog import EventLog, check_event_columns
    from graphrep.graph.integrity import PARALLEL_MIN, first_decrease, first_outside

    n = 3 * PARALLEL_MIN
    values = np.zeros(n, np.int32)
    values[[n - 5, n - 3]] = 7
    assert first_outside(values, 0, 7) == n - 5 and first_outside(values, 0, 8) == -1
    ptr = np.arange(n, dtype=np.int64)
    ptr[[PARALLEL_MIN + 1, n - 2]] = 0
    assert first_decrease(ptr) == PARALLEL_MIN and first_decrease(np.arange(n)) == -1
    rng = np.random.default_rng(0)
    ev = EventLog.from_arrays(rng.integers(0, 50, n), rng.integers(0, 9, n),
                              rng.integers(0, 1000, n), num_users=50)  # fmt: skip
    cols = {k: getattr(ev, k).copy() for k in ("user", "item_type", "item", "action", "surface",
                                                "timestamp")}  # fmt: skip
    counts = np.array([10])
    check_event_columns(cols, ev.user_offsets, counts, 1, 1, "log")
    cols["item"][[n - 10, n - 1]] = 10
    with pytest.raises(GraphValidationError, match=f"'item': value 10 at event {n - 10} "):
        check_event_columns(cols, ev.user_offsets, counts, 1, 1, "log")
