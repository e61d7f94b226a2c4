"""What an incremental refresh applies: new nodes, new edges and new user actions, as tables.

A CHANGES directory holds Parquet tables (any subset)::

    nodes_<type>.parquet      column ``id`` (external ids; optional for types without
                              them) and one column per feature of the type: float lists
                              for dense features, integer lists for token features
    edges_<relation>.parquet  ``src``, ``dst`` (external ids; ``rev_<rel>`` names flip
                              them) and the relation's edge arrays (``timestamp``, ...)
    actions.parquet           ``user``, ``item``, ``timestamp`` and optionally
                              ``item_type``, ``action``, ``surface`` (names or codes),
                              ``duration``

Edges and actions may name nodes of the same CHANGES. An action is not an edge: it
extends the user's sequence only (add ``edges_engaged.parquet`` for the graph). A user
id that is not known yet is a new user. Any other file is an error (a typo would
silently change nothing).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graphrep.errors import GraphFormatError, GraphValidationError
from graphrep.graph.extend import EdgeRows, NodeRows
from graphrep.graph.ragged import Ragged
from graphrep.graph.tables import _node_features, _numeric, read_table

_FILE = re.compile(r"(nodes|edges)_(.+)\.parquet|actions\.parquet")
ACTION_COLUMNS = ("user", "item", "timestamp")


@dataclass
class ActionRows:
    """New user actions (one entry per action; external ids, names or codes)."""

    user: Any
    item: Any
    timestamp: Any
    item_type: Any = None
    action: Any = None
    surface: Any = None
    duration: Any = None

    def __len__(self) -> int:
        return len(np.atleast_1d(np.asarray(self.user)))


@dataclass
class Changes:
    """New nodes (by type), new edges (by relation name) and new user actions."""

    nodes: dict[str, NodeRows] = field(default_factory=dict)
    edges: dict[str, EdgeRows] = field(default_factory=dict)
    actions: ActionRows | None = None

    def is_empty(self) -> bool:
        return not self.nodes and not self.edges and (self.actions is None or not len(self.actions))

    def summary(self) -> dict[str, Any]:
        """Counts per table (for reports)."""
        out: dict[str, Any] = {}
        for nt, rows in self.nodes.items():
            out[f"nodes_{nt}"] = _count(rows)
        for rel, e in self.edges.items():
            out[f"edges_{rel}"] = len(np.atleast_1d(np.asarray(e.src)))
        if self.actions is not None:
            out["actions"] = len(self.actions)
        return out

    @classmethod
    def read(cls, path: str | os.PathLike) -> Changes:
        """Read a CHANGES directory (see the module docstring)."""
        root = Path(path)
        if not root.is_dir():
            raise GraphFormatError(f"changes directory {str(root)!r} does not exist")
        out = cls()
        for f in sorted(root.iterdir()):
            m = _FILE.fullmatch(f.name)
            if m is None:
                raise GraphFormatError(
                    f"{f}: not a changes table; expected nodes_<type>.parquet, "
                    "edges_<relation>.parquet or actions.parquet"
                )
            df = read_table(f)
            if m.group(1) == "nodes":
                feats = _node_features(df, m.group(2), "id", None)
                ids = _ids(df["id"]) if "id" in df.columns else None
                out.nodes[m.group(2)] = NodeRows(ids, feats, len(df))
            elif m.group(1) == "edges":
                for col in ("src", "dst"):
                    if col not in df.columns:
                        raise GraphFormatError(f"{f}: missing column {col!r}")
                data = {c: _numeric(df[c], f"{f.name} column {c!r}")
                        for c in df.columns if c not in ("src", "dst")}  # fmt: skip
                out.edges[m.group(2)] = EdgeRows(_ids(df["src"]), _ids(df["dst"]), data)
            else:
                missing = [c for c in ACTION_COLUMNS if c not in df.columns]
                if missing:
                    raise GraphFormatError(f"{f}: missing column(s) {missing}")
                cols = {c: (_ids(df[c]) if c in ("user", "item", "item_type", "action", "surface")
                            else df[c].to_numpy()) for c in df.columns}  # fmt: skip
                unknown = set(cols) - {f.name for f in ActionRows.__dataclass_fields__.values()}
                if unknown:
                    raise GraphFormatError(f"{f}: unknown column(s) {sorted(unknown)}")
                out.actions = ActionRows(**cols)
        return out

    def write(self, path: str | os.PathLike) -> None:
        """Write the tables into the existing directory ``path`` (readable by :meth:`read`)."""
        root = Path(path)
        for nt, rows in self.nodes.items():
            cols: dict[str, Any] = {}
            if rows.ids is not None:
                cols["id"] = pa.array(np.asarray(rows.ids))
            for name, v in rows.features.items():
                cols[name] = _list_array(v)
            n = _count(rows)
            table = pa.table(cols) if cols else pa.table({"_": pa.nulls(n)}).drop(["_"])
            pq.write_table(table, root / f"nodes_{nt}.parquet")
        for rel, e in self.edges.items():
            cols = {"src": np.asarray(e.src), "dst": np.asarray(e.dst),
                    **{k: np.asarray(v) for k, v in e.data.items()}}  # fmt: skip
            pq.write_table(pa.table(cols), root / f"edges_{rel}.parquet")
        if self.actions is not None:
            a = self.actions
            cols = {k: np.asarray(getattr(a, k)) for k in ActionRows.__dataclass_fields__
                    if getattr(a, k) is not None}  # fmt: skip
            pq.write_table(pa.table(cols), root / "actions.parquet")


def _count(rows: NodeRows) -> int:
    if rows.count is not None:
        return int(rows.count)
    if rows.ids is not None:
        return len(np.atleast_1d(np.asarray(rows.ids)))
    return len(next(iter(rows.features.values()))) if rows.features else 0


def _ids(series: pd.Series) -> np.ndarray:
    arr = series.to_numpy()
    if arr.dtype == object:
        if series.isna().any():
            raise GraphValidationError(f"column {series.name!r}: missing value")
        return arr.astype(str)
    return arr


def _list_array(value: Any) -> pa.Array:
    if isinstance(value, Ragged):
        return pa.ListArray.from_arrays(pa.array(value.offsets.astype(np.int32)), pa.array(value.values))
    if isinstance(value, list):
        return pa.array(value, type=pa.list_(pa.int64()))
    x = np.asarray(value, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


__all__ = ["ActionRows", "Changes"]
