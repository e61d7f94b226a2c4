"""User action sequences with dense all-action targets (PinnerFormer).

PinnerFormer [Pancha et al., "PinnerFormer: Sequence Modeling for User
Representation at Pinterest", KDD 2022, https://arxiv.org/abs/2205.04507] encodes
a user's last :math:`M` actions with a causal transformer and trains every
position to predict the user's future, not just the next action. For a user
with history :math:`e_1, \\dots, e_L` (time-ordered, :math:`L \\le M`, all
strictly before the cut time :math:`T`), :class:`SequenceSampler` draws
:math:`P` random positions :math:`t` and, for each, one target uniformly from
the **future window**

.. math::
    W(t) = \\{ e_j : \\tau_t < \\tau_j \\le \\tau_t + \\Delta,\\ \\tau_j < T,\\ a_j \\in A \\}

(:math:`\\tau` = timestamp, :math:`\\Delta` = ``future_window``, :math:`A` the
positive actions). Events at or after the cut are never used in training, so a
position near the cut only sees the part of its window before :math:`T` (no
leakage into the evaluation window). Positions whose :math:`W(t)` is empty get
``target_mask = False``. The next-action objective uses ``next_item``: the item
of the following event in the history.

Layout: sequences are **left-padded** -- a user's most recent action before the
cut is always column ``M - 1`` (the column whose output is the user embedding)
and padding (zeros, ``mask = False``) fills the first columns. ``positions`` are
column indices into that layout, sorted ascending; unused slots (users with
fewer than ``P`` actions) hold 0 with ``target_mask = False``.

The kernels binary-search the cut inside each user's slice of the
:class:`~graphrep.graph.eventlog.EventLog` (sorted by user, then time), run in
parallel over users with the counter-based RNG (stream = ``(seed, step, row)``)
and release the GIL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch
from numba import prange

from graphrep.graph.eventlog import EventLog
from graphrep.graph.ragged import Ragged
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import StepCounter, check_int, check_seed
from graphrep.samplers.pairs import vocab_codes
from graphrep.utils.rng import next_below, next_float, stream_state


@dataclass
class SequenceHistory:
    """The last ``M`` actions of each user before a cut (left-padded, see module docstring).

    Every ``[B, M]`` field is ``int64`` except ``mask`` (``bool``, True = real event).
    ``item_type``, ``action`` and ``surface`` are codes into the log's vocabularies.
    """

    users: torch.Tensor
    items: torch.Tensor
    item_type: torch.Tensor
    action: torch.Tensor
    surface: torch.Tensor
    timestamp: torch.Tensor
    mask: torch.Tensor

    def to(self, device: str | torch.device) -> Any:
        """A copy with every tensor moved to ``device``."""
        moved = {
            f.name: v.to(device) if isinstance(v := getattr(self, f.name), torch.Tensor) else v
            for f in dataclasses.fields(self)
        }
        return type(self)(**moved)


@dataclass
class SequenceBatch(SequenceHistory):
    """Training batch: history plus dense all-action and next-action targets.

    ``positions``/``targets``/``target_type``/``target_mask`` are ``[B, P]``;
    ``targets[b, p]`` is an item from the future window of column ``positions[b, p]``.
    ``next_item``/``next_type``/``next_mask`` are ``[B, M]``: the following event of
    each column (``next_mask`` is False at padding and at the last real column).
    """

    positions: torch.Tensor
    targets: torch.Tensor
    target_type: torch.Tensor
    target_mask: torch.Tensor
    next_item: torch.Tensor
    next_type: torch.Tensor
    next_mask: torch.Tensor


@dataclass
class SequenceEvalBatch(SequenceHistory):
    """Evaluation batch: history before the cut and every future event as ragged targets.

    ``targets`` row ``b`` holds the items of user ``b``'s positive events in
    ``[cut, cut + window)`` (time order); ``target_type`` their item-type codes.
    """

    targets: Ragged
    target_type: Ragged


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True, nogil=True, inline="always")
def _upper_bound(a: np.ndarray, lo: int, hi: int, x: int) -> int:
    """First index in ``[lo, hi)`` with ``a[i] > x`` (``a`` sorted), else ``hi``."""
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, parallel=True)
def _history_rows(
    users: np.ndarray, offsets: np.ndarray, ts: np.ndarray, cut: int, max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Event row of each ``[B, M]`` slot (-1 = padding) and each user's cut index."""
    batch = users.shape[0]
    rows = np.full((batch, max_len), -1, dtype=np.int64)
    end = np.empty(batch, dtype=np.int64)
    for b in prange(batch):
        u = users[b]
        lo = offsets[u]
        stop = _upper_bound(ts, lo, offsets[u + 1], cut - 1)  # first event with ts >= cut
        end[b] = stop
        start = max(lo, stop - max_len)
        pad = max_len - (stop - start)
        for k in range(stop - start):
            rows[b, pad + k] = start + k
    return rows, end


@numba.njit(cache=True, nogil=True, parallel=True)
def _dense_targets(
    rows: np.ndarray,
    end: np.ndarray,
    ts: np.ndarray,
    positive: np.ndarray,
    window: int,
    num_positions: int,
    seed: int,
    stream: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Random positions per row and one future-window event row per position (-1 = none)."""
    batch, max_len = rows.shape
    positions = np.zeros((batch, num_positions), dtype=np.int64)
    target_rows = np.full((batch, num_positions), -1, dtype=np.int64)
    for b in prange(batch):
        state = stream_state(seed, stream, b)
        length = 0
        for c in range(max_len):
            if rows[b, c] >= 0:
                length += 1
        first_col = max_len - length
        need = min(num_positions, length)
        p = 0
        for k in range(length):  # Knuth's Algorithm S: sorted uniform subset of columns
            if need == 0:
                break
            state, u = next_float(state)
            if u * (length - k) < need:
                positions[b, p] = first_col + k
                need -= 1
                p += 1
        for q in range(p):
            e = rows[b, positions[b, q]]
            t0 = ts[e]
            first = _upper_bound(ts, e + 1, end[b], t0)
            last = _upper_bound(ts, first, end[b], t0 + window)
            count = 0
            for j in range(first, last):
                if positive[j]:
                    count += 1
            if count == 0:
                continue
            state, pick = next_below(state, count)
            for j in range(first, last):
                if positive[j]:
                    if pick == 0:
                        target_rows[b, q] = j
                        break
                    pick -= 1
    return positions, target_rows


@numba.njit(cache=True, nogil=True, parallel=True)
def _future_bounds(
    users: np.ndarray, offsets: np.ndarray, ts: np.ndarray, cut: int, stop_time: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per user, event rows ``[first ts >= cut, first ts >= stop_time)``."""
    lo = np.empty(users.shape[0], dtype=np.int64)
    hi = np.empty(users.shape[0], dtype=np.int64)
    for b in prange(users.shape[0]):
        u = users[b]
        lo[b] = _upper_bound(ts, offsets[u], offsets[u + 1], cut - 1)
        hi[b] = _upper_bound(ts, lo[b], offsets[u + 1], stop_time - 1)
    return lo, hi


# --------------------------------------------------------------------------- sampler
def _gather(column: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """``column[rows]`` as ``int64`` with 0 where ``rows < 0``."""
    if len(column) == 0:
        return torch.zeros(rows.shape, dtype=torch.int64)
    out = np.asarray(column)[np.maximum(rows, 0)].astype(np.int64)
    out[rows < 0] = 0
    return torch.from_numpy(out)


class SequenceSampler:
    """Last-``M``-actions histories with PinnerFormer's dense all-action targets.

    Args:
        events: the event log (sorted by user, then time).
        max_len: ``M``, the number of most recent actions kept.
        cut_time: only events with ``timestamp < cut_time`` are used in training.
        future_window: ``Delta``, length of each position's future window (time units
            of the log, e.g. seconds: 14 days = ``14 * 86400``).
        num_positions: ``P``, positions trained per user.
        seed: random seed; ``(seed, step)`` fixes the output.
        positive_actions: action names or codes that count as targets (``None`` = all);
            the history always holds every action.

    Example:
        >>> ev = EventLog.from_arrays([0, 0, 0], [5, 6, 7], [10, 20, 30], num_users=1)
        >>> b = SequenceSampler(ev, max_len=4, cut_time=25, future_window=15,
        ...                     num_positions=1).sample(np.array([0]), step=0)
        >>> b.items.tolist(), b.mask.tolist()
        ([[0, 0, 5, 6]], [[False, False, True, True]])
    """

    def __init__(
        self,
        events: EventLog,
        max_len: int,
        cut_time: int,
        future_window: int,
        num_positions: int = 1,
        seed: int = 0,
        positive_actions: Sequence[str | int] | None = None,
    ) -> None:
        self.events = events
        self.max_len = check_int(max_len, "max_len")
        self.cut_time = check_int(cut_time, "cut_time", minimum=-(2**62))
        self.future_window = check_int(future_window, "future_window")
        self.num_positions = check_int(num_positions, "num_positions")
        self.seed = check_seed(seed)
        self._ts = np.ascontiguousarray(events.timestamp, dtype=np.int64)
        self._offsets = np.ascontiguousarray(events.user_offsets, dtype=np.int64)
        if positive_actions is None:
            self._positive = np.ones(len(events), dtype=np.bool_)
        else:
            codes = vocab_codes(events.action_names, positive_actions, "action")
            self._positive = np.isin(events.action, codes)
        self._steps = StepCounter()

    def _users(self, users: Any) -> np.ndarray:
        return check_node_ids(users, self.events.num_users, "SequenceSampler: users")

    def active_users(self, min_events: int = 2) -> np.ndarray:
        """Users with at least ``min_events`` events before the cut (training candidates)."""
        min_events = check_int(min_events, "min_events", minimum=0)
        users = np.arange(self.events.num_users, dtype=np.int64)
        _, end = _history_rows(users, self._offsets, self._ts, self.cut_time, 1)
        return users[end - self._offsets[:-1] >= min_events]

    def _history(self, users: np.ndarray, cut: int) -> tuple[dict[str, torch.Tensor], Any]:
        rows, end = _history_rows(users, self._offsets, self._ts, cut, self.max_len)
        ev = self.events
        fields = {
            "users": torch.from_numpy(users.copy()),
            "items": _gather(ev.item, rows),
            "item_type": _gather(ev.item_type, rows),
            "action": _gather(ev.action, rows),
            "surface": _gather(ev.surface, rows),
            "timestamp": _gather(self._ts, rows),
            "mask": torch.from_numpy(rows >= 0),
        }
        return fields, (rows, end)

    def sample(self, users: Any, step: int | None = None) -> SequenceBatch:
        """Training batch for ``users`` (``[B]`` user ids; repeats allowed).

        Args:
            users: user ids in ``[0, num_users)``.
            step: stream index (default: the next value of an internal counter).
        """
        users = self._users(users)
        step = self._steps.resolve(step)
        fields, (rows, end) = self._history(users, self.cut_time)
        positions, target_rows = _dense_targets(
            rows, end, self._ts, self._positive, self.future_window,
            self.num_positions, self.seed, step,
        )
        mask = fields["mask"]
        next_mask = torch.zeros_like(mask)
        next_mask[:, :-1] = mask[:, :-1] & mask[:, 1:]
        next_item = torch.zeros_like(fields["items"])
        next_item[:, :-1] = fields["items"][:, 1:]
        next_type = torch.zeros_like(fields["item_type"])
        next_type[:, :-1] = fields["item_type"][:, 1:]
        return SequenceBatch(
            **fields,
            positions=torch.from_numpy(positions),
            targets=_gather(self.events.item, target_rows),
            target_type=_gather(self.events.item_type, target_rows),
            target_mask=torch.from_numpy(target_rows >= 0),
            next_item=next_item * next_mask,
            next_type=next_type * next_mask,
            next_mask=next_mask,
        )

    def eval_batch(
        self, users: Any, cut_time: int | None = None, window: int | None = None
    ) -> SequenceEvalBatch:
        """History before ``cut_time`` and the positive events in ``[cut_time, cut_time + window)``.

        Args:
            users: user ids.
            cut_time: evaluation cut (default: the sampler's ``cut_time``).
            window: length of the evaluation window (``None`` = every later event).
        """
        users = self._users(users)
        cut = self.cut_time if cut_time is None else check_int(cut_time, "cut_time", -(2**62))
        stop = 2**62 if window is None else cut + check_int(window, "window")
        fields, _ = self._history(users, cut)
        lo, hi = _future_bounds(users, self._offsets, self._ts, cut, stop)
        lengths = hi - lo
        offsets = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        src = np.repeat(lo - offsets[:-1], lengths) + np.arange(offsets[-1])
        keep = self._positive[src]
        row_of = np.repeat(np.arange(len(users)), lengths)
        kept = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of[keep], minlength=len(users)), out=kept[1:])
        src = src[keep]
        return SequenceEvalBatch(
            **fields,
            targets=Ragged(kept, np.asarray(self.events.item)[src].astype(np.int64)),
            target_type=Ragged(kept, np.asarray(self.events.item_type)[src].astype(np.int64)),
        )
