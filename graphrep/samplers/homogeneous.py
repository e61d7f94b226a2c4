"""A homogeneous view of a HeteroGraph: every node in one id space, chosen relations merged.

Baselines that ignore types (DeepWalk, node2vec skip-gram) walk one graph over
all nodes. Node ``i`` of type ``t`` gets the global id ``offsets[t] + i`` (types in
``graph.node_types`` order) and the edges of the chosen relations are merged
into one square :class:`~graphrep.graph.csr.CSR`. By default every relation *and
its reverse* is included, so the view is symmetric (undirected).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphrep.errors import SchemaError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType, fmt_edge_type


def type_offsets(graph: HeteroGraph) -> dict[str, int]:
    """Global id of the first node of each type (``graph.node_types`` order)."""
    counts = [graph.num_nodes[t] for t in graph.node_types]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts else []
    return {t: int(s) for t, s in zip(graph.node_types, starts, strict=True)}


def homogeneous_csr(
    graph: HeteroGraph,
    edge_types: Sequence[str | EdgeType] | None = None,
    *,
    weight: str | None = None,
    duplicates: str = "keep",
) -> tuple[CSR, dict[str, int]]:
    """Merge relations into one CSR over global node ids.

    Args:
        graph: the graph.
        edge_types: relations to include (names or edge types, reverses allowed);
            ``None``: all of them, reverses included (a symmetric view).
        weight: name of an edge array to carry over as ``"weight"`` (every chosen
            relation must have it), or ``None``.
        duplicates: ``"keep"`` parallel edges or ``"merge"`` them (weights summed).

    Returns:
        ``(csr, offsets)``: the merged relation and each type's first global id.
    """
    offsets = type_offsets(graph)
    total = sum(graph.num_nodes.values())
    ets = graph.edge_types if edge_types is None else [graph.edge_type(e) for e in edge_types]
    srcs, dsts, ws = [], [], []
    for et in ets:
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        srcs.append(src + offsets[et[0]])
        dsts.append(dst + offsets[et[2]])
        if weight is not None:
            if weight not in csr.edge_data:
                raise SchemaError(
                    f"relation {fmt_edge_type(et)} has no edge array {weight!r}; "
                    f"it has {sorted(csr.edge_data)}"
                )
            ws.append(np.asarray(csr.edge_data[weight], dtype=np.float64))
    src = np.concatenate(srcs) if srcs else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dsts) if dsts else np.zeros(0, dtype=np.int64)
    data = {"weight": np.concatenate(ws) if ws else np.zeros(0)} if weight is not None else None
    return CSR.from_coo(src, dst, total, total, data, duplicates=duplicates), offsets
