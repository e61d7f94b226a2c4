r"""LightGCN: linear propagation of free id embeddings over the user–item graph.

LightGCN (`He et al., SIGIR 2020 <https://arxiv.org/abs/2002.02126>`_) drops the
feature transforms and nonlinearities of graph convolution. With the bipartite
adjacency :math:`A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}` of the
interaction matrix :math:`R \in \{0,1\}^{n_u \times n_i}` and its symmetric
normalisation :math:`\hat A = D^{-1/2} A D^{-1/2}`, the layers and the output are

.. math::
    \mathbf{E}^{(k+1)} = \hat A\, \mathbf{E}^{(k)}, \qquad
    \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)}, \quad \alpha_k = \frac{1}{K+1},

where :math:`\mathbf{E}^{(0)}` holds one free row per user and per item (the only
parameters). A user's score of an item is :math:`\mathbf{e}_u \cdot \mathbf{e}_i`.
Every forward propagates the whole graph (:math:`O(K\,|R|\,D)`), as the paper does.
The baseline that trains it is :func:`graphrep.eval.lightgcn_baseline.train_lightgcn`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.sparse_adjacency import csr_tensor


def bipartite_adjacency(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> Tensor:
    r""":math:`\hat A = D^{-1/2} A D^{-1/2}` of the bipartite graph of the ``(users[j], items[j])``
    interactions as a sparse CSR tensor ``[n_u + n_i, n_u + n_i]`` (users first; repeated
    pairs count once; isolated nodes get zero rows).

    Raises:
        ShapeError: ``users`` and ``items`` differ in length or hold out-of-range ids.
    """
    u = np.asarray(users, dtype=np.int64).ravel()
    i = np.asarray(items, dtype=np.int64).ravel()
    if u.shape != i.shape:
        raise ShapeError(f"bipartite_adjacency: {len(u)} users but {len(i)} items")
    if len(u) and (u.min() < 0 or u.max() >= num_users or i.min() < 0 or i.max() >= num_items):
        raise ShapeError(
            f"bipartite_adjacency: ids must be in [0, {num_users}) x [0, {num_items}), "
            f"got users [{u.min()}, {u.max()}] items [{i.min()}, {i.max()}]"
        )
    n = num_users + num_items
    key = np.unique(u * num_items + i)  # distinct pairs
    u, i = key // num_items, key % num_items
    rows = np.concatenate([u, num_users + i])
    cols = np.concatenate([num_users + i, u])
    deg = np.bincount(rows, minlength=n).astype(np.float64)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1.0)), 0.0)
    return csr_tensor(rows, cols, (inv[rows] * inv[cols]).astype(np.float32), n)


class LightGCN(nn.Module):
    r"""LightGCN's id embeddings and :math:`K`-layer propagation (see the module docstring).

    Args:
        num_users (int): users :math:`n_u`.
        num_items (int): items :math:`n_i`.
        dim (int, optional): embedding size. (default: :obj:`64`)
        num_layers (int, optional): propagation layers :math:`K`. (default: :obj:`3`)
        init_std (float, optional): std of the Gaussian initialisation (the paper's 0.1).
            (default: :obj:`0.1`)
    """

    def __init__(
        self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3, init_std: float = 0.1
    ) -> None:
        super().__init__()
        for name, v, low in (("num_users", num_users, 1), ("num_items", num_items, 1),
                             ("dim", dim, 1), ("num_layers", num_layers, 0)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"LightGCN: {name} must be an int >= {low}, got {v!r}")
        if not (np.isfinite(init_std) and init_std > 0):
            raise ConfigError(f"LightGCN: init_std must be a finite number > 0, got {init_std!r}")
        self.num_users, self.num_items = num_users, num_items
        self.dim, self.num_layers, self.init_std = dim, num_layers, float(init_std)
        self.embedding = nn.Parameter(torch.empty(num_users + num_items, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Gaussian :math:`\\mathbf{E}^{(0)}` with std ``init_std``."""
        nn.init.normal_(self.embedding, std=self.init_std)

    def forward(self, adjacency: Tensor) -> tuple[Tensor, Tensor]:
        """Propagate :math:`\\mathbf{E}^{(0)}` over ``adjacency`` (:func:`bipartite_adjacency`).

        Returns:
            ``(users [n_u, dim], items [n_i, dim])``: the layer means :math:`\\mathbf{E}`.

        Raises:
            ShapeError: the adjacency does not have ``n_u + n_i`` rows and columns.
        """
        n = self.num_users + self.num_items
        if tuple(adjacency.shape) != (n, n):
            raise ShapeError(f"LightGCN: adjacency must be [{n}, {n}], got {tuple(adjacency.shape)}")
        h = acc = self.embedding
        for _ in range(self.num_layers):
            h = adjacency @ h
            acc = acc + h
        out = acc / (self.num_layers + 1)
        return out[: self.num_users], out[self.num_users :]

    def extra_repr(self) -> str:
        return (
            f"num_users={self.num_users}, num_items={self.num_items}, dim={self.dim}, "
            f"num_layers={self.num_layers}"
        )
