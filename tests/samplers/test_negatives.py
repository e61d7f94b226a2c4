import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.negatives import (
    PopularityNegativeSampler,
    UniformNegativeSampler,
    build_alias,
)


def _with_threads(n, fn):
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn()
    finally:
        numba.set_num_threads(old)


# --------------------------------------------------------------------------- uniform
def test_uniform_is_uniform_over_all_ids():
    s = UniformNegativeSampler(10, seed=3)
    neg = s.sample(20000, 3, step=0)
    assert neg.shape == (20000, 3) and neg.dtype == np.int64
    counts = np.bincount(neg.ravel(), minlength=10)
    assert len(counts) == 10
    assert stats.chisquare(counts).pvalue > 1e-3


def test_uniform_excludes_positive_and_is_uniform_over_the_rest():
    s = UniformNegativeSampler(7, seed=1)
    pos = np.full(30000, 4)
    neg = s.sample(pos, 2, step=5)
    assert not (neg == 4).any()
    counts = np.bincount(neg.ravel(), minlength=7)
    assert counts[4] == 0
    assert stats.chisquare(np.delete(counts, 4)).pvalue > 1e-3
    # mixed positives: never equal to the row's own positive
    pos = np.arange(5000) % 7
    neg = s.sample(pos, 6, step=6)
    assert not (neg == pos[:, None]).any()
    assert neg.min() >= 0 and neg.max() <= 6


def test_uniform_can_include_positive_when_asked():
    s = UniformNegativeSampler(3, seed=0)
    neg = s.sample(np.zeros(3000, dtype=np.int64), 1, exclude_positive=False, step=0)
    assert (neg == 0).any()


def test_uniform_deterministic_per_seed_and_step_and_thread_count():
    pos = np.arange(1000) % 50
    a = UniformNegativeSampler(50, seed=9).sample(pos, 4, step=2)
    b = UniformNegativeSampler(50, seed=9).sample(pos, 4, step=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, UniformNegativeSampler(50, seed=10).sample(pos, 4, step=2))
    assert not np.array_equal(a, UniformNegativeSampler(50, seed=9).sample(pos, 4, step=3))
    s = UniformNegativeSampler(50, seed=9)
    one = _with_threads(1, lambda: s.sample(pos, 4, step=2))
    two = _with_threads(2, lambda: s.sample(pos, 4, step=2))
    assert np.array_equal(one, a) and np.array_equal(two, a)


def test_uniform_internal_step_counter_replays():
    s1, s2 = UniformNegativeSampler(100, seed=4), UniformNegativeSampler(100, seed=4)
    x1, y1 = s1.sample(64, 2), s1.sample(64, 2)
    x2, y2 = s2.sample(64, 2), s2.sample(64, 2)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, y1)
    assert np.array_equal(x1, UniformNegativeSampler(100, seed=4).sample(64, 2, step=0))


def test_uniform_empty_batch():
    s = UniformNegativeSampler(5)
    assert s.sample(np.zeros(0, dtype=np.int64), 3, step=0).shape == (0, 3)
    assert s.sample(0, 3, step=0).shape == (0, 3)


def test_uniform_bad_arguments():
    with pytest.raises(ConfigError, match="num_nodes"):
        UniformNegativeSampler(0)
    with pytest.raises(ConfigError, match="seed"):
        UniformNegativeSampler(5, seed=-1)
    s = UniformNegativeSampler(5)
    with pytest.raises(ConfigError, match="num_negatives"):
        s.sample(np.array([1]), 0)
    with pytest.raises(GraphValidationError, match="out of range"):
        s.sample(np.array([1, 5]), 2)
    with pytest.raises(ConfigError, match="exclude_positive"):
        s.sample(4, 2, exclude_positive=True)
    with pytest.raises(ConfigError, match="num_nodes >= 2"):
        UniformNegativeSampler(1).sample(np.array([0]), 1)
    # a single id is fine without exclusion
    assert (UniformNegativeSampler(1).sample(np.array([0]), 3, exclude_positive=False) == 0).all()


def test_uniform_for_type():
    g = HeteroGraph.from_edges({"pin": 6, "board": 2}, {("board", "has", "pin"): ([0], [1])})
    s = UniformNegativeSampler.for_type(g, "pin", seed=0)
    assert s.num_nodes == 6
    with pytest.raises(SchemaError, match="'query'"):
        UniformNegativeSampler.for_type(g, "query")


# --------------------------------------------------------------------------- popularity
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40))
def test_alias_table_encodes_the_distribution_exactly(weights):
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w[0] = 1.0
    p = w / w.sum()
    prob, alias = build_alias(p)
    n = len(p)
    implied = prob / n + np.bincount(alias, weights=(1.0 - prob) / n, minlength=n)
    np.testing.assert_allclose(implied, p, atol=1e-9)
    # zero-mass ids are unreachable: never kept directly, never an alias target
    zero = p == 0
    assert (prob[zero] == 0).all()
    assert not zero[alias[prob < 1]].any()


def test_popularity_frequencies_match_counts_power_alpha():
    counts = np.array([0, 1, 2, 5, 10, 0, 30, 3], dtype=np.int64)
    s = PopularityNegativeSampler(counts, alpha=0.75, seed=2)
    ids, log_q = s.sample(40000, 2, step=0)
    q = np.where(counts > 0, counts.astype(float) ** 0.75, 0.0)
    q /= q.sum()
    np.testing.assert_allclose(s.probs, q, rtol=1e-12)
    np.testing.assert_allclose(log_q, np.log(q[ids]), rtol=1e-12)
    freq = np.bincount(ids.ravel(), minlength=len(counts))
    assert freq[0] == 0 and freq[5] == 0  # zero counts are never drawn
    support = counts > 0
    assert stats.chisquare(freq[support], q[support] * ids.size).pvalue > 1e-3


def test_popularity_smoothing_gives_zero_counts_mass():
    s = PopularityNegativeSampler(np.array([0, 0, 3]), alpha=1.0, add=1.0, seed=0)
    np.testing.assert_allclose(s.probs, [1 / 6, 1 / 6, 4 / 6])  # (c + 1) / 6
    ids, _ = s.sample(30000, 1, step=0)
    freq = np.bincount(ids.ravel(), minlength=3)
    assert stats.chisquare(freq, s.probs * ids.size).pvalue > 1e-3


def test_popularity_excludes_positive_with_conditional_log_q():
    counts = np.array([1.0, 2.0, 3.0, 4.0])
    s = PopularityNegativeSampler(counts, seed=7)
    pos = np.full(30000, 3)
    ids, log_q = s.sample(pos, 1, step=0)
    assert not (ids == 3).any()
    cond = np.array([1.0, 2.0, 3.0]) / 6.0  # q_j / (1 - q_3)
    np.testing.assert_allclose(log_q, np.log(cond[ids]), rtol=1e-12)
    freq = np.bincount(ids.ravel(), minlength=3)
    assert stats.chisquare(freq, cond * ids.size).pvalue > 1e-3
    pos = np.arange(4000) % 4
    ids, _ = s.sample(pos, 5, step=1)
    assert not (ids == pos[:, None]).any()


def test_popularity_log_prob_and_determinism():
    s = PopularityNegativeSampler(np.array([0, 1, 3]), seed=5)
    lp = s.log_prob(np.array([[0, 1], [2, 2]]))
    assert lp.shape == (2, 2) and lp[0, 0] == -np.inf
    np.testing.assert_allclose(lp[0, 1], np.log(0.25))
    with pytest.raises(GraphValidationError, match="out of range"):
        s.log_prob([3])
    a = s.sample(500, 3, step=1)
    b = PopularityNegativeSampler(np.array([0, 1, 3]), seed=5).sample(500, 3, step=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    one = _with_threads(1, lambda: s.sample(500, 3, step=1))
    assert np.array_equal(one[0], a[0])


def test_popularity_bad_arguments():
    with pytest.raises(ConfigError, match="every count is 0"):
        PopularityNegativeSampler(np.zeros(3))
    with pytest.raises(GraphValidationError, match="-1"):
        PopularityNegativeSampler(np.array([1, -1]))
    with pytest.raises(GraphValidationError, match="non-empty"):
        PopularityNegativeSampler(np.array([]))
    with pytest.raises(GraphValidationError, match="finite"):
        PopularityNegativeSampler(np.array([1.0, np.nan]))
    with pytest.raises(ConfigError, match="alpha"):
        PopularityNegativeSampler(np.array([1, 2]), alpha=-0.5)
    with pytest.raises(ConfigError, match="add"):
        PopularityNegativeSampler(np.array([1, 2]), add=-1)
    s = PopularityNegativeSampler(np.array([0, 5, 0]))
    with pytest.raises(ConfigError, match="exclude_positive"):
        s.sample(np.array([1]), 1)
    with pytest.raises(ConfigError, match="num_negatives"):
        s.sample(2, 0)
    assert (s.sample(3, 2)[0] == 1).all()


def test_popularity_for_type_uses_degrees():
    g = HeteroGraph.from_edges(
        {"board": 2, "pin": 3}, {("board", "has", "pin"): ([0, 0, 1, 1], [0, 2, 2, 2])}
    )
    s = PopularityNegativeSampler.for_type(g, "pin")
    np.testing.assert_allclose(s.probs, [0.25, 0.0, 0.75])
    with pytest.raises(SchemaError, match="'user'"):
        PopularityNegativeSampler.for_type(g, "user")
