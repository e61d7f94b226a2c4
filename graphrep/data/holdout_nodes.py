"""Hold nodes out of a dataset, as if they arrived after training (inductive experiments).

:func:`hold_out_nodes` moves the chosen nodes of one type to the end of its id range
(the permuted *full* dataset) and drops them, with their edges and the events that
name them, from a *training* dataset. Because the held-out nodes are last, adding them
back with :func:`graphrep.graph.extend.extend_graph` (their features and
:func:`edges_touching` them) rebuilds exactly the permuted full graph: the held-out
nodes get the ids they have there, and an incremental refresh can be checked against
a full export of it.

Ground truth arrays named ``<type>_*`` with one row per node of the type (e.g.
``pin_topic``) are permuted (full) and cut (training); other truth arrays may name
node ids of the type and are dropped from both (``meta["dropped_truth"]`` lists them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.graph.csr import CSR
from graphrep.graph.extend import EdgeRows, NodeRows
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import EdgeType, check_node_ids


@dataclasses.dataclass
class NodeHoldout:
    """Result of :func:`hold_out_nodes`.

    Attributes:
        full: the whole dataset with the held-out nodes moved to ids ``n - h .. n - 1``.
        train: ``full`` without them (``n - h`` nodes of the type).
        node_type: the type.
        held: ids of the held-out nodes in ``full`` (``n - h .. n - 1``).
        original: their ids in the input dataset, in the same order.
    """

    full: GraphDataset
    train: GraphDataset
    node_type: str
    held: np.ndarray
    original: np.ndarray


def _take(value: Any, rows: np.ndarray) -> Any:
    return value.take(rows) if isinstance(value, Ragged) else np.asarray(value)[rows]


def _relabel(graph: HeteroGraph, nt: str, perm: np.ndarray) -> HeteroGraph:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    relations = {}
    for et in graph.canonical_edge_types:
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        src = inv[src] if et[0] == nt else src
        dst = inv[dst] if et[2] == nt else dst
        relations[et] = CSR.from_coo(src, dst, csr.num_src, csr.num_dst, csr.edge_data)
    node_ids = {t: (v[perm] if t == nt else v) for t, v in graph.node_ids.items()}
    features = {t: {k: (_take(v, perm) if t == nt else v) for k, v in f.items()}
                for t, f in graph.features.items()}  # fmt: skip
    return HeteroGraph(graph.num_nodes, relations, node_ids=node_ids, features=features)


def _cut(graph: HeteroGraph, nt: str, keep: int) -> HeteroGraph:
    relations = {}
    for et in graph.canonical_edge_types:
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        ok = np.ones(csr.num_edges, dtype=bool)
        if et[0] == nt:
            ok &= src < keep
        if et[2] == nt:
            ok &= dst < keep
        sub = csr.select_edges(ok)
        num_src = keep if et[0] == nt else csr.num_src
        relations[et] = CSR(sub.indptr[: num_src + 1], sub.indices, keep if et[2] == nt
                            else csr.num_dst, sub.edge_data)  # fmt: skip
    num_nodes = {**graph.num_nodes, nt: keep}
    node_ids = {t: (v[:keep] if t == nt else v) for t, v in graph.node_ids.items()}
    rows = np.arange(keep)
    features = {t: {k: (_take(v, rows) if t == nt else v) for k, v in f.items()}
                for t, f in graph.features.items()}  # fmt: skip
    return HeteroGraph(num_nodes, relations, node_ids=node_ids, features=features)


def hold_out_nodes(dataset: GraphDataset, node_type: str, ids: Any) -> NodeHoldout:
    """Hold the nodes ``ids`` (internal ids) of ``node_type`` out (see the module docstring)."""
    graph = dataset.graph
    if node_type not in graph.num_nodes:
        raise ConfigError(f"hold_out_nodes: unknown node type {node_type!r}; graph has "
                          f"{graph.node_types}")
    n = graph.num_nodes[node_type]
    held = np.unique(check_node_ids(ids, n, f"held-out ids of {node_type!r}"))
    if len(held) != len(np.atleast_1d(ids)):
        raise ConfigError("hold_out_nodes: ids must be distinct")
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    perm = np.concatenate([np.flatnonzero(~mask), held])
    keep = n - len(held)
    full_graph = _relabel(graph, node_type, perm)
    truth_full, truth_train, dropped = {}, {}, []
    for k, v in dataset.truth.items():
        if k.startswith(f"{node_type}_") and len(v) == n:
            truth_full[k] = np.asarray(v)[perm]
            truth_train[k] = truth_full[k][:keep]
        else:
            dropped.append(k)
    events_full = events_train = None
    if dataset.events is not None:
        ev = dataset.events
        inv = np.empty_like(perm)
        inv[perm] = np.arange(n)
        is_type = np.zeros(len(ev), dtype=bool)
        if node_type in ev.item_types:
            is_type = ev.item_type == ev.item_types.index(node_type)
        item = np.asarray(ev.item).copy()
        item[is_type] = inv[item[is_type]]
        events_full = dataclasses.replace(ev, item=item)
        events_train = events_full.select(~(is_type & (item >= keep)))
    meta = {**dataset.meta, "dropped_truth": dropped,
            "held_out": {"node_type": node_type, "count": len(held)}}  # fmt: skip
    full = GraphDataset(full_graph, events_full, truth_full, meta)
    train = GraphDataset(_cut(full_graph, node_type, keep), events_train, truth_train, meta)
    return NodeHoldout(full, train, node_type, np.arange(keep, n, dtype=np.int64), perm[keep:])


def node_rows(graph: HeteroGraph, node_type: str, ids: np.ndarray) -> NodeRows:
    """The features (and external ids) of nodes ``ids`` of ``graph`` as :class:`NodeRows`."""
    ids = np.asarray(ids, dtype=np.int64)
    feats = {k: _take(v, ids) for k, v in graph.features[node_type].items()}
    return NodeRows(ids=graph.external_ids(node_type, ids), features=feats, count=len(ids))


def edges_touching(graph: HeteroGraph, node_type: str, ids: np.ndarray) -> dict[EdgeType, EdgeRows]:
    """Every edge of ``graph`` with an end among nodes ``ids`` of ``node_type``, per forward
    relation, in CSR order, by external ids, with its edge arrays."""
    mask = np.zeros(graph.num_nodes[node_type], dtype=bool)
    mask[np.asarray(ids, dtype=np.int64)] = True
    out = {}
    for et in graph.canonical_edge_types:
        if node_type not in (et[0], et[2]):
            continue
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        hit = np.zeros(len(src), dtype=bool)
        if et[0] == node_type:
            hit |= mask[src]
        if et[2] == node_type:
            hit |= mask[dst]
        if hit.any():
            out[et] = EdgeRows(graph.external_ids(et[0], src[hit]),
                               graph.external_ids(et[2], dst[hit]),
                               {k: v[hit] for k, v in csr.edge_data.items()})  # fmt: skip
    return out


__all__ = ["NodeHoldout", "edges_touching", "hold_out_nodes", "node_rows"]
