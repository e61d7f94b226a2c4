"""Each dataset's own evaluation protocol, on exported embeddings.

Dispatch on ``dataset.meta["task"]`` (set by the loaders in :mod:`graphrep.data`):

* synthetic graph: the held-out retrieval tasks (:mod:`graphrep.eval.holdout`) and
  the collapse detectors;
* ``node_classification`` (Planetoid, ogbn-*): a linear probe on the frozen
  embeddings of ``meta["label_type"]`` over the official split, averaged over
  ``seeds`` (:func:`graphrep.eval.probe.probe_over_seeds`);
* ``link_prediction`` (ogbl-*): each valid/test edge and official negative is
  scored by the dot product of its ends' embeddings and ranked by OGB's own
  ``Evaluator`` (e.g. Hits@20 for ogbl-ddi);
* ``recommendation`` (LightGCN files): every user ranks *all* items, training
  items excluded, Recall@k and NDCG@k against the test items (LightGCN's protocol).

Every result is ``{"tasks": {task name: {metric: value}}, ...}`` with a
``headline`` metric name, so one results table prints them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError, SchemaError
from graphrep.eval.evaluate import evaluate
from graphrep.eval.holdout import pair_task, synthetic_tasks
from graphrep.eval.probe import probe_over_seeds
from graphrep.eval.retrieval import full_rank_metrics
from graphrep.graph.ragged import Ragged
from graphrep.train.config import EvalConfig

Vectors = Mapping[str, np.ndarray]


def headline_metric(dataset: GraphDataset, cfg: EvalConfig) -> str:
    """The metric the results table shows for this dataset."""
    task = dataset.meta.get("task")
    k = cfg.ks[0]
    if task == "node_classification":
        return "accuracy"
    if task == "link_prediction":
        return str(dataset.meta.get("eval_metric", f"hits@{k}"))
    return f"recall@{k}"


def _vectors(vectors: Vectors, node_type: str) -> np.ndarray:
    if node_type not in vectors:
        raise SchemaError(f"no embeddings of node type {node_type!r}; have {sorted(vectors)}")
    return np.asarray(vectors[node_type], dtype=np.float32)


def node_classification(vectors: Vectors, ds: GraphDataset, seeds: int = 5) -> dict[str, Any]:
    """Linear-probe accuracy (mean ± std over ``seeds``) on the official split."""
    t = ds.truth
    label_type = ds.meta.get("label_type")
    x = _vectors(vectors, label_type)
    y = np.asarray(t["label"]).reshape(len(x), -1)[:, 0]
    res = probe_over_seeds(
        x, y, np.asarray(t["train_idx"]), np.asarray(t["valid_idx"]), np.asarray(t["test_idx"]),
        seeds=tuple(range(seeds)),
    )  # fmt: skip
    return {"accuracy": 100 * res["test_accuracy_mean"], "accuracy_std": 100 * res["test_accuracy_std"],
            "macro_f1": res["macro_f1_mean"]}  # fmt: skip


def link_prediction(vectors: Vectors, ds: GraphDataset) -> dict[str, dict[str, float]]:
    """OGB ``Evaluator`` on dot-product scores of the valid and test edges."""
    name = ds.meta.get("ogb_name")
    if name is None:
        raise ConfigError("link_prediction evaluation needs meta['ogb_name'] (an OGB link dataset)")
    from graphrep.data.ogb import import_ogb

    import_ogb()
    from ogb.linkproppred import Evaluator

    x = _vectors(vectors, ds.meta.get("node_type", ds.graph.node_types[0]))
    evaluator = Evaluator(name)
    out = {}
    for split in ("valid", "test"):
        pos = np.asarray(ds.truth[f"{split}_edges"])
        neg = np.asarray(ds.truth[f"{split}_edges_neg"]).reshape(-1, 2)
        score = lambda e: np.einsum("ij,ij->i", x[e[:, 0]], x[e[:, 1]])  # noqa: E731
        res = evaluator.eval({"y_pred_pos": score(pos), "y_pred_neg": score(neg)})
        out[f"link ({split})"] = {k: float(v) for k, v in res.items()}
    return out


def recommendation(vectors: Vectors, ds: GraphDataset, cfg: EvalConfig) -> dict[str, float]:
    """Full-ranking Recall@k / NDCG@k of every test user over all items, training items excluded."""
    src, rel, dst = ds.graph.canonical_edge_types[0]  # the user -> item relation
    task = pair_task("user→item", ds.truth["test_pairs"], src, dst)
    train = ds.graph.csr((src, rel, dst))
    rows = task.queries
    exclude = Ragged(np.asarray(train.indptr), np.asarray(train.indices, dtype=np.int64)).take(rows)
    q = _vectors(vectors, src)[rows]
    return full_rank_metrics(q, _vectors(vectors, dst), task.relevant, ks=tuple(cfg.ks), exclude=exclude)


def evaluate_dataset(vectors: Vectors, ds: GraphDataset, cfg: EvalConfig) -> dict[str, Any]:
    """The dataset's protocol (see the module docstring)."""
    task = ds.meta.get("task")
    if "heldout_co_engaged" in ds.truth:
        return evaluate(vectors, synthetic_tasks(ds, cfg.user_window), cfg, ds.truth)
    if task == "node_classification":
        return {"tasks": {f"{ds.meta.get('label_type')} classification": node_classification(vectors, ds)}}
    if task == "link_prediction":
        return {"tasks": link_prediction(vectors, ds)}
    if task == "recommendation":
        return {"tasks": {"user→item": recommendation(vectors, ds, cfg)}}
    raise ConfigError(
        f"dataset {ds.meta.get('name')!r} has no evaluation protocol (meta['task'] = {task!r}); "
        "expected the synthetic graph or node_classification / link_prediction / recommendation"
    )
