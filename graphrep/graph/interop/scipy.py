"""Conversion between :class:`HeteroGraph` relations and :mod:`scipy.sparse` matrices.

A relation ``(src_type, rel, dst_type)`` is the sparse matrix ``A`` of shape
``[num_src, num_dst]`` with ``A[s, d]`` = 1 (or the edge's weight) for each edge
``s -> d``. Our CSR *is* scipy's CSR layout (rows sorted by column), so
:func:`to_scipy` wraps ``indices`` without copying (``indptr`` is converted to the index
dtype scipy picks when the two differ); parallel edges stay separate entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType, check_edge_array, fmt_edge_type


def to_scipy(
    graph: HeteroGraph, key: str | EdgeType, fmt: str = "csr", weight: str | None = None
) -> sp.spmatrix:
    """Adjacency matrix of one relation (reverses included: ``"rev_<rel>"``).

    Args:
        graph: the graph.
        key: relation name or ``(src_type, rel, dst_type)``.
        fmt: any scipy sparse format (``"csr"``, ``"csc"``, ``"coo"``...); ``"csr"``
            shares ``indices`` with the graph (treat the result as read-only).
        weight: name of an edge array to use as the values; default ones (``float32``).

    Returns:
        A ``scipy.sparse`` matrix of shape ``[num_src, num_dst]``.

    Raises:
        SchemaError: unknown relation or edge array.
    """
    et = graph.edge_type(key)
    csr = graph.csr(et)
    if weight is None:
        data = np.ones(csr.num_edges, dtype=np.float32)
    elif weight in csr.edge_data:
        data = csr.edge_data[weight]
    else:
        raise SchemaError(
            f"relation {fmt_edge_type(et)} has no edge array {weight!r}; "
            f"it has {sorted(csr.edge_data)}"
        )
    mat = sp.csr_matrix(
        (data, csr.indices, csr.indptr), shape=(csr.num_src, csr.num_dst), copy=False
    )
    mat.has_sorted_indices = True  # rows are sorted by destination by construction
    return mat if fmt == "csr" else mat.asformat(fmt)


def from_scipy(
    matrices: Mapping[EdgeType, Any],
    num_nodes: Mapping[str, int] | None = None,
    weight_name: str = "weight",
    duplicates: str = "keep",
) -> HeteroGraph:
    """Build a :class:`HeteroGraph` from one sparse matrix per relation.

    Args:
        matrices: per edge type, a ``scipy.sparse`` matrix or array of shape
            ``[num_src, num_dst]``. Every stored entry is an edge (explicit zeros too);
            duplicate COO entries are kept as parallel edges.
        num_nodes: node counts; inferred from the shapes when absent (types that appear
            in no matrix must be listed here).
        weight_name: name of the edge array holding the stored values, created only when
            some value differs from 1.
        duplicates: ``"keep"`` or ``"merge"`` parallel edges.

    Raises:
        GraphValidationError: a non-sparse input, or shapes that disagree with each other
            or with ``num_nodes`` (the message names both relations and the node type).
    """
    if weight_name in ("src", "dst"):
        raise GraphValidationError(f"weight_name {weight_name!r} is reserved; pick another name")
    counts: dict[str, int] = dict(num_nodes or {})
    source: dict[str, str] = dict.fromkeys(counts, "num_nodes")
    edges: dict[EdgeType, dict[str, np.ndarray]] = {}
    for et, mat in matrices.items():
        if not (isinstance(et, tuple) and len(et) == 3):
            raise GraphValidationError(f"edge type {et!r}: expected a (src, rel, dst) tuple")
        what = f"relation {fmt_edge_type(et)}"
        if not sp.issparse(mat):
            raise GraphValidationError(
                f"{what}: expected a scipy.sparse matrix, got {type(mat).__name__}"
            )
        for nt, size, axis in ((et[0], mat.shape[0], "rows"), (et[2], mat.shape[1], "columns")):
            if nt in counts and counts[nt] != size:
                raise GraphValidationError(
                    f"{what}: has {size} {axis} but node type {nt!r} has {counts[nt]} nodes "
                    f"(from {source[nt]}); matrices sharing a node type must agree"
                )
            counts.setdefault(nt, int(size))
            source.setdefault(nt, what)
        if mat.format == "csr":  # read the layout directly: keeps duplicates and order
            rows = np.repeat(np.arange(mat.shape[0], dtype=np.int64), np.diff(mat.indptr))
            cols, data = mat.indices, mat.data
        else:
            coo = mat.tocoo()
            rows, cols, data = coo.row, coo.col, coo.data
        spec: dict[str, np.ndarray] = {"src": rows, "dst": cols}
        if data.size and not np.all(data == 1):
            spec[weight_name] = check_edge_array(data, len(data), f"{what} values")
        edges[et] = spec
    return HeteroGraph.from_edges(counts, edges, duplicates=duplicates)
