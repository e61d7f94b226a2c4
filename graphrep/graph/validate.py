"""Input checks shared by every graph builder and loader.

Each check raises :class:`~graphrep.errors.GraphValidationError` naming the
relation, column or node type and what was expected. Checks of user input are
vectorised (numpy reductions). What the compiled kernels rely on -- index ranges
against the target type's count, ``indptr`` starting at 0, non-decreasing and
ending at ``len(indices)``, a stored reverse equal to the transpose of its
forward relation -- is checked by the compiled kernels of
:mod:`graphrep.graph.integrity` before any sampler touches a loaded array.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from graphrep.errors import GraphValidationError, SchemaError

#: The canonical name of a relation, ``(src_type, rel, dst_type)``.
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

