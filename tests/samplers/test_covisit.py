import numba
import numpy as np
import pytest
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.covisit import CoVisitPairSampler

# pins 0..5, boards 0..3; pin 4 is alone on board 2, pin 5 and board 3 are isolated
PB_SRC = [0, 1, 2, 2, 3, 4]
PB_DST = [0, 0, 0, 1, 1, 2]
PATH = ["saved_to", "rev_saved_to"]


def _graph():
    return HeteroGraph.from_edges(
        {"pin": 6, "board": 4}, {("pin", "saved_to", "board"): (PB_SRC, PB_DST)}
    )


def _transition():
    """Exact one-traversal pin -> board -> pin transition matrix."""
    a = np.zeros((6, 4))
    a[PB_SRC, PB_DST] = 1
    pb = a / np.maximum(a.sum(1, keepdims=True), 1)
    bp = a.T / np.maximum(a.T.sum(1, keepdims=True), 1)
    return pb @ bp


def test_one_traversal_matches_transition_probabilities():
    s = CoVisitPairSampler(_graph(), PATH, walk_length=1, seed=3)
    for seed_pin in (0, 2):
        b = s.pairs_from(np.full(20000, seed_pin), step=0)
        assert (b.src_type, b.dst_type) == ("pin", "pin")
        assert (b.src == seed_pin).all() and (b.dst != seed_pin).all()
        t = _transition()[seed_pin]
        t[seed_pin] = 0
        expected = t / t.sum()  # conditional on leaving the seed
        freq = np.bincount(b.dst, minlength=6)
        support = expected > 0
        assert (freq[~support] == 0).all()
        assert stats.chisquare(freq[support], expected[support] * len(b)).pvalue > 1e-3
        # a walk that came back to its seed gives no pair
        assert len(b) < 20000


def test_pairs_only_reach_within_walk_length_and_never_self():
    t = _transition() > 0
    reach1 = t
    reach2 = t | ((t.astype(int) @ t.astype(int)) > 0)
    for length, reach in ((1, reach1), (2, reach2)):
        s = CoVisitPairSampler(_graph(), PATH, walk_length=length, restart_prob=0.3, seed=1)
        b = s.sample(5000, step=0)
        assert len(b) > 0
        assert (b.src != b.dst).all()
        assert reach[b.src, b.dst].all()
        if length == 1:
            assert not ((b.src == 0) & (b.dst == 3)).any()  # two traversals away
        else:
            assert ((b.src == 0) & (b.dst == 3)).any()


def test_dead_ends_and_isolated_nodes_give_no_pairs():
    s = CoVisitPairSampler(_graph(), PATH, walk_length=3, seed=0)
    assert s.num_start_nodes == 5  # pin 5 has no board
    b = s.pairs_from(np.array([4, 5, 4]), step=0)
    assert len(b) == 0 and b.src.dtype == np.int64
    b = s.sample(2000, step=1)
    assert 5 not in set(b.src.tolist()) and 4 not in set(b.src.tolist())
    empty = HeteroGraph.from_edges({"pin": 3, "board": 2}, {("pin", "saved_to", "board"): ([], [])})
    with pytest.raises(GraphValidationError, match="no 'pin' node"):
        CoVisitPairSampler(empty, PATH).sample(4)
    assert len(CoVisitPairSampler(empty, PATH).pairs_from(np.array([0, 1]))) == 0


def test_determinism_and_thread_count():
    s = CoVisitPairSampler(_graph(), PATH, walk_length=2, seed=5)
    a = s.sample(3000, step=2)
    b = CoVisitPairSampler(_graph(), PATH, walk_length=2, seed=5).sample(3000, step=2)
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    c = s.sample(3000, step=3)
    assert not np.array_equal(a.dst, c.dst)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = s.sample(3000, step=2)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.src, one.src) and np.array_equal(a.dst, one.dst)


def test_bad_arguments():
    g = _graph()
    with pytest.raises(ConfigError, match="end at its start type"):
        CoVisitPairSampler(g, ["saved_to"])
    with pytest.raises(SchemaError, match="nope"):
        CoVisitPairSampler(g, ["nope", "rev_nope"])
    with pytest.raises(ConfigError, match="walk_length"):
        CoVisitPairSampler(g, PATH, walk_length=0)
    with pytest.raises(ConfigError, match="restart_prob"):
        CoVisitPairSampler(g, PATH, restart_prob=1.0)
    s = CoVisitPairSampler(g, PATH)
    with pytest.raises(ConfigError, match="batch_size"):
        s.sample(0)
    with pytest.raises(GraphValidationError, match="out of range"):
        s.pairs_from(np.array([6]))
