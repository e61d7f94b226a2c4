"""Validators for early stopping: each dataset's protocol on its validation split.

Used by the trainer (``train.validate_every``) through :func:`validator_for`; every
score is on data carved from the training set (:mod:`graphrep.data.splits`) or
Planetoid's validation nodes, never on a test split, and higher is better:

* recommendation: full-ranking Recall@k (``eval.ks[0]``) of the validation pairs' users
  over all items, training items excluded (LightGCN's protocol);
* link prediction: Hits@K of the validation edges against the validation negatives
  (OGB's definition, ``K`` from the dataset's ``eval_metric``), by dot product;
* node classification: validation accuracy of the linear probe fit on the training
  nodes (:func:`graphrep.eval.probe.linear_probe`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from torch import nn

from graphrep.data.dataset import GraphDataset
from graphrep.embed.inference import embed_ids
from graphrep.errors import ConfigError
from graphrep.eval.holdout import pair_task
from graphrep.eval.probe import linear_probe
from graphrep.eval.retrieval import full_rank_metrics
from graphrep.graph.ragged import Ragged
from graphrep.train.config import RunConfig


def hits_at_k(pos: np.ndarray, neg: np.ndarray, k: int) -> float:
    """OGB's Hits@K: the share of positive scores above the ``k``-th highest negative score
    (1.0 when there are fewer than ``k`` negatives)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if len(neg) < k:
        return 1.0
    kth = np.partition(neg, len(neg) - k)[len(neg) - k]
    return float(np.mean(pos > kth)) if len(pos) else float("nan")


def _all(model: nn.Module, builder: Any, node_type: str, batch_size: int) -> np.ndarray:
    n = builder.graph.num_nodes[node_type]
    return embed_ids(model, builder, node_type, np.arange(n), batch_size)


class RecommendationValidator:
    """Recall@k of held-out ``truth["val_pairs"]`` (see the module docstring)."""

    def __init__(self, dataset: GraphDataset, k: int = 20, max_queries: int = 5000,
                 batch_size: int = 1024, seed: int = 0) -> None:  # fmt: skip
        src, rel, dst = dataset.graph.edge_type(tuple(dataset.meta["relation"]))
        self.src, self.dst, self.k, self.batch_size = src, dst, int(k), batch_size
        self.metric = f"recall@{self.k}"
        task = pair_task("val", dataset.truth["val_pairs"], src, dst)
        rows = np.arange(len(task.queries))
        if len(rows) > max_queries:
            rows = np.sort(np.random.default_rng(seed).choice(rows, max_queries, replace=False))
        self.queries = task.queries[rows]
        self.relevant = task.relevant.take(rows)
        train = dataset.graph.csr((src, rel, dst))
        self.exclude = Ragged(np.asarray(train.indptr), np.asarray(train.indices, dtype=np.int64)).take(
            self.queries
        )

    def __call__(self, model: nn.Module, builder: Any) -> float:
        q = embed_ids(model, builder, self.src, self.queries, self.batch_size)
        items = _all(model, builder, self.dst, self.batch_size)
        res = full_rank_metrics(q, items, self.relevant, ks=(self.k,), exclude=self.exclude)
        return res[self.metric]


class LinkValidator:
    """Hits@K of ``truth["val_edges"]`` against ``truth["val_edges_neg"]`` by dot product."""

    def __init__(self, dataset: GraphDataset, k: int = 20, batch_size: int = 1024) -> None:
        self.node_type = dataset.meta.get("node_type", dataset.graph.node_types[0])
        self.pos, self.neg = dataset.truth["val_edges"], dataset.truth["val_edges_neg"]
        self.k, self.batch_size = int(k), batch_size
        self.metric = f"hits@{self.k}"

    def __call__(self, model: nn.Module, builder: Any) -> float:
        x = _all(model, builder, self.node_type, self.batch_size)

        def score(e: np.ndarray) -> np.ndarray:
            return np.einsum("ij,ij->i", x[e[:, 0]], x[e[:, 1]])

        return hits_at_k(score(self.pos), score(self.neg), self.k)


class ProbeValidator:
    """Validation accuracy of a linear probe trained on the training nodes (its
    regularisation chosen on the same validation nodes, every node standardising)."""

    metric = "val_accuracy"

    def __init__(self, dataset: GraphDataset, batch_size: int = 1024) -> None:
        t = dataset.truth
        self.node_type = dataset.meta.get("label_type")
        y = np.asarray(t["label"])
        self.y = y.reshape(len(y), -1)[:, 0]
        self.train, self.val = np.asarray(t["train_idx"]), np.asarray(t["valid_idx"])
        self.batch_size = batch_size

    def __call__(self, model: nn.Module, builder: Any) -> float:
        x = _all(model, builder, self.node_type, self.batch_size)
        res = linear_probe(x[self.train], self.y[self.train], x[self.val], self.y[self.val],
                           val_x=x[self.val], val_y=self.y[self.val], reference_x=x)  # fmt: skip
        return float(res.val_accuracy)


def validator_for(cfg: RunConfig, dataset: GraphDataset) -> Any:
    """The validator of ``dataset``'s protocol (module docstring).

    Raises:
        ConfigError: the dataset has no validation split (set ``data.validation``) or no
            protocol to validate with.
    """
    task = dataset.meta.get("task")
    bs = cfg.embed.batch_size
    if task == "node_classification":
        return ProbeValidator(dataset, bs)
    if task == "recommendation" and "val_pairs" in dataset.truth:
        return RecommendationValidator(dataset, cfg.eval.ks[0], cfg.eval.max_queries, bs, cfg.eval.seed)
    if task == "link_prediction" and "val_edges" in dataset.truth:
        m = re.fullmatch(r"hits@(\d+)", str(dataset.meta.get("eval_metric", "")))
        return LinkValidator(dataset, int(m.group(1)) if m else cfg.eval.ks[0], bs)
    raise ConfigError(
        f"train.validate_every needs a validation split: dataset {dataset.meta.get('name')!r} "
        f"(task {task!r}) has none; set data.validation to hold out a share of the training "
        "edges (recommendation and link-prediction datasets)"
    )
