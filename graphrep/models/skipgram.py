"""Skip-gram with negative sampling over random walks (DeepWalk / node2vec).

DeepWalk [Perozzi et al., KDD 2014, https://arxiv.org/abs/1403.6652] and
node2vec [Grover & Leskovec, KDD 2016, https://arxiv.org/abs/1607.00653] learn
one free vector :math:`\\mathbf{z}_v` per node so that nodes close on random
walks get similar vectors. Each walk is cut into sliding windows of
``context_size`` nodes :math:`(v, c_1, \\ldots, c_{k})`, :math:`k =`
``context_size - 1``; the window's first node is scored against the rest. With
negative windows :math:`(u, n_1, \\ldots, n_k)` of uniformly random nodes, the
loss is PyG's ``Node2Vec.loss``:

.. math::
    \\mathcal{L} = -\\frac{1}{|P|\\,k} \\sum_{(v, c) \\in P}
        \\log\\left(\\sigma(\\mathbf{z}_v^\\top \\mathbf{z}_c) + \\epsilon\\right)
    -\\frac{1}{|N|\\,k} \\sum_{(u, n) \\in N}
        \\log\\left(1 - \\sigma(\\mathbf{z}_u^\\top \\mathbf{z}_n) + \\epsilon\\right),

where :math:`P` (:math:`N`) holds the (start, other) pairs of every positive
(negative) window and :math:`\\epsilon = 10^{-15}`. A single embedding table is
used for both roles, as in PyG.

**Padding.** Walks from :mod:`graphrep.samplers` stop at dead ends and are padded
with ``-1``. :meth:`SkipGram.contexts` drops every window that contains ``-1``
(it would pair real nodes with padding), so it returns *at most*
``W * (L - context_size + 1)`` windows; :meth:`SkipGram.loss` rejects negative ids.

Example:
    >>> model = SkipGram(num_nodes=100, embedding_dim=16)
    >>> pos = model.contexts(walks, context_size=5)        # walks: long [W, L]
    >>> neg = model.contexts(random_walks, context_size=5)
    >>> model.loss(pos, neg).backward()
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError, ShapeError
from graphrep.samplers.args import check_int

EPS = 1e-15


def _windows_arg(x: object, name: str, num_nodes: int) -> Tensor:
    """Check an integer ``[M, k]`` id tensor with ``k >= 2`` and ids in ``[0, num_nodes)``."""
    if (
        not isinstance(x, Tensor)
        or x.dtype.is_floating_point
        or x.dtype.is_complex
        or x.dtype == torch.bool
    ):
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"SkipGram.loss: {name} must be an integer (torch.long) tensor, got {got}")
    if x.dim() != 2 or x.size(1) < 2:
        raise ShapeError(
            f"SkipGram.loss: {name} must have shape [num_windows, context_size >= 2], "
            f"got {tuple(x.shape)}"
        )
    if x.numel() and int(x.min()) < 0:
        raise ShapeError(
            f"SkipGram.loss: {name} holds negative (padding) ids; drop padded windows "
            f"with SkipGram.contexts first"
        )
    if x.numel() and int(x.max()) >= num_nodes:
        raise ShapeError(
            f"SkipGram.loss: {name} holds id {int(x.max())}, but the table has {num_nodes} nodes"
        )
    return x.long()


class SkipGram(nn.Module):
    """One embedding per node trained by skip-gram with negative sampling.

    See the module docstring for the objective. Follows PyG's ``Node2Vec``
    (``forward``, ``loss``, sliding windows as in ``pos_sample``) without owning
    the walk sampler: walks come from :func:`~graphrep.samplers.node2vec.node2vec_walk`
    or any other sampler, so the model works where ``torch-cluster`` is missing.

    Args:
        num_nodes: number of nodes (rows of the table).
        embedding_dim: size of each embedding vector.
        sparse: if ``True``, gradients w.r.t. the table are sparse (use
            :class:`torch.optim.SparseAdam`), so a step only touches the rows used.
    """

    def __init__(self, num_nodes: int, embedding_dim: int, sparse: bool = True) -> None:
        super().__init__()
        self.num_nodes = check_int(num_nodes, "SkipGram num_nodes", minimum=1)
        self.embedding_dim = check_int(embedding_dim, "SkipGram embedding_dim", minimum=1)
        if not isinstance(sparse, bool):
            raise ConfigError(f"SkipGram sparse must be a bool, got {sparse!r}")
        self.sparse = sparse
        self.embedding = nn.Embedding(self.num_nodes, self.embedding_dim, sparse=sparse)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from :math:`\\mathcal{N}(0, 1/d)`.

        PyG's ``Node2Vec`` keeps ``nn.Embedding``'s :math:`\\mathcal{N}(0, 1)`: at
        :math:`d = 64` initial scores have a standard deviation of 8, the sigmoids
        saturate and one epoch barely trains (loss 3.2 on the synthetic graph). With
        variance :math:`1/d` initial scores are :math:`\\mathcal{O}(1)`, as word2vec's
        small uniform init makes them.
        """
        nn.init.normal_(self.embedding.weight, std=self.embedding_dim**-0.5)

    def forward(self, batch: Tensor | None = None) -> Tensor:
        """Embeddings of the nodes in ``batch`` (all ``[num_nodes, dim]`` when ``None``)."""
        emb = self.embedding.weight
        return emb if batch is None else emb[batch]

    @staticmethod
    def contexts(walks: Tensor, context_size: int) -> Tensor:
        """Sliding windows of ``context_size`` nodes over each walk, padded ones dropped.

        Args:
            walks: integer ``[W, L]`` node ids, ``-1`` after a walk stopped.
            context_size: window length, ``2 <= context_size <= L``.

        Returns:
            ``long [M, context_size]`` windows: offset-major like PyG's ``pos_sample``
            (all walks' windows at offset 0, then offset 1, ...), keeping only windows
            without ``-1``, so ``M <= W * (L - context_size + 1)``.
        """
        if (
            not isinstance(walks, Tensor)
            or walks.dtype.is_floating_point
            or walks.dtype.is_complex
            or walks.dtype == torch.bool
            or walks.dim() != 2
        ):
            got = (
                f"{walks.dtype} of shape {tuple(walks.shape)}"
                if isinstance(walks, Tensor)
                else type(walks).__name__
            )
            raise ShapeError(f"SkipGram.contexts: walks must be an integer [W, L] tensor, got {got}")
        length = walks.size(1)
        context_size = check_int(context_size, "context_size", minimum=2)
        if context_size > length:
            raise ConfigError(
                f"context_size must be <= the walk length ({length} nodes), got {context_size}"
            )
        # [W, n_off, c] -> [n_off, W, c]: offset-major order as in PyG.
        win = walks.long().unfold(1, context_size, 1).transpose(0, 1)
        win = win.reshape(-1, context_size)
        keep = (win >= 0).all(dim=1)
        return win if bool(keep.all()) else win[keep]

    @staticmethod
    def _scores(h: Tensor, windows: Tensor) -> Tensor:
        """Scores ``z_start . z_other`` of every (start, other) pair, flattened."""
        h_start = h[windows[:, 0]].unsqueeze(2)  # [M, D, 1]
        h_rest = h[windows[:, 1:]]  # [M, c-1, D]
        return torch.bmm(h_rest, h_start).view(-1)

    def loss(self, pos_windows: Tensor, neg_windows: Tensor) -> Tensor:
        """Negative-sampling loss of positive and negative windows (PyG's ``Node2Vec.loss``).

        The value is PyG's; each distinct node is looked up once, so the sparse
        gradient has one row per distinct node (cheap for :class:`~torch.optim.SparseAdam`).

        Args:
            pos_windows: ``long [M, c]`` windows from walks (:meth:`contexts`).
            neg_windows: ``long [M', c']`` windows of random nodes.

        Returns:
            Scalar :math:`-\\text{mean}\\log(\\sigma(s^+) + \\epsilon)
            - \\text{mean}\\log(1 - \\sigma(s^-) + \\epsilon)`; a side with no
            windows contributes 0 (PyG would return NaN).
        """
        pos_windows = _windows_arg(pos_windows, "pos_windows", self.num_nodes)
        neg_windows = _windows_arg(neg_windows, "neg_windows", self.num_nodes)
        ids = torch.cat([pos_windows.reshape(-1), neg_windows.reshape(-1)])
        uniq, inv = torch.unique(ids, return_inverse=True)
        h = self.embedding(uniq)
        zero = h.new_zeros(())
        pos_loss = neg_loss = zero
        if pos_windows.size(0):
            out = self._scores(h, inv[: pos_windows.numel()].view(pos_windows.shape))
            pos_loss = -torch.log(torch.sigmoid(out) + EPS).mean()
        if neg_windows.size(0):
            out = self._scores(h, inv[pos_windows.numel() :].view(neg_windows.shape))
            neg_loss = -torch.log(1 - torch.sigmoid(out) + EPS).mean()
        return pos_loss + neg_loss

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.num_nodes}, {self.embedding_dim})"
