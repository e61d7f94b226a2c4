"""LightGCN: the normalised bipartite adjacency and the layer-mean propagation by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.lightgcn import LightGCN, bipartite_adjacency

# users 0, 1; items 0, 1, 2: u0-i0, u0-i1, u1-i1, u1-i2 (and a repeat of u0-i0)
USERS = np.array([0, 0, 1, 1, 0])
ITEMS = np.array([0, 1, 1, 2, 0])


def dense_adjacency():
    a = np.zeros((5, 5))
    for u, i in {(0, 0), (0, 1), (1, 1), (1, 2)}:
        a[u, 2 + i] = a[2 + i, u] = 1.0
    d = a.sum(1)
    return a / np.sqrt(np.outer(d, d))


def test_adjacency_is_symmetric_degree_normalised():
    adj = bipartite_adjacency(USERS, ITEMS, 2, 3)
    want = dense_adjacency()
    # e.g. u0-i1: 1 / sqrt(deg u0 = 2 * deg i1 = 2)
    assert want[0, 3] == pytest.approx(0.5)
    np.testing.assert_allclose(adj.to_dense().numpy(), want, rtol=1e-6)


def test_propagation_is_the_mean_of_the_layers():
    model = LightGCN(2, 3, dim=4, num_layers=2)
    adj = bipartite_adjacency(USERS, ITEMS, 2, 3)
    e0 = model.embedding.detach().numpy().astype(np.float64)
    a = dense_adjacency()
    want = (e0 + a @ e0 + a @ a @ e0) / 3
    users, items = model(adj)
    np.testing.assert_allclose(users.detach().numpy(), want[:2], atol=1e-6)
    np.testing.assert_allclose(items.detach().numpy(), want[2:], atol=1e-6)
    # gradients reach E^(0) through the propagation
    users.sum().backward()
    assert model.embedding.grad is not None and bool((model.embedding.grad[2:] != 0).any())


def test_zero_layers_is_matrix_factorisation():
    model = LightGCN(2, 3, dim=4, num_layers=0)
    users, items = model(bipartite_adjacency(USERS, ITEMS, 2, 3))
    assert torch.equal(torch.cat([users, items]), model.embedding)


def test_bad_input_is_named():
    with pytest.raises(ShapeError, match="ids must be in"):
        bipartite_adjacency(np.array([0, 2]), np.array([0, 1]), 2, 3)
    with pytest.raises(ShapeError, match="users but"):
        bipartite_adjacency(np.array([0]), np.array([0, 1]), 2, 3)
    with pytest.raises(ConfigError, match="num_layers"):
        LightGCN(2, 3, num_layers=-1)
    with pytest.raises(ShapeError, match="adjacency"):
        LightGCN(2, 2)(bipartite_adjacency(USERS, ITEMS, 2, 3))
