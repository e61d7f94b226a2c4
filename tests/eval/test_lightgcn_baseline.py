"""The LightGCN baseline learns the planted communities of a tiny LightGCN-format dataset:
its validation recall rises, and its test recall beats chance and its own untrained start."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.lightgcn import load_lightgcn
from graphrep.data.splits import carve_validation
from graphrep.errors import ConfigError
from graphrep.eval.lightgcn_baseline import LightGCNConfig, train_lightgcn
from graphrep.eval.protocols import recommendation
from graphrep.train.config import EvalConfig
from tests.planted import write_lightgcn


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = write_lightgcn(tmp_path_factory.mktemp("data") / "tiny")
    return carve_validation(load_lightgcn(root, name="tiny"), 0.1, 0)


def test_training_beats_chance_and_the_untrained_model(planted):
    cfg = dict(dim=16, batch_size=128, num_negatives=64, lr=0.01)
    history: list = []
    trained = train_lightgcn(planted, LightGCNConfig(epochs=15, patience=2, **cfg), history=history)
    start: list = []
    untrained = train_lightgcn(planted, LightGCNConfig(epochs=1, **{**cfg, "lr": 1e-9}), history=start)
    ev = EvalConfig(ks=[20])
    got = recommendation(trained, planted, ev)["recall@20"]
    base = recommendation(untrained, planted, ev)["recall@20"]
    assert got > 20 / 90 + 0.3 and got > base + 0.2, (got, base)
    # validation: rises well above the untrained model's, then early stopping ends the run
    vals = [r["val_recall"] for r in history]
    assert max(vals) > start[0]["val_recall"] + 0.3, (vals, start)
    assert len(history) < 15 and history[-1]["loss"] < history[0]["loss"]
    assert trained["user"].shape == (120, 16)
    np.testing.assert_allclose(np.linalg.norm(trained["item"], axis=1), 1.0, rtol=1e-5)


def test_bad_config_is_named():
    with pytest.raises(ConfigError, match=r"LightGCNConfig\.lr"):
        LightGCNConfig(lr=0.0)
