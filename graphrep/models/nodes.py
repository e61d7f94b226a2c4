r"""``NodeBatch``: every node a step encodes, each distinct node's features once.

The padded encoder input (a :class:`~graphrep.models.features.FeatureBatch` of seeds and,
per neighbour type, a ``[B, k]`` batch with weights and mask) gathers a neighbour's
features once per slot: a popular pin in 500 neighbourhoods is featurised and embedded
500 times, and masked slots are carried along. A :class:`NodeBatch` holds the same
information without the repeats:

* ``features[t]``: a :class:`FeatureBatch` ``[F_t]`` of the *distinct* nodes of type ``t``
  whose raw features anything reads (seeds and valid neighbours of every encoded type);
* ``seeds[s]``: the distinct seeds of encoded type ``s`` (:class:`SeedNodes`): their rows of
  ``features[s]``, and per type ``r`` the encoder reads, the distinct rows ``reads[r]`` of
  ``features[r]`` whose raw tokens its encoder computes; each valid neighbour slot is one
  entry of a flat :class:`NeighborSlots` (seed, row of ``reads[r]``, weight, column).

The sampler side builds it (:func:`graphrep.tasks.pool.build_node_batch`); the model
computes a text embedding per row of ``features[t]`` and a raw token per row of
``reads[r]``, and the transformer reads only valid slots
(:func:`graphrep.models.readout.cls_outputs`). :meth:`NodeBatch.from_padded` converts the
padded input (so the encoders have one code path) and :meth:`NodeBatch.padded` converts
back (for encoders without the flat path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from graphrep.errors import ShapeError
from graphrep.models.features import FeatureBatch


@dataclass
class NeighborSlots:
    """The valid neighbour slots of one neighbour type of a seed set, flat (seed-major).

    Args:
        seed: ``LongTensor [S]``, the seed (row of the seed set) of each slot.
        node: ``LongTensor [S]``, the neighbour's row of the encoder's ``reads`` of its type.
        weight: ``FloatTensor [S]``, the sampled importance weight.
        column: ``LongTensor [S]``, the slot's position in the padded ``[B, width]`` layout.
        width: ``k``, the padded width (the sampler's quota).
    """

    seed: Tensor
    node: Tensor
    weight: Tensor
    column: Tensor
    width: int

    def __len__(self) -> int:
        return int(self.seed.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> NeighborSlots:
        return NeighborSlots(*(t.to(device, non_blocking=non_blocking) for t in
                               (self.seed, self.node, self.weight, self.column)), self.width)  # fmt: skip


@dataclass
class SeedNodes:
    """The distinct seeds of one encoded type and what their encoder reads.

    Args:
        rows: ``LongTensor [B]``, the seeds' rows of ``features[node_type]``.
        reads: type -> ``LongTensor [R]``, distinct rows of ``features[type]`` whose raw
            tokens the encoder computes (own type first: the seeds and its neighbours).
        own: ``LongTensor [B]``, the seeds' rows of ``reads[node_type]``.
        neighbors: neighbour type -> :class:`NeighborSlots` (missing: no neighbours).
    """

    rows: Tensor
    reads: dict[str, Tensor]
    own: Tensor
    neighbors: dict[str, NeighborSlots] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SeedNodes:
        nb = non_blocking
        return SeedNodes(self.rows.to(device, non_blocking=nb),
                         {t: r.to(device, non_blocking=nb) for t, r in self.reads.items()},
                         self.own.to(device, non_blocking=nb),
                         {t: s.to(device, nb) for t, s in self.neighbors.items()})  # fmt: skip


@dataclass
class NodeBatch:
    """Distinct nodes' features and the seed sets of every encoded type (module docstring).

    Args:
        features: node type -> :class:`FeatureBatch` ``[F_t]`` of distinct nodes.
        seeds: encoded node type -> :class:`SeedNodes`.
    """

    features: dict[str, FeatureBatch]
    seeds: dict[str, SeedNodes]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> NodeBatch:
        """Copy every tensor to ``device``."""
        return NodeBatch({t: f.to(device, non_blocking) for t, f in self.features.items()},
                         {t: s.to(device, non_blocking) for t, s in self.seeds.items()})  # fmt: skip

    def seed_ids(self, node_type: str) -> Tensor:
        """Node ids of the seeds of ``node_type``."""
        return self.features[node_type].ids[self.seeds[node_type].rows]

    def seed_features(self, node_type: str) -> FeatureBatch:
        """Own features ``[B]`` of the seeds of ``node_type``."""
        return self.features[node_type].take(self.seeds[node_type].rows)

    @classmethod
    def from_padded(
        cls,
        node_type: str,
        batch: FeatureBatch,
        neighbors: Mapping[str, tuple[FeatureBatch, Tensor, Tensor]] | None = None,
    ) -> NodeBatch:
        """The seeds ``batch [B]`` with padded neighbours ``{type: (fb [B, k], w, mask)}``
        (checked by the caller) as a :class:`NodeBatch`: every valid slot keeps its own row."""
        bsz = int(batch.ids.shape[0])
        parts: dict[str, list[FeatureBatch]] = {node_type: [batch]}
        offsets: dict[str, int] = {node_type: bsz}
        slots: dict[str, NeighborSlots] = {}
        for nt, (fb, w, m) in (neighbors or {}).items():
            seed, col = m.nonzero(as_tuple=True)
            start = offsets.get(nt, 0)
            parts.setdefault(nt, []).append(fb.take((seed, col)))
            node = start + torch.arange(seed.shape[0], device=seed.device)
            offsets[nt] = start + int(seed.shape[0])
            slots[nt] = NeighborSlots(seed, node, w[seed, col], col, int(m.shape[1]))
        features = {t: FeatureBatch.cat(p) for t, p in parts.items()}
        dev = batch.ids.device
        reads = {t: torch.arange(offsets[t], device=dev) for t in parts}
        own = torch.arange(bsz, device=dev)
        return cls(features, {node_type: SeedNodes(own, reads, own, slots)})

    def padded(self, node_type: str) -> tuple[FeatureBatch, dict[str, tuple[FeatureBatch, Tensor, Tensor]]]:
        """The seeds of ``node_type`` as the padded encoder input ``(batch, neighbors)``;
        masked slots read the type's first row (ignored by every encoder), and a type without
        any valid slot is left out (all slots masked is the same as no neighbours)."""
        s = self.seeds[node_type]
        bsz, dev = len(s), s.rows.device
        out = {}
        for nt, sl in s.neighbors.items():
            if len(sl) == 0:
                continue
            reads = s.reads[nt]
            rows = reads[:1].repeat(bsz, sl.width)
            rows[sl.seed, sl.column] = reads[sl.node]
            w = torch.zeros(bsz, sl.width, dtype=sl.weight.dtype, device=dev)
            w[sl.seed, sl.column] = sl.weight
            m = torch.zeros(bsz, sl.width, dtype=torch.bool, device=dev)
            m[sl.seed, sl.column] = True
            out[nt] = (self.features[nt].take(rows), w, m)
        return self.seed_features(node_type), out

    def check(self, owner: str) -> None:
        """Raise :class:`ShapeError` on inconsistent index tensors (sizes, dtypes)."""
        for t, s in self.seeds.items():
            if t not in self.features or any(r not in self.features for r in s.reads):
                raise ShapeError(f"{owner}: node batch lacks the features of a type seeds of {t!r} read")
            if s.own.shape != s.rows.shape or t not in s.reads:
                raise ShapeError(f"{owner}: seeds of {t!r}: own and rows must both be [B]")
            for r, sl in s.neighbors.items():
                if r not in s.reads:
                    raise ShapeError(f"{owner}: seeds of {t!r} have slots of {r!r} but no reads")
                if not (sl.seed.shape == sl.node.shape == sl.weight.shape == sl.column.shape):
                    raise ShapeError(f"{owner}: neighbour slots of ({t!r}, {r!r}) differ in length")
                if not sl.weight.is_floating_point():
                    raise ShapeError(f"{owner}: neighbour weights of ({t!r}, {r!r}) must be float")
