import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.max_margin import MaxMargin


def reference_hinge(q, p, negs, margin):
    """[B, K] hinge terms with explicit loops (negs [N, D] shared or [B, K, D])."""
    q, p, negs = (np.asarray(x, np.float64) for x in (q, p, negs))
    out = []
    for b in range(len(q)):
        rows = negs if negs.ndim == 2 else negs[b]
        pos = sum(q[b, i] * p[b, i] for i in range(q.shape[1]))
        out.append([max(0.0, float(q[b] @ n) - pos + margin) for n in rows])
    return np.array(out)


def test_hand_computed():
    # q=[1,0], p=[0.5,0], negatives [1,0] (score 1) and [0,1] (score 0), margin 0.1:
    # hinge = max(0, 1 - 0.5 + 0.1) = 0.6 and max(0, 0 - 0.5 + 0.1) = 0 -> mean 0.3
    q = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.5, 0.0]])
    negs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert MaxMargin(0.1)(q, p, negs).item() == pytest.approx(0.3)
    assert MaxMargin(0.1, reduction="sum")(q, p, negs).item() == pytest.approx(0.6)
    np.testing.assert_allclose(MaxMargin(0.1, reduction="none")(q, p, negs).numpy(), [[0.6, 0.0]])


@pytest.mark.parametrize("shared", [True, False])
def test_matches_loop_reference(shared):
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    negs = torch.randn(7, 3, generator=g) if shared else torch.randn(5, 4, 3, generator=g)
    out = MaxMargin(0.5, reduction="none")(q, p, negs)
    ref = reference_hinge(q, p, negs, 0.5)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    assert MaxMargin(0.5)(q, p, negs).item() == pytest.approx(ref.mean(), rel=1e-5)
    assert (ref > 0).any() and (ref == 0).any()  # both hinge branches exercised


def test_hard_negatives_are_extra_negatives():
    g = torch.Generator().manual_seed(1)
    q, p = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    shared, hard = torch.randn(6, 3, generator=g), torch.randn(4, 2, 3, generator=g)
    out = MaxMargin(0.2)(q, p, shared, hard_negatives=hard)
    both = torch.cat([shared.expand(4, -1, -1), hard], dim=1)
    assert out.item() == pytest.approx(MaxMargin(0.2)(q, p, both).item(), rel=1e-6)
    ref = reference_hinge(q, p, both, 0.2).mean()
    assert out.item() == pytest.approx(ref, rel=1e-5)


def test_gradients_and_zero_loss_when_separated():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    far = torch.tensor([[-1.0, 0.0], [0.0, -1.0]], requires_grad=True)
    loss = MaxMargin(0.5)(q, p, far)
    assert loss.item() == 0.0
    close = torch.tensor([[0.9, 0.1], [0.1, 0.9]], requires_grad=True)
    loss = MaxMargin(0.5)(q, p, close)
    loss.backward()
    for t in (q, p, close):
        assert t.grad is not None and t.grad.abs().sum() > 0


def test_errors():
    q, p = torch.randn(3, 4), torch.randn(3, 4)
    with pytest.raises(ShapeError, match="positive must have the query's shape"):
        MaxMargin()(q, torch.randn(4, 4), torch.randn(5, 4))
    with pytest.raises(ShapeError, match="negatives must be"):
        MaxMargin()(q, p, torch.randn(5, 3))
    with pytest.raises(ShapeError, match="negatives must be"):
        MaxMargin()(q, p, torch.randn(2, 5, 4))
    with pytest.raises(ShapeError, match="floating"):
        MaxMargin()(q, p, torch.ones(5, 4, dtype=torch.long))
    with pytest.raises(ShapeError, match="hard_negatives"):
        MaxMargin()(q, p, torch.randn(5, 4), hard_negatives=torch.randn(5, 4))
    with pytest.raises(ConfigError):
        MaxMargin(-1.0)
    with pytest.raises(ConfigError):
        MaxMargin(reduction="max")
