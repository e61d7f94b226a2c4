r"""One encoder input per step for all tasks: each distinct node sampled, featurised and
encoded once.

Tasks name the nodes they need (:meth:`NodePool.add`, :meth:`NodePool.add_items`) and
get :class:`NodeRows` handles; :meth:`NodePool.build` then deduplicates every type's
requests across tasks and rows, samples one importance neighbourhood per distinct seed,
featurises each distinct node once -- a pin that is a pair's positive, another task's
random negative, a user's history item and the neighbour of 300 seeds is gathered once --
and resolves the handles to rows of the encoded table. The model encodes the
:class:`~graphrep.models.nodes.NodeBatch` once
(:meth:`~graphrep.models.omnisage.OmniSage.encode`); every task indexes the same
embeddings. Since a neighbourhood is a pure function of ``(sampler seed, step, node)``,
the pooled step computes exactly what separate per-task inputs compute (up to float
order), and so does its gradient.

A task whose inputs are augmented (masked features, dropped neighbours) must not share:
it keeps ``shares_inputs = False`` and builds its own pool. With ``share_negatives``, tasks
drawing random negatives from the same distribution share one draw per step
(:meth:`NodePool.negatives`; this changes the sampled data, so it is a switch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import ConfigError, GraphValidationError
from graphrep.graph.validate import check_node_ids
from graphrep.models.nodes import NeighborSlots, NodeBatch, SeedNodes
from graphrep.tasks.inputs import flatten_item_groups

_EMPTY = np.zeros(0, dtype=np.int64)


class NodeRows:
    """Rows of the step's encoded table of ``node_type`` for requested node ids.

    Args:
        node_type: the type.
        ids: ``LongTensor`` node ids (any shape), as requested.
        index: rows of the encoded table, the shape of ``ids`` (set by :meth:`NodePool.build`).
    """

    def __init__(self, node_type: str, ids: Tensor, index: Tensor | None = None) -> None:
        self.node_type, self.ids, self._index = node_type, ids, index

    @property
    def index(self) -> Tensor:
        if self._index is None:
            raise ConfigError(f"NodeRows of {self.node_type!r}: the pool was not built yet")
        return self._index

    def __len__(self) -> int:
        return int(self.ids.numel())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> NodeRows:
        return NodeRows(self.node_type, self.ids.to(device), self.index.to(device, non_blocking=non_blocking))

    def take(self, table: Mapping[str, Tensor]) -> Tensor:
        """The embeddings ``[*shape, D]`` of these nodes from ``{type: [U_t, D]}``."""
        index = self.index
        out = table[self.node_type].index_select(0, index.reshape(-1))
        return out.reshape(*index.shape, out.shape[-1])


@dataclass
class ItemRows:
    """Rows of one table over several item types (e.g. a user's history of pins and boards):
    the embeddings of ``types`` one after the other, so a row is a unique ``(type, id)`` key.

    Args:
        types: node types of the table, in order.
        index: group name -> rows (any shape).
        node_ids: group name -> node ids (within type) of the same positions.
    """

    types: list[str]
    index: dict[str, Tensor]
    node_ids: dict[str, Tensor]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ItemRows:
        return ItemRows(list(self.types), {k: v.to(device, non_blocking=non_blocking)
                                           for k, v in self.index.items()},
                        {k: v.to(device) for k, v in self.node_ids.items()})  # fmt: skip

    def table(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """``[R, D]``: the embeddings of every encoded node of each item type, concatenated."""
        parts = [embeddings[t] for t in self.types]
        return torch.cat(parts) if len(parts) > 1 else parts[0]


class NodePool:
    """Collects a step's node requests, then builds one :class:`NodeBatch` for them.

    Args:
        builder: the :class:`~graphrep.tasks.InputBuilder` (graph, samplers, featurizer).
        step: the sampling step.
        share_negatives: tasks with equal random-negative samplers share one draw.
    """

    def __init__(self, builder: Any, step: int, share_negatives: bool = False) -> None:
        self.builder, self.step = builder, int(step)
        self.share_negatives = bool(share_negatives)
        self._requests: dict[str, list[tuple[np.ndarray, NodeRows]]] = {}
        self._items: list[_ItemRequest] = []
        self._negatives: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self.nodes: NodeBatch | None = None

    def add(self, node_type: str, ids: object) -> NodeRows:
        """Request nodes ``ids`` (any shape, repeats allowed) of ``node_type``."""
        if node_type not in self.builder.graph.num_nodes:
            raise GraphValidationError(
                f"NodePool: unknown node type {node_type!r}; graph has "
                f"{sorted(self.builder.graph.num_nodes)}"
            )
        arr = np.asarray(ids)
        flat = check_node_ids(arr.reshape(-1), self.builder.graph.num_nodes[node_type],
                              f"NodePool ids (node type {node_type!r})")  # fmt: skip
        handle = NodeRows(node_type, torch.from_numpy(np.ascontiguousarray(flat).reshape(arr.shape)))
        self._requests.setdefault(node_type, []).append((flat, handle))
        return handle

    def add_items(
        self, item_types: Sequence[str], groups: Mapping[str, tuple[np.ndarray, np.ndarray]]
    ) -> ItemRows:
        """Request groups of ``(type code, id)`` items (codes index ``item_types``); the
        :class:`ItemRows` index one table over the item types that occur."""
        flat_c, flat_i, shapes = flatten_item_groups(item_types, groups, "add_items")
        used = [int(c) for c in np.unique(flat_c)]
        parts = []
        for code in used:
            where = np.flatnonzero(flat_c == code)
            parts.append((where, self.add(item_types[code], flat_i[where])))
        rows = ItemRows([item_types[c] for c in used], {}, _split(flat_i, shapes))
        self._items.append(_ItemRequest(rows, parts, shapes, len(flat_i)))
        return rows

    def negatives(self, sampler: Any, num: int) -> tuple[np.ndarray, np.ndarray]:
        """``sampler.sample(num, step)``, or, with ``share_negatives``, the draw of the
        first task whose sampler has the same ``share_key`` and count."""
        if not self.share_negatives:
            return sampler.sample(num, self.step)
        key = (sampler.share_key, int(num))
        if key not in self._negatives:
            self._negatives[key] = sampler.sample(num, self.step)
        return self._negatives[key]

    def build(self) -> NodeBatch:
        """Sample, featurise and index every requested node; resolves all handles."""
        seeds, inverse = {}, {}
        for t, reqs in self._requests.items():
            flat = np.concatenate([ids for ids, _ in reqs]) if reqs else _EMPTY
            seeds[t], inverse[t] = np.unique(flat, return_inverse=True)
            start = 0
            for ids, h in reqs:
                h._index = torch.from_numpy(inverse[t][start : start + ids.size].reshape(h.ids.shape))
                start += ids.size
        self.nodes = build_node_batch(self.builder, seeds, self.step)
        for req in self._items:
            table_rows = np.zeros(req.size, dtype=np.int64)
            offset = 0
            for where, h in req.parts:  # in table order
                table_rows[where] = offset + h.index.numpy()
                offset += len(seeds[h.node_type])
            req.rows.index.update(_split(table_rows, req.shapes))
        return self.nodes


@dataclass
class _ItemRequest:
    rows: ItemRows
    parts: list[tuple[np.ndarray, NodeRows]]
    shapes: dict[str, tuple[int, ...]]
    size: int


def _split(flat: np.ndarray, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Tensor]:
    """``flat`` cut into consecutive tensors of the given shapes."""
    out, start = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape, dtype=np.int64))
        out[name] = torch.from_numpy(np.ascontiguousarray(flat[start : start + n]).reshape(shape))
        start += n
    return out


def build_node_batch(builder: Any, seeds: Mapping[str, np.ndarray], step: int) -> NodeBatch:
    """The :class:`NodeBatch` of distinct, sorted ``seeds`` per type at ``step``."""
    nbhd = {}
    for t, ids in seeds.items():
        sampler = builder.samplers.get(t)
        if sampler is not None and len(ids):
            nbhd[t] = sampler.sample(ids, step=step)
    need: dict[str, list[np.ndarray]] = {t: [ids] for t, ids in seeds.items()}
    slots: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}
    for t, nb in nbhd.items():
        for r in nb.ids:
            mask = nb.mask[r].numpy()
            seed, col = np.nonzero(mask)
            node = nb.ids[r].numpy()[seed, col]
            slots[(t, r)] = (seed, col, node, nb.weights[r].numpy()[seed, col], mask.shape[1])
            need.setdefault(r, []).append(node)
    feat_ids = {r: np.unique(np.concatenate(parts)) for r, parts in need.items()}
    features = {r: builder.featurizer(r, torch.from_numpy(ids)) for r, ids in feat_ids.items()}
    out = {}
    for t, ids in seeds.items():
        rows = np.searchsorted(feat_ids[t], ids)
        reads, neighbors = {}, {}
        own = _read(reads, t, [rows])[: len(rows)]
        for (s, r), (seed, col, node, weight, width) in slots.items():
            if s != t or not len(node):
                continue
            prefix = [rows] if r == t else []
            idx = _read(reads, r, [*prefix, np.searchsorted(feat_ids[r], node)])
            if r == t:
                own, idx = idx[: len(rows)], idx[len(rows) :]
            neighbors[r] = NeighborSlots(*(torch.from_numpy(a) for a in (seed, idx)),
                                         torch.from_numpy(np.ascontiguousarray(weight)),
                                         torch.from_numpy(col), int(width))  # fmt: skip
        out[t] = SeedNodes(torch.from_numpy(rows), {k: torch.from_numpy(v) for k, v in reads.items()},
                           torch.from_numpy(own), neighbors)  # fmt: skip
    return NodeBatch(features, out)


def _read(reads: dict[str, np.ndarray], node_type: str, parts: list[np.ndarray]) -> np.ndarray:
    """Set ``reads[node_type]`` to the distinct rows of ``parts``; each part row's position."""
    uniq, inv = np.unique(np.concatenate(parts), return_inverse=True)
    reads[node_type] = uniq
    return inv.reshape(-1).astype(np.int64)


@dataclass
class Encoded:
    """A :class:`NodeBatch` and the model's embeddings of its seeds (``OmniSage.encode``).

    Args:
        nodes: what was encoded.
        embeddings: node type -> ``[B_t, D]`` embeddings of its seeds.
    """

    nodes: NodeBatch
    embeddings: dict[str, Tensor]

    @classmethod
    def of(cls, model: Any, nodes: NodeBatch) -> Encoded:
        return cls(nodes, model.encode(nodes))

    def take(self, rows: NodeRows) -> Tensor:
        """Embeddings ``[*shape, D]`` of requested nodes."""
        return rows.take(self.embeddings)

    def features(self, rows: NodeRows) -> Any:
        """Own features (a :class:`~graphrep.models.features.FeatureBatch`) of requested nodes."""
        seeds = self.nodes.seeds[rows.node_type]
        return self.nodes.features[rows.node_type].take(seeds.rows[rows.index])


def private_pool(task: Any, step: int, pool: NodePool | None) -> tuple[NodePool, bool]:
    """The pool a task's ``sample`` adds to: the shared one, or its own (``True``) that the
    task builds itself and keeps in its batch."""
    if pool is not None:
        return pool, False
    return NodePool(task.builder, step), True


def encoded_for(model: Any, nodes: NodeBatch | None, encoded: Encoded | None) -> Encoded:
    """What a task's ``loss`` reads: its own pool encoded, or the shared encoding."""
    if nodes is not None:
        return Encoded.of(model, nodes)
    if encoded is None:
        raise ConfigError(
            "this batch was sampled into a shared NodePool: pass the pool's encoding "
            "(MultiTask.loss does), or sample the task on its own"
        )
    return encoded
