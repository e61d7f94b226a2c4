r"""The Hadamard-product MLP link scorer of OGB's link-prediction baselines.

The OGB baselines (`Hu et al., NeurIPS 2020 <https://arxiv.org/abs/2005.00687>`_;
their ``LinkPredictor``) score a candidate edge :math:`(i, j)` by an MLP of the
element-wise product of its two ends' embeddings,

.. math::
    s(i, j) = \mathbf{w}_L^\top \phi\bigl(\cdots \phi(W_1 (\mathbf{x}_i \odot \mathbf{x}_j)
        + \mathbf{b}_1) \cdots\bigr) + b_L, \qquad \phi = \mathrm{dropout} \circ \mathrm{ReLU},

a symmetric function of the pair that can weigh (and combine) the dimensions a plain
dot product :math:`\mathbf{1}^\top(\mathbf{x}_i \odot \mathbf{x}_j)` sums with equal
weights. It is used on frozen embeddings (:mod:`graphrep.eval.link_head`) and as the
jointly trained scorer of a link task (:class:`graphrep.models.link_bce.LinkBCE`).
"""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn


class HadamardMLP(nn.Module):
    r""":math:`\mathrm{MLP}(\mathbf{x}_i \odot \mathbf{x}_j)` -> one logit per pair.

    Args:
        in_dim (int): embedding size.
        hidden (int, optional): hidden width. (default: :obj:`256`)
        layers (int, optional): linear layers. (default: :obj:`3`)
        dropout (float, optional): dropout between layers. (default: :obj:`0.5`)
    """

    def __init__(self, in_dim: int, hidden: int = 256, layers: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [1]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins:
            lin.reset_parameters()

    def forward(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        """Logits ``[B]`` of the pairs ``(x_i[b], x_j[b])``."""
        h = x_i * x_j
        for lin in self.lins[:-1]:
            h = F.dropout(F.relu(lin(h)), p=self.dropout, training=self.training)
        return self.lins[-1](h).squeeze(-1)
