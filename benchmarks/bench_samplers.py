"""Throughput of graphrep's importance neighborhoods and meta-path random walks.

The graph is the user-item click graph of ``../shared/tools/dgl-anchor/``: users
uniform, items Zipf(0.8) by popularity, drawn from ``numpy.random.default_rng(seed)``
exactly as that tool's ``pinsage_sampler.py`` draws it, so both libraries run on
the identical graph (``--save-edges FILE.npz`` writes its ``user``/``item``
arrays for the DGL script's ``--edges``). Prints exactly::

    graphrep importance walks=W topk=K: N seeds/s     (W, K) in (10, 3), (100, 10), (200, 50)
    graphrep random_walk: N steps/s

Importance neighborhoods do DGL ``PinSAGESampler``'s work per seed: item->user->item
traversed up to 2 times, restart 0.5 after each traversal, top-K items by visit
count, 1024 seeds a call (the same seeds as the DGL script: ``torch.randint`` with
``Generator().manual_seed(seed)``); after a warm-up call on 64 seeds, calls repeat
for ``--seconds``. Random walks go item->user->item x 5 (10 steps) from 200,000
random items; after a warm-up, calls repeat for ``--seconds`` (at least one).

usage: python benchmarks/bench_samplers.py [--clicks 5000000] [--threads 2]
       [--seconds 3] [--save-edges FILE.npz]
"""

from __future__ import annotations

import argparse
import sys
import time

import numba
import numpy as np
import torch

from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.importance import ImportanceSampler
from graphrep.samplers.walks import random_walk

SETTINGS = ((10, 3), (100, 10), (200, 50))


def make_edges(users: int, items: int, clicks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The dgl-anchor graph: users uniform, items Zipf(0.8) by popularity."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    pop /= pop.sum()
    u = rng.integers(0, users, clicks)
    i = rng.choice(items, clicks, p=pop)
    return u, i


def timed(fn, seconds: float) -> tuple[int, float]:
    """Call ``fn`` repeatedly for about ``seconds`` (at least once); ``(calls, elapsed)``."""
    t0 = time.perf_counter()
    reps = 0
    while True:
        fn()
        reps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return reps, elapsed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=200_000)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--clicks", type=int, default=5_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--save-edges", metavar="FILE.npz", help="write the graph's user/item arrays")
    a = p.parse_args(argv)

    u, i = make_edges(a.users, a.items, a.clicks, a.seed)
    if a.save_edges:
        np.savez(a.save_edges, user=u, item=i)
    t0 = time.perf_counter()
    g = HeteroGraph.from_edges({"user": a.users, "item": a.items}, {("user", "clicks", "item"): (u, i)})
    print(f"# graph built in {time.perf_counter() - t0:.1f}s: {g}", file=sys.stderr)
    del u, i
    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(a.threads)

    seeds = torch.randint(0, a.items, (1024,), generator=torch.Generator().manual_seed(a.seed)).numpy()
    for walks, k in SETTINGS:
        s = ImportanceSampler(
            g, ["rev_clicks", "clicks"], {"item": k}, num_walks=walks, num_traversals=2,
            restart_prob=0.5, seed=a.seed,
        )
        s.sample(seeds[:64])
        reps, elapsed = timed(lambda s=s: s.sample(seeds), a.seconds)
        print(f"graphrep importance walks={walks} topk={k}: {reps * len(seeds) / elapsed:.0f} seeds/s")

    starts = np.random.default_rng(a.seed + 1).integers(0, a.items, 200_000)
    metapath = ["rev_clicks", "clicks"]
    random_walk(g, starts[:100], metapath, num_traversals=5)
    reps, elapsed = timed(lambda: random_walk(g, starts, metapath, num_traversals=5), a.seconds)
    print(f"graphrep random_walk: {reps * len(starts) * 10 / elapsed:.0f} steps/s")


if __name__ == "__main__":
    main()
