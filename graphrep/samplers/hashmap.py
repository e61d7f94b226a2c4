"""Open-addressing hash tables of ``int64`` keys for per-seed scratch state in kernels.

A seed's walks (or PPR pushes) touch a few hundred to a few thousand nodes out
of millions, so per-seed state lives in a small table that stays in cache
rather than in dense per-node arrays. Keys are non-negative ``int64`` (``-1``
marks an empty slot); values live in caller-owned parallel arrays indexed by the
slot that :func:`find_or_insert` returns. Hashing is Fibonacci hashing (the
top bits of ``key * 2^64 / phi``) and collisions are resolved by linear
probing; the capacity is a power of two and callers keep the load below 1/2.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def capacity_for(num_keys: int, minimum: int = 16) -> int:
    """Smallest power of two ``>= 2 * num_keys`` (and ``>= minimum``)."""
    cap = minimum
    while cap < 2 * num_keys:
        cap *= 2
    return cap


@numba.njit(inline="always", nogil=True)
def home_slot(key: int, shift: np.uint64) -> int:
    """Home slot of ``key`` in a table of ``2**(64 - shift)`` slots."""
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@numba.njit(inline="always", nogil=True)
def table_shift(capacity: int) -> np.uint64:
    """The ``shift`` for :func:`home_slot` of a power-of-two ``capacity``."""
    bits = 0
    while (1 << bits) < capacity:
        bits += 1
    return np.uint64(64 - bits)


@numba.njit(inline="always", nogil=True)
def find_or_insert(keys: np.ndarray, key: int, shift: np.uint64) -> tuple[int, bool]:
    """Slot of ``key`` (inserting it in an empty slot if absent); ``(slot, inserted)``.

    The table must have a free slot (callers keep the load below 1/2).
    """
    mask = keys.shape[0] - 1
    i = home_slot(key, shift)
    while True:
        k = keys[i]
        if k == key:
            return i, False
        if k < 0:
            keys[i] = key
            return i, True
        i = (i + 1) & mask


@numba.njit(inline="always", nogil=True)
def find(keys: np.ndarray, key: int, shift: np.uint64) -> int:
    """Slot of ``key``, or ``-1`` if absent."""
    mask = keys.shape[0] - 1
    i = home_slot(key, shift)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k < 0:
            return -1
        i = (i + 1) & mask
