"""evaluate(): planted embeddings give the metrics they must; collapse detectors see collapse."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import SchemaError
from graphrep.eval.evaluate import collapse_metrics, evaluate
from graphrep.eval.holdout import pair_task
from graphrep.train.config import EvalConfig


def onehot(labels, dim):
    x = np.zeros((len(labels), dim), np.float32)
    x[np.arange(len(labels)), labels] = 1
    return x


def test_perfect_and_useless_embeddings():
    rng = np.random.default_rng(0)
    n = 200
    target = rng.permutation(n)
    pairs = np.stack([np.arange(n), target], 1)
    task = pair_task("a→b", pairs, "a", "b")
    cfg = EvalConfig(ks=[1, 10], num_negatives=50, max_queries=1000)
    perfect = {"a": onehot(np.arange(n), n), "b": onehot(np.argsort(target), n)}
    m = evaluate(perfect, [task], cfg)["tasks"]["a→b"]
    assert m["recall@1"] == 1 and m["mrr"] == 1 and m["sampled_hits@1"] == 1
    useless = {"a": np.ones((n, 4), np.float32), "b": rng.normal(size=(n, 4)).astype(np.float32)}
    m = evaluate(useless, [task], cfg)["tasks"]["a→b"]
    assert m["recall@10"] <= 0.2


def test_missing_type_is_named():
    task = pair_task("a→b", np.array([[0, 1]]), "a", "b")
    with pytest.raises(SchemaError, match="'b'"):
        evaluate({"a": np.ones((2, 2), np.float32)}, [task], EvalConfig())


def test_collapse_metrics_separate_spread_from_collapsed():
    rng = np.random.default_rng(0)
    topics = rng.integers(0, 10, 1000)
    centres = rng.normal(size=(10, 16))
    pins = centres[topics] + 0.1 * rng.normal(size=(1000, 16))
    pins = (pins / np.linalg.norm(pins, axis=1, keepdims=True)).astype(np.float32)
    users = pins[rng.choice(1000, 300)]
    cfg = EvalConfig(max_queries=300)
    good = collapse_metrics({"pin": pins, "user": users}, {"pin_topic": topics}, cfg)
    assert good["pin_topic_purity@10"] > 0.95
    collapsed_users = np.tile(pins[:1], (300, 1))
    bad = collapse_metrics({"pin": pins, "user": collapsed_users}, {"pin_topic": topics}, cfg)
    assert bad["p90_coverage@10"] < good["p90_coverage@10"]
    assert bad["interest_entropy@50"] <= good["interest_entropy@50"] + 1e-6


def test_topic_probe_reads_planted_topics():
    from graphrep.eval.evaluate import topic_probe

    rng = np.random.default_rng(1)
    topics = rng.integers(0, 5, 2000)
    good = (np.eye(5)[topics] + 0.1 * rng.normal(size=(2000, 5))).astype(np.float32)
    noise = rng.normal(size=(2000, 5)).astype(np.float32)
    truth = {"pin_coarse_topic": topics}
    assert topic_probe({"pin": good}, truth, EvalConfig(), num_items=1000) > 0.95
    assert topic_probe({"pin": noise}, truth, EvalConfig(), num_items=1000) < 0.4
