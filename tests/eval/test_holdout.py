"""Held-out tasks: pairs grouped per query, self excluded, users' future window from the log."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.eval.holdout import future_task, pair_task, synthetic_tasks


@pytest.fixture(scope="module")
def ds():
    return generate("tiny", 0)


def test_pair_task_groups_and_excludes_self():
    pairs = np.array([[0, 1], [0, 2], [3, 1], [0, 1]])
    t = pair_task("p", pairs, "pin", "pin", symmetric=True)
    assert t.queries.tolist() == [0, 1, 2, 3]
    assert [sorted(t.relevant[i].tolist()) for i in range(4)] == [[1, 2], [0, 3], [0], [1]]
    assert [t.exclude[i].tolist() for i in range(4)] == [[0], [1], [2], [3]]
    cross = pair_task("b", pairs, "board", "pin")
    assert cross.exclude is None and cross.queries.tolist() == [0, 3]


def test_subsample_keeps_rows_aligned():
    pairs = np.stack([np.arange(100), np.arange(100) + 1000], 1)
    t = pair_task("p", pairs, "a", "b").subsample(10, seed=3)
    assert len(t.queries) == 10
    for i, q in enumerate(t.queries):
        assert t.relevant[i].tolist() == [q + 1000]


def test_future_task_matches_the_log(ds):
    t = future_task(ds)
    ev, cut = ds.events, ds.meta["cut_time"]
    hide = ev.action_names.index("hide")
    ts, user, item, act = (np.asarray(a) for a in (ev.timestamp, ev.user, ev.item, ev.action))
    has_history = np.bincount(user[ts < cut], minlength=ev.num_users) > 0
    for i, u in enumerate(t.queries[:20]):
        want = np.unique(item[(user == u) & (ts >= cut) & (act != hide)])
        assert sorted(t.relevant[i].tolist()) == want.tolist()
        assert has_history[u]
    future_users = np.unique(user[(ts >= cut) & (act != hide)])
    assert set(t.queries) == set(future_users[has_history[future_users]])


def test_synthetic_tasks(ds):
    names = [t.name for t in synthetic_tasks(ds)]
    assert names == ["pin→pin", "board→pin", "query→pin", "user→pin"]
    ds2 = type(ds)(ds.graph, ds.events, {}, ds.meta)
    with pytest.raises(ConfigError, match="held-out"):
        synthetic_tasks(ds2)
