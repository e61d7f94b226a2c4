"""Personalized PageRank neighborhoods by forward push along a meta-path.

Forward push [Andersen, Chung, Lang, "Local Graph Partitioning using PageRank
Vectors", FOCS 2006, https://doi.org/10.1109/FOCS.2006.44] approximates the PPR
vector of a seed without touching the whole graph. PinSage ranks hard negatives
by PPR [Ying et al., KDD 2018, https://arxiv.org/abs/1806.01973] and OmniSage
[https://arxiv.org/abs/2504.17811] builds PPR neighborhoods; here the walk is the
one of :mod:`graphrep.samplers.importance`: a cyclic meta-path
:math:`T_0 \\to T_1 \\to \\cdots \\to T_H = T_0`, restarting at the seed with
probability :math:`\\alpha` (``restart``) at the end of each traversal.

The push runs on the layered chain whose states are ``(node, position h)``,
:math:`0 \\le h < H`. Each state holds a residual :math:`r` and a visit mass
:math:`q`; initially :math:`r(s, 0) = 1`. Pushing a state with
:math:`r \\ge \\varepsilon \\cdot \\max(d, 1)` (:math:`d` its out-degree on hop
:math:`h`) moves its residual into :math:`q` and spreads
:math:`(1 - \\alpha_h) r` over its out-edges (uniformly or by edge weight) to
position :math:`h + 1 \\bmod H`, with :math:`\\alpha_0 = \\alpha` and
:math:`\\alpha_h = 0` inside a traversal. When no state is above threshold,

.. math::
    q(v, 0) \\approx \\sum_{t \\ge 0} (1 - \\alpha)^t \\, (e_s^\\top P^t)_v = \\pi_s(v) / \\alpha,

the PPR of the traversal transition matrix :math:`P` divided by :math:`\\alpha`
(ACL's error bound: each state's missing mass is below :math:`\\varepsilon d`).
Positions inside a traversal get the expected visits of the walk, so the score
of a node of type :math:`t` is its total visit mass over the positions of that
type: exactly the limit of the importance sampler's visit counts (up to a
constant factor per type) for infinitely many walks and traversals.

Output: per type the ``k_t`` nodes of largest score (ties: smaller id),
sorted by descending score, the seed excluded, with scores L1-normalised over
the kept nodes. Residuals live in a per-seed growable hash table keyed by
``node * H + h`` and a FIFO queue; seeds run in parallel (GIL released) and the
result is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import check_float, check_int, node_count
from graphrep.samplers.hashmap import find, find_or_insert, table_shift
from graphrep.samplers.metapath import MetaPath, Weight
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.topk import drain_normalised_row, heap_offer

_INITIAL_CAPACITY = 1024


@numba.njit(cache=True, nogil=True)
def _grow(
    keys: np.ndarray, res: np.ndarray, visit: np.ndarray, queued: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rehash into a table of twice the capacity."""
    cap = 2 * keys.shape[0]
    shift = table_shift(cap)
    k2 = np.full(cap, -1, dtype=np.int64)
    r2 = np.zeros(cap, dtype=np.float64)
    v2 = np.zeros(cap, dtype=np.float64)
    q2 = np.zeros(cap, dtype=np.bool_)
    for i in range(keys.shape[0]):
        if keys[i] >= 0:
            j, _ = find_or_insert(k2, keys[i], shift)
            r2[j] = res[i]
            v2[j] = visit[i]
            q2[j] = queued[i]
    return k2, r2, v2, q2


@numba.njit(cache=True, nogil=True)
def _push_one(
    indptrs: tuple,
    indices: tuple,
    cumweights: tuple,
    weighted: np.ndarray,
    hop_rel: np.ndarray,
    seed: int,
    alpha: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward push from ``seed``; returns the table ``(keys, visit mass)`` (key ``-1``: empty)."""
    H = hop_rel.shape[0]
    keys = np.full(_INITIAL_CAPACITY, -1, dtype=np.int64)
    res = np.zeros(_INITIAL_CAPACITY, dtype=np.float64)
    visit = np.zeros(_INITIAL_CAPACITY, dtype=np.float64)
    queued = np.zeros(_INITIAL_CAPACITY, dtype=np.bool_)
    shift = table_shift(_INITIAL_CAPACITY)
    queue = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
    head = 0
    tail = 0
    pos, _ = find_or_insert(keys, seed * H, shift)
    count = 1
    res[pos] = 1.0
    queued[pos] = True
    queue[tail] = seed * H
    tail += 1
    while head < tail:
        key = queue[head]
        head += 1
        pos = find(keys, key, shift)
        queued[pos] = False
        r = res[pos]
        res[pos] = 0.0
        visit[pos] += r
        h = key % H
        v = key // H
        rel = hop_rel[h]
        ip = indptrs[rel]
        ix = indices[rel]
        cw = cumweights[rel]
        lo = ip[v]
        hi = ip[v + 1]
        if hi == lo:
            continue
        mass = r * (1.0 - alpha) if h == 0 else r
        wt = weighted[rel]
        total = cw[hi - 1] if wt else float(hi - lo)
        if total <= 0.0:
            continue
        nh = h + 1 if h + 1 < H else 0
        nip = indptrs[hop_rel[nh]]
        prev = 0.0
        for e in range(lo, hi):
            if wt:
                share = mass * (cw[e] - prev) / total
                prev = cw[e]
                if share <= 0.0:
                    continue
            else:
                share = mass / total
            x = ix[e]
            if 2 * (count + 1) > keys.shape[0]:
                keys, res, visit, queued = _grow(keys, res, visit, queued)
                shift = table_shift(keys.shape[0])
            p2, inserted = find_or_insert(keys, x * H + nh, shift)
            if inserted:
                count += 1
            res[p2] += share
            if not queued[p2] and res[p2] >= eps * max(nip[x + 1] - nip[x], 1):
                queued[p2] = True
                if tail == queue.shape[0]:
                    if head > queue.shape[0] // 2:  # compact
                        queue[: tail - head] = queue[head:tail]
                    else:
                        bigger = np.empty(2 * queue.shape[0], dtype=np.int64)
                        bigger[: tail - head] = queue[head:tail]
                        queue = bigger
                    tail -= head
                    head = 0
                queue[tail] = x * H + nh
                tail += 1
    return keys, visit


@numba.njit(cache=True, nogil=True)
def _select(
    keys: np.ndarray,
    visit: np.ndarray,
    H: int,
    pos_slot: np.ndarray,
    seed: int,
    seed_slot: int,
    quotas: np.ndarray,
    col: np.ndarray,
    b: int,
    out_ids: np.ndarray,
    out_weights: np.ndarray,
    out_mask: np.ndarray,
) -> None:
    """Top-k per type of one seed's visit table into row ``b`` of the outputs."""
    kmax = quotas.max()
    cand_id = np.empty(keys.shape[0], dtype=np.int64)
    cand_score = np.empty(keys.shape[0], dtype=np.float64)
    h_score = np.empty(kmax, dtype=np.float64)
    h_id = np.empty(kmax, dtype=np.int64)
    o_score = np.empty(kmax, dtype=np.float64)
    o_id = np.empty(kmax, dtype=np.int64)
    for sl in range(quotas.shape[0]):
        n = 0
        positions = 0
        for h in range(H):
            if pos_slot[h] == sl:
                positions += 1
        for i in range(keys.shape[0]):
            key = keys[i]
            if key < 0 or pos_slot[key % H] != sl:
                continue
            node = key // H
            if sl == seed_slot and node == seed:
                continue
            cand_id[n] = node
            cand_score[n] = visit[i]
            n += 1
        if positions > 1 and n > 1:  # a type at several positions: add up per node
            order = np.argsort(cand_id[:n])
            ids_sorted = cand_id[:n][order]
            sc_sorted = cand_score[:n][order]
            m = 0
            for i in range(n):
                if m > 0 and ids_sorted[i] == cand_id[m - 1]:
                    cand_score[m - 1] += sc_sorted[i]
                else:
                    cand_id[m] = ids_sorted[i]
                    cand_score[m] = sc_sorted[i]
                    m += 1
            n = m
        size = 0
        for i in range(n):
            if cand_score[i] > 0.0:
                size = heap_offer(h_score, h_id, size, quotas[sl], cand_score[i], cand_id[i])
        drain_normalised_row(
            h_score, h_id, size, o_score, o_id, out_ids, out_weights, out_mask, b, col[sl]
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _ppr_kernel(
    indptrs: tuple,
    indices: tuple,
    cumweights: tuple,
    weighted: np.ndarray,
    hop_rel: np.ndarray,
    pos_slot: np.ndarray,
    seeds: np.ndarray,
    seed_slot: int,
    alpha: float,
    eps: float,
    quotas: np.ndarray,
    col: np.ndarray,
    out_ids: np.ndarray,
    out_weights: np.ndarray,
    out_mask: np.ndarray,
) -> None:
    for b in prange(seeds.shape[0]):
        keys, visit = _push_one(
            indptrs, indices, cumweights, weighted, hop_rel, seeds[b], alpha, eps
        )
        _select(
            keys,
            visit,
            hop_rel.shape[0],
            pos_slot,
            seeds[b],
            seed_slot,
            quotas,
            col,
            b,
            out_ids,
            out_weights,
            out_mask,
        )


def ppr_push(
    graph: HeteroGraph,
    seeds: Any,
    metapath: MetaPath | Any,
    restart: float = 0.5,
    eps: float = 1e-4,
    top_k: int | Mapping[str, int] = 10,
    *,
    weight: Weight = None,
) -> Neighborhood:
    """PPR neighborhoods of ``seeds`` by forward push along a cyclic meta-path.

    Args:
        graph: the graph.
        seeds: ids of the meta-path's start type.
        metapath: a cyclic :class:`MetaPath` or sequence of relations (e.g. pin→board→pin).
        restart: teleport probability :math:`\\alpha` at the end of each traversal, in ``(0, 1)``.
        eps: push threshold :math:`\\varepsilon > 0` (smaller: more accurate, slower;
            the work is :math:`O(1 / (\\alpha \\varepsilon))`).
        top_k: neighbors kept of the start type (an int), or a ``{node_type: k}``
            mapping over types on the path.
        weight: edge array used as transition weight, or ``None`` for uniform.

    Returns:
        :class:`Neighborhood`; row ``b`` of ``ids[t]`` is sorted by descending score,
        so ranks ``[lo, hi)`` of ``top_k=hi`` are a PPR rank band (hard negatives).
    """
    mp = MetaPath.resolve(graph, metapath, weight)
    if not mp.is_cyclic:
        raise ConfigError(f"ppr_push needs a cyclic meta-path (ending at its start type), got {mp}")
    alpha = check_float(restart, "restart", 0.0, 1.0, low_open=True, high_open=True)
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)
    quotas = {mp.start_type: top_k} if not isinstance(top_k, Mapping) else dict(top_k)
    if not quotas:
        raise ConfigError("top_k: expected an int or a non-empty {node_type: k} mapping")
    on_path = set(mp.node_types)
    for node_type, k in quotas.items():
        node_count(graph, node_type, "top_k")
        if node_type not in on_path:
            raise ConfigError(
                f"top_k: node type {node_type!r} is not on the meta-path {mp}; "
                f"types on it: {sorted(on_path)}"
            )
        quotas[node_type] = check_int(k, f"top_k[{node_type!r}]", minimum=1)
    what = f"seeds (node type {mp.start_type!r})"
    seeds = np.ascontiguousarray(check_node_ids(seeds, graph.num_nodes[mp.start_type], what))
    slots = {t: i for i, t in enumerate(quotas)}
    pos_slot = np.array([slots.get(t, -1) for t in mp.node_types[:-1]], dtype=np.int64)
    col, ids, weights, mask = Neighborhood.allocate(quotas, len(seeds))
    if len(seeds):
        indptrs, indices, cumweights, weighted, hop_rel = mp.kernel_arrays()
        _ppr_kernel(
            indptrs,
            indices,
            cumweights,
            weighted,
            hop_rel,
            pos_slot,
            seeds,
            slots.get(mp.start_type, -1),
            alpha,
            eps,
            np.array(list(quotas.values()), dtype=np.int64),
            col,
            ids,
            weights,
            mask,
        )
    return Neighborhood.from_flat(quotas, ids, weights, mask)
