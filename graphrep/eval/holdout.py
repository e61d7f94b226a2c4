"""Held-out retrieval tasks of a dataset: who should retrieve what, after the cut.

A :class:`RetrievalTask` is a set of query nodes of one type, each with the
items of a target type it should retrieve (a :class:`~graphrep.graph.ragged.Ragged`
of target rows) and optionally rows to exclude from its ranking. For the
synthetic graph (:func:`synthetic_tasks`) they are the truth the generator kept
out of the training graph:

* ``pin→pin``: new co-engaged pin pairs of the future window (both directions;
  the query pin itself is excluded);
* ``board→pin``: pins saved to a board after the cut;
* ``query→pin``: new search clicks after the cut;
* ``user→pin``: every pin a user engages with (clicks, saves, close-ups) after the
  cut, embedded from the history before it (PinnerFormer's future window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.eval.retrieval import group_pairs
from graphrep.graph.ragged import Ragged
from graphrep.samplers.sequences import SequenceSampler


@dataclass
class RetrievalTask:
    """Queries of ``query_type`` that should retrieve ``relevant`` rows of ``target_type``."""

    name: str
    query_type: str
    target_type: str
    queries: np.ndarray
    relevant: Ragged
    exclude: Ragged | None = None

    def subsample(self, max_queries: int, seed: int = 0) -> RetrievalTask:
        """At most ``max_queries`` queries, drawn uniformly without replacement (deterministic)."""
        if len(self.queries) <= max_queries:
            return self
        rows = np.sort(np.random.default_rng(seed).choice(len(self.queries), max_queries, replace=False))
        ex = self.exclude.take(rows) if self.exclude is not None else None
        return RetrievalTask(
            self.name, self.query_type, self.target_type, self.queries[rows],
            self.relevant.take(rows), ex,
        )  # fmt: skip


def _self_exclusion(queries: np.ndarray) -> Ragged:
    offsets = np.arange(len(queries) + 1, dtype=np.int64)
    return Ragged(offsets, queries.astype(np.int64))


def pair_task(
    name: str, pairs: np.ndarray, query_type: str, target_type: str, symmetric: bool = False
) -> RetrievalTask:
    """A task from held-out ``[m, 2]`` (query, target) pairs (both directions if ``symmetric``)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if symmetric:
        pairs = np.concatenate([pairs, pairs[:, ::-1]])
    queries, relevant = group_pairs(pairs[:, 0], pairs[:, 1])
    exclude = _self_exclusion(queries) if query_type == target_type else None
    return RetrievalTask(name, query_type, target_type, queries, relevant, exclude)


def future_task(
    dataset: GraphDataset, name: str = "user→pin", window: int | None = None, item_type: str = "pin"
) -> RetrievalTask:
    """Users -> the items of their positive (non-hide) events after ``meta["cut_time"]``."""
    events = dataset.events
    if events is None or "cut_time" not in dataset.meta:
        raise ConfigError("a user→item evaluation needs the dataset's event log and meta['cut_time']")
    cut = int(dataset.meta["cut_time"])
    positive = [a for a in events.action_names if a != "hide"]
    sampler = SequenceSampler(events, 1, cut, future_window=1, positive_actions=positive)
    users = np.arange(events.num_users, dtype=np.int64)
    batch = sampler.eval_batch(users, cut, window)
    code = list(events.item_types).index(item_type)
    has_history = batch.mask.any(1).numpy()
    q_rows = np.repeat(users, batch.targets.lengths())
    keep = batch.target_type.values == code
    q_rows, items = q_rows[keep], batch.targets.values[keep]
    keep = has_history[q_rows]
    queries, relevant = group_pairs(q_rows[keep], items[keep])
    return RetrievalTask(name, "user", item_type, queries, relevant)


def synthetic_tasks(dataset: GraphDataset, user_window: int | None = None) -> list[RetrievalTask]:
    """The held-out tasks of a synthetic dataset (see the module docstring)."""
    t = dataset.truth
    missing = [k for k in ("heldout_co_engaged", "heldout_board_pin", "heldout_query_pin") if k not in t]
    if missing:
        raise ConfigError(f"dataset has no held-out truth {missing}; is it a graphrep synthetic graph?")
    return [
        pair_task("pin→pin", t["heldout_co_engaged"], "pin", "pin", symmetric=True),
        pair_task("board→pin", t["heldout_board_pin"], "board", "pin"),
        pair_task("query→pin", t["heldout_query_pin"], "query", "pin"),
        future_task(dataset, "user→pin", user_window),
    ]
