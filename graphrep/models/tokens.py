r"""What the encoders read: raw-feature tokens of a node type and checked neighbour inputs.

Shared by :class:`~graphrep.models.entity.EntityEncoder`,
:class:`~graphrep.models.pinsage.PinSage` and :class:`~graphrep.models.light.LightEncoder`
(the encoders never import each other): :class:`RawFeatureTokens` turns a
:class:`~graphrep.models.features.FeatureBatch` into per-modality tokens (plus id and
log-degree tokens for featureless types), :func:`check_neighbors` validates an encoder's
sampled-neighbour input, :func:`relative_weights` rescales importance weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError, GraphValidationError, SchemaError, ShapeError
from graphrep.models.content import ModalityTokens
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeSchema
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.id_embedding import IdEmbedding

Neighbors = Mapping[str, tuple[FeatureBatch, Tensor, Tensor]]


class RawFeatureTokens(nn.Module):
    r"""Tokens ``[*S, T, dim]`` of a node type from its raw features.

    Featured types: one token per modality (:class:`ModalityTokens`). Featureless
    types (or ``use_id=True``): an id token from the type's
    :class:`~graphrep.models.id_embedding.IdEmbedding` (exact, hashed or hybrid rows) and,
    for featureless types, a log-degree token :math:`\mathbf{a}\log(1 + \deg v) + \mathbf{b}`.

    Args:
        schema (NodeSchema): the type's features.
        dim (int): token size.
        text_embedder (HashTextEmbedder, optional): shared text embedder.
        id_buckets (int): rows of the hashed-id table created when no ``id_table`` is
            given. (default: :obj:`2**16`)
        use_id (bool, optional): add an id token; default only for featureless types.
        id_table (IdEmbedding, optional): the type's id table, shared with every other
            encoder that reads the type (:class:`~graphrep.models.omnisage.OmniSage` owns one
            per type); a hashed table of ``id_buckets`` rows is created if None.
    """

    def __init__(
        self,
        schema: NodeSchema,
        dim: int,
        text_embedder: HashTextEmbedder | None = None,
        id_buckets: int = 2**16,
        use_id: bool | None = None,
        id_table: IdEmbedding | None = None,
    ) -> None:
        super().__init__()
        self.schema = schema
        self.use_id = schema.featureless if use_id is None else bool(use_id)
        self.modalities = None if schema.featureless else ModalityTokens(schema, dim, text_embedder)
        if self.use_id and id_table is None:
            id_table = IdEmbedding(schema.num_nodes, dim, "hashed", num_buckets=id_buckets)
        if id_table is not None and id_table.dim != dim:
            raise ConfigError(
                f"id table of node type {schema.node_type!r} has dim {id_table.dim}, tokens need {dim}"
            )
        self.id_emb = id_table if self.use_id else None
        self.degree = nn.Linear(1, dim) if schema.featureless else None
        self.num_tokens = schema.num_modalities + int(self.use_id) + int(schema.featureless)

    def reset_parameters(self) -> None:
        for m in (self.modalities, self.id_emb, self.degree):
            if m is not None:
                m.reset_parameters()

    def forward(self, fb: FeatureBatch) -> Tensor:
        inputs = None if self.modalities is None else self.modalities.inputs(fb)
        return self.from_inputs(inputs, fb.ids, fb.log_degree)

    def from_inputs(
        self, inputs: list[Tensor] | None, ids: Tensor, log_degree: Tensor | None
    ) -> Tensor:
        """Tokens ``[*S, T, dim]`` from the modality inputs (:meth:`ModalityTokens.inputs`),
        ids ``S`` and log-degrees ``S + [1]`` of some nodes."""
        toks = [] if self.modalities is None else [self.modalities.project(inputs or [])]
        if self.id_emb is not None:
            toks.append(self.id_emb(ids).unsqueeze(-2))
        if self.degree is not None:
            toks.append(self.degree(log_degree.to(self.degree.weight.dtype)).unsqueeze(-2))
        return torch.cat(toks, dim=-2) if len(toks) > 1 else toks[0]


class FeatureInputs:
    """The modality inputs (:meth:`ModalityTokens.inputs`) of every row of a
    :class:`~graphrep.models.nodes.NodeBatch`'s ``features``, computed once per node type and
    text embedder however many encoders read the type, and gathered by row.

    Args:
        features: node type -> :class:`FeatureBatch` ``[F_t]``.
    """

    def __init__(self, features: Mapping[str, FeatureBatch]) -> None:
        self.features = features
        self._cache: dict[tuple[str, int], list[Tensor]] = {}

    def prepare(self, modalities: Mapping[str, ModalityTokens]) -> None:
        """Compute the inputs of several node types (each read by ``modalities[type]``) at
        once: the text of all types sharing a text embedder goes through it in one call."""
        by_embedder: dict[int, list[str]] = {}
        for t, mod in modalities.items():
            if t in self.features and (t, id(mod.text_embedder)) not in self._cache:
                by_embedder.setdefault(id(mod.text_embedder), []).append(t)
        for types in by_embedder.values():
            mods = [modalities[t] for t in types]
            pairs = [(self.features[t].tokens[n], self.features[t].token_mask[n])
                     for t, m in zip(types, mods, strict=True) for n in m.schema.text]  # fmt: skip
            text = iter(mods[0].text_embedder.embed_many(pairs) if pairs else [])
            for t, m in zip(types, mods, strict=True):
                own = [next(text) for _ in m.schema.text]
                self._cache[(t, id(m.text_embedder))] = m.inputs(self.features[t], own)

    def tokens(self, raw: RawFeatureTokens, rows: Tensor) -> Tensor:
        """``raw``'s tokens ``[R, T, dim]`` of rows ``rows`` of its type's features."""
        fb = self.features[raw.schema.node_type]
        inputs = None
        if raw.modalities is not None:
            key = (raw.schema.node_type, id(raw.modalities.text_embedder))
            if key not in self._cache:
                self._cache[key] = raw.modalities.inputs(fb)
            inputs = [x.index_select(0, rows) for x in self._cache[key]]
        deg = None if fb.log_degree is None else fb.log_degree[rows]
        return raw.from_inputs(inputs, fb.ids[rows], deg)


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


def slot_relative_weights(weight: Tensor, seed: Tensor, num_rows: int) -> Tensor:
    r""":func:`relative_weights` of flat valid slots: :math:`w_j n_b / \sum_{i \in b} w_i`
    over the slots ``j`` of each seed ``b = seed[j]`` (``num_rows`` seeds)."""
    if bool((weight < 0).any()):
        raise GraphValidationError("importance weights must be >= 0 for unmasked neighbors")
    total = weight.new_zeros(num_rows).index_add_(0, seed, weight)
    count = weight.new_zeros(num_rows).index_add_(0, seed, torch.ones_like(weight))
    return weight * count[seed] / total[seed].clamp_min(torch.finfo(weight.dtype).tiny)


def raw_token_modules(
    node_type: str,
    schema: FeatureSchema,
    neighbor_types: Sequence[str],
    token_dim: int,
    text_dim: int,
    text_embedder: HashTextEmbedder | None,
    id_buckets: int,
    use_id_embedding: bool | None,
    id_tables: Mapping[str, IdEmbedding] | None = None,
) -> tuple[list[str], nn.ModuleList, dict[str, int], list[HashTextEmbedder] | None]:
    """One :class:`RawFeatureTokens` per type an encoder reads (its own, then its neighbors').

    Returns ``(neighbor_types, modules, index of each type in modules, owned text embedder)``;
    the text embedder is created (and owned) only if none is shared and some type has text.
    It is returned in a list so it is not registered twice as a submodule. Types with an
    entry in ``id_tables`` read that (shared) id table.
    """
    neighbor_types = check_encoder_types(node_type, schema, neighbor_types)
    types = [node_type, *(t for t in neighbor_types if t != node_type)]
    owned = None
    if text_embedder is None and any(schema[t].text for t in types):
        text_embedder = HashTextEmbedder(dim=text_dim)
        owned = [text_embedder]
    modules = nn.ModuleList(
        RawFeatureTokens(
            schema[t], token_dim, text_embedder, id_buckets, use_id_embedding,
            id_tables[t] if id_tables is not None and t in id_tables else None,
        )
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
