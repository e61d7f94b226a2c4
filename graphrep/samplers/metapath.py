"""Meta-paths: a chain of relations that a random walk follows hop by hop.

A meta-path :math:`\\mathcal{P} = (T_0 \\xrightarrow{r_1} T_1 \\xrightarrow{r_2} \\cdots
\\xrightarrow{r_H} T_H)` is a sequence of relations where the destination type of
each hop is the source type of the next, e.g. pin→board→pin
(``["saved_to", "rev_saved_to"]``) or item→user→item (``["rev_clicks", "clicks"]``).
PinSage [Ying et al., KDD 2018, https://arxiv.org/abs/1806.01973] and OmniSage
[https://arxiv.org/abs/2504.17811] define a node's neighborhood by walks along
such paths. A path is *cyclic* when :math:`T_H = T_0`; only cyclic paths can be
traversed repeatedly (``num_traversals > 1``).

:class:`MetaPath` resolves relation names (or full edge types, reverses
included) against a :class:`~graphrep.graph.HeteroGraph`, checks that they
chain, and hands the kernels uniform tuples of CSR arrays (numba indexes a
homogeneous tuple at run time, so one compiled kernel serves any path length).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType, fmt_edge_type
from graphrep.samplers.transition import row_cumsum

RelationSpec = str | EdgeType
Weight = str | None | Sequence[str | None]


def _readonly(a: np.ndarray, dtype: Any) -> np.ndarray:
    """A C-contiguous, read-only plain ``ndarray`` view (copy only if dtype/layout differ)."""
    arr = np.ascontiguousarray(np.asarray(a).view(np.ndarray), dtype=dtype).view()
    arr.flags.writeable = False
    return arr


class MetaPath:
    """A chain of relations resolved against a graph.

    Args:
        graph: the graph to walk.
        relations: relation names (``"clicks"``, ``"rev_clicks"``) or full edge types,
            in walk order. A single name or edge type is a one-hop path.
        weight: ``None`` for uniform transitions, the name of a per-edge array used
            as transition weight on every hop, or one name/``None`` per hop.

    Raises:
        SchemaError: a relation (or weight array) is unknown; the message lists the known ones.
        GraphValidationError: consecutive relations do not chain.
        ConfigError: the path is empty or ``weight`` has the wrong length.

    Example:
        >>> mp = MetaPath(g, ["rev_clicks", "clicks"])   # item -> user -> item
        >>> mp.node_types
        ('item', 'user', 'item')
    """

    def __init__(self, graph: HeteroGraph, relations: Any, weight: Weight = None) -> None:
        if not isinstance(graph, HeteroGraph):
            raise ConfigError(f"MetaPath needs a HeteroGraph, got {type(graph).__name__}")
        self.graph = graph
        rels = _as_relation_list(graph, relations)
        if not rels:
            raise ConfigError("meta-path must hold at least one relation, got an empty sequence")
        edge_types: list[EdgeType] = []
        for pos, key in enumerate(rels):
            try:
                edge_types.append(graph.edge_type(key))
            except SchemaError as exc:
                raise SchemaError(
                    f"meta-path hop {pos}: {exc}; known relation names: "
                    f"{sorted({et[1] for et in graph.edge_types})}"
                ) from exc
        for pos in range(1, len(edge_types)):
            prev, cur = edge_types[pos - 1], edge_types[pos]
            if prev[2] != cur[0]:
                raise GraphValidationError(
                    f"meta-path does not chain at hop {pos}: {fmt_edge_type(prev)} ends at "
                    f"{prev[2]!r} but {fmt_edge_type(cur)} starts at {cur[0]!r}"
                )
        self.edge_types: tuple[EdgeType, ...] = tuple(edge_types)
        self.node_types: tuple[str, ...] = (edge_types[0][0], *(et[2] for et in edge_types))
        if weight is None or isinstance(weight, str):
            weights = [weight] * len(edge_types)
        else:
            weights = list(weight)
            if len(weights) != len(edge_types):
                raise ConfigError(
                    f"weight: expected one edge-array name (or None) per hop ({len(edge_types)}), "
                    f"got {len(weights)}"
                )
        self.weight: tuple[str | None, ...] = tuple(weights)
        self.csrs: tuple[CSR, ...] = tuple(graph.csr(et) for et in edge_types)
        self.cumweights: tuple[np.ndarray | None, ...] = tuple(
            None if w is None else row_cumsum(c, w, f"relation {fmt_edge_type(et)}")
            for c, w, et in zip(self.csrs, self.weight, edge_types, strict=True)
        )

    @classmethod
    def resolve(cls, graph: HeteroGraph, spec: Any, weight: Weight = None) -> MetaPath:
        """``spec`` if it already is a :class:`MetaPath` of ``graph``, else ``MetaPath(graph, spec)``."""
        if isinstance(spec, MetaPath):
            if spec.graph is not graph:
                raise ConfigError("meta-path was built for another graph; rebuild it on this one")
            return spec
        return cls(graph, spec, weight)

    @property
    def num_hops(self) -> int:
        return len(self.edge_types)

    @property
    def start_type(self) -> str:
        return self.node_types[0]

    @property
    def end_type(self) -> str:
        return self.node_types[-1]

    @property
    def is_cyclic(self) -> bool:
        """Whether the path ends at its start type (so it can be traversed repeatedly)."""
        return self.start_type == self.end_type

    def type_at(self, position: int) -> str:
        """Node type at walk position ``position`` (0 = start) when the path is repeated."""
        if position <= 0:
            return self.start_type
        return self.node_types[(position - 1) % self.num_hops + 1]

    def kernel_arrays(self) -> tuple[tuple, tuple, tuple, np.ndarray, np.ndarray]:
        """``(indptrs, indices, cumweights, weighted, hop_rel)`` for the kernels; see :func:`pack_hops`."""
        return pack_hops([self])

    def __len__(self) -> int:
        return self.num_hops

    def __repr__(self) -> str:
        hops = "".join(f" -{et[1]}-> {et[2]}" for et in self.edge_types)
        return f"MetaPath({self.start_type}{hops})"


def pack_hops(metapaths: Sequence[MetaPath]) -> tuple[tuple, tuple, tuple, np.ndarray, np.ndarray]:
    """The distinct relations of ``metapaths`` as uniform tuples for numba kernels.

    A relation used by several hops (``["rev_clicks", "clicks"] * 5``) appears once,
    so the tuples stay short (numba indexes a tuple at run time with a switch);
    they are padded (with repeats of the first relation, never referenced) to a
    length of 4, 8, 16..., so kernels compile once for most meta-paths.

    Returns:
        ``indptrs`` (tuple of read-only ``int64`` arrays, one per distinct relation),
        ``indices`` (read-only ``int32``, or ``int64`` for all if any relation needs
        it), ``cumweights`` (read-only ``float64`` row cumulative sums, empty when
        unweighted), ``weighted`` (``bool``, one flag per distinct relation) and
        ``hop_rel`` (``int64``, for every hop of every path in order, the index of
        its relation in the tuples). Arrays are views: nothing is copied unless an
        index array must be widened.
    """
    keys: dict[tuple[int, str | None], int] = {}
    csrs: list[CSR] = []
    cws: list[np.ndarray | None] = []
    hop_rel: list[int] = []
    for mp in metapaths:
        for csr, w, cw in zip(mp.csrs, mp.weight, mp.cumweights, strict=True):
            key = (id(csr), w)
            if key not in keys:
                keys[key] = len(csrs)
                csrs.append(csr)
                cws.append(cw)
            hop_rel.append(keys[key])
    idx_dtype = np.int64 if any(c.indices.dtype == np.int64 for c in csrs) else np.int32
    empty = _readonly(np.zeros(0), np.float64)
    indptrs = tuple(_readonly(c.indptr, np.int64) for c in csrs)
    indices = tuple(_readonly(c.indices, idx_dtype) for c in csrs)
    cumweights = tuple(empty if w is None else _readonly(w, np.float64) for w in cws)
    weighted = [w is not None for w in cws]
    # pad the tuples to a few fixed lengths (4, 8, 16...): each tuple length is a
    # separate numba compilation, so this keeps one compiled kernel for most uses
    size = 4
    while size < len(csrs):
        size *= 2
    pad = size - len(csrs)
    indptrs += (indptrs[0],) * pad
    indices += (indices[0],) * pad
    cumweights += (cumweights[0],) * pad
    weighted += [weighted[0]] * pad
    return (
        indptrs, indices, cumweights, np.array(weighted, dtype=np.bool_),
        np.array(hop_rel, dtype=np.int64),
    )


def _as_relation_list(graph: HeteroGraph, relations: Any) -> list[RelationSpec]:
    if isinstance(relations, str):
        return [relations]
    if (
        isinstance(relations, tuple)
        and len(relations) == 3
        and all(isinstance(x, str) for x in relations)
        and relations in graph.edge_types
    ):
        return [relations]
    if not isinstance(relations, Sequence):
        raise ConfigError(
            f"meta-path: expected a sequence of relation names or edge types, got {relations!r}"
        )
    out: list[RelationSpec] = []
    for r in relations:
        if isinstance(r, list):
            r = tuple(r)
        if not isinstance(r, str | tuple):
            raise ConfigError(f"meta-path: relation {r!r} is neither a name nor an edge type")
        out.append(r)
    return out
