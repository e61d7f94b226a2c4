r"""Sorted insertion into, and row prefixes of, row-sorted ragged arrays, without re-sorting.

A CSR relation (rows of destinations) and an event log (users' rows of timestamps) both
keep each row sorted; adding :math:`m` entries to :math:`n` old ones is a binary search per
new entry (:func:`insert_positions`) and :math:`m + 1` block copies per array
(:func:`inserted`), :math:`O(n + m \log d)` instead of a sort of everything. Keeping the
entries of each row below a bound (an event log's history before a cut) is a binary
search per row (:func:`prefix_lengths`) and one block copy per row and array
(:func:`row_prefixes`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from graphrep.errors import GraphValidationError


def _check_rows(indptr: np.ndarray, n: int, what: str) -> None:
    if indptr.ndim != 1 or len(indptr) < 1 or indptr[0] != 0 or indptr[-1] > n \
            or (np.diff(indptr) < 0).any():  # fmt: skip
        raise GraphValidationError(f"{what}: row pointers must rise from 0 to at most {n}")


def insert_positions(indptr: np.ndarray, indices: np.ndarray, src: np.ndarray,
                     dst: np.ndarray) -> np.ndarray:
    """For new entries ``(src[i], dst[i])`` sorted by ``(src, dst)``: the position in the
    old arrays each one goes before -- after the old entries of row ``src[i]`` (``indptr``
    over ``indices``, each row sorted) at most ``dst[i]``, so old entries come first on
    ties; the end for a row past the old ones. Non-decreasing.

    Raises:
        GraphValidationError: ``src`` and ``dst`` differ in length, ``src`` is negative or
            not sorted, or ``indptr`` does not fit ``indices``.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst)
    _check_rows(indptr, len(indices), "insert_positions")
    if len(src) != len(dst) or (len(src) and (src[0] < 0 or (np.diff(src) < 0).any())):
        raise GraphValidationError("insert_positions: expected as many sources as destinations, "
                                   "sorted and non-negative")  # fmt: skip
    return _insert_positions(indptr, indices, src, dst)


@numba.njit(cache=True, nogil=True)
def _insert_positions(indptr: np.ndarray, indices: np.ndarray, src: np.ndarray,
                      dst: np.ndarray) -> np.ndarray:
    n_old = indptr.shape[0] - 1
    at = np.empty(src.shape[0], dtype=np.int64)
    for i in range(src.shape[0]):
        s = src[i]
        if s >= n_old:
            at[i] = indptr[n_old]
            continue
        lo, hi, d = indptr[s], indptr[s + 1], dst[i]
        while lo < hi:  # first old edge of the row past d
            mid = (lo + hi) // 2
            if indices[mid] <= d:
                lo = mid + 1
            else:
                hi = mid
        at[i] = lo
    return at


@numba.njit(cache=True, nogil=True)
def _insert_before(old: np.ndarray, at: np.ndarray, new: np.ndarray, out: np.ndarray) -> None:
    """``out`` = ``old`` with ``new[k]`` inserted before ``old[at[k]]`` (``at``
    non-decreasing; equal positions keep ``new``'s order): ``len(at) + 1`` block copies."""
    prev, o = 0, 0
    for k in range(at.shape[0]):
        n = at[k] - prev
        out[o : o + n] = old[prev : at[k]]
        o += n
        out[o] = new[k]
        o += 1
        prev = at[k]
    out[o:] = old[prev:]


def inserted(old: np.ndarray, at: np.ndarray, new: np.ndarray, dtype: Any) -> np.ndarray:
    """``old`` with ``new[k]`` inserted before ``old[at[k]]``, as a new ``dtype`` array.

    Raises:
        GraphValidationError: ``at`` and ``new`` differ in length, or ``at`` is not
            non-decreasing within ``[0, len(old)]``.
    """
    if len(at) != len(new) or (len(at) and (at[0] < 0 or at[-1] > len(old) or (np.diff(at) < 0).any())):
        raise GraphValidationError(f"inserted: expected {len(new)} non-decreasing positions "
                                   f"in [0, {len(old)}]")  # fmt: skip
    out = np.empty(len(old) + len(new), dtype=dtype)
    _insert_before(np.ascontiguousarray(old, dtype=dtype), at,
                   np.ascontiguousarray(new, dtype=dtype), out)  # fmt: skip
    return out


def prefix_lengths(indptr: np.ndarray, values: np.ndarray, bound: int) -> np.ndarray:
    """Per row of ``values`` (``indptr`` over it, each row sorted): how many of its entries
    are below ``bound``.

    Raises:
        GraphValidationError: ``indptr`` does not fit ``values``.
    """
    _check_rows(indptr, len(values), "prefix_lengths")
    return _prefix_lengths(indptr, values, bound)


@numba.njit(cache=True, nogil=True)
def _prefix_lengths(indptr: np.ndarray, values: np.ndarray, bound: int) -> np.ndarray:
    n = indptr.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    for r in range(n):
        lo, hi = indptr[r], indptr[r + 1]
        start = lo
        while lo < hi:
            mid = (lo + hi) // 2
            if values[mid] < bound:
                lo = mid + 1
            else:
                hi = mid
        out[r] = lo - start
    return out


@numba.njit(cache=True, nogil=True)
def _take_prefixes(src: np.ndarray, indptr: np.ndarray, lengths: np.ndarray,
                   out_ptr: np.ndarray, out: np.ndarray) -> None:
    for r in range(lengths.shape[0]):
        out[out_ptr[r] : out_ptr[r] + lengths[r]] = src[indptr[r] : indptr[r] + lengths[r]]


def row_prefixes(arrays: dict[str, np.ndarray], indptr: np.ndarray,
                 lengths: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The first ``lengths[r]`` entries of every row ``r`` of each array (rows ``indptr``):
    ``(arrays, new indptr)``.

    Raises:
        GraphValidationError: a length is negative or longer than its row, or ``indptr``
            does not fit an array.
    """
    _check_rows(indptr, min((len(a) for a in arrays.values()), default=np.iinfo(np.int64).max),
                "row_prefixes")  # fmt: skip
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) != len(indptr) - 1 or (lengths < 0).any() or (lengths > np.diff(indptr)).any():
        raise GraphValidationError("row_prefixes: expected one length per row, within the row")
    out_ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_ptr[1:])
    out = {}
    for k, a in arrays.items():
        out[k] = np.empty(int(out_ptr[-1]), dtype=a.dtype)
        _take_prefixes(np.asarray(a), indptr, lengths, out_ptr, out[k])
    return out, out_ptr


__all__ = ["insert_positions", "inserted", "prefix_lengths", "row_prefixes"]
