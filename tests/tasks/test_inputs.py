"""InputBuilder / default_samplers: meta-path choice, dedupe + inverse, determinism, item tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models.entity import EntityEncoder
from graphrep.samplers.importance import ImportanceSampler
from graphrep.tasks import EntityInputs, InputBuilder, NeighborConfig, default_samplers

SMALL_QUOTAS = {
    "pin": {"pin": 6, "board": 3},
    "board": {"pin": 6, "board": 3},
    "user": {"pin": 6},
    "query": {"pin": 6, "query": 3},
}


@pytest.fixture(scope="module")
def tiny():
    return generate("tiny", 0)


@pytest.fixture(scope="module")
def builder(tiny):
    cfg = NeighborConfig(quotas=SMALL_QUOTAS, num_walks=16, seed=3)
    return InputBuilder(tiny.graph, default_samplers(tiny.graph, cfg), max_tokens=8)


def small_graph() -> HeteroGraph:
    """Boards and pins only (no users, queries or pin-pin edges)."""
    return HeteroGraph.from_edges(
        {"pin": 6, "board": 2, "user": 3},
        {("board", "contains", "pin"): ([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 5])},
        features={
            "pin": {"image": np.arange(24, dtype=np.float32).reshape(6, 4)},
            "board": {"title": Ragged.from_lists([[1, 2], [3]])},
        },
    )


def test_default_samplers_pinterest_schema(tiny):
    samplers = default_samplers(tiny.graph)
    assert set(samplers) == {"pin", "board", "user", "query"}
    pin = samplers["pin"]
    assert pin.quotas == {"pin": 25, "board": 10}
    paths = [tuple(et[1] for et in mp.edge_types) for mp in pin.metapaths]
    assert paths == [("rev_contains", "contains"), ("rev_engaged", "engaged"), ("co_engaged",)]
    assert [mp.node_types for mp in samplers["board"].metapaths] == [("board", "pin", "board")]
    assert [mp.node_types for mp in samplers["user"].metapaths] == [("user", "pin", "user")]
    assert samplers["query"].quotas == {"pin": 25, "query": 10}
    assert all(s.seed_type == nt for nt, s in samplers.items())


def test_missing_relations_are_dropped():
    g = small_graph()
    samplers = default_samplers(g, NeighborConfig(num_walks=8))
    # pin keeps only pin->board->pin; user has no engaged relation; no query type
    assert set(samplers) == {"pin", "board"}
    assert [mp.node_types for mp in samplers["pin"].metapaths] == [("pin", "board", "pin")]
    b = InputBuilder(g, samplers)
    assert b.neighbor_types() == {"pin": ["pin", "board"], "board": ["pin", "board"], "user": []}
    x = b.build("user", [0, 2], step=0)
    assert x.neighbors == {} and x.batch.log_degree.shape == (2, 1)


def test_neighbor_config_validation():
    with pytest.raises(ConfigError, match="num_walks"):
        NeighborConfig(num_walks=0)
    with pytest.raises(ConfigError, match="restart_prob"):
        NeighborConfig(restart_prob=1.0)
    with pytest.raises(ConfigError, match="without metapaths"):
        NeighborConfig(metapaths={"pin": [["rev_contains", "contains"]]}, quotas={"board": {"pin": 2}})


def test_build_dedupes_and_inverse_maps_back(builder, tiny):
    ids = np.array([7, 3, 7, 7, 0, 3])
    x = builder.build("pin", ids, step=2)
    assert x.num_unique == 3 and len(x) == 6
    assert x.batch.ids.tolist() == [0, 3, 7]
    assert x.inverse.dtype == torch.long
    assert x.ids.tolist() == ids.tolist()
    image = tiny.graph.features["pin"]["image"]
    np.testing.assert_array_equal(x.batch.dense["image"].numpy(), image[[0, 3, 7]])
    for nt, k in SMALL_QUOTAS["pin"].items():
        fb, w, m = x.neighbors[nt]
        assert fb.ids.shape == (3, k) and w.shape == (3, k) and m.shape == (3, k)
        assert w.dtype == torch.float32 and m.dtype == torch.bool
    # exactly the sampler's neighborhoods of the distinct ids
    nb = builder.samplers["pin"].sample(np.array([0, 3, 7]), step=2)
    for nt in nb.ids:
        torch.testing.assert_close(x.neighbors[nt][0].ids[nb.mask[nt]], nb.ids[nt][nb.mask[nt]])
        torch.testing.assert_close(x.neighbors[nt][1], nb.weights[nt])


def test_distinct_ids_keep_order_without_inverse(builder):
    x = builder.build("board", [5, 1, 9], step=0)
    assert x.inverse is None and x.batch.ids.tolist() == [5, 1, 9] and x.ids.tolist() == [5, 1, 9]
    nd = InputBuilder(builder.graph, builder.samplers, builder.featurizer, dedupe=False)
    y = nd.build("board", [5, 5, 1], step=0)
    assert y.inverse is None and y.batch.ids.tolist() == [5, 5, 1]


def test_build_is_deterministic_and_batch_independent(builder):
    a = builder.build("pin", [11, 4, 250], step=5)
    b = builder.build("pin", [11, 4, 250], step=5)
    c = builder.build("pin", [250], step=5)
    d = builder.build("pin", [11, 4, 250], step=6)
    for nt, (fb, w, _) in a.neighbors.items():
        assert torch.equal(fb.ids, b.neighbors[nt][0].ids) and torch.equal(w, b.neighbors[nt][1])
        # a node's neighborhood depends on (seed, step, node) only
        assert torch.equal(fb.ids[2], c.neighbors[nt][0].ids[0])
        assert torch.equal(w[2], c.neighbors[nt][1][0])
    changed = any(not torch.equal(w, d.neighbors[nt][1]) for nt, (_, w, _) in a.neighbors.items())
    assert changed, "a new step should draw new walks"


def test_build_takes_a_neighborhood_sampled_already(builder):
    ids = np.array([11, 4, 250, 4])
    nb = builder.samplers["pin"].sample(ids, step=5)
    a, b = builder.build("pin", ids, step=5), builder.build("pin", ids, step=5, neighborhood=nb)
    assert torch.equal(a.inverse, b.inverse)  # repeats: the first row of each id is used
    for nt, (fb, w, m) in a.neighbors.items():
        assert torch.equal(fb.ids, b.neighbors[nt][0].ids) and torch.equal(w, b.neighbors[nt][1])
        assert torch.equal(m, b.neighbors[nt][2])
    # it is used as given: another step's neighbourhood gives that step's inputs
    other = builder.samplers["pin"].sample(ids[:3], step=6)
    c = builder.build("pin", ids[:3], step=5, neighborhood=other)
    d = builder.build("pin", ids[:3], step=6)
    for nt, (_, w, _) in d.neighbors.items():
        assert torch.equal(w, c.neighbors[nt][1])
    with pytest.raises(ConfigError, match="2 sampled neighbourhoods for 4 'pin' ids"):
        builder.build("pin", ids, step=5, neighborhood=nb.take(np.arange(2)))


def test_inputs_feed_the_entity_encoder(builder):
    x = builder.build("query", [1, 2, 1], step=0).to("cpu")
    torch.manual_seed(0)
    enc = EntityEncoder("query", builder.schema, ["pin", "query"], dim=16, num_heads=2, mlp_hidden=16)
    z = enc(x.batch, x.neighbors)
    assert z.shape == (2, 16)
    assert torch.allclose(z.norm(dim=-1), torch.ones(2))


def test_build_items_table_rows_are_unique_keys():
    g = small_graph()
    b = InputBuilder(g, default_samplers(g, NeighborConfig(num_walks=8)))
    codes = np.array([[0, 0, 1], [1, 0, 0]])
    ids = np.array([[4, 2, 1], [1, 4, 0]])
    items = b.build_items(
        ["pin", "board"], {"a": (codes, ids), "b": (np.array([1, 0]), np.array([0, 2]))}, step=0
    )
    assert list(items.inputs) == ["pin", "board"]
    assert items.num_rows == 3 + 2  # pins {0, 2, 4}, boards {0, 1}
    assert items.index["a"].shape == (2, 3) and items.index["b"].shape == (2,)
    n_pin = items.inputs["pin"].num_unique
    table_type = ["pin"] * n_pin + ["board"] * items.inputs["board"].num_unique
    table_ids = torch.cat([x.batch.ids for x in items.inputs.values()]).tolist()
    for name, (c, i) in {"a": (codes, ids), "b": (np.array([1, 0]), np.array([0, 2]))}.items():
        rows = items.index[name].reshape(-1).tolist()
        got = [(table_type[r], table_ids[r]) for r in rows]
        want = [(["pin", "board"][cc], ii) for cc, ii in zip(c.reshape(-1), i.reshape(-1), strict=True)]
        assert got == want
        assert items.node_ids[name].reshape(-1).tolist() == i.reshape(-1).tolist()
    # same (type, id) -> same row; (pin 1) vs (board 1) -> different rows
    assert items.index["a"][0, 0] == items.index["a"][1, 1]
    assert items.index["a"][0, 2] == items.index["a"][1, 0]
    with pytest.raises(GraphValidationError, match="type codes"):
        b.build_items(["pin"], {"a": (np.array([1]), np.array([0]))}, step=0)


def test_errors(builder, tiny):
    with pytest.raises(SchemaError, match="unknown node type 'shop'"):
        builder.build("shop", [0], step=0)
    with pytest.raises(GraphValidationError, match=r"out of range|\[0, 60\)"):
        builder.build("board", [60], step=0)
    wrong = ImportanceSampler(tiny.graph, ["contains", "rev_contains"], {"pin": 2}, num_walks=4)
    with pytest.raises(ConfigError, match="samples neighborhoods of 'board'"):
        InputBuilder(tiny.graph, {"pin": wrong})
    other = small_graph()
    with pytest.raises(ConfigError, match="another graph"):
        InputBuilder(other, {"board": wrong})


def test_entity_inputs_to_device_copies_everything(builder):
    x = builder.build("pin", [3, 3, 1], step=0)
    y = x.to("cpu")
    assert isinstance(y, EntityInputs) and y is not x
    assert torch.equal(y.inverse, x.inverse) and set(y.neighbors) == set(x.neighbors)
