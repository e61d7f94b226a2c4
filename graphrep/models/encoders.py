"""Choosing each node type's encoder and its id table, for :class:`~graphrep.models.omnisage.OmniSage`.

Every encoded type gets one encoder into the shared ``D``-space:

* ``"entity"``: :class:`~graphrep.models.entity.EntityEncoder` (the OmniSage transformer);
* ``"pinsage"``: :class:`~graphrep.models.pinsage.PinSage` (baseline);
* ``"light"``: :class:`~graphrep.models.light.LightEncoder` (id row + pooled neighbour rows);
* ``"auto"``: ``"light"`` for content-free types, ``"entity"`` for the others.

Id tables (:class:`~graphrep.models.id_embedding.IdEmbedding`) are made **once per node
type** and shared by every encoder that reads the type, as its own type or as a
neighbour type, so an item's own vector and the item as a user's neighbour are one
row. A type needs an id table when it is content-free, when ``use_id_embedding`` asks
for ids on every type, or when a light encoder reads it. Each table is exact, hashed or
hybrid as :class:`IdTableSpec` says (``"auto"``: exact under the byte budget).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from graphrep.errors import ConfigError
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureSchema
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.id_embedding import IdEmbedding, budget_rows, choose_mode
from graphrep.models.light import LightEncoder
from graphrep.models.pinsage import PinSage

ENCODERS = ("entity", "pinsage", "light", "auto")


@dataclass(frozen=True)
class IdTableSpec:
    """How id tables are sized.

    Args:
        mode: ``"exact"``, ``"hashed"``, ``"hybrid"`` or ``"auto"`` (exact when the table
            fits ``budget_bytes``, else hybrid).
        budget_bytes: memory allowed per table (float32 rows).
        num_buckets: hashed rows (hashed tables, and the tail of hybrid ones).
        sparse: sparse gradients (for the trainer's row-wise sparse optimizer).
    """

    mode: str = "auto"
    budget_bytes: int = 512 * 2**20
    num_buckets: int = 2**16
    sparse: bool = True

    def table(self, num_nodes: int, dim: int) -> IdEmbedding:
        """The :class:`IdEmbedding` of a type with ``num_nodes`` nodes and width ``dim``."""
        mode = choose_mode(self.mode, num_nodes, dim, self.budget_bytes)
        exact = max(0, budget_rows(self.budget_bytes, dim) - self.num_buckets)
        return IdEmbedding(num_nodes, dim, mode, num_buckets=self.num_buckets,
                           num_exact=exact, sparse=self.sparse)  # fmt: skip


def encoder_kind(encoder: str, schema: FeatureSchema, node_type: str) -> str:
    """The encoder class name (``entity``/``pinsage``/``light``) of ``node_type``."""
    if encoder not in ENCODERS:
        raise ConfigError(f"model.encoder must be one of {list(ENCODERS)}, got {encoder!r}")
    if encoder == "auto":
        return "light" if schema[node_type].featureless else "entity"
    return encoder


def id_table_types(
    schema: FeatureSchema,
    neighbor_types: Mapping[str, Sequence[str]],
    encoder: str,
    use_id_embedding: bool | None = None,
) -> list[str]:
    """Node types that need an id table, in first-read order."""
    out: list[str] = []
    for nt, nbrs in neighbor_types.items():
        light = encoder_kind(encoder, schema, nt) == "light"
        for t in (nt, *nbrs):
            need = light or bool(use_id_embedding) or (use_id_embedding is None and schema[t].featureless)
            if need and t not in out:
                out.append(t)
    return out


def build_id_tables(
    schema: FeatureSchema,
    neighbor_types: Mapping[str, Sequence[str]],
    encoder: str,
    width: int,
    spec: IdTableSpec,
    use_id_embedding: bool | None = None,
) -> nn.ModuleDict:
    """One :class:`IdEmbedding` of width ``width`` per type of :func:`id_table_types`."""
    types = id_table_types(schema, neighbor_types, encoder, use_id_embedding)
    return nn.ModuleDict({t: spec.table(schema[t].num_nodes, width) for t in types})


def build_encoders(
    schema: FeatureSchema,
    neighbor_types: Mapping[str, Sequence[str]],
    encoder: str = "entity",
    dim: int = 128,
    text_embedder: HashTextEmbedder | None = None,
    id_tables: Mapping[str, IdEmbedding] | None = None,
    light_kwargs: Mapping[str, Any] | None = None,
    norm_ranges: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> nn.ModuleDict:
    """One encoder per node type, all into the same ``dim``-space, sharing one text embedder
    and (when given) one id table per type.

    Args:
        schema: features of every node type.
        neighbor_types: node type -> neighbor types its encoder reads (the keys
            choose which types get an encoder).
        encoder: ``"entity"``, ``"pinsage"``, ``"light"`` or ``"auto"`` (module docstring).
        dim: shared output dimension ``D``.
        text_embedder: shared text embedder (created with size ``dim`` if None).
        id_tables: shared id tables by type (:func:`build_id_tables`); encoders create
            hashed tables of their own for types missing here.
        light_kwargs: arguments of every :class:`LightEncoder` (``normalize``, ...); a list
            of node types as ``normalize`` normalises the outputs of those types only.
        norm_ranges: node type -> ``norm_range`` of its :class:`EntityEncoder` (learned
            output norms; other types keep unit norms).
        **kwargs: passed to every entity / PinSage encoder.
    """
    if text_embedder is None and any(schema[t].text for t in schema.node_types):
        text_embedder = HashTextEmbedder(dim=dim)
    out = nn.ModuleDict()
    for nt, nbr in neighbor_types.items():
        if "." in nt or not nt:
            raise ConfigError(f"node type {nt!r} cannot name a module (no '.' allowed)")
        kind = encoder_kind(encoder, schema, nt)
        if kind == "light":
            light = {k: v for k, v in kwargs.items() if k == "id_buckets"} | dict(light_kwargs or {})
            if isinstance(light.get("normalize"), list | tuple):
                light["normalize"] = nt in light["normalize"]
            out[nt] = LightEncoder(nt, schema, nbr, dim=dim, id_tables=id_tables, **light)
        else:
            cls = EntityEncoder if kind == "entity" else PinSage
            extra = {}
            if nt in (norm_ranges or {}):
                if cls is not EntityEncoder:
                    raise ConfigError(f"learned output norms need the entity encoder; {nt!r} has {kind!r}")
                extra["norm_range"] = float(norm_ranges[nt])  # type: ignore[index]
            out[nt] = cls(nt, schema, nbr, dim=dim, text_embedder=text_embedder,
                          id_tables=id_tables, **kwargs, **extra)  # fmt: skip
    return out
