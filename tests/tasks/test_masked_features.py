"""MaskedFeatureTask (GraphMAE): the scaled cosine error matches a hand computation, masked
nodes lose their own features, and training lowers the loss on a small attributed graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError
from graphrep.graph import HeteroGraph
from graphrep.models import OmniSage
from graphrep.tasks import InputBuilder, MaskedFeatureTask, NeighborConfig, default_samplers
from graphrep.tasks.masked_features import scaled_cosine_error

SMALL = {"dim": 16, "num_heads": 2, "mlp_hidden": 32, "sequence": False, "id_buckets": 64}


def attributed(n=60, d=12, seed=0) -> HeteroGraph:
    """Two communities, features from the community's half of the vocabulary."""
    rng = np.random.default_rng(seed)
    c = np.arange(n) % 2
    x = (rng.random((n, d)) < 0.15).astype(np.float32)
    x[np.arange(n)[:, None], c[:, None] * (d // 2) + rng.integers(0, d // 2, (n, 2))] = 1.0
    src = rng.integers(0, n, 4 * n)
    dst = np.array([rng.choice(np.flatnonzero(c == c[s])) for s in src])
    keep = src != dst
    src, dst = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    return HeteroGraph.from_edges({"paper": n}, {("paper", "cites", "paper"): (src, dst)},
                                  features={"paper": {"x": x}})  # fmt: skip


@pytest.fixture(scope="module")
def builder():
    g = attributed()
    cfg = NeighborConfig(metapaths={"paper": [["cites"]]}, quotas={"paper": {"paper": 5}}, num_walks=16)
    return InputBuilder(g, default_samplers(g, cfg))


def test_scaled_cosine_error_matches_hand_computation():
    pred = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    cos = [1.0, 1 / math.sqrt(2), 0.0]
    for gamma in (1.0, 2.0, 3.0):
        expect = sum((1 - c) ** gamma for c in cos) / 3
        assert float(scaled_cosine_error(pred, target, gamma)) == pytest.approx(expect, rel=1e-6)
    # scale-free in the prediction
    assert float(scaled_cosine_error(5 * pred, target)) == pytest.approx(
        float(scaled_cosine_error(pred, target)), rel=1e-6
    )


def test_masked_rows_lose_own_features_and_targets_are_the_raw_features(builder):
    task = MaskedFeatureTask(builder, ["paper"], batch_size=20, mask_rate=0.5, seed=1)
    b = task.sample(0)
    x = b.inputs["paper"]
    rows = b.rows["paper"]
    assert int(rows.sum()) == 10
    assert len(b) == 20  # the trainer's examples/s counts every node of the batch
    assert torch.equal(x.batch.dense["x"][rows], torch.zeros(10, 12))
    raw = torch.from_numpy(builder.graph.features["paper"]["x"])[x.ids[rows]]
    assert torch.equal(b.targets["paper"], raw)
    again = task.sample(0)
    assert torch.equal(again.rows["paper"], rows) and torch.equal(again.inputs["paper"].ids, x.ids)
    with pytest.raises(ConfigError, match="mask_rate"):
        MaskedFeatureTask(builder, ["paper"], mask_rate=0.0)


def test_training_lowers_the_reconstruction_loss(builder):
    task = MaskedFeatureTask(builder, ["paper"], batch_size=60, gamma=2.0, hidden=32, seed=0)
    torch.manual_seed(0)
    model = OmniSage.from_builder(builder, **SMALL)
    task.attach(model)
    assert "masked_features_paper" in model.heads
    rebuilt = OmniSage.from_hparams(model.hparams)  # the decoder survives a checkpoint
    rebuilt.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = task.sample(0)
    first = float(task.loss(model, batch)[0].detach())
    for _ in range(60):
        loss, _ = task.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(task.loss(model, batch)[0].detach()) < 0.7 * first
