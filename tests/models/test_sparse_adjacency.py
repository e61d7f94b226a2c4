"""``csr_tensor``: coordinate entries in any order -> a valid torch sparse CSR matrix."""

from __future__ import annotations

import numpy as np
import torch

from graphrep.models.sparse_adjacency import csr_tensor


def test_entries_in_any_order_land_where_given():
    rows = np.array([2, 0, 1, 0], dtype=np.int64)
    cols = np.array([0, 2, 1, 1], dtype=np.int64)
    vals = np.array([4.0, 2.0, 3.0, 1.0], dtype=np.float32)
    a = csr_tensor(rows, cols, vals, 3)
    assert a.layout == torch.sparse_csr and a.shape == (3, 3)
    assert a.crow_indices().tolist() == [0, 2, 3, 4]
    assert a.col_indices().tolist() == [1, 2, 1, 0]  # each row sorted by column
    want = np.zeros((3, 3), np.float32)
    want[rows, cols] = vals
    np.testing.assert_array_equal(a.to_dense().numpy(), want)
    x = torch.arange(6, dtype=torch.float32).view(3, 2)
    np.testing.assert_allclose((a @ x).numpy(), want @ x.numpy())


def test_an_empty_matrix():
    a = csr_tensor(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), 4)
    assert a.crow_indices().tolist() == [0] * 5 and a.to_dense().abs().sum() == 0
