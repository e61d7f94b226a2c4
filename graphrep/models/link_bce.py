r"""Binary cross-entropy link loss with a dot-product or jointly trained Hadamard-MLP scorer.

The OGB link-prediction baselines (`Hu et al., NeurIPS 2020
<https://arxiv.org/abs/2005.00687>`_, e.g. GraphSAGE on ogbl-ddi) train the node
encoder and the link scorer *together*: every positive edge :math:`(i, j)` of a
batch is scored against random node pairs :math:`(i', j')` with

.. math::
    \mathcal{L} = \frac{1}{B}\sum_{(i,j)} \log\bigl(1 + e^{-s(i,j)}\bigr)
        + \frac{\sum_{(i',j')} m_{i'j'} \log\bigl(1 + e^{s(i',j')}\bigr)}
               {\sum_{(i',j')} m_{i'j'}},

with :math:`(i', j')` uniform node pairs (as OGB's evaluation negatives are), where
:math:`m_{i'j'} \in \{0, 1\}` masks negatives that are in fact edges (at
ogbl-ddi's density one random pair in eight is), and the scorer :math:`s` is either
the dot product :math:`\mathbf{z}_i^\top \mathbf{z}_j` (``scorer="dot"``: the
embeddings alone rank links) or :class:`~graphrep.models.hadamard_mlp.HadamardMLP`
(``scorer="hadamard_mlp"``), whose weights are trained with the encoders and saved
with the model, so evaluation scores links with the very head the encoders were
trained for. Unlike the sampled softmax, BCE needs no temperature and scores every
pair on an absolute scale, which is what a Hits@K ranking over a fixed negative set
measures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.hadamard_mlp import HadamardMLP

SCORERS = ("dot", "hadamard_mlp")


class LinkBCE(nn.Module):
    r"""BCE of positive pairs against (masked) negative pairs (see the module docstring).

    Args:
        dim (int, optional): embedding size. (default: :obj:`64`)
        scorer (str, optional): ``"dot"`` or ``"hadamard_mlp"``. (default: :obj:`"dot"`)
        hidden (int, optional): hidden width of the MLP scorer. (default: :obj:`256`)
        layers (int, optional): linear layers of the MLP scorer. (default: :obj:`3`)
        dropout (float, optional): dropout of the MLP scorer while training.
            (default: :obj:`0.5`)
    """

    def __init__(
        self, dim: int = 64, scorer: str = "dot", hidden: int = 256, layers: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if scorer not in SCORERS:
            raise ConfigError(f"LinkBCE: scorer must be one of {list(SCORERS)}, got {scorer!r}")
        self.scorer = scorer
        self.mlp = HadamardMLP(dim, hidden, layers, dropout) if scorer == "hadamard_mlp" else None

    def reset_parameters(self) -> None:
        if self.mlp is not None:
            self.mlp.reset_parameters()

    def score(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        """Logits ``[B]`` of the pairs ``(x_i[b], x_j[b])``."""
        if self.mlp is not None:
            return self.mlp(x_i, x_j)
        return (x_i * x_j).sum(-1)

    def forward(
        self, src: Tensor, dst: Tensor, neg_src: Tensor, neg_dst: Tensor, neg_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The loss and the share of negatives scored below the positive they were drawn for.

        Args:
            src, dst: ``[B, D]`` embeddings of the positive pairs' ends.
            neg_src, neg_dst: ``[M, D]`` embeddings of the negative pairs' ends (the
                accuracy compares negative ``m`` with positive ``m mod B``).
            neg_mask: ``bool [M]``, ``False`` for negatives to ignore (accidental edges).

        Returns:
            ``(loss, accuracy)`` (both scalars; accuracy is detached).
        """
        if src.shape != dst.shape or neg_src.shape != neg_dst.shape or src.dim() != 2:
            raise ShapeError(
                f"LinkBCE: need src/dst [B, D] and neg_src/neg_dst [M, D], got {tuple(src.shape)}, "
                f"{tuple(dst.shape)}, {tuple(neg_src.shape)}, {tuple(neg_dst.shape)}"
            )
        pos, neg = self.score(src, dst), self.score(neg_src, neg_dst)
        w = torch.ones_like(neg) if neg_mask is None else neg_mask.to(neg.dtype)
        if w.shape != neg.shape:
            raise ShapeError(f"LinkBCE: neg_mask must have shape {tuple(neg.shape)}, got {tuple(w.shape)}")
        loss = F.softplus(-pos).mean() + (F.softplus(neg) * w).sum() / w.sum().clamp_min(1.0)
        with torch.no_grad():
            rows = torch.arange(len(neg), device=neg.device) % max(len(pos), 1)
            won = ((pos[rows] > neg).to(w.dtype) * w).sum() / w.sum().clamp_min(1.0) if len(pos) else w.sum()
        return loss, won

    def extra_repr(self) -> str:
        return f"scorer={self.scorer!r}"
