r"""Encoder inputs for a set of nodes: importance neighborhoods + features, deduplicated.

Every task turns the node ids of a batch into what
:class:`~graphrep.models.entity.EntityEncoder` (or
:class:`~graphrep.models.pinsage.PinSage`) consumes: the nodes' own features
(a :class:`~graphrep.models.features.FeatureBatch` ``[U]``) and, per neighbor
type, ``(FeatureBatch [U, k], weights [U, k], mask [U, k])`` from an
:class:`~graphrep.samplers.importance.ImportanceSampler`
(OmniSage, https://arxiv.org/abs/2504.17811; PinSage,
https://arxiv.org/abs/1806.01973). Ids are deduplicated first: a batch that
names node :math:`v` several times (sequences repeat items, in-batch pairs share
popular pins) samples and encodes it once, and an ``inverse`` index maps the
``N`` requested positions to the ``U <= N`` encoded rows.

Sampling is pure numpy/numba (no model parameters are touched), so
:meth:`InputBuilder.build` can run in a background thread ahead of training;
a node's neighborhood depends only on ``(sampler seed, step, node)``, so the same
``step`` gives the same inputs whatever else is in the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeFeaturizer
from graphrep.samplers.args import check_float, check_int, check_seed
from graphrep.samplers.importance import ImportanceSampler
from graphrep.samplers.metapath import MetaPath
from graphrep.samplers.neighborhood import Neighborhood

Neighbors = dict[str, tuple[FeatureBatch, Tensor, Tensor]]

#: Meta-paths of the Pinterest schema (``graphrep.data.synthetic``), by seed type.
PINTEREST_METAPATHS: dict[str, list[list[str]]] = {
    "pin": [["rev_contains", "contains"], ["rev_engaged", "engaged"], ["co_engaged"]],
    "board": [["contains", "rev_contains"]],
    "user": [["engaged", "rev_engaged"]],
    "query": [["clicked", "rev_clicked"]],
}
#: Neighbors kept per type (OmniSage's "25 pins + 10 boards"), by seed type.
PINTEREST_QUOTAS: dict[str, dict[str, int]] = {
    "pin": {"pin": 25, "board": 10},
    "board": {"pin": 25, "board": 10},
    "user": {"pin": 25},
    "query": {"pin": 25, "query": 10},
}


@dataclass
class NeighborConfig:
    """Which importance neighborhoods each node type gets (see :func:`default_samplers`).

    Args:
        metapaths: seed type -> list of meta-paths (each a list of relation names
            or edge types, starting at the seed type).
        quotas: seed type -> ``{neighbor type: k}``.
        num_walks: walks per seed (split evenly over the type's meta-paths).
        num_traversals: traversals per walk (cyclic paths; a one-hop pin→pin
            relation is cyclic too).
        restart_prob: termination probability after each traversal.
        seed: sampler seed; every type's sampler uses ``seed + its index``.
    """

    metapaths: dict[str, list[list[str]]] = field(
        default_factory=lambda: {k: [list(p) for p in v] for k, v in PINTEREST_METAPATHS.items()}
    )
    quotas: dict[str, dict[str, int]] = field(
        default_factory=lambda: {k: dict(v) for k, v in PINTEREST_QUOTAS.items()}
    )
    num_walks: int = 100
    num_traversals: int = 2
    restart_prob: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_int(self.num_walks, "NeighborConfig.num_walks")
        check_int(self.num_traversals, "NeighborConfig.num_traversals")
        check_float(self.restart_prob, "NeighborConfig.restart_prob", 0.0, 1.0, high_open=True)
        check_seed(self.seed)
        unknown = sorted(set(self.quotas) - set(self.metapaths))
        if unknown:
            raise ConfigError(f"NeighborConfig.quotas names seed types without metapaths: {unknown}")


def default_samplers(
    graph: HeteroGraph, config: NeighborConfig | None = None
) -> dict[str, ImportanceSampler]:
    """One :class:`ImportanceSampler` per node type that has usable meta-paths.

    Meta-paths naming relations the graph lacks (or that do not chain) are
    dropped, as are quotas of types no remaining path visits; a node type left
    without paths or quotas gets no sampler (its encoder sees no neighbors).
    With the default :class:`NeighborConfig` on the Pinterest schema: pin →
    pin→board→pin, pin→user→pin, pin→pin (co-engaged), keeping 25 pins + 10 boards;
    board → board→pin→board; user → user→pin→user; query → query→pin→query.
    """
    config = NeighborConfig() if config is None else config
    out: dict[str, ImportanceSampler] = {}
    for index, (node_type, paths) in enumerate(config.metapaths.items()):
        if node_type not in graph.num_nodes:
            continue
        usable = []
        for path in paths:
            try:
                mp = MetaPath(graph, list(path))
            except (SchemaError, GraphValidationError):
                continue
            if mp.start_type == node_type and (config.num_traversals == 1 or mp.is_cyclic):
                usable.append(mp)
        visited = {t for mp in usable for t in mp.node_types[1:]}
        quotas = {t: k for t, k in config.quotas.get(node_type, {}).items() if t in visited}
        if not usable or not quotas:
            continue
        out[node_type] = ImportanceSampler(
            graph,
            usable,
            quotas,
            num_walks=config.num_walks,
            num_traversals=config.num_traversals,
            restart_prob=config.restart_prob,
            seed=config.seed + index,
        )
    return out


@dataclass
class EntityInputs:
    """Encoder input for nodes of one type (exactly what ``EntityEncoder.forward`` takes).

    Args:
        node_type: the type.
        batch: own features of the ``U`` distinct nodes, leading shape ``[U]``.
        neighbors: per neighbor type ``(FeatureBatch [U, k], weights [U, k], mask [U, k])``.
        inverse: ``LongTensor [N]``: row of ``batch`` of each requested position, or
            ``None`` when the rows are the requested nodes in order.
    """

    node_type: str
    batch: FeatureBatch
    neighbors: Neighbors = field(default_factory=dict)
    inverse: Tensor | None = None

    @property
    def num_unique(self) -> int:
        """``U``, the number of encoded rows."""
        return int(self.batch.ids.shape[0])

    def __len__(self) -> int:
        """``N``, the number of requested positions."""
        return self.num_unique if self.inverse is None else int(self.inverse.shape[0])

    @property
    def ids(self) -> Tensor:
        """Node ids of the ``N`` requested positions."""
        return self.batch.ids if self.inverse is None else self.batch.ids[self.inverse]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> EntityInputs:
        """Copy every tensor to ``device``."""
        return EntityInputs(
            self.node_type,
            self.batch.to(device, non_blocking),
            {
                t: (fb.to(device, non_blocking), w.to(device), m.to(device))
                for t, (fb, w, m) in self.neighbors.items()
            },
            None if self.inverse is None else self.inverse.to(device),
        )


@dataclass
class ItemInputs:
    """Distinct items of several node types and named index tensors into their table.

    The item table is the concatenation, in ``inputs`` order, of the embeddings of
    each type's distinct items; ``index[name]`` holds table rows (any shape), so a
    table row is also a unique key of a ``(type, id)`` item within the batch.

    Args:
        inputs: node type -> :class:`EntityInputs` of its distinct items (no inverse).
        index: name -> ``LongTensor`` of table rows.
        node_ids: name -> ``LongTensor`` node ids of the same positions (within type).
    """

    inputs: dict[str, EntityInputs]
    index: dict[str, Tensor]
    node_ids: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return sum(x.num_unique for x in self.inputs.values())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ItemInputs:
        return ItemInputs(
            {t: x.to(device, non_blocking) for t, x in self.inputs.items()},
            {k: v.to(device) for k, v in self.index.items()},
            {k: v.to(device) for k, v in self.node_ids.items()},
        )


class InputBuilder:
    """Builds :class:`EntityInputs` (features + sampled neighborhoods) for node ids.

    Args:
        graph: the graph.
        samplers: node type -> importance sampler of its neighborhoods (types
            missing here get no neighbors); e.g. :func:`default_samplers`.
        featurizer: gathers node features (default: ``NodeFeaturizer(graph, max_tokens)``).
        max_tokens: token features are padded/truncated to this length.
        dedupe: sample and featurize each distinct id once (``inverse`` maps back).
    """

    def __init__(
        self,
        graph: HeteroGraph,
        samplers: Mapping[str, ImportanceSampler] | None = None,
        featurizer: NodeFeaturizer | None = None,
        max_tokens: int = 32,
        dedupe: bool = True,
    ) -> None:
        self.graph = graph
        self.featurizer = NodeFeaturizer(graph, max_tokens) if featurizer is None else featurizer
        self.samplers = dict(samplers or {})
        for nt, s in self.samplers.items():
            if s.graph is not graph:
                raise ConfigError(f"samplers[{nt!r}] was built on another graph")
            if s.seed_type != nt:
                raise ConfigError(
                    f"samplers[{nt!r}] samples neighborhoods of {s.seed_type!r} nodes, "
                    f"not of {nt!r}"
                )
        self.dedupe = bool(dedupe)

    @property
    def schema(self) -> FeatureSchema:
        """The graph's :class:`~graphrep.models.features.FeatureSchema`."""
        return self.featurizer.schema

    def neighbor_types(self, node_types: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Node type -> neighbor types its inputs carry (for ``OmniSage``/``build_encoders``)."""
        types = self.graph.node_types if node_types is None else list(node_types)
        for nt in types:
            self._check_type(nt)
        return {nt: list(self.samplers[nt].quotas) if nt in self.samplers else [] for nt in types}

    def _check_type(self, node_type: str) -> None:
        if node_type not in self.graph.num_nodes:
            raise SchemaError(
                f"InputBuilder: unknown node type {node_type!r}; graph has "
                f"{sorted(self.graph.num_nodes)}"
            )

    def build(self, node_type: str, ids: object, step: int,
              neighborhood: Neighborhood | None = None) -> EntityInputs:
        """Inputs for the nodes ``ids`` (1-D, repeats allowed) of ``node_type`` at ``step``.

        ``neighborhood`` (one row per entry of ``ids``) is what this builder's sampler drew
        for these nodes at ``step`` already: it is used instead of sampling them again.
        """
        self._check_type(node_type)
        ids = check_node_ids(
            ids, self.graph.num_nodes[node_type], f"InputBuilder ids (node type {node_type!r})"
        )
        if neighborhood is not None and len(neighborhood) != len(ids):
            raise ConfigError(f"InputBuilder.build: {len(neighborhood)} sampled neighbourhoods "
                              f"for {len(ids)} {node_type!r} ids")  # fmt: skip
        inverse = None
        uniq = ids
        if self.dedupe and len(ids):
            found = np.unique(ids, return_index=neighborhood is not None, return_inverse=True)
            distinct, inv = found[0], found[-1]
            if len(distinct) < len(ids):  # repeats: encode each node once
                uniq = distinct
                inverse = torch.from_numpy(inv.reshape(-1).astype(np.int64))
                neighborhood = None if neighborhood is None else neighborhood.take(found[1])
        uniq = np.ascontiguousarray(uniq)
        if not uniq.flags.writeable:  # a read-only view (a memory map, a broadcast): torch needs a copy
            uniq = uniq.copy()
        batch = self.featurizer(node_type, torch.from_numpy(uniq))
        neighbors: Neighbors = {}
        sampler = self.samplers.get(node_type)
        if sampler is not None:
            nb = sampler.sample(uniq, step=step) if neighborhood is None else neighborhood
            neighbors = self.featurizer.gather_neighbors(nb)
        return EntityInputs(node_type, batch, neighbors, inverse)

    def build_items(
        self,
        item_types: Sequence[str],
        groups: Mapping[str, tuple[np.ndarray, np.ndarray]],
        step: int,
    ) -> ItemInputs:
        """One deduplicated table for several groups of (type code, id) items.

        Args:
            item_types: node type of each type code (e.g. ``EventLog.item_types``).
            groups: name -> ``(type codes, ids)`` arrays of equal (any) shape.
            step: sampling step of the neighborhoods.

        Returns:
            :class:`ItemInputs` whose ``index[name]`` has the shape of the group's ids.
        """
        flat_c, flat_i, shapes = flatten_item_groups(item_types, groups, "build_items")
        rows = np.zeros(len(flat_i), dtype=np.int64)
        inputs: dict[str, EntityInputs] = {}
        offset = 0
        for code in np.unique(flat_c):
            node_type = item_types[int(code)]
            where = np.flatnonzero(flat_c == code)
            uniq, inv = np.unique(flat_i[where], return_inverse=True)
            inputs[node_type] = self.build(node_type, uniq, step)
            rows[where] = offset + inv.reshape(-1)
            offset += len(uniq)
        index, node_ids = {}, {}
        start = 0
        for name, shape in shapes.items():
            n = int(np.prod(shape, dtype=np.int64))
            index[name] = torch.from_numpy(rows[start : start + n].reshape(shape))
            node_ids[name] = torch.from_numpy(flat_i[start : start + n].reshape(shape))
            start += n
        return ItemInputs(inputs, index, node_ids)


def flatten_item_groups(
    item_types: Sequence[str],
    groups: Mapping[str, tuple[np.ndarray, np.ndarray]],
    caller: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[int, ...]]]:
    """Flat type codes and ids of named groups of ``(type codes, ids)`` arrays of equal
    shape, and each group's shape; codes are checked to index ``item_types``.

    Raises:
        GraphValidationError: a group whose codes and ids differ in shape, or a code
            outside ``[0, len(item_types))`` (named after ``caller``).
    """
    codes, ids, shapes = [], [], {}
    for name, (c, i) in groups.items():
        c, i = np.asarray(c, dtype=np.int64), np.asarray(i, dtype=np.int64)
        if c.shape != i.shape:
            raise GraphValidationError(
                f"{caller}: group {name!r} has type codes of shape {c.shape} but ids "
                f"of shape {i.shape}"
            )
        codes.append(c.reshape(-1))
        ids.append(i.reshape(-1))
        shapes[name] = i.shape
    flat_c = np.concatenate(codes) if codes else np.zeros(0, np.int64)
    flat_i = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    if flat_c.size and (flat_c.min() < 0 or flat_c.max() >= len(item_types)):
        raise GraphValidationError(
            f"{caller}: type codes must be in [0, {len(item_types)}) "
            f"(item types {list(item_types)}), got range [{flat_c.min()}, {flat_c.max()}]"
        )
    return flat_c, flat_i, shapes


def featured_types(builder: InputBuilder, node_types: Sequence[str], owner: str) -> list[str]:
    """``node_types`` checked: a non-empty list of distinct types that have features."""
    if isinstance(node_types, str) or not node_types:
        raise ConfigError(f"{owner}: node_types must be a non-empty list of types, got {node_types!r}")
    schema = builder.schema
    for nt in node_types:
        if schema[nt].featureless:
            raise ConfigError(
                f"{owner}: node type {nt!r} has no features; featured types: "
                f"{[t for t in schema.node_types if not schema[t].featureless]}"
            )
    if len(set(node_types)) != len(node_types):
        raise ConfigError(f"{owner}: node_types has duplicates: {list(node_types)}")
    return list(node_types)


def distinct_ids(
    builder: InputBuilder, node_types: Sequence[str], batch_size: int, seed: int, step: int
) -> dict[str, np.ndarray]:
    """Per type, ``min(batch_size, n)`` distinct uniform node ids (a pure function of
    ``(seed, step)``; type ``i`` draws from ``default_rng([seed, step, i])``)."""
    step = check_int(step, "step", minimum=0)
    out = {}
    for i, nt in enumerate(node_types):
        n = builder.graph.num_nodes[nt]
        rng = np.random.default_rng([seed, step, i])
        out[nt] = rng.choice(n, size=min(batch_size, n), replace=False).astype(np.int64)
    return out


def distinct_inputs(
    builder: InputBuilder, node_types: Sequence[str], batch_size: int, seed: int, step: int
) -> dict[str, EntityInputs]:
    """Per type, the inputs of the nodes :func:`distinct_ids` draws."""
    ids = distinct_ids(builder, node_types, batch_size, seed, step)
    return {nt: builder.build(nt, x, step) for nt, x in ids.items()}
