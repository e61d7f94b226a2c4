import threading

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.eventlog import EventLog
from graphrep.samplers.sequences import SequenceBatch, SequenceEvalBatch, SequenceSampler

CLICK, SAVE = 0, 1


def _log():
    # user 0: (t, item, action) = (10,100,c) (20,101,s) (30,102,c) (35,103,s) (50,104,c) (60,105,c)
    # user 1: (5,200,s) (100,201,c); user 2: no events
    return EventLog.from_arrays(
        user=[0, 1, 0, 0, 0, 0, 0, 1],
        item=[100, 200, 101, 102, 103, 104, 105, 201],
        timestamp=[10, 5, 20, 30, 35, 50, 60, 100],
        action=[CLICK, SAVE, SAVE, CLICK, SAVE, CLICK, CLICK, CLICK],
        surface=[0, 1, 0, 0, 1, 0, 0, 1],
        item_type=[0, 0, 0, 0, 0, 1, 0, 0],
        num_users=3,
        item_types=("pin", "board"),
        action_names=("click", "save"),
        surface_names=("home", "search"),
    )


def test_history_and_dense_targets_by_hand():
    s = SequenceSampler(_log(), max_len=3, cut_time=50, future_window=12, num_positions=3)
    b = s.sample(np.array([0, 1, 2]), step=0)
    assert isinstance(b, SequenceBatch)
    # last 3 actions strictly before t=50, left-padded
    assert b.users.tolist() == [0, 1, 2]
    assert b.items.tolist() == [[101, 102, 103], [0, 0, 200], [0, 0, 0]]
    assert b.timestamp.tolist() == [[20, 30, 35], [0, 0, 5], [0, 0, 0]]
    assert b.action.tolist() == [[SAVE, CLICK, SAVE], [0, 0, SAVE], [0, 0, 0]]
    assert b.surface.tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 0]]
    assert b.item_type.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert b.mask.tolist() == [[True] * 3, [False, False, True], [False] * 3]
    for t in (b.items, b.item_type, b.action, b.surface, b.timestamp, b.positions, b.targets):
        assert t.dtype == torch.int64
    assert b.mask.dtype == torch.bool and b.target_mask.dtype == torch.bool
    moved = b.to("cpu")
    assert isinstance(moved, SequenceBatch) and torch.equal(moved.targets, b.targets)
    # all 3 positions of user 0: windows (20,32] -> {102}, (30,42] -> {103}, (35,47] -> {}
    # (the event at t=50 is at the cut: never a training target)
    assert b.positions[0].tolist() == [0, 1, 2]
    assert b.targets[0].tolist() == [102, 103, 0]
    assert b.target_mask[0].tolist() == [True, True, False]
    # user 1 has one real column (2) and nothing in (5, 17]; user 2 has nothing
    assert b.positions[1].tolist()[0] == 2
    assert not b.target_mask[1:].any()
    # next-action targets
    assert b.next_item.tolist() == [[102, 103, 0], [0, 0, 0], [0, 0, 0]]
    assert b.next_mask.tolist() == [[True, True, False], [False] * 3, [False] * 3]


def test_positive_actions_filter_targets_not_history():
    s = SequenceSampler(
        _log(), max_len=3, cut_time=50, future_window=12, num_positions=3,
        positive_actions=["save"],
    )
    b = s.sample(np.array([0]), step=0)
    assert b.items.tolist() == [[101, 102, 103]]
    assert b.targets[0].tolist() == [0, 103, 0]  # 102 is a click
    assert b.target_mask[0].tolist() == [False, True, False]


def test_window_excludes_same_timestamp_and_is_uniform():
    log = EventLog.from_arrays(
        [0] * 5, [1, 2, 3, 4, 5], [10, 10, 11, 12, 13], num_users=1
    )
    s = SequenceSampler(log, max_len=5, cut_time=100, future_window=3, num_positions=5, seed=4)
    b = s.sample(np.zeros(6000, dtype=np.int64), step=0)
    assert (b.positions == torch.arange(5)).all()
    first = b.targets[:, 0].numpy()  # window (10, 13] -> items 3, 4, 5 (item 2 shares t=10)
    assert set(np.unique(first)) == {3, 4, 5}
    assert stats.chisquare(np.bincount(first)[3:]).pvalue > 1e-3
    assert set(b.targets[:, 1].tolist()) == {3, 4, 5}  # window (10, 13]
    assert set(b.targets[:, 2].tolist()) == {4, 5}  # window (11, 14]
    assert set(b.targets[:, 3].tolist()) == {5}  # window (12, 15]
    assert b.target_mask[:, :4].all() and not b.target_mask[:, 4].any()


def test_positions_are_a_uniform_sorted_subset_of_real_columns():
    log = EventLog.from_arrays([0] * 5, np.arange(5), np.arange(5) * 10, num_users=1)
    s = SequenceSampler(log, max_len=8, cut_time=1000, future_window=5, num_positions=2, seed=1)
    b = s.sample(np.zeros(5000, dtype=np.int64), step=3)
    pos = b.positions.numpy()
    assert (pos[:, 0] < pos[:, 1]).all()
    assert pos.min() >= 3 and pos.max() <= 7  # 5 real events in columns 3..7
    assert stats.chisquare(np.bincount(pos.ravel(), minlength=8)[3:]).pvalue > 1e-3
    assert not b.target_mask.any()  # gaps of 10 > window 5


def test_eval_batch_targets_after_cut():
    s = SequenceSampler(_log(), max_len=3, cut_time=50, future_window=12)
    e = s.eval_batch(np.array([0, 1, 2]), window=11)
    assert isinstance(e, SequenceEvalBatch)
    assert e.items.tolist() == [[101, 102, 103], [0, 0, 200], [0, 0, 0]]
    assert e.targets.to_lists() == [[104, 105], [], []]
    assert e.target_type.to_lists() == [[1, 0], [], []]
    assert s.eval_batch(np.array([1, 0]), window=None).targets.to_lists() == [[201], [104, 105]]
    e = s.eval_batch(np.array([0, 1]), cut_time=40, window=20)
    assert e.items.tolist() == [[101, 102, 103], [0, 0, 200]]
    assert e.targets.to_lists() == [[104], []]
    saves = SequenceSampler(_log(), 3, 50, 12, positive_actions=[SAVE])
    assert saves.eval_batch(np.array([0, 1]), cut_time=0).targets.to_lists() == [
        [101, 103], [200]
    ]


def test_active_users_and_empty_batch():
    s = SequenceSampler(_log(), max_len=3, cut_time=50, future_window=12)
    assert s.active_users(2).tolist() == [0]
    assert s.active_users(1).tolist() == [0, 1]
    b = s.sample(np.zeros(0, dtype=np.int64), step=0)
    assert b.items.shape == (0, 3) and b.targets.shape == (0, 1)
    e = s.eval_batch(np.zeros(0, dtype=np.int64))
    assert len(e.targets) == 0


def _random_log(seed, num_users=40, num_events=600):
    rng = np.random.default_rng(seed)
    return EventLog.from_arrays(
        rng.integers(0, num_users, num_events),
        rng.integers(0, 1000, num_events),
        rng.integers(0, 200, num_events),
        action=rng.integers(0, 2, num_events),
        num_users=num_users,
        action_names=("click", "save"),
    )


def test_determinism_threads_and_background_thread():
    log = _random_log(0)
    users = np.arange(40).repeat(5)
    s = SequenceSampler(log, max_len=16, cut_time=150, future_window=30, num_positions=4, seed=2)
    a = s.sample(users, step=7)
    fields = ("items", "positions", "targets", "target_mask", "next_item")
    same = SequenceSampler(log, 16, 150, 30, 4, seed=2).sample(users, step=7)
    assert all(torch.equal(getattr(a, f), getattr(same, f)) for f in fields)
    other = s.sample(users, step=8)
    assert not torch.equal(a.positions, other.positions)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = s.sample(users, step=7)
    finally:
        numba.set_num_threads(old)
    assert all(torch.equal(getattr(a, f), getattr(one, f)) for f in fields)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("b", s.sample(users, step=7)))
    t.start()
    t.join()
    assert all(torch.equal(getattr(a, f), getattr(box["b"], f)) for f in fields)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31), st.integers(1, 6), st.integers(1, 4), st.integers(1, 60),
    st.integers(0, 220),
)
def test_history_and_targets_match_reference(seed, max_len, num_pos, window, cut):
    log = _random_log(seed, num_users=6, num_events=60)
    s = SequenceSampler(log, max_len, cut, window, num_pos, seed=seed % 97,
                        positive_actions=["save"])
    users = np.arange(6)
    b = s.sample(users, step=0)
    ts, item, act = log.timestamp, log.item, log.action
    for u in users:
        sl = log.user_slice(u)
        before = np.flatnonzero(ts[sl] < cut)[-max_len:] + sl.start
        k = len(before)
        assert b.mask[u].tolist() == [False] * (max_len - k) + [True] * k
        assert b.items[u, max_len - k :].tolist() == item[before].tolist()
        assert b.timestamp[u, max_len - k :].tolist() == ts[before].tolist()
        for p in range(num_pos):
            if p >= k:
                assert not b.target_mask[u, p]
                continue
            col = int(b.positions[u, p])
            assert max_len - k <= col < max_len
            t0 = ts[before[col - (max_len - k)]]
            later = before[(ts[before] > t0) & (ts[before] <= t0 + window) & (act[before] == 1)]
            if len(later) == 0:
                assert not b.target_mask[u, p]
            else:
                assert b.target_mask[u, p]
                assert int(b.targets[u, p]) in item[later].tolist()


def test_bad_arguments():
    log = _log()
    with pytest.raises(ConfigError, match="max_len"):
        SequenceSampler(log, 0, 50, 10)
    with pytest.raises(ConfigError, match="future_window"):
        SequenceSampler(log, 3, 50, 0)
    with pytest.raises(ConfigError, match="num_positions"):
        SequenceSampler(log, 3, 50, 10, num_positions=0)
    with pytest.raises(ConfigError, match="cut_time"):
        SequenceSampler(log, 3, 50.5, 10)
    with pytest.raises(SchemaError, match="'like'"):
        SequenceSampler(log, 3, 50, 10, positive_actions=["like"])
    s = SequenceSampler(log, 3, 50, 10)
    with pytest.raises(GraphValidationError, match="out of range"):
        s.sample(np.array([0, 3]))
    with pytest.raises(ConfigError, match="window"):
        s.eval_batch(np.array([0]), window=0)
