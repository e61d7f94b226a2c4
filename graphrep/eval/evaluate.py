"""Evaluate a set of embeddings on held-out retrieval tasks, collapse detectors and a probe.

One code path for every model: OmniSage, its ablations and the baselines all
arrive as ``{node type: [n, D] array}`` (from an
:class:`~graphrep.embed.store.Embeddings` directory or a baseline's trainer), and
are scored on the same :class:`~graphrep.eval.holdout.RetrievalTask` list with
the same protocol: exact ranking against the whole target type (recall@k,
hits@k, NDCG@k, MRR) and the papers' sampled protocol (the positive among
``num_negatives`` uniform random items: hits@k, MRR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphrep.errors import SchemaError
from graphrep.eval.collapse import cosine_kurtosis, interest_entropy, p90_coverage, topic_purity
from graphrep.eval.holdout import RetrievalTask
from graphrep.eval.probe import linear_probe
from graphrep.eval.retrieval import full_rank_metrics, sampled_metrics
from graphrep.train.config import EvalConfig

Vectors = Mapping[str, np.ndarray]


def _get(vectors: Vectors, node_type: str, task: str) -> np.ndarray:
    if node_type not in vectors:
        raise SchemaError(
            f"task {task!r} needs embeddings of node type {node_type!r}; have {sorted(vectors)}"
        )
    return np.asarray(vectors[node_type], dtype=np.float32)


def evaluate_task(vectors: Vectors, task: RetrievalTask, cfg: EvalConfig) -> dict[str, float]:
    """Full-ranking and sampled metrics of one task (queries subsampled to ``cfg.max_queries``)."""
    task = task.subsample(cfg.max_queries, cfg.seed)
    queries = _get(vectors, task.query_type, task.name)[task.queries]
    corpus = _get(vectors, task.target_type, task.name)
    out = full_rank_metrics(queries, corpus, task.relevant, ks=tuple(cfg.ks), exclude=task.exclude)
    rows = np.repeat(np.arange(len(task.queries)), task.relevant.lengths())
    sampled = sampled_metrics(
        queries, corpus, rows, task.relevant.values.astype(np.int64),
        num_negatives=min(cfg.num_negatives, len(corpus) - 1), ks=tuple(cfg.ks), seed=cfg.seed,
    )  # fmt: skip
    out.update({f"sampled_{k}": v for k, v in sampled.items() if k != "num_queries"})
    return {k: float(v) for k, v in out.items()}


def evaluate_retrieval(
    vectors: Vectors, tasks: Sequence[RetrievalTask], cfg: EvalConfig
) -> dict[str, dict[str, float]]:
    """``{task name: metrics}`` for every task."""
    return {t.name: evaluate_task(vectors, t, cfg) for t in tasks}


def collapse_metrics(
    vectors: Vectors,
    truth: Mapping[str, np.ndarray],
    cfg: EvalConfig,
    item_type: str = "pin",
    user_type: str = "user",
    label: str = "pin_topic",
) -> dict[str, float]:
    """Topic purity of item neighbours, P90 coverage@10 and interest entropy@50 of user
    retrieval, and the kurtosis of item–item cosines (see :mod:`graphrep.eval.collapse`)."""
    out: dict[str, float] = {}
    items = _get(vectors, item_type, "collapse")
    rng = np.random.default_rng(cfg.seed)
    if label in truth:
        labels = np.asarray(truth[label])
        rows = np.sort(rng.choice(len(items), min(cfg.max_queries, len(items)), replace=False))
        out[f"{item_type}_topic_purity@10"] = float(
            topic_purity(items[rows], items, labels[rows], labels, k=10, exclude_rows=rows)
        )
    if user_type in vectors:
        users = _get(vectors, user_type, "collapse")
        users = users[np.linalg.norm(users, axis=1) > 0]
        users = users[np.sort(rng.choice(len(users), min(cfg.max_queries, len(users)), replace=False))]
        out["p90_coverage@10"] = float(p90_coverage(users, items, k=10))
        if label in truth:
            out["interest_entropy@50"] = float(
                interest_entropy(users, items, np.asarray(truth[label]), k=50)
            )
    nonzero = items[np.linalg.norm(items, axis=1) > 0]  # cosine is undefined for 0 vectors
    if len(nonzero) >= 2:
        out[f"{item_type}_cosine_kurtosis"] = float(cosine_kurtosis(nonzero, seed=cfg.seed))
    return out


def topic_probe(
    vectors: Vectors, truth: Mapping[str, np.ndarray], cfg: EvalConfig, item_type: str = "pin",
    label: str = "pin_coarse_topic", num_items: int = 5000,
) -> float:  # fmt: skip
    """Linear-probe accuracy of the planted coarse topic from frozen item embeddings.

    ``num_items`` random items split 60/20/20 into train/validation/test (weight decay
    chosen on validation); what a downstream classifier on the embeddings would get.
    """
    items = _get(vectors, item_type, "topic probe")
    y = np.asarray(truth[label])
    rows = np.random.default_rng(cfg.seed).permutation(len(items))[:num_items]
    a, b = int(0.6 * len(rows)), int(0.8 * len(rows))
    res = linear_probe(
        items[rows[:a]], y[rows[:a]], items[rows[b:]], y[rows[b:]],
        items[rows[a:b]], y[rows[a:b]], seed=cfg.seed, num_classes=int(y.max()) + 1,
    )  # fmt: skip
    return float(res.test_accuracy)


def evaluate(
    vectors: Vectors,
    tasks: Sequence[RetrievalTask],
    cfg: EvalConfig,
    truth: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Retrieval metrics per task, and collapse detectors when ``truth`` is given."""
    out: dict[str, Any] = {"tasks": evaluate_retrieval(vectors, tasks, cfg)}
    if truth is not None and "pin" in vectors:
        out["collapse"] = collapse_metrics(vectors, truth, cfg)
        if "pin_coarse_topic" in truth:
            out["collapse"]["pin_topic_probe_accuracy"] = topic_probe(vectors, truth, cfg)
    return out
