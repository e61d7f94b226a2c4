"""Streaming item frequencies for the logQ correction: count-min sketch and estimators.

Sampled softmax with in-batch negatives over-penalises popular items, because
they appear as negatives more often than their share of the corpus; the logQ
correction [Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus
Item Recommendations", RecSys 2019, https://research.google/pubs/pub48840/]
subtracts :math:`\\log Q(c)`, the log probability that item :math:`c` is drawn
into a batch, from every candidate's logit. :math:`Q` is estimated here by
counting the items of the training stream:

* :class:`ExactLogQ` keeps one exact counter per item (memory ``O(num_items)``);
* :class:`SketchLogQ` keeps a :class:`CountMinSketch` [Cormode & Muthukrishnan,
  "An Improved Data Stream Summary: The Count-Min Sketch and its Applications",
  J. Algorithms 2005, https://doi.org/10.1016/j.jalgor.2003.12.001], memory
  ``O(width * depth)`` whatever the number of items, for id spaces too large
  (or unknown) for a dense counter.

Both return :math:`\\log Q(c) = \\log(\\max(n_c, 1) / \\max(N, 1))` with :math:`n_c`
the (estimated) count of item :math:`c` and :math:`N` the number of ids counted.
Call ``update`` with a batch's ids *before* ``log_q`` of that batch so every
item in it has a count of at least one. All state lives in registered buffers,
so estimators checkpoint with ``state_dict`` and, being linear, can be merged
across data-parallel ranks by summing their tables (``all_reduce``).
"""

from __future__ import annotations

import abc
import math
from typing import Any

import torch
from torch import Tensor, nn

from graphrep.errors import ConfigError, GraphValidationError, ShapeError

_PRIME = (1 << 31) - 1  # Mersenne prime 2^31 - 1: products of two residues fit in int64
_CHUNK_BITS = 30  # ids are split into 30-bit digits (< _PRIME) before hashing
_NUM_CHUNKS = 3  # 3 * 30 bits >= 63 bits: every non-negative int64 id


def _check_ids(ids: Any, what: str) -> Tensor:
    """``ids`` as a flat ``int64`` tensor after checking dtype and sign."""
    if not isinstance(ids, Tensor):
        raise ShapeError(f"{what}: ids must be a torch tensor, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ShapeError(f"{what}: ids must be an integer tensor (torch.long), got {ids.dtype}")
    ids = ids.reshape(-1).long()
    if ids.numel() and int(ids.min()) < 0:
        raise GraphValidationError(f"{what}: ids must be >= 0, got min {int(ids.min())}")
    return ids


def _check_counts(counts: Any, ids: Tensor, what: str) -> Tensor:
    """Per-id increments (default one each) as a flat ``int64`` tensor."""
    if counts is None:
        return torch.ones_like(ids)
    if (
        not isinstance(counts, Tensor)
        or counts.dtype.is_floating_point
        or counts.dtype.is_complex
        or counts.dtype == torch.bool
    ):
        got = counts.dtype if isinstance(counts, Tensor) else type(counts).__name__
        raise ShapeError(f"{what}: counts must be an integer tensor, got {got}")
    counts = counts.reshape(-1).long()
    if counts.shape != ids.shape:
        raise ShapeError(
            f"{what}: counts have {counts.numel()} entries, expected one per id ({ids.numel()})"
        )
    if counts.numel() and int(counts.min()) < 0:
        raise GraphValidationError(f"{what}: counts must be >= 0, got min {int(counts.min())}")
    return counts


class CountMinSketch(nn.Module):
    """Count-min sketch of a stream of non-negative integer ids.

    ``depth`` rows of ``width`` counters; row :math:`r` hashes an id with its own
    function :math:`h_r` drawn from a universal family and every update adds to
    one counter per row. The estimate is the smallest of the ``depth`` counters:

    .. math::
        \\hat n_x = \\min_r C[r, h_r(x)] \\;\\ge\\; n_x, \\qquad
        \\Pr\\big[\\hat n_x > n_x + \\varepsilon N\\big] \\le \\delta
        \\quad\\text{for}\\quad w = \\lceil e / \\varepsilon\\rceil,\\;
        d = \\lceil \\ln(1/\\delta)\\rceil,

    with :math:`N` the total count. Hashing: an id :math:`x < 2^{63}` is written
    as 30-bit digits :math:`(x_0, x_1, x_2)` and
    :math:`h_r(x) = \\big((\\sum_k a_{rk} x_k + b_r) \\bmod p\\big) \\bmod w` with
    :math:`p = 2^{31} - 1` and random :math:`a_{rk} \\in [1, p)`, :math:`b_r \\in [0, p)`
    (Carter–Wegman), computed exactly in ``int64``.

    Args:
        width: counters per row :math:`w` (error :math:`\\approx e N / w`).
        depth: rows :math:`d` (failure probability :math:`\\approx e^{-d}`).
        seed: seed of the hash coefficients (same seed, same sketch layout).
    """

    table: Tensor
    coef: Tensor
    offset: Tensor
    total_count: Tensor

    def __init__(self, width: int = 2**16, depth: int = 4, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("width", width), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"CountMinSketch: {name} must be an int >= 1, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"CountMinSketch: seed must be an int >= 0, got {seed!r}")
        self.width, self.depth, self.seed = width, depth, seed
        gen = torch.Generator().manual_seed(seed)
        coef = torch.randint(1, _PRIME, (depth, _NUM_CHUNKS), generator=gen, dtype=torch.long)
        offset = torch.randint(0, _PRIME, (depth,), generator=gen, dtype=torch.long)
        self.register_buffer("coef", coef)
        self.register_buffer("offset", offset)
        self.register_buffer("table", torch.zeros(depth, width, dtype=torch.long))
        self.register_buffer("total_count", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_error(cls, eps: float, delta: float, seed: int = 0) -> CountMinSketch:
        """Sketch sized for additive error ``eps * total`` with probability ``1 - delta``."""
        if not 0 < eps < 1 or not 0 < delta < 1:
            raise ConfigError(
                f"CountMinSketch.from_error: eps and delta must be in (0, 1), "
                f"got eps={eps!r}, delta={delta!r}"
            )
        return cls(math.ceil(math.e / eps), math.ceil(math.log(1 / delta)), seed)

    def reset_parameters(self) -> None:
        """Forget every count (the hash functions are kept)."""
        self.table.zero_()
        self.total_count.zero_()

    @property
    def total(self) -> int:
        """Sum of all counts added so far (:math:`N`)."""
        return int(self.total_count)

    def _slots(self, ids: Tensor) -> Tensor:
        """Flat positions ``r * width + h_r(x)`` in the table, shape ``[depth, n]``."""
        ids = ids.to(self.coef.device)
        mask = (1 << _CHUNK_BITS) - 1
        acc = self.offset[:, None].expand(self.depth, ids.numel()).clone()
        for k in range(_NUM_CHUNKS):  # loop over 3 digits, vectorised over ids and rows
            digit = (ids >> (_CHUNK_BITS * k)) & mask
            acc = (acc + self.coef[:, k : k + 1] * digit[None, :] % _PRIME) % _PRIME
        rows = torch.arange(self.depth, device=ids.device)[:, None] * self.width
        return rows + acc % self.width

    def update(self, ids: Tensor, counts: Tensor | None = None) -> None:
        """Add ``counts`` (default 1 each) to the ids ``ids`` (any shape; repeats add up)."""
        ids = _check_ids(ids, "CountMinSketch.update")
        counts = _check_counts(counts, ids, "CountMinSketch.update")
        if ids.numel() == 0:
            return
        counts = counts.to(self.table.device)
        slots = self._slots(ids)
        self.table.view(-1).index_add_(0, slots.reshape(-1), counts.repeat(self.depth))
        self.total_count += counts.sum()

    def estimate(self, ids: Tensor) -> Tensor:
        """Estimated count of each id, ``int64`` of the shape of ``ids``; never below the truth."""
        shape = ids.shape if isinstance(ids, Tensor) else None
        flat = _check_ids(ids, "CountMinSketch.estimate")
        if flat.numel() == 0:
            return torch.zeros(shape, dtype=torch.long, device=self.table.device)
        est = self.table.view(-1)[self._slots(flat)].amin(dim=0)
        return est.reshape(shape)

    def merge_(self, other: CountMinSketch) -> CountMinSketch:
        """Add the counts of ``other`` (same width, depth and seed) into this sketch."""
        if (other.width, other.depth) != (self.width, self.depth) or not torch.equal(
            other.coef.cpu(), self.coef.cpu()
        ):
            raise ConfigError(
                "CountMinSketch.merge_: sketches must share width, depth and seed, got "
                f"({other.width}, {other.depth}, {other.seed}) vs "
                f"({self.width}, {self.depth}, {self.seed})"
            )
        self.table += other.table.to(self.table.device)
        self.total_count += other.total_count.to(self.total_count.device)
        return self

    def extra_repr(self) -> str:
        return f"width={self.width}, depth={self.depth}, seed={self.seed}, total={self.total}"


class LogQEstimator(nn.Module, abc.ABC):
    """Interface: streaming counts of item ids and :math:`\\log Q` of ids from them.

    Subclasses implement :meth:`counts` (count of each id) and :meth:`update`;
    :meth:`log_q` is :math:`\\log(\\max(n_c, 1)) - \\log(\\max(N, 1))`.
    """

    @abc.abstractmethod
    def update(self, ids: Tensor, counts: Tensor | None = None) -> None:
        """Count the ids seen in a batch (any shape; repeats count each time)."""

    @abc.abstractmethod
    def counts(self, ids: Tensor) -> Tensor:
        """Count (or estimate) of each id, ``int64`` of the shape of ``ids``."""

    @property
    @abc.abstractmethod
    def total(self) -> int:
        """Number of ids counted so far."""

    def log_q(self, ids: Tensor) -> Tensor:
        """``float32`` :math:`\\log Q` of each id (shape of ``ids``), floored at one count."""
        n = self.counts(ids).clamp_min(1).double()
        return (n.log() - math.log(max(self.total, 1))).float()

    def forward(self, ids: Tensor) -> Tensor:
        """Alias of :meth:`log_q`."""
        return self.log_q(ids)


class ExactLogQ(LogQEstimator):
    """Exact per-item counters for ids in ``[0, num_items)``.

    Args:
        num_items: size of the id space.
        counts: optional initial counts ``[num_items]`` (e.g. degrees, when the
            batch draws positives proportionally to them); streaming updates add to them.
    """

    count: Tensor

    def __init__(self, num_items: int, counts: Tensor | None = None) -> None:
        super().__init__()
        if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
            raise ConfigError(f"ExactLogQ: num_items must be an int >= 1, got {num_items!r}")
        self.num_items = num_items
        self.register_buffer("count", torch.zeros(num_items, dtype=torch.long))
        if counts is not None:
            init = _check_counts(counts, torch.empty(num_items, dtype=torch.long), "ExactLogQ")
            self.count.copy_(init)

    def reset_parameters(self) -> None:
        """Forget every count."""
        self.count.zero_()

    def _in_range(self, ids: Tensor, what: str) -> Tensor:
        flat = _check_ids(ids, what)
        if flat.numel() and int(flat.max()) >= self.num_items:
            raise GraphValidationError(
                f"{what}: ids must be < num_items={self.num_items}, got max {int(flat.max())}"
            )
        return flat.to(self.count.device)

    def update(self, ids: Tensor, counts: Tensor | None = None) -> None:
        flat = self._in_range(ids, "ExactLogQ.update")
        inc = _check_counts(counts, flat, "ExactLogQ.update").to(self.count.device)
        self.count.index_add_(0, flat, inc)

    def counts(self, ids: Tensor) -> Tensor:
        return self.count[self._in_range(ids, "ExactLogQ.counts")].reshape(ids.shape)

    @property
    def total(self) -> int:
        return int(self.count.sum())


class SketchLogQ(LogQEstimator):
    """:math:`\\log Q` from a :class:`CountMinSketch` (over-estimates counts, never under).

    Args:
        width: sketch width.
        depth: sketch depth.
        seed: hash seed.
    """

    def __init__(self, width: int = 2**16, depth: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.sketch = CountMinSketch(width, depth, seed)

    def reset_parameters(self) -> None:
        """Forget every count."""
        self.sketch.reset_parameters()

    def update(self, ids: Tensor, counts: Tensor | None = None) -> None:
        self.sketch.update(ids, counts)

    def counts(self, ids: Tensor) -> Tensor:
        return self.sketch.estimate(ids)

    @property
    def total(self) -> int:
        return self.sketch.total
