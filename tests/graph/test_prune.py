import numpy as np
import pytest

from graphrep import HeteroGraph
from graphrep.errors import ConfigError
from graphrep.graph.prune import kept_degree, prune_degrees


def hub_graph():
    # board 0 is a hub with 5000 pins, board 1 has 8, board 2 has 40; pin 0 is in every board
    src = np.r_[np.zeros(5000, int), np.ones(8, int), np.full(40, 2)]
    dst = np.r_[np.arange(5000), np.arange(8), np.arange(40)]
    return HeteroGraph.from_edges(
        {"board": 3, "pin": 5000}, {("board", "contains", "pin"): (src, dst)}
    )


def test_kept_degree_formula():
    d = np.array([0, 1, 10, 11, 40, 5000, 10**6])
    expected = [min(x, max(min(int(np.ceil(x**0.86)), 10000), 10)) for x in d]
    assert kept_degree(d).tolist() == expected
    assert kept_degree(np.array([10**6]), d_max=500).tolist() == [500]


def test_prune_src_side_keeps_formula_counts_and_subset():
    g = hub_graph()
    h = prune_degrees(g, side="src", seed=3)
    assert h.csr("contains").degrees().tolist() == kept_degree(np.array([5000, 8, 40])).tolist()
    for b in range(3):
        assert set(h.csr("contains").neighbors(b)) <= set(g.csr("contains").neighbors(b))
    # reverse rebuilt consistently
    assert h.csr("rev_contains").num_edges == h.num_edges("contains")
    assert prune_degrees(g, side="src", seed=3).equals(h)
    assert not prune_degrees(g, side="src", seed=4).equals(h)


def test_prune_is_uniform_over_a_hub_row():
    g = hub_graph()
    hits = np.zeros(5000)
    for seed in range(40):
        hits[prune_degrees(g, side="src", seed=seed).csr("contains").neighbors(0)] += 1
    p = kept_degree(np.array([5000]))[0] / 5000
    # each pin kept with prob p in each of 40 draws: binomial mean and no position bias
    assert abs(hits.mean() / 40 - p) < 1e-9
    first, last = hits[:2500].mean(), hits[2500:].mean()
    assert abs(first - last) / hits.mean() < 0.05


def test_prune_dst_side_caps_pin_degrees():
    n = 300
    g = HeteroGraph.from_edges(
        {"board": n, "pin": 2}, {("board", "contains", "pin"): (np.arange(n), np.zeros(n, int))}
    )
    h = prune_degrees(g, side="dst", d_min=10)
    assert h.csr("rev_contains").degrees()[0] == kept_degree(np.array([n]))[0]


def test_bad_arguments():
    g = hub_graph()
    with pytest.raises(ConfigError, match="alpha"):
        prune_degrees(g, alpha=1.5)
    with pytest.raises(ConfigError, match="d_min"):
        prune_degrees(g, d_min=20, d_max=10)
    with pytest.raises(ConfigError, match="reverses"):
        prune_degrees(g, relations=["rev_contains"])
