"""Baselines: each ablation changes exactly its switch; popularity ranks by training degree."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.eval.baselines import BASELINES, baseline_config, popularity_vectors
from graphrep.eval.evaluate import evaluate_task
from graphrep.eval.holdout import pair_task
from graphrep.train.presets import preset


def weights(cfg):
    return {s.name: s.weight for s in cfg.tasks.specs}


def test_ablation_configs():
    cfg = preset("tiny")
    full = weights(cfg)
    nn = baseline_config(cfg, "no_neighbors")
    assert nn.model.use_neighbors is False and weights(nn) == full and nn.name == "no_neighbors"
    ns = baseline_config(cfg, "no_sequence")
    assert ns.model.sequence is False and weights(ns) == {**full, "sequence": 0.0}
    nc = baseline_config(cfg, "no_content")
    assert nc.model.use_content is False and weights(nc) == {**full, "feature": 0.0}
    co = baseline_config(cfg, "content_only")
    assert (co.model.use_neighbors, co.model.sequence) == (False, False)
    ps = baseline_config(cfg, "pinsage_only")
    assert ps.model.encoder == "pinsage" and ps.model.sequence is False
    assert weights(ps) == {**full, "sequence": 0.0, "feature": 0.0}
    # the ablations keep learned pin norms; PinSage and MF (no entity encoder) cannot have them
    normed = cfg.update({"model": {"norm_types": ["pin"]}})
    assert baseline_config(normed, "no_sequence").model.norm_types == ["pin"]
    assert baseline_config(normed, "pinsage_only").model.norm_types == []
    assert baseline_config(normed, "mf").model.norm_types == []
    # everything else is the run's own config
    assert ns.train == cfg.train and ns.sampling == cfg.sampling
    with pytest.raises(ConfigError, match="not a trained baseline"):
        baseline_config(cfg, "popularity")
    assert set(BASELINES) >= {"popularity", "node2vec", "content_only", "pinsage_only"}


def test_popularity_ranks_by_training_degree():
    ds = generate("tiny", 0)
    vec = popularity_vectors(ds)
    g = ds.graph
    deg = np.zeros(g.num_nodes["pin"])
    for rel in ("contains", "engaged", "clicked", "co_engaged"):
        src = next(et for et in g.canonical_edge_types if et[1] == rel)[0]
        deg += np.bincount(g.csr((src, rel, "pin")).indices, minlength=g.num_nodes["pin"])
    np.testing.assert_allclose(vec["pin"][:, 0], np.log1p(deg), rtol=1e-6)
    assert vec["user"].shape == (g.num_nodes["user"], 1)
    # every query retrieves the same most popular pins
    top = np.argsort(-deg, kind="stable")[:10]
    task = pair_task("t", np.stack([np.zeros(10, int), top], 1), "board", "pin")
    cfg = preset("tiny").eval
    m = evaluate_task(vec, task, cfg)
    assert m["recall@10"] >= 0.9  # ties at the 10th place may swap one item


def test_propagated_baseline_beats_raw_features_on_a_planted_citation_graph(tmp_path):
    from graphrep.data.planetoid import load_planetoid
    from graphrep.eval.baselines import baseline_vectors, default_baselines
    from graphrep.eval.protocols import node_classification
    from tests.planted import write_planetoid

    root = write_planetoid(tmp_path / "data", features=1000)  # few class words, much noise
    ds = load_planetoid("Cora", root, cache_dir=tmp_path / "cache")
    assert "propagated" in default_baselines(ds)
    cfg = preset("cora")
    vec = baseline_vectors("propagated", cfg, ds, tmp_path / "runs")
    x = ds.graph.features["paper"]["x"]
    assert vec["paper"].shape == x.shape and "x@ppr" not in ds.graph.features["paper"]
    smoothed = node_classification(vec, ds, seeds=1)["accuracy"]
    raw = node_classification({"paper": x}, ds, seeds=1)["accuracy"]
    assert smoothed > raw + 5, (smoothed, raw)  # citations stay within a class


def test_default_baselines_leave_out_trained_ones_without_a_task(tmp_path):
    from graphrep.data.planetoid import load_planetoid
    from graphrep.eval.baselines import default_baselines
    from tests.planted import write_planetoid

    ds = load_planetoid("Cora", write_planetoid(tmp_path / "data"), cache_dir=tmp_path / "cache")
    cfg = preset("cora")  # self-supervised feature tasks only: mf / no_content keep no task
    assert {"mf", "no_content"} <= set(default_baselines(ds))
    chosen = default_baselines(ds, cfg)
    assert "mf" not in chosen and "no_content" not in chosen
    assert {"propagated", "node2vec", "no_neighbors", "content_only"} <= set(chosen)
