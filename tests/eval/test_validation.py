"""Validators: OGB's Hits@K by hand, recall on the carved split, dispatch by dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from graphrep.data.lightgcn import load_lightgcn
from graphrep.data.ogb import load_ogb
from graphrep.data.splits import carve_validation
from graphrep.errors import ConfigError
from graphrep.eval.holdout import pair_task
from graphrep.eval.retrieval import full_rank_metrics
from graphrep.eval.validation import (
    LinkValidator,
    RecommendationValidator,
    hits_at_k,
    validator_for,
)
from graphrep.graph.ragged import Ragged
from graphrep.tasks import InputBuilder
from graphrep.train.presets import preset
from tests.planted import write_lightgcn, write_ogbl


def test_hits_at_k_by_hand():
    neg = np.array([0.9, 0.1, 0.5, 0.7])
    assert hits_at_k(np.array([0.95, 0.8, 0.6, 0.2]), neg, 2) == pytest.approx(0.5)  # above 0.7
    assert hits_at_k(np.array([0.95]), neg, 1) == 1.0 and hits_at_k(np.array([0.9]), neg, 1) == 0.0
    assert hits_at_k(np.array([0.0]), neg[:1], 5) == 1.0  # fewer negatives than K


class Fixed(nn.Module):
    """A 'model' whose embeddings are a fixed table per node type."""

    def __init__(self, tables):
        super().__init__()
        self.tables = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in tables.items()}
        self.dim = next(iter(self.tables.values())).shape[1]
        self.w = nn.Parameter(torch.zeros(1))

    def embed(self, node_type, inputs):
        return self.tables[node_type][inputs.ids]


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    ds = load_lightgcn(write_lightgcn(tmp_path_factory.mktemp("rec") / "tiny"))
    return carve_validation(ds, 0.2, seed=0)


def test_recommendation_validator_equals_full_rank_recall(rec):
    rng = np.random.default_rng(0)
    tables = {t: rng.standard_normal((n, 8)) for t, n in rec.graph.num_nodes.items()}
    v = RecommendationValidator(rec, k=5)
    score = v(Fixed(tables), InputBuilder(rec.graph))
    task = pair_task("v", rec.truth["val_pairs"], "user", "item")
    train = rec.graph.csr("interacted")
    exclude = Ragged(np.asarray(train.indptr), np.asarray(train.indices, np.int64)).take(task.queries)
    want = full_rank_metrics(tables["user"][task.queries], tables["item"], task.relevant, ks=(5,),
                             exclude=exclude)["recall@5"]  # fmt: skip
    assert score == pytest.approx(want)


def test_link_validator_is_hits_at_k_of_dot_products(tmp_path):
    write_ogbl(tmp_path / "ogb")
    ds = carve_validation(load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "c"), 0.2)
    n = ds.graph.num_nodes["node"]
    x = np.random.default_rng(1).standard_normal((n, 8))
    v = LinkValidator(ds, k=3)
    pos, neg = ds.truth["val_edges"], ds.truth["val_edges_neg"]
    want = hits_at_k((x[pos[:, 0]] * x[pos[:, 1]]).sum(1), (x[neg[:, 0]] * x[neg[:, 1]]).sum(1), 3)
    assert v(Fixed({"node": x}), InputBuilder(ds.graph)) == pytest.approx(want)
    # planted communities: vectors of each node's cluster score the held-out edges well
    clustered = 3 * np.eye(6)[np.arange(n) % 6] + 0.1 * x[:, :6]
    assert v(Fixed({"node": clustered}), InputBuilder(ds.graph)) > want + 0.1


def test_dispatch_and_errors(rec):
    cfg = preset("gowalla")
    assert isinstance(validator_for(cfg, rec), RecommendationValidator)
    bare = type(rec)(rec.graph, None, {}, dict(rec.meta))
    with pytest.raises(ConfigError, match=r"data\.validation"):
        validator_for(cfg, bare)


def test_link_validator_share_of_negatives_and_trained_scorer(tmp_path):
    write_ogbl(tmp_path / "ogb")
    ds = carve_validation(load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "c"), 0.2)
    n = ds.graph.num_nodes["node"]
    x = np.random.default_rng(2).standard_normal((n, 8))
    pos, neg = ds.truth["val_edges"], ds.truth["val_edges_neg"]
    k = round(0.25 * len(neg))
    v = LinkValidator(ds, k=3, share=0.25)
    assert v.k == k and v.metric == f"hits@{k}"
    dot = (x[pos[:, 0]] * x[pos[:, 1]]).sum(1), (x[neg[:, 0]] * x[neg[:, 1]]).sum(1)
    assert v(Fixed({"node": x}), InputBuilder(ds.graph)) == pytest.approx(hits_at_k(*dot, k))

    class Scorer(nn.Module):  # scores a pair by minus the squared distance
        def score(self, a, b):
            return -((a - b) ** 2).sum(-1)

    model = Fixed({"node": x})
    model.get_loss = {"edges": Scorer()}.__getitem__
    h = LinkValidator(ds, k=3, scorer="edges")
    assert h.metric == "hits@3 (head)"
    def dist(e):
        return -((x[e[:, 0]] - x[e[:, 1]]) ** 2).sum(1)

    want = hits_at_k(dist(pos), dist(neg), 3)
    assert h(model, InputBuilder(ds.graph)) == pytest.approx(want)
