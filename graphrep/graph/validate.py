"""Input checks shared by every graph builder and loader.

Each check raises :class:`~graphrep.errors.GraphValidationError` naming the
relation, column or node type and what was expected. Checks of user input are
vectorised (numpy reductions). What the compiled kernels rely on -- index ranges
against the target type's count, ``indptr`` starting at 0, non-decreasing and
ending at ``len(indices)``, a stored reverse equal to the transpose of its
forward relation -- is checked by the numba kernels below (parallel where the
check allows, ``nogil``, cached) in one :math:`O(E)` pass, before any sampler
touches a loaded array; the error names the first bad position. The event log's
own pass (ids and codes in range, time order) is
:func:`graphrep.graph.eventlog.check_event_columns`, built on :func:`check_ptr`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
import pandas as pd
from numba import prange

from graphrep.errors import GraphValidationError, SchemaError

EdgeType = tuple[str, str, str]


def fmt_edge_type(et: EdgeType) -> str:
    """``('board', 'contains', 'pin')`` -> ``"board --contains--> pin"``."""
    return f"({et[0]!r}, {et[1]!r}, {et[2]!r})"


def check_node_ids(values: object, num_nodes: int, what: str) -> np.ndarray:
    """Return ``values`` as an ``int64`` array after checking dtype, shape and range.

    Args:
        values: array-like of node ids.
        num_nodes: ids must lie in ``[0, num_nodes)``.
        what: human description used in messages, e.g. ``"relation ('user', 'engaged', 'pin') column 'src'"``.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise GraphValidationError(
            f"{what}: expected a 1-D array of node ids, got shape {arr.shape}"
        )
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise GraphValidationError(
            f"{what}: expected integer node ids, got dtype {arr.dtype} "
            "(map external ids with node_ids=... or HeteroGraph.from_pandas)"
        )
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        bad = int(np.argmax(arr))
        raise GraphValidationError(
            f"{what}: node id {arr[bad]} at position {bad} is out of range; "
            f"expected ids in [0, {num_nodes})"
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            bad = int(np.flatnonzero(arr < 0)[0])
            raise GraphValidationError(f"{what}: negative node id {arr[bad]} at position {bad}")
        if hi >= num_nodes:
            bad = int(np.flatnonzero(arr >= num_nodes)[0])
            raise GraphValidationError(
                f"{what}: node id {arr[bad]} at position {bad} is out of range; "
                f"expected ids in [0, {num_nodes})"
            )
    return arr


def check_edge_array(values: object, num_edges: int, what: str, unit: str = "edge") -> np.ndarray:
    """Per-edge (or per-``unit``) array: 1-D, numeric, finite, one value per edge."""
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != num_edges:
        raise GraphValidationError(
            f"{what}: expected one value per {unit} ({num_edges}), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise GraphValidationError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise GraphValidationError(f"{what}: non-finite value {arr[bad]} at {unit} {bad}")
    return arr


def check_dense_feature(values: object, num_nodes: int, what: str) -> np.ndarray:
    """Dense node feature: ``[num_nodes, d]`` float array without NaN/inf (1-D becomes ``[n, 1]``)."""
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != num_nodes:
        raise GraphValidationError(
            f"{what}: expected shape ({num_nodes}, d) (one row per node), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise GraphValidationError(f"{what}: expected a real numeric array, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = (int(x[0]) for x in np.nonzero(~finite))
        raise GraphValidationError(
            f"{what}: non-finite value {arr[row, col]} at node {row}, column {col}; "
            "expected finite floats (impute or drop missing values first)"
        )
    return arr


def check_external_ids(values: object, num_nodes: int, what: str) -> np.ndarray:
    """External ids: one per node, unique, integer or string."""
    # a Python list of mixed ints and strings would become strings under np.asarray
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.ndim != 1 or len(arr) != num_nodes:
        raise GraphValidationError(
            f"{what}: expected {num_nodes} external ids, got shape {arr.shape}"
        )
    if arr.dtype == object:
        arr = _uniform_ids(arr, what)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype.kind == "U") or arr.dtype == bool:
        raise GraphValidationError(
            f"{what}: external ids must be integers or strings, got dtype {arr.dtype}"
        )
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            bad = int(np.argmax(arr))
            raise GraphValidationError(
                f"{what}: external id {arr[bad]} at position {bad} does not fit int64"
            )
        arr = arr.astype(np.int64, copy=False)
    elif arr.size and arr.dtype.itemsize:  # code points a corrupt file may hold, no text can
        codes = np.ascontiguousarray(arr).view(np.uint32).reshape(len(arr), -1)
        bad_rows = ((codes >= 0x110000) | ((codes >= 0xD800) & (codes < 0xE000))).any(axis=1)
        if bad_rows.any():
            raise GraphValidationError(
                f"{what}: external id at position {int(np.argmax(bad_rows))} is not valid text "
                "(invalid unicode code points)"
            )
    index = pd.Index(arr)
    if not index.is_unique:  # hash-based; name a duplicate only on failure
        dup = index[index.duplicated()][0]
        dup = dup.item() if hasattr(dup, "item") else dup
        raise GraphValidationError(
            f"{what}: external ids must be unique; {dup!r} appears twice or more"
        )
    return arr


def _uniform_ids(arr: np.ndarray, what: str) -> np.ndarray:
    """An object array of ids as int64 (all ints) or unicode (all strings), else an error."""
    if not len(arr):
        return np.zeros(0, np.int64)
    kind = pd.api.types.infer_dtype(arr, skipna=False)
    if kind == "string":
        return arr.astype(str)
    if kind == "integer":
        try:
            return arr.astype(np.int64)
        except OverflowError:
            raise GraphValidationError(f"{what}: an external id does not fit int64") from None
    first = type(arr[0])
    is_id = (lambda x: isinstance(x, str)) if isinstance(arr[0], str) else (
        lambda x: isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_))
    bad = next((i for i, x in enumerate(arr) if not is_id(x)), 0)
    raise GraphValidationError(
        f"{what}: external ids must be all integers or all strings; id {arr[bad]!r} at "
        f"position {bad} is a {type(arr[bad]).__name__} (the first is a {first.__name__})"
    )


def check_edge_type(et: Any, num_nodes: Mapping[str, int]) -> EdgeType:
    """``et`` as a ``(src_type, rel, dst_type)`` tuple whose node types exist."""
    if not (isinstance(et, tuple) and len(et) == 3 and all(isinstance(x, str) and x for x in et)):
        raise GraphValidationError(
            f"edge type {et!r}: expected a (src_type, relation, dst_type) tuple of non-empty strings"
        )
    for side, nt in (("source", et[0]), ("destination", et[2])):
        if nt not in num_nodes:
            raise SchemaError(
                f"relation {fmt_edge_type(et)} names unknown {side} node type {nt!r}; "
                f"known node types: {sorted(num_nodes)}"
            )
    return et


def check_edge_spec(
    et: EdgeType, spec: Any, num_nodes: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Validate one relation's edges given as ``(src, dst)`` or ``{"src", "dst", **edge_arrays}``.

    Returns:
        ``(src, dst, edge_data)`` with ids as ``int64`` and checked per-edge arrays.
    """
    what = f"relation {fmt_edge_type(et)}"
    if isinstance(spec, Mapping):
        missing = {"src", "dst"} - set(spec)
        if missing:
            raise GraphValidationError(
                f"{what}: missing column(s) {sorted(missing)}; "
                "expected keys 'src' and 'dst' plus optional per-edge arrays"
            )
        src, dst = spec["src"], spec["dst"]
        extra = {k: v for k, v in spec.items() if k not in ("src", "dst")}
    else:
        if len(spec) != 2:
            raise GraphValidationError(f"{what}: expected (src, dst), got {len(spec)} items")
        (src, dst), extra = spec, {}
    src = check_node_ids(src, num_nodes[et[0]], f"{what} column 'src'")
    dst = check_node_ids(dst, num_nodes[et[2]], f"{what} column 'dst'")
    if len(src) != len(dst):
        raise GraphValidationError(
            f"{what}: 'src' has {len(src)} ids but 'dst' has {len(dst)}; expected equal lengths"
        )
    data = {k: check_edge_array(v, len(src), f"{what} column {k!r}") for k, v in extra.items()}
    return src, dst, data


# ---------------------------------------------------------------------- compiled checks
PARALLEL_MIN = 1 << 16  # below this a parallel launch costs more than the scan itself


def num_chunks(n: int) -> int:
    """Chunks of a first-bad-position scan over ``n`` items: 1 below :data:`PARALLEL_MIN`
    (run sequentially), else 4 per thread."""
    return 1 if n < PARALLEL_MIN else max(1, min(n, 4 * numba.get_num_threads()))


@numba.njit(cache=True, nogil=True)
def _outside_in(values: np.ndarray, lo: int, hi: int, start: int, stop: int) -> int:
    for i in range(start, stop):
        if values[i] < lo or values[i] >= hi:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def _decrease_in(ptr: np.ndarray, lo: int, hi: int, start: int, stop: int) -> int:
    for i in range(start, stop):  # lo, hi unused: one signature for both scans
        if ptr[i + 1] < ptr[i]:
            return i
    return -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _outside_parallel(values: np.ndarray, lo: int, hi: int, n: int, chunks: int) -> int:
    size = (n + chunks - 1) // chunks
    first = np.full(chunks, -1, dtype=np.int64)
    for c in prange(chunks):
        first[c] = _outside_in(values, lo, hi, c * size, min(n, (c + 1) * size))
    for c in range(chunks):
        if first[c] >= 0:
            return first[c]
    return -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _decrease_parallel(ptr: np.ndarray, lo: int, hi: int, n: int, chunks: int) -> int:
    size = (n + chunks - 1) // chunks
    first = np.full(chunks, -1, dtype=np.int64)
    for c in prange(chunks):
        first[c] = _decrease_in(ptr, lo, hi, c * size, min(n, (c + 1) * size))
    for c in range(chunks):
        if first[c] >= 0:
            return first[c]
    return -1


def first_outside(values: np.ndarray, lo: int, hi: int) -> int:
    """First position of ``values`` outside ``[lo, hi)``, or -1 (parallel when large)."""
    n = len(values)
    if num_chunks(n) == 1:
        return int(_outside_in(values, lo, hi, 0, n))
    return int(_outside_parallel(values, lo, hi, n, num_chunks(n)))


def first_decrease(ptr: np.ndarray) -> int:
    """First ``i`` with ``ptr[i + 1] < ptr[i]``, or -1 (parallel when large)."""
    n = len(ptr) - 1
    if num_chunks(n) == 1:
        return int(_decrease_in(ptr, 0, 0, 0, n))
    return int(_decrease_parallel(ptr, 0, 0, n, num_chunks(n)))


@numba.njit(cache=True, nogil=True)
def _transpose_mismatch(indptr, indices, rev_indptr, rev_indices, data, rev_data, has_data):
    """Walk the forward edges in order, filling each reverse row from its start (what a
    stable transpose does). Returns ``(code, position)``: 0 ok; 1 forward index out of
    range (forward position); 2 a reverse row too short (forward position); 3 reverse
    index differs (reverse position); 4 reverse edge value differs (reverse position)."""
    num_dst = rev_indptr.shape[0] - 1
    cursor = rev_indptr[:-1].copy()
    for u in range(indptr.shape[0] - 1):
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if v < 0 or v >= num_dst:
                return 1, e
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


def _check_index_array(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 1 or arr.dtype not in (np.int32, np.int64):
        raise GraphValidationError(
            f"{what}: expected 1-D int32/int64 ids, got dtype {arr.dtype} shape {arr.shape}"
        )


def check_csr(csr: Any, num_src: int, num_dst: int, what: str) -> None:
    """Everything a kernel relies on in one CSR: shapes, dtypes, ``indptr``, index range.

    Raises:
        GraphValidationError: naming ``what`` and the first bad row or edge position.
    """
    _check_index_array(csr.indices, f"{what} indices")
    check_ptr(csr.indptr, len(csr.indices), num_src, f"{what} indptr")
    bad = first_outside(csr.indices, 0, num_dst)
    if bad >= 0:
        raise GraphValidationError(
            f"{what}: destination id {csr.indices[bad]} at edge position {bad} is out of "
            f"range; expected ids in [0, {num_dst})"
        )
    _check_edge_data(csr, what)


def _check_edge_data(csr: Any, what: str) -> None:
    for k, v in csr.edge_data.items():
        check_edge_array(v, len(csr.indices), f"{what} edge array {k!r}")


def _bits(arr: np.ndarray) -> np.ndarray:
    """``arr`` viewed as unsigned integers of its width (exact, NaN-safe comparison)."""
    return np.ascontiguousarray(arr).view(f"u{arr.dtype.itemsize}")


def check_reverse(csr: Any, rev: Any, what: str) -> None:
    """``rev`` must be exactly ``csr.transpose()``: topology and every edge array.

    Validates ``csr`` and ``rev`` as :func:`check_csr` does (the forward index range
    and the reverse's are checked by the same sequential :math:`O(E)` walk).
    """
    num_src, num_dst = len(csr.indptr) - 1, len(rev.indptr) - 1
    _check_index_array(csr.indices, f"{what} indices")
    _check_index_array(rev.indices, f"reverse of {what} indices")
    check_ptr(csr.indptr, len(csr.indices), num_src, f"{what} indptr")
    check_ptr(rev.indptr, len(rev.indices), num_dst, f"reverse of {what} indptr")
    if len(rev.indices) != len(csr.indices) or set(rev.edge_data) != set(csr.edge_data):
        raise GraphValidationError(
            f"reverse of {what}: {len(rev.indices)} edges with arrays {sorted(rev.edge_data)}, "
            f"forward has {len(csr.indices)} with {sorted(csr.edge_data)}; expected the transpose"
        )
    _check_edge_data(csr, what)
    _check_edge_data(rev, f"reverse of {what}")
    empty = np.zeros(0, np.uint8)
    pairs = [(_bits(csr.edge_data[k]), _bits(rev.edge_data[k]), k) for k in sorted(csr.edge_data)]
    for data, rdata, name in pairs or [(empty, empty, None)]:
        if data.dtype != rdata.dtype:
            raise GraphValidationError(f"reverse of {what}: edge array {name!r} has another dtype")
        code, pos = _transpose_mismatch(csr.indptr, csr.indices, rev.indptr, rev.indices,
                                        data, rdata, name is not None)  # fmt: skip
        if code == 1:
            raise GraphValidationError(
                f"{what}: destination id {csr.indices[pos]} at edge position {pos} is out of "
                f"range; expected ids in [0, {num_dst})"
            )
        if code:
            detail = {2: f"forward edge position {pos} has no reverse entry",
                      3: f"reverse edge position {pos} disagrees with the forward edges",
                      4: f"edge array {name!r} differs at reverse edge position {pos}"}[code]  # fmt: skip
            raise GraphValidationError(
                f"reverse of {what} is not the transpose of the forward relation: {detail}"
            )


def check_allocation(count: int, bytes_per_item: int, what: str) -> None:
    """Refuse a count whose per-item arrays could never fit this machine's memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    need = count * bytes_per_item
    if need > total:
        raise GraphValidationError(
            f"{what} = {count}: its per-node arrays need {need / 2**30:,.1f} GiB, more than "
            f"this machine's {total / 2**30:,.1f} GiB of memory; check the count"
        )

