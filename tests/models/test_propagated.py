"""Propagated features: the exact power iteration equals the closed-form PPR average on
hand-built graphs, the sampled form equals its formula, and they reach the encoders as a token."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.errors import ConfigError, SchemaError, ShapeError
from graphrep.graph import HeteroGraph
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureSchema, NodeFeaturizer
from graphrep.models.pinsage import PinSage
from graphrep.models.propagated import SUFFIX, propagate, propagated_features
from graphrep.samplers.importance import ImportanceSampler


def path_graph() -> HeteroGraph:
    # undirected path 0-1-2 plus isolated node 3; 'cites' stored both ways
    src, dst = [0, 1, 1, 2], [1, 0, 2, 1]
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [5.0, -1.0]], dtype=np.float32)
    return HeteroGraph.from_edges({"paper": 4}, {("paper", "cites", "paper"): (src, dst)},
                                  features={"paper": {"x": x}})  # fmt: skip


def closed_form(p: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    n = len(p)
    return alpha * np.linalg.solve(np.eye(n) - (1 - alpha) * p, x)


def test_exact_equals_closed_form_ppr_and_isolated_nodes_keep_their_features():
    g = path_graph()
    x = g.features["paper"]["x"]
    # random walk D^-1 A; the isolated node 3 has a self-loop
    p = np.array([[0, 1, 0, 0], [0.5, 0, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    for alpha in (0.1, 0.5, 1.0):
        z = propagate(g, "paper", x, metapaths=[["cites"]], teleport=alpha, method="exact")
        np.testing.assert_allclose(z, closed_form(p, x, alpha), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(z[3], x[3], rtol=1e-6)
    z = propagate(g, "paper", x, metapaths=[["cites"]], teleport=1.0, method="exact")
    np.testing.assert_allclose(z, x)  # teleport 1: no propagation
    # rows of Pi sum to 1: a constant feature stays constant
    ones = np.ones((4, 1), np.float32)
    np.testing.assert_allclose(propagate(g, "paper", ones, [["cites"]], method="exact"), ones, rtol=1e-5)


def test_exact_averages_the_walks_of_several_metapaths():
    # pins 0..2, boards 0..1: board 0 holds pins 0,1; board 1 holds pin 2; co-engaged 0<->2
    g = HeteroGraph.from_edges(
        {"pin": 3, "board": 2},
        {("board", "contains", "pin"): ([0, 0, 1], [0, 1, 2]),
         ("pin", "co_engaged", "pin"): ([0, 2], [2, 0])},
        features={"pin": {"x": np.eye(3, dtype=np.float32)}},
    )  # fmt: skip
    via_board = np.array([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])  # pin -> board -> pin
    co = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])  # pin 1 has no co-engaged: self-loop
    p = (via_board + co) / 2
    z = propagate(g, "pin", g.features["pin"]["x"], [["rev_contains", "contains"], ["co_engaged"]],
                  teleport=0.2, method="exact")  # fmt: skip
    np.testing.assert_allclose(z, closed_form(p, np.eye(3), 0.2), atol=1e-4)


def test_sampled_is_teleport_self_plus_weighted_neighbours():
    g = path_graph()
    x = g.features["paper"]["x"]
    s = ImportanceSampler(g, ["cites"], {"paper": 2}, num_walks=200, num_traversals=1, seed=3)
    z = propagate(g, "paper", x, sampler=s, teleport=0.3, method="sampled")
    nb = s.sample(np.arange(4), step=0)
    w = (nb.weights["paper"] * nb.mask["paper"]).numpy()
    expect = 0.3 * x + 0.7 * np.einsum("bk,bkd->bd", w, x[nb.ids["paper"].numpy()])
    np.testing.assert_allclose(z[:3], expect[:3], rtol=1e-5)
    np.testing.assert_allclose(z[0], 0.3 * x[0] + 0.7 * x[1], rtol=1e-5)  # one neighbour
    np.testing.assert_allclose(z[3], x[3])  # no neighbour: own features
    again = propagate(g, "paper", x, sampler=s, teleport=0.3, method="sampled")
    np.testing.assert_array_equal(z, again)  # deterministic


def test_bad_arguments_raise():
    g = path_graph()
    x = g.features["paper"]["x"]
    with pytest.raises(ConfigError, match="method"):
        propagate(g, "paper", x, [["cites"]], method="magic")
    with pytest.raises(ConfigError, match="teleport"):
        propagate(g, "paper", x, [["cites"]], teleport=0.0, method="exact")
    with pytest.raises(ConfigError, match=r"x must be \[4, d\]"):
        propagate(g, "paper", x[:2], [["cites"]])
    with pytest.raises(ConfigError, match="needs its importance sampler"):
        propagate(g, "paper", x, [["cites"]], method="sampled")


def test_features_are_cached_and_become_one_more_token_of_both_encoders():
    g = path_graph()
    s = {"paper": ImportanceSampler(g, ["cites"], {"paper": 2}, num_walks=20, seed=0)}
    extra = propagated_features(g, s, teleport=0.5)
    assert list(extra["paper"]) == ["x" + SUFFIX]
    assert propagated_features(g, s, teleport=0.5)["paper"]["x@ppr"] is extra["paper"]["x@ppr"]
    assert "x@ppr" not in g.features["paper"]  # the graph is not changed
    feat = NodeFeaturizer(g, extra=extra)
    assert feat.schema["paper"].dense == {"x": 2, "x@ppr": 2}
    fb = feat("paper", np.array([0, 3]))
    np.testing.assert_array_equal(fb.dense["x@ppr"].numpy(), extra["paper"]["x@ppr"][[0, 3]])
    plain = FeatureSchema.from_graph(g)
    for cls in (EntityEncoder, PinSage):
        with_tok, without = cls("paper", feat.schema, dim=8), cls("paper", plain, dim=8)
        assert with_tok.raw[0].num_tokens == without.raw[0].num_tokens + 1
        assert with_tok(fb).shape == (2, 8)
    with pytest.raises(SchemaError, match="shadows"):
        NodeFeaturizer(g, extra={"paper": {"x": np.zeros((4, 1))}})
    with pytest.raises(ShapeError, match="expected"):
        NodeFeaturizer(g, extra={"paper": {"y": np.zeros((3, 1))}})
