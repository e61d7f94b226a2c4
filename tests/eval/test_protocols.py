"""Dataset protocols: recommendation excludes training items, link prediction uses OGB's
Evaluator on dot products, node classification probes the official split."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.eval.protocols import evaluate_dataset, headline_metric
from graphrep.graph.heterograph import HeteroGraph
from graphrep.train.config import EvalConfig


def recsys():
    # user 0 trained on items 0, 1; tests on item 2. user 1 trained on 3; tests on 4.
    g = HeteroGraph.from_edges({"user": 2, "item": 5},
                               {("user", "interacted", "item"): ([0, 0, 1], [0, 1, 3])})  # fmt: skip
    truth = {"test_pairs": np.array([[0, 2], [1, 4]])}
    return GraphDataset(g, None, truth, {"name": "toy", "task": "recommendation"})


def test_recommendation_excludes_training_items():
    ds = recsys()
    items = np.eye(5, dtype=np.float32)
    # user 0 scores its training items highest, then item 2: with exclusion item 2 ranks first
    users = np.array([[1, 1, 0.5, 0, 0], [0, 0, 0, 1, 0.5]], dtype=np.float32)
    m = evaluate_dataset({"user": users, "item": items}, ds, EvalConfig(ks=[1]))
    assert m["tasks"]["user→item"]["recall@1"] == 1.0
    assert headline_metric(ds, EvalConfig(ks=[20])) == "recall@20"


def test_recommendation_excludes_carved_validation_items():
    ds = recsys()
    # item 1 was carved out of user 0's training items as validation: still known, not ranked
    g = HeteroGraph.from_edges({"user": 2, "item": 5},
                               {("user", "interacted", "item"): ([0, 1], [0, 3])})  # fmt: skip
    carved = GraphDataset(g, None, {**ds.truth, "val_pairs": np.array([[0, 1]])}, ds.meta)
    items = np.eye(5, dtype=np.float32)
    users = np.array([[1, 1, 0.5, 0, 0], [0, 0, 0, 1, 0.5]], dtype=np.float32)
    assert evaluate_dataset({"user": users, "item": items}, carved, EvalConfig(ks=[1]))[
        "tasks"]["user→item"]["recall@1"] == 1.0
    uncarved = GraphDataset(g, None, ds.truth, ds.meta)  # item 1 would outrank item 2
    assert evaluate_dataset({"user": users, "item": items}, uncarved, EvalConfig(ks=[1]))[
        "tasks"]["user→item"]["recall@1"] == 0.5


def test_link_prediction_uses_ogb_evaluator():
    g = HeteroGraph.from_edges({"node": 4}, {("node", "to", "node"): ([0, 1], [1, 0])})
    truth = {
        "valid_edges": np.array([[0, 1]]), "valid_edges_neg": np.array([[2, 3]] * 30),
        "test_edges": np.array([[2, 3]]), "test_edges_neg": np.array([[0, 1]] * 30),
    }  # fmt: skip
    ds = GraphDataset(g, None, truth, {"name": "ogbl-ddi", "task": "link_prediction",
                                       "ogb_name": "ogbl-ddi", "node_type": "node"})  # fmt: skip
    x = np.array([[1, 0], [1, 0], [0, 0.1], [0, 0.1]], dtype=np.float32)
    m = evaluate_dataset({"node": x}, ds, EvalConfig(ks=[20]))["tasks"]
    assert m["link (valid)"]["hits@20"] == 1.0  # positive 1.0 beats every negative 0.01
    assert m["link (test)"]["hits@20"] == 0.0
    assert headline_metric(ds, EvalConfig(ks=[20])) == "hits@20"
    # a trained head (edges -> scores) replaces the frozen one: here it reverses the dot
    def head(e):
        return -np.einsum("ij,ij->i", x[e[:, 0]], x[e[:, 1]])

    m = evaluate_dataset({"node": x}, ds, EvalConfig(ks=[20], link_head=True), head)["tasks"]
    assert m["link head (valid)"]["hits@20"] == 0.0 and m["link head (test)"]["hits@20"] == 1.0
    assert m["link (valid)"]["hits@20"] == 1.0  # the dot product is still reported


def test_node_classification_probe():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x = (np.eye(3)[y] * 3 + rng.normal(size=(n, 3))).astype(np.float32)
    g = HeteroGraph.from_edges({"paper": n}, {("paper", "cites", "paper"): ([0], [1])})
    truth = {"label": y, "train_idx": np.arange(0, 100), "valid_idx": np.arange(100, 150),
             "test_idx": np.arange(150, 300)}  # fmt: skip
    ds = GraphDataset(g, None, truth, {"name": "toy", "task": "node_classification",
                                       "label_type": "paper"})  # fmt: skip
    m = evaluate_dataset({"paper": x}, ds, EvalConfig())["tasks"]["paper classification"]
    assert m["accuracy"] > 90 and m["accuracy_std"] >= 0


def test_unknown_task_is_refused():
    ds = recsys()
    ds.meta["task"] = None
    with pytest.raises(ConfigError, match="no evaluation protocol"):
        evaluate_dataset({}, ds, EvalConfig())
