"""EntityFeatureTask: distinct uniform nodes per type, per-type losses, loss decreases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.models import OmniSage
from graphrep.tasks import EntityFeatureTask, InputBuilder, NeighborConfig, default_samplers

QUOTAS = {
    "pin": {"pin": 6, "board": 3},
    "board": {"pin": 6, "board": 3},
    "user": {"pin": 6},
    "query": {"pin": 6, "query": 3},
}
SMALL = {
    "dim": 16, "num_heads": 2, "mlp_hidden": 32, "id_buckets": 256, "text_buckets": 512,
    "feature_head_hidden": 32, "sequence": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def builder():
    g = generate("tiny", 0).graph
    return InputBuilder(g, default_samplers(g, NeighborConfig(quotas=QUOTAS, num_walks=16)), max_tokens=8)


def make_model(builder, task, **kw) -> OmniSage:
    torch.manual_seed(0)
    m = OmniSage.from_builder(builder, **{**SMALL, **kw})
    task.attach(m)
    return m


def test_batch_distinct_nodes_per_type(builder):
    task = EntityFeatureTask(builder, ["pin", "query"], batch_size=64, seed=1)
    batch = task.sample(0)
    assert list(batch.rows) == ["pin", "query"]
    pins, queries = batch.rows["pin"].ids, batch.rows["query"].ids
    assert pins.shape == (64,) and pins.dtype == torch.long
    assert len(set(pins.tolist())) == 64 and int(pins.max()) < 500
    # only 40 queries: the batch holds each exactly once
    assert sorted(queries.tolist()) == list(range(40))
    # distinct nodes: one encoded row each
    assert len(set(batch.rows["pin"].index.tolist())) == 64


def test_deterministic_per_seed_and_step(builder):
    a = EntityFeatureTask(builder, ["board"], batch_size=16, seed=4)
    b = EntityFeatureTask(builder, ["board"], batch_size=16, seed=4)
    c = EntityFeatureTask(builder, ["board"], batch_size=16, seed=5)
    x, y = a.sample(3), b.sample(3)
    assert torch.equal(x.rows["board"].ids, y.rows["board"].ids)
    sx, sy = x.nodes.seeds["board"], y.nodes.seeds["board"]
    for nt, sl in sx.neighbors.items():
        assert torch.equal(sl.weight, sy.neighbors[nt].weight)
        assert torch.equal(sx.reads[nt][sl.node], sy.reads[nt][sy.neighbors[nt].node])
    assert not torch.equal(x.rows["board"].ids, a.sample(4).rows["board"].ids)
    assert not torch.equal(x.rows["board"].ids, c.sample(3).rows["board"].ids)


def test_draws_are_uniform(builder):
    # each of the 60 boards is in a batch of 15 with probability 1/4
    task = EntityFeatureTask(builder, ["board"], batch_size=15, seed=0)
    rng = np.random.default_rng(0)
    counts = np.zeros(60)
    for step in rng.integers(0, 2**31, size=400):
        counts[task.sample(int(step)).rows["board"].ids.numpy()] += 1
    # binomial(400, 1/4): mean 100, sd ~8.7; max |z| over 60 boards < 4.5 w.h.p.
    assert np.abs(counts - 100).max() < 4.5 * math.sqrt(400 * 0.25 * 0.75)
    assert counts.sum() == 400 * 15


def test_per_type_losses_and_decrease(builder):
    task = EntityFeatureTask(builder, ["pin", "board", "query"], batch_size=16, seed=0)
    m = make_model(builder, task)
    assert {"entity_feature_pin", "entity_feature_board", "entity_feature_query"} <= set(m.losses)
    assert all(not m.get_loss(n).logq for n in task.loss_specs())
    batches = [task.sample(s) for s in range(2)]
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for i in range(30):
        loss, metrics = task.loss(m, batches[i % 2])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    # in-batch softmax over 16 candidates: at initialisation random cosines / 0.07 spread
    # the logits, so the loss starts at or above the uniform log(16), and must fall
    assert math.log(16) - 1.0 < losses[0] < math.log(16) + 4.0
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses
    want = {f"{t}_{k}" for t in ("pin", "board", "query") for k in ("loss", "accuracy", "temperature")}
    assert set(metrics) == want | {"loss"}
    per_type = [metrics[f"{t}_loss"] for t in ("pin", "board", "query")]
    assert metrics["loss"] == pytest.approx(np.mean(per_type), rel=1e-5)


def test_validation(builder):
    with pytest.raises(ConfigError, match="'user' has no features"):
        EntityFeatureTask(builder, ["pin", "user"])
    with pytest.raises(ConfigError, match="duplicates"):
        EntityFeatureTask(builder, ["pin", "pin"])
    with pytest.raises(ConfigError, match="non-empty list"):
        EntityFeatureTask(builder, "pin")
    with pytest.raises(ConfigError, match="batch_size"):
        EntityFeatureTask(builder, ["pin"], batch_size=1)
    task = EntityFeatureTask(builder, ["pin"], batch_size=4)
    ids_only = make_model(builder, task, use_content=False)
    with pytest.raises(ConfigError, match="no entity-feature head"):
        task.loss(ids_only, task.sample(0))
