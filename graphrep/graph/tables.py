"""Build a :class:`HeteroGraph` from pandas / parquet tables, and back.

One edge table per relation ``(src_type, rel, dst_type)`` holds the endpoints as
*external* ids (any unique ints or strings) in columns ``src`` / ``dst``, plus any
numeric per-edge columns (``timestamp``, ``weight``, ``action``...). An optional
node table per node type lists its ids (column ``id``) and feature columns.

Id mapping is vectorised (one :meth:`pandas.Index.get_indexer` hash lookup per column).

Rules:
    * A node type with a node table has exactly those nodes, in table order; an edge
      endpoint missing from the table is an error naming relation, column and id.
    * A node type without a node table gets the sorted unique endpoint ids found in
      the edge tables (so string ids work with edge tables alone).
    * External ids equal to ``0..n-1`` in order are the identity and are not stored
      (``graph.node_ids`` has no entry; lookups behave the same), which makes
      ``from_pandas(*to_pandas(g))`` an exact round trip for graphs without ids.
    * Node-table columns become features: a numeric column is a dense ``[n, 1]``
      feature (integers and booleans become ``float32``); a column of equal-length
      float lists/arrays is a dense ``[n, d]`` feature; a column of integer lists is a
      :class:`~graphrep.graph.ragged.Ragged` token feature. List columns may be
      object columns of lists / numpy arrays or pyarrow-backed list columns.

Example:
    >>> import pandas as pd
    >>> edges = {("user", "saved", "pin"): pd.DataFrame({"src": ["u1", "u2"], "dst": ["p9", "p9"]})}
    >>> g = from_pandas(edges)
    >>> g.num_nodes
    {'user': 2, 'pin': 1}
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphrep.errors import GraphFormatError, GraphValidationError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import EdgeType, check_external_ids, fmt_edge_type

FeatureSpec = Sequence[str] | Mapping[str, str | Sequence[str]]


def _column(df: Any, col: str, table: str) -> pd.Series:
    if not isinstance(df, pd.DataFrame):
        raise GraphValidationError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    if col not in df.columns:
        raise GraphValidationError(f"{table}: missing column {col!r} (has {list(df.columns)})")
    return df[col]


def _first_missing(series: pd.Series, what: str) -> None:
    na = series.isna().to_numpy()
    if na.any():
        raise GraphValidationError(f"{what}: missing value (NaN/None) at row {np.argmax(na)}")


def _id_values(series: pd.Series, what: str) -> np.ndarray:
    """External ids of a column as ``int64`` or a numpy unicode array."""
    _first_missing(series, what)
    kind = pd.api.types.infer_dtype(series, skipna=False)
    if kind == "empty" or len(series) == 0:
        return np.zeros(0, dtype=np.int64)
    if kind == "integer":
        return series.to_numpy(dtype=np.int64)
    if kind == "string":
        return series.to_numpy(dtype=object).astype(str)
    raise GraphValidationError(
        f"{what}: ids must be all integers or all strings, got {kind} values (dtype {series.dtype})"
    )


def _numeric(series: pd.Series, what: str) -> np.ndarray:
    """A numeric/bool column as a numpy array of its natural dtype."""
    _first_missing(series, what)
    if not pd.api.types.is_numeric_dtype(series.dtype):  # bools count as numeric
        raise GraphValidationError(f"{what}: expected a numeric column, got dtype {series.dtype}")
    return np.asarray(series.to_numpy(dtype=getattr(series.dtype, "numpy_dtype", None)))


def _is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _is_scalar_numeric(series: pd.Series) -> bool:
    dt = series.dtype
    return pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt)


def _is_list_column(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.ArrowDtype):
        return _is_list_type(series.dtype.pyarrow_dtype)
    if series.dtype == object and len(series):
        return isinstance(series.iloc[0], list | tuple | np.ndarray)
    return False


def _list_feature(series: pd.Series, what: str) -> np.ndarray | Ragged:
    """A column of lists: integer lists -> Ragged, equal-length float lists -> dense ``[n, d]``."""
    try:
        arr = pa.array(series)  # C++ conversion of lists / numpy arrays / arrow lists
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise GraphValidationError(f"{what}: expected lists of numbers ({exc})") from exc
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if not _is_list_type(t):
        raise GraphValidationError(f"{what}: expected lists of numbers in every row, got {t}")
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise GraphValidationError(f"{what}: missing list (None) at row {row}")
    flat = arr.flatten()
    if flat.null_count:
        raise GraphValidationError(f"{what}: lists contain missing values (None/NaN)")
    n = len(arr)
    if pa.types.is_fixed_size_list(t):
        lengths = np.full(n, t.list_size, dtype=np.int64)
    else:
        lengths = np.diff(arr.offsets.to_numpy().astype(np.int64))
    vt = t.value_type
    if pa.types.is_null(vt):  # only empty lists: an empty token list per row
        return Ragged(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    values = flat.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(vt):
        return Ragged.from_lengths(lengths, values)
    if pa.types.is_floating(vt):
        if n and (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise GraphValidationError(
                f"{what}: a column of float lists is a dense feature and needs equal lengths, but "
                f"row 0 has {lengths[0]} values and row {row} has {lengths[row]} "
                "(use integer lists for ragged token features)"
            )
        return values.reshape(n, int(lengths[0]) if n else 0)
    raise GraphValidationError(f"{what}: expected lists of integers or floats, got lists of {vt}")


def _feature(df: pd.DataFrame, cols: str | Sequence[str], table: str, name: str) -> Any:
    if isinstance(cols, str):
        series = _column(df, cols, table)
        what = f"{table} column {cols!r}"
        if _is_list_column(series):
            return _list_feature(series, what)
        arr = _numeric(series, what)
        return arr.astype(np.float32) if arr.dtype == bool else arr
    if not len(cols):
        raise GraphValidationError(f"{table}: feature {name!r} lists no columns")
    parts = [_numeric(_column(df, c, table), f"{table} column {c!r} ({name!r})") for c in cols]
    stacked = np.column_stack(parts)
    return stacked.astype(np.float32) if stacked.dtype == bool else stacked


def _default_feature_cols(df: pd.DataFrame, id_col: str) -> list[str]:
    """Numeric columns and list columns; strings, dates and other columns are ignored."""
    keep = [_is_list_column(df[c]) or _is_scalar_numeric(df[c]) for c in df.columns]
    return [c for c, k in zip(df.columns, keep, strict=True) if k and c != id_col]


def _node_features(df: pd.DataFrame, nt: str, id_col: str, spec: FeatureSpec | None) -> dict:
    table = f"node table {nt!r}"
    if spec is None:
        spec = _default_feature_cols(df, id_col)
    if isinstance(spec, str):
        raise GraphValidationError(f"feature_cols[{nt!r}]: expected a list of columns, not a str")
    if isinstance(spec, Mapping):
        return {name: _feature(df, cols, table, name) for name, cols in spec.items()}
    return {c: _feature(df, c, table, c) for c in spec}


def _type_ids(nt: str, nodes: Mapping, ends: Mapping, cols: tuple[str, str, str]) -> np.ndarray:
    """External ids of node type ``nt``: its node table's, else the sorted endpoint ids."""
    src_col, dst_col, id_col = cols
    if nt in nodes:
        what = f"node table {nt!r} column {id_col!r}"
        raw = _id_values(_column(nodes[nt], id_col, f"node table {nt!r}"), what)
        if not pd.Index(raw).is_unique:  # hash check; check_external_ids names a duplicate
            check_external_ids(raw, len(raw), what)
        return raw
    seen = [
        (f"relation {fmt_edge_type(et)} column {col!r}", arr)
        for et, (src, dst) in ends.items()
        for end_type, col, arr in ((et[0], src_col, src), (et[2], dst_col, dst))
        if end_type == nt and len(arr)
    ]
    by_kind = {arr.dtype.kind: where for where, arr in seen}
    if len(by_kind) > 1:
        raise GraphValidationError(
            f"node type {nt!r}: ids are integers in {by_kind['i']} but strings in "
            f"{by_kind['U']}; expected one kind of id per node type"
        )
    if not seen:
        return np.zeros(0, np.int64)
    uniq = pd.unique(np.concatenate([a for _, a in seen]))  # hash first: sort only uniques
    uniq.sort()
    return uniq


def _edge_columns(df: pd.DataFrame, et: EdgeType, edge_cols: Any, ends: tuple[str, str]) -> list:
    if isinstance(edge_cols, Mapping):
        return list(edge_cols.get(et, []))
    if edge_cols is not None:
        return list(edge_cols)
    return [c for c in df.columns if c not in ends and _is_scalar_numeric(df[c])]


def from_pandas(
    edges: Mapping[EdgeType, pd.DataFrame],
    nodes: Mapping[str, pd.DataFrame] | None = None,
    *,
    src_col: str = "src",
    dst_col: str = "dst",
    id_col: str = "id",
    edge_cols: Sequence[str] | Mapping[EdgeType, Sequence[str]] | None = None,
    feature_cols: Mapping[str, FeatureSpec] | None = None,
    duplicates: str = "keep",
) -> HeteroGraph:
    """Build a :class:`HeteroGraph` from one edge table per relation and optional node tables.

    Args:
        edges: per edge type ``(src_type, rel, dst_type)``, a DataFrame with endpoint
            columns ``src_col`` / ``dst_col`` holding external ids.
        nodes: per node type, a DataFrame whose ``id_col`` lists that type's nodes
            (unique ints or strings). Types without a table take their ids from the edges.
        src_col, dst_col, id_col: column names of endpoints and node ids.
        edge_cols: per-edge columns to keep, for every relation (a list) or per relation
            (a mapping). Default: every other numeric or boolean column.
        feature_cols: per node type, either a list of columns (each becomes a feature of
            the same name) or a mapping ``feature name -> column | [columns]`` (several
            numeric columns are stacked into one ``[n, d]`` feature). Default: every
            numeric or list column of each node table; node types missing from a given
            mapping get no features.
        duplicates: ``"keep"`` parallel edges or ``"merge"`` them (see
            :meth:`~graphrep.graph.csr.CSR.from_coo`).

    Returns:
        The graph, relations in the order of ``edges``.

    Raises:
        GraphValidationError: a missing column, a missing (NaN) id or value, ids that are
            neither all ints nor all strings, or an endpoint absent from its node table;
            the message names the table, column and offending id.
    """
    nodes = dict(nodes or {})
    frames: dict[EdgeType, pd.DataFrame] = {}
    ends: dict[EdgeType, tuple[np.ndarray, np.ndarray]] = {}
    for et, df in edges.items():
        if not (isinstance(et, tuple) and len(et) == 3 and all(isinstance(x, str) for x in et)):
            raise GraphValidationError(f"edge type {et!r}: expected a (src, rel, dst) tuple")
        frames[et], table = df, f"relation {fmt_edge_type(et)}"
        ends[et] = (
            _id_values(_column(df, src_col, table), f"{table} column {src_col!r}"),
            _id_values(_column(df, dst_col, table), f"{table} column {dst_col!r}"),
        )
    node_types = dict.fromkeys([*nodes, *(nt for et in frames for nt in (et[0], et[2]))])
    ids = {nt: _type_ids(nt, nodes, ends, (src_col, dst_col, id_col)) for nt in node_types}
    index = {nt: pd.Index(v) for nt, v in ids.items()}
    specs: dict[EdgeType, dict[str, Any]] = {}
    for et, df in frames.items():
        table = f"relation {fmt_edge_type(et)}"
        spec: dict[str, Any] = {}
        for key, nt, col, vals in zip(
            ("src", "dst"), (et[0], et[2]), (src_col, dst_col), ends[et], strict=True
        ):
            pos = index[nt].get_indexer(vals) if len(vals) else np.zeros(0, np.int64)
            if (pos < 0).any():
                row = int(np.flatnonzero(pos < 0)[0])
                raise GraphValidationError(
                    f"{table} column {col!r}: id {vals[row]!r} at row {row} is not a node of "
                    f"type {nt!r}; expected an id listed in node table {nt!r} column {id_col!r}"
                )
            spec[key] = pos
        for c in _edge_columns(df, et, edge_cols, (src_col, dst_col)):
            if c in (src_col, dst_col, "src", "dst"):
                raise GraphValidationError(
                    f"{table}: per-edge column {c!r} clashes with an endpoint column name; "
                    "rename it (the names 'src' and 'dst' are reserved)"
                )
            spec[c] = _numeric(_column(df, c, table), f"{table} column {c!r}")
        specs[et] = spec
    for nt in set(feature_cols or {}) - set(nodes):
        raise GraphValidationError(f"feature_cols names node type {nt!r}, which has no node table")
    features = {
        nt: _node_features(df, nt, id_col, None if feature_cols is None else feature_cols[nt])
        for nt, df in nodes.items()
        if feature_cols is None or nt in feature_cols
    }
    node_ids = {
        nt: v
        for nt, v in ids.items()
        if not (v.dtype.kind == "i" and np.array_equal(v, np.arange(len(v))))
    }
    return HeteroGraph.from_edges(
        {nt: len(v) for nt, v in ids.items()},
        specs,
        node_ids=node_ids,
        features=features,
        duplicates=duplicates,
    )


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read one parquet file (or directory) with pyarrow; list columns stay arrow-backed.

    Raises:
        GraphFormatError: the file is missing or not a readable parquet file (names it).
    """
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise GraphFormatError(f"parquet file {os.fspath(path)!r} does not exist")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise GraphFormatError(f"cannot read parquet file {os.fspath(path)!r}: {exc}") from exc
    # list columns stay arrow-backed (vectorised parsing); ignore_metadata because pandas
    # metadata of arrow-backed list columns is not re-readable by pyarrow.
    return table.to_pandas(
        types_mapper=lambda t: pd.ArrowDtype(t) if _is_list_type(t) else None,
        ignore_metadata=True,
    )


def from_parquet(
    edges: Mapping[EdgeType, str | os.PathLike],
    nodes: Mapping[str, str | os.PathLike] | None = None,
    **kwargs: Any,
) -> HeteroGraph:
    """Read one parquet file per relation (and per node type) and call :func:`from_pandas`.

    Args:
        edges: per edge type, the path of its edge table.
        nodes: per node type, the path of its node table.
        **kwargs: forwarded to :func:`from_pandas` (column names, ``duplicates``...).

    Raises:
        GraphFormatError: a file is missing or unreadable (the message names it).
    """
    edge_frames = {tuple(et): read_table(p) for et, p in edges.items()}
    node_frames = {nt: read_table(p) for nt, p in (nodes or {}).items()}
    return from_pandas(edge_frames, node_frames, **kwargs)


# ---------------------------------------------------------------------- export
def to_pandas(
    graph: HeteroGraph, *, src_col: str = "src", dst_col: str = "dst", id_col: str = "id"
) -> tuple[dict[EdgeType, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Edge and node tables of ``graph``, the inverse of :func:`from_pandas`.

    Edge tables cover the forward relations only (reverses are rebuilt on load), rows in
    CSR order, endpoints as external ids, one column per edge array. Node tables have
    the ids (``0..n-1`` when the type has no external ids), a scalar column per ``[n, 1]``
    dense feature, an object column of row arrays per ``[n, d]`` dense feature and an
    object column of token arrays per ragged feature. Both write to parquet as is.
    (A node type with zero nodes has empty, untyped feature columns; they read back as none.)

    Returns:
        ``(edges, nodes)`` such that ``from_pandas(edges, nodes).equals(graph)``.
    """
    edges: dict[EdgeType, pd.DataFrame] = {}
    for et in graph.canonical_edge_types:
        csr = graph.csr(et)
        src, dst = csr.to_coo()
        cols: dict[str, Any] = {
            src_col: graph.external_ids(et[0], src),
            dst_col: graph.external_ids(et[2], dst),
        }
        for name, arr in csr.edge_data.items():
            if name in cols:
                raise GraphValidationError(
                    f"relation {fmt_edge_type(et)}: edge array {name!r} clashes with an endpoint "
                    "column; pass other src_col/dst_col"
                )
            cols[name] = arr
        edges[et] = pd.DataFrame(cols)
    nodes: dict[str, pd.DataFrame] = {}
    for nt, n in graph.num_nodes.items():
        cols = {id_col: graph.external_ids(nt)}
        for name, feat in graph.features[nt].items():
            if name in cols:
                raise GraphValidationError(
                    f"node type {nt!r}: feature {name!r} clashes with the id column; "
                    "pass another id_col"
                )
            if isinstance(feat, Ragged):
                rows = np.split(feat.values, feat.offsets[1:-1]) if n else []
                cols[name] = pd.Series(rows, dtype=object)
            elif feat.shape[1] == 1:
                cols[name] = feat[:, 0]
            else:
                cols[name] = pd.Series(list(feat), dtype=object)
        nodes[nt] = pd.DataFrame(cols)
    return edges, nodes
