"""Validation splits carved from the training data (never from the test split).

Model selection and early stopping read a validation set that is held out of the
*training* edges, so nothing is tuned on test data:

* **recommendation** (LightGCN files): each training interaction ``(user, item)`` is
  held out with probability ``fraction``, except that every user keeps at least one
  training item; ``truth["val_pairs"]`` ``[m, 2]``;
* **link prediction** (OGB link datasets): a ``fraction`` of the undirected training
  edges (both directions of a symmetric relation) is held out as
  ``truth["val_edges"]`` ``[m, 2]``, with as many uniformly drawn node pairs that are
  not training edges as ``truth["val_edges_neg"]`` (OGB's protocol: Hits@K of each
  positive against all negatives).

The held-out edges are removed from the graph, so training never sees them; the
split is a pure function of ``(dataset, fraction, seed)``, so ``train``, ``embed``
and ``eval`` rebuild the same training graph.
"""

from __future__ import annotations

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import EdgeType

MAX_NEGATIVES = 100_000


def _relation(ds: GraphDataset) -> EdgeType:
    rel = ds.meta.get("relation")
    if rel is not None:
        return ds.graph.edge_type(tuple(rel) if isinstance(rel, list) else rel)
    if len(ds.graph.canonical_edge_types) != 1:
        raise ConfigError(
            "data.validation: the dataset has several relations and no meta['relation'] "
            "naming the one to hold edges out of"
        )
    return ds.graph.canonical_edge_types[0]


def _without(graph: HeteroGraph, et: EdgeType, keep: np.ndarray) -> HeteroGraph:
    relations = {t: (graph.csr(t).select_edges(keep) if t == et else graph.csr(t))
                 for t in graph.canonical_edge_types}  # fmt: skip
    return HeteroGraph(graph.num_nodes, relations, node_ids=graph.node_ids, features=graph.features)


def _holdout_recommendation(ds: GraphDataset, fraction: float, rng: np.random.Generator) -> GraphDataset:
    et = _relation(ds)
    csr = ds.graph.csr(et)
    src, dst = csr.to_coo()
    held = rng.random(csr.num_edges) < fraction
    # every user keeps its first (in a random order) training item
    order = rng.permutation(csr.num_edges)
    first = np.zeros(csr.num_edges, dtype=bool)
    _, at = np.unique(src[order], return_index=True)
    first[order[at]] = True
    held &= ~first
    truth = dict(ds.truth)
    truth["val_pairs"] = np.stack([src[held], dst[held]], 1).astype(np.int64)
    return GraphDataset(_without(ds.graph, et, ~held), ds.events, truth, dict(ds.meta))


def _holdout_links(ds: GraphDataset, fraction: float, rng: np.random.Generator) -> GraphDataset:
    et = _relation(ds)
    if et[0] != et[2]:
        raise ConfigError(f"data.validation for link prediction needs a relation within one type, got {et}")
    csr = ds.graph.csr(et)
    n = csr.num_src
    src, dst = csr.to_coo()
    src, dst = src.astype(np.int64), dst.astype(np.int64)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    key = lo * n + hi
    pairs = np.unique(key)  # undirected edges (both stored directions share a key)
    chosen = pairs[rng.random(len(pairs)) < fraction]
    held = np.isin(key, chosen)
    val = np.stack([chosen // n, chosen % n], 1)
    num_neg = min(len(val), MAX_NEGATIVES)
    neg = np.zeros((0, 2), dtype=np.int64)
    known = np.unique(key)
    while len(neg) < num_neg:  # rejection: uniform pairs that are not training edges
        cand = rng.integers(0, n, size=(2 * (num_neg - len(neg)) + 16, 2))
        a, b = cand.min(1), cand.max(1)
        ok = (a != b) & ~np.isin(a * n + b, known)
        neg = np.concatenate([neg, cand[ok]])[:num_neg]
    truth = dict(ds.truth)
    truth["val_edges"], truth["val_edges_neg"] = val.astype(np.int64), neg.astype(np.int64)
    return GraphDataset(_without(ds.graph, et, ~held), ds.events, truth, dict(ds.meta))


def carve_validation(dataset: GraphDataset, fraction: float, seed: int = 0) -> GraphDataset:
    """The dataset with a validation split held out of its training edges (module docstring).

    Args:
        dataset: a recommendation or link-prediction dataset (``meta["task"]``).
        fraction: share of training interactions / undirected edges held out, in (0, 1).
        seed: split seed.

    Raises:
        ConfigError: another kind of dataset, or ``fraction`` outside (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"data.validation must be in (0, 1), got {fraction!r}")
    rng = np.random.default_rng([int(seed), 0x5EED])
    task = dataset.meta.get("task")
    if task == "recommendation":
        out = _holdout_recommendation(dataset, fraction, rng)
    elif task == "link_prediction":
        out = _holdout_links(dataset, fraction, rng)
    else:
        raise ConfigError(
            f"data.validation carves validation edges of recommendation or link prediction "
            f"datasets; {dataset.meta.get('name')!r} has task {task!r} (node classification "
            "uses its validation nodes; the synthetic graph has held-out tasks of its own)"
        )
    out.meta["validation"] = {"fraction": fraction, "seed": int(seed)}
    return out
