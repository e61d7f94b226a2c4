"""Conversion between :class:`HeteroGraph` and :mod:`networkx` graphs.

:func:`to_networkx` gives a ``MultiDiGraph`` whose nodes are ``(node_type, internal_id)``
tuples with attributes ``type`` (the node type), ``ext_id`` (when the type has external
ids) and one attribute per node feature (a numpy row; token array for ragged features).
Every edge of every forward relation is one networkx edge with attribute ``rel`` and one
attribute per edge array (Python scalars). ``G.graph["graphrep"]`` records the schema
(node types, relations, dtypes, feature layouts), so :func:`from_networkx` restores the
graph exactly, empty relations and feature dtypes included.

:func:`from_networkx` also reads plain networkx graphs (``nx.karate_club_graph()``...):

* a node's type is its ``type`` attribute (default ``"node"``), an edge's relation its
  ``rel`` attribute (default ``"to"``);
* within a type, nodes are numbered in insertion order and their labels become the
  external ids (ints or strings; other hashables are stringified; labels ``0..n-1`` in
  order are the identity and are not stored);
* numeric edge attributes present on every edge of a relation become edge arrays;
  attributes missing on some edges are skipped with a warning, others silently;
* undirected graphs: an edge between two nodes of the same type becomes one edge in each
  direction (a self-loop stays one edge); an edge between two types becomes one edge
  from the type seen first to the other, whose direction is the automatic reverse
  relation ``rev_<rel>``.

networkx is Python-level, so this module loops over nodes and edges; it is interop,
not a hot path.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from graphrep.errors import GraphValidationError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import EdgeType, fmt_edge_type

META_KEY = "graphrep"
EXT_ID = "ext_id"


def to_networkx(graph: HeteroGraph) -> Any:
    """Convert to a ``networkx.MultiDiGraph`` (layout in the module docstring).

    Raises:
        GraphValidationError: a feature is named ``type`` or ``ext_id``, or an edge array
            ``rel`` (they would overwrite the schema attributes).
    """
    import networkx as nx

    G = nx.MultiDiGraph()
    meta: dict[str, Any] = {
        "node_types": dict(graph.num_nodes),
        "edge_types": list(graph.canonical_edge_types),
        "edge_arrays": {},
        "features": {},
    }
    G.graph[META_KEY] = meta
    for nt, n in graph.num_nodes.items():
        columns: dict[str, Any] = {}
        if nt in graph.node_ids:
            columns[EXT_ID] = graph.node_ids[nt].tolist()
        layout = {}
        for name, feat in graph.features[nt].items():
            if name in ("type", EXT_ID):
                raise GraphValidationError(
                    f"node type {nt!r}: feature {name!r} clashes with a networkx schema attribute"
                )
            if isinstance(feat, Ragged):
                layout[name] = ("ragged", feat.values.dtype.str, 0)
                columns[name] = np.split(feat.values, feat.offsets[1:-1]) if n else []
            else:
                layout[name] = ("dense", feat.dtype.str, feat.shape[1])
                columns[name] = list(feat)
        meta["features"][nt] = layout
        names = list(columns)
        rows = zip(*columns.values(), strict=True) if names else ((),) * n
        G.add_nodes_from(
            ((nt, i), {"type": nt, **dict(zip(names, row, strict=True))})
            for i, row in enumerate(rows)
        )
    for et in graph.canonical_edge_types:
        csr = graph.csr(et)
        if "rel" in csr.edge_data:
            raise GraphValidationError(
                f"relation {fmt_edge_type(et)}: edge array 'rel' clashes with the relation "
                "attribute; rename it"
            )
        meta["edge_arrays"][et] = {k: v.dtype.str for k, v in csr.edge_data.items()}
        src, dst = csr.to_coo()
        names = list(csr.edge_data)
        values = zip(*(v.tolist() for v in csr.edge_data.values()), strict=True) if names else (
            ((),) * csr.num_edges
        )
        G.add_edges_from(
            ((et[0], s), (et[2], d), {"rel": et[1], **dict(zip(names, vals, strict=True))})
            for s, d, vals in zip(src.tolist(), dst.tolist(), values, strict=True)
        )
    return G


def _is_number(x: Any) -> bool:
    real = isinstance(x, numbers.Number | np.bool_)
    return real and not isinstance(x, complex | np.complexfloating)


def _number_nodes(nt: str, nodes: list, attrs: list[dict]) -> tuple[np.ndarray, Any]:
    """Internal id of every node of one type (in ``nodes`` order) and the external ids."""
    n = len(nodes)
    pos = None
    if n and all(isinstance(v, tuple) and len(v) == 2 and v[0] == nt for v in nodes):
        ints = [v[1] for v in nodes]
        if all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in ints):
            arr = np.asarray(ints, dtype=np.int64)
            if np.array_equal(np.sort(arr), np.arange(n)):
                pos = arr  # (type, internal id) labels, as written by to_networkx
    order = np.argsort(pos) if pos is not None else np.arange(n)
    if n and all(EXT_ID in a for a in attrs):
        return order if pos is None else pos, np.asarray([attrs[i][EXT_ID] for i in order])
    if pos is not None:
        return pos, None
    labels = list(nodes)
    if all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in labels):
        ids = np.asarray(labels, dtype=np.int64)
        return order, None if np.array_equal(ids, order) else ids
    if all(isinstance(x, str) for x in labels):
        return order, np.asarray(labels, dtype=str)
    return order, np.asarray([str(x) for x in labels], dtype=str)


def _edge_arrays(et: EdgeType, attrs: list[dict], skip: str, dtypes: dict) -> dict:
    """Numeric attributes present on every edge of one relation, as arrays."""
    if not attrs:  # zero-edge relation: keep its (empty) arrays from the schema
        return {k: np.zeros(0, dtype=dt) for k, dt in dtypes.items()}
    counts: dict[str, int] = {}
    for a in attrs:
        for k in a:
            counts[k] = counts.get(k, 0) + 1
    out = {}
    for k, count in counts.items():
        if k == skip or not all(_is_number(a[k]) for a in attrs if k in a):
            continue
        if count < len(attrs) or k in ("src", "dst"):
            why = "a reserved name" if count == len(attrs) else "missing on some edges"
            warnings.warn(
                f"relation {fmt_edge_type(et)}: numeric edge attribute {k!r} is not kept as an "
                f"edge array ({why})",
                stacklevel=3,
            )
            continue
        out[k] = np.asarray([a[k] for a in attrs], dtype=dtypes.get(k))
    return out


def _features(layout: dict, attrs: list[dict], order: np.ndarray) -> dict:
    """Node features recorded in the schema, rows in internal-id order."""
    out: dict[str, Any] = {}
    for name, (kind, dtype, dim) in layout.items():
        if not all(name in a for a in attrs):
            continue
        rows = [np.asarray(attrs[i][name], dtype=dtype) for i in order]
        if kind == "ragged":
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
            vals = np.concatenate(rows) if rows else np.zeros(0, dtype=dtype)
            out[name] = Ragged.from_lengths(lengths, vals.astype(dtype, copy=False))
        elif rows:
            out[name] = np.stack(rows).reshape(len(rows), dim)
        else:
            out[name] = np.zeros((0, dim), dtype=dtype)
    return out


def from_networkx(
    G: Any,
    node_type_attr: str = "type",
    edge_type_attr: str = "rel",
    default_node_type: str = "node",
    default_rel: str = "to",
    duplicates: str = "keep",
) -> HeteroGraph:
    """Build a :class:`HeteroGraph` from any networkx graph (rules in the module docstring).

    Args:
        G: ``Graph``, ``DiGraph``, ``MultiGraph`` or ``MultiDiGraph``.
        node_type_attr: node attribute holding the node type.
        edge_type_attr: edge attribute holding the relation name.
        default_node_type: type of nodes without ``node_type_attr``.
        default_rel: relation of edges without ``edge_type_attr``.
        duplicates: ``"keep"`` or ``"merge"`` parallel edges.

    Raises:
        GraphValidationError: a node type or relation attribute that is not a non-empty
            string.
    """
    meta = G.graph.get(META_KEY) or {}
    by_type: dict[str, tuple[list, list]] = {nt: ([], []) for nt in meta.get("node_types", {})}
    for node, a in G.nodes(data=True):
        nt = a.get(node_type_attr, default_node_type)
        if not isinstance(nt, str) or not nt:
            raise GraphValidationError(
                f"node {node!r}: attribute {node_type_attr!r} must be a non-empty string, "
                f"got {nt!r}"
            )
        by_type.setdefault(nt, ([], []))
        by_type[nt][0].append(node)
        by_type[nt][1].append(a)
    type_of, internal, node_ids, features = {}, {}, {}, {}
    for nt, (nodes, attrs) in by_type.items():
        pos, ids = _number_nodes(nt, nodes, attrs)
        internal.update(zip(nodes, pos.tolist(), strict=True))
        type_of.update(dict.fromkeys(nodes, nt))
        if ids is not None:
            node_ids[nt] = ids
        layout = meta.get("features", {}).get(nt, {})
        features[nt] = _features(layout, attrs, np.argsort(pos))
    rank = {nt: i for i, nt in enumerate(by_type)}
    edges: dict[EdgeType, tuple[list, list, list]] = {
        tuple(et): ([], [], []) for et in meta.get("edge_types", [])
    }
    directed = G.is_directed()

    def add(u: Any, v: Any, a: dict) -> None:
        rel = a.get(edge_type_attr, default_rel)
        if not isinstance(rel, str) or not rel:
            raise GraphValidationError(
                f"edge ({u!r}, {v!r}): attribute {edge_type_attr!r} must be a non-empty string, "
                f"got {rel!r}"
            )
        lists = edges.setdefault((type_of[u], rel, type_of[v]), ([], [], []))
        lists[0].append(internal[u])
        lists[1].append(internal[v])
        lists[2].append(a)

    for u, v, a in G.edges(data=True):
        if directed:
            add(u, v, a)
        elif type_of[u] != type_of[v]:
            add(*((u, v) if rank[type_of[u]] < rank[type_of[v]] else (v, u)), a)
        else:
            add(u, v, a)
            if u != v:
                add(v, u, a)
    dtypes = {tuple(et): d for et, d in meta.get("edge_arrays", {}).items()}
    spec = {
        et: {
            **_edge_arrays(et, a, edge_type_attr, dtypes.get(et, {})),
            "src": np.asarray(s, dtype=np.int64),
            "dst": np.asarray(d, dtype=np.int64),
        }
        for et, (s, d, a) in edges.items()
    }
    num_nodes = {nt: len(nodes) for nt, (nodes, _) in by_type.items()}
    return HeteroGraph.from_edges(
        num_nodes, spec, node_ids=node_ids, features=features, duplicates=duplicates
    )
