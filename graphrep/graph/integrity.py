r"""What a loaded relation must satisfy before a compiled kernel touches it.

The samplers index memory with the ids they read, without bounds checks, so a
saved graph is checked on load (and every CSR given to
:class:`~graphrep.graph.heterograph.HeteroGraph`) for: ``indptr`` of ``int64``
from 0, non-decreasing, ending at ``len(indices)``; ``indices`` of
``int32``/``int64`` within ``[0, n)`` of the target type; finite edge arrays, one
value per edge. A stored reverse must hold exactly the forward relation's edges,
with their edge values, transposed: rows sorted by source, and the multiset

.. math::
    \{(u, v, x_e)\}_{e \in \text{forward}} = \{(u, v, x_e)\}_{e \in \text{reverse}}

compared through a keyed additive hash :math:`\sum_e h_k(u_e, v_e, x_e) \bmod 2^{64}`
(:math:`h_k` a splitmix64 mix under a key drawn from ``os.urandom`` per process,
so no file can be crafted to collide; a false accept has probability about
:math:`2^{-64}`), :math:`x_e` the edge's values in the edge arrays, two arrays per pass
(the first pass also checks ids and order). Each pass streams its arrays once, in parallel chunks above
:data:`PARALLEL_MIN` items (numba, ``nogil``, cached), so the whole check is
:math:`O(E)` sequential reads. On a mismatch the exact stable-transpose walk
(``_transpose_mismatch``, random access, several times slower) runs to name
the first bad position. Only the order of parallel edges with equal endpoints
inside a reverse row is not compared; it carries no meaning.
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import GraphValidationError
from graphrep.graph.validate import check_edge_array

PARALLEL_MIN = 1 << 16  #: Below this many entries a parallel launch costs more than the scan.
_KEY = np.uint64(int.from_bytes(os.urandom(8), "little"))
_OUTSIDE, _DECREASE = 0, 1  # what _scan looks for
_EMPTY = np.zeros(0, np.uint8)  # an absent edge array


def num_chunks(n: int) -> int:
    """Chunks of a scan over ``n`` items: 1 below :data:`PARALLEL_MIN` (run sequentially),
    else 4 per thread."""
    return 1 if n < PARALLEL_MIN else max(1, min(n, 4 * numba.get_num_threads()))


@numba.njit(cache=True, nogil=True)
def _scan(values: np.ndarray, mode: int, lo: int, hi: int, start: int, stop: int) -> int:
    """First ``i`` in ``[start, stop)`` with ``values[i]`` outside ``[lo, hi)``
    (``_OUTSIDE``) or ``values[i + 1] < values[i]`` (``_DECREASE``); -1 if none."""
    if mode == _OUTSIDE:
        for i in range(start, stop):
            if values[i] < lo or values[i] >= hi:
                return i
    else:
        for i in range(start, stop):
            if values[i + 1] < values[i]:
                return i
    return -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _scan_parallel(values: np.ndarray, mode: int, lo: int, hi: int, n: int, chunks: int) -> int:
    size = (n + chunks - 1) // chunks
    first = np.full(chunks, -1, dtype=np.int64)
    for c in prange(chunks):
        first[c] = _scan(values, mode, lo, hi, c * size, min(n, (c + 1) * size))
    for c in range(chunks):
        if first[c] >= 0:
            return first[c]
    return -1


def _first(values: np.ndarray, mode: int, lo: int, hi: int, n: int) -> int:
    chunks = num_chunks(n)
    if chunks == 1:
        return int(_scan(values, mode, lo, hi, 0, n))
    return int(_scan_parallel(values, mode, lo, hi, n, chunks))


def first_outside(values: np.ndarray, lo: int, hi: int) -> int:
    """First position of ``values`` outside ``[lo, hi)``, or -1 (parallel when large)."""
    return _first(values, _OUTSIDE, lo, hi, len(values))


def first_decrease(ptr: np.ndarray) -> int:
    """First ``i`` with ``ptr[i + 1] < ptr[i]``, or -1 (parallel when large)."""
    return _first(ptr, _DECREASE, 0, 0, len(ptr) - 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijective 64-bit mix."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _hash_rows(indptr, indices, d1, d2, nd, check, key, reverse, hi, start, stop):
    """Keyed hash of the edges of rows ``[start, stop)`` as tuples ``(u, v, x1, x2)`` of
    their endpoints and the values of the first ``nd`` (0-2) of the edge arrays ``d1``,
    ``d2`` (rows are ``v`` when ``reverse``). ``check`` also checks every id is in
    ``[0, hi)`` and, for a reverse, that rows are sorted. Returns ``(hash, bad)``, ``bad``
    the first bad edge position or -1."""
    acc = np.uint64(0)
    for r in range(start, stop):
        for e in range(indptr[r], indptr[r + 1]):
            x = indices[e]
            if check:
                if x < 0 or x >= hi or (reverse and e > indptr[r] and x < indices[e - 1]):
                    return acc, e
            u, v = (np.uint64(x), np.uint64(r)) if reverse else (np.uint64(r), np.uint64(x))
            h = _mix(_mix(u ^ key) + v * np.uint64(0x9E3779B97F4A7C15))
            if nd > 0:
                h = _mix(h + np.uint64(d1[e]))
            if nd > 1:
                h = _mix(h + np.uint64(d2[e]))
            acc += h
    return acc, -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _hash_parallel(indptr, indices, d1, d2, nd, check, key, reverse, hi, bounds):
    chunks = bounds.shape[0] - 1
    part = np.zeros(chunks, dtype=np.uint64)
    bad = np.full(chunks, -1, dtype=np.int64)
    for c in prange(chunks):
        part[c], bad[c] = _hash_rows(indptr, indices, d1, d2, nd, check, key, reverse, hi,
                                     bounds[c], bounds[c + 1])  # fmt: skip
    acc = np.uint64(0)
    for c in range(chunks):
        if bad[c] >= 0:
            return acc, bad[c]
        acc += part[c]
    return acc, -1


def _edge_hash(csr: Any, data: list[np.ndarray], reverse: bool, hi: int,
               check: bool) -> tuple[int, int]:
    """``(hash, first bad edge)`` of one direction with up to two edge arrays ``data`` (as
    unsigned bits); ``check``: the range (and reverse order) check too."""
    d1, d2 = (*data, _EMPTY, _EMPTY)[:2]
    args = (csr.indptr, csr.indices, d1, d2, len(data), check, _KEY, reverse, hi)
    chunks = num_chunks(len(csr.indices))
    rows = len(csr.indptr) - 1
    if chunks == 1:
        h, bad = _hash_rows(*args, 0, rows)
    else:  # row ranges holding about equal numbers of edges
        targets = np.linspace(0, csr.indptr[-1], chunks + 1)
        bounds = np.searchsorted(csr.indptr, targets).astype(np.int64)
        bounds[0], bounds[-1] = 0, rows
        bounds = np.maximum.accumulate(bounds)
        h, bad = _hash_parallel(*args, bounds)
    return int(h), int(bad)


@numba.njit(cache=True, nogil=True)
def _transpose_mismatch(indptr, indices, rev_indptr, rev_indices, data, rev_data, has_data):
    """Walk the forward edges in order, filling each reverse row from its start (what a
    stable transpose does). Returns ``(code, position)``: 0 ok; 2 a reverse row too short
    (forward position); 3 reverse index differs (reverse position); 4 reverse edge value
    differs (reverse position). Ids must already be in range."""
    cursor = rev_indptr[:-1].copy()
    for u in range(indptr.shape[0] - 1):
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            p = cursor[v]
            if p >= rev_indptr[v + 1]:
                return 2, e
            if rev_indices[p] != u:
                return 3, p
            if has_data and rev_data[p] != data[e]:
                return 4, p
            cursor[v] = p + 1
    return 0, -1


def check_ptr(ptr: np.ndarray, length: int, rows: int, what: str) -> None:
    """``ptr``: 1-D int64 of ``rows + 1`` values from 0, non-decreasing, ending at ``length``."""
    if ptr.ndim != 1 or ptr.dtype != np.int64 or len(ptr) != rows + 1:
        raise GraphValidationError(
            f"{what}: expected {rows + 1} int64 row pointers, got dtype {ptr.dtype} shape {ptr.shape}"
        )
    if ptr[0] != 0 or ptr[-1] != length:
        raise GraphValidationError(
            f"{what}: row pointers must start at 0 and end at {length} (the number of "
            f"entries), got {ptr[0]}..{ptr[-1]}"
        )
    bad = first_decrease(ptr) if rows else -1
    if bad >= 0:
        raise GraphValidationError(
            f"{what}: row pointers decrease at row {bad} ({ptr[bad]} then {ptr[bad + 1]}); "
            "expected non-decreasing values"
        )


def _check_shape(csr: Any, rows: int, what: str) -> None:
    """Dtypes, ``indptr`` and one finite value per edge in every edge array."""
    if csr.indices.ndim != 1 or csr.indices.dtype not in (np.int32, np.int64):
        raise GraphValidationError(
            f"{what} indices: expected 1-D int32/int64 ids, got dtype {csr.indices.dtype} "
            f"shape {csr.indices.shape}"
        )
    check_ptr(csr.indptr, len(csr.indices), rows, f"{what} indptr")
    for k, v in csr.edge_data.items():
        check_edge_array(v, len(csr.indices), f"{what} edge array {k!r}")


def _out_of_range(what: str, csr: Any, pos: int, n: int) -> GraphValidationError:
    return GraphValidationError(
        f"{what}: destination id {csr.indices[pos]} at edge position {pos} is out of range; "
        f"expected ids in [0, {n})"
    )


def check_csr(csr: Any, num_src: int, num_dst: int, what: str) -> None:
    """Everything a kernel relies on in one CSR: dtypes, ``indptr``, index range, edge arrays.

    Raises:
        GraphValidationError: naming ``what`` and the first bad row or edge position.
    """
    _check_shape(csr, num_src, what)
    bad = first_outside(csr.indices, 0, num_dst)
    if bad >= 0:
        raise _out_of_range(what, csr, bad, num_dst)


def _bits(arr: np.ndarray) -> np.ndarray:
    """``arr`` viewed as unsigned integers of its width (exact, NaN-safe comparison)."""
    return np.ascontiguousarray(arr).view(f"u{arr.dtype.itemsize}")


def check_reverse(csr: Any, rev: Any, what: str) -> None:
    """``rev`` must hold exactly ``csr``'s edges and edge values, transposed (see the module
    docstring); both are validated as :func:`check_csr` does.

    Raises:
        GraphValidationError: naming ``what`` and the first bad position.
    """
    num_src, num_dst = len(csr.indptr) - 1, len(rev.indptr) - 1
    _check_shape(csr, num_src, what)
    _check_shape(rev, num_dst, f"reverse of {what}")
    if len(rev.indices) != len(csr.indices) or set(rev.edge_data) != set(csr.edge_data):
        raise GraphValidationError(
            f"reverse of {what}: {len(rev.indices)} edges with arrays {sorted(rev.edge_data)}, "
            f"forward has {len(csr.indices)} with {sorted(csr.edge_data)}; expected the transpose"
        )
    names = sorted(csr.edge_data)
    for name in names:
        if _bits(csr.edge_data[name]).dtype != _bits(rev.edge_data[name]).dtype:
            raise GraphValidationError(f"reverse of {what}: edge array {name!r} has another dtype")
    # two edge arrays per pass; the first pass also checks ids and the reverse's order
    for i, group in enumerate([names[k : k + 2] for k in range(0, len(names), 2)] or [[]]):
        fwd_hash, bad = _edge_hash(csr, [_bits(csr.edge_data[n]) for n in group], False,
                                   num_dst, check=i == 0)  # fmt: skip
        if bad >= 0:
            raise _out_of_range(what, csr, bad, num_dst)
        rev_hash, bad = _edge_hash(rev, [_bits(rev.edge_data[n]) for n in group], True,
                                   num_src, check=i == 0)  # fmt: skip
        if bad >= 0:
            raise GraphValidationError(
                f"reverse of {what}: source id {rev.indices[bad]} at edge position {bad} is out "
                f"of range [0, {num_src}) or out of order (reverse rows are sorted by source)"
            )
        if fwd_hash != rev_hash:
            _name_mismatch(csr, rev, group, what)


def _name_mismatch(csr: Any, rev: Any, names: list[str], what: str) -> None:
    """Locate the first difference (the edges, then each of the edge arrays ``names``)
    with the exact walk and raise (only on a mismatch)."""
    for name in [None, *names]:
        data, rdata = (_EMPTY, _EMPTY) if name is None else (_bits(csr.edge_data[name]),
                                                              _bits(rev.edge_data[name]))  # fmt: skip
        code, pos = _transpose_mismatch(csr.indptr, csr.indices, rev.indptr, rev.indices, data,
                                        rdata, name is not None)  # fmt: skip
        if code:
            detail = {2: f"forward edge position {pos} has no reverse entry",
                      3: f"reverse edge position {pos} disagrees with the forward edges",
                      4: f"edge array {name!r} differs at reverse edge position {pos}"}[code]  # fmt: skip
            break
    else:
        detail = "the edge sets differ" if not names else f"edge arrays {names} differ"
    raise GraphValidationError(
        f"reverse of {what} is not the transpose of the forward relation: {detail}"
    )


__all__ = ["PARALLEL_MIN", "check_csr", "check_ptr", "check_reverse", "first_decrease",
           "first_outside", "num_chunks"]  # fmt: skip
