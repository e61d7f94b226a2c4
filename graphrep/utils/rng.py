"""Counter-based random numbers for numba kernels.

Parallel kernels (``prange``) must give the same output whatever the thread
count, so each unit of work (a seed, a walk) draws from its own stream whose
state is derived from ``(seed, stream, index)`` by SplitMix64 [Steele et al.,
OOPSLA 2014, https://doi.org/10.1145/2714064.2660195]. Draws are SplitMix64
steps too: a 64-bit Weyl counter passed through a bijective mixer, which passes
BigCrush and costs a few integer operations.

Usage inside a kernel::

    state = stream_state(seed, stream, i)
    state, u = next_float(state)      # u ~ U[0, 1)
    state, j = next_below(state, n)   # j ~ U{0..n-1}

All arithmetic is on ``uint64``: numba turns mixed int64/uint64 expressions
into float64, so every constant is a ``np.uint64``.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@numba.njit(inline="always", nogil=True)
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche of ``z``."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always", nogil=True)
def stream_state(seed: int, stream: int, index: int) -> np.uint64:
    """Initial state of the stream for work item ``index`` of ``stream`` under ``seed``."""
    s = mix64(np.uint64(seed) * _GOLDEN + np.uint64(stream))
    return mix64(s + np.uint64(index) * _GOLDEN)


@numba.njit(inline="always", nogil=True)
def next_u64(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Advance ``state``; return ``(new_state, 64 random bits)``."""
    state = state + _GOLDEN
    return state, mix64(state)


@numba.njit(inline="always", nogil=True)
def next_float(state: np.uint64) -> tuple[np.uint64, float]:
    """Advance ``state``; return ``(new_state, u)`` with ``u`` uniform on [0, 1)."""
    state, bits = next_u64(state)
    return state, float(bits >> _S11) * _INV53


@numba.njit(inline="always", nogil=True)
def next_below(state: np.uint64, n: int) -> tuple[np.uint64, int]:
    """Advance ``state``; return ``(new_state, j)`` with ``j`` uniform on ``0..n-1`` (n >= 1).

    Uses the float draw (53 bits): the bias for ``n < 2**31`` is below 2**-22.
    """
    state, u = next_float(state)
    j = int(u * n)
    return state, min(j, n - 1)
