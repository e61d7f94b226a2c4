import numba
import numpy as np
import pytest
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.hard_negatives import (
    HardNegativeSampler,
    curriculum_num_hard,
    default_push_eps,
    default_rank_band,
)

PINS, BOARDS = 60, 15
PATH = ["saved_to", "rev_saved_to"]
ALPHA = 0.3
BAND = (5, 15)


def _edges():
    rng = np.random.default_rng(0)
    src = np.repeat(np.arange(PINS), rng.integers(1, 4, PINS))
    dst = rng.integers(0, BOARDS, len(src))
    return src, dst


def _graph():
    # pin PINS (the last) is isolated: no board
    src, dst = _edges()
    return HeteroGraph.from_edges(
        {"pin": PINS + 1, "board": BOARDS},
        {("pin", "saved_to", "board"): (src, dst)},
        duplicates="merge",
    )


def _exact_ppr():
    """pi_s = alpha e_s (I - (1 - alpha) P)^-1 for the pin->board->pin transition P."""
    src, dst = _edges()
    a = np.zeros((PINS + 1, BOARDS))
    a[src, dst] = 1
    pb = a / np.maximum(a.sum(1, keepdims=True), 1)
    bp = a.T / np.maximum(a.T.sum(1, keepdims=True), 1)
    p = pb @ bp
    return ALPHA * np.linalg.inv(np.eye(PINS + 1) - (1 - ALPHA) * p)


def _rank_range(scores, query, node):
    """Possible 0-based ranks of ``node`` in the query's ranking (query removed, ties either way)."""
    s = np.delete(scores, query)
    v = scores[node]
    tol = 1e-7 * scores.max()
    return int((s > v + tol).sum()), int((s >= v - tol).sum()) - 1


def _sampler(**kw):
    kw = {"rank_band": BAND, "restart": ALPHA, "eps": 1e-10, "seed": 0, **kw}
    return HardNegativeSampler(_graph(), PATH, **kw)


def test_negatives_lie_in_the_exact_ppr_rank_band():
    pi = _exact_ppr()
    s = _sampler()
    queries = np.arange(PINS)
    neg = s.sample(queries, 6, step=0)
    assert neg.shape == (PINS, 6) and neg.dtype == np.int64
    checked = 0
    for q in queries:
        reached = int((np.delete(pi[q], q) > 0).sum())
        if reached <= BAND[0]:
            continue  # fallback rows are tested separately
        for v in neg[q]:
            assert v != q
            first, last = _rank_range(pi[q], q, v)
            assert first < BAND[1] and last >= BAND[0], (q, v, first, last)
            checked += 1
    assert checked > 100


def test_band_draws_are_uniform_and_skip_the_positive():
    s = _sampler()
    ranked, valid = s.ranking(np.array([0]))
    band = ranked[0][valid[0]][BAND[0] : BAND[1]]
    assert len(band) == BAND[1] - BAND[0]
    neg = s.sample(np.zeros(3000, dtype=np.int64), 2, step=1)
    assert set(np.unique(neg)) == set(band.tolist())
    counts = np.array([(neg == v).sum() for v in band])
    assert stats.chisquare(counts).pvalue > 1e-3
    positive = band[3]
    neg = s.sample(np.zeros(2000, dtype=np.int64), 3, positives=np.full(2000, positive), step=2)
    assert not (neg == positive).any()
    assert set(np.unique(neg)) == set(band.tolist()) - {positive}


def test_fallback_to_uniform_for_isolated_and_cold_queries():
    s = _sampler()
    iso = PINS  # isolated pin: empty ranking
    neg = s.sample(np.full(4000, iso), 1, positives=np.full(4000, 7), step=0)
    assert not (neg == iso).any() and not (neg == 7).any()
    counts = np.bincount(neg.ravel(), minlength=PINS + 1)
    assert stats.chisquare(np.delete(counts, [7, iso])).pvalue > 1e-3
    # a band deeper than any ranking: every query falls back
    deep = _sampler(rank_band=(PINS + 5, PINS + 10))
    out = deep.sample(np.arange(PINS), 2, step=0)
    assert not (out == np.arange(PINS)[:, None]).any()


def test_curriculum():
    assert [curriculum_num_hard(e) for e in (1, 2, 3, 6)] == [0, 1, 2, 5]
    assert curriculum_num_hard(6, max_hard=3) == 3
    s = _sampler()
    q = np.array([0, 1, 2])
    assert s.sample_for_epoch(q, 1).shape == (3, 0)
    assert s.sample_for_epoch(q, 4, step=0).shape == (3, 3)
    assert np.array_equal(s.sample_for_epoch(q, 3, step=5), s.sample(q, 2, step=5))
    with pytest.raises(ConfigError, match="epoch"):
        curriculum_num_hard(0)


def test_default_rank_band_scaling():
    assert default_rank_band(3_000_000_000) == (2000, 5000)
    assert default_rank_band(100_000) == (2000, 5000)
    assert default_rank_band(10_000) == (200, 500)
    assert default_rank_band(1_000) == (20, 50)
    assert default_rank_band(10) == (1, 2)
    assert default_rank_band(0) == (1, 2)
    assert default_push_eps(5000) == pytest.approx(4e-6)
    assert HardNegativeSampler(_graph(), PATH).rank_band == default_rank_band(PINS + 1)


def test_determinism_and_thread_count():
    s = _sampler(seed=4)
    q = np.arange(PINS).repeat(3)
    a = s.sample(q, 4, step=3)
    assert np.array_equal(a, _sampler(seed=4).sample(q, 4, step=3))
    assert not np.array_equal(a, s.sample(q, 4, step=4))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = s.sample(q, 4, step=3)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a, one)


def test_empty_and_bad_arguments():
    g = _graph()
    s = _sampler()
    assert s.sample(np.zeros(0, dtype=np.int64), 3).shape == (0, 3)
    with pytest.raises(ConfigError, match="lo < hi"):
        HardNegativeSampler(g, PATH, rank_band=(5, 5))
    with pytest.raises(ConfigError, match="rank_band"):
        HardNegativeSampler(g, PATH, rank_band=(5,))
    with pytest.raises(ConfigError, match="start type"):
        HardNegativeSampler(g, ["saved_to"])
    with pytest.raises(SchemaError, match="nope"):
        HardNegativeSampler(g, ["nope", "rev_nope"])
    with pytest.raises(ConfigError, match="restart"):
        HardNegativeSampler(g, PATH, restart=1.0)
    with pytest.raises(ConfigError, match="num_negatives"):
        s.sample(np.array([0]), 0)
    with pytest.raises(GraphValidationError, match="out of range"):
        s.sample(np.array([PINS + 1]), 1)
    with pytest.raises(ConfigError, match="positives"):
        s.sample(np.array([0, 1]), 1, positives=np.array([2]))
    tiny = HeteroGraph.from_edges({"pin": 2, "board": 1}, {("pin", "saved_to", "board"): ([0], [0])})
    with pytest.raises(ConfigError, match=">= 3"):
        HardNegativeSampler(tiny, PATH).sample(np.array([0]), 1)
