"""Validators for early stopping: each dataset's protocol on its validation split.

Used by the trainer (``train.validate_every``) through :func:`validator_for`; every
score is on data carved from the training set (:mod:`graphrep.data.splits`) or
Planetoid's validation nodes, never on a test split, and higher is better:

* recommendation: full-ranking Recall@k (``eval.ks[0]``) of the validation pairs' users
  over all items, training items excluded (LightGCN's protocol);
* link prediction: Hits@K of the validation edges against the validation negatives
  (OGB's definition, ``K`` from the dataset's ``eval_metric``, or ``eval.val_hits_share``
  of the number of negatives), by dot product or, when a link task trains a Hadamard-MLP scorer
  with the encoders, by that scorer;
* node classification: validation accuracy of the linear probe fit on the training
  nodes (:func:`graphrep.eval.probe.linear_probe`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
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
        return self.score(q, _all(model, builder, self.dst, self.batch_size))

    def score(self, queries: Any, items: Any) -> float:
        """Recall@k of the vectors ``queries [len(self.queries), D]`` (the validation users,
        in ``self.queries`` order) against every item's vector ``items [n_items, D]``."""
        res = full_rank_metrics(queries, items, self.relevant, ks=(self.k,), exclude=self.exclude)
        return res[self.metric]


class LinkValidator:
    """Hits@K of ``truth["val_edges"]`` against ``truth["val_edges_neg"]``, scored by dot
    product or by the loss module ``scorer``'s ``score`` (a jointly trained link head).

    Args:
        dataset: a link-prediction dataset with a carved validation split.
        k: the dataset's Hits@K.
        batch_size: nodes embedded per forward pass.
        share: rank at ``K = max(1, share * negatives)`` instead (0: ``k``).
        scorer: name of the model's loss module that scores pairs (default: dot product).
    """

    def __init__(self, dataset: GraphDataset, k: int = 20, batch_size: int = 1024, share: float = 0.0,
                 scorer: str | None = None) -> None:  # fmt: skip
        self.node_type = dataset.meta.get("node_type", dataset.graph.node_types[0])
        self.pos, self.neg = dataset.truth["val_edges"], dataset.truth["val_edges_neg"]
        self.k = max(1, round(share * len(self.neg))) if share > 0 else int(k)
        self.batch_size, self.scorer = batch_size, scorer
        self.metric = f"hits@{self.k}" + ("" if scorer is None else " (head)")

    def __call__(self, model: nn.Module, builder: Any) -> float:
        x = _all(model, builder, self.node_type, self.batch_size)
        if self.scorer is None:
            def score(e: np.ndarray) -> np.ndarray:
                return np.einsum("ij,ij->i", x[e[:, 0]], x[e[:, 1]])
        else:
            score = pair_scorer(model.get_loss(self.scorer), x)
        return hits_at_k(score(self.pos), score(self.neg), self.k)


def pair_scorer(module: Any, x: np.ndarray, batch_size: int = 65536) -> Any:
    """``edges [m, 2] -> scores [m]`` of a trained pair scorer (``module.score``) on ``x``."""
    t = torch.from_numpy(np.array(x, dtype=np.float32))

    def score(e: np.ndarray) -> np.ndarray:
        e = torch.from_numpy(np.array(e, dtype=np.int64).reshape(-1, 2))
        with torch.no_grad():
            out = [module.score(t[b[:, 0]], t[b[:, 1]]) for b in e.split(batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    return score


class ProbeValidator:
    """Validation accuracy of a linear probe trained on the training nodes."""

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
                           val_x=x[self.val], val_y=self.y[self.val])  # fmt: skip
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
        heads = [s.name for s in cfg.tasks.specs if s.scorer != "dot" and s.weight > 0]
        return LinkValidator(dataset, int(m.group(1)) if m else cfg.eval.ks[0], bs,
                             cfg.eval.val_hits_share, heads[0] if heads else None)  # fmt: skip
    raise ConfigError(
        f"train.validate_every needs a validation split: dataset {dataset.meta.get('name')!r} "
        f"(task {task!r}) has none; set data.validation to hold out a share of the training "
        "edges (recommendation and link-prediction datasets)"
    )
