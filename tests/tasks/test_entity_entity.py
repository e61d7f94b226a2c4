"""EntityEntityTask: pairs are edges, exact logQ, determinism, self-exclusion, loss decreases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, SchemaError
from graphrep.graph import HeteroGraph
from graphrep.models import OmniSage
from graphrep.samplers.covisit import CoVisitPairSampler
from graphrep.tasks import EntityEntityTask, InputBuilder, NeighborConfig, default_samplers
from graphrep.tasks.negatives import in_batch_accuracy, log_frequency

QUOTAS = {"pin": {"pin": 6, "board": 3}, "board": {"pin": 6, "board": 3}}
SMALL = {
    "dim": 16, "num_heads": 2, "mlp_hidden": 32, "id_buckets": 256, "text_buckets": 512,
    "feature_head_hidden": 32, "sequence": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def env():
    ds = generate("tiny", 0)
    cfg = NeighborConfig(
        metapaths={
            "pin": [["rev_contains", "contains"], ["co_engaged"]],
            "board": [["contains", "rev_contains"]],
        },
        quotas=QUOTAS, num_walks=16, seed=1,
    )  # fmt: skip
    return ds.graph, InputBuilder(ds.graph, default_samplers(ds.graph, cfg), max_tokens=8)


def model_for(builder, task) -> OmniSage:
    torch.manual_seed(0)
    m = OmniSage.from_builder(builder, node_types=["pin", "board"], **SMALL)
    task.attach(m)
    return m


def train(model, task, steps: int, batches) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    out = []
    for i in range(steps):
        loss, _ = task.loss(model, batches[i % len(batches)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(float(loss.detach()))
    return out


def batches_equal(a, b) -> bool:
    if not all(
        torch.equal(x, y)
        for x, y in zip(
            (a.src_ids, a.dst_ids, a.neg_ids, a.log_q_pos, a.log_q_neg),
            (b.src_ids, b.dst_ids, b.neg_ids, b.log_q_pos, b.log_q_neg),
            strict=True,
        )
    ):
        return False
    return nodes_equal(a.nodes, b.nodes)


def nodes_equal(a, b) -> bool:
    """Same seeds, neighbour ids and weights in two NodeBatches."""
    if list(a.seeds) != list(b.seeds):
        return False
    for t, s in a.seeds.items():
        o = b.seeds[t]
        if not torch.equal(a.seed_ids(t), b.seed_ids(t)) or list(s.neighbors) != list(o.neighbors):
            return False
        for nt, sl in s.neighbors.items():
            ids = a.features[nt].ids[s.reads[nt][sl.node]]
            other = b.features[nt].ids[o.reads[nt][o.neighbors[nt].node]]
            if not (torch.equal(ids, other) and torch.equal(sl.weight, o.neighbors[nt].weight)):
                return False
    return True


def test_pin_pin_batch_shapes_and_edges(env):
    g, b = env
    task = EntityEntityTask(b, "co_engaged", batch_size=12, num_random_negatives=5, seed=3)
    assert task.name == "co_engaged" and (task.src_type, task.dst_type) == ("pin", "pin")
    batch = task.sample(0)
    assert len(batch) == 12
    for t, shape, dtype in (
        (batch.src_ids, (12,), torch.long), (batch.dst_ids, (12,), torch.long),
        (batch.neg_ids, (5,), torch.long), (batch.log_q_pos, (12,), torch.float32),
        (batch.log_q_neg, (5,), torch.float32),
    ):  # fmt: skip
        assert tuple(t.shape) == shape and t.dtype == dtype
    # one deduplicated input pass over [src, dst, negatives]
    assert list(batch.nodes.seeds) == ["pin"]
    want = torch.cat([batch.src_ids, batch.dst_ids, batch.neg_ids])
    assert torch.equal(batch.nodes.seed_ids("pin"), torch.unique(want))
    for rows in (batch.src, batch.dst, batch.neg):
        assert torch.equal(batch.nodes.seed_ids("pin")[rows.index], rows.ids)
    csr = g.csr("co_engaged")
    for s, d in zip(batch.src_ids.tolist(), batch.dst_ids.tolist(), strict=True):
        assert d in csr.neighbors(s).tolist()
    np.testing.assert_allclose(batch.log_q_neg.numpy(), -math.log(500), rtol=1e-6)


def test_board_pin_batch_has_two_inputs(env):
    _, b = env
    task = EntityEntityTask(b, "contains", batch_size=8, negatives="in_batch", seed=1)
    batch = task.sample(4)
    assert set(batch.nodes.seeds) == {"board", "pin"}
    assert torch.equal(batch.nodes.seed_ids("board")[batch.src.index], batch.src_ids)
    assert torch.equal(batch.nodes.seed_ids("pin")[batch.dst.index], batch.dst_ids)
    assert batch.neg_ids.numel() == 0


def test_log_q_is_exact_in_degree_share(env):
    g, b = env
    task = EntityEntityTask(b, "contains", batch_size=32, seed=0)
    batch = task.sample(1)
    csr = g.csr("contains")
    indeg = np.bincount(csr.indices, minlength=csr.num_dst)
    want = np.log(indeg[batch.dst_ids.numpy()] / csr.num_edges)
    np.testing.assert_allclose(batch.log_q_pos.numpy(), want, rtol=1e-5)


def test_cap_changes_the_pool_and_log_q(env):
    g, b = env
    task = EntityEntityTask(b, "co_engaged", batch_size=64, max_per_dst=2, seed=0)
    pool = task.pairs.epoch_edges(0)
    dst = g.csr("co_engaged").indices[pool]
    counts = np.bincount(dst, minlength=500)
    assert counts.max() <= 2
    batch = task.sample(0)
    np.testing.assert_allclose(
        batch.log_q_pos.numpy(), np.log(counts[batch.dst_ids.numpy()] / len(pool)), rtol=1e-5
    )


def test_popularity_negatives_carry_their_log_q(env):
    _, b = env
    task = EntityEntityTask(
        b, "contains", random_negatives="popularity", num_random_negatives=50, seed=2
    )
    batch = task.sample(3)
    want = task.random._sampler.log_prob(batch.neg_ids.numpy())
    np.testing.assert_allclose(batch.log_q_neg.numpy(), want, rtol=1e-5)


def test_same_seed_and_step_same_batch(env):
    _, b = env
    make = lambda: EntityEntityTask(b, "co_engaged", batch_size=10, num_random_negatives=4, seed=7)  # noqa: E731
    t1, t2 = make(), make()
    assert batches_equal(t1.sample(5), t2.sample(5))
    assert batches_equal(t1.sample(5), t1.sample(5))
    assert not batches_equal(t1.sample(5), t1.sample(6))


def test_query_node_is_never_its_own_negative():
    # two pins that are each other's only pair: with in-batch negatives every
    # candidate is either the row's positive or the query itself -> loss exactly 0
    g = HeteroGraph.from_edges(
        {"pin": 2}, {("pin", "co", "pin"): ([0, 1], [1, 0])},
        features={"pin": {"image": np.eye(2, dtype=np.float32)}},
    )  # fmt: skip
    b = InputBuilder(g)
    task = EntityEntityTask(b, "co", batch_size=6, negatives="in_batch", seed=0)
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, dim=8, num_heads=2, mlp_hidden=8, sequence=False)
    task.attach(m)
    batch = task.sample(0)
    assert set(batch.src_ids.tolist()) == {0, 1}
    loss, metrics = task.loss(m, batch)
    assert float(loss.detach()) == 0.0 and metrics["accuracy"] == 1.0


@pytest.mark.parametrize(("relation", "negatives"), [("co_engaged", "mixed"), ("contains", "in_batch")])
def test_loss_finite_and_decreases(env, relation, negatives):
    _, b = env
    task = EntityEntityTask(
        b, relation, batch_size=16, negatives=negatives, num_random_negatives=16, seed=0
    )
    m = model_for(b, task)
    assert m.get_loss(relation).negatives == negatives
    batches = [task.sample(s) for s in range(2)]
    losses = train(m, task, 40, batches)
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses
    _, metrics = task.loss(m, batches[0])
    assert set(metrics) == {"loss", "accuracy", "temperature"}
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_covisit_positives(env):
    g, b = env
    cov = CoVisitPairSampler(g, ["rev_contains", "contains"], walk_length=2, seed=0)
    task = EntityEntityTask(b, cov, batch_size=16, num_random_negatives=8, seed=0)
    assert task.name == "covisit_pin"
    batch = task.sample(0)
    assert 0 < len(batch) <= 16
    assert bool((batch.src_ids != batch.dst_ids).all())
    assert torch.isfinite(batch.log_q_pos).all()
    m = model_for(b, task)
    loss, _ = task.loss(m, batch)
    assert torch.isfinite(loss)


def test_loss_needs_attach_and_valid_config(env):
    _, b = env
    task = EntityEntityTask(b, "contains", batch_size=4, seed=0)
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, node_types=["pin", "board"], **SMALL)
    with pytest.raises(ConfigError, match="attach"):
        task.loss(m, task.sample(0))
    with pytest.raises(ConfigError, match="negatives"):
        EntityEntityTask(b, "contains", negatives="hard")
    with pytest.raises(ConfigError, match="num_random_negatives >= 1"):
        EntityEntityTask(b, "contains", num_random_negatives=0)
    with pytest.raises(ConfigError, match="uniform' or 'popularity"):
        EntityEntityTask(b, "contains", random_negatives="hard")
    with pytest.raises(SchemaError):
        EntityEntityTask(b, "follows")


def test_in_batch_accuracy_known_answer():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # rows 0 and 1 win; row 2 (score 0.5) loses to column 0 (score 1)
    assert in_batch_accuracy(q, p, torch.tensor([0, 1, 2]), None) == pytest.approx(2 / 3)
    # column 0 holds row 2's item: not a negative of row 2, which then wins
    assert in_batch_accuracy(q, p, torch.tensor([7, 1, 7]), None) == 1.0
    # excluding id 0 (e.g. the query item) for row 2 has the same effect
    assert in_batch_accuracy(q, p, torch.tensor([0, 1, 2]), torch.tensor([-1, -1, 0])) == 1.0


def test_log_frequency():
    np.testing.assert_allclose(log_frequency(np.array([1, 3, 0])), np.log([0.25, 0.75, 0.25]))


def test_empty_covisit_batch_gives_zero_loss():
    # pin 0 is alone on its board: every walk returns to itself, so no pair is found
    g = HeteroGraph.from_edges(
        {"pin": 2, "board": 1}, {("board", "contains", "pin"): ([0], [0])},
        features={"pin": {"image": np.eye(2, dtype=np.float32)}},
    )  # fmt: skip
    b = InputBuilder(g)
    cov = CoVisitPairSampler(g, ["rev_contains", "contains"], walk_length=2, seed=0)
    task = EntityEntityTask(b, cov, batch_size=4, negatives="in_batch", seed=0)
    batch = task.sample(0)
    assert len(batch) == 0
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, dim=8, num_heads=2, mlp_hidden=8, sequence=False)
    task.attach(m)
    loss, metrics = task.loss(m, batch)
    assert float(loss.detach()) == 0.0 and metrics["loss"] == 0.0
    loss.backward()


def test_bce_negatives_are_uniform_pairs_with_accidental_edges_masked(env):
    g, b = env
    task = EntityEntityTask(b, "co_engaged", batch_size=10, num_random_negatives=400, seed=2, loss="bce")
    assert task.loss_specs()["co_engaged"] == {"kind": "link_bce", "scorer": "dot"}
    batch = task.sample(0)
    rows, neg = batch.neg_src_ids, batch.neg_ids
    assert rows.shape == neg.shape == (400,) and len(set(rows.tolist())) > 200  # not the 10 sources
    # one deduplicated input pass over [src, dst, negative dst, negative src]
    want = torch.cat([batch.src_ids, batch.dst_ids, neg, rows])
    assert set(batch.nodes.seed_ids("pin").tolist()) == set(want.tolist())
    csr = g.csr("co_engaged")
    for s, n, keep in zip(rows.tolist(), neg.tolist(), batch.neg_mask.tolist(), strict=True):
        assert keep == (n != s and n not in csr.neighbors(s).tolist())
    # a pair that is an edge is masked: pair every source with its first neighbour
    src = batch.src_ids.numpy()[:3]
    first = np.array([csr.neighbors(s)[0] for s in src])
    assert not task._negative_mask(src, first).any()


@pytest.mark.parametrize("scorer", ["dot", "hadamard_mlp"])
def test_bce_loss_decreases_and_trains_the_scorer(env, scorer):
    _, b = env
    head = {"hidden": 16, "layers": 2, "dropout": 0.0} if scorer != "dot" else {}
    task = EntityEntityTask(b, "co_engaged", batch_size=16, num_random_negatives=32, seed=0,
                            loss="bce", scorer=scorer, head=head)  # fmt: skip
    m = model_for(b, task)
    module = m.get_loss("co_engaged")
    assert module.scorer == scorer and (module.mlp is not None) == (scorer != "dot")
    assert m.link_scorer() is (module if scorer != "dot" else None)
    before = None if module.mlp is None else module.mlp.lins[0].weight.detach().clone()
    batches = [task.sample(s) for s in range(2)]
    losses = train(m, task, 60, batches)
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-4:]) < 0.85 * np.mean(losses[:4]), losses
    _, metrics = task.loss(m, batches[0])
    assert set(metrics) == {"loss", "accuracy"} and metrics["accuracy"] > 0.7, metrics
    if before is not None:  # the head is trained with the encoders
        assert not torch.equal(before, module.mlp.lins[0].weight)
    # the loss module (and its head) is rebuilt from the model's hparams
    again = OmniSage.from_hparams(m.hparams)
    again.load_state_dict(m.state_dict())
    assert type(again.get_loss("co_engaged")) is type(module)


def test_bce_config_errors(env):
    _, b = env
    with pytest.raises(ConfigError, match="loss must be"):
        EntityEntityTask(b, "co_engaged", loss="hinge")
    with pytest.raises(ConfigError, match="needs loss='bce'"):
        EntityEntityTask(b, "co_engaged", scorer="hadamard_mlp")
    with pytest.raises(ConfigError, match="random negatives"):
        EntityEntityTask(b, "co_engaged", loss="bce", negatives="in_batch")


def test_bce_across_types_draws_negative_sources_of_the_source_type(env):
    g, b = env
    task = EntityEntityTask(b, "contains", batch_size=8, num_random_negatives=50, seed=0, loss="bce")
    batch = task.sample(1)
    boards = torch.cat([batch.src_ids, batch.neg_src_ids]).tolist()
    assert set(batch.nodes.seed_ids("board").tolist()) == set(boards)
    pins = torch.cat([batch.dst_ids, batch.neg_ids]).tolist()
    assert set(batch.nodes.seed_ids("pin").tolist()) == set(pins)
    assert int(batch.neg_src_ids.max()) < g.num_nodes["board"]
    m = model_for(b, task)
    loss, metrics = task.loss(m, batch)
    assert torch.isfinite(loss) and 0.0 <= metrics["accuracy"] <= 1.0
