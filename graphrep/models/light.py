r"""Light propagation encoder for content-free node types: an id row plus its neighbours' rows.

A node type without content (users, or every node of an interaction graph such as
Gowalla or ogbl-ddi) has nothing for a transformer to attend over but ids. As in
LightGCN (`He et al., SIGIR 2020 <https://arxiv.org/abs/2002.02126>`_), which drops
every feature transform and nonlinearity from graph convolution, and PPRGo
(`Bojchevski et al., KDD 2020 <https://arxiv.org/abs/2007.01570>`_), which pools a
node's personalised-PageRank neighbourhood in one step, the light encoder embeds
node :math:`v` of type :math:`t` as

.. math::
    \mathbf{h}_v = \mathbf{e}_t(v) + \sum_{\tau} \beta_\tau
        \sum_{j \in N_\tau(v)} \bar w_j\, \mathbf{e}_\tau(j),
    \qquad \bar w_j = \frac{w_j}{\sum_{i \in N_\tau(v)} w_i},

where :math:`\mathbf{e}_\tau` is type :math:`\tau`'s id table
(:class:`~graphrep.models.id_embedding.IdEmbedding`, shared with every other encoder
that reads the type), :math:`N_\tau(v)` the sampled importance neighbourhood of
type :math:`\tau` with visit-count weights :math:`w_j` (PinSage's random walks with
restart, so :math:`\bar w` approximates PPR and reaches beyond one hop), and
:math:`\beta_\tau` a learned scalar per neighbour type (initialised to
``neighbor_weight``). The output is :math:`\mathbf{h}_v / \lVert \mathbf{h}_v \rVert_2`
when ``normalize`` (cosine scores), else :math:`\mathbf{h}_v` (dot-product scores).

An example costs a gather of :math:`1 + \sum_\tau k_\tau` rows and a weighted sum;
with sparse id tables a step touches only those rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ShapeError
from graphrep.models.features import FeatureBatch, FeatureSchema
from graphrep.models.id_embedding import IdEmbedding
from graphrep.models.tokens import Neighbors, check_encoder_types, check_neighbors


class LightEncoder(nn.Module):
    r"""Id row + importance-weighted pooling of neighbours' id rows (see the module docstring).

    Args:
        node_type (str): the type this encoder embeds.
        schema (FeatureSchema): every node type (features are not read).
        neighbor_types (Sequence[str], optional): types of the sampled neighbours it pools.
            (default: :obj:`()`)
        dim (int, optional): output size ``D`` (the id tables' width). (default: :obj:`128`)
        id_tables (Mapping[str, IdEmbedding], optional): id tables by node type, shared with
            the model's other encoders; a type without one gets a hashed table of
            ``id_buckets`` rows here. (default: :obj:`None`)
        id_buckets (int, optional): rows of a table created here. (default: :obj:`2**16`)
        normalize (bool, optional): L2-normalise the output. (default: :obj:`True`)
        neighbor_weight (float, optional): initial :math:`\beta_\tau`. (default: :obj:`1.0`)
    """

    def __init__(
        self,
        node_type: str,
        schema: FeatureSchema,
        neighbor_types: Sequence[str] = (),
        dim: int = 128,
        id_tables: Mapping[str, IdEmbedding] | None = None,
        id_buckets: int = 2**16,
        normalize: bool = True,
        neighbor_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.node_type, self.schema, self.dim = node_type, schema, dim
        self.neighbor_types = check_encoder_types(node_type, schema, neighbor_types)
        self.normalize, self.neighbor_weight = bool(normalize), float(neighbor_weight)
        tables = dict(id_tables or {})
        for t in (node_type, *self.neighbor_types):
            if t not in tables:
                tables[t] = IdEmbedding(schema[t].num_nodes, dim, "hashed", num_buckets=id_buckets)
            if tables[t].dim != dim:
                raise ShapeError(
                    f"LightEncoder({node_type!r}): id table of {t!r} has dim {tables[t].dim}, "
                    f"expected {dim}"
                )
        types = [node_type, *(t for t in self.neighbor_types if t != node_type)]
        self.tables = nn.ModuleDict({t: tables[t] for t in types})
        self.beta = nn.Parameter(torch.empty(len(self.neighbor_types)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:math:`\\beta_\\tau` back to ``neighbor_weight`` (id tables belong to their owner)."""
        nn.init.constant_(self.beta, self.neighbor_weight)

    def forward(self, batch: FeatureBatch, neighbors: Neighbors | None = None) -> Tensor:
        """Embed ``B`` nodes from their ids and their sampled neighbours' ids.

        Args:
            batch: the nodes (only ``ids`` ``[B]`` are read).
            neighbors: per neighbour type ``(FeatureBatch [B, k], weights [B, k], mask [B, k])``.

        Returns:
            ``[B, dim]`` embeddings (L2-normalised when ``normalize``).
        """
        owner = f"LightEncoder({self.node_type!r})"
        if batch.ids.dim() != 1:
            raise ShapeError(f"{owner}: batch ids must have shape (B,), got {tuple(batch.ids.shape)}")
        if batch.node_type != self.node_type:
            raise ShapeError(f"{owner}: got a batch of node type {batch.node_type!r}")
        nbrs = check_neighbors(owner, batch.ids.shape[0], self.neighbor_types, self.schema, neighbors)
        h = self.tables[self.node_type](batch.ids)
        for nt, fb, w, m in nbrs:
            w = torch.where(m, w.to(h.dtype), h.new_zeros(()))
            if bool((w < 0).any()):
                raise ShapeError(f"{owner}: importance weights of {nt!r} must be >= 0")
            w = w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
            rows = self.tables[nt](fb.ids)  # [B, k, D]
            beta = self.beta[self.neighbor_types.index(nt)]
            h = h + beta * torch.einsum("bk,bkd->bd", w, rows)
        return F.normalize(h, dim=-1) if self.normalize else h

    def extra_repr(self) -> str:
        return (
            f"node_type={self.node_type!r}, neighbor_types={self.neighbor_types}, dim={self.dim}, "
            f"normalize={self.normalize}"
        )
