"""MultiTask: weight validation, weighted sum, skipped tasks, gradients reach every parameter."""

from __future__ import annotations

import math

import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.models import OmniSage
from graphrep.tasks import (
    EntityEntityTask,
    EntityFeatureTask,
    InputBuilder,
    MultiTask,
    NeighborConfig,
    QueryEntityTask,
    UserEntityTask,
    default_samplers,
)

QUOTAS = {
    "pin": {"pin": 6, "board": 3},
    "board": {"pin": 6, "board": 3},
    "user": {"pin": 6},
    "query": {"pin": 6, "query": 3},
}
SMALL = {
    "dim": 16, "num_heads": 2, "mlp_hidden": 32, "id_buckets": 256, "text_buckets": 512,
    "feature_head_hidden": 32, "sequence_kwargs": {"max_len": 8, "num_layers": 1, "num_heads": 2},
}  # fmt: skip


@pytest.fixture(scope="module")
def env():
    ds = generate("tiny", 0)
    b = InputBuilder(ds.graph, default_samplers(ds.graph, NeighborConfig(quotas=QUOTAS, num_walks=16)))
    cut = ds.meta["cut_time"]
    tasks = {
        "pin_pin": EntityEntityTask(b, "co_engaged", batch_size=12, num_random_negatives=8, seed=1),
        "board_pin": EntityEntityTask(b, "contains", batch_size=12, num_random_negatives=8, seed=2),
        "user_pin": EntityEntityTask(b, "engaged", batch_size=12, num_random_negatives=8, seed=3),
        "feature": EntityFeatureTask(b, ["pin", "board", "query"], batch_size=12, seed=4),
        "sequence": UserEntityTask(
            b, ds.events, cut, max_len=8, future_window=86400, num_positions=2, batch_size=6,
            num_random_negatives=8, seed=5,
        ),
        "query": QueryEntityTask(b, batch_size=12, num_random_negatives=8, seed=6),
    }  # fmt: skip
    return ds, b, tasks


def model(ds, b) -> OmniSage:
    torch.manual_seed(0)
    return OmniSage.from_builder(b, ds.events, **SMALL)


def test_weight_validation(env):
    _, _, tasks = env
    t = tasks["pin_pin"]
    for bad in (-1.0, math.nan, math.inf, True, "1"):
        with pytest.raises(ConfigError, match="weight of task 'a'"):
            MultiTask({"a": (t, bad)})
    with pytest.raises(ConfigError, match="positive weight"):
        MultiTask({"a": (t, 0.0)})
    with pytest.raises(ConfigError, match="non-empty"):
        MultiTask({})
    with pytest.raises(ConfigError, match="no sample"):
        MultiTask({"a": object()})
    with pytest.raises(ConfigError, match="both use the loss module 'co_engaged'"):
        MultiTask({"a": t, "b": t})
    mt = MultiTask({"a": t, "b": (tasks["feature"], 0.5)})
    assert mt.weights == {"a": 1.0, "b": 0.5}
    with pytest.raises(ConfigError, match=r"unknown tasks \['c'\]"):
        mt.set_weights({"c": 1.0})
    with pytest.raises(ConfigError, match="weight of task 'b'"):
        mt.set_weights({"b": -0.1})
    with pytest.raises(ConfigError, match="positive weight"):
        mt.set_weights({"a": 0, "b": 0})
    mt.set_weights({"b": 2})
    assert mt.weights == {"a": 1.0, "b": 2.0}


def test_total_is_the_weighted_sum(env):
    ds, b, tasks = env
    mt = MultiTask({"pin_pin": (tasks["pin_pin"], 0.3), "feature": (tasks["feature"], 2.0)})
    m = model(ds, b)
    mt.attach(m)
    batches = MultiTask.to(mt.sample(0), "cpu")
    total, metrics = mt.loss(m, batches)
    a, _ = tasks["pin_pin"].loss(m, tasks["pin_pin"].sample(0))  # each task on its own
    f, _ = tasks["feature"].loss(m, tasks["feature"].sample(0))
    torch.testing.assert_close(total, 0.3 * a + 2.0 * f)
    assert metrics["loss"] == pytest.approx(float(total.detach()), rel=1e-6)
    assert metrics["pin_pin/loss"] == pytest.approx(float(a.detach()), rel=1e-6)
    assert metrics["feature/weight"] == 2.0 and "feature/pin_accuracy" in metrics


def test_zero_weight_tasks_are_skipped(env):
    ds, b, tasks = env
    mt = MultiTask({"pin_pin": tasks["pin_pin"], "query": (tasks["query"], 0.0)})
    assert mt.active == ["pin_pin"]
    batches = mt.sample(3)
    assert set(batches) == {"pin_pin"}
    m = model(ds, b)
    mt.attach(m)
    _, metrics = mt.loss(m, batches)
    assert not any(k.startswith("query/") for k in metrics)
    with pytest.raises(ConfigError, match="no batch for active tasks"):
        mt.loss(m, {})
    with pytest.raises(ConfigError, match="unknown tasks"):
        mt.loss(m, {**batches, "other": batches["pin_pin"]})


def test_shared_step_equals_separate_steps(env):
    """One pooled encoding of every task's nodes: the same loss and gradients as encoding
    each task's nodes separately (its own neighbourhoods, features and forward)."""
    ds, b, tasks = env
    m = model(ds, b)
    shared, plain = MultiTask(tasks), MultiTask(tasks, share_inputs=False)
    shared.attach(m)
    batches = shared.sample(3)
    assert batches.nodes is not None and plain.sample(3).nodes is None
    # each distinct node once: fewer encoded rows than the tasks' own pools together
    own = sum(len(s) for t in tasks.values() for s in t.sample(3).nodes.seeds.values())
    assert sum(len(s) for s in batches.nodes.seeds.values()) < own
    grads = []
    for mt, step in ((shared, batches), (plain, plain.sample(3))):
        m.zero_grad()
        loss, metrics = mt.loss(m, step)
        loss.backward()
        grads.append((loss.detach(), metrics, {n: p.grad.clone() for n, p in m.named_parameters()
                                               if p.grad is not None}))  # fmt: skip
    (l1, m1, g1), (l2, m2, g2) = grads
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-6)
    for k in m1:
        assert m1[k] == pytest.approx(m2[k], rel=1e-4, abs=1e-5), k
    assert g1.keys() == g2.keys()
    for n in g1:
        torch.testing.assert_close(g1[n].to_dense(), g2[n].to_dense(), rtol=1e-4, atol=1e-6, msg=n)


def test_shared_negatives_switch(env):
    _, _, tasks = env
    plain = MultiTask(tasks).sample(2)
    shared = MultiTask(tasks, share_negatives=True).sample(2)
    # pin_pin and board_pin draw uniform pins: one draw when shared, two otherwise
    assert torch.equal(shared["pin_pin"].neg_ids, shared["board_pin"].neg_ids)
    assert not torch.equal(plain["pin_pin"].neg_ids, plain["board_pin"].neg_ids)
    assert torch.equal(shared["pin_pin"].neg_ids, plain["pin_pin"].neg_ids)  # the first task's
    # the sequence task's popularity negatives follow another distribution: not shared
    assert torch.equal(shared["sequence"].items.node_ids["negatives"],
                       plain["sequence"].items.node_ids["negatives"])  # fmt: skip


def test_sample_is_deterministic(env):
    _, _, tasks = env
    mt = MultiTask(tasks)
    x, y = mt.sample(7), mt.sample(7)
    assert torch.equal(x["pin_pin"].dst_ids, y["pin_pin"].dst_ids)
    assert torch.equal(x["sequence"].seq.targets, y["sequence"].seq.targets)
    assert torch.equal(x["feature"].rows["pin"].ids, y["feature"].rows["pin"].ids)


def test_gradients_reach_every_parameter(env):
    """One multitask step trains every parameter of the model.

    Exclusions: none. Notes on the parameters that could plausibly miss out:
    the entity–feature targets are detached, but the modality projections they
    read still learn through the embedding path; the (featureless) user encoder
    learns through the user–pin edge task; each loss module's temperature
    learns through its own task; neighbor gates/projections/type embeddings of
    every neighbor type learn because every encoded type has sampled neighbors.
    """
    ds, b, tasks = env
    mt = MultiTask({name: (t, 1.0) for name, t in tasks.items()})
    m = model(ds, b)
    mt.attach(m)
    total, _ = mt.loss(m, mt.sample(0))
    assert torch.isfinite(total)
    total.backward()
    excluded: set[str] = set()
    missing = [
        n
        for n, p in m.named_parameters()
        if n not in excluded and (p.grad is None or not bool(p.grad.abs().sum() > 0))
    ]
    assert missing == []
    names = [n for n, _ in m.named_parameters()]
    for part in ("encoders.user.", "encoders.board.", "encoders.query.", "sequence.", "feature_heads.",
                 "losses.query_entity.", "losses.user_entity_next.", "text_embedder."):  # fmt: skip
        assert any(n.startswith(part) or part in n for n in names), part
    assert len(m.losses) == 3 + 3 + 2 + 1  # pairs, feature x3 types, next + future, query
