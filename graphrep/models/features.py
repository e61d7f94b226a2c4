"""Node features as torch tensors: ``FeatureSchema``, ``FeatureBatch``, ``NodeFeaturizer``.

The encoders never see the graph: a :class:`NodeFeaturizer` gathers, for one node
type and an id tensor of any shape ``S`` (``[B]`` for seeds, ``[B, k]`` for
sampled neighbors), every feature of those nodes into a :class:`FeatureBatch`.
A :class:`FeatureSchema` describes the features of every node type (dense
dimensions, token feature names) so encoders can be built from a graph without
touching its arrays.

Example:
    >>> schema = FeatureSchema.from_graph(graph)
    >>> featurizer = NodeFeaturizer(graph, max_tokens=32)
    >>> fb = featurizer("pin", torch.tensor([[0, 3], [2, 2]]))
    >>> fb.dense["image"].shape, fb.tokens["text"].shape
    (torch.Size([2, 2, 64]), torch.Size([2, 2, 32]))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import GraphValidationError, SchemaError, ShapeError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged


@dataclass(frozen=True)
class NodeSchema:
    """Features of one node type.

    Args:
        node_type: the node type.
        num_nodes: node count (used to size nothing; informative).
        dense: dense feature name -> dimension ``d``.
        text: names of token-id (ragged) features, in a fixed order.
        vocab: per token feature, ``max token id + 1`` (a size hint; hashing
            embedders do not need it).
    """

    node_type: str
    num_nodes: int = 0
    dense: dict[str, int] = field(default_factory=dict)
    text: tuple[str, ...] = ()
    vocab: dict[str, int] = field(default_factory=dict)

    @property
    def featureless(self) -> bool:
        """True when the type has neither dense nor token features (e.g. users)."""
        return not self.dense and not self.text

    @property
    def num_modalities(self) -> int:
        """How many feature tokens a node has (one per dense feature, one per token feature)."""
        return len(self.dense) + len(self.text)


@dataclass(frozen=True)
class FeatureSchema:
    """Feature schema of every node type of a graph (``schema["pin"]`` is a :class:`NodeSchema`)."""

    types: dict[str, NodeSchema]

    @classmethod
    def from_graph(
        cls, graph: HeteroGraph, extra: Mapping[str, Mapping[str, np.ndarray]] | None = None
    ) -> FeatureSchema:
        """Read dense dimensions, token feature names and vocabulary hints from ``graph``
        (and the extra dense features ``extra[type][name]``, after the graph's own)."""
        types = {}
        for nt in graph.node_types:
            dense, text, vocab = {}, [], {}
            for name, value in {**graph.features[nt], **(extra or {}).get(nt, {})}.items():
                if isinstance(value, Ragged):
                    text.append(name)
                    vals = value.values
                    vocab[name] = int(vals.max()) + 1 if len(vals) else 0
                else:
                    dense[name] = int(value.shape[1])
            types[nt] = NodeSchema(nt, graph.num_nodes[nt], dense, tuple(text), vocab)
        return cls(types)

    def __getitem__(self, node_type: str) -> NodeSchema:
        if node_type not in self.types:
            raise SchemaError(
                f"feature schema has no node type {node_type!r}; known types: {sorted(self.types)}"
            )
        return self.types[node_type]

    def __contains__(self, node_type: object) -> bool:
        return node_type in self.types

    @property
    def node_types(self) -> list[str]:
        return list(self.types)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for configs and checkpoints)."""
        return {
            nt: {
                "num_nodes": s.num_nodes,
                "dense": dict(s.dense),
                "text": list(s.text),
                "vocab": dict(s.vocab),
            }
            for nt, s in self.types.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> FeatureSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(
            {
                nt: NodeSchema(
                    nt,
                    int(d.get("num_nodes", 0)),
                    {k: int(v) for k, v in d["dense"].items()},
                    tuple(d["text"]),
                    {k: int(v) for k, v in d.get("vocab", {}).items()},
                )
                for nt, d in data.items()
            }
        )


@dataclass
class FeatureBatch:
    """Features of nodes of ONE type, any leading shape ``S`` (``[B]`` or ``[B, k]``).

    Args:
        node_type: the node type.
        ids: ``LongTensor S`` internal node ids.
        dense: feature name -> ``FloatTensor S + [d]``.
        tokens: token feature name -> ``LongTensor S + [L]`` (padded token ids).
        token_mask: token feature name -> ``BoolTensor S + [L]`` (True = real token).
        log_degree: ``FloatTensor S + [1]``, ``log(1 + degree)``.
    """

    node_type: str
    ids: Tensor
    dense: dict[str, Tensor] = field(default_factory=dict)
    tokens: dict[str, Tensor] = field(default_factory=dict)
    token_mask: dict[str, Tensor] = field(default_factory=dict)
    log_degree: Tensor | None = None

    @property
    def shape(self) -> torch.Size:
        """The leading shape ``S``."""
        return self.ids.shape

    def to(self, device: torch.device | str, non_blocking: bool = False) -> FeatureBatch:
        """Copy every tensor to ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def take(self, index: Tensor) -> FeatureBatch:
        """Rows ``index`` (any shape ``S'``) of a batch with leading shape ``[N]``."""
        return self._map(lambda t: t[index])

    def flatten(self) -> FeatureBatch:
        """The same nodes with leading shape ``[prod(S)]``."""
        n = self.ids.numel()
        return self._map(lambda t: t.reshape(n, *t.shape[self.ids.dim():]))

    @staticmethod
    def cat(batches: list[FeatureBatch]) -> FeatureBatch:
        """Batches of one type with leading shape ``[N_i]`` one after the other."""
        first = batches[0]
        if len(batches) == 1:
            return first

        def cat(get: Any) -> Tensor:
            return torch.cat([get(b) for b in batches])

        return FeatureBatch(
            first.node_type,
            cat(lambda b: b.ids),
            {k: cat(lambda b, k=k: b.dense[k]) for k in first.dense},
            {k: cat(lambda b, k=k: b.tokens[k]) for k in first.tokens},
            {k: cat(lambda b, k=k: b.token_mask[k]) for k in first.token_mask},
            None if first.log_degree is None else cat(lambda b: b.log_degree),
        )

    def _map(self, fn: Any) -> FeatureBatch:
        return FeatureBatch(
            self.node_type,
            fn(self.ids),
            {k: fn(v) for k, v in self.dense.items()},
            {k: fn(v) for k, v in self.tokens.items()},
            {k: fn(v) for k, v in self.token_mask.items()},
            None if self.log_degree is None else fn(self.log_degree),
        )

    def pin_memory(self) -> FeatureBatch:
        """Page-locked copies (for fast asynchronous host-to-GPU transfer)."""
        out = FeatureBatch(self.node_type, self.ids)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Tensor):
                setattr(out, f.name, v.pin_memory())
            elif isinstance(v, dict):
                setattr(out, f.name, {k: t.pin_memory() for k, t in v.items()})
        return out

    def check(
        self, schema: NodeSchema, shape: tuple[int, ...] | None = None, what: str = ""
    ) -> None:
        """Raise :class:`ShapeError`/:class:`SchemaError` unless the batch matches ``schema``.

        Args:
            schema: the node type's schema (dense dims and token feature names).
            shape: expected leading shape ``S`` (only its length is checked when None).
            what: prefix for messages, e.g. ``"neighbors['board']"``.
        """
        where = f"{what or 'feature batch'} (node type {self.node_type!r})"
        if self.node_type != schema.node_type:
            raise SchemaError(
                f"{where}: expected a batch of node type {schema.node_type!r}, "
                f"got {self.node_type!r}"
            )
        ids = self.ids
        if not isinstance(ids, Tensor) or ids.dtype != torch.long:
            raise ShapeError(f"{where}: ids must be a torch.long tensor, got {_desc(ids)}")
        if shape is not None and tuple(ids.shape) != tuple(shape):
            raise ShapeError(f"{where}: ids have shape {tuple(ids.shape)}, expected {tuple(shape)}")
        lead = tuple(ids.shape)
        for name, d in schema.dense.items():
            x = self.dense.get(name)
            if x is None:
                raise SchemaError(
                    f"{where}: missing dense feature {name!r}; schema has {schema.dense}"
                )
            if not x.is_floating_point() or tuple(x.shape) != (*lead, d):
                raise ShapeError(
                    f"{where}: dense feature {name!r} must be a float tensor of shape "
                    f"{(*lead, d)}, "
                    f"got {_desc(x)}"
                )
        for name in schema.text:
            t, m = self.tokens.get(name), self.token_mask.get(name)
            if t is None or m is None:
                raise SchemaError(
                    f"{where}: missing token feature {name!r} (tokens and token_mask)"
                )
            if t.dtype != torch.long or t.dim() != len(lead) + 1 or tuple(t.shape[:-1]) != lead:
                raise ShapeError(
                    f"{where}: tokens {name!r} must be a torch.long tensor of shape "
                    f"{(*lead, 'L')}, "
                    f"got {_desc(t)}"
                )
            if m.dtype != torch.bool or m.shape != t.shape:
                raise ShapeError(
                    f"{where}: token_mask {name!r} must be a bool tensor of shape "
                    f"{tuple(t.shape)}, "
                    f"got {_desc(m)}"
                )
        if schema.featureless:
            d = self.log_degree
            if d is None or not d.is_floating_point() or tuple(d.shape) != (*lead, 1):
                raise ShapeError(
                    f"{where}: featureless types need log_degree as a float tensor of shape "
                    f"{(*lead, 1)}, got {_desc(d)}"
                )


def _desc(x: object) -> str:
    if isinstance(x, Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


class NodeFeaturizer:
    """Gathers node features from a :class:`HeteroGraph` into :class:`FeatureBatch` es.

    Arrays stay as the graph holds them (possibly memory-mapped); rows are
    gathered with numpy fancy indexing on the flattened ids, so one call costs
    one gather per feature whatever the leading shape.

    Args:
        graph: the graph whose ``features`` are read.
        max_tokens: token features are truncated/padded to this many tokens.
        extra: more dense features ``{type: {name: [n, d] array}}`` read as if the graph
            held them (e.g. :func:`graphrep.models.propagated.propagated_features`).
    """

    def __init__(
        self,
        graph: HeteroGraph,
        max_tokens: int = 32,
        extra: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise GraphValidationError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        self.graph = graph
        self.max_tokens = max_tokens
        self.extra: dict[str, dict[str, np.ndarray]] = {}
        for nt, feats in (extra or {}).items():
            if nt not in graph.num_nodes:
                raise SchemaError(f"extra features: unknown node type {nt!r}")
            for name, value in feats.items():
                if name in graph.features[nt]:
                    raise SchemaError(f"extra feature {name!r} of {nt!r} shadows the graph's own")
                value = np.asarray(value)
                if value.ndim != 2 or len(value) != graph.num_nodes[nt]:
                    raise ShapeError(
                        f"extra feature {name!r} of {nt!r}: expected [{graph.num_nodes[nt]}, d], "
                        f"got {value.shape}"
                    )
                self.extra.setdefault(nt, {})[name] = value
        self.schema = FeatureSchema.from_graph(graph, self.extra)
        self._log_degree: dict[str, np.ndarray] = {}

    def feature_dims(self, node_type: str) -> dict[str, Any]:
        """``{"dense": {name: d}, "text": [names], "vocab": {name: size}}`` of a node type."""
        s = self.schema[node_type]
        return {"dense": dict(s.dense), "text": list(s.text), "vocab": dict(s.vocab)}

    def log_degree(self, node_type: str) -> np.ndarray:
        """``log(1 + degree)`` ``[n, 1]`` of a type (computed once, then cached)."""
        if node_type not in self._log_degree:
            self._log_degree[node_type] = self.graph.log_degree(node_type)
        return self._log_degree[node_type]

    def __call__(self, node_type: str, ids: Tensor | np.ndarray) -> FeatureBatch:
        """Features of nodes ``ids`` (any shape ``S``) of ``node_type``.

        Raises:
            SchemaError: unknown node type.
            GraphValidationError: ids not integers or outside ``[0, num_nodes)``.
        """
        schema = self.schema[node_type]
        ids_t = torch.as_tensor(ids)
        if ids_t.dtype == torch.bool or ids_t.is_floating_point() or ids_t.is_complex():
            raise GraphValidationError(
                f"ids of node type {node_type!r}: expected integer node ids, got {ids_t.dtype}"
            )
        ids_t = ids_t.to(device="cpu", dtype=torch.long)
        shape = tuple(ids_t.shape)
        flat = ids_t.reshape(-1).numpy()
        n = schema.num_nodes
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            bad = int(flat[(flat < 0) | (flat >= n)][0])
            raise GraphValidationError(
                f"ids of node type {node_type!r}: node id {bad} is out of range; "
                f"expected ids in [0, {n}) (replace padded/masked ids by 0 first)"
            )
        feats = self.graph.features[node_type]
        if node_type in self.extra:
            feats = {**feats, **self.extra[node_type]}
        dense = {}
        for name in schema.dense:
            rows = np.asarray(feats[name][flat], dtype=np.float32)
            dense[name] = torch.from_numpy(rows).reshape(*shape, rows.shape[1])
        tokens, token_mask = {}, {}
        for name in schema.text:
            tok, mask = feats[name].to_padded(flat, self.max_tokens)
            width = self.max_tokens
            tokens[name] = torch.from_numpy(tok.astype(np.int64, copy=False)).reshape(*shape, width)
            token_mask[name] = torch.from_numpy(mask).reshape(*shape, width)
        log_deg = torch.from_numpy(self.log_degree(node_type)[flat]).reshape(*shape, 1)
        return FeatureBatch(node_type, ids_t, dense, tokens, token_mask, log_deg)

    def gather_neighbors(self, neighborhood: Any) -> dict[str, tuple[FeatureBatch, Tensor, Tensor]]:
        """Encoder input from a sampled neighborhood (``.ids``, ``.weights``, ``.mask`` dicts).

        Masked slots (``mask == False``) may hold any id (e.g. ``-1`` padding); they
        are gathered as node 0 and ignored by the encoders.

        Returns:
            ``{node_type: (FeatureBatch [B, k], weights Float [B, k], mask Bool [B, k])}``.
        """
        out = {}
        for nt, ids in neighborhood.ids.items():
            ids = torch.as_tensor(ids)
            mask = torch.as_tensor(neighborhood.mask[nt], dtype=torch.bool)
            weights = torch.as_tensor(neighborhood.weights[nt], dtype=torch.float32)
            if mask.shape != ids.shape or weights.shape != ids.shape:
                raise ShapeError(
                    f"neighborhood of type {nt!r}: ids {tuple(ids.shape)}, weights "
                    f"{tuple(weights.shape)} and mask {tuple(mask.shape)} must have the same shape"
                )
            fb = self(nt, torch.where(mask, ids.long(), torch.zeros((), dtype=torch.long)))
            out[nt] = (fb, weights, mask)
        return out
