import numba
import numpy as np
from scipy import stats

from graphrep.utils.rng import next_below, next_float, stream_state


@numba.njit
def _floats(seed, stream, index, n):
    s = stream_state(seed, stream, index)
    out = np.empty(n)
    for i in range(n):
        s, out[i] = next_float(s)
    return out


@numba.njit
def _ints(seed, n, k):
    s = stream_state(seed, 0, 0)
    out = np.empty(n, np.int64)
    for i in range(n):
        s, out[i] = next_below(s, k)
    return out


def test_floats_are_uniform_and_reproducible():
    a = _floats(7, 1, 3, 20000)
    assert np.array_equal(a, _floats(7, 1, 3, 20000))
    assert (a >= 0).all() and (a < 1).all()
    assert stats.kstest(a, "uniform").pvalue > 1e-3


def test_streams_differ_by_seed_stream_and_index():
    base = _floats(7, 1, 3, 100)
    for other in (_floats(8, 1, 3, 100), _floats(7, 2, 3, 100), _floats(7, 1, 4, 100)):
        assert not np.allclose(base, other)
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.35


def test_next_below_is_uniform_over_range():
    x = _ints(3, 70000, 7)
    assert x.min() == 0 and x.max() == 6
    counts = np.bincount(x, minlength=7)
    assert stats.chisquare(counts).pvalue > 1e-3
