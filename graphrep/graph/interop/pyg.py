"""Conversion between :class:`HeteroGraph` and PyTorch Geometric ``HeteroData`` / ``Data``.

PyG stores a heterogeneous graph as one COO ``edge_index [2, E]`` per edge type plus
free-form tensors per node and edge type (https://pytorch-geometric.readthedocs.io).
The mapping used here:

=========================================  ===============================================
graphrep                                   ``HeteroData``
=========================================  ===============================================
``num_nodes[nt]``                          ``data[nt].num_nodes``
dense feature ``name`` ``[n, d]``          ``data[nt].<name>`` (float tensor, name kept,
                                           so ``x`` stays ``x``)
ragged token feature ``name``              ``data[nt].<name>_offsets`` (``int64 [n + 1]``)
                                           and ``data[nt].<name>_values``
external ids                               ``data[nt].ext_id``: ``int64`` tensor, or a numpy
                                           string array for string ids
forward relation ``et`` (CSR order)        ``data[et].edge_index`` (``int64 [2, E]``)
edge array ``name``                        ``data[et].<name>`` (name kept: ``weight`` stays
                                           ``weight``, not PyG's ``edge_weight``)
reverse ``(b, rev_x, a)``                  only with ``include_reverse=True``
=========================================  ===============================================

Tensors share memory with the graph's arrays where numpy allows (read-only / memory-
mapped arrays are copied). :func:`from_pyg` reads the same layout back exactly and
accepts any ``HeteroData`` / ``Data``: other attributes (labels, masks, ``[E, d]`` edge
attributes, non-float 2-D tensors) are not graph structure and are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from graphrep.errors import GraphValidationError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import REVERSE_PREFIX, HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import (
    EdgeType,
    check_edge_array,
    check_node_ids,
    fmt_edge_type,
)

EXT_ID = "ext_id"
HOMOGENEOUS_NODE_TYPE = "node"
HOMOGENEOUS_RELATION = "to"


def _tensor(a: np.ndarray) -> torch.Tensor:
    """Zero-copy tensor view of ``a`` (copied when read-only or not contiguous)."""
    if not (a.flags.writeable and a.flags.c_contiguous):
        a = np.ascontiguousarray(a).copy()
    return torch.from_numpy(a)


def _numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.complex32):
            t = t.float()
        return t.numpy()
    return np.asarray(t)


def to_pyg(graph: HeteroGraph, include_reverse: bool = False) -> Any:
    """Convert to a ``torch_geometric.data.HeteroData`` (layout in the module docstring).

    Args:
        graph: the graph.
        include_reverse: also store the ``rev_<rel>`` relations (PyG message passing
            along both directions needs them; :func:`from_pyg` drops them again).

    Returns:
        A ``HeteroData`` whose node types and edge types follow the graph's order.
    """
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for nt, n in graph.num_nodes.items():
        store = data[nt]
        store.num_nodes = n
        if nt in graph.node_ids:
            ids = graph.node_ids[nt]
            store[EXT_ID] = _tensor(ids) if ids.dtype.kind == "i" else ids.copy()
        for name, feat in graph.features[nt].items():
            if isinstance(feat, Ragged):
                store[f"{name}_offsets"] = _tensor(feat.offsets)
                store[f"{name}_values"] = _tensor(feat.values)
            else:
                store[name] = _tensor(feat)
    edge_types = graph.edge_types if include_reverse else graph.canonical_edge_types
    for et in edge_types:
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        store = data[et]
        store.edge_index = torch.from_numpy(np.stack([src, dst]))
        for name, arr in csr.edge_data.items():
            if name == "edge_index":
                raise GraphValidationError(
                    f"relation {fmt_edge_type(et)}: edge array 'edge_index' clashes with PyG's "
                    "edge_index; rename it"
                )
            store[name] = _tensor(arr)
    return data


def _node_store(store: Any, num_edges_hint: int | None) -> tuple[Any, dict[str, Any]]:
    """External ids and features of one node store (``num_edges_hint``: homogeneous ``Data``)."""
    n = store.num_nodes
    ids = None
    feats: dict[str, Any] = {}
    keys = set(store.keys())
    for key in store.keys():
        value = store[key]
        if key == EXT_ID:
            ids = _numpy(value) if isinstance(value, torch.Tensor | np.ndarray) else list(value)
            continue
        if not isinstance(value, torch.Tensor):
            continue
        if key.endswith("_offsets") and key[: -len("_offsets")] + "_values" in keys:
            name = key[: -len("_offsets")]
            vals = store[name + "_values"]
            if value.dim() == 1 and len(value) == n + 1 and isinstance(vals, torch.Tensor):
                feats[name] = Ragged(_numpy(value).astype(np.int64, copy=False), _numpy(vals))
            continue
        if key.endswith("_values") and key[: -len("_values")] + "_offsets" in keys:
            continue
        if value.dim() == 2 and value.shape[0] == n and value.is_floating_point():
            if num_edges_hint == n and "edge" in key:  # homogeneous Data: [E, d] edge_attr
                continue
            feats[key] = _numpy(value)
    return ids, feats


def _edge_arrays(store: Any, what: str, num_edges: int, num_nodes: int | None) -> dict:
    """1-D tensors with one entry per edge (``num_nodes`` set for homogeneous ``Data``)."""
    out = {}
    for key in store.keys():
        value = store[key]
        if key == "edge_index" or not isinstance(value, torch.Tensor):
            continue
        if value.dim() != 1 or len(value) != num_edges:
            continue
        if num_nodes == num_edges and "edge" not in key:  # ambiguous: node label or edge value
            continue
        out[key] = check_edge_array(_numpy(value), num_edges, f"{what} attribute {key!r}")
    return out


def _edge_index(store: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    ei = store.get("edge_index") if hasattr(store, "get") else None
    if ei is None:
        raise GraphValidationError(f"{what}: no 'edge_index' (sparse adj_t is not supported)")
    ei = _numpy(ei)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise GraphValidationError(f"{what}: edge_index must have shape [2, E], got {ei.shape}")
    return ei[0], ei[1]


def _is_pyg_reverse(et: EdgeType, edge_types: list[EdgeType]) -> bool:
    fwd = (et[2], et[1][len(REVERSE_PREFIX) :], et[0])
    return et[1].startswith(REVERSE_PREFIX) and fwd in edge_types


def from_pyg(data: Any, duplicates: str = "keep") -> HeteroGraph:
    """Build a :class:`HeteroGraph` from a PyG ``HeteroData`` or homogeneous ``Data``.

    Rules:
        * ``Data`` becomes node type ``"node"`` and relation ``("node", "to", "node")``;
          its 1-D tensors with ``E`` entries become edge arrays (when ``E`` equals the
          node count only keys containing ``"edge"``, e.g. ``edge_weight``, do).
        * A relation ``(a, "rev_x", b)`` whose ``(b, "x", a)`` exists and that is its exact
          transpose (same edges, edge arrays equal where present) is dropped, since
          graphrep rebuilds reverses; one that is not a transpose is an error.
        * 2-D float node tensors with ``num_nodes`` rows become dense features (names
          kept); ``<name>_offsets`` / ``<name>_values`` pairs become ragged features;
          ``ext_id`` gives external ids.
        * A node type without ``num_nodes`` (and nothing to infer it from) gets
          ``max(id) + 1`` over its relations.

    Args:
        data: ``HeteroData`` or ``Data``.
        duplicates: ``"keep"`` or ``"merge"`` parallel edges.

    Raises:
        GraphValidationError: malformed ``edge_index``, ids out of range, or a
            ``rev_`` relation that is not the transpose of its forward relation.
    """
    from torch_geometric.data import Data, HeteroData

    if duplicates not in ("keep", "merge"):
        raise GraphValidationError(f"duplicates must be 'keep' or 'merge', got {duplicates!r}")
    if isinstance(data, HeteroData):
        node_stores = {nt: data[nt] for nt in data.node_types}
        edge_stores = {tuple(et): data[et] for et in data.edge_types}
        homogeneous = None
    elif isinstance(data, Data):
        nt = HOMOGENEOUS_NODE_TYPE
        node_stores = {nt: data} if data.num_nodes is not None else {}
        edge_stores = {(nt, HOMOGENEOUS_RELATION, nt): data} if "edge_index" in data else {}
        homogeneous = data.num_nodes
    else:
        raise GraphValidationError(
            f"from_pyg: expected HeteroData or Data, got {type(data).__name__}"
        )

    coo = {et: _edge_index(s, f"relation {fmt_edge_type(et)}") for et, s in edge_stores.items()}
    num_nodes: dict[str, int] = {}
    for nt, store in node_stores.items():
        if store.num_nodes is not None:
            num_nodes[nt] = int(store.num_nodes)
    for et, (src, dst) in coo.items():
        for t, ids in ((et[0], src), (et[2], dst)):
            if t not in num_nodes:
                num_nodes[t] = max(num_nodes.get(t, 0), int(ids.max()) + 1 if len(ids) else 0)
    order = list(dict.fromkeys([*node_stores, *(t for et in coo for t in (et[0], et[2]))]))
    num_nodes = {t: num_nodes.get(t, 0) for t in order}

    csrs: dict[EdgeType, CSR] = {}
    for et, (src, dst) in coo.items():
        what = f"relation {fmt_edge_type(et)}"
        for t in (et[0], et[2]):
            if t not in num_nodes:
                raise GraphValidationError(f"{what}: unknown node type {t!r}")
        s = check_node_ids(src, num_nodes[et[0]], f"{what} edge_index[0]")
        d = check_node_ids(dst, num_nodes[et[2]], f"{what} edge_index[1]")
        arrays = _edge_arrays(edge_stores[et], what, len(s), homogeneous)
        csrs[et] = CSR.from_coo(s, d, num_nodes[et[0]], num_nodes[et[2]], arrays)

    relations: dict[EdgeType, CSR] = {}
    edge_types = list(csrs)
    for et, csr in csrs.items():
        if _is_pyg_reverse(et, edge_types):
            fwd = (et[2], et[1][len(REVERSE_PREFIX) :], et[0])
            expected = csrs[fwd].transpose()
            same = (
                np.array_equal(csr.indptr, expected.indptr)
                and np.array_equal(csr.indices, expected.indices)
                and all(
                    k in expected.edge_data and np.array_equal(v, expected.edge_data[k])
                    for k, v in csr.edge_data.items()
                )
            )
            if not same:
                raise GraphValidationError(
                    f"relation {fmt_edge_type(et)} is not the transpose of {fmt_edge_type(fwd)}; "
                    f"graphrep builds reverses itself and names them '{REVERSE_PREFIX}<rel>', so "
                    "rename one of them"
                )
            continue
        relations[et] = csr.merge_duplicates() if duplicates == "merge" else csr
    node_ids, features = {}, {}
    for nt, store in node_stores.items():
        ids, feats = _node_store(store, data.num_edges if homogeneous is not None else None)
        if ids is not None:
            node_ids[nt] = ids
        features[nt] = feats
    return HeteroGraph(num_nodes, relations, node_ids=node_ids, features=features)
