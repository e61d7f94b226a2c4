"""``EventLog``: timestamped user actions, sorted by user then time, ragged by user.

The source of user sequences (PinnerFormer / TransAct). Each event is
``(user, item_type, item, action, surface, timestamp, duration)``; categorical
columns are small integer codes into the log's vocabularies (``item_types``,
``action_names``, ``surface_names``). Events of user ``u`` are the rows
``user_offsets[u]:user_offsets[u + 1]``, in time order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.csr import _counting_sort
from graphrep.graph.validate import check_edge_array, check_node_ids
from graphrep.utils.arrays import (
    manifest_field,
    read_array,
    read_manifest,
    write_array,
    write_manifest,
)
from graphrep.utils.atomic import atomic_dir

FORMAT = "graphrep.eventlog"
COLUMNS = ("user", "item_type", "item", "action", "surface", "timestamp", "duration")
_DTYPES = {
    "user": np.int64,
    "item_type": np.int8,
    "item": np.int64,
    "action": np.int8,
    "surface": np.int8,
    "timestamp": np.int64,
    "duration": np.float32,
}


@dataclass(frozen=True, eq=False)
class EventLog:
    """Columns of equal length, sorted by ``(user, timestamp)``; see module docstring.

    Build with :meth:`from_arrays`, which validates and sorts.
    """

    user: np.ndarray
    item_type: np.ndarray
    item: np.ndarray
    action: np.ndarray
    surface: np.ndarray
    timestamp: np.ndarray
    duration: np.ndarray
    user_offsets: np.ndarray
    item_types: tuple[str, ...] = ("pin",)
    action_names: tuple[str, ...] = ("engage",)
    surface_names: tuple[str, ...] = ("home",)

    @classmethod
    def from_arrays(
        cls,
        user: Any,
        item: Any,
        timestamp: Any,
        *,
        num_users: int,
        item_type: Any | None = None,
        action: Any | None = None,
        surface: Any | None = None,
        duration: Any | None = None,
        item_types: Sequence[str] = ("pin",),
        action_names: Sequence[str] = ("engage",),
        surface_names: Sequence[str] = ("home",),
        num_items: Mapping[str, int] | None = None,
    ) -> EventLog:
        """Validate columns and sort them by user, then time (stable).

        Args:
            user: user id per event, in ``[0, num_users)``.
            item: item id per event (internal id within its item type).
            timestamp: integer time per event (e.g. seconds).
            num_users: number of users.
            item_type, action, surface: codes into the vocabularies (default 0).
            duration: seconds spent (default 0).
            item_types, action_names, surface_names: the vocabularies.
            num_items: item count per item type; if given, item ids are range-checked.
        """
        user = check_node_ids(user, num_users, "EventLog column 'user'")
        n = len(user)
        ts = check_edge_array(timestamp, n, "EventLog column 'timestamp'", unit="event")
        if not np.issubdtype(ts.dtype, np.integer):
            raise GraphValidationError(
                f"EventLog column 'timestamp': expected integers, got {ts.dtype}"
            )
        cols: dict[str, np.ndarray] = {"user": user, "timestamp": ts.astype(np.int64)}
        for name, value, vocab in (
            ("item_type", item_type, item_types),
            ("action", action, action_names),
            ("surface", surface, surface_names),
        ):
            if not 0 < len(vocab) <= 127:
                raise GraphValidationError(f"EventLog vocabulary for {name!r} needs 1..127 names")
            arr = (
                np.zeros(n, np.int64)
                if value is None
                else check_node_ids(
                    value, len(vocab), f"EventLog column {name!r} (codes into {list(vocab)})"
                )
            )
            if len(arr) != n:
                raise GraphValidationError(
                    f"EventLog column {name!r}: expected {n} values, got {len(arr)}"
                )
            cols[name] = arr
        item = np.asarray(item)
        if not np.issubdtype(item.dtype, np.integer) or item.ndim != 1 or len(item) != n:
            raise GraphValidationError(
                f"EventLog column 'item': expected {n} integer ids, got dtype {item.dtype} shape {item.shape}"
            )
        if (item < 0).any():
            raise GraphValidationError("EventLog column 'item': negative item id")
        if num_items is not None:
            for code, nt in enumerate(item_types):
                if nt not in num_items:
                    raise SchemaError(f"EventLog item type {nt!r} is not a node type of the graph")
                sel = cols["item_type"] == code
                check_node_ids(item[sel], num_items[nt], f"EventLog column 'item' (type {nt!r})")
        cols["item"] = item
        cols["duration"] = (
            np.zeros(n, np.float32)
            if duration is None
            else check_edge_array(duration, n, "EventLog column 'duration'", unit="event")
        )
        # sort by (user, time): stable argsort by time, then stable counting sort by user
        by_time = np.argsort(cols["timestamp"], kind="stable")
        offsets, by_user = _counting_sort(user[by_time], num_users)
        order = by_time[by_user]
        sorted_cols = {k: cols[k][order].astype(_DTYPES[k]) for k in COLUMNS}
        return cls(
            **sorted_cols,
            user_offsets=offsets,
            item_types=tuple(item_types),
            action_names=tuple(action_names),
            surface_names=tuple(surface_names),
        )

    def __len__(self) -> int:
        return len(self.user)

    @property
    def num_users(self) -> int:
        return len(self.user_offsets) - 1

    def user_slice(self, u: int) -> slice:
        """Row range of user ``u``'s events."""
        return slice(int(self.user_offsets[u]), int(self.user_offsets[u + 1]))

    def events_per_user(self) -> np.ndarray:
        return np.diff(self.user_offsets)

    def select(self, mask: np.ndarray) -> EventLog:
        """Events where boolean ``mask`` holds (order and vocabularies kept)."""
        cols = {k: getattr(self, k)[mask] for k in COLUMNS}
        offsets = np.zeros(self.num_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols["user"], minlength=self.num_users), out=offsets[1:])
        return EventLog(
            **cols,
            user_offsets=offsets,
            item_types=self.item_types,
            action_names=self.action_names,
            surface_names=self.surface_names,
        )

    def slice_time(self, start: int | None = None, end: int | None = None) -> EventLog:
        """Events with ``start <= timestamp < end`` (open bounds when None)."""
        mask = np.ones(len(self), dtype=bool)
        if start is not None:
            mask &= self.timestamp >= start
        if end is not None:
            mask &= self.timestamp < end
        return self.select(mask)

    def before(self, cut: int) -> EventLog:
        """Training history: events strictly before ``cut``."""
        return self.slice_time(end=cut)

    def after(self, cut: int) -> EventLog:
        """Future window: events at or after ``cut``."""
        return self.slice_time(start=cut)

    def equals(self, other: EventLog) -> bool:
        return (self.item_types, self.action_names, self.surface_names) == (
            other.item_types,
            other.action_names,
            other.surface_names,
        ) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in (*COLUMNS, "user_offsets")
        )

    # ------------------------------------------------------------------ storage
    def write_into(self, root: Path) -> None:
        """Write into an existing empty directory (not atomic by itself)."""
        manifest = {
            "format": FORMAT,
            "version": 1,
            "num_events": len(self),
            "item_types": list(self.item_types),
            "action_names": list(self.action_names),
            "surface_names": list(self.surface_names),
            "arrays": {
                k: write_array(root, f"{k}.npy", getattr(self, k))
                for k in (*COLUMNS, "user_offsets")
            },
        }
        write_manifest(root, manifest)

    def save(self, path: str | os.PathLike) -> None:
        """Atomically save to directory ``path``."""
        with atomic_dir(path) as tmp:
            self.write_into(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> EventLog:
        """Load a directory written by :meth:`save`."""
        root = Path(path)
        manifest = read_manifest(root, FORMAT)
        arrays = manifest_field(manifest, "arrays", dict, root)
        cols = {
            k: read_array(root, arrays.get(k), mmap, f"EventLog column {k!r}")
            for k in (*COLUMNS, "user_offsets")
        }
        vocab = {
            k: tuple(manifest_field(manifest, k, list, root))
            for k in ("item_types", "action_names", "surface_names")
        }
        return cls(**cols, **vocab)
