"""Exact partial top-k by score with deterministic ties, for numba kernels.

Neighborhood samplers keep, per seed and node type, the ``k`` nodes with the
largest score (visit count or PPR mass); equal scores are broken by the smaller
node id, so the selection is a total order and the output is exact and
reproducible. A bounded min-heap whose root is the *worst* kept candidate costs
O(n log k) for n candidates and O(k) memory:

* :func:`heap_offer` adds a candidate (replacing the root if the candidate is
  better once the heap is full);
* :func:`heap_drain` empties the heap into output slots best-first.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", nogil=True)
def better(score_a: float, id_a: int, score_b: float, id_b: int) -> bool:
    """Whether candidate ``a`` ranks before ``b``: larger score, then smaller id."""
    return score_a > score_b or (score_a == score_b and id_a < id_b)


@numba.njit(inline="always", nogil=True)
def _sift_down(h_score: np.ndarray, h_id: np.ndarray, size: int, i: int) -> None:
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        worst = left
        right = left + 1
        if right < size and better(h_score[left], h_id[left], h_score[right], h_id[right]):
            worst = right
        if better(h_score[i], h_id[i], h_score[worst], h_id[worst]):
            h_score[i], h_score[worst] = h_score[worst], h_score[i]
            h_id[i], h_id[worst] = h_id[worst], h_id[i]
            i = worst
        else:
            return


@numba.njit(inline="always", nogil=True)
def heap_offer(
    h_score: np.ndarray, h_id: np.ndarray, size: int, k: int, score: float, node: int
) -> int:
    """Offer ``(score, node)`` to a heap of at most ``k`` entries; returns the new size."""
    if size < k:
        i = size
        h_score[i] = score
        h_id[i] = node
        while i > 0:  # sift up: the root stays the worst entry
            parent = (i - 1) >> 1
            if better(h_score[parent], h_id[parent], h_score[i], h_id[i]):
                h_score[i], h_score[parent] = h_score[parent], h_score[i]
                h_id[i], h_id[parent] = h_id[parent], h_id[i]
                i = parent
            else:
                break
        return size + 1
    if better(score, node, h_score[0], h_id[0]):
        h_score[0] = score
        h_id[0] = node
        _sift_down(h_score, h_id, size, 0)
    return size


@numba.njit(inline="always", nogil=True)
def heap_drain(
    h_score: np.ndarray, h_id: np.ndarray, size: int, out_score: np.ndarray, out_id: np.ndarray
) -> None:
    """Write the heap's entries best-first into ``out_*[:size]`` (the heap is consumed)."""
    for last in range(size - 1, -1, -1):
        out_score[last] = h_score[0]
        out_id[last] = h_id[0]
        h_score[0] = h_score[last]
        h_id[0] = h_id[last]
        _sift_down(h_score, h_id, last, 0)


@numba.njit(inline="always", nogil=True)
def drain_normalised_row(
    h_score: np.ndarray,
    h_id: np.ndarray,
    size: int,
    o_score: np.ndarray,
    o_id: np.ndarray,
    out_ids: np.ndarray,
    out_weights: np.ndarray,
    out_mask: np.ndarray,
    row: int,
    col: int,
) -> None:
    """Drain the heap (best first) into ``out_*[row, col:col + size]`` with L1-normalised scores."""
    heap_drain(h_score, h_id, size, o_score, o_id)
    total = 0.0
    for t in range(size):
        total += o_score[t]
    for t in range(size):
        out_ids[row, col + t] = o_id[t]
        out_weights[row, col + t] = o_score[t] / total
        out_mask[row, col + t] = True
