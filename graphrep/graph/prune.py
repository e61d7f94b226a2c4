"""Degree pruning as in OmniSage (KDD'25, https://arxiv.org/abs/2504.17811).

High-degree nodes (viral pins, huge boards) dominate random walks and memory.
OmniSage keeps, for a node of degree ``d``,

.. math::
    k(d) = \\min\\bigl(d,\\ \\max(\\min(\\lceil d^{\\alpha} \\rceil, d_{max}), d_{min})\\bigr)

edges sampled uniformly without replacement (``alpha = 0.86``, ``d_min = 10``,
``d_max = 10000``): nodes with at most ``d_min`` edges keep all of them, hubs keep
a sub-linear number. The choice is made per row of a relation's CSR with a
counter-based RNG stream per node, so it is seeded, parallel and independent of
the thread count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from graphrep.errors import ConfigError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType
from graphrep.utils.rng import next_below, stream_state


def kept_degree(
    degree: np.ndarray, alpha: float = 0.86, d_min: int = 10, d_max: int = 10000
) -> np.ndarray:
    """Number of edges kept for each degree (vectorised ``k(d)`` above)."""
    d = np.asarray(degree, dtype=np.int64)
    k = np.maximum(
        np.minimum(np.ceil(d.astype(np.float64) ** alpha).astype(np.int64), d_max), d_min
    )
    return np.minimum(d, k)


@numba.njit(cache=True, nogil=True, parallel=True)
def _select_rows(indptr: np.ndarray, keep_k: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Boolean mask over edges: ``keep_k[r]`` edges of row ``r`` chosen uniformly."""
    n = indptr.shape[0] - 1
    mask = np.zeros(indptr[-1], dtype=np.bool_)
    for r in numba.prange(n):
        start, d, k = indptr[r], indptr[r + 1] - indptr[r], keep_k[r]
        if k >= d:
            mask[start : start + d] = True
            continue
        # partial Fisher-Yates over row positions: the first k of a random permutation
        pos = np.arange(d)
        state = stream_state(seed, stream, r)
        for i in range(k):
            state, j = next_below(state, d - i)
            j += i
            pos[i], pos[j] = pos[j], pos[i]
            mask[start + pos[i]] = True
    return mask


def prune_csr(
    csr: CSR,
    alpha: float = 0.86,
    d_min: int = 10,
    d_max: int = 10000,
    seed: int = 0,
    stream: int = 0,
) -> CSR:
    """Prune the rows of one CSR (see module docstring)."""
    keep = kept_degree(csr.degrees(), alpha, d_min, d_max)
    if (keep == csr.degrees()).all():
        return csr
    return csr.select_edges(_select_rows(csr.indptr, keep, seed, stream))


def prune_degrees(
    graph: HeteroGraph,
    alpha: float = 0.86,
    d_min: int = 10,
    d_max: int = 10000,
    seed: int = 0,
    relations: Sequence[str | EdgeType] | None = None,
    side: str = "both",
) -> HeteroGraph:
    """A new graph with OmniSage degree pruning applied to the chosen relations.

    Args:
        graph: the input graph (not modified).
        alpha, d_min, d_max: the pruning rule ``k(d)``; ``0 < alpha <= 1``, ``1 <= d_min <= d_max``.
        seed: RNG seed (same seed, same graph).
        relations: forward relations to prune (default: all).
        side: ``"src"`` prunes each relation's source rows, ``"dst"`` its destination
            rows (hub pins with many boards), ``"both"`` the source rows and then the
            destination rows of what remains. Reverses are rebuilt from the result.
    """
    if not 0 < alpha <= 1:
        raise ConfigError(f"prune_degrees: alpha must be in (0, 1], got {alpha}")
    if not 1 <= d_min <= d_max:
        raise ConfigError(
            f"prune_degrees: need 1 <= d_min <= d_max, got d_min={d_min}, d_max={d_max}"
        )
    if side not in ("src", "dst", "both"):
        raise ConfigError(f"prune_degrees: side must be 'src', 'dst' or 'both', got {side!r}")
    chosen = {graph.edge_type(r) for r in relations} if relations is not None else None
    if chosen is not None:
        bad = [et for et in chosen if graph.is_reverse(et)]
        if bad:
            raise ConfigError(f"prune_degrees: pass forward relations, not reverses: {bad}")
    new: dict[EdgeType, CSR] = {}
    for i, et in enumerate(graph.canonical_edge_types):
        csr = graph.csr(et)
        if chosen is None or et in chosen:
            if side in ("src", "both"):
                csr = prune_csr(csr, alpha, d_min, d_max, seed, stream=2 * i)
            if side in ("dst", "both"):
                csr = prune_csr(
                    csr.transpose(), alpha, d_min, d_max, seed, stream=2 * i + 1
                ).transpose()
        new[et] = csr
    return HeteroGraph(graph.num_nodes, new, node_ids=graph.node_ids, features=graph.features)
