"""NodeBatch: padded <-> flat round trip, distinct rows read once give the padded result,
OmniSage.encode equals the encoders' padded forward, consistency checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ShapeError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models import OmniSage
from graphrep.models.features import FeatureSchema, NodeFeaturizer
from graphrep.models.nodes import NeighborSlots, NodeBatch, SeedNodes


@pytest.fixture(scope="module")
def env():
    rng = np.random.default_rng(0)
    g = HeteroGraph.from_edges(
        {"pin": 9, "board": 3},
        {("board", "contains", "pin"): ([0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 4, 5])},
        features={
            "pin": {"image": rng.normal(size=(9, 5)).astype(np.float32),
                    "text": Ragged.from_lists([[int(t) for t in rng.integers(0, 30, 3)] for _ in range(9)])},
            "board": {"title": Ragged.from_lists([[1, 2], [3], [4, 5, 6]])},
        },
    )  # fmt: skip
    return NodeFeaturizer(g, max_tokens=4), FeatureSchema.from_graph(g)


def padded_input(fz):
    ids = torch.tensor([[1, 2, 2], [4, 1, 0], [0, 0, 0]])
    w = torch.tensor([[0.5, 0.3, 0.2], [0.6, 0.4, 0.0], [0.0, 0.0, 0.0]])
    m = torch.tensor([[True, True, True], [True, True, False], [False, False, False]])
    b_ids = torch.tensor([[0, 2], [1, 1], [2, 0]])
    bw = torch.tensor([[0.7, 0.3], [1.0, 0.0], [0.4, 0.6]])
    bm = torch.tensor([[True, True], [True, False], [True, True]])
    return fz("pin", torch.tensor([3, 4, 8])), {
        "pin": (fz("pin", ids), w, m), "board": (fz("board", b_ids), bw, bm)}


def test_from_padded_and_back(env):
    fz, _ = env
    batch, nbrs = padded_input(fz)
    nodes = NodeBatch.from_padded("pin", batch, nbrs)
    s = nodes.seeds["pin"]
    assert torch.equal(nodes.seed_ids("pin"), batch.ids)
    assert len(s.neighbors["pin"]) == 5 and len(s.neighbors["board"]) == 5  # valid slots only
    back, out = nodes.padded("pin")
    assert torch.equal(back.ids, batch.ids)
    for nt, (fb, w, m) in nbrs.items():
        fb2, w2, m2 = out[nt]
        assert torch.equal(m2, m) and torch.equal(w2, w)
        assert torch.equal(fb2.ids[m], fb.ids[m])
        for k in fb.dense:
            torch.testing.assert_close(fb2.dense[k][m], fb.dense[k][m])


def test_distinct_rows_read_once_give_the_padded_result(env):
    fz, schema = env
    torch.manual_seed(0)
    model = OmniSage(schema, {"pin": ["pin", "board"], "board": ["pin"]}, dim=8, num_heads=2,
                     mlp_hidden=16, sequence=False, text_buckets=64)  # fmt: skip
    batch, nbrs = padded_input(fz)
    ref = model.encoders["pin"](batch, nbrs)
    # the same input with every distinct pin and board featurised once
    pin_ids = torch.tensor([0, 1, 2, 3, 4, 8])
    features = {"pin": fz("pin", pin_ids), "board": fz("board", torch.tensor([0, 1, 2]))}
    row = {int(v): i for i, v in enumerate(pin_ids)}
    slots = {}
    for nt, (fb, w, m) in nbrs.items():
        seed, col = m.nonzero(as_tuple=True)
        ids = fb.ids[seed, col]
        node = torch.tensor([row[int(v)] for v in ids]) if nt == "pin" else ids
        slots[nt] = NeighborSlots(seed, node, w[seed, col], col, m.shape[1])
    reads = {"pin": torch.arange(6), "board": torch.arange(3)}
    own = torch.tensor([row[3], row[4], row[8]])
    nodes = NodeBatch(features, {"pin": SeedNodes(own, reads, own, slots)})
    out = model.encode(nodes)
    torch.testing.assert_close(out["pin"], ref, atol=1e-6, rtol=1e-5)
    assert out["pin"].shape == (3, 8)


def test_check_names_inconsistent_batches(env):
    fz, _ = env
    batch, nbrs = padded_input(fz)
    nodes = NodeBatch.from_padded("pin", batch, nbrs)
    nodes.check("test")
    s = nodes.seeds["pin"]
    bad = NodeBatch(nodes.features, {"pin": SeedNodes(s.rows, s.reads, s.own[:1], s.neighbors)})
    with pytest.raises(ShapeError, match="own and rows"):
        bad.check("test")
    sl = s.neighbors["pin"]
    short = NeighborSlots(sl.seed, sl.node[:2], sl.weight, sl.column, sl.width)
    bad = NodeBatch(nodes.features, {"pin": SeedNodes(s.rows, s.reads, s.own, {"pin": short})})
    with pytest.raises(ShapeError, match="differ in length"):
        bad.check("test")
