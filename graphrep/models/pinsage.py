r"""PinSage baseline encoder: importance pooling, concat with self, ReLU, L2 normalise.

From `"Graph Convolutional Neural Networks for Web-Scale Recommender Systems"
<https://arxiv.org/abs/1806.01973>`_ (Ying et al., KDD'18). One ``convolve``
(Algorithm 1) of node :math:`u` with importance-sampled neighbors
:math:`N(u)` and weights :math:`\alpha`:

.. math::
    \mathbf{n}_u &= \frac{\sum_{j \in N(u)} \alpha_j\,
        \mathrm{ReLU}(\mathbf{Q}\mathbf{h}_j + \mathbf{q})}{\sum_{j \in N(u)} \alpha_j}

    \mathbf{h}_u^{\text{new}} &= \mathrm{ReLU}\big(\mathbf{W}[\mathbf{h}_u \,\Vert\,
        \mathbf{n}_u] + \mathbf{w}\big), \qquad
    \mathbf{h}_u^{\text{new}} \leftarrow \mathbf{h}_u^{\text{new}} /
        \lVert \mathbf{h}_u^{\text{new}} \rVert_2

and the output is :math:`\mathbf{z}_u = \mathbf{G}_2\,\mathrm{ReLU}(\mathbf{G}_1
\mathbf{h}_u^{(L)} + \mathbf{g})`, L2-normalised (with ``skip=True``, plus the linear
skip path of the node's propagated features before the normalisation,
:mod:`graphrep.models.skip`).

**The L-layer scheme implemented here.** The encoder has the same interface as
:class:`~graphrep.models.entity.EntityEncoder`: the node's own features plus ONE
hop of importance-sampled neighbors with their raw features (no recursion, so
inference is one pass per node). Layer inputs are
:math:`\mathbf{h}^{(0)}_v` = the mean of the per-type raw-feature tokens of
:math:`v` (dense projections, hashed text, or hashed id + log-degree for
featureless types), for the node and each neighbor. For :math:`l = 1..L`:

* the node is convolved with its neighbors:
  :math:`\mathbf{h}_u^{(l)} = \mathrm{convolve}_l(\mathbf{h}_u^{(l-1)},
  \{\mathbf{h}_j^{(l-1)}\}, \alpha)`;
* each neighbor is convolved with an empty neighborhood
  (:math:`\mathbf{n}_j = \mathbf{0}`), i.e. its own 2-hop neighborhood is
  truncated: :math:`\mathbf{h}_j^{(l)} = \mathrm{norm}(\mathrm{ReLU}(\mathbf{W}_l
  [\mathbf{h}_j^{(l-1)} \Vert \mathbf{0}] + \mathbf{w}_l))`.

With :math:`L = 2` this is PinSage's 2-layer model where layer 1 maps the
neighbors' raw features into the hidden space and layer 2 pools those hidden
states with importance weights. Neighbors of all types are pooled together
(per-type weights are the sampler's L1-normalised visit counts, so each type
contributes equally in total); the weights are normalised, so only their
ratios matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.models.features import FeatureBatch, FeatureSchema
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.id_embedding import IdEmbedding
from graphrep.models.skip import PropagatedSkip
from graphrep.models.tokens import Neighbors, check_neighbors, raw_token_modules


class PinSageConv(nn.Module):
    r"""One PinSage ``convolve`` (importance pooling, concat, ReLU, L2 normalise).

    Args:
        channels (int): input and output size.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = nn.Linear(channels, channels)  # Q, q
        self.update = nn.Linear(2 * channels, channels)  # W, w

    def reset_parameters(self) -> None:
        self.pool.reset_parameters()
        self.update.reset_parameters()

    def forward(
        self, h: Tensor, h_nbr: Tensor | None = None, weight: Tensor | None = None
    ) -> Tensor:
        """``h [..., C]``; ``h_nbr [..., K, C]``, ``weight [..., K]`` (0 = ignored; None = none)."""
        if h_nbr is None or h_nbr.shape[-2] == 0:
            n = torch.zeros_like(h)
        else:
            msg = F.relu(self.pool(h_nbr))
            total = weight.sum(-1, keepdim=True)
            # weight-0 (masked) rows must not leak NaN/inf from their features
            msg = torch.where((weight > 0).unsqueeze(-1), msg, msg.new_zeros(()))
            n = (weight.unsqueeze(-1) * msg).sum(-2) / total.clamp_min(torch.finfo(h.dtype).tiny)
        return F.normalize(F.relu(self.update(torch.cat([h, n], -1))), dim=-1)


class PinSage(nn.Module):
    r"""PinSage encoder with the :class:`~graphrep.models.entity.EntityEncoder` interface.

    See the module docstring for the exact L-layer scheme on a one-hop neighborhood.

    Args:
        node_type (str): the type this encoder embeds.
        schema (FeatureSchema): features of every node type.
        neighbor_types (Sequence[str], optional): neighbor types read. (default: :obj:`()`)
        dim (int, optional): output size ``D``. (default: :obj:`128`)
        hidden (int, optional): hidden size of the convolutions. (default: :obj:`256`)
        num_layers (int, optional): convolutions :math:`L`. (default: :obj:`2`)
        id_buckets (int, optional): rows of each hashed-id table. (default: :obj:`2**16`)
        text_embedder (HashTextEmbedder, optional): shared text embedder. (default: :obj:`None`)
        use_id_embedding (bool, optional): id tokens for featured types too.
            (default: :obj:`None`)
        id_tables (Mapping[str, IdEmbedding], optional): shared id tables by node type
            (of width ``hidden``). (default: :obj:`None`)
        skip (bool, optional): add a linear skip path from the node's propagated
            features to the output (:class:`~graphrep.models.skip.PropagatedSkip`; the
            head's last layer then starts at zero, so the untrained output is the
            projected propagated features). (default: :obj:`False`)
    """

    def __init__(
        self,
        node_type: str,
        schema: FeatureSchema,
        neighbor_types: Sequence[str] = (),
        dim: int = 128,
        hidden: int = 256,
        num_layers: int = 2,
        id_buckets: int = 2**16,
        text_embedder: HashTextEmbedder | None = None,
        use_id_embedding: bool | None = None,
        id_tables: Mapping[str, IdEmbedding] | None = None,
        skip: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1 or hidden < 1 or dim < 1:
            raise ConfigError(
                f"PinSage needs num_layers, hidden, dim >= 1; got {num_layers}, {hidden}, {dim}"
            )
        self.node_type, self.schema, self.dim, self.hidden = node_type, schema, dim, hidden
        self.neighbor_types, self.raw, self._raw_index, self._owned_text = raw_token_modules(
            node_type,
            schema,
            neighbor_types,
            hidden,
            dim,
            text_embedder,
            id_buckets,
            use_id_embedding,
            id_tables,
        )
        self.convs = nn.ModuleList(PinSageConv(hidden) for _ in range(num_layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.skip = PropagatedSkip(schema[node_type], dim) if skip else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (*self.raw, *self.convs, self.head[0], self.head[2]):
            m.reset_parameters()
        if self._owned_text:  # created here (a shared one is left to its owner)
            self._owned_text[0].reset_parameters()
        if self.skip is not None:  # zero-init residual: the untrained output is the skip path
            self.skip.reset_parameters()
            nn.init.zeros_(self.head[2].weight)
            nn.init.zeros_(self.head[2].bias)

    def raw_features(self, node_type: str, fb: FeatureBatch) -> Tensor:
        r""":math:`\mathbf{h}^{(0)}` ``[*S, hidden]``: mean of the type's raw-feature tokens."""
        return self.raw[self._raw_index[node_type]](fb).mean(-2)

    def forward(self, batch: FeatureBatch, neighbors: Neighbors | None = None) -> Tensor:
        """Embed ``B`` nodes from their features and one hop of weighted neighbors.

        Args:
            batch: features of the nodes, leading shape ``[B]``.
            neighbors: per neighbor type ``(FeatureBatch [B, k], weights [B, k], mask [B, k])``.

        Returns:
            L2-normalised embeddings ``[B, dim]``.
        """
        owner = f"PinSage({self.node_type!r})"
        if batch.ids.dim() != 1:
            raise ShapeError(
                f"{owner}: batch ids must have shape (B,), got {tuple(batch.ids.shape)}"
            )
        batch.check(self.schema[self.node_type], None, f"{owner} input")
        nbrs = check_neighbors(
            owner, batch.ids.shape[0], self.neighbor_types, self.schema, neighbors
        )
        h = self.raw_features(self.node_type, batch)
        h_nbr, weight = None, None
        if nbrs:
            h_nbr = torch.cat([self.raw_features(nt, fb) for nt, fb, _, _ in nbrs], -2)
            weight = torch.cat(
                [torch.where(m, w.to(h.dtype), h.new_zeros(())) for _, _, w, m in nbrs], -1
            )
            if bool((weight < 0).any()):
                raise GraphValidationError(
                    f"{owner}: importance weights must be >= 0 for unmasked neighbors"
                )
        last = len(self.convs) - 1
        for layer, conv in enumerate(self.convs):
            h_next = conv(h, h_nbr, weight)
            if h_nbr is not None and layer < last:
                h_nbr = conv(h_nbr)  # neighbors: convolve with a truncated (empty) neighborhood
            h = h_next
        out = self.head(h)
        if self.skip is not None:
            out = out + self.skip(batch)
        return F.normalize(out, dim=-1)

    def extra_repr(self) -> str:
        return (
            f"node_type={self.node_type!r}, neighbor_types={self.neighbor_types}, dim={self.dim}, "
            f"hidden={self.hidden}, skip={self.skip is not None}"
        )
