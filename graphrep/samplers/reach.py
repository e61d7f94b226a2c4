r"""Which seeds' importance neighbourhoods can change when some rows of the graph change.

An :class:`~graphrep.samplers.importance.ImportanceSampler` walk of meta-path
:math:`m` takes step :math:`s = 0 .. S - 1` (:math:`S` = ``num_traversals`` times the
path's hops) from the node at position :math:`s` along relation :math:`r_{m,s}`, reading
that node's CSR row; its random draws depend only on ``(seed, step, seed node, walk)``.
So a walk on the changed graph is the walk on the old graph up to the first step that
reads a *changed row* (a row that gained edges), and a seed whose walks never can read
one keeps its neighbourhood exactly. The seeds that can are, per path, the set
:math:`A_0` of the backward recursion over positions

.. math::
    A_S = \emptyset, \qquad
    A_s = C(r_{m,s}) \cup \{x : \exists\, x \to y \in r_{m,s},\ y \in A_{s+1}\},

where :math:`C(r)` are the nodes whose row of :math:`r` changed (the predecessors are
read from the old graph's reverse relation: before its first changed row a walk only
moves along old edges). Restarts and dead ends only shorten walks, so :math:`A_0` is a
superset of the seeds whose walks do read a changed row, and an exact one for "could".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from graphrep.graph.csr import CSR
from graphrep.graph.validate import EdgeType
from graphrep.samplers.importance import ImportanceSampler


def _predecessors(csr: CSR, nodes: np.ndarray) -> np.ndarray:
    """Concatenated rows ``nodes`` of ``csr`` (the reverse relation: predecessors)."""
    starts = csr.indptr[nodes]
    lengths = csr.indptr[nodes + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    pos = np.repeat(starts - offsets, lengths) + np.arange(total)
    return np.asarray(csr.indices[pos], dtype=np.int64)


def walk_reach(sampler: ImportanceSampler, changed_rows: Mapping[EdgeType, np.ndarray]) -> np.ndarray:
    """Sorted seed ids (of ``sampler.seed_type``) whose walks can read a changed row.

    Args:
        sampler: the sampler on the *old* graph.
        changed_rows: edge type -> ids of old-graph nodes whose row of that relation
            changed (ids beyond the old graph, new nodes, are ignored: reaching one needs
            a changed row first).
    """
    graph = sampler.graph
    reach = np.zeros(graph.num_nodes[sampler.seed_type], dtype=bool)
    for mp in sampler.metapaths:
        hops = mp.num_hops
        ahead: np.ndarray | None = None  # A_{s+1} as a boolean mask of its node type
        for s in range(sampler.num_traversals * hops - 1, -1, -1):
            et = mp.edge_types[s % hops]
            cur = np.zeros(graph.num_nodes[et[0]], dtype=bool)
            rows = changed_rows.get(et)
            if rows is not None and len(rows):
                rows = np.asarray(rows, dtype=np.int64)
                cur[rows[rows < len(cur)]] = True
            if ahead is not None and ahead.any():
                rev = graph.csr(graph.reverse_of(et))
                cur[_predecessors(rev, np.flatnonzero(ahead))] = True
            ahead = cur
        if ahead is not None:
            reach |= ahead
    return np.flatnonzero(reach)


__all__ = ["walk_reach"]
