"""Background sampling: batches are produced ahead of the model in worker threads.

Sampling is numpy/numba code that releases the GIL (the kernels are ``nogil``),
so a thread overlaps it with the forward/backward pass. Each of ``workers``
threads produces every ``workers``-th step into its own bounded queue, and the
consumer reads the queues round-robin: batches arrive in step order, so a run
is the same whatever the number of workers. A sampling error is re-raised in
the consumer with its traceback; closing stops the workers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from graphrep.errors import ConfigError


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher:
    """Iterate ``(step, batch, wait_seconds)`` for ``step`` in ``[start, stop)``.

    Args:
        sample: ``sample(step) -> batch`` (thread-safe, a pure function of ``step``).
        start: first step.
        stop: one past the last step.
        depth: batches buffered ahead of the consumer (in total).
        workers: sampling threads.
        kernel_threads: threads of the compiled (numba) sampling kernels inside each
            worker (``None``: numba's default, every core). One keeps a worker on one core,
            so the kernels neither wait for cores the model's threads hold nor spin on them.

    ``wait_seconds`` is how long the consumer blocked for that batch: the time
    the model sat idle waiting on sampling.
    """

    def __init__(
        self,
        sample: Callable[[int], Any],
        start: int,
        stop: int,
        depth: int = 4,
        workers: int = 1,
        kernel_threads: int | None = None,
    ) -> None:
        if workers < 1 or depth < 1:
            raise ConfigError(f"Prefetcher: depth and workers must be >= 1, got {depth}, {workers}")
        self.sample, self.start, self.stop = sample, int(start), int(stop)
        self.workers = int(workers)
        self.kernel_threads = kernel_threads
        per = max(1, -(-depth // workers))
        self._queues: list[queue.Queue] = [queue.Queue(per) for _ in range(workers)]
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(w,), name=f"graphrep-sampler-{w}", daemon=True)
            for w in range(workers)
        ]
        for t in self._threads:
            t.start()

    def _put(self, q: queue.Queue, item: Any) -> bool:
        while not self._halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, w: int) -> None:
        q = self._queues[w]
        if self.kernel_threads is not None:
            import numba

            numba.set_num_threads(min(int(self.kernel_threads), numba.config.NUMBA_NUM_THREADS))
        for step in range(self.start + w, self.stop, self.workers):
            if self._halt.is_set():
                return
            try:
                item: Any = (step, self.sample(step))
            except BaseException as exc:  # forwarded to the consumer
                self._put(q, _Failure(exc))
                return
            if not self._put(q, item):
                return

    def __iter__(self) -> Iterator[tuple[int, Any, float]]:
        try:
            for step in range(self.start, self.stop):
                q = self._queues[(step - self.start) % self.workers]
                t0 = time.perf_counter()
                item = q.get()
                wait = time.perf_counter() - t0
                if isinstance(item, _Failure):
                    raise item.exc
                got, batch = item
                assert got == step, (got, step)
                yield step, batch, wait
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._halt.set()
        for q in self._queues:
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
