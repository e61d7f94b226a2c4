import numba
import numpy as np
import pytest
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.eventlog import EventLog
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.pairs import EdgePairSampler, PairBatch, engagement_pairs

BOARD_SRC = [0, 0, 1, 1, 1, 2]
BOARD_DST = [0, 1, 1, 2, 3, 3]


def _graph():
    return HeteroGraph.from_edges(
        {"board": 4, "pin": 5},  # board 3 and pin 4 are isolated
        {
            ("board", "contains", "pin"): {
                "src": BOARD_SRC,
                "dst": BOARD_DST,
                "weight": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
            ("pin", "related", "pin"): ([0, 1, 1, 2], [0, 2, 1, 3]),  # two self-loops
            ("board", "empty", "pin"): ([], []),
        },
    )


def _edge_set(src, dst):
    return set(zip(np.asarray(src).tolist(), np.asarray(dst).tolist(), strict=True))


def test_pairs_are_edges_drawn_uniformly():
    s = EdgePairSampler(_graph(), "contains", seed=1)
    b = s.sample(30000, step=0)
    assert isinstance(b, PairBatch) and len(b) == 30000
    assert (b.src_type, b.dst_type) == ("board", "pin")
    assert b.src.dtype == np.int64 and b.dst.dtype == np.int64
    edges = _edge_set(BOARD_SRC, BOARD_DST)
    assert _edge_set(b.src, b.dst) == edges
    keys = b.src * 10 + b.dst
    counts = np.unique(keys, return_counts=True)[1]
    assert len(counts) == 6 and stats.chisquare(counts).pvalue > 1e-3
    # the weight column travels with its edge: weight = 1 + CSR position of (src, dst)
    pos = {e: i for i, e in enumerate(zip(BOARD_SRC, BOARD_DST, strict=True))}
    expect = np.array([pos[e] + 1.0 for e in zip(b.src.tolist(), b.dst.tolist(), strict=True)])
    np.testing.assert_array_equal(b.weight, expect)


def test_reverse_relation_pairs():
    b = EdgePairSampler(_graph(), "rev_contains", seed=0).sample(2000, step=0)
    assert (b.src_type, b.dst_type) == ("pin", "board")
    assert _edge_set(b.src, b.dst) == _edge_set(BOARD_DST, BOARD_SRC)
    assert b.weight is not None


def test_iter_epoch_visits_every_edge_once():
    s = EdgePairSampler(_graph(), "contains", seed=3)
    batches = list(s.iter_epoch(4, epoch=0))
    assert [len(x) for x in batches] == [4, 2]
    src = np.concatenate([x.src for x in batches])
    dst = np.concatenate([x.dst for x in batches])
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == sorted(
        zip(BOARD_SRC, BOARD_DST, strict=True)
    )
    assert [len(x) for x in s.iter_epoch(4, epoch=0, drop_last=True)] == [4]
    again = np.concatenate([x.src * 10 + x.dst for x in s.iter_epoch(4, epoch=0)])
    assert np.array_equal(again, src * 10 + dst)
    orders = {tuple(np.concatenate([x.src * 10 + x.dst for x in s.iter_epoch(6, epoch=e)]))
              for e in range(6)}
    assert len(orders) > 1


def test_self_loops_dropped_unless_asked():
    g = _graph()
    b = EdgePairSampler(g, "related", seed=0).sample(1000, step=0)
    assert (b.src != b.dst).all()
    assert _edge_set(b.src, b.dst) == {(1, 2), (2, 3)}
    keep = EdgePairSampler(g, "related", seed=0, drop_self_loops=False)
    assert keep.num_edges == 4
    assert _edge_set(*(lambda x: (x.src, x.dst))(keep.sample(1000, step=0))) == {
        (0, 0), (1, 2), (1, 1), (2, 3)
    }


def test_cap_per_destination_is_respected_and_uniform():
    deg0 = 50
    src = np.r_[np.arange(deg0), [0, 1, 2]]
    dst = np.r_[np.zeros(deg0, dtype=int), [1, 1, 1]]
    g = HeteroGraph.from_edges({"user": deg0, "pin": 3}, {("user", "saw", "pin"): (src, dst)})
    s = EdgePairSampler(g, "saw", seed=11, max_per_dst=5)
    hits = np.zeros(deg0)
    for epoch in range(300):
        batches = list(s.iter_epoch(7, epoch=epoch))
        d = np.concatenate([x.dst for x in batches])
        u = np.concatenate([x.src for x in batches])
        assert np.bincount(d, minlength=3).tolist() == [5, 3, 0]
        hits += np.bincount(u[d == 0], minlength=deg0)
    # each of pin 0's 50 edges is kept with probability 5/50 per epoch
    assert stats.chisquare(hits).pvalue > 1e-3
    # sample() draws from the capped set of its epoch only
    b = s.sample(4000, step=0, epoch=2)
    kept = s.epoch_edges(2)
    assert len(kept) == 8
    assert np.unique(b.src[b.dst == 0]).size == 5
    assert not np.array_equal(s.epoch_edges(1), s.epoch_edges(2))


def test_determinism_and_thread_count():
    s = EdgePairSampler(_graph(), "contains", seed=5, max_per_dst=1)
    a = s.sample(500, step=4, epoch=1)
    b = EdgePairSampler(_graph(), "contains", seed=5, max_per_dst=1).sample(500, step=4, epoch=1)
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = EdgePairSampler(_graph(), "contains", seed=5, max_per_dst=1).sample(
            500, step=4, epoch=1
        )
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one.src, a.src) and np.array_equal(one.dst, a.dst)
    c = s.sample(500, step=5, epoch=1)
    assert not np.array_equal(a.src * 10 + a.dst, c.src * 10 + c.dst)


def test_empty_relation_and_bad_arguments():
    g = _graph()
    s = EdgePairSampler(g, "empty")
    assert list(s.iter_epoch(3)) == []
    with pytest.raises(GraphValidationError, match="empty"):
        s.sample(3)
    with pytest.raises(SchemaError, match="nope"):
        EdgePairSampler(g, "nope")
    with pytest.raises(ConfigError, match="max_per_dst"):
        EdgePairSampler(g, "contains", max_per_dst=0)
    with pytest.raises(ConfigError, match="batch_size"):
        EdgePairSampler(g, "contains").sample(0)
    with pytest.raises(ConfigError, match="batch_size"):
        next(EdgePairSampler(g, "contains").iter_epoch(-1))
    with pytest.raises(ConfigError, match="epoch"):
        EdgePairSampler(g, "contains").epoch_edges(-1)


# --------------------------------------------------------------------------- engagement pairs
def _log():
    # user 0: pin 1 @10 (click), pin 2 @20 (save), board 0 @25 (save), pin 1 @40 (click)
    # user 1: pin 3 @5 (save), pin 3 @50 (click); user 2: nothing
    return EventLog.from_arrays(
        user=[0, 1, 0, 0, 1, 0],
        item=[1, 3, 2, 0, 3, 1],
        timestamp=[10, 5, 20, 25, 50, 40],
        item_type=[0, 0, 0, 1, 0, 0],
        action=[0, 1, 1, 1, 0, 0],
        num_users=3,
        item_types=("pin", "board"),
        action_names=("click", "save"),
    )


def test_engagement_pairs_before_cut():
    b = engagement_pairs(_log(), cut=40, item_type="pin")
    assert (b.src_type, b.dst_type) == ("user", "pin")
    assert b.src.tolist() == [0, 0, 1] and b.dst.tolist() == [1, 2, 3]
    b = engagement_pairs(_log(), item_type="pin", actions=["save"])
    assert b.src.tolist() == [0, 1] and b.dst.tolist() == [2, 3]
    b = engagement_pairs(_log(), cut=30, item_type="board", actions=[1])
    assert b.src.tolist() == [0] and b.dst.tolist() == [0] and b.dst_type == "board"
    empty = engagement_pairs(_log(), cut=0, item_type="pin")
    assert len(empty) == 0 and empty.src.dtype == np.int64


def test_engagement_pairs_cap_per_item():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, size=200)
    items = np.r_[np.zeros(150, dtype=int), rng.integers(1, 30, size=50)]
    log = EventLog.from_arrays(users, items, np.arange(200), num_users=40)
    b = engagement_pairs(log, max_per_item=4, seed=1)
    counts = np.bincount(b.dst, minlength=30)
    full = np.bincount(items, minlength=30)
    assert counts[0] == 4
    np.testing.assert_array_equal(counts[1:], np.minimum(full[1:], 4))
    again = engagement_pairs(log, max_per_item=4, seed=1)
    assert np.array_equal(again.src, b.src) and np.array_equal(again.dst, b.dst)
    other = {tuple(engagement_pairs(log, max_per_item=4, seed=s).src[:8]) for s in range(5)}
    assert len(other) > 1
    # kept pairs are real events, still in (user, time) order
    assert _edge_set(b.src, b.dst) <= _edge_set(users, items)
    assert (np.diff(b.src) >= 0).all()


def test_engagement_pairs_bad_arguments():
    with pytest.raises(ConfigError, match="item_type"):
        engagement_pairs(_log())
    with pytest.raises(SchemaError, match="'query'"):
        engagement_pairs(_log(), item_type="query")
    with pytest.raises(SchemaError, match="'like'"):
        engagement_pairs(_log(), item_type="pin", actions=["like"])
    with pytest.raises(SchemaError, match="code 5"):
        engagement_pairs(_log(), item_type="pin", actions=[5])
    with pytest.raises(ConfigError, match="max_per_item"):
        engagement_pairs(_log(), item_type="pin", max_per_item=0)
