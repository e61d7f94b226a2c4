import math

import pytest
import torch

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.skipgram import EPS, SkipGram


def _model(weight: torch.Tensor, sparse: bool = True) -> SkipGram:
    m = SkipGram(weight.size(0), weight.size(1), sparse=sparse)
    with torch.no_grad():
        m.embedding.weight.copy_(weight)
    return m


def _reference_loss(w: list[list[float]], pos: list[list[int]], neg: list[list[int]]) -> float:
    """float64 loops: mean over (start, other) pairs of each side, as PyG's Node2Vec.loss."""

    def dot(a: int, b: int) -> float:
        return sum(x * y for x, y in zip(w[a], w[b], strict=True))

    def sig(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    pos_terms = [-math.log(sig(dot(r[0], c)) + EPS) for r in pos for c in r[1:]]
    neg_terms = [-math.log(1.0 - sig(dot(r[0], c)) + EPS) for r in neg for c in r[1:]]
    return sum(pos_terms) / len(pos_terms) + sum(neg_terms) / len(neg_terms)


def test_contexts_sliding_windows_offset_major_and_drop_padding() -> None:
    walks = torch.tensor([[0, 1, 2, 3], [4, 5, -1, -1]])
    got = SkipGram.contexts(walks, 2)
    # offset 0: [0,1], [4,5]; offset 1: [1,2] ([5,-1] dropped); offset 2: [2,3] ([-1,-1] dropped)
    assert got.tolist() == [[0, 1], [4, 5], [1, 2], [2, 3]]
    assert got.dtype == torch.long


def test_contexts_match_pyg_pos_sample_without_padding() -> None:
    g = torch.Generator().manual_seed(0)
    walks = torch.randint(0, 50, (7, 9), generator=g, dtype=torch.int32)
    c = 4
    ref = torch.cat([walks[:, j : j + c] for j in range(9 - c + 1)], dim=0).long()
    got = SkipGram.contexts(walks, c)
    assert got.shape == (7 * (9 - c + 1), c)
    assert torch.equal(got, ref)


def test_loss_equals_float64_hand_computation() -> None:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 3, generator=g, dtype=torch.float64) * 0.7
    pos = [[0, 1, 2], [3, 4, 5], [2, 2, 0]]
    neg = [[0, 5, 4], [1, 3, 3]]
    m = _model(w.float())
    got = m.loss(torch.tensor(pos), torch.tensor(neg))
    ref = _reference_loss(m.embedding.weight.double().tolist(), pos, neg)
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_loss_eps_keeps_saturated_scores_finite() -> None:
    w = torch.tensor([[30.0, 0.0], [30.0, 0.0], [-30.0, 0.0]])
    m = _model(w)
    # positive pair anti-aligned and negative pair aligned: sigma saturates to 0 / 1
    got = m.loss(torch.tensor([[0, 2]]), torch.tensor([[0, 1]]))
    assert got.item() == pytest.approx(-2 * math.log(EPS), rel=1e-3)


def test_sparse_gradients_touch_only_used_rows_and_match_dense() -> None:
    g = torch.Generator().manual_seed(2)
    w = torch.randn(10, 4, generator=g)
    pos, neg = torch.tensor([[0, 1, 2], [2, 3, 0]]), torch.tensor([[0, 7, 3], [2, 7, 7]])
    sparse, dense = _model(w, sparse=True), _model(w, sparse=False)
    sparse.loss(pos, neg).backward()
    dense.loss(pos, neg).backward()
    grad = sparse.embedding.weight.grad
    assert grad.is_sparse
    grad = grad.coalesce()
    assert sorted(grad.indices()[0].tolist()) == [0, 1, 2, 3, 7]
    assert torch.allclose(grad.to_dense(), dense.embedding.weight.grad, atol=1e-6)
    unused = [4, 5, 6, 8, 9]
    assert torch.all(dense.embedding.weight.grad[unused] == 0)


def test_loss_empty_side_contributes_zero() -> None:
    m = _model(torch.randn(4, 2))
    pos = torch.tensor([[0, 1, 2]])
    empty = torch.zeros((0, 3), dtype=torch.long)
    full = m.loss(pos, torch.tensor([[1, 3, 2]]))
    only_pos = m.loss(pos, empty)
    w = m.embedding.weight.double().tolist()
    d = [sum(a * b for a, b in zip(w[0], w[j], strict=True)) for j in (1, 2)]
    ref = sum(-math.log(1 / (1 + math.exp(-x)) + EPS) for x in d) / 2
    assert only_pos.item() == pytest.approx(ref, rel=1e-5)
    assert full.item() > only_pos.item()


def test_forward_and_reset() -> None:
    torch.manual_seed(0)
    m = SkipGram(5, 3)
    assert m(None).shape == (5, 3)
    assert torch.equal(m(torch.tensor([4, 1])), m.embedding.weight[[4, 1]])
    before = m.embedding.weight.detach().clone()
    m.reset_parameters()
    assert not torch.equal(before, m.embedding.weight)
    assert repr(m) == "SkipGram(5, 3)"


@pytest.mark.parametrize(
    ("pos", "match"),
    [
        (torch.tensor([[0.0, 1.0]]), "integer"),
        (torch.tensor([0, 1]), "shape"),
        (torch.tensor([[0]]), "shape"),
        (torch.tensor([[0, -1]]), "padding"),
        (torch.tensor([[0, 4]]), "4 nodes"),
    ],
)
def test_loss_rejects_bad_windows(pos: torch.Tensor, match: str) -> None:
    m = SkipGram(4, 2)
    with pytest.raises(ShapeError, match=match):
        m.loss(pos, torch.tensor([[0, 1]]))


def test_contexts_and_constructor_errors() -> None:
    walks = torch.tensor([[0, 1, 2]])
    with pytest.raises(ConfigError, match="context_size must be <= the walk length"):
        SkipGram.contexts(walks, 4)
    with pytest.raises(ConfigError, match="context_size"):
        SkipGram.contexts(walks, 1)
    with pytest.raises(ShapeError, match="walks"):
        SkipGram.contexts(walks.float(), 2)
    with pytest.raises(ShapeError, match="walks"):
        SkipGram.contexts(walks[0], 2)
    with pytest.raises(ConfigError, match="num_nodes"):
        SkipGram(0, 4)
    with pytest.raises(ConfigError, match="embedding_dim"):
        SkipGram(3, 0)
    with pytest.raises(ConfigError, match="sparse"):
        SkipGram(3, 2, sparse="yes")  # type: ignore[arg-type]
