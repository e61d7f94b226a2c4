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

import numba
import numpy as np
from numba import prange

from graphrep.errors import GraphFormatError, GraphrepError, GraphValidationError, SchemaError
from graphrep.graph.csr import _counting_sort
from graphrep.graph.insert import insert_positions, inserted, prefix_lengths, row_prefixes
from graphrep.graph.integrity import check_ptr, num_chunks
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
        """Training history: events strictly before ``cut`` (a prefix of each user's events,
        found by binary search and copied in one block per user)."""
        keep = prefix_lengths(self.user_offsets, self.timestamp, int(cut))
        if int(keep.sum()) == len(self):
            return self
        cols, offsets = row_prefixes({k: getattr(self, k) for k in COLUMNS}, self.user_offsets, keep)
        return EventLog(**cols, user_offsets=offsets, item_types=self.item_types,
                        action_names=self.action_names, surface_names=self.surface_names)

    def after(self, cut: int) -> EventLog:
        """Future window: events at or after ``cut``."""
        return self.slice_time(start=cut)

    def merged(self, other: EventLog) -> EventLog:
        r"""This log's events followed by ``other``'s (same vocabularies; ``other`` may have
        more users), sorted as :meth:`from_arrays` sorts them: equal to ``from_arrays`` on
        the concatenated columns, in :math:`O(E + m \log d)` for ``m`` added events and ``d``
        events per user (:mod:`graphrep.graph.insert`)."""
        if (self.item_types, self.action_names, self.surface_names) != (
                other.item_types, other.action_names, other.surface_names):
            raise SchemaError("EventLog.merged: the two logs have different vocabularies")
        if other.num_users < self.num_users:
            raise GraphValidationError(f"EventLog.merged: the added log has {other.num_users} "
                                       f"users, fewer than this log's {self.num_users}")
        n_users = other.num_users
        # each added event goes after its user's events with a time at most its own
        at = insert_positions(self.user_offsets, self.timestamp, other.user, other.timestamp)
        cols = {k: inserted(getattr(self, k), at, getattr(other, k), _DTYPES[k]) for k in COLUMNS}
        offsets = np.zeros(n_users + 1, dtype=np.int64)
        offsets[: self.num_users + 1] = self.user_offsets
        offsets[self.num_users + 1 :] = self.user_offsets[-1]
        offsets += other.user_offsets
        return EventLog(**cols, user_offsets=offsets, item_types=self.item_types,
                        action_names=self.action_names, surface_names=self.surface_names)

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

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Atomically save to directory ``path`` (an existing graphrep directory is
        replaced only with ``overwrite``)."""
        with atomic_dir(path, overwrite) as tmp:
            self.write_into(tmp)

    @classmethod
    def load(
        cls, path: str | os.PathLike, mmap: bool = True, num_items: Mapping[str, int] | None = None
    ) -> EventLog:
        """Load a directory written by :meth:`save`, validated as :meth:`from_arrays` would
        (one compiled pass, :func:`check_event_columns`).

        Args:
            path: the directory.
            mmap: map the columns read-only instead of reading them.
            num_items: item count per item type; item ids are range-checked against it
                (else only checked to be >= 0).

        Raises:
            GraphFormatError: missing/corrupt files, or columns that are not a valid
                sorted event log (naming the column and the first bad event).
        """
        root = Path(path)
        manifest = read_manifest(root, FORMAT)
        arrays = manifest_field(manifest, "arrays", dict, root)
        cols = {
            k: read_array(root, arrays.get(k), mmap, f"EventLog column {k!r}")
            for k in (*COLUMNS, "user_offsets")
        }
        for k, arr in cols.items():
            want = np.dtype(_DTYPES.get(k, np.int64))
            if arr.dtype != want or arr.ndim != 1:
                raise GraphFormatError(f"{root}: EventLog column {k!r} has dtype {arr.dtype} "
                                       f"shape {arr.shape}, expected 1-D {want}")  # fmt: skip
        vocab = {
            k: tuple(manifest_field(manifest, k, list, root))
            for k in ("item_types", "action_names", "surface_names")
        }
        try:
            if not all(isinstance(x, str) for v in vocab.values() for x in v):
                raise GraphValidationError("vocabularies must be lists of strings")
            if num_items is not None and not set(vocab["item_types"]) <= set(num_items):
                raise SchemaError(f"item types {vocab['item_types']} are not all node types of "
                                  f"the graph ({sorted(num_items)})")  # fmt: skip
            big = np.iinfo(np.int64).max
            counts = np.array([big if num_items is None else num_items[t]
                               for t in vocab["item_types"]], dtype=np.int64)  # fmt: skip
            data = {k: v for k, v in cols.items() if k != "user_offsets"}
            check_event_columns(data, cols["user_offsets"], counts, len(vocab["action_names"]),
                                len(vocab["surface_names"]), "EventLog")  # fmt: skip
            check_edge_array(cols["duration"], len(cols["user"]), "EventLog column 'duration'",
                             unit="event")  # fmt: skip
        except GraphrepError as exc:
            raise GraphFormatError(f"{root}: saved event log is invalid: {exc}") from None
        return cls(**cols, **vocab)


@numba.njit(cache=True, nogil=True)
def _events_in(user, offsets, item_type, item, action, surface, timestamp, item_counts,
               num_actions, num_surfaces, start, stop):
    """First bad event of users ``[start, stop)``: ``(code, position)``; 0 ok; 1 user id
    disagrees with ``user_offsets``; 2 time goes backwards within a user; 3 item type
    code; 4 item id out of range for its type; 5 action code; 6 surface code."""
    for u in range(start, stop):
        for i in range(offsets[u], offsets[u + 1]):
            t = item_type[i]
            if user[i] != u:
                return 1, i
            if i > offsets[u] and timestamp[i] < timestamp[i - 1]:
                return 2, i
            if t < 0 or t >= item_counts.shape[0]:
                return 3, i
            if item[i] < 0 or item[i] >= item_counts[t]:
                return 4, i
            if action[i] < 0 or action[i] >= num_actions:
                return 5, i
            if surface[i] < 0 or surface[i] >= num_surfaces:
                return 6, i
    return 0, -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _events_parallel(user, offsets, item_type, item, action, surface, timestamp, item_counts,
                     num_actions, num_surfaces, chunks):
    n = offsets.shape[0] - 1
    size = (n + chunks - 1) // chunks
    code = np.zeros(chunks, dtype=np.int64)
    pos = np.full(chunks, -1, dtype=np.int64)
    for c in prange(chunks):
        code[c], pos[c] = _events_in(user, offsets, item_type, item, action, surface, timestamp,
                                     item_counts, num_actions, num_surfaces, c * size,
                                     min(n, (c + 1) * size))  # fmt: skip
    for c in range(chunks):
        if code[c]:
            return code[c], pos[c]
    return 0, -1


def check_event_columns(cols: Mapping[str, np.ndarray], offsets: np.ndarray,
                        item_counts: np.ndarray, num_actions: int, num_surfaces: int,
                        what: str) -> None:
    """A sorted event log: ``user_offsets`` valid, each user's rows hold that user in time
    order, codes within their vocabularies, item ids within their item type's count
    (``item_counts[code]``; pass ``iinfo(int64).max`` for unknown counts)."""
    check_ptr(offsets, len(cols["user"]), len(offsets) - 1, f"{what} user_offsets")
    args = (cols["user"], offsets, cols["item_type"], cols["item"], cols["action"],
            cols["surface"], cols["timestamp"], item_counts, num_actions, num_surfaces)
    chunks = num_chunks(len(cols["user"]))
    if chunks == 1:
        code, pos = _events_in(*args, 0, len(offsets) - 1)
    else:
        code, pos = _events_parallel(*args, min(chunks, max(1, len(offsets) - 1)))
    if code:
        col = ("user", "timestamp", "item_type", "item", "action", "surface")[code - 1]
        expected = ("the user of its user_offsets row", "non-decreasing within each user",
                    f"a code below {len(item_counts)}", "an id below its item type's count",
                    f"a code below {num_actions}", f"a code below {num_surfaces}")[code - 1]  # fmt: skip
        raise GraphValidationError(
            f"{what} column {col!r}: value {cols[col][pos]} at event {pos} is invalid; expected "
            f"{expected}"
        )


