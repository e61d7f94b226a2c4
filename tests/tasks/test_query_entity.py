"""QueryEntityTask: click pairs, per-pin cap, mixed popularity negatives with logQ, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.models import OmniSage
from graphrep.tasks import InputBuilder, NeighborConfig, QueryEntityTask, default_samplers

QUOTAS = {"pin": {"pin": 6, "board": 3}, "query": {"pin": 6, "query": 3}}
SMALL = {
    "dim": 16, "num_heads": 2, "mlp_hidden": 32, "id_buckets": 256, "text_buckets": 512,
    "feature_head_hidden": 32, "sequence": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def env():
    g = generate("tiny", 0).graph
    cfg = NeighborConfig(quotas=QUOTAS, num_walks=16)
    return g, InputBuilder(g, default_samplers(g, cfg), max_tokens=8)


def test_defaults_and_pairs_are_clicks(env):
    g, b = env
    task = QueryEntityTask(b, batch_size=20, num_random_negatives=10, seed=0)
    assert task.name == "query_entity"
    assert (task.src_type, task.dst_type) == ("query", "pin")
    assert task.negatives == "mixed" and task.random.kind == "popularity"
    assert task.loss_specs() == {
        "query_entity": {"negatives": "mixed", "logq": True, "init_temperature": 0.07}
    }
    batch = task.sample(0)
    assert set(batch.nodes.seeds) == {"query", "pin"}
    pins = torch.cat([batch.dst_ids, batch.neg_ids])
    assert torch.equal(batch.nodes.seed_ids("pin"), torch.unique(pins))
    csr = g.csr(("query", "clicked", "pin"))
    for q, p in zip(batch.src_ids.tolist(), batch.dst_ids.tolist(), strict=True):
        assert p in csr.neighbors(q).tolist()
    # popularity negatives: q proportional to (degree + 1) ** 0.75, exact log q
    w = (g.degree("pin") + 1.0) ** 0.75
    want = np.log(w / w.sum())[batch.neg_ids.numpy()]
    np.testing.assert_allclose(batch.log_q_neg.numpy(), want, rtol=1e-5)


def test_popularity_negatives_follow_degree(env):
    g, b = env
    task = QueryEntityTask(b, batch_size=4, num_random_negatives=2000, seed=1)
    neg = task.sample(0).neg_ids.numpy()
    deg = g.degree("pin")
    top = deg >= np.quantile(deg, 0.9)
    w = (deg + 1.0) ** 0.75
    share = w[top].sum() / w.sum()
    observed = top[neg].mean()
    assert abs(observed - share) < 4 * math.sqrt(share * (1 - share) / 2000)


def test_cap_per_pin(env):
    g, b = env
    task = QueryEntityTask(b, max_per_dst=1, batch_size=64, seed=0)
    pool = task.pairs.epoch_edges(0)
    dst = g.csr(("query", "clicked", "pin")).indices[pool]
    assert np.bincount(dst).max() == 1
    batch = task.sample(0)
    # with one pair per pin every positive has the same prior
    np.testing.assert_allclose(batch.log_q_pos.numpy(), -math.log(len(pool)), rtol=1e-5)
    # the capped subset is redrawn each epoch (epoch = step // ceil(pool / batch))
    per_epoch = -(-task.pairs.num_edges // 64)
    assert task._epoch(per_epoch) == 1
    assert not np.array_equal(task.pairs.epoch_edges(1), pool)


def test_loss_decreases(env):
    _, b = env
    task = QueryEntityTask(b, batch_size=16, num_random_negatives=16, seed=0)
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, node_types=["query", "pin"], **SMALL)
    task.attach(m)
    batches = [task.sample(s) for s in range(2)]
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for i in range(40):
        loss, _ = task.loss(m, batches[i % 2])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses
