"""One edge table (CSV or parquet) with arbitrary external ids as a :class:`GraphDataset`.

A thin file front end to :func:`graphrep.graph.tables.from_pandas`: endpoints may be any
unique ints or strings; they are mapped to contiguous internal ids ``0..n-1`` (sorted
unique ids per node type, or the row order of a node table) and the external ids are kept
in ``graph.node_ids`` (look them up with ``graph.index_of`` / ``graph.external_ids``).

Conventions of the returned :class:`~graphrep.data.dataset.GraphDataset`:

* one relation ``(src_type, relation, dst_type)`` (reverse ``rev_<relation>`` built
  automatically), with per-edge arrays ``timestamp`` / ``weight`` when their columns are
  given; rows are kept as they are (parallel edges stay);
* node features from optional node tables (every numeric or list column, see
  :func:`~graphrep.graph.tables.from_pandas`);
* ``meta``: ``name`` (file stem), ``task=None`` (a raw table has no held-out truth:
  split it before training), ``source``, ``relation``; ``truth`` is empty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError, GraphFormatError, SchemaError
from graphrep.graph.tables import from_pandas, read_table

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_any_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV / TSV (optionally gzipped) or parquet file, chosen by suffix.

    Raises:
        ConfigError: an unknown suffix.
        GraphFormatError: a missing or unreadable file (names it).
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return read_table(p)
    if not name.endswith(CSV_SUFFIXES):
        raise ConfigError(
            f"{str(p)!r}: unknown table format; expected a suffix in "
            f"{CSV_SUFFIXES + PARQUET_SUFFIXES}"
        )
    if not p.is_file():
        raise GraphFormatError(f"table file {str(p)!r} does not exist")
    try:
        return pd.read_csv(p, sep="\t" if ".tsv" in name else ",")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise GraphFormatError(f"cannot read table {str(p)!r}: {exc}") from exc


def _require(df: pd.DataFrame, cols: list[str | None], path: object) -> None:
    for col in cols:
        if col is not None and col not in df.columns:
            raise SchemaError(
                f"{str(path)!r}: no column {col!r}; columns present: {list(df.columns)}"
            )


def load_edge_table(
    path: str | os.PathLike,
    src_col: str,
    dst_col: str,
    src_type: str = "node",
    dst_type: str | None = None,
    relation: str = "edge",
    timestamp_col: str | None = None,
    weight_col: str | None = None,
    node_features: Mapping[str, str | os.PathLike | pd.DataFrame] | None = None,
    node_id_col: str = "id",
) -> GraphDataset:
    """Load an edge list file as a one-relation graph with external ids.

    Args:
        path: CSV / TSV (``.gz`` allowed) or parquet file, one edge per row.
        src_col, dst_col: columns of the source and destination external ids.
        src_type: node type of the sources.
        dst_type: node type of the destinations (default ``src_type``: a homogeneous graph).
        relation: relation name.
        timestamp_col: optional column stored as the per-edge array ``timestamp``.
        weight_col: optional column stored as the per-edge array ``weight``.
        node_features: per node type, a node table (file path or DataFrame) whose
            ``node_id_col`` lists that type's nodes and whose numeric / list columns become
            features. Such a type has exactly the table's nodes, in table order.
        node_id_col: id column of the node tables.

    Returns:
        A :class:`GraphDataset` following the conventions in the module docstring.

    Raises:
        SchemaError: a named column is missing (names the column, the file and the columns
            present).
        ConfigError: unknown file suffix; GraphFormatError: missing / unreadable file.
        GraphValidationError: missing ids, mixed int/str ids, or an endpoint absent from
            its node table (from :func:`~graphrep.graph.tables.from_pandas`).
    """
    dst_type = dst_type or src_type
    df = read_any_table(path)
    _require(df, [src_col, dst_col, timestamp_col, weight_col], path)
    named = {src_col: "src", dst_col: "dst", timestamp_col: "timestamp", weight_col: "weight"}
    named = {k: v for k, v in named.items() if k is not None}
    if len(named) < len([c for c in (src_col, dst_col, timestamp_col, weight_col) if c]):
        raise ConfigError(f"{str(path)!r}: the same column is used for two roles: {named}")
    table = df[list(named)].rename(columns=named)
    nodes = {}
    for nt, src in (node_features or {}).items():
        if nt not in (src_type, dst_type):
            raise SchemaError(
                f"node_features names node type {nt!r}; the graph has {[src_type, dst_type]}"
            )
        ndf = src if isinstance(src, pd.DataFrame) else read_any_table(src)
        _require(ndf, [node_id_col], "node table" if isinstance(src, pd.DataFrame) else src)
        nodes[nt] = ndf
    et = (src_type, relation, dst_type)
    extra = [c for c in ("timestamp", "weight") if c in table.columns]
    graph = from_pandas({et: table}, nodes, id_col=node_id_col, edge_cols=extra)
    name = Path(path).name.split(".")[0]
    meta = {"name": name, "task": None, "source": str(path), "relation": list(et)}
    return GraphDataset(graph, None, {}, meta)
