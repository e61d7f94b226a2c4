"""Ragged (variable-length) arrays: ``offsets`` + ``values``, the CSR of lists.

Used for token-id lists (text features) and for any per-node list whose
length varies. ``row i`` is ``values[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphrep.errors import GraphValidationError


@dataclass(frozen=True, eq=False)
class Ragged:
    """A list of 1-D integer arrays stored flat.

    Args:
        offsets: ``int64`` array of length ``n + 1``, non-decreasing, ``offsets[0] == 0``.
        values: 1-D array holding every row back to back (``len == offsets[-1]``).
    """

    offsets: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        check_ragged(self.offsets, self.values, "ragged array")

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], dtype: np.dtype = np.int32) -> Ragged:
        """Build from a Python list of lists of integers (convenience; not for hot paths).

        Raises:
            GraphValidationError: a row holds a non-integer (``1.5``, ``"a"``, ``True``)
                or a value that ``dtype`` cannot hold, naming the row.
        """
        dtype = np.dtype(dtype)
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        parts = [_int_row(r, i, dtype) for i, r in enumerate(rows) if len(r)]
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
        return cls(offsets, values)

    @classmethod
    def from_lengths(cls, lengths: np.ndarray, values: np.ndarray) -> Ragged:
        """Build from per-row lengths and the concatenated values."""
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(offsets, np.asarray(values))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        """Row lengths as ``int64``."""
        return np.diff(self.offsets)

    def to_lists(self) -> list[list[int]]:
        """Rows as Python lists (for tests and small data)."""
        return [self[i].tolist() for i in range(len(self))]

    def take(self, rows: np.ndarray) -> Ragged:
        """Rows ``rows`` (any order, repeats allowed) as a new :class:`Ragged`."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # position of every output value in the source: start of its row + rank in row
        row_of = np.repeat(np.arange(len(rows)), lengths)
        src = starts[row_of] + (np.arange(offsets[-1]) - offsets[row_of])
        return Ragged(offsets, self.values[src])

    def to_padded(
        self, rows: np.ndarray, max_len: int, pad: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """First ``max_len`` values of each of ``rows`` as a ``[B, max_len]`` array and mask."""
        sub = self.take(rows)
        lengths = np.minimum(sub.lengths(), max_len)
        mask = np.arange(max_len)[None, :] < lengths[:, None]
        out = np.full((len(rows), max_len), pad, dtype=self.values.dtype)
        flat = sub.offsets[:-1, None] + np.arange(max_len)[None, :]
        out[mask] = sub.values[flat[mask]]
        return out, mask

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.values.nbytes)

    def equals(self, other: Ragged) -> bool:
        """Exact equality of offsets and values."""
        return bool(
            np.array_equal(self.offsets, other.offsets)
            and np.array_equal(self.values, other.values)
        )


def _int_row(row: Sequence[int], i: int, dtype: np.dtype) -> np.ndarray:
    """Row ``i`` as an array of ``dtype``, refusing anything but integers that fit it."""
    arr = np.asarray(row)
    if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise GraphValidationError(
            f"ragged row {i}: expected a list of integers, got {list(row)[:5]!r} "
            f"(dtype {arr.dtype}); convert values explicitly (floats are not rounded)"
        )
    info = np.iinfo(dtype)
    if int(arr.min()) < info.min or int(arr.max()) > info.max:
        raise GraphValidationError(
            f"ragged row {i}: values {int(arr.min())}..{int(arr.max())} do not fit {dtype}"
        )
    return arr.astype(dtype)


def check_ragged(offsets: np.ndarray, values: np.ndarray, what: str) -> None:
    """Raise :class:`GraphValidationError` unless ``offsets``/``values`` form a ragged array."""
    if offsets.ndim != 1 or len(offsets) == 0:
        raise GraphValidationError(f"{what}: offsets must be 1-D with length n + 1 >= 1")
    if not np.issubdtype(offsets.dtype, np.integer):
        raise GraphValidationError(f"{what}: offsets must be integers, got dtype {offsets.dtype}")
    if values.ndim != 1:
        raise GraphValidationError(f"{what}: values must be 1-D, got shape {values.shape}")
    if offsets[0] != 0 or offsets[-1] != len(values):
        raise GraphValidationError(
            f"{what}: offsets must start at 0 and end at len(values)={len(values)}, "
            f"got {offsets[0]}..{offsets[-1]}"
        )
    if len(offsets) > 1 and np.any(np.diff(offsets) < 0):
        raise GraphValidationError(f"{what}: offsets must be non-decreasing")
