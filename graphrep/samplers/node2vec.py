"""node2vec (p, q) second-order random walks, for the skip-gram baseline.

node2vec [Grover & Leskovec, KDD 2016, https://arxiv.org/abs/1607.00653] biases
each step by where the walk came from. Having moved :math:`t \\to v`, the walk
goes to :math:`x \\in N(v)` with probability proportional to
:math:`w_{vx} \\cdot \\alpha_{pq}(t, x)` where

.. math::
    \\alpha_{pq}(t, x) = \\begin{cases}
        1/p & x = t \\\\
        1   & x \\in N(t) \\\\
        1/q & \\text{otherwise,}
    \\end{cases}

and the first step is first-order (:math:`\\propto w_{vx}`). ``p = q = 1`` is
DeepWalk. Sampling is by rejection as in KnightKing [Yang et al., SOSP 2019,
https://doi.org/10.1145/3341301.3359634]: propose :math:`x \\propto w_{vx}`,
accept with probability :math:`\\alpha_{pq}(t, x) / \\max(1/p, 1, 1/q)`; the test
:math:`x \\in N(t)` is a binary search on :math:`t`'s row (CSR rows are sorted
by destination). After 64 rejections (extreme ``p``, ``q``) the step falls back
to the exact :math:`O(d \\log d)` distribution, which keeps the law exact.

Walks run in parallel (GIL released); walk ``i`` uses stream ``(seed, 0, i)``,
so the output does not depend on the thread count. A walk stops at a dead end
and is padded with ``-1``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError, GraphValidationError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import check_float, check_int
from graphrep.samplers.homogeneous import homogeneous_csr
from graphrep.samplers.transition import pick, row_contains, row_cumsum
from graphrep.samplers.walks import kernel_seed
from graphrep.utils.rng import next_float, stream_state

_MAX_TRIALS = 64
_NODE2VEC_SALT = 0x2C6F_91B3_5D08_E4A7


@numba.njit(inline="always", nogil=True)
def _bias(indices: np.ndarray, plo: int, phi: int, prev: int, x: int, inv_p: float, inv_q: float) -> float:
    if x == prev:
        return inv_p
    if row_contains(indices, plo, phi, x):
        return 1.0
    return inv_q


@numba.njit(inline="always", nogil=True)
def _exact_step(
    indices: np.ndarray,
    cw: np.ndarray,
    weighted: bool,
    lo: int,
    hi: int,
    plo: int,
    phi: int,
    prev: int,
    inv_p: float,
    inv_q: float,
    state: np.uint64,
) -> tuple[np.uint64, int]:
    """Draw from the exact second-order distribution of the row ``[lo, hi)``."""
    total = 0.0
    for e in range(lo, hi):
        w = (cw[e] - (cw[e - 1] if e > lo else 0.0)) if weighted else 1.0
        total += w * _bias(indices, plo, phi, prev, indices[e], inv_p, inv_q)
    state, u = next_float(state)
    target = u * total
    acc = 0.0
    last = -1
    for e in range(lo, hi):
        w = (cw[e] - (cw[e - 1] if e > lo else 0.0)) if weighted else 1.0
        a = w * _bias(indices, plo, phi, prev, indices[e], inv_p, inv_q)
        if a > 0.0:
            last = indices[e]
            acc += a
            if acc > target:
                return state, last
    return state, last


@numba.njit(cache=True, nogil=True, parallel=True)
def _node2vec_kernel(
    indptr: np.ndarray,
    indices: np.ndarray,
    cw: np.ndarray,
    weighted: bool,
    starts: np.ndarray,
    inv_p: float,
    inv_q: float,
    seed: int,
    out: np.ndarray,
) -> None:
    length = out.shape[1] - 1
    a_max = max(inv_p, 1.0, inv_q)
    first_order = inv_p == 1.0 and inv_q == 1.0
    for i in prange(starts.shape[0]):
        state = stream_state(seed, 0, i)
        v = starts[i]
        prev = -1
        out[i, 0] = v
        for s in range(length):
            if v < 0:
                out[i, s + 1] = -1
                continue
            lo = indptr[v]
            hi = indptr[v + 1]
            if prev < 0 or first_order:
                state, x = pick(indices, cw, weighted, lo, hi, state)
            else:
                plo = indptr[prev]
                phi = indptr[prev + 1]
                x = -2
                for _ in range(_MAX_TRIALS):
                    state, y = pick(indices, cw, weighted, lo, hi, state)
                    if y < 0:  # dead end
                        x = -1
                        break
                    state, u = next_float(state)
                    if u * a_max < _bias(indices, plo, phi, prev, y, inv_p, inv_q):
                        x = y
                        break
                if x == -2:
                    state, x = _exact_step(
                        indices, cw, weighted, lo, hi, plo, phi, prev, inv_p, inv_q, state
                    )
            prev = v
            v = x
            out[i, s + 1] = x


def node2vec_walk(
    graph: HeteroGraph | CSR,
    starts: Any,
    walk_length: int,
    p: float = 1.0,
    q: float = 1.0,
    *,
    relations: Any = None,
    weight: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """node2vec walks (see the module docstring).

    Args:
        graph: a square :class:`CSR` (``num_src == num_dst``), or a HeteroGraph
            whose homogeneous view (:func:`~graphrep.samplers.homogeneous.homogeneous_csr`
            over ``relations``; default all relations both ways) is walked. For
            repeated calls build the view once and pass the CSR.
        starts: start node ids (global ids for a HeteroGraph view).
        walk_length: steps per walk (the trace has ``walk_length + 1`` nodes).
        p: return parameter (``> 0``); large ``p`` avoids going back.
        q: in-out parameter (``> 0``); small ``q`` explores outward (DFS-like).
        relations: relations of the HeteroGraph view (ignored for a CSR).
        weight: edge array of the CSR used as ``w`` (``None``: unweighted).
        seed: random seed.

    Returns:
        ``int64 [len(starts), walk_length + 1]`` traces, ``-1`` after a dead end.
    """
    if isinstance(graph, HeteroGraph):
        csr, _ = homogeneous_csr(graph, relations, weight=weight)
        weight = "weight" if weight is not None else None
    elif isinstance(graph, CSR):
        csr = graph
        if csr.num_src != csr.num_dst:
            raise GraphValidationError(
                f"node2vec_walk needs a homogeneous relation (square CSR), got "
                f"{csr.num_src} sources x {csr.num_dst} destinations"
            )
    else:
        raise ConfigError(f"node2vec_walk: expected a HeteroGraph or CSR, got {type(graph).__name__}")
    walk_length = check_int(walk_length, "walk_length", minimum=0)
    inv_p = 1.0 / check_float(p, "p", 0.0, np.inf, low_open=True, high_open=True)
    inv_q = 1.0 / check_float(q, "q", 0.0, np.inf, low_open=True, high_open=True)
    seed = kernel_seed(seed, _NODE2VEC_SALT)
    starts = np.ascontiguousarray(check_node_ids(starts, csr.num_src, "node2vec_walk starts"))
    cw = row_cumsum(csr, weight, "node2vec relation") if weight is not None else np.zeros(0)
    out = np.empty((len(starts), walk_length + 1), dtype=np.int64)
    if len(starts):
        _node2vec_kernel(
            np.asarray(csr.indptr, dtype=np.int64), np.asarray(csr.indices), cw,
            weight is not None, starts, inv_p, inv_q, seed, out,
        )
    return out
