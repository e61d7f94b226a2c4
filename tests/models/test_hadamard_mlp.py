"""HadamardMLP: its forward by hand, symmetry in the pair, layer count."""

from __future__ import annotations

import torch

from graphrep.models import HadamardMLP


def test_forward_by_hand():
    torch.manual_seed(0)
    m = HadamardMLP(3, hidden=4, layers=2, dropout=0.0).eval()
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    h = torch.relu(m.lins[0](a * b))
    torch.testing.assert_close(m(a, b), m.lins[1](h).squeeze(-1))
    torch.testing.assert_close(m(a, b), m(b, a))  # a symmetric function of the pair
    assert len(HadamardMLP(3, layers=1).lins) == 1


def test_dropout_only_in_training():
    torch.manual_seed(0)
    m = HadamardMLP(8, hidden=64, layers=3, dropout=0.5)
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    assert not torch.equal(m(a, b), m(a, b))  # training: two dropout masks
    m.eval()
    assert torch.equal(m(a, b), m(a, b))
