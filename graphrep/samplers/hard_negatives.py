"""Hard negatives from a personalized-PageRank rank band, with PinSage's curriculum.

PinSage [Ying et al., KDD 2018, https://arxiv.org/abs/1806.01973, §3.3] makes
training harder over time with negatives that are *related but not positive*:
for a query :math:`q` it ranks the corpus by personalized PageRank

.. math::
    \\pi_q = \\alpha\\, e_q + (1 - \\alpha)\\, \\pi_q T

(:math:`T` the transition matrix of one meta-path traversal, :math:`\\alpha` the
restart probability) and draws negatives uniformly from ranks 2000–5000 of a
~3B-item corpus. Epoch :math:`n` adds :math:`n - 1` of them per query
(:func:`curriculum_num_hard`).

**Scaling the band to the corpus.** A fixed 2000–5000 would be the whole of a
small corpus, so :func:`default_rank_band` takes the band as 2 %–5 % of the
``n`` candidates, clipped to PinSage's absolute band:

.. math::
    lo = \\min(2000, \\max(1, \\lfloor 0.02 n \\rceil)),\\quad
    hi = \\min(5000, \\max(lo + 1, \\lfloor 0.05 n \\rceil)),

so every corpus of 100k items or more gets exactly PinSage's (2000, 5000) and a
10k-item corpus gets (200, 500). Ranks are 0-based over the ranking with the
query itself removed. When a query's ranking has ``lo`` or fewer entries (a
cold or isolated node) its negatives fall back to uniform ids of the type.

PPR comes from :func:`graphrep.samplers.ppr.ppr_push` (forward push, top-``hi``
per query, threshold :func:`default_push_eps`); the band draws run in a numba
kernel parallel over queries with the counter-based RNG, so the output does not
depend on the thread count.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import StepCounter, check_float, check_int, check_seed
from graphrep.samplers.metapath import MetaPath
from graphrep.utils.rng import next_below, stream_state

PINSAGE_BAND = (2000, 5000)


def default_rank_band(num_candidates: int) -> tuple[int, int]:
    """PinSage's rank band scaled to ``num_candidates`` (see the module docstring)."""
    n = check_int(num_candidates, "num_candidates", minimum=0)
    lo = min(PINSAGE_BAND[0], max(1, round(0.02 * n)))
    hi = min(PINSAGE_BAND[1], max(lo + 1, round(0.05 * n)))
    return lo, hi


def default_push_eps(hi: int) -> float:
    """Push threshold ``1 / (50 hi)`` that resolves a PPR ranking down to rank ``hi``.

    Forward push only scores nodes its residuals reach; with a threshold
    :math:`\\varepsilon` it touches :math:`O(1 / (\\alpha \\varepsilon))` states.
    On a 100k-pin clustered graph (``restart=0.15``) ``1 / (50 hi)`` ranks at least
    ``hi = 5000`` nodes for nearly every query (``1 / (20 hi)`` reaches ~3300): deep
    bands are costly (seconds per few hundred queries), which PinSage paid offline.
    """
    return 1.0 / (50.0 * check_int(hi, "hi"))


def curriculum_num_hard(epoch: int, max_hard: int | None = None) -> int:
    """Hard negatives per query in (1-based) ``epoch``: ``epoch - 1`` (PinSage), capped."""
    epoch = check_int(epoch, "epoch", minimum=1)
    num = epoch - 1
    return num if max_hard is None else min(num, check_int(max_hard, "max_hard", minimum=0))


@numba.njit(cache=True, nogil=True, inline="always")
def _uniform_excluding(state: np.uint64, n: int, a: int, b: int) -> tuple[np.uint64, int]:
    """Uniform id in ``[0, n)`` other than ``a`` and ``b`` (either may be -1 = none)."""
    lo = min(a, b)
    hi = max(a, b)
    k = (1 if lo >= 0 else 0) + (1 if hi >= 0 and hi != lo else 0)
    state, j = next_below(state, n - k)
    if lo >= 0 and j >= lo:
        j += 1
    if hi >= 0 and hi != lo and j >= hi:
        j += 1
    return state, j


@numba.njit(cache=True, nogil=True, parallel=True)
def _band_kernel(
    ranked: np.ndarray,
    valid: np.ndarray,
    queries: np.ndarray,
    positives: np.ndarray,
    lo: int,
    hi: int,
    num: int,
    num_nodes: int,
    seed: int,
    stream: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``num`` uniform draws per row from ranks ``[lo, hi)`` (query and positive removed)."""
    batch, width = ranked.shape
    out = np.empty((batch, num), dtype=np.int64)
    fallback = np.zeros(batch, dtype=np.bool_)
    for b in prange(batch):
        state = stream_state(seed, stream, b)
        q = queries[b]
        p = positives[b]
        band = np.empty(hi - lo, dtype=np.int64)
        size = 0
        rank = 0
        for k in range(width):
            v = ranked[b, k]
            if not valid[b, k] or v == q:
                continue
            if rank >= hi:
                break
            if rank >= lo and v != p:
                band[size] = v
                size += 1
            rank += 1
        if size == 0:  # fewer than lo + 1 ranked nodes (or only the positive): uniform
            fallback[b] = True
            for k in range(num):
                state, out[b, k] = _uniform_excluding(state, num_nodes, q, p)
        else:
            for k in range(num):
                state, j = next_below(state, size)
                out[b, k] = band[j]
    return out, fallback


class HardNegativeSampler:
    """Negatives drawn uniformly from ranks ``[lo, hi)`` of each query's PPR ranking.

    Args:
        graph: the graph.
        metapath: a cyclic meta-path from the query type back to itself, e.g.
            ``["saved_to", "rev_saved_to"]`` (pin→board→pin), or a :class:`MetaPath`.
        rank_band: ``(lo, hi)`` 0-based ranks; default :func:`default_rank_band` of the
            number of nodes of the query type.
        restart: PPR restart probability ``alpha`` in ``(0, 1)``.
        eps: forward-push threshold (smaller = deeper, more exact ranking, slower); default
            :func:`default_push_eps` of ``hi``, so the ranking reaches rank ``hi``.
        seed: random seed; ``(seed, step)`` fixes the output.

    Example:
        >>> g = HeteroGraph.from_edges(
        ...     {"pin": 4, "board": 2}, {("pin", "saved_to", "board"): ([0, 1, 2, 3], [0, 0, 0, 1])})
        >>> hard = HardNegativeSampler(g, ["saved_to", "rev_saved_to"], seed=0)
        >>> hard.sample_for_epoch(np.array([0, 3]), epoch=3).shape   # 2 hard per query
        (2, 2)
    """

    def __init__(
        self,
        graph: HeteroGraph,
        metapath: MetaPath | Any,
        rank_band: tuple[int, int] | None = None,
        restart: float = 0.15,
        eps: float | None = None,
        seed: int = 0,
    ) -> None:
        self.graph = graph
        self.metapath = MetaPath.resolve(graph, metapath)
        if not self.metapath.is_cyclic:
            raise ConfigError(
                f"HardNegativeSampler: metapath must end at its start type, but {self.metapath} "
                f"ends at {self.metapath.end_type!r}"
            )
        self.node_type = self.metapath.start_type
        self.num_nodes = graph.num_nodes[self.node_type]
        if rank_band is None:
            rank_band = default_rank_band(self.num_nodes)
        if not (isinstance(rank_band, tuple | list) and len(rank_band) == 2):
            raise ConfigError(f"rank_band must be a (lo, hi) pair, got {rank_band!r}")
        lo = check_int(rank_band[0], "rank_band lo", minimum=0)
        hi = check_int(rank_band[1], "rank_band hi", minimum=1)
        if lo >= hi:
            raise ConfigError(f"rank_band: need lo < hi, got ({lo}, {hi})")
        self.rank_band = (lo, hi)
        self.restart = check_float(restart, "restart", 0.0, 1.0, low_open=True, high_open=True)
        self.eps = default_push_eps(hi) if eps is None else check_float(
            eps, "eps", 0.0, 1.0, low_open=True
        )
        self.seed = check_seed(seed)
        self._steps = StepCounter()

    def ranking(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-``hi + 1`` PPR ids per query (descending score) and their validity mask."""
        from graphrep.samplers.ppr import ppr_push

        hood = ppr_push(
            self.graph,
            queries,
            self.metapath,
            restart=self.restart,
            eps=self.eps,
            top_k={self.node_type: self.rank_band[1] + 1},
        )
        ids = np.asarray(hood.ids[self.node_type], dtype=np.int64)
        mask = np.asarray(hood.mask[self.node_type], dtype=np.bool_)
        return ids, mask

    def sample(
        self,
        queries: Any,
        num_negatives: int,
        positives: Any | None = None,
        step: int | None = None,
    ) -> np.ndarray:
        """``num_negatives`` hard negatives per query (``int64 [B, num_negatives]``).

        Args:
            queries: ``[B]`` ids of the meta-path's start type; never returned for their row.
            num_negatives: negatives per query (``>= 1``).
            positives: optional ``[B]`` positive ids, never returned for their row.
            step: stream index (default: the next value of an internal counter).
        """
        num = check_int(num_negatives, "num_negatives")
        return self._sample(queries, num, positives, step)[0]

    def _sample(
        self, queries: Any, num: int, positives: Any | None, step: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        what = f"HardNegativeSampler queries (node type {self.node_type!r})"
        queries = check_node_ids(queries, self.num_nodes, what)
        if positives is None:
            pos = np.full(len(queries), -1, dtype=np.int64)
        else:
            pos = check_node_ids(positives, self.num_nodes, "HardNegativeSampler positives")
            if len(pos) != len(queries):
                raise ConfigError(
                    f"HardNegativeSampler: {len(pos)} positives for {len(queries)} queries"
                )
        if self.num_nodes < 3 and len(queries):
            raise ConfigError(
                f"HardNegativeSampler: node type {self.node_type!r} has {self.num_nodes} nodes; "
                "need >= 3 so a negative can differ from both query and positive"
            )
        step = self._steps.resolve(step)
        if len(queries) == 0 or num == 0:
            return np.empty((len(queries), num), np.int64), np.zeros(len(queries), bool)
        ranked, valid = self.ranking(queries)
        lo, hi = self.rank_band
        return _band_kernel(
            ranked, valid, queries, pos, lo, hi, num, self.num_nodes, self.seed, step
        )

    def sample_for_epoch(
        self,
        queries: Any,
        epoch: int,
        positives: Any | None = None,
        step: int | None = None,
        max_hard: int | None = None,
    ) -> np.ndarray:
        """PinSage's curriculum: ``curriculum_num_hard(epoch, max_hard)`` negatives per query.

        Returns ``int64 [B, epoch - 1]`` (``[B, 0]`` in the first epoch, without PPR).
        """
        num = curriculum_num_hard(epoch, max_hard)
        return self._sample(queries, num, positives, step)[0]
