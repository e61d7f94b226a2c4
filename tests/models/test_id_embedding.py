"""IdEmbedding: exact / hashed / hybrid rows, sparse gradients, vector loading, auto mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.hash_text import hash_ids
from graphrep.models.id_embedding import IdEmbedding, budget_rows, choose_mode


def test_exact_rows_are_the_table():
    torch.manual_seed(0)
    m = IdEmbedding(10, 4, "exact")
    ids = torch.tensor([[3, 0], [9, 3]])
    out = m(ids)
    assert out.shape == (2, 2, 4)
    torch.testing.assert_close(out, m.weight[ids])
    assert m.num_rows == 10 and m.weight.shape == (10, 4)


def test_hashed_is_sum_of_hashed_rows():
    torch.manual_seed(0)
    m = IdEmbedding(1000, 8, "hashed", num_buckets=64)
    ids = torch.tensor([[0, 5], [5, 999]])
    out = m(ids)
    assert out.shape == (2, 2, 8) and torch.equal(out[0, 1], out[1, 0])
    rows = [hash_ids(ids, k) % 64 for k in range(2)]
    torch.testing.assert_close(out, m.weight[rows[0]] + m.weight[rows[1]])


def test_hybrid_exact_head_hashed_tail():
    torch.manual_seed(0)
    m = IdEmbedding(100, 4, "hybrid", num_buckets=16, num_exact=3)
    m.set_frequent([42, 7, 99, 1, 2])  # the first 3 get exact rows 0, 1, 2
    assert m.weight.shape == (3 + 16, 4)
    out = m(torch.tensor([42, 7, 99, 5]))
    torch.testing.assert_close(out[0], m.weight[0])
    torch.testing.assert_close(out[1], m.weight[1])
    torch.testing.assert_close(out[2], m.weight[2])
    tail = sum(m.weight[3 + hash_ids(torch.tensor(5), k) % 16] for k in range(2))
    torch.testing.assert_close(out[3], tail)
    # the assignment is state: it travels in the state_dict
    other = IdEmbedding(100, 4, "hybrid", num_buckets=16, num_exact=3)
    other.load_state_dict(m.state_dict())
    torch.testing.assert_close(other(torch.tensor([7, 5])), out[[1, 3]])


@pytest.mark.parametrize("mode", ["exact", "hashed", "hybrid"])
def test_sparse_gradient_touches_only_used_rows(mode):
    m = IdEmbedding(50, 4, mode, num_buckets=8, num_exact=5)
    m(torch.tensor([1, 1, 3])).sum().backward()
    g = m.weight.grad
    assert g.is_sparse
    touched = set(g.coalesce().indices()[0].tolist())
    expected = set(m.rows(torch.tensor([1, 3]))[0].reshape(-1).tolist())
    assert touched <= expected and len(touched) >= 1
    dense = torch.zeros_like(m.weight)
    rows, w = m.rows(torch.tensor([1, 1, 3]))
    for r, ww in zip(rows.reshape(-1).tolist(), w.reshape(-1).tolist(), strict=True):
        dense[r] += ww
    torch.testing.assert_close(g.to_dense(), dense)


def test_load_vectors_pads_and_checks():
    m = IdEmbedding(5, 4, "exact")
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    m.load_vectors(x)
    torch.testing.assert_close(m.weight[:, :2], torch.from_numpy(x))
    assert torch.all(m.weight[:, 2:] == 0)
    with pytest.raises(ShapeError, match=r"expected \[5, <= 4\]"):
        m.load_vectors(np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="NaN"):
        m.load_vectors(np.full((5, 2), np.nan))
    h = IdEmbedding(5, 4, "hybrid", num_buckets=4, num_exact=2)
    h.set_frequent([3, 1])
    h.load_vectors(x)
    torch.testing.assert_close(h(torch.tensor([3, 1]))[:, :2], torch.from_numpy(x[[3, 1]]))


def test_auto_mode_and_budget():
    assert choose_mode("auto", 1000, 16, 1000 * 16 * 4) == "exact"
    assert choose_mode("auto", 1001, 16, 1000 * 16 * 4) == "hybrid"
    assert choose_mode("hashed", 10**9, 16, 1) == "hashed"
    assert budget_rows(1024, 16) == 16
    with pytest.raises(ConfigError, match="id_embedding"):
        choose_mode("dense", 1, 1, 1)


def test_errors():
    with pytest.raises(ConfigError, match="mode"):
        IdEmbedding(3, 2, "bloom")
    with pytest.raises(ConfigError, match="num_nodes"):
        IdEmbedding(-1, 2)
    with pytest.raises(ShapeError, match=r"torch\.long"):
        IdEmbedding(3, 2)(torch.tensor([0.0]))
    with pytest.raises(ShapeError, match=r"torch\.long"):
        IdEmbedding(3, 2, "hashed")(torch.tensor([0.0]))
    with pytest.raises(ConfigError, match="hybrid"):
        IdEmbedding(3, 2).set_frequent([0])
    with pytest.raises(ConfigError, match="distinct"):
        IdEmbedding(5, 2, "hybrid", num_exact=2).set_frequent([1, 1])


@pytest.mark.parametrize("mode", ["exact", "hashed", "hybrid"])
def test_new_ids_get_zero_rows_once_admitted(mode):
    table = IdEmbedding(6, 4, mode, num_buckets=3, num_exact=2)
    ids = torch.tensor([[0, 5, 6], [9, 1, 2]])
    if mode == "exact":
        with pytest.raises(IndexError):
            table(ids)
    table.admit_new_ids()
    out = table(ids)
    assert out.shape == (2, 3, 4)
    assert (out[0, 2] == 0).all() and (out[1, 0] == 0).all()
    torch.testing.assert_close(out[0, :2], table(torch.tensor([0, 5])))
    assert out[0, 0].abs().sum() > 0
