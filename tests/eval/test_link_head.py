"""The Hadamard-MLP link head on frozen embeddings: training separates planted links."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import ShapeError
from graphrep.eval.link_head import train_link_head
from graphrep.train.config import LinkHeadConfig


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((pos[:, None] > neg[None, :]).mean())


def test_training_learns_what_the_dot_product_cannot():
    # links join cluster a to cluster a + 1 (mod 6): random cluster centroids make the dot
    # product of linked nodes no higher than of any pair, but x_i * x_j tells cluster pairs apart
    n, c = 180, 6
    rng = np.random.default_rng(0)
    cluster = np.arange(n) % c
    x = rng.standard_normal((c, 16))[cluster] + 0.1 * rng.standard_normal((n, 16))
    src = rng.integers(0, n, 3000)
    dst = rng.choice(n // c, 3000) * c + (cluster[src] + 1) % c
    pairs = np.stack([src, dst], 1)
    train, test = pairs[:2500], pairs[2500:]
    neg = rng.integers(0, n, size=(500, 2))
    cfg = LinkHeadConfig(hidden=32, layers=2, dropout=0.0, epochs=15, batch_size=256, lr=0.01)
    head, hist = train_link_head(x, train, cfg, val=(train[:200], neg[:100]), k=10)
    assert len(hist) == 15
    trained = _auc(head.score(x, test), head.score(x, neg))
    dot = _auc((x[test[:, 0]] * x[test[:, 1]]).sum(1), (x[neg[:, 0]] * x[neg[:, 1]]).sum(1))
    # a third of random pairs are (a, a+1) or (a+1, a) pairs too: the best AUC is ~0.83
    assert trained > 0.75 and trained > dot + 0.15, (trained, dot)


def test_errors():
    with pytest.raises(ShapeError, match="edges"):
        train_link_head(np.zeros((4, 2)), np.zeros((0, 2), np.int64))
    with pytest.raises(ShapeError, match="ids must be in"):
        train_link_head(np.zeros((4, 2)), np.array([[0, 9]]))
