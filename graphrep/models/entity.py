r"""OmniSage entity encoder: a transformer over own-feature and importance-gated neighbor tokens.

From `"OmniSage: Large Scale, Multi-Entity Heterogeneous Graph Representation
Learning" <https://arxiv.org/abs/2504.17811>`_ (Badrinath et al., KDD'25). Each
entity type has its own encoder into one shared ``D``-dimensional space. The
encoder of a node :math:`v` reads

.. math::
    \big[\,\mathbf{c},\ \mathbf{t}_1(v), \dots, \mathbf{t}_M(v),\
    \mathbf{u}_{1}, \dots, \mathbf{u}_{K}\,\big]

where :math:`\mathbf{c}` is a learned CLS token, :math:`\mathbf{t}_m(v)` are the
node's own feature tokens (one per modality as in ItemSage; a featureless type
uses a hashed-id token and a log-degree token), and each sampled neighbor
:math:`j` of type :math:`\tau` with importance weight :math:`w_j` is one token

.. math::
    \mathbf{u}_j = \sigma\big(\mathrm{MLP}_\tau(\log(1 + \tilde w_j))\big) \odot
    \mathbf{P}_\tau\,\overline{\mathbf{t}}(j) + \mathbf{e}_\tau,
    \qquad \tilde w_j = w_j\,\frac{n_\tau}{\sum_{i \in N_\tau} w_i},

with :math:`\overline{\mathbf{t}}(j)` the mean of the neighbor's *raw* feature
tokens (no recursion: neighbors are represented from their own features, so
inference is one pass per node), :math:`\mathbf{P}_\tau` a per-type projection,
:math:`\mathbf{e}_\tau` a type embedding, and :math:`\tilde w` the weights rescaled
so the :math:`n_\tau` valid neighbors of a type average 1 (the sampler's weights
are L1-normalised, so only ratios carry information; the rescaling gives the
gate a useful input range). The gate is a vector, so it survives the
transformer's pre-norm (a scalar gate would be divided out by LayerNorm).
Neighbor tokens carry no position, so the output is invariant to neighbor
order; masked neighbors are excluded from attention. The output is

.. math::
    \mathbf{z}_v = \frac{\mathrm{MLP}(\mathbf{h}_{\mathrm{CLS}})}
    {\lVert \mathrm{MLP}(\mathbf{h}_{\mathrm{CLS}}) \rVert_2}.

**How it is computed.** The input is a :class:`~graphrep.models.nodes.NodeBatch` (the
padded ``forward`` input is converted to one): raw tokens are computed once per distinct
node an encoder reads, the projection :math:`\mathbf{P}_\tau\overline{\mathbf{t}}(j)` once
per distinct neighbour, and only valid tokens form the (flat) token set; the transformer
is read out at the CLS position only (:func:`~graphrep.models.readout.cls_outputs`), which
is the output of :class:`torch.nn.TransformerEncoder` over the padded, masked sequence up
to float order, at a fraction of its cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, SchemaError, ShapeError
from graphrep.models.content import make_transformer, reset_transformer
from graphrep.models.features import FeatureBatch, FeatureSchema
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.id_embedding import IdEmbedding
from graphrep.models.nodes import NodeBatch
from graphrep.models.readout import TokenSet, cls_outputs
from graphrep.models.tokens import (
    FeatureInputs,
    Neighbors,
    check_neighbors,
    raw_token_modules,
    slot_relative_weights,
)


class EntityEncoder(nn.Module):
    r"""The OmniSage entity encoder (see the module docstring for the math).

    Args:
        node_type (str): the type this encoder embeds.
        schema (FeatureSchema): features of every node type
            (:meth:`FeatureSchema.from_graph`).
        neighbor_types (Sequence[str], optional): types of the sampled neighbors
            it reads. (default: :obj:`()`)
        dim (int, optional): output and token size ``D``. (default: :obj:`128`)
        num_layers (int, optional): transformer layers. (default: :obj:`1`)
        num_heads (int, optional): attention heads. (default: :obj:`4`)
        id_buckets (int, optional): rows of each hashed-id table. (default: :obj:`2**16`)
        mlp_hidden (int, optional): hidden size of the output MLP. (default: :obj:`256`)
        dropout (float, optional): transformer dropout. (default: :obj:`0.0`)
        text_embedder (HashTextEmbedder, optional): text embedder shared with other
            encoders; one is created here if needed. (default: :obj:`None`)
        gate_hidden (int, optional): hidden size of the weight-gate MLPs. (default: :obj:`16`)
        use_id_embedding (bool, optional): give featured types an id token too
            (transductive); by default only featureless types get one. (default: :obj:`None`)
        id_tables (Mapping[str, IdEmbedding], optional): id tables by node type, shared with
            the model's other encoders; types without one get a hashed table of
            ``id_buckets`` rows. (default: :obj:`None`)
        norm_range (float, optional): :math:`r \\ge 0`; with :math:`r > 0` the output's norm
            is learned, :math:`\\lVert \\mathbf{z}_v \\rVert = e^{r \\tanh(\\mathbf{w}^\\top
            \\mathbf{h}_{\\mathrm{CLS}} + b)} \\in [e^{-r}, e^{r}]` (starting at 1), so that
            dot-product retrieval can rank by it (e.g. popularity); 0 keeps unit norms.
            (default: :obj:`0.0`)
    """

    def __init__(
        self,
        node_type: str,
        schema: FeatureSchema,
        neighbor_types: Sequence[str] = (),
        dim: int = 128,
        num_layers: int = 1,
        num_heads: int = 4,
        id_buckets: int = 2**16,
        mlp_hidden: int = 256,
        dropout: float = 0.0,
        text_embedder: HashTextEmbedder | None = None,
        gate_hidden: int = 16,
        use_id_embedding: bool | None = None,
        id_tables: Mapping[str, IdEmbedding] | None = None,
        norm_range: float = 0.0,
    ) -> None:
        super().__init__()
        if not (math.isfinite(norm_range) and norm_range >= 0):
            raise ConfigError(f"EntityEncoder({node_type!r}): norm_range must be >= 0, got {norm_range!r}")
        self.norm_range = float(norm_range)
        self.node_type, self.schema, self.dim = node_type, schema, dim
        self.neighbor_types, self.raw, self._raw_index, self._owned_text = raw_token_modules(
            node_type, schema, neighbor_types, dim, dim, text_embedder, id_buckets,
            use_id_embedding, id_tables,
        )  # fmt: skip
        k = len(self.neighbor_types)
        self.neighbor_proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(k))
        self.gate = nn.ModuleList(
            nn.Sequential(nn.Linear(1, gate_hidden), nn.GELU(), nn.Linear(gate_hidden, dim))
            for _ in range(k)
        )
        self.type_emb = nn.Parameter(torch.empty(k, dim))
        self.cls = nn.Parameter(torch.empty(dim))
        self.transformer = make_transformer(dim, num_layers, num_heads, dropout)
        self.head = nn.Sequential(nn.Linear(dim, mlp_hidden), nn.GELU(), nn.Linear(mlp_hidden, dim))
        self.norm_head = nn.Linear(dim, 1) if self.norm_range > 0 else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (*self.raw, *self.neighbor_proj, self.head[0], self.head[2]):
            m.reset_parameters()
        for g in self.gate:
            g[0].reset_parameters()
            g[2].reset_parameters()
        nn.init.normal_(self.type_emb, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
        if self.norm_head is not None:  # unit norms at the start
            nn.init.zeros_(self.norm_head.weight)
            nn.init.zeros_(self.norm_head.bias)
        reset_transformer(self.transformer)
        if self._owned_text:  # created here (a shared one is left to its owner)
            self._owned_text[0].reset_parameters()

    def raw_tokens(self, node_type: str, fb: FeatureBatch) -> Tensor:
        """Raw-feature tokens ``[*S, T, dim]`` of a batch of ``node_type``."""
        return self.raw[self._raw_index[node_type]](fb)

    def forward(self, batch: FeatureBatch, neighbors: Neighbors | None = None) -> Tensor:
        """Embed ``B`` nodes.

        Args:
            batch: features of the nodes, leading shape ``[B]``.
            neighbors: per neighbor type ``(FeatureBatch [B, k], weights FloatTensor [B, k],
                mask BoolTensor [B, k])`` (e.g. from
                :meth:`~graphrep.models.features.NodeFeaturizer.gather_neighbors`); missing
                types mean no neighbors.

        Returns:
            L2-normalised embeddings ``[B, dim]``.
        """
        owner = f"EntityEncoder({self.node_type!r})"
        if batch.ids.dim() != 1:
            raise ShapeError(
                f"{owner}: batch ids must have shape (B,), got {tuple(batch.ids.shape)}"
            )
        batch.check(self.schema[self.node_type], None, f"{owner} input")
        nbrs = check_neighbors(owner, batch.ids.shape[0], self.neighbor_types, self.schema, neighbors)
        nodes = NodeBatch.from_padded(self.node_type, batch, {t: (f, w, m) for t, f, w, m in nbrs})
        return self.encode(nodes)

    def encode(self, nodes: NodeBatch, inputs: FeatureInputs | None = None) -> Tensor:
        """Embeddings ``[B, dim]`` of the seeds of this encoder's type in ``nodes``."""
        ts = self.tokens(nodes, FeatureInputs(nodes.features) if inputs is None else inputs)
        return self.output(cls_outputs([ts], [self.transformer], [self.cls])[0])

    def tokens(self, nodes: NodeBatch, inputs: FeatureInputs, use_neighbors: bool = True) -> TokenSet:
        """The valid tokens ``[CLS, own tokens, neighbour tokens]`` of every seed, flat."""
        s = nodes.seeds[self.node_type]
        unknown = sorted(set(s.neighbors) - set(self.neighbor_types)) if use_neighbors else []
        if unknown:
            raise SchemaError(
                f"EntityEncoder({self.node_type!r}): neighbor types {unknown} are not ones this "
                f"encoder was built for; known neighbor types: {self.neighbor_types}"
            )
        bsz, dev = len(s), s.rows.device
        own = inputs.tokens(self.raw[self._raw_index[self.node_type]], s.reads[self.node_type])
        raw = {self.node_type: own}
        own = own.index_select(0, s.own)  # [B, T, D]
        t = own.shape[1]
        seeds = torch.arange(bsz, device=dev)
        xs = [self.cls.expand(bsz, self.dim), own.reshape(-1, self.dim)]
        rows = [seeds, seeds.repeat_interleave(t)]
        cols = [torch.zeros_like(seeds), torch.arange(1, t + 1, device=dev).repeat(bsz)]
        width = 1 + t
        for i, nt in enumerate(self.neighbor_types):
            sl = s.neighbors.get(nt) if use_neighbors else None
            if sl is None or len(sl) == 0:
                continue
            if nt not in raw:
                raw[nt] = inputs.tokens(self.raw[self._raw_index[nt]], s.reads[nt])
            base = self.neighbor_proj[i](raw[nt].mean(-2))  # [R, D], once per distinct neighbour
            rel = slot_relative_weights(sl.weight.to(base.dtype), sl.seed, bsz)
            gate = torch.sigmoid(self.gate[i](torch.log1p(rel).unsqueeze(-1)))
            xs.append(gate * base.index_select(0, sl.node) + self.type_emb[i])
            rows.append(sl.seed)
            cols.append(width + sl.column)
            width += sl.width
        return TokenSet(torch.cat(xs), torch.cat(rows), torch.cat(cols), bsz, width)

    def output(self, h: Tensor) -> Tensor:
        """``normalize(MLP(h))`` (times the learned norm with ``norm_range > 0``): the
        embedding from the transformer's CLS output."""
        z = F.normalize(self.head(h), dim=-1)
        if self.norm_head is None:
            return z
        return z * torch.exp(self.norm_range * torch.tanh(self.norm_head(h)))

    def extra_repr(self) -> str:
        return f"node_type={self.node_type!r}, neighbor_types={self.neighbor_types}, dim={self.dim}"
