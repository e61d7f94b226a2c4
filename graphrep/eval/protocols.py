"""Each dataset's own evaluation protocol, on exported embeddings.

Dispatch on ``dataset.meta["task"]`` (set by the loaders in :mod:`graphrep.data`):

* synthetic graph: the held-out retrieval tasks (:mod:`graphrep.eval.holdout`) and
  the collapse detectors;
* ``node_classification`` (Planetoid, ``ogbn-*``): a linear probe on the frozen
  embeddings of ``meta["label_type"]`` over the official split, averaged over
  ``seeds`` (:func:`graphrep.eval.probe.probe_over_seeds`);
* ``link_prediction`` (``ogbl-*``): each valid/test edge and official negative is
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
import scipy.sparse as sp

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError, SchemaError
from graphrep.eval.collapse import random_pair_cosine
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


def link_prediction(
    vectors: Vectors, ds: GraphDataset, cfg: EvalConfig | None = None, head: Any = None
) -> dict[str, dict[str, float]]:
    """OGB ``Evaluator`` on the valid and test edges against the official negatives, scored
    by the dot product of the two ends' embeddings and, with ``cfg.link_head``, by OGB's
    Hadamard-MLP head: ``head`` (``edges [m, 2] -> scores``, the run's jointly trained
    scorer) when given, else one trained on the frozen embeddings
    (:mod:`graphrep.eval.link_head`; its epoch chosen on the validation split carved from
    the training edges, if any)."""
    name = ds.meta.get("ogb_name")
    if name is None:
        raise ConfigError("link_prediction evaluation needs meta['ogb_name'] (an OGB link dataset)")
    from graphrep.data.ogb import import_ogb

    import_ogb()
    from ogb.linkproppred import Evaluator

    x = _vectors(vectors, ds.meta.get("node_type", ds.graph.node_types[0]))
    evaluator = Evaluator(name)
    scorers = {"link": lambda e: np.einsum("ij,ij->i", x[e[:, 0]], x[e[:, 1]])}
    if cfg is not None and cfg.link_head and head is not None:
        scorers["link head"] = head
    elif cfg is not None and cfg.link_head:
        from graphrep.eval.link_head import train_link_head

        src, dst = ds.graph.csr(ds.graph.canonical_edge_types[0]).to_coo()
        keep = src <= dst if ds.meta.get("symmetric") else np.ones(len(src), dtype=bool)
        val = (ds.truth["val_edges"], ds.truth["val_edges_neg"]) if "val_edges" in ds.truth else None
        k = int(str(ds.meta.get("eval_metric", "hits@20")).split("@")[-1])
        frozen, _ = train_link_head(x, np.stack([src[keep], dst[keep]], 1), cfg.head, val, k)
        scorers["link head"] = lambda e: frozen.score(x, e)
    out = {}
    for label, score in scorers.items():
        for split in ("valid", "test"):
            pos = np.asarray(ds.truth[f"{split}_edges"])
            neg = np.asarray(ds.truth[f"{split}_edges_neg"]).reshape(-1, 2)
            res = evaluator.eval({"y_pred_pos": score(pos), "y_pred_neg": score(neg)})
            out[f"{label} ({split})"] = {k: float(v) for k, v in res.items()}
    return out


def recommendation(vectors: Vectors, ds: GraphDataset, cfg: EvalConfig) -> dict[str, float]:
    """Full-ranking Recall@k / NDCG@k of every test user over all items, training items excluded
    (those carved out as ``truth["val_pairs"]`` too: they are training interactions)."""
    src, rel, dst = ds.graph.canonical_edge_types[0]  # the user -> item relation
    task = pair_task("user→item", ds.truth["test_pairs"], src, dst)
    train = ds.graph.csr((src, rel, dst))
    rows = task.queries
    indptr, indices = np.asarray(train.indptr), np.asarray(train.indices, dtype=np.int64)
    if "val_pairs" in ds.truth:
        val = np.asarray(ds.truth["val_pairs"], dtype=np.int64).reshape(-1, 2)
        known = sp.csr_matrix(
            (np.ones(len(indices) + len(val), dtype=np.int8),
             (np.concatenate([np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), val[:, 0]]),
              np.concatenate([indices, val[:, 1]]))),
            shape=(len(indptr) - 1, ds.graph.num_nodes[dst]),
        )  # fmt: skip
        known.sort_indices()
        indptr, indices = known.indptr.astype(np.int64), known.indices.astype(np.int64)
    exclude = Ragged(indptr, indices).take(rows)
    q = _vectors(vectors, src)[rows]
    return full_rank_metrics(q, _vectors(vectors, dst), task.relevant, ks=tuple(cfg.ks), exclude=exclude)


def evaluate_dataset(vectors: Vectors, ds: GraphDataset, cfg: EvalConfig, head: Any = None) -> dict[str, Any]:
    """The dataset's protocol (see the module docstring); ``head`` is a link dataset's
    jointly trained pair scorer (:func:`link_prediction`)."""
    task = ds.meta.get("task")
    if "heldout_co_engaged" in ds.truth:
        return evaluate(vectors, synthetic_tasks(ds, cfg.user_window), cfg, ds.truth)
    if task == "node_classification":
        tasks = {f"{ds.meta.get('label_type')} classification": node_classification(vectors, ds)}
    elif task == "link_prediction":
        tasks = link_prediction(vectors, ds, cfg, head)
    elif task == "recommendation":
        tasks = {"user→item": recommendation(vectors, ds, cfg)}
    else:
        raise ConfigError(
            f"dataset {ds.meta.get('name')!r} has no evaluation protocol (meta['task'] = {task!r}); "
            "expected the synthetic graph or node_classification / link_prediction / recommendation"
        )
    collapse = {}
    for t, v in vectors.items():  # rows of zero norm (e.g. users without history) left out
        v = np.asarray(v, dtype=np.float32)
        v = v[np.linalg.norm(v, axis=1) > 0]
        if len(v) > 1:
            collapse[f"{t} random-pair cosine"] = random_pair_cosine(v, seed=cfg.seed)
    return {"tasks": tasks, "collapse": collapse}

