"""NodePool: requests of several tasks resolve to one deduplicated NodeBatch whose
neighbourhoods and features are the sampler's and featurizer's; item tables; shared
negatives; the pooled encoding equals the per-input one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, GraphValidationError
from graphrep.models import OmniSage
from graphrep.tasks import InputBuilder, NeighborConfig, default_samplers
from graphrep.tasks.negatives import RandomNegatives
from graphrep.tasks.pool import NodePool, NodeRows

QUOTAS = {"pin": {"pin": 6, "board": 3}, "board": {"pin": 6, "board": 3},
          "query": {"pin": 6, "query": 3}}  # fmt: skip


@pytest.fixture(scope="module")
def builder():
    ds = generate("tiny", 0)
    return InputBuilder(ds.graph, default_samplers(ds.graph, NeighborConfig(quotas=QUOTAS, num_walks=16)),
                        max_tokens=8)  # fmt: skip


def test_requests_resolve_to_one_distinct_row_per_node(builder):
    pool = NodePool(builder, step=4)
    a = pool.add("pin", np.array([7, 3, 7]))
    b = pool.add("pin", np.array([[3, 11], [0, 7]]))
    q = pool.add("query", [5])
    with pytest.raises(ConfigError, match="not built"):
        a.index  # noqa: B018
    nodes = pool.build()
    assert nodes.seed_ids("pin").tolist() == [0, 3, 7, 11]
    for h in (a, b, q):
        assert h.index.shape == h.ids.shape
        assert torch.equal(nodes.seed_ids(h.node_type)[h.index], h.ids)
    # every distinct node's features once: seeds and valid neighbours of every type
    for t, fb in nodes.features.items():
        assert len(torch.unique(fb.ids)) == len(fb.ids), t


def test_neighbourhoods_and_features_are_the_samplers(builder):
    ids = np.array([2, 9, 40, 41])
    pool = NodePool(builder, 6)
    pool.add("pin", ids)
    nodes = pool.build()
    nb = builder.samplers["pin"].sample(ids, step=6)
    s = nodes.seeds["pin"]
    image = builder.graph.features["pin"]["image"]
    np.testing.assert_array_equal(nodes.seed_features("pin").dense["image"].numpy(), image[ids])
    for nt in nb.ids:
        sl = s.neighbors[nt]
        got = torch.zeros_like(nb.ids[nt])
        got[sl.seed, sl.column] = nodes.features[nt].ids[s.reads[nt][sl.node]]
        m = nb.mask[nt]
        assert torch.equal(got[m], nb.ids[nt][m])
        assert torch.equal(sl.weight, nb.weights[nt][m])
        assert int(m.sum()) == len(sl)


def test_item_rows_index_one_table_over_types(builder):
    pool = NodePool(builder, 0)
    other = pool.add("pin", [1, 2])
    items = pool.add_items(["pin", "board"], {
        "history": (np.array([[0, 1, 0]]), np.array([[5, 2, 5]])),
        "negatives": (np.array([0, 0]), np.array([1, 5])),
    })  # fmt: skip
    nodes = pool.build()
    assert items.types == ["pin", "board"]
    table = torch.cat([nodes.seed_ids("pin"), nodes.seed_ids("board")])  # node ids of the table
    assert table[items.index["history"]].tolist() == [[5, 2, 5]]
    assert table[items.index["negatives"]].tolist() == [1, 5]
    assert items.index["history"][0, 0] == items.index["negatives"][1]  # one row per (type, id)
    assert items.index["history"][0, 1] >= len(nodes.seeds["pin"])  # the board after the pins
    assert torch.equal(nodes.seed_ids("pin")[other.index], torch.tensor([1, 2]))
    with pytest.raises(GraphValidationError, match="type codes"):
        pool.add_items(["pin"], {"x": (np.array([1]), np.array([0]))})


def test_shared_negatives_are_one_draw_per_distribution(builder):
    g = builder.graph
    a = RandomNegatives(g.num_nodes["pin"], seed=1, node_type="pin")
    b = RandomNegatives(g.num_nodes["pin"], seed=2, node_type="pin")
    pop = RandomNegatives(g.num_nodes["pin"], "popularity", g.degree("pin"), seed=1, node_type="pin")
    pool = NodePool(builder, 3, share_negatives=True)
    x, y, z = pool.negatives(a, 8), pool.negatives(b, 8), pool.negatives(pop, 8)
    assert np.array_equal(x[0], y[0]) and not np.array_equal(x[0], z[0])
    assert np.array_equal(x[0], a.sample(8, 3)[0])  # the first task's own draw
    plain = NodePool(builder, 3)
    assert not np.array_equal(plain.negatives(a, 8)[0], plain.negatives(b, 8)[0])


def test_pooled_encoding_equals_the_per_input_encoding(builder):
    torch.manual_seed(0)
    model = OmniSage.from_builder(builder, node_types=["pin", "board", "query"], dim=16,
                                  num_heads=2, mlp_hidden=16, sequence=False, text_buckets=256)  # fmt: skip
    pool = NodePool(builder, 2)
    rows = {t: pool.add(t, ids) for t, ids in
            (("pin", [4, 8, 4, 15]), ("board", [1, 3]), ("query", [0, 2, 2]))}  # fmt: skip
    z = model.encode(pool.build())
    for t, r in rows.items():
        ref = model.embed(t, builder.build(t, r.ids.numpy(), step=2))
        torch.testing.assert_close(r.take(z), ref, atol=1e-6, rtol=1e-5)
    assert isinstance(rows["pin"].to("cpu"), NodeRows)
