"""Randomized SVD against numpy's exact SVD; spectral embeddings of tiny graphs by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.models.spectral import (
    normalized_adjacency,
    orthonormalize,
    randomized_svd,
    spectral_embedding,
)


def low_rank(m=60, n=40, rank=5, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, rank)) @ np.diag([10, 8, 6, 4, 2][:rank]) @ rng.standard_normal((rank, n))
    return a + 1e-3 * rng.standard_normal((m, n))


def test_randomized_svd_matches_exact_svd():
    a = low_rank()
    u, s, v = randomized_svd(sp.csr_matrix(a), 4, seed=1)
    ue, se, vte = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(s, se[:4], rtol=1e-4)
    # the same singular vectors up to sign (signs are fixed by the convention, compare |.|)
    np.testing.assert_allclose(np.abs(np.sum(u * ue[:, :4], 0)), 1, atol=1e-4)
    np.testing.assert_allclose(np.abs(np.sum(v * vte[:4].T, 0)), 1, atol=1e-4)
    # sign convention: the largest-magnitude entry of each u column is positive
    assert np.all(u[np.argmax(np.abs(u), 0), range(4)] > 0)


def test_deterministic_under_seed():
    a = sp.csr_matrix(low_rank(seed=3))
    x, y = randomized_svd(a, 3, seed=7), randomized_svd(a, 3, seed=7)
    for p, q in zip(x, y, strict=True):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ConfigError, match="k must be"):
        randomized_svd(a, 0)


def test_orthonormalize():
    y = np.random.default_rng(0).standard_normal((200, 12)).astype(np.float32)
    q = orthonormalize(y)
    np.testing.assert_allclose(q.T @ q, np.eye(12), atol=1e-5)
    # same column space as y
    proj = q @ (q.T @ y)
    np.testing.assert_allclose(proj, y, atol=1e-4)
    # rank-deficient input falls back to Householder QR
    assert orthonormalize(np.ones((20, 3), np.float32)).shape == (20, 3)


def bipartite():
    src = [0, 0, 1, 1, 2, 3, 3, 3]
    dst = [0, 1, 1, 2, 2, 0, 2, 3]
    return HeteroGraph.from_edges({"user": 4, "item": 4}, {("user", "r", "item"): (src, dst)})


def test_bipartite_embedding_by_hand():
    g = bipartite()
    r = np.zeros((4, 4))
    r[[0, 0, 1, 1, 2, 3, 3, 3], [0, 1, 1, 2, 2, 0, 2, 3]] = 1
    du, di = r.sum(1), r.sum(0)
    norm = r / np.sqrt(du)[:, None] / np.sqrt(di)[None, :]
    np.testing.assert_allclose(normalized_adjacency(g, "r").toarray(), norm, rtol=1e-6)
    ue, se, vte = np.linalg.svd(norm)
    out = spectral_embedding(g, "r", 2, alpha=1.0, gamma=0.5, seed=0)
    assert set(out) == {"user", "item"} and out["user"].shape == (4, 2)
    # x_u = D_u^{1/2} U S, x_i = D_i^{1/2} V S (up to a sign per column)
    want_u = np.sqrt(du)[:, None] * ue[:, :2] * se[:2]
    want_i = np.sqrt(di)[:, None] * vte[:2].T * se[:2]
    sign = np.sign(np.sum(out["user"] * want_u, 0))
    np.testing.assert_allclose(out["user"], want_u * sign, atol=1e-4)
    np.testing.assert_allclose(out["item"], want_i * sign, atol=1e-4)
    # the dot products reproduce the rank-2 approximation of the normalised matrix
    np.testing.assert_allclose(
        (out["user"] / np.sqrt(du)[:, None]) @ (out["item"] / np.sqrt(di)[:, None]).T / 1.0,
        (ue[:, :2] * se[:2] ** 2) @ vte[:2], atol=1e-4,
    )


def test_regularised_exponential_filter_by_hand():
    g = bipartite()
    r = np.zeros((4, 4))
    r[[0, 0, 1, 1, 2, 3, 3, 3], [0, 1, 1, 2, 2, 0, 2, 3]] = 1
    du, di = r.sum(1), r.sum(0)
    norm = r / np.sqrt(du + 2.0)[:, None] / np.sqrt(di + 2.0)[None, :]
    np.testing.assert_allclose(normalized_adjacency(g, "r", reg=2.0).toarray(), norm, rtol=1e-6)
    ue, se, vte = np.linalg.svd(norm)
    out = spectral_embedding(g, "r", 3, alpha=1.0, beta=2.0, reg=2.0, seed=0)
    f = se[:3] * np.exp(2.0 * se[:3])  # f(s) = s^alpha exp(beta s)
    # the scores are the filtered spectrum U f(S)^2 V^T, whatever the signs
    np.testing.assert_allclose(out["user"] @ out["item"].T, (ue[:, :3] * f**2) @ vte[:3], atol=1e-4)
    with pytest.raises(ConfigError, match="reg"):
        normalized_adjacency(g, "r", reg=-1.0)


def test_homogeneous_takes_top_algebraic_eigenvectors():
    # two triangles joined by one edge: the top eigenvectors of the normalised adjacency
    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    src = [a for a, b in edges] + [b for a, b in edges]
    dst = [b for a, b in edges] + [a for a, b in edges]
    g = HeteroGraph.from_edges({"n": 6}, {("n", "e", "n"): (src, dst)})
    a = normalized_adjacency(g, "e").toarray()
    lam, vec = np.linalg.eigh(a)
    out = spectral_embedding(g, "e", 2, alpha=0.0, seed=0)
    assert set(out) == {"n"}
    x = out["n"]
    for j, col in enumerate([-1, -2]):
        assert abs(float(np.dot(x[:, j], vec[:, col]))) == pytest.approx(1.0, abs=1e-4)
    assert lam[-1] == pytest.approx(1.0)
