"""Importance neighborhoods (PinSage, OmniSage): top visited nodes of short walks with restart.

PinSage [Ying et al., "Graph Convolutional Neural Networks for Web-Scale
Recommender Systems", KDD 2018, https://arxiv.org/abs/1806.01973] defines the
neighborhood of a node as the nodes most often visited by random walks with
restart from it, weighted by visit counts; OmniSage
[https://arxiv.org/abs/2504.17811] keeps the top nodes of *each type* (quotas,
e.g. 25 pins and 10 boards) from walks along several meta-paths.

Definition. From seed :math:`s` (of the meta-paths' common start type) run
:math:`W` walks; walk :math:`w` follows meta-path :math:`w \\bmod M` (so walks are
split evenly over the :math:`M` paths) up to :math:`T` times (``num_traversals``),
ending after each complete traversal but the last with probability :math:`r`
(``restart_prob``; the next walk starts again at the seed) or at a dead end.
This is DGL's ``RandomWalkNeighborSampler`` walk. Every node reached by every
hop is a *visit* of its type; the seed itself is never counted. Let
:math:`c_t(v)` be the visits of node :math:`v` of type :math:`t`; the
neighborhood of type :math:`t` is the :math:`k_t` nodes with the largest
:math:`c_t` (ties: smaller id) and their weights are

.. math::
    \\alpha_t(v) = \\frac{c_t(v)}{\\sum_{u \\in \\text{top-}k_t} c_t(u)}.

Link to personalized PageRank. For one cyclic path with traversal transition
matrix :math:`P` and :math:`T \\to \\infty`, the expected visits at traversal ends
are :math:`\\sum_{t \\ge 1}(1-r)^{t-1} e_s^\\top P^t = (\\pi_s - r e_s)/(r(1-r))`
where :math:`\\pi_s = r \\sum_{t \\ge 0}(1-r)^t e_s^\\top P^t` is the PPR vector with
teleport :math:`r`; so with the seed excluded, :math:`\\alpha` over all nodes
converges to :math:`\\pi_s` renormalised off the seed (tests check this against
power iteration), and nodes of an intermediate type :math:`i` (first hop
:math:`A`) get :math:`\\propto (\\pi_s A)`. :func:`graphrep.samplers.ppr.ppr_push`
computes the same scores deterministically.

The kernel walks blocks of walks in lock-step (:mod:`graphrep.samplers.lockstep`),
counts visits of each seed in a small hash table (:mod:`graphrep.samplers.hashmap`)
and keeps the top-k with a bounded heap (:mod:`graphrep.samplers.topk`). It runs
in parallel over seeds and releases the GIL; walk ``w`` of seed node ``v`` draws
from stream ``(seed, step, v * W + w)``, so a node's neighborhood depends only on
``(seed, step)``: not on the thread count, the batch, or its position in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import StepCounter, check_float, check_int, check_seed, node_count
from graphrep.samplers.hashmap import capacity_for, find_or_insert, table_shift
from graphrep.samplers.lockstep import walk_block
from graphrep.samplers.metapath import MetaPath, Weight, pack_hops
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.topk import drain_normalised_row, heap_offer
from graphrep.samplers.walks import kernel_seed
from graphrep.utils.rng import stream_state

__all__ = ["ImportanceSampler", "Neighborhood", "importance_neighbors"]

# Walks advanced in lock-step per block; small-W batches pack several seeds per block.
BLOCK = 128
_IMPORTANCE_SALT = 0x1D9B_52E7_A3C0_46F1


@numba.njit(cache=True, nogil=True, parallel=True)
def _importance_kernel(
    indptrs: tuple,
    indices: tuple,
    cumweights: tuple,
    weighted: np.ndarray,
    step_rel: np.ndarray,
    stop: np.ndarray,
    step_slot: np.ndarray,
    seeds: np.ndarray,
    seed_slot: int,
    num_walks: int,
    quotas: np.ndarray,
    capacity: int,
    rng_seed: int,
    rng_stream: int,
    col: np.ndarray,
    out_ids: np.ndarray,
    out_weights: np.ndarray,
    out_mask: np.ndarray,
) -> None:
    num_seeds = seeds.shape[0]
    num_paths, num_steps = step_rel.shape
    num_slots = quotas.shape[0]
    kmax = quotas.max()
    # several seeds per block when walks are few, else one seed in sub-blocks of walks
    per_chunk = max(1, BLOCK // num_walks)
    num_sub = 1 if per_chunk > 1 else (num_walks + BLOCK - 1) // BLOCK
    sub_walks = (num_walks + num_sub - 1) // num_sub
    max_rows = per_chunk * num_walks if per_chunk > 1 else sub_walks
    shift = table_shift(capacity)
    for c in prange((num_seeds + per_chunk - 1) // per_chunk):
        b0 = c * per_chunk
        nb = min(per_chunk, num_seeds - b0)
        keys = np.full(capacity, -1, dtype=np.int64)
        counts = np.zeros(capacity, dtype=np.int64)
        touched = np.empty(capacity, dtype=np.int64)
        h_score = np.empty(kmax, dtype=np.float64)
        h_id = np.empty(kmax, dtype=np.int64)
        o_score = np.empty(kmax, dtype=np.float64)
        o_id = np.empty(kmax, dtype=np.int64)
        starts = np.empty(max_rows, dtype=np.int64)
        states = np.empty(max_rows, dtype=np.uint64)
        trace = np.empty((max_rows, num_steps), dtype=np.int64)
        groups = np.zeros(num_paths + 1, dtype=np.int64)
        first = np.empty(num_paths, dtype=np.int64)
        per_path = np.empty(num_paths, dtype=np.int64)
        num_touched = 0
        for sub in range(num_sub):
            w0 = sub * sub_walks
            w1 = min(num_walks, w0 + sub_walks)
            # rows grouped by path (walk w follows path w % M), seed-major inside a group
            for m in range(num_paths):
                first[m] = w0 + (m - w0) % num_paths
                per_path[m] = (w1 - first[m] + num_paths - 1) // num_paths if first[m] < w1 else 0
                groups[m + 1] = groups[m] + nb * per_path[m]
                for j in range(nb):
                    node = seeds[b0 + j]
                    for i in range(per_path[m]):
                        row = groups[m] + j * per_path[m] + i
                        starts[row] = node
                        w = first[m] + i * num_paths
                        states[row] = stream_state(rng_seed, rng_stream, node * num_walks + w)
            rows = groups[num_paths]
            walk_block(
                indptrs,
                indices,
                cumweights,
                weighted,
                step_rel,
                stop,
                groups,
                starts[:rows],
                states[:rows],
                trace[:rows],
            )
            for j in range(nb):
                node = seeds[b0 + j]
                for m in range(num_paths):
                    for i in range(per_path[m]):
                        row = groups[m] + j * per_path[m] + i
                        for s in range(num_steps):
                            v = trace[row, s]
                            if v < 0:
                                break
                            sl = step_slot[m, s]
                            if sl < 0 or (sl == seed_slot and v == node):
                                continue
                            pos, inserted = find_or_insert(keys, v * num_slots + sl, shift)
                            if inserted:
                                touched[num_touched] = pos
                                num_touched += 1
                            counts[pos] += 1
                if sub < num_sub - 1:
                    continue
                # finalise seed b: top-k per slot, normalised weights, reset the table
                b = b0 + j
                for sl in range(num_slots):
                    size = 0
                    for t in range(num_touched):
                        pos = touched[t]
                        key = keys[pos]
                        if key % num_slots == sl:
                            size = heap_offer(
                                h_score,
                                h_id,
                                size,
                                quotas[sl],
                                float(counts[pos]),
                                key // num_slots,
                            )
                    drain_normalised_row(
                        h_score,
                        h_id,
                        size,
                        o_score,
                        o_id,
                        out_ids,
                        out_weights,
                        out_mask,
                        b,
                        col[sl],
                    )
                for t in range(num_touched):
                    keys[touched[t]] = -1
                    counts[touched[t]] = 0
                num_touched = 0


def _as_metapaths(graph: HeteroGraph, metapaths: Any, weight: Weight) -> list[MetaPath]:
    """One path (a MetaPath or a sequence of relations) or a sequence of paths."""
    if isinstance(metapaths, MetaPath | str):
        return [MetaPath.resolve(graph, metapaths, weight)]
    if not isinstance(metapaths, Sequence) or len(metapaths) == 0:
        raise ConfigError(
            f"metapaths: expected one meta-path or a non-empty list, got {metapaths!r}"
        )

    def is_relation(x: Any) -> bool:
        return isinstance(x, str) or (
            isinstance(x, tuple) and len(x) == 3 and x in graph.edge_types
        )

    if all(is_relation(x) for x in metapaths):
        return [MetaPath.resolve(graph, list(metapaths), weight)]
    return [MetaPath.resolve(graph, p, weight) for p in metapaths]


class ImportanceSampler:
    """PinSage/OmniSage importance neighborhoods with per-type quotas (see the module docstring).

    Args:
        graph: the graph.
        metapaths: one meta-path (relation names / edge types, or a :class:`MetaPath`)
            or a list of them, all starting at the seed type.
        quotas: neighbors kept per node type, e.g. ``{"pin": 25, "board": 10}``.
        num_walks: walks per seed :math:`W` (split evenly over the paths).
        num_traversals: traversals per walk :math:`T` (``> 1`` needs cyclic paths).
        restart_prob: termination probability :math:`r` after each traversal, in ``[0, 1)``.
        weight: edge array used as transition weight (name, or one per hop), or ``None``.
        seed: random seed; ``(seed, step)`` fixes every neighborhood.

    Example:
        >>> s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 10}, num_walks=100)
        >>> nb = s.sample([0, 5, 7], step=0)
        >>> nb.ids["item"].shape, nb.weights["item"].sum(1)   # rows sum to 1 (or 0)
    """

    def __init__(
        self,
        graph: HeteroGraph,
        metapaths: Any,
        quotas: Mapping[str, int],
        num_walks: int = 100,
        num_traversals: int = 2,
        restart_prob: float = 0.5,
        *,
        weight: Weight = None,
        seed: int = 0,
    ) -> None:
        self.graph = graph
        self.metapaths = _as_metapaths(graph, metapaths, weight)
        self.num_walks = check_int(num_walks, "num_walks", minimum=1)
        self.num_traversals = check_int(num_traversals, "num_traversals", minimum=1)
        self.restart_prob = check_float(restart_prob, "restart_prob", 0.0, 1.0, high_open=True)
        self.seed = check_seed(seed)
        self._kernel_seed = kernel_seed(seed, _IMPORTANCE_SALT)
        starts = {mp.start_type for mp in self.metapaths}
        if len(starts) != 1:
            raise ConfigError(f"metapaths must share one start (seed) type, got {sorted(starts)}")
        self.seed_type = self.metapaths[0].start_type
        if self.num_traversals > 1:
            for mp in self.metapaths:
                if not mp.is_cyclic:
                    raise ConfigError(
                        f"num_traversals={self.num_traversals} needs cyclic meta-paths, but {mp} "
                        f"ends at {mp.end_type!r}, not {mp.start_type!r}"
                    )
        self.quotas = self._check_quotas(quotas)
        self._build_tables()
        self._steps = StepCounter()

    def _check_quotas(self, quotas: Mapping[str, int]) -> dict[str, int]:
        if not isinstance(quotas, Mapping) or not quotas:
            raise ConfigError(
                f"quotas: expected a non-empty {{node_type: k}} mapping, got {quotas!r}"
            )
        visited = {t for mp in self.metapaths for t in mp.node_types[1:]}
        out: dict[str, int] = {}
        for node_type, k in quotas.items():
            node_count(self.graph, node_type, "quotas")
            if node_type not in visited:
                raise ConfigError(
                    f"quotas: no meta-path visits node type {node_type!r}; "
                    f"visited types: {sorted(visited)}"
                )
            out[node_type] = check_int(k, f"quotas[{node_type!r}]", minimum=1)
        return out

    def _build_tables(self) -> None:
        paths, T = self.metapaths, self.num_traversals
        self._rel = pack_hops(paths)
        hop_rel = self._rel[4]
        slots = {t: i for i, t in enumerate(self.quotas)}
        num_steps = T * max(mp.num_hops for mp in paths)
        self._step_rel = np.full((len(paths), num_steps), -1, dtype=np.int64)
        self._stop = np.zeros((len(paths), num_steps), dtype=np.float64)
        self._step_slot = np.full((len(paths), num_steps), -1, dtype=np.int64)
        offset = 0
        counted = 0
        for m, mp in enumerate(paths):
            H = mp.num_hops
            steps = np.arange(T * H)
            self._step_rel[m, : T * H] = hop_rel[offset + steps % H]
            self._stop[m, H : T * H : H] = self.restart_prob
            self._step_slot[m, : T * H] = [slots.get(mp.node_types[s % H + 1], -1) for s in steps]
            counted = max(counted, int((self._step_slot[m] >= 0).sum()))
            offset += H
        self._quota_arr = np.array(list(self.quotas.values()), dtype=np.int64)
        self._seed_slot = slots.get(self.seed_type, -1)
        max_distinct = min(
            self.num_walks * counted, sum(self.graph.num_nodes[t] for t in self.quotas)
        )
        self._capacity = capacity_for(max_distinct)

    def sample(self, seeds: Any, step: int | None = None) -> Neighborhood:
        """Importance neighborhoods of ``seeds`` (ids of the seed type).

        Args:
            seeds: 1-D integer array-like of seed node ids.
            step: epoch or call index selecting the random streams; ``None`` takes the
                next value of an internal counter (fresh samples each call).

        Returns:
            :class:`Neighborhood` with ``[len(seeds), k_t]`` tensors per quota type.
        """
        what = f"seeds (node type {self.seed_type!r})"
        seeds = np.ascontiguousarray(
            check_node_ids(seeds, self.graph.num_nodes[self.seed_type], what)
        )
        step = self._steps.resolve(step)
        if step >= 2**63:
            raise ConfigError(f"step must be < 2**63, got {step}")
        col, ids, weights, mask = Neighborhood.allocate(self.quotas, len(seeds))
        if len(seeds):
            indptrs, indices, cumweights, weighted, _ = self._rel
            _importance_kernel(
                indptrs,
                indices,
                cumweights,
                weighted,
                self._step_rel,
                self._stop,
                self._step_slot,
                seeds,
                self._seed_slot,
                self.num_walks,
                self._quota_arr,
                self._capacity,
                self._kernel_seed,
                step,
                col,
                ids,
                weights,
                mask,
            )
        return Neighborhood.from_flat(self.quotas, ids, weights, mask)

    __call__ = sample

    def __repr__(self) -> str:
        return (
            f"ImportanceSampler(metapaths={self.metapaths}, quotas={self.quotas}, "
            f"num_walks={self.num_walks}, num_traversals={self.num_traversals}, "
            f"restart_prob={self.restart_prob})"
        )


def importance_neighbors(
    graph: HeteroGraph,
    seeds: Any,
    metapaths: Any,
    quotas: Mapping[str, int],
    *,
    num_walks: int = 100,
    num_traversals: int = 2,
    restart_prob: float = 0.5,
    weight: Weight = None,
    seed: int = 0,
    step: int = 0,
) -> Neighborhood:
    """Functional form of :class:`ImportanceSampler` (``sample(seeds, step)`` of a fresh sampler)."""
    sampler = ImportanceSampler(
        graph, metapaths, quotas, num_walks, num_traversals, restart_prob, weight=weight, seed=seed
    )
    return sampler.sample(seeds, step=step)
