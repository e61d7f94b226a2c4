"""Sorted insertion into row-sorted arrays (used by graph extension and event-log merges)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import GraphValidationError
from graphrep.graph.insert import insert_positions, inserted, prefix_lengths, row_prefixes


def test_positions_put_new_entries_after_equal_old_ones_and_new_rows_at_the_end():
    # rows: 0 -> [1, 3, 3], 1 -> [], 2 -> [0, 5]; a row 3 does not exist yet
    indptr, indices = np.array([0, 3, 3, 5]), np.array([1, 3, 3, 0, 5])
    src, dst = np.array([0, 0, 0, 1, 2, 3, 3]), np.array([0, 3, 4, 7, 5, 1, 2])
    at = insert_positions(indptr, indices, src, dst)
    assert at.tolist() == [0, 3, 3, 3, 5, 5, 5]
    out = inserted(indices, at, dst, indices.dtype)
    assert out.tolist() == [0, 1, 3, 3, 3, 4, 7, 0, 5, 5, 1, 2]


def test_inserted_matches_numpy_insert_for_every_dtype():
    rng = np.random.default_rng(0)
    old = rng.integers(0, 100, 50)
    at = np.sort(rng.integers(0, 51, 12))
    for dtype in (np.int8, np.int32, np.int64, np.float32):
        new = rng.integers(0, 100, 12).astype(dtype)
        got = inserted(old.astype(dtype), at, new, dtype)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.insert(old.astype(dtype), at, new))
    np.testing.assert_array_equal(inserted(old, np.zeros(0, np.int64), old[:0], old.dtype), old)
    np.testing.assert_array_equal(inserted(old[:0], np.zeros(3, np.int64), old[:3], old.dtype), old[:3])


def test_row_prefixes_keep_each_rows_entries_below_the_bound():
    # rows: [1, 4, 9], [], [2, 3], [7]
    indptr, values = np.array([0, 3, 3, 5, 6]), np.array([1, 4, 9, 2, 3, 7])
    lengths = prefix_lengths(indptr, values, 4)
    assert lengths.tolist() == [1, 0, 2, 0]
    cols, ptr = row_prefixes({"v": values, "w": values.astype(np.float32) / 2}, indptr, lengths)
    assert ptr.tolist() == [0, 1, 1, 3, 3]
    assert cols["v"].tolist() == [1, 2, 3] and cols["w"].tolist() == [0.5, 1.0, 1.5]
    assert prefix_lengths(indptr, values, 100).tolist() == [3, 0, 2, 1]


def test_bad_inputs_are_refused_before_a_kernel_reads_them():
    indptr, values = np.array([0, 2, 3]), np.array([1, 4, 2])
    with pytest.raises(GraphValidationError, match="sorted and non-negative"):
        insert_positions(indptr, values, np.array([1, 0]), np.array([0, 0]))
    with pytest.raises(GraphValidationError, match="sorted and non-negative"):
        insert_positions(indptr, values, np.array([-1]), np.array([0]))
    with pytest.raises(GraphValidationError, match="row pointers"):
        insert_positions(np.array([0, 2, 9]), values, np.array([0]), np.array([0]))
    with pytest.raises(GraphValidationError, match="non-decreasing positions"):
        inserted(values, np.array([2, 1]), values[:2], values.dtype)
    with pytest.raises(GraphValidationError, match="non-decreasing positions"):
        inserted(values, np.array([4]), values[:1], values.dtype)
    with pytest.raises(GraphValidationError, match="within the row"):
        row_prefixes({"v": values}, indptr, np.array([3, 0]))
    with pytest.raises(GraphValidationError, match="row pointers"):
        prefix_lengths(np.array([0, 5]), values, 2)
