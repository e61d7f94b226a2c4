import itertools

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, SchemaError
from graphrep.eval.skipgram_baseline import Node2VecConfig, train_node2vec
from graphrep.graph.heterograph import HeteroGraph

SMALL = dict(dim=8, walk_length=10, context_size=5, walks_per_node=10, batch_size=8, lr=0.1)


def _two_communities(size: int = 10) -> HeteroGraph:
    """Two cliques of ``size`` nodes (0..size-1 and size..2*size-1) joined by one edge."""
    edges = [(a, b) for block in (0, size) for a, b in itertools.combinations(range(block, block + size), 2)]
    edges.append((size - 1, size))
    src, dst = np.array(edges).T
    return HeteroGraph.from_edges({"n": 2 * size}, {("n", "link", "n"): (src, dst)})


def _same_community_rate(emb: np.ndarray, size: int, k: int = 5) -> float:
    """Fraction of each node's k nearest neighbours (cosine, self excluded) in its own clique."""
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    own = (nn // size) == (np.arange(len(emb)) // size)[:, None]
    return float(own.mean())


def test_two_communities_neighbours_stay_in_their_community() -> None:
    g = _two_communities()
    emb = train_node2vec(g, Node2VecConfig(**SMALL, epochs=4))["n"]
    assert emb.shape == (20, 8) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    trained = _same_community_rate(emb, 10)
    rng = np.random.default_rng(0)
    random = np.mean([_same_community_rate(rng.standard_normal((20, 8)), 10) for _ in range(20)])
    assert trained >= 0.9
    assert trained > random + 0.3  # random: ~9/19 of the other nodes share the clique


def test_node2vec_p_q_also_learns_communities() -> None:
    cfg = Node2VecConfig(**SMALL, epochs=4, p=4.0, q=0.5, num_negative_samples=2)
    emb = train_node2vec(_two_communities(), cfg)["n"]
    assert _same_community_rate(emb, 10) >= 0.9


def test_heterogeneous_graph_returns_every_type() -> None:
    g = generate("tiny", 0).graph
    out = train_node2vec(g, Node2VecConfig(dim=8, walk_length=6, context_size=3, walks_per_node=1))
    assert set(out) == set(g.node_types)
    for t in g.node_types:
        assert out[t].shape == (g.num_nodes[t], 8)
        assert out[t].dtype == np.float32
        assert np.all(np.isfinite(out[t]))
        np.testing.assert_allclose(np.linalg.norm(out[t], axis=1), 1.0, rtol=1e-5)


def test_deterministic_under_seed_and_leaves_global_rng_alone() -> None:
    g = _two_communities(6)
    cfg = Node2VecConfig(**SMALL, epochs=2)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a = train_node2vec(g, cfg)["n"]
    assert torch.equal(torch.rand(3), expected_draw)
    b = train_node2vec(g, cfg)["n"]
    c = train_node2vec(g, Node2VecConfig(**SMALL, epochs=2, seed=1))["n"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_isolated_nodes_keep_their_initialisation() -> None:
    # node 4 has no edge; nodes 0..3 form a cycle
    g = HeteroGraph.from_edges(
        {"n": 4, "m": 1}, {("n", "link", "n"): (np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0]))}
    )
    one = train_node2vec(g, Node2VecConfig(**SMALL, epochs=1))
    three = train_node2vec(g, Node2VecConfig(**SMALL, epochs=3))
    np.testing.assert_array_equal(one["m"], three["m"])
    np.testing.assert_allclose(np.linalg.norm(one["m"], axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(one["n"], three["n"])


def test_edge_types_select_the_view() -> None:
    # "a" links 0-1, "b" links 2-3: with only "a" (both ways), nodes 2 and 3 are isolated
    g = HeteroGraph.from_edges(
        {"n": 4},
        {("n", "a", "n"): (np.array([0]), np.array([1])), ("n", "b", "n"): (np.array([2]), np.array([3]))},
    )
    one = train_node2vec(g, Node2VecConfig(**SMALL, epochs=1, edge_types=["a", "rev_a"]))["n"]
    three = train_node2vec(g, Node2VecConfig(**SMALL, epochs=3, edge_types=["a", "rev_a"]))["n"]
    np.testing.assert_array_equal(one[2:], three[2:])
    assert not np.allclose(one[:2], three[:2])
    with pytest.raises(SchemaError, match="nope"):
        train_node2vec(g, Node2VecConfig(**SMALL, edge_types=["nope"]))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dim", 0),
        ("walk_length", 1),
        ("context_size", 1),
        ("walks_per_node", 0),
        ("p", 0.0),
        ("q", -1.0),
        ("q", float("inf")),
        ("num_negative_samples", 0),
        ("epochs", 0),
        ("batch_size", 2.5),
        ("lr", 0),
        ("seed", -1),
        ("seed", 2**63),
        ("edge_types", "link"),
        ("edge_types", []),
        ("edge_types", [("n", "link")]),
    ],
)
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"Node2VecConfig\.{field}"):
        Node2VecConfig(**{field: value})


def test_config_context_longer_than_walk_and_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"Node2VecConfig\.context_size.*walk_length"):
        Node2VecConfig(walk_length=5, context_size=6)
    with pytest.raises(ConfigError, match="HeteroGraph"):
        train_node2vec("graph")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Node2VecConfig"):
        train_node2vec(_two_communities(3), {"dim": 4})  # type: ignore[arg-type]
    cfg = Node2VecConfig()
    cfg.dim = -3  # changed after construction: re-validated by train_node2vec
    with pytest.raises(ConfigError, match=r"Node2VecConfig\.dim"):
        train_node2vec(_two_communities(3), cfg)
