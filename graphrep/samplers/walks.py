"""Meta-path random walks with restart (termination), compiled and parallel over walks.

A walk from start node :math:`v_0` of type :math:`T_0` follows the meta-path
:math:`T_0 \\xrightarrow{r_1} \\cdots \\xrightarrow{r_H} T_H` ``num_traversals``
times (a cyclic path is needed for more than one), so it has
:math:`L = H \\cdot \\text{num\\_traversals}` steps. Step :math:`s` uses relation
:math:`r_{(s \\bmod H) + 1}` and moves to a neighbour uniformly or with
probability proportional to an edge weight (:mod:`graphrep.samplers.transition`).

*Restart* is the random-walk-with-restart termination of PinSage [Ying et al.,
KDD 2018, https://arxiv.org/abs/1806.01973] and DGL's ``random_walk``: the trace
ends (and the next walk restarts from its seed) with probability ``restart_prob``

* after each complete traversal of the meta-path, when ``restart_prob`` is a
  number, so walks always stop on the path's end type; or
* before step ``s`` with probability ``restart_prob[s]`` when it is an array of
  length :math:`L` (DGL's per-step convention).

A walk also stops at a dead end. Positions after the stop hold ``-1``.

Walk ``i`` draws from its own counter-based stream ``(seed, 0, i)``
(:mod:`graphrep.utils.rng`), so traces do not depend on the thread count, and
the kernel releases the GIL.

Example:
    >>> traces = random_walk(g, [0, 1], ["rev_clicks", "clicks"], num_traversals=5)
    >>> traces.shape   # item, user, item, ..., item
    (2, 11)
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import check_float, check_int, check_seed
from graphrep.samplers.lockstep import walk_block
from graphrep.samplers.metapath import MetaPath, Weight
from graphrep.utils.rng import stream_state

# Salt mixed into the seed so walks never share random streams with other samplers.
_WALK_SALT = 0x5A17_3C4D_0B1E_9A21


# Walks advanced together by one thread (see graphrep.samplers.lockstep).
BLOCK = 64


@numba.njit(cache=True, nogil=True, parallel=True)
def _walk_kernel(
    indptrs: tuple,
    indices: tuple,
    cumweights: tuple,
    weighted: np.ndarray,
    step_rel: np.ndarray,
    stop: np.ndarray,
    starts: np.ndarray,
    seed: int,
    out: np.ndarray,
) -> None:
    """Fill ``out[i] = (start, v_1, ..., v_L)`` with ``-1`` after a stop."""
    num = starts.shape[0]
    for c in prange((num + BLOCK - 1) // BLOCK):
        lo = c * BLOCK
        n = min(BLOCK, num - lo)
        states = np.empty(n, dtype=np.uint64)
        for k in range(n):
            states[k] = stream_state(seed, 0, lo + k)
            out[lo + k, 0] = starts[lo + k]
        groups = np.array([0, n], dtype=np.int64)
        walk_block(
            indptrs, indices, cumweights, weighted, step_rel, stop, groups,
            starts[lo : lo + n], states, out[lo : lo + n, 1:],
        )


def kernel_seed(seed: Any, salt: int) -> int:
    """Validate a user seed (an int in ``[0, 2**63)``) and mix in a sampler's salt."""
    seed = check_seed(seed)
    if seed >= 2**63:
        raise ConfigError(f"seed must be < 2**63 (it feeds a 64-bit counter RNG), got {seed}")
    return seed ^ salt


def stop_probabilities(restart_prob: Any, num_hops: int, num_traversals: int) -> np.ndarray:
    """Per-step termination probabilities (``float64 [L]``) from ``restart_prob``.

    A number ``r`` in ``[0, 1)`` stops with probability ``r`` before each traversal
    but the first; an array of length ``L = num_hops * num_traversals`` gives the
    probability of stopping before each step.
    """
    length = num_hops * num_traversals
    if np.ndim(restart_prob) == 0:
        r = check_float(restart_prob, "restart_prob", 0.0, 1.0, high_open=True)
        stop = np.zeros(length, dtype=np.float64)
        stop[num_hops::num_hops] = r
        return stop
    stop = np.asarray(restart_prob, dtype=np.float64)
    if stop.shape != (length,):
        raise ConfigError(
            f"restart_prob: expected a number or one probability per step ({length} = "
            f"{num_hops} hops x {num_traversals} traversals), got shape {stop.shape}"
        )
    if not np.all((stop >= 0) & (stop < 1)):
        raise ConfigError(f"restart_prob: every per-step probability must be in [0, 1), got {stop}")
    return stop


def random_walk(
    graph: HeteroGraph,
    starts: Any,
    metapath: MetaPath | Any,
    *,
    num_traversals: int = 1,
    restart_prob: float | Any = 0.0,
    weight: Weight = None,
    seed: int = 0,
) -> np.ndarray:
    """Random walks along a meta-path, one per start node.

    Args:
        graph: the graph.
        starts: start node ids (of the meta-path's start type), any integer array-like.
        metapath: a :class:`MetaPath` or a sequence of relation names / edge types.
        num_traversals: how many times the path is followed (``> 1`` needs a cyclic path).
        restart_prob: probability of ending the walk after each complete traversal,
            or one probability per step (see the module docstring); in ``[0, 1)``.
        weight: edge array used as transition weight (when ``metapath`` is not
            already a :class:`MetaPath`): a name for every hop or one per hop.
        seed: random seed; the same ``(seed, starts)`` gives the same traces.

    Returns:
        ``int64 [len(starts), L + 1]`` traces, ``L = hops * num_traversals``; column
        ``j`` holds nodes of type ``metapath.type_at(j)``; ``-1`` after a stop.

    Raises:
        SchemaError: unknown relation or weight array.
        GraphValidationError: start ids out of range or not integers.
        ConfigError: bad ``num_traversals``, ``restart_prob`` or ``seed``.
    """
    mp = MetaPath.resolve(graph, metapath, weight)
    num_traversals = check_int(num_traversals, "num_traversals", minimum=1)
    if num_traversals > 1 and not mp.is_cyclic:
        raise ConfigError(
            f"num_traversals={num_traversals} needs a cyclic meta-path (ending at its start "
            f"type), but {mp} ends at {mp.end_type!r}"
        )
    stop = stop_probabilities(restart_prob, mp.num_hops, num_traversals)
    seed = kernel_seed(seed, _WALK_SALT)
    what = f"random_walk starts (node type {mp.start_type!r})"
    starts = np.ascontiguousarray(check_node_ids(starts, graph.num_nodes[mp.start_type], what))
    out = np.empty((len(starts), len(stop) + 1), dtype=np.int64)
    if len(starts):
        indptrs, indices, cumweights, weighted, hop_rel = mp.kernel_arrays()
        step_rel = np.tile(hop_rel, num_traversals)[None, :]
        _walk_kernel(
            indptrs, indices, cumweights, weighted, step_rel, stop[None, :], starts,
            seed, out,
        )
    return out
