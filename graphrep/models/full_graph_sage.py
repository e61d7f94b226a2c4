r"""Full-graph GraphSAGE over learnable node vectors: every step propagates the whole graph.

For a graph small enough to hold in memory (ogbl-ddi: 4,267 nodes, 2.1M directed edges),
OGB's GraphSAGE link baseline (`Hu et al., NeurIPS 2020 <https://arxiv.org/abs/2005.00687>`_,
``examples/linkproppred/ddi/gnn.py``) needs no neighbour sampling: a free vector
:math:`\mathbf{x}_v^{(0)}` per node is propagated by :math:`L` mean-aggregation layers
(`Hamilton et al., NeurIPS 2017 <https://arxiv.org/abs/1706.02216>`_),

.. math::
    \mathbf{x}_v^{(l+1)} = W_l \frac{1}{|N(v)|}\sum_{u \in N(v)} \mathbf{x}_u^{(l)}
        + U_l\, \mathbf{x}_v^{(l)} + \mathbf{b}_l,

with ReLU and dropout between layers and none after the last. In matrix form a layer reads
:math:`X^{(l+1)} = (D^{-1} A X^{(l)}) W_l^\top + X^{(l)} U_l^\top + \mathbf{b}_l`, one sparse
product with the symmetric adjacency :math:`A` (cost :math:`O(|E|\,D)`). The backward of
:math:`Y = D^{-1} A X` is :math:`\partial X = A\,(D^{-1} \partial Y)` because :math:`A = A^\top`:
:class:`SymmetricPropagation` reuses the one CSR matrix instead of letting autograd build its
transpose every step (which costs twice the forward product on CPU).

The scorer and loss are the link task's (:class:`~graphrep.models.link_bce.LinkBCE`: dot
product or a jointly trained :class:`~graphrep.models.hadamard_mlp.HadamardMLP`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.models.sparse_adjacency import csr_tensor


def mean_adjacency(src: np.ndarray, dst: np.ndarray, num_nodes: int) -> tuple[Tensor, Tensor]:
    """The symmetric 0/1 adjacency of an undirected graph and its inverse degrees.

    Args:
        src, dst: the edges' ends (each undirected edge once or in both directions; repeats
            and self loops are dropped).
        num_nodes: nodes :math:`n`.

    Returns:
        ``(A, inv_deg)``: ``A`` a sparse CSR ``[n, n]`` float32 tensor with ones at both
        ``(u, v)`` and ``(v, u)``; ``inv_deg`` ``[n, 1]`` holds :math:`1/\\deg(v)` (0 for
        isolated nodes), so ``inv_deg * (A @ X)`` is the neighbour mean.

    Raises:
        ShapeError: ``src`` and ``dst`` differ in length or hold ids outside ``[0, n)``.
    """
    s = np.asarray(src, dtype=np.int64).ravel()
    d = np.asarray(dst, dtype=np.int64).ravel()
    if s.shape != d.shape:
        raise ShapeError(f"mean_adjacency: {len(s)} sources but {len(d)} destinations")
    if len(s) and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= num_nodes):
        raise ShapeError(
            f"mean_adjacency: node ids must be in [0, {num_nodes}), got "
            f"[{min(s.min(), d.min())}, {max(s.max(), d.max())}]"
        )
    keep = s != d
    key = np.unique(np.concatenate([s[keep] * num_nodes + d[keep], d[keep] * num_nodes + s[keep]]))
    rows, cols = key // num_nodes, key % num_nodes  # sorted by row, then column
    deg = np.bincount(rows, minlength=num_nodes).astype(np.float64)
    adj = csr_tensor(rows, cols, np.ones(len(cols), np.float32), num_nodes)
    inv = torch.from_numpy(np.where(deg > 0, 1.0 / np.maximum(deg, 1.0), 0.0)).float().view(-1, 1)
    return adj, inv


class SymmetricPropagation(torch.autograd.Function):
    r""":math:`Y = \mathrm{diag}(l)\, A\, \mathrm{diag}(r)\, X` for a symmetric sparse :math:`A`,
    with the backward :math:`\partial X = \mathrm{diag}(r)\, A\, \mathrm{diag}(l)\, \partial Y`
    computed with the same matrix (no transpose)."""

    @staticmethod
    def forward(ctx, x: Tensor, adj: Tensor, left: Tensor, right: Tensor) -> Tensor:
        ctx.adj, ctx.left, ctx.right = adj, left, right
        return left * (adj @ (right * x))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        return ctx.right * (ctx.adj @ (ctx.left * grad)), None, None, None


class FullGraphSAGE(nn.Module):
    r"""Free node vectors and :math:`L` full-graph mean-aggregation layers (module docstring).

    Args:
        num_nodes (int): nodes :math:`n` (one learnable row each).
        dim (int, optional): width of the vectors and every layer. (default: :obj:`256`)
        num_layers (int, optional): SAGE layers :math:`L` (0: the free vectors alone, i.e.
            matrix factorisation). (default: :obj:`2`)
        dropout (float, optional): dropout after the ReLU of every layer but the last.
            (default: :obj:`0.5`)
    """

    def __init__(self, num_nodes: int, dim: int = 256, num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__()
        for name, v, low in (("num_nodes", num_nodes, 1), ("dim", dim, 1), ("num_layers", num_layers, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"FullGraphSAGE: {name} must be an int >= {low}, got {v!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"FullGraphSAGE: dropout must be in [0, 1), got {dropout!r}")
        self.num_nodes, self.dim, self.num_layers, self.dropout = num_nodes, dim, num_layers, float(dropout)
        self.embedding = nn.Parameter(torch.empty(num_nodes, dim))
        self.neigh = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_layers))
        self.root = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform node vectors (as OGB's example) and PyTorch's default linear init."""
        nn.init.xavier_uniform_(self.embedding)
        for lin in (*self.neigh, *self.root):
            lin.reset_parameters()

    def forward(self, adj: Tensor, inv_deg: Tensor) -> Tensor:
        """All nodes' output vectors ``[n, dim]``.

        Args:
            adj, inv_deg: :func:`mean_adjacency` of the graph to propagate over.

        Raises:
            ShapeError: the adjacency is not ``[n, n]`` or ``inv_deg`` not ``[n, 1]``.
        """
        n = self.num_nodes
        if tuple(adj.shape) != (n, n) or tuple(inv_deg.shape) != (n, 1):
            raise ShapeError(
                f"FullGraphSAGE: need adj [{n}, {n}] and inv_deg [{n}, 1], got "
                f"{tuple(adj.shape)} and {tuple(inv_deg.shape)}"
            )
        ones = torch.ones_like(inv_deg)
        x = self.embedding
        for i, (neigh, root) in enumerate(zip(self.neigh, self.root, strict=True)):
            x = neigh(SymmetricPropagation.apply(x, adj, inv_deg, ones)) + root(x)
            if i < self.num_layers - 1:
                x = F.dropout(F.relu(x), p=self.dropout, training=self.training)
        return x

    def extra_repr(self) -> str:
        return (
            f"num_nodes={self.num_nodes}, dim={self.dim}, num_layers={self.num_layers}, "
            f"dropout={self.dropout}"
        )
