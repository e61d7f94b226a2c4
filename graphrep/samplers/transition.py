"""One random-walk transition over a CSR row: uniform or proportional to an edge weight.

From node :math:`v` a walk moves to neighbour :math:`x` with probability

.. math::
    P(v \\to x) = \\frac{w_{vx}}{\\sum_{x' \\in N(v)} w_{vx'}}
    \\qquad (w \\equiv 1 \\text{ when unweighted}),

and stops at a *dead end*: a node without out-edges, or whose edge weights sum
to zero. Weighted draws use row-local cumulative sums :math:`c_e` (built once
per relation by :func:`row_cumsum`) and a binary search for the first edge with
:math:`c_e > u \\cdot c_{\\text{last}}`, :math:`u \\sim U[0, 1)`: O(log d) per
step and exact, zero-weight edges are never taken.

These are the building blocks of every walk kernel in :mod:`graphrep.samplers`
(meta-path walks, importance neighborhoods, node2vec); they are ``inline``
numba functions, so the kernels pay no call overhead.
"""

from __future__ import annotations

import weakref

import numba
import numpy as np
from numba import prange

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.csr import CSR
from graphrep.utils.rng import next_below, next_float

# Row cumulative weights per (CSR object, edge array name): built once, reused by
# every sampler over the same relation, dropped with the CSR.
_CUMSUM_CACHE: weakref.WeakKeyDictionary[CSR, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()


@numba.njit(cache=True, nogil=True, parallel=True)
def _row_cumsum_kernel(indptr: np.ndarray, weight: np.ndarray, out: np.ndarray) -> None:
    for r in prange(indptr.shape[0] - 1):
        acc = 0.0
        for e in range(indptr[r], indptr[r + 1]):
            acc += weight[e]
            out[e] = acc


def row_cumsum(csr: CSR, weight: str, what: str) -> np.ndarray:
    """Row-local cumulative sums (``float64``) of edge array ``weight`` of ``csr``.

    Args:
        csr: the relation.
        weight: name of a per-edge array in ``csr.edge_data``.
        what: relation description used in error messages.

    Raises:
        SchemaError: ``weight`` is not an edge array of the relation.
        GraphValidationError: a weight is negative or not finite.
    """
    cached = _CUMSUM_CACHE.setdefault(csr, {})
    if weight in cached:
        return cached[weight]
    if weight not in csr.edge_data:
        raise SchemaError(
            f"{what} has no edge array {weight!r}; it has {sorted(csr.edge_data)} "
            "(pass weight=None for uniform transitions)"
        )
    w = np.asarray(csr.edge_data[weight])
    if not (np.issubdtype(w.dtype, np.number) or w.dtype == bool):
        raise GraphValidationError(f"{what} edge array {weight!r}: expected numbers, got {w.dtype}")
    w = w.astype(np.float64, copy=False)
    if w.size and (not np.all(np.isfinite(w)) or w.min() < 0):
        bad = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
        raise GraphValidationError(
            f"{what} edge array {weight!r}: weight {w[bad]} at edge {bad}; "
            "expected finite weights >= 0"
        )
    out = np.empty(len(w), dtype=np.float64)
    _row_cumsum_kernel(np.asarray(csr.indptr), w, out)
    cached[weight] = out
    return out


@numba.njit(inline="always", nogil=True)
def search_cumsum(cw: np.ndarray, lo: int, hi: int, x: float) -> int:
    """First edge ``e`` in ``[lo, hi)`` with ``cw[e] > x`` (``hi - 1`` if none: rounding)."""
    a, b = lo, hi - 1
    while a < b:
        m = (a + b) >> 1
        if cw[m] > x:
            b = m
        else:
            a = m + 1
    return a


@numba.njit(inline="always", nogil=True)
def pick(
    indices: np.ndarray,
    cw: np.ndarray,
    weighted: bool,
    lo: int,
    hi: int,
    state: np.uint64,
) -> tuple[np.uint64, int]:
    """Draw a neighbour from the row ``[lo, hi)``; ``-1`` if it is a dead end."""
    if hi == lo:
        return state, -1
    if not weighted:
        state, j = next_below(state, hi - lo)
        return state, indices[lo + j]
    total = cw[hi - 1]
    if total <= 0.0:
        return state, -1
    state, u = next_float(state)
    e = search_cumsum(cw, lo, hi, u * total)
    # u * total may round up to total: step back over trailing zero-weight edges
    while e > lo and cw[e] == cw[e - 1]:
        e -= 1
    return state, indices[e]


@numba.njit(inline="always", nogil=True)
def step(
    indptr: np.ndarray,
    indices: np.ndarray,
    cw: np.ndarray,
    weighted: bool,
    v: int,
    state: np.uint64,
) -> tuple[np.uint64, int]:
    """Move from ``v`` along one relation; returns ``(state, next node)`` or ``-1`` at a dead end."""
    return pick(indices, cw, weighted, indptr[v], indptr[v + 1], state)


@numba.njit(inline="always", nogil=True)
def row_contains(indices: np.ndarray, lo: int, hi: int, x: int) -> bool:
    """Whether the sorted row ``indices[lo:hi]`` holds ``x`` (binary search)."""
    a, b = lo, hi
    while a < b:
        m = (a + b) >> 1
        if indices[m] < x:
            a = m + 1
        else:
            b = m
    return a < hi and indices[a] == x
