"""Prefetcher: step order whatever the worker count, bounded look-ahead, errors re-raised."""

from __future__ import annotations

import threading
import time

import pytest

from graphrep.errors import ConfigError
from graphrep.train.prefetch import Prefetcher


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_arrive_in_step_order(workers):
    got = [(s, b) for s, b, _ in Prefetcher(lambda s: s * s, 3, 20, depth=4, workers=workers)]
    assert got == [(s, s * s) for s in range(3, 20)]


def test_lookahead_is_bounded():
    produced = []
    lock = threading.Lock()

    def sample(step):
        with lock:
            produced.append(step)
        return step

    stream = Prefetcher(sample, 0, 1000, depth=3, workers=1)
    it = iter(stream)
    next(it)
    time.sleep(0.3)
    # one consumed + depth queued + one being produced (blocked on put)
    assert len(produced) <= 1 + 3 + 1
    stream.close()


def test_wait_time_measures_slow_sampling():
    waits = [w for _, _, w in Prefetcher(lambda s: time.sleep(0.05) or s, 0, 4, depth=1)]
    assert sum(waits) >= 0.1


def test_sampling_error_reaches_consumer():
    def sample(step):
        if step == 2:
            raise ValueError("bad step 2")
        return step

    with pytest.raises(ValueError, match="bad step 2"):
        list(Prefetcher(sample, 0, 5))


def test_close_stops_workers_early():
    stream = Prefetcher(lambda s: s, 0, 10**9, depth=2, workers=2)
    it = iter(stream)
    next(it)
    stream.close()
    assert not any(t.is_alive() for t in stream._threads)


def test_bad_arguments():
    with pytest.raises(ConfigError):
        Prefetcher(lambda s: s, 0, 1, depth=0)


def test_kernel_threads_apply_inside_the_workers():
    numba = pytest.importorskip("numba")
    got = [n for _, n, _ in Prefetcher(lambda s: numba.get_num_threads(), 0, 4, workers=2, kernel_threads=1)]
    assert got == [1, 1, 1, 1]
