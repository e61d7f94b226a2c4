"""LinkBCE: the loss by hand (masked negatives), both scorers, the MLP learns what a dot cannot."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphrep.errors import ConfigError, ShapeError
from graphrep.models import LinkBCE


def _bce(p: float, label: int) -> float:
    return -math.log(1 / (1 + math.exp(-p))) if label else -math.log(1 - 1 / (1 + math.exp(-p)))


def test_dot_loss_by_hand_with_masked_negative():
    m = LinkBCE(dim=2)
    src = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    dst = torch.tensor([[2.0, 1.0], [1.0, 1.0]])  # dots 2, 2
    ns = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    nd = torch.tensor([[3.0, 0.0], [0.0, -1.0], [0.5, 9.0]])  # dots 3, -2, 0.5
    mask = torch.tensor([True, True, False])
    loss, acc = m(src, dst, ns, nd, mask)
    want = (_bce(2, 1) + _bce(2, 1)) / 2 + (_bce(3, 0) + _bce(-2, 0)) / 2
    assert float(loss) == pytest.approx(want, rel=1e-6)
    # negative 0 (score 3) beats its positive 0 (score 2); negative 1 (-2) loses to positive 1
    assert float(acc) == pytest.approx(0.5)
    unmasked, _ = m(src, dst, ns, nd)
    want = _bce(2, 1) + (_bce(3, 0) + _bce(-2, 0) + _bce(0.5, 0)) / 3
    assert float(unmasked) == pytest.approx(want)


def test_mlp_scorer_is_the_hadamard_mlp():
    torch.manual_seed(0)
    m = LinkBCE(dim=4, scorer="hadamard_mlp", hidden=8, layers=2, dropout=0.0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(m.score(a, b), m.mlp(a, b))
    loss, _ = m(a, b, b, a)
    want = F.softplus(-m.mlp(a, b)).mean() + F.softplus(m.mlp(b, a)).mean()
    torch.testing.assert_close(loss, want)


def test_joint_training_learns_links_a_dot_product_cannot():
    # links join cluster c to cluster c + 1 (mod 4) only; trained together, node vectors
    # and the MLP scorer rank linked pairs far above same-cluster pairs, which a dot
    # product of near-identical same-cluster vectors (|x|^2 >= x_i . x_j) cannot
    torch.manual_seed(0)
    n, c = 40, 4
    cluster = torch.arange(n) % c
    x = torch.nn.Parameter(torch.randn(n, 8) * 0.1)
    m = LinkBCE(dim=8, scorer="hadamard_mlp", hidden=32, layers=2, dropout=0.0)
    opt = torch.optim.Adam([x, *m.parameters()], lr=0.02)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(300):
        s = torch.randint(0, n, (64,), generator=gen)
        d = torch.randint(0, n // c, (64,), generator=gen) * c + (cluster[s] + 1) % c
        neg = torch.randint(0, n, (64,), generator=gen)
        mask = neg % c != (cluster[s] + 1) % c
        loss, _ = m(x[s], x[d], x[s], x[neg], mask)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    s = torch.arange(n)
    with torch.no_grad():
        link = m.score(x[s], x[(s + 1) % n]).mean()  # node s+1 is in cluster c + 1
        same = m.score(x[s], x[(s + c) % n]).mean()  # same cluster, not linked
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.6 * first and float(link) > float(same) + 3, (first, last, float(link), float(same))


def test_errors():
    with pytest.raises(ConfigError, match="scorer"):
        LinkBCE(scorer="cosine")
    m = LinkBCE(dim=2)
    with pytest.raises(ShapeError, match="src/dst"):
        m(torch.zeros(2, 2), torch.zeros(3, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ShapeError, match="neg_mask"):
        z = torch.zeros(3, 2)
        m(torch.zeros(2, 2), torch.zeros(2, 2), z, z, torch.ones(2, dtype=torch.bool))
