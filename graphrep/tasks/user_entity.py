r"""User–entity task: next action + dense all-action over a future window (PinnerFormer).

From PinnerFormer (Pancha et al., KDD'22, https://arxiv.org/abs/2205.04507) as
used by OmniSage (https://arxiv.org/abs/2504.17811). A user's last :math:`M`
actions before the cut time :math:`T` are embedded item by item with the entity
encoders (each distinct item once per batch; gradients flow into the encoders)
and run through the causal :class:`~graphrep.models.sequence.SequenceEncoder`,
giving :math:`\mathbf{u}_t`, the user after action :math:`t`. Two sampled
softmax losses (own temperatures) train them:

* :math:`\mathcal{L}_{\text{next}}`: :math:`\mathbf{u}_t` retrieves the item of
  action :math:`t + 1` (every real position whose next action is positive);
* :math:`\mathcal{L}_{\text{future}}` (dense all-action): at ``num_positions``
  random positions, :math:`\mathbf{u}_t` retrieves one positive action drawn from
  the window :math:`(\tau_t, \tau_t + \Delta]`, truncated at the cut.

:math:`\mathcal{L}_{\text{user}} = w_{\text{next}}\mathcal{L}_{\text{next}} +
w_{\text{future}}\mathcal{L}_{\text{future}}`. Negatives are every other row's
positive in the batch plus (``"mixed"``) shared random items; candidates are
keyed by their row in the batch's item table, so the same item is one key
wherever it occurs. logQ: in-batch positives by their frequency among the
positive actions before the cut, random negatives by their sampler's ``q``,
both as log expected counts.

**No leakage.** Histories, next items and targets all come from events strictly
before ``cut_time`` (see :class:`~graphrep.samplers.sequences.SequenceSampler`),
and the encoder's ``query_time`` is ``cut_time`` for every user: the time
features are then relative to a fixed instant, so the output at position
:math:`t` depends only on actions :math:`\le t` (the default ``query_time`` --
each user's latest action -- would tell earlier positions when the sequence
ends). Negative actions (``"hide"``) stay in the history but are never positives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import ConfigError
from graphrep.graph.eventlog import EventLog
from graphrep.models.nodes import NodeBatch
from graphrep.samplers.args import check_float, check_int, check_seed
from graphrep.samplers.covisit import derive_seed
from graphrep.samplers.pairs import vocab_codes
from graphrep.samplers.sequences import SequenceBatch, SequenceSampler
from graphrep.tasks.inputs import InputBuilder
from graphrep.tasks.negatives import RandomNegatives, in_batch_accuracy, log_frequency
from graphrep.tasks.pool import Encoded, ItemRows, NodePool, encoded_for, private_pool

_SALT = 0x05E9


@dataclass
class UserTaskBatch:
    """Sequences, their item table and logQ terms.

    ``items.index`` holds table rows for ``"history"``/``"next"`` ``[B, M]``,
    ``"targets"`` ``[B, P]`` and ``"negatives"`` ``[K]``; ``next_mask`` is
    ``seq.next_mask`` restricted to positive next actions.
    """

    seq: SequenceBatch
    next_mask: Tensor
    items: ItemRows
    log_q_next: Tensor
    log_q_targets: Tensor
    log_q_neg: Tensor
    query_time: Tensor
    nodes: NodeBatch | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> UserTaskBatch:
        return UserTaskBatch(
            self.seq.to(device),
            self.next_mask.to(device),
            self.items.to(device, non_blocking),
            *(t.to(device) for t in (self.log_q_next, self.log_q_targets, self.log_q_neg)),
            self.query_time.to(device),
            None if self.nodes is None else self.nodes.to(device, non_blocking),
        )

    def __len__(self) -> int:
        return int(self.seq.mask.shape[0])


class UserEntityTask:
    """PinnerFormer's next-action + dense all-action objectives (see the module docstring).

    Args:
        builder: encoder-input builder of the item types.
        events: the event log (items are ids of ``events.item_types``).
        cut_time: only events strictly before it are used.
        max_len: history length ``M``.
        future_window: ``Delta`` (time units of the log, e.g. seconds).
        num_positions: dense all-action positions per user ``P``.
        batch_size: users per batch (distinct).
        positive_actions: actions that count as positives (default: all but ``"hide"``).
        negatives: ``"in_batch"`` or ``"mixed"``.
        random_negatives: ``"popularity"`` (by positive-event counts) or ``"uniform"``.
        num_random_negatives: shared random items per batch (``"mixed"``).
        negative_type: item type of the random negatives (default: the only item type).
        logq: apply the logQ correction.
        next_weight: weight of the next-action loss.
        future_weight: weight of the dense all-action loss.
        history_grad: let the loss train the entity encoders through the history
            tokens (``False``: history item embeddings enter the sequence encoder
            detached, as PinnerFormer's fixed PinSage inputs; the targets and
            negatives still train them).
        users: candidate users (default: users with ``>= min_events`` events before the cut).
        min_events: see ``users``.
        temperature: initial softmax temperature of both losses.
        seed: random seed.
        name: task name (loss modules ``f"{name}_next"``, ``f"{name}_future"``).
    """

    def __init__(
        self,
        builder: InputBuilder,
        events: EventLog,
        cut_time: int,
        max_len: int = 32,
        future_window: int = 7 * 86400,
        num_positions: int = 8,
        batch_size: int = 32,
        positive_actions: Sequence[str | int] | None = None,
        negatives: str = "mixed",
        random_negatives: str = "popularity",
        num_random_negatives: int = 64,
        negative_type: str | None = None,
        logq: bool = True,
        next_weight: float = 1.0,
        future_weight: float = 1.0,
        history_grad: bool = True,
        users: np.ndarray | None = None,
        min_events: int = 2,
        temperature: float = 0.07,
        seed: int = 0,
        name: str = "user_entity",
    ) -> None:
        self.builder, self.events, self.name = builder, events, name
        self.cut_time = check_int(cut_time, "cut_time", minimum=-(2**62))
        self.batch_size = check_int(batch_size, "batch_size")
        self.seed = check_seed(seed)
        for t in events.item_types:
            if t not in builder.graph.num_nodes:
                raise ConfigError(
                    f"UserEntityTask: event item type {t!r} is not a node type of the graph "
                    f"({sorted(builder.graph.num_nodes)})"
                )
        if negatives not in ("in_batch", "mixed"):
            raise ConfigError(f"negatives must be 'in_batch' or 'mixed', got {negatives!r}")
        self.negatives = negatives
        self.num_random = check_int(num_random_negatives, "num_random_negatives", minimum=0)
        if negatives == "mixed" and self.num_random == 0:
            raise ConfigError("negatives='mixed' needs num_random_negatives >= 1")
        self.logq, self.temperature = bool(logq), temperature
        self.next_weight = check_float(next_weight, "next_weight", 0.0, math.inf, high_open=True)
        self.future_weight = check_float(future_weight, "future_weight", 0.0, math.inf, high_open=True)
        self.history_grad = bool(history_grad)
        if positive_actions is None:
            positive_actions = [a for a in events.action_names if a != "hide"]
        self.positive_codes = vocab_codes(events.action_names, positive_actions, "action")
        self.sampler = SequenceSampler(
            events, max_len, self.cut_time, future_window, num_positions, seed=self.seed,
            positive_actions=list(self.positive_codes),
        )  # fmt: skip
        self.users = self.sampler.active_users(min_events) if users is None else np.asarray(users)
        if len(self.users) == 0:
            raise ConfigError(
                f"UserEntityTask: no user has >= {min_events} events before cut_time={self.cut_time}"
            )
        # per item type: log frequency among positive events before the cut (logQ, popularity)
        keep = (np.asarray(events.timestamp) < self.cut_time) & np.isin(
            events.action, self.positive_codes
        )
        self._counts = []
        for code, t in enumerate(events.item_types):
            sel = keep & (np.asarray(events.item_type) == code)
            n = builder.graph.num_nodes[t]
            self._counts.append(np.bincount(np.asarray(events.item)[sel], minlength=n)[:n])
        self._log_p = [log_frequency(c) for c in self._counts]
        if negative_type is None:
            if len(events.item_types) != 1:
                raise ConfigError(
                    f"UserEntityTask: the log has item types {list(events.item_types)}; "
                    "pass negative_type="
                )
            negative_type = events.item_types[0]
        self.negative_code = int(vocab_codes(events.item_types, [negative_type], "item type")[0])
        self.random = RandomNegatives(
            builder.graph.num_nodes[negative_type], random_negatives,
            self._counts[self.negative_code], seed=self.seed, node_type=negative_type,
        )  # fmt: skip

    @property
    def loss_names(self) -> tuple[str, str]:
        return f"{self.name}_next", f"{self.name}_future"

    def loss_specs(self) -> dict[str, dict[str, Any]]:
        spec = {"negatives": self.negatives, "logq": self.logq, "init_temperature": self.temperature}
        return {n: dict(spec) for n in self.loss_names}

    def attach(self, model: Any) -> None:
        """Register this task's loss modules on ``model``."""
        for name, kwargs in self.loss_specs().items():
            model.add_loss(name, **kwargs)

    def _log_q(self, codes: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        c, i, m = codes.numpy(), ids.numpy(), mask.numpy()
        out = np.zeros(c.shape, dtype=np.float32)
        for code, log_p in enumerate(self._log_p):
            sel = m & (c == code)
            out[sel] = log_p[i[sel]]
        return torch.from_numpy(out)

    @property
    def epoch_size(self) -> int:
        """Users in one epoch (those with enough history before the cut)."""
        return len(self.users)

    shares_inputs = True

    def sample(self, step: int, pool: NodePool | None = None) -> UserTaskBatch:
        """The batch of ``step`` (pure function of ``(seed, step)``); its items go to ``pool``
        (the step's shared one) or to a pool of its own."""
        step = check_int(step, "step", minimum=0)
        pool, own = private_pool(self, step, pool)
        rng = np.random.default_rng(derive_seed(self.seed, _SALT, step))
        users = rng.choice(self.users, size=min(self.batch_size, len(self.users)), replace=False)
        seq = self.sampler.sample(users.astype(np.int64), step=step)
        next_action = torch.zeros_like(seq.action)
        next_action[:, :-1] = seq.action[:, 1:]
        positive = torch.from_numpy(np.isin(next_action.numpy(), self.positive_codes))
        next_mask = seq.next_mask & positive
        if self.negatives == "mixed":
            neg, log_q_neg = pool.negatives(self.random, self.num_random)
        else:
            neg, log_q_neg = np.zeros(0, np.int64), np.zeros(0, np.float32)
        groups = {
            "history": (seq.item_type.numpy(), seq.items.numpy()),
            "next": (seq.next_type.numpy(), seq.next_item.numpy()),
            "targets": (seq.target_type.numpy(), seq.targets.numpy()),
            "negatives": (np.full(len(neg), self.negative_code, np.int64), neg),
        }
        items = pool.add_items(self.events.item_types, groups)
        return UserTaskBatch(
            seq,
            next_mask,
            items,
            self._log_q(seq.next_type, seq.next_item, next_mask),
            self._log_q(seq.target_type, seq.targets, seq.target_mask),
            torch.from_numpy(np.asarray(log_q_neg, dtype=np.float32)),
            torch.full((len(users),), self.cut_time, dtype=torch.long),
            pool.build() if own else None,
        )

    def _softmax_loss(
        self, model: Any, name: str, query: Tensor, keys: Tensor, log_q: Tensor,
        table: Tensor, batch: UserTaskBatch,
    ) -> tuple[Tensor, float]:  # fmt: skip
        softmax = model.get_loss(name)  # called even with no rows: ranks gather in lockstep
        kwargs: dict[str, Any] = {"positive_ids": keys}
        neg_rows = batch.items.index["negatives"]
        if softmax.negatives != "in_batch":
            kwargs["random_negatives"] = table[neg_rows]
            kwargs["random_negative_ids"] = neg_rows
        if softmax.logq:
            kwargs["log_q_positive"] = log_q
            if softmax.negatives != "in_batch":
                kwargs["log_q_random"] = batch.log_q_neg
        loss = softmax(query, table[keys], **kwargs)
        return loss, in_batch_accuracy(query.detach(), table[keys].detach(), keys, None)

    def loss(
        self, model: Any, batch: UserTaskBatch, encoded: Encoded | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """``next_weight * L_next + future_weight * L_future`` and metrics."""
        seq, index = batch.seq, batch.items.index
        table = batch.items.table(encoded_for(model, batch.nodes, encoded).embeddings)
        history = table[index["history"]]
        if not self.history_grad:
            history = history.detach()
        out = model.sequence_outputs(seq, history, batch.query_time)
        nm = batch.next_mask
        l_next, acc_next = self._softmax_loss(
            model, self.loss_names[0], out[nm], index["next"][nm], batch.log_q_next[nm], table, batch
        )
        fm = seq.target_mask
        rows = torch.arange(out.shape[0], device=out.device)[:, None].expand_as(seq.positions)
        q_future = out[rows[fm], seq.positions[fm]]
        l_future, acc_future = self._softmax_loss(
            model, self.loss_names[1], q_future, index["targets"][fm], batch.log_q_targets[fm],
            table, batch,
        )  # fmt: skip
        total = self.next_weight * l_next + self.future_weight * l_future
        metrics = {
            "loss": float(total.detach()),
            "next_loss": float(l_next.detach()),
            "future_loss": float(l_future.detach()),
            "next_accuracy": acc_next,
            "future_accuracy": acc_future,
            "next_rows": float(nm.sum()),
            "future_rows": float(fm.sum()),
        }
        for n in self.loss_names:
            metrics[f"{n.removeprefix(self.name + '_')}_temperature"] = model.get_loss(n).temperature
        return total, metrics

    def __repr__(self) -> str:
        s = self.sampler
        return (
            f"UserEntityTask(name={self.name!r}, max_len={s.max_len}, "
            f"future_window={s.future_window}, num_positions={s.num_positions}, "
            f"batch_size={self.batch_size}, negatives={self.negatives!r})"
        )
