"""Positive pairs for contrastive training: edges of a relation and engagement pairs.

Entity–entity tasks (PinSage, ItemSage, OmniSage) pull together the two ends of
a positive pair. This module draws them

* from the edges of one relation (:class:`EdgePairSampler`), uniformly over
  edges or as a shuffled pass over every edge per epoch, and
* from a user :class:`~graphrep.graph.eventlog.EventLog` before a cut time
  (:func:`engagement_pairs`).

Popular items would otherwise dominate the pairs (degrees are Zipf), so both take
an optional **per-item cap** as in PinnerFormer/ItemSage: an item with
:math:`d > c` pairs keeps a uniformly random subset of :math:`c` of them, chosen
afresh each epoch (Knuth's selection sampling, Algorithm S, in a numba kernel
parallel over items; the subset depends only on ``(seed, epoch)``). Pairs
co-visited by random walks live in :mod:`graphrep.samplers.covisit`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.csr import _counting_sort
from graphrep.graph.eventlog import EventLog
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType, fmt_edge_type
from graphrep.samplers.args import StepCounter, check_int, check_optional_int, check_seed
from graphrep.utils.rng import next_below, next_float, stream_state

_CAP_STREAM = 0x0CA9  # distinct stream families for caps and draws under one seed
_DRAW_STREAM = 0x0D7A


@dataclass(frozen=True)
class PairBatch:
    """A batch of positive pairs ``(src[i], dst[i])``.

    Args:
        src: ``int64 [N]`` ids of ``src_type``.
        dst: ``int64 [N]`` ids of ``dst_type``.
        src_type: node type of ``src`` (``"user"`` for engagement pairs).
        dst_type: node type of ``dst``.
        weight: optional ``[N]`` per-pair weight (the edge's ``weight`` array if any).
    """

    src: np.ndarray
    dst: np.ndarray
    src_type: str
    dst_type: str
    weight: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.src.shape[0])


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True, nogil=True, parallel=True)
def cap_groups(group_ptr: np.ndarray, cap: int, seed: int, stream: int) -> np.ndarray:
    """Keep-mask keeping at most ``cap`` uniformly chosen members of every group.

    Members of group ``g`` are positions ``group_ptr[g]:group_ptr[g + 1]`` of a
    group-sorted order; the mask is in that order. Knuth's Algorithm S keeps each
    ``cap``-subset with equal probability in one pass and no scratch memory.
    """
    n_groups = group_ptr.shape[0] - 1
    keep = np.ones(group_ptr[n_groups], dtype=np.bool_)
    for g in prange(n_groups):
        lo = group_ptr[g]
        size = group_ptr[g + 1] - lo
        if size <= cap:
            continue
        state = stream_state(seed, stream, g)
        need = cap
        for k in range(size):
            state, u = next_float(state)
            take = u * (size - k) < need
            keep[lo + k] = take
            if take:
                need -= 1
    return keep


@numba.njit(cache=True, nogil=True, parallel=True)
def _uniform_indices(n: int, count: int, seed: int, stream: int) -> np.ndarray:
    out = np.empty(count, dtype=np.int64)
    for i in prange(count):
        _, out[i] = next_below(stream_state(seed, stream, i), n)
    return out


def capped_subset(
    keys: np.ndarray, num_keys: int, cap: int | None, seed: int, stream: int
) -> np.ndarray:
    """Sorted positions of ``keys`` kept when each key value may appear at most ``cap`` times."""
    if cap is None:
        return np.arange(len(keys), dtype=np.int64)
    group_ptr, perm = _counting_sort(np.asarray(keys, dtype=np.int64), num_keys)
    keep = cap_groups(group_ptr, cap, seed, stream)
    return np.sort(perm[keep])


# --------------------------------------------------------------------------- edge pairs
class EdgePairSampler:
    """Positive pairs = edges of one relation, drawn uniformly (optionally capped per item).

    Args:
        graph: the graph.
        relation: relation name (``"contains"``, ``"rev_contains"``) or edge type.
        seed: random seed; ``(seed, step)`` fixes :meth:`sample`, ``(seed, epoch)``
            fixes the capped edge set and :meth:`iter_epoch`'s order.
        max_per_dst: cap on the pairs one destination node contributes per epoch
            (``None`` = no cap).
        drop_self_loops: skip edges ``u -> u`` of a relation between one node type
            (a node is a trivial positive of itself).

    Example:
        >>> g = HeteroGraph.from_edges({"board": 2, "pin": 3},
        ...                            {("board", "contains", "pin"): ([0, 0, 1], [0, 1, 1])})
        >>> b = EdgePairSampler(g, "contains", seed=0).sample(4, step=0)
        >>> b.src_type, b.dst_type, b.src.shape
        ('board', 'pin', (4,))
    """

    def __init__(
        self,
        graph: HeteroGraph,
        relation: str | EdgeType,
        seed: int = 0,
        max_per_dst: int | None = None,
        drop_self_loops: bool = True,
    ) -> None:
        self.edge_type = graph.edge_type(relation)
        self.csr = graph.csr(self.edge_type)
        self.seed = check_seed(seed)
        self.max_per_dst = check_optional_int(max_per_dst, "max_per_dst")
        self._steps = StepCounter()
        base = None
        if drop_self_loops and self.edge_type[0] == self.edge_type[2]:
            loops = self.csr.row_ids() == self.csr.indices
            if loops.any():
                base = np.flatnonzero(~loops)
        self._base = base
        self._epoch_cache: tuple[int, np.ndarray] | None = None

    @property
    def num_edges(self) -> int:
        """Edges eligible as pairs (self-loops dropped if asked), before any cap."""
        return self.csr.num_edges if self._base is None else len(self._base)

    def epoch_edges(self, epoch: int = 0) -> np.ndarray:
        """Sorted CSR positions of the edges usable in ``epoch`` (after the per-item cap)."""
        epoch = check_int(epoch, "epoch", minimum=0)
        if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1]
        base = np.arange(self.csr.num_edges) if self._base is None else self._base
        if self.max_per_dst is not None:
            keys = self.csr.indices[base]
            stream = _CAP_STREAM + 2 * epoch
            base = base[capped_subset(keys, self.csr.num_dst, self.max_per_dst, self.seed, stream)]
        self._epoch_cache = (epoch, base)
        return base

    def _batch(self, edges: np.ndarray) -> PairBatch:
        src = np.searchsorted(self.csr.indptr, edges, side="right").astype(np.int64) - 1
        weight = self.csr.edge_data.get("weight")
        return PairBatch(
            src,
            self.csr.indices[edges].astype(np.int64),
            self.edge_type[0],
            self.edge_type[2],
            None if weight is None else weight[edges],
        )

    def _require_edges(self, pool: np.ndarray) -> None:
        if len(pool) == 0:
            raise GraphValidationError(
                f"EdgePairSampler: relation {fmt_edge_type(self.edge_type)} has no edges "
                "to draw pairs from"
            )

    def sample(self, batch_size: int, step: int | None = None, epoch: int = 0) -> PairBatch:
        """``batch_size`` edges drawn uniformly with replacement from :meth:`epoch_edges`."""
        batch_size = check_int(batch_size, "batch_size")
        pool = self.epoch_edges(epoch)
        self._require_edges(pool)
        step = self._steps.resolve(step)
        idx = _uniform_indices(len(pool), batch_size, self.seed, _DRAW_STREAM + 2 * step)
        return self._batch(pool[idx])

    def iter_epoch(
        self, batch_size: int, epoch: int = 0, drop_last: bool = False
    ) -> Iterator[PairBatch]:
        """Every edge of :meth:`epoch_edges` once, in a random order, in batches."""
        batch_size = check_int(batch_size, "batch_size")
        pool = self.epoch_edges(epoch)
        order = np.random.default_rng([self.seed, epoch, _DRAW_STREAM]).permutation(pool)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for start in range(0, stop, batch_size):
            yield self._batch(order[start : start + batch_size])


# --------------------------------------------------------------------------- engagement pairs
def vocab_codes(names: Sequence[str], wanted: Sequence[str | int], column: str) -> np.ndarray:
    """Vocabulary codes of ``wanted`` (names or codes) for an EventLog column."""
    out = []
    for w in wanted:
        if isinstance(w, str):
            if w not in names:
                raise SchemaError(
                    f"EventLog {column} {w!r} is unknown; vocabulary is {list(names)}"
                )
            out.append(names.index(w))
        else:
            code = check_int(w, f"{column} code", minimum=0)
            if code >= len(names):
                raise SchemaError(
                    f"EventLog {column} code {code} is out of range; vocabulary is {list(names)}"
                )
            out.append(code)
    return np.asarray(out, dtype=np.int64)


def engagement_pairs(
    events: EventLog,
    cut: int | None = None,
    *,
    item_type: str | None = None,
    actions: Sequence[str | int] | None = None,
    max_per_item: int | None = None,
    seed: int = 0,
) -> PairBatch:
    """``(user, item)`` pairs of every engagement strictly before ``cut``.

    Args:
        events: the event log.
        cut: keep events with ``timestamp < cut`` (``None`` = all).
        item_type: item type to keep (required when the log has several).
        actions: action names or codes to keep (``None`` = all actions).
        max_per_item: keep at most this many uniformly chosen pairs per item.
        seed: seed of the cap's choice.

    Returns:
        A :class:`PairBatch` (``src_type="user"``) in log order (by user, then time).
    """
    seed = check_seed(seed)
    max_per_item = check_optional_int(max_per_item, "max_per_item")
    if item_type is None:
        if len(events.item_types) != 1:
            raise ConfigError(
                f"engagement_pairs: the log has item types {list(events.item_types)}; "
                "pass item_type= to choose one"
            )
        item_type = events.item_types[0]
    code = int(vocab_codes(events.item_types, [item_type], "item type")[0])
    keep = np.asarray(events.item_type) == code
    if cut is not None:
        keep &= np.asarray(events.timestamp) < int(cut)
    if actions is not None:
        keep &= np.isin(events.action, vocab_codes(events.action_names, actions, "action"))
    rows = np.flatnonzero(keep)
    items = np.asarray(events.item)[rows].astype(np.int64)
    if max_per_item is not None and len(items):
        rows = rows[capped_subset(items, int(items.max()) + 1, max_per_item, seed, _CAP_STREAM)]
        items = np.asarray(events.item)[rows].astype(np.int64)
    users = np.asarray(events.user)[rows].astype(np.int64)
    return PairBatch(users, items, "user", item_type)
