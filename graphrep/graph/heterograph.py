"""``HeteroGraph``: a typed graph stored as one CSR per relation.

Node types have counts and optional external ids (any unique ints or strings,
mapped to contiguous ``0..n-1``); relations ``(src_type, rel, dst_type)`` are CSR
(:class:`~graphrep.graph.csr.CSR`) with optional per-edge arrays. The reverse of
each relation is built once at construction and named ``rev_<rel>``, so samplers
walk either direction at the same cost. Node features per type are dense
``float`` arrays ``[n, d]`` or :class:`~graphrep.graph.ragged.Ragged` token lists.

Example:
    >>> g = HeteroGraph.from_edges(
    ...     {"user": 2, "pin": 3},
    ...     {("user", "engaged", "pin"): {"src": [0, 0, 1], "dst": [0, 2, 2], "timestamp": [5, 6, 7]}},
    ... )
    >>> g.csr("engaged").neighbors(0)
    array([0, 2], dtype=int32)
    >>> g.csr(("pin", "rev_engaged", "user")).neighbors(2)
    array([0, 1], dtype=int32)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from graphrep.errors import GraphValidationError, SchemaError
from graphrep.graph.csr import CSR
from graphrep.graph.integrity import check_csr, check_reverse
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import (
    EdgeType,
    check_allocation,
    check_dense_feature,
    check_edge_spec,
    check_edge_type,
    check_external_ids,
    check_node_ids,
    fmt_edge_type,
)

Feature = np.ndarray | Ragged
REVERSE_PREFIX = "rev_"


def reverse_name(rel: str) -> str:
    """Name of the reverse of relation ``rel``."""
    return REVERSE_PREFIX + rel


def _check_counts(num_nodes: Mapping[str, int]) -> dict[str, int]:
    """Node counts: non-empty string types, ints >= 0 whose per-node arrays can fit memory."""
    out: dict[str, int] = {}
    for nt, n in num_nodes.items():
        if not isinstance(nt, str) or not nt:
            raise GraphValidationError(f"node type names must be non-empty strings, got {nt!r}")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise GraphValidationError(f"node type {nt!r}: count must be an int >= 0, got {n!r}")
        check_allocation(int(n), 8, f"node type {nt!r}: count")
        out[nt] = int(n)
    return out


class HeteroGraph:
    """Typed CSR graph store. Build with :meth:`from_edges`, :func:`~graphrep.graph.tables.from_pandas`...

    Args:
        num_nodes: node count per node type.
        relations: CSR per *forward* relation; reverses are built here.
        node_ids: optional external ids per node type (unique ints or strings).
        features: per node type, per feature name, a dense array ``[n, d]`` or a
            :class:`Ragged` of token ids.
        reverses: pre-built reverse CSRs keyed by forward edge type (used by
            :func:`~graphrep.graph.storage.load_graph` to skip rebuilding); each is checked
            to be exactly its relation's transpose.
        checked: the relations and ``reverses`` were built by graphrep from checked parts
            (:func:`~graphrep.graph.extend.extend_graph` merges checked graphs with checked
            edges, row by row), so the ``O(E)`` validation and transpose check are skipped.
            Never set it for arrays read from files or given by a user.
    """

    def __init__(
        self,
        num_nodes: Mapping[str, int],
        relations: Mapping[EdgeType, CSR],
        *,
        node_ids: Mapping[str, Any] | None = None,
        features: Mapping[str, Mapping[str, Feature]] | None = None,
        reverses: Mapping[EdgeType, CSR] | None = None,
        checked: bool = False,
    ) -> None:
        self.num_nodes: dict[str, int] = _check_counts(num_nodes)
        self._csr: dict[EdgeType, CSR] = {}
        self._reverse: dict[EdgeType, EdgeType] = {}
        self._forward: list[EdgeType] = []
        for et, csr in relations.items():
            self._add_relation(et, csr, (reverses or {}).get(tuple(et)), checked)
        self.node_ids: dict[str, np.ndarray] = {}
        for nt, ids in (node_ids or {}).items():
            self._check_node_type(nt, "node_ids")
            self.node_ids[nt] = check_external_ids(ids, self.num_nodes[nt], f"node_ids[{nt!r}]")
        self._id_index: dict[str, Any] = {}
        self.features: dict[str, dict[str, Feature]] = {nt: {} for nt in self.num_nodes}
        for nt, feats in (features or {}).items():
            for name, value in feats.items():
                self.add_feature(nt, name, value)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_edges(
        cls,
        num_nodes: Mapping[str, int],
        edges: Mapping[EdgeType, Any],
        *,
        node_ids: Mapping[str, Any] | None = None,
        features: Mapping[str, Mapping[str, Feature]] | None = None,
        duplicates: str = "keep",
    ) -> HeteroGraph:
        """Build from edge lists of integer ids.

        Args:
            num_nodes: node count per type.
            edges: per relation either ``(src, dst)`` or a mapping with ``"src"``,
                ``"dst"`` and any per-edge arrays (``timestamp``, ``weight``, ``action``...).
            node_ids: optional external ids per type.
            features: optional node features (see class docstring).
            duplicates: ``"keep"`` parallel edges or ``"merge"`` them (weights summed).
        """
        num_nodes = _check_counts(num_nodes)
        relations: dict[EdgeType, CSR] = {}
        for et, spec in edges.items():
            et = check_edge_type(et, num_nodes)
            src, dst, data = check_edge_spec(et, spec, num_nodes)
            relations[et] = CSR.from_coo(
                src, dst, num_nodes[et[0]], num_nodes[et[2]], data, duplicates=duplicates
            )
        return cls(num_nodes, relations, node_ids=node_ids, features=features)

    def _add_relation(self, et: EdgeType, csr: CSR, rev: CSR | None, checked: bool = False) -> None:
        et = check_edge_type(et, self.num_nodes)
        what = f"relation {fmt_edge_type(et)}"
        if csr.num_src != self.num_nodes[et[0]] or csr.num_dst != self.num_nodes[et[2]]:
            raise GraphValidationError(
                f"{what}: CSR is {csr.num_src}x{csr.num_dst} but node types have "
                f"{self.num_nodes[et[0]]} and {self.num_nodes[et[2]]} nodes"
            )
        if rev is None:
            check_csr(csr, csr.num_src, csr.num_dst, what)
        elif not checked:  # a loaded reverse: it must be exactly the transpose (one O(E) pass)
            if rev.num_dst != csr.num_src:
                raise GraphValidationError(f"reverse of {what}: targets {rev.num_dst} nodes, "
                                           f"expected {csr.num_src}")  # fmt: skip
            check_reverse(csr, rev, what)
        ret = (et[2], reverse_name(et[1]), et[0])
        for name in (et, ret):
            if name in self._csr:
                raise GraphValidationError(
                    f"{what}: edge type {fmt_edge_type(name)} is defined twice "
                    f"(reverses are named '{REVERSE_PREFIX}<rel>' automatically)"
                )
        self._csr[et] = csr
        self._csr[ret] = rev if rev is not None else csr.transpose()
        self._reverse[et], self._reverse[ret] = ret, et
        self._forward.append(et)

    def add_feature(self, node_type: str, name: str, value: Feature) -> None:
        """Attach (or replace) a node feature, validating shape, dtype and finiteness."""
        self._check_node_type(node_type, f"feature {name!r}")
        what = f"feature {name!r} of node type {node_type!r}"
        n = self.num_nodes[node_type]
        if isinstance(value, Ragged):
            if len(value) != n:
                raise GraphValidationError(
                    f"{what}: expected {n} rows (one per node), got {len(value)}"
                )
            if not np.issubdtype(value.values.dtype, np.integer):
                raise GraphValidationError(
                    f"{what}: token ids must be integers, got {value.values.dtype}"
                )
            self.features[node_type][name] = value
        else:
            self.features[node_type][name] = check_dense_feature(value, n, what)

    # ------------------------------------------------------------------ schema
    @property
    def node_types(self) -> list[str]:
        return list(self.num_nodes)

    @property
    def edge_types(self) -> list[EdgeType]:
        """Every relation, reverses included."""
        return list(self._csr)

    @property
    def canonical_edge_types(self) -> list[EdgeType]:
        """The relations given at construction (reverses excluded)."""
        return list(self._forward)

    def _check_node_type(self, nt: str, what: str) -> None:
        if nt not in self.num_nodes:
            raise SchemaError(
                f"{what}: unknown node type {nt!r}; graph has {sorted(self.num_nodes)}"
            )

    def edge_type(self, key: str | EdgeType) -> EdgeType:
        """Resolve a relation name (``"engaged"``) or a full edge type to the edge type."""
        if isinstance(key, tuple):
            if key in self._csr:
                return key
        else:
            matches = [et for et in self._csr if et[1] == key]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise SchemaError(
                    f"relation name {key!r} is ambiguous: {matches}; pass the full (src, rel, dst)"
                )
        raise SchemaError(f"unknown relation {key!r}; graph has {self.edge_types}")

    def csr(self, key: str | EdgeType) -> CSR:
        """CSR of a relation (or of a reverse, ``"rev_<rel>"``)."""
        return self._csr[self.edge_type(key)]

    def reverse_of(self, key: str | EdgeType) -> EdgeType:
        """Edge type of the reverse relation."""
        return self._reverse[self.edge_type(key)]

    def is_reverse(self, key: str | EdgeType) -> bool:
        return self.edge_type(key) not in self._forward

    def num_edges(self, key: str | EdgeType | None = None) -> int:
        """Edges of one relation, or of all forward relations if ``key`` is None."""
        if key is None:
            return sum(self._csr[et].num_edges for et in self._forward)
        return self.csr(key).num_edges

    def degree(self, node_type: str) -> np.ndarray:
        """Total degree of every node of a type over all relations leaving it (reverses included)."""
        self._check_node_type(node_type, "degree")
        deg = np.zeros(self.num_nodes[node_type], dtype=np.int64)
        for et, csr in self._csr.items():
            if et[0] == node_type:
                deg += csr.degrees()
        return deg

    def log_degree(self, node_type: str) -> np.ndarray:
        """Derived feature ``log(1 + degree)`` as ``float32 [n, 1]``."""
        return np.log1p(self.degree(node_type)).astype(np.float32)[:, None]

    @property
    def nbytes_topology(self) -> int:
        """Bytes of all ``indptr`` + ``indices`` arrays, both directions."""
        return sum(c.nbytes_topology for c in self._csr.values())

    # ------------------------------------------------------------------ ids
    def index_of(self, node_type: str, ids: Any) -> np.ndarray:
        """Internal ids of external ids (``int64``); unknown ids raise :class:`SchemaError`."""
        import pandas as pd

        self._check_node_type(node_type, "index_of")
        ids_arr = np.atleast_1d(np.asarray(ids))
        if node_type not in self.node_ids:
            return check_node_ids(ids_arr, self.num_nodes[node_type], f"ids of {node_type!r}")
        if node_type not in self._id_index:
            self._id_index[node_type] = pd.Index(self.node_ids[node_type])
        pos = self._id_index[node_type].get_indexer(ids_arr)
        if (pos < 0).any():
            bad = ids_arr[np.flatnonzero(pos < 0)[0]]
            raise SchemaError(f"node type {node_type!r} has no node with external id {bad!r}")
        return pos.astype(np.int64)

    def external_ids(self, node_type: str, index: Any | None = None) -> np.ndarray:
        """External ids of internal ids (all nodes if ``index`` is None)."""
        self._check_node_type(node_type, "external_ids")
        ids = self.node_ids.get(node_type)
        if ids is None:
            ids = np.arange(self.num_nodes[node_type], dtype=np.int64)
        return ids if index is None else ids[np.asarray(index)]

    # ------------------------------------------------------------------ misc
    def equals(self, other: HeteroGraph) -> bool:
        """Exact equality of schema, topology, edge data, ids and features."""
        if self.num_nodes != other.num_nodes or self._forward != other._forward:
            return False
        if not all(self._csr[et].equals(other._csr[et]) for et in self._csr):
            return False
        if set(self.node_ids) != set(other.node_ids) or not all(
            np.array_equal(v, other.node_ids[k]) for k, v in self.node_ids.items()
        ):
            return False
        for nt, feats in self.features.items():
            if set(feats) != set(other.features[nt]):
                return False
            for name, a in feats.items():
                b = other.features[nt][name]
                same = (
                    a.equals(b)
                    if isinstance(a, Ragged)
                    else (isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b))
                )
                if not same:
                    return False
        return True

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Save as a directory of ``.npy`` files + ``manifest.json`` (atomically; an existing
        graphrep directory is replaced only with ``overwrite``)."""
        from graphrep.graph.storage import save_graph

        save_graph(self, path, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> HeteroGraph:
        """Load a directory written by :meth:`save`; ``mmap`` maps arrays instead of reading them."""
        from graphrep.graph.storage import load_graph

        return load_graph(path, mmap=mmap)

    # ------------------------------------------------------------------ interop
    # Thin delegations; the conversions live in graphrep/graph/interop/ and tables.py.
    @classmethod
    def from_pandas(cls, *args: Any, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.tables.from_pandas`."""
        from graphrep.graph.tables import from_pandas

        return from_pandas(*args, **kwargs)

    @classmethod
    def from_parquet(cls, *args: Any, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.tables.from_parquet`."""
        from graphrep.graph.tables import from_parquet

        return from_parquet(*args, **kwargs)

    def to_pyg(self, **kwargs: Any) -> Any:
        """See :func:`graphrep.graph.interop.pyg.to_pyg`."""
        from graphrep.graph.interop.pyg import to_pyg

        return to_pyg(self, **kwargs)

    @classmethod
    def from_pyg(cls, data: Any, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.interop.pyg.from_pyg`."""
        from graphrep.graph.interop.pyg import from_pyg

        return from_pyg(data, **kwargs)

    def to_networkx(self, **kwargs: Any) -> Any:
        """See :func:`graphrep.graph.interop.networkx.to_networkx`."""
        from graphrep.graph.interop.networkx import to_networkx

        return to_networkx(self, **kwargs)

    @classmethod
    def from_networkx(cls, nx_graph: Any, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.interop.networkx.from_networkx`."""
        from graphrep.graph.interop.networkx import from_networkx

        return from_networkx(nx_graph, **kwargs)

    def to_scipy(self, key: str | EdgeType, **kwargs: Any) -> Any:
        """See :func:`graphrep.graph.interop.scipy.to_scipy`."""
        from graphrep.graph.interop.scipy import to_scipy

        return to_scipy(self, key, **kwargs)

    @classmethod
    def from_scipy(cls, matrices: Any, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.interop.scipy.from_scipy`."""
        from graphrep.graph.interop.scipy import from_scipy

        return from_scipy(matrices, **kwargs)

    def to_dgl(self, **kwargs: Any) -> Any:
        """See :func:`graphrep.graph.interop.dgl.to_dgl` (needs the optional ``dgl`` extra)."""
        from graphrep.graph.interop.dgl import to_dgl

        return to_dgl(self, **kwargs)

    def prune_degrees(self, **kwargs: Any) -> HeteroGraph:
        """See :func:`graphrep.graph.prune.prune_degrees`."""
        from graphrep.graph.prune import prune_degrees

        return prune_degrees(self, **kwargs)

    def __repr__(self) -> str:
        nodes = ", ".join(f"{nt}={n}" for nt, n in self.num_nodes.items())
        rels = ", ".join(
            f"{et[0]}-{et[1]}->{et[2]}={self._csr[et].num_edges}" for et in self._forward
        )
        return f"HeteroGraph(nodes: {nodes}; relations: {rels})"
