"""Max-margin (hinge) ranking loss with hard negatives, as in PinSage.

From "Graph Convolutional Neural Networks for Web-Scale Recommender Systems"
(Ying et al., KDD 2018, https://arxiv.org/abs/1806.01973).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError


def _check_embeddings(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ShapeError(f"MaxMargin: {name} must be a torch tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise ShapeError(f"MaxMargin: {name} must be a floating tensor, got {x.dtype}")
    return x


class MaxMargin(nn.Module):
    """PinSage's max-margin loss.

    For a query :math:`z_q`, its positive :math:`z_p` and negatives
    :math:`z_n \\sim P_n(q)`:

    .. math::
        J(q, p) = \\mathbb{E}_{n \\sim P_n(q)}
        \\max\\{0,\\; z_q \\cdot z_n - z_q \\cdot z_p + \\Delta\\},

    averaged over the batch. Negatives are either shared by the whole batch
    (``[N, D]``, PinSage's 500 random negatives per mini-batch) or per query
    (``[B, K, D]``). *Hard negatives* (PinSage: items ranked 2000–5000 by
    personalised PageRank from the query, added in a curriculum) are just more
    negatives: concatenate them to the random ones along the negative axis
    (``torch.cat([random, hard], dim=1)`` for ``[B, K, D]`` inputs), or pass them
    as ``hard_negatives`` ``[B, H, D]``; every pair counts equally in the mean.
    Embeddings are used as given (normalise them first for cosine scores).

    Args:
        margin: :math:`\\Delta`, the required gap between positive and negative scores.
        reduction: ``"mean"`` (over all query–negative pairs), ``"sum"``, or
            ``"none"`` (the ``[B, K]`` hinge terms).
    """

    def __init__(self, margin: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(margin, bool) or not isinstance(margin, int | float) or margin < 0:
            raise ConfigError(f"MaxMargin: margin must be a number >= 0, got {margin!r}")
        if reduction not in ("mean", "sum", "none"):
            raise ConfigError(
                f"MaxMargin: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
            )
        self.margin = float(margin)
        self.reduction = reduction

    def reset_parameters(self) -> None:
        """No learnable parameters."""

    def forward(
        self,
        query: Tensor,
        positive: Tensor,
        negatives: Tensor,
        hard_negatives: Tensor | None = None,
    ) -> Tensor:
        """Hinge loss of queries ``[B, D]`` against positives ``[B, D]``.

        Args:
            query: ``[B, D]`` query embeddings.
            positive: ``[B, D]`` positive embeddings.
            negatives: shared ``[N, D]`` or per-query ``[B, K, D]`` negatives.
            hard_negatives: optional per-query ``[B, H, D]`` hard negatives,
                appended to ``negatives`` (shared negatives are broadcast first).

        Returns:
            A scalar (``"mean"``/``"sum"``) or the ``[B, K(+H)]`` hinge terms.
        """
        query = _check_embeddings(query, "query")
        positive = _check_embeddings(positive, "positive")
        negatives = _check_embeddings(negatives, "negatives")
        if query.dim() != 2:
            raise ShapeError(f"MaxMargin: query must be [B, D], got shape {tuple(query.shape)}")
        b, d = query.shape
        if positive.shape != query.shape:
            raise ShapeError(
                f"MaxMargin: positive must have the query's shape {(b, d)}, "
                f"got {tuple(positive.shape)}"
            )
        if negatives.dim() == 2 and negatives.shape[1] == d:
            neg_scores = query @ negatives.T  # [B, N]
        elif negatives.dim() == 3 and negatives.shape[0] == b and negatives.shape[2] == d:
            neg_scores = torch.einsum("bd,bkd->bk", query, negatives)
        else:
            raise ShapeError(
                f"MaxMargin: negatives must be [N, {d}] (shared) or [{b}, K, {d}] (per query), "
                f"got shape {tuple(negatives.shape)}"
            )
        if hard_negatives is not None:
            hard = _check_embeddings(hard_negatives, "hard_negatives")
            if hard.dim() != 3 or hard.shape[0] != b or hard.shape[2] != d:
                raise ShapeError(
                    f"MaxMargin: hard_negatives must be [{b}, H, {d}], got {tuple(hard.shape)}"
                )
            neg_scores = torch.cat([neg_scores, torch.einsum("bd,bhd->bh", query, hard)], dim=1)
        pos_scores = (query * positive).sum(-1, keepdim=True)  # [B, 1]
        hinge = F.relu(neg_scores - pos_scores + self.margin)
        if self.reduction == "none":
            return hinge
        if hinge.numel() == 0:
            return hinge.sum()
        return hinge.mean() if self.reduction == "mean" else hinge.sum()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"
