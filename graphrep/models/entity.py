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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrep.errors import ConfigError, GraphValidationError, SchemaError, ShapeError
from graphrep.models.content import ModalityTokens, make_transformer, reset_transformer
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeSchema
from graphrep.models.hash_text import HashIdEmbedding, HashTextEmbedder

Neighbors = Mapping[str, tuple[FeatureBatch, Tensor, Tensor]]


class RawFeatureTokens(nn.Module):
    r"""Tokens ``[*S, T, dim]`` of a node type from its raw features.

    Featured types: one token per modality (:class:`ModalityTokens`). Featureless
    types (or :obj:`use_id=True`): a hashed-id token
    :math:`\sum_k \mathbf{E}[h_k(v) \bmod N]` and, for featureless types, a
    log-degree token :math:`\mathbf{a}\log(1 + \deg v) + \mathbf{b}`.

    Args:
        schema (NodeSchema): the type's features.
        dim (int): token size.
        text_embedder (HashTextEmbedder, optional): shared text embedder.
        id_buckets (int): rows of the hashed-id table. (default: :obj:`2**16`)
        use_id (bool, optional): add an id token; default only for featureless types.
    """

    def __init__(
        self,
        schema: NodeSchema,
        dim: int,
        text_embedder: HashTextEmbedder | None = None,
        id_buckets: int = 2**16,
        use_id: bool | None = None,
    ) -> None:
        super().__init__()
        self.schema = schema
        self.use_id = schema.featureless if use_id is None else bool(use_id)
        self.modalities = None if schema.featureless else ModalityTokens(schema, dim, text_embedder)
        self.id_emb = HashIdEmbedding(id_buckets, dim) if self.use_id else None
        self.degree = nn.Linear(1, dim) if schema.featureless else None
        self.num_tokens = schema.num_modalities + int(self.use_id) + int(schema.featureless)

    def reset_parameters(self) -> None:
        for m in (self.modalities, self.id_emb, self.degree):
            if m is not None:
                m.reset_parameters()

    def forward(self, fb: FeatureBatch) -> Tensor:
        toks = [] if self.modalities is None else [self.modalities(fb)]
        if self.id_emb is not None:
            toks.append(self.id_emb(fb.ids).unsqueeze(-2))
        if self.degree is not None:
            toks.append(self.degree(fb.log_degree.to(self.degree.weight.dtype)).unsqueeze(-2))
        return torch.cat(toks, dim=-2)


def check_neighbors(
    owner: str,
    batch_size: int,
    known: Sequence[str],
    schema: FeatureSchema,
    neighbors: Neighbors | None,
) -> list[tuple[str, FeatureBatch, Tensor, Tensor]]:
    """Validate an encoder's ``neighbors``; returns ``(type, fb, weights, mask)`` by ``known``.

    Raises:
        SchemaError: a neighbor type the encoder was not built for.
        ShapeError: wrong dtypes (ids not long, weights not float, mask not bool) or shapes.
    """
    if neighbors is None:
        return []
    if not isinstance(neighbors, Mapping):
        raise ShapeError(
            f"{owner}: neighbors must be a mapping node_type -> (batch, weights, mask)"
        )
    for nt in neighbors:
        if nt not in known:
            raise SchemaError(
                f"{owner}: neighbor type {nt!r} is not one this encoder was built for; "
                f"known neighbor types: {list(known)}"
            )
    out = []
    for nt in known:
        if nt not in neighbors:
            continue
        item = neighbors[nt]
        if not isinstance(item, tuple | list) or len(item) != 3:
            raise ShapeError(
                f"{owner}: neighbors[{nt!r}] must be a (FeatureBatch, weights, mask) tuple"
            )
        fb, w, m = item
        what = f"{owner} neighbors[{nt!r}]"
        if not isinstance(fb, FeatureBatch):
            raise ShapeError(f"{what}: expected a FeatureBatch, got {type(fb).__name__}")
        if fb.ids.dim() != 2 or fb.ids.shape[0] != batch_size:
            raise ShapeError(
                f"{what}: neighbor ids must have shape (B={batch_size}, k), "
                f"got {tuple(fb.ids.shape)}"
            )
        fb.check(schema[nt], tuple(fb.ids.shape), what)
        if not isinstance(w, Tensor) or not w.is_floating_point() or w.shape != fb.ids.shape:
            raise ShapeError(
                f"{what}: weights must be a float tensor of shape {tuple(fb.ids.shape)}, "
                f"got {_desc(w)}"
            )
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.shape != fb.ids.shape:
            raise ShapeError(
                f"{what}: mask must be a bool tensor of shape {tuple(fb.ids.shape)}, got {_desc(m)}"
            )
        out.append((nt, fb, w, m))
    return out


def relative_weights(w: Tensor, mask: Tensor) -> Tensor:
    r"""Weights rescaled so a row's valid entries average 1: :math:`w_j n / \sum_i w_i`.

    Masked entries become 0; a row whose valid weights are all 0 stays 0.
    """
    w = torch.where(mask, w, w.new_zeros(()))
    if bool((w < 0).any()):
        raise GraphValidationError("importance weights must be >= 0 for unmasked neighbors")
    total = w.sum(-1, keepdim=True)
    count = mask.sum(-1, keepdim=True).to(w.dtype)
    return w * count / total.clamp_min(torch.finfo(w.dtype).tiny)


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
        use_id_embedding (bool, optional): give featured types a hashed-id token too
            (transductive); by default only featureless types get one. (default: :obj:`None`)
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
    ) -> None:
        super().__init__()
        self.node_type, self.schema, self.dim = node_type, schema, dim
        self.neighbor_types, self.raw, self._raw_index, self._owned_text = raw_token_modules(
            node_type, schema, neighbor_types, dim, dim, text_embedder, id_buckets, use_id_embedding
        )
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
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (*self.raw, *self.neighbor_proj, self.head[0], self.head[2]):
            m.reset_parameters()
        for g in self.gate:
            g[0].reset_parameters()
            g[2].reset_parameters()
        nn.init.normal_(self.type_emb, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
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
                :meth:`NodeFeaturizer.gather_neighbors`); missing types mean no neighbors.

        Returns:
            L2-normalised embeddings ``[B, dim]``.
        """
        owner = f"EntityEncoder({self.node_type!r})"
        if batch.ids.dim() != 1:
            raise ShapeError(
                f"{owner}: batch ids must have shape (B,), got {tuple(batch.ids.shape)}"
            )
        batch.check(self.schema[self.node_type], None, f"{owner} input")
        bsz = batch.ids.shape[0]
        nbrs = check_neighbors(owner, bsz, self.neighbor_types, self.schema, neighbors)
        own = self.raw_tokens(self.node_type, batch)
        seq = [self.cls.expand(bsz, 1, self.dim), own]
        pad = [torch.zeros(bsz, 1 + own.shape[1], dtype=torch.bool, device=own.device)]
        for nt, fb, w, m in nbrs:
            i = self.neighbor_types.index(nt)
            raw = self.raw_tokens(nt, fb).mean(-2)  # [B, k, dim]
            rel = relative_weights(w.to(raw.dtype), m)
            gate = torch.sigmoid(self.gate[i](torch.log1p(rel).unsqueeze(-1)))
            tok = gate * self.neighbor_proj[i](raw) + self.type_emb[i]
            seq.append(torch.where(m.unsqueeze(-1), tok, tok.new_zeros(())))
            pad.append(~m)
        h = self.transformer(torch.cat(seq, 1), src_key_padding_mask=torch.cat(pad, 1))
        return F.normalize(self.head(h[:, 0]), dim=-1)

    def extra_repr(self) -> str:
        return f"node_type={self.node_type!r}, neighbor_types={self.neighbor_types}, dim={self.dim}"


def build_encoders(
    schema: FeatureSchema,
    neighbor_types: Mapping[str, Sequence[str]],
    encoder: str = "entity",
    dim: int = 128,
    text_embedder: HashTextEmbedder | None = None,
    **kwargs: Any,
) -> nn.ModuleDict:
    """One encoder per node type, all into the same ``dim``-space, sharing one text embedder.

    Args:
        schema: features of every node type.
        neighbor_types: node type -> neighbor types its encoder reads (the keys
            choose which types get an encoder).
        encoder: ``"entity"`` (:class:`EntityEncoder`) or ``"pinsage"``
            (:class:`~graphrep.models.pinsage.PinSage`).
        dim: shared output dimension ``D``.
        text_embedder: shared text embedder (created with size ``dim`` if None).
        **kwargs: passed to every encoder.
    """
    from graphrep.models.pinsage import PinSage

    classes = {"entity": EntityEncoder, "pinsage": PinSage}
    if encoder not in classes:
        raise ConfigError(f"encoder must be one of {sorted(classes)}, got {encoder!r}")
    if text_embedder is None and any(schema[t].text for t in schema.node_types):
        text_embedder = HashTextEmbedder(dim=dim)
    out = nn.ModuleDict()
    for nt, nbr in neighbor_types.items():
        if "." in nt or not nt:
            raise ConfigError(f"node type {nt!r} cannot name a module (no '.' allowed)")
        out[nt] = classes[encoder](nt, schema, nbr, dim=dim, text_embedder=text_embedder, **kwargs)
    return out


def raw_token_modules(
    node_type: str,
    schema: FeatureSchema,
    neighbor_types: Sequence[str],
    token_dim: int,
    text_dim: int,
    text_embedder: HashTextEmbedder | None,
    id_buckets: int,
    use_id_embedding: bool | None,
) -> tuple[list[str], nn.ModuleList, dict[str, int], list[HashTextEmbedder] | None]:
    """One :class:`RawFeatureTokens` per type an encoder reads (its own, then its neighbors').

    Returns ``(neighbor_types, modules, index of each type in modules, owned text embedder)``;
    the text embedder is created (and owned) only if none is shared and some type has text.
    It is returned in a list so it is not registered twice as a submodule.
    """
    neighbor_types = check_encoder_types(node_type, schema, neighbor_types)
    types = [node_type, *(t for t in neighbor_types if t != node_type)]
    owned = None
    if text_embedder is None and any(schema[t].text for t in types):
        text_embedder = HashTextEmbedder(dim=text_dim)
        owned = [text_embedder]
    modules = nn.ModuleList(
        RawFeatureTokens(schema[t], token_dim, text_embedder, id_buckets, use_id_embedding)
        for t in types
    )
    return neighbor_types, modules, {t: i for i, t in enumerate(types)}, owned


def check_encoder_types(
    node_type: str, schema: FeatureSchema, neighbor_types: Sequence[str]
) -> list[str]:
    """Validate an encoder's node type and neighbor types against ``schema``; returns the list."""
    if isinstance(neighbor_types, str):
        raise ConfigError(
            f"neighbor_types must be a sequence of node types, got the str {neighbor_types!r}"
        )
    schema[node_type]  # raises SchemaError naming the known types
    out = list(neighbor_types)
    for t in out:
        schema[t]
    if len(set(out)) != len(out):
        raise ConfigError(f"neighbor_types has duplicates: {out}")
    return out


def _desc(x: object) -> str:
    return (
        f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
    )
