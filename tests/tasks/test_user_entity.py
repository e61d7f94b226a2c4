"""UserEntityTask: no leakage past the cut, hides never positives, item table, logQ, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.graph import HeteroGraph
from graphrep.graph.eventlog import EventLog
from graphrep.models import OmniSage
from graphrep.tasks import InputBuilder, NeighborConfig, UserEntityTask, default_samplers

ACTIONS = ("click", "save", "closeup", "hide")
CUT = 100
SMALL = {
    "dim": 16, "num_heads": 2, "mlp_hidden": 32, "id_buckets": 256, "text_buckets": 512,
    "feature_head_hidden": 32, "sequence_kwargs": {"max_len": 12, "num_layers": 1, "num_heads": 2},
}  # fmt: skip


def planted_log() -> EventLog:
    """6 users x 20 events, 10 s apart. Before the cut: items 0..8, and every 4th
    event a *hide* of item 9. From the cut on: items 10..19 only."""
    users, items, ts, actions = [], [], [], []
    for u in range(6):
        for k in range(20):
            t = 10 * k + u
            users.append(u)
            ts.append(t)
            if t >= CUT:
                items.append(10 + (u + k) % 10)
                actions.append(k % 3)
            elif k % 4 == 3:
                items.append(9)
                actions.append(3)
            else:
                items.append((u + k) % 9)
                actions.append(k % 3)
    return EventLog.from_arrays(
        users, items, ts, num_users=6, action=actions, action_names=ACTIONS,
        surface=[k % 2 for k in range(len(users))], surface_names=("home", "search"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def planted():
    g = HeteroGraph.from_edges(
        {"pin": 20, "user": 6}, {("user", "engaged", "pin"): ([0, 1, 2], [0, 1, 2])},
        features={"pin": {"image": np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)}},
    )  # fmt: skip
    return InputBuilder(g), planted_log()


@pytest.fixture(scope="module")
def tiny():
    ds = generate("tiny", 0)
    quotas = {"pin": {"pin": 6, "board": 3}}
    cfg = NeighborConfig(quotas=quotas, num_walks=16, metapaths={"pin": [["rev_contains", "contains"]]})
    return ds, InputBuilder(ds.graph, default_samplers(ds.graph, cfg), max_tokens=8)


def test_no_leakage_and_hides_are_never_positives(planted):
    b, ev = planted
    task = UserEntityTask(
        b, ev, CUT, max_len=8, future_window=40, num_positions=3, batch_size=6,
        num_random_negatives=4, seed=0,
    )  # fmt: skip
    for step in range(5):
        batch = task.sample(step)
        s = batch.seq
        assert bool((s.timestamp[s.mask] < CUT).all())
        assert int(s.items[s.mask].max()) < 10  # nothing from the future window
        assert bool((s.items[s.mask] == 9).any())  # hides stay in the history ...
        nxt = s.next_item[batch.next_mask]
        tgt = s.targets[s.target_mask]
        assert len(nxt) > 0 and len(tgt) > 0
        assert int(nxt.max()) < 9 and int(tgt.max()) < 9  # ... but are never positives
        # a next positive is the following history column, whose action is not a hide
        cols = batch.next_mask.nonzero()
        assert torch.equal(s.items[cols[:, 0], cols[:, 1] + 1], nxt)
        assert bool((s.action[cols[:, 0], cols[:, 1] + 1] != 3).all())
        assert torch.equal(batch.query_time, torch.full((6,), CUT))


def test_targets_come_from_the_future_window_before_the_cut(tiny):
    ds, b = tiny
    ev, cut, window = ds.events, ds.meta["cut_time"], 2 * 86400
    task = UserEntityTask(b, ev, cut, max_len=16, future_window=window, num_positions=4, batch_size=16)
    batch = task.sample(0)
    s = batch.seq
    hide = ev.action_names.index("hide")
    for r, p in s.target_mask.nonzero().tolist():
        u, t0 = int(s.users[r]), int(s.timestamp[r, s.positions[r, p]])
        lo, hi = ev.user_offsets[u], ev.user_offsets[u + 1]
        t, item, act = ev.timestamp[lo:hi], ev.item[lo:hi], ev.action[lo:hi]
        ok = (t > t0) & (t <= t0 + window) & (t < cut) & (item == int(s.targets[r, p])) & (act != hide)
        assert ok.any(), (u, t0, int(s.targets[r, p]))


def test_batch_layout_and_item_table(tiny):
    ds, b = tiny
    task = UserEntityTask(
        b, ds.events, ds.meta["cut_time"], max_len=10, num_positions=3, batch_size=8,
        num_random_negatives=12,
    )  # fmt: skip
    batch = task.sample(1)
    idx, ids = batch.items.index, batch.items.node_ids
    assert idx["history"].shape == (8, 10) and idx["next"].shape == (8, 10)
    assert idx["targets"].shape == (8, 3) and idx["negatives"].shape == (12,)
    assert batch.log_q_next.shape == (8, 10) and batch.log_q_targets.shape == (8, 3)
    assert batch.log_q_neg.shape == (12,) and batch.log_q_neg.dtype == torch.float32
    assert len(set(batch.seq.users.tolist())) == 8
    # table rows are the (type, id) items: ids agree, equal items share a row
    assert batch.items.types == ["pin"]
    table_ids = batch.nodes.seed_ids("pin")
    for name in ("history", "next", "targets", "negatives"):
        assert torch.equal(table_ids[idx[name]], ids[name])
    assert torch.equal(ids["history"], batch.seq.items)
    assert len(set(table_ids.tolist())) == len(table_ids)
    # logQ = log frequency among positive events before the cut (popularity negatives too)
    ev, cut = ds.events, ds.meta["cut_time"]
    keep = (ev.timestamp < cut) & (ev.action != ev.action_names.index("hide"))
    counts = np.bincount(ev.item[keep], minlength=500)
    nm = batch.next_mask
    want = np.log(np.maximum(counts[batch.seq.next_item[nm].numpy()], 1) / keep.sum())
    np.testing.assert_allclose(batch.log_q_next[nm].numpy(), want, rtol=1e-5)
    neg_want = task.random._sampler.log_prob(ids["negatives"].numpy())
    np.testing.assert_allclose(batch.log_q_neg.numpy(), neg_want, rtol=1e-5)


def test_deterministic(tiny):
    ds, b = tiny
    make = lambda: UserEntityTask(b, ds.events, ds.meta["cut_time"], max_len=8, seed=3)  # noqa: E731
    x, y, z = make().sample(2), make().sample(2), make().sample(3)
    for f in ("users", "items", "positions", "targets", "target_mask"):
        assert torch.equal(getattr(x.seq, f), getattr(y.seq, f))
    for k in x.items.index:
        assert torch.equal(x.items.index[k], y.items.index[k])
    assert not torch.equal(x.seq.users, z.seq.users)


def test_loss_finite_and_decreases(tiny):
    ds, b = tiny
    task = UserEntityTask(
        b, ds.events, ds.meta["cut_time"], max_len=12, future_window=86400, num_positions=4,
        batch_size=8, num_random_negatives=16, seed=0,
    )  # fmt: skip
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, ds.events, node_types=["pin"], **SMALL)
    task.attach(m)
    assert set(m.losses) == {"user_entity_next", "user_entity_future"}
    batches = [task.sample(s) for s in range(2)]
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for i in range(40):
        loss, metrics = task.loss(m, batches[i % 2])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses
    assert metrics["loss"] == pytest.approx(metrics["next_loss"] + metrics["future_loss"], rel=1e-5)
    assert metrics["next_rows"] > 0 and metrics["future_rows"] > 0
    # gradients of the sequence task reach the item (pin) encoder
    loss, _ = task.loss(m, batches[0])
    m.zero_grad()
    loss.backward()
    assert m.encoders["pin"].cls.grad.abs().sum() > 0


def test_weights_and_in_batch_mode(planted):
    b, ev = planted
    task = UserEntityTask(
        b, ev, CUT, max_len=8, future_window=40, batch_size=6, negatives="in_batch",
        next_weight=0.0, future_weight=2.0,
    )  # fmt: skip
    batch = task.sample(0)
    assert batch.items.index["negatives"].numel() == 0
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, ev, node_types=["pin"], **SMALL)
    task.attach(m)
    loss, metrics = task.loss(m, batch)
    assert float(loss.detach()) == pytest.approx(2.0 * metrics["future_loss"], rel=1e-5)


def test_validation(planted):
    b, ev = planted
    with pytest.raises(ConfigError, match="no user has >= 50 events"):
        UserEntityTask(b, ev, CUT, min_events=50)
    with pytest.raises(ConfigError, match="negatives"):
        UserEntityTask(b, ev, CUT, negatives="random")
    two = EventLog.from_arrays(
        [0, 0], [1, 2], [1, 2], num_users=1, item_type=[0, 1], item_types=("pin", "user")
    )
    with pytest.raises(ConfigError, match="negative_type"):
        UserEntityTask(b, two, 10, min_events=1)
    shop = EventLog.from_arrays([0], [1], [1], num_users=1, item_types=("shop",))
    with pytest.raises(ConfigError, match="'shop' is not a node type"):
        UserEntityTask(b, shop, 10, min_events=1)
    task = UserEntityTask(b, ev, CUT, max_len=8, batch_size=2)
    torch.manual_seed(0)
    no_seq = OmniSage.from_builder(b, ev, node_types=["pin"], **{**SMALL, "sequence": False})
    task.attach(no_seq)
    with pytest.raises(ConfigError, match="sequence=False"):
        task.loss(no_seq, task.sample(0))
