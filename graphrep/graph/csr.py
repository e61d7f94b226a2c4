"""Compressed sparse row (CSR) storage of one relation.

A relation ``(src_type, rel, dst_type)`` with ``E`` edges is stored as
``indptr`` (``int64``, length ``num_src + 1``) and ``indices`` (``int32`` when the
target type has fewer than 2**31 nodes, else ``int64``), plus optional per-edge
arrays (``timestamp``, ``weight``, ``action``...) aligned with ``indices``.
Rows are kept sorted by destination id (ties in input order), the canonical form
that makes duplicate merging, equality and round-trips exact.

Construction is an O(E) two-pass radix (counting) sort compiled with numba; no
Python loop touches individual edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from graphrep.errors import GraphValidationError

INT32_MAX = np.iinfo(np.int32).max


def index_dtype(num_nodes: int) -> np.dtype:
    """``int32`` if ``num_nodes`` ids fit in it, else ``int64``."""
    return np.dtype(np.int32) if num_nodes <= INT32_MAX else np.dtype(np.int64)


@numba.njit(cache=True, nogil=True)
def _counting_sort(keys: np.ndarray, num_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort: returns (indptr over keys, permutation of positions)."""
    indptr = np.zeros(num_keys + 1, dtype=np.int64)
    for e in range(keys.shape[0]):
        indptr[keys[e] + 1] += 1
    for k in range(num_keys):
        indptr[k + 1] += indptr[k]
    cursor = indptr[:-1].copy()
    perm = np.empty(keys.shape[0], dtype=np.int64)
    for e in range(keys.shape[0]):
        k = keys[e]
        perm[cursor[k]] = e
        cursor[k] += 1
    return indptr, perm


@numba.njit(cache=True, nogil=True)
def _has_edges(indptr: np.ndarray, indices: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Binary search of each ``dst[i]`` in the sorted row ``src[i]``."""
    out = np.zeros(len(src), dtype=np.bool_)
    for i in range(len(src)):
        lo, hi = indptr[src[i]], indptr[src[i] + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if indices[mid] < dst[i]:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo < indptr[src[i] + 1] and indices[lo] == dst[i]
    return out


@numba.njit(cache=True, nogil=True)
def _duplicate_groups(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """For sorted rows, a group id per edge; equal (row, col) pairs share a group."""
    group = np.empty(indices.shape[0], dtype=np.int64)
    g = -1
    for r in range(indptr.shape[0] - 1):
        prev = -1
        for e in range(indptr[r], indptr[r + 1]):
            if e == indptr[r] or indices[e] != prev:
                g += 1
            group[e] = g
            prev = indices[e]
    return group


def sort_coo(
    src: np.ndarray, dst: np.ndarray, num_src: int, num_dst: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order edges by (src, dst), stable; returns ``(indptr, perm)``."""
    _, perm_dst = _counting_sort(dst, num_dst)
    indptr, perm_src = _counting_sort(src[perm_dst], num_src)
    return indptr, perm_dst[perm_src]


@dataclass(frozen=True, eq=False)
class CSR:
    """Adjacency of one relation in CSR form.

    Args:
        indptr: ``int64`` row pointers, length ``num_src + 1``.
        indices: destination ids of every edge, row by row.
        num_dst: number of nodes of the destination type.
        edge_data: per-edge arrays aligned with ``indices`` (e.g. ``timestamp``).
    """

    indptr: np.ndarray
    indices: np.ndarray
    num_dst: int
    edge_data: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_src(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        return int(self.indptr[-1])

    @property
    def nbytes_topology(self) -> int:
        """Bytes of ``indptr`` + ``indices`` (edge data excluded)."""
        return int(self.indptr.nbytes + self.indices.nbytes)

    def degrees(self) -> np.ndarray:
        """Out-degree of every source node (``int64``)."""
        return np.diff(self.indptr)

    def neighbors(self, node: int) -> np.ndarray:
        """Destination ids adjacent to source ``node``."""
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    def row_ids(self) -> np.ndarray:
        """Source id of every edge (``int64``), i.e. the COO row array."""
        return np.repeat(np.arange(self.num_src, dtype=np.int64), self.degrees())

    def has_edges(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Whether each pair ``(src[i], dst[i])`` is an edge (``bool [N]``; a binary search in
        the sorted row, O(log degree) per pair and no extra memory).

        Raises:
            GraphValidationError: ids out of range or arrays of different shapes.
        """
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        if src.shape != dst.shape or src.ndim != 1:
            raise GraphValidationError(
                f"has_edges: src and dst must be equal 1-D arrays, got {src.shape}, {dst.shape}"
            )
        bad_src = len(src) and (src.min() < 0 or src.max() >= self.num_src)
        if bad_src or (len(dst) and (dst.min() < 0 or dst.max() >= self.num_dst)):
            raise GraphValidationError(
                f"has_edges: ids must be in [0, {self.num_src}) x [0, {self.num_dst})"
            )
        return _has_edges(self.indptr, self.indices, src, dst)

    def to_coo(self) -> tuple[np.ndarray, np.ndarray]:
        """``(src, dst)`` as ``int64`` arrays in CSR order."""
        return self.row_ids(), self.indices.astype(np.int64)

    @classmethod
    def from_coo(
        cls,
        src: np.ndarray,
        dst: np.ndarray,
        num_src: int,
        num_dst: int,
        edge_data: dict[str, np.ndarray] | None = None,
        duplicates: str = "keep",
    ) -> CSR:
        """Build from edge lists (ids must already be validated).

        Args:
            src, dst: integer arrays of equal length.
            num_src, num_dst: node counts of the two types.
            edge_data: per-edge arrays aligned with ``src``.
            duplicates: ``"keep"`` every parallel edge, or ``"merge"`` them into one
                whose ``weight`` is the sum of the merged weights (1 each if the
                relation has no weights), ``timestamp`` the latest and any other
                array the first occurrence's value.
        """
        if duplicates not in ("keep", "merge"):
            raise GraphValidationError(f"duplicates must be 'keep' or 'merge', got {duplicates!r}")
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        indptr, perm = sort_coo(src, dst, num_src, num_dst)
        indices = dst[perm].astype(index_dtype(num_dst))
        data = {k: np.asarray(v)[perm] for k, v in (edge_data or {}).items()}
        csr = cls(indptr, indices, num_dst, data)
        return csr.merge_duplicates() if duplicates == "merge" else csr

    def merge_duplicates(self) -> CSR:
        """Collapse parallel edges (see :meth:`from_coo` for how edge data merges)."""
        group = _duplicate_groups(self.indptr, self.indices)
        n_groups = int(group[-1]) + 1 if len(group) else 0
        if n_groups == self.num_edges:
            return self
        first = np.ones(len(group), dtype=bool)
        first[1:] = group[1:] != group[:-1]
        keep = np.flatnonzero(first)
        data: dict[str, np.ndarray] = {}
        weight = self.edge_data.get("weight", np.ones(self.num_edges, dtype=np.float32))
        data["weight"] = np.bincount(group, weights=weight, minlength=n_groups).astype(weight.dtype)
        for k, v in self.edge_data.items():
            if k == "weight":
                continue
            if k == "timestamp":
                out = v[keep].copy()
                np.maximum.at(out, group, v)
                data[k] = out
            else:
                data[k] = v[keep]
        rows = self.row_ids()[keep]
        indptr = np.zeros(self.num_src + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.num_src), out=indptr[1:])
        return CSR(indptr, self.indices[keep], self.num_dst, data)

    def transpose(self) -> CSR:
        """The reverse relation: rows are destinations, sorted by source id."""
        indptr, perm = _counting_sort(self.indices, self.num_dst)
        rows = self.row_ids()
        indices = rows[perm].astype(index_dtype(self.num_src))
        data = {k: v[perm] for k, v in self.edge_data.items()}
        return CSR(indptr, indices, self.num_src, data)

    def select_edges(self, keep: np.ndarray) -> CSR:
        """Sub-relation holding the edges where boolean mask ``keep`` is true."""
        rows = self.row_ids()[keep]
        indptr = np.zeros(self.num_src + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.num_src), out=indptr[1:])
        data = {k: v[keep] for k, v in self.edge_data.items()}
        return CSR(indptr, self.indices[keep], self.num_dst, data)

    def equals(self, other: CSR) -> bool:
        """Exact equality of topology and every edge array."""
        if self.num_dst != other.num_dst or set(self.edge_data) != set(other.edge_data):
            return False
        if not (
            np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
        ):
            return False
        return all(np.array_equal(v, other.edge_data[k]) for k, v in self.edge_data.items())
