"""Build time and topology bytes per edge: graphrep ``HeteroGraph`` vs PyG ``HeteroData``.

The same random user→item edge list (users uniform, items Zipf(0.8)) is stored
by both, in both directions:

* graphrep: ``HeteroGraph.from_edges`` — CSR forward + reverse (int64 indptr,
  int32 indices), rows sorted;
* PyG: ``HeteroData`` with ``edge_index`` (int64 ``[2, E]``) for the relation and
  its reverse, as ``T.ToUndirected()`` makes it.

Prints one line per size with the ratio of the two in the same run::

    python benchmarks/bench_graph.py --edges 1e6 1e7 5e7
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import torch

from graphrep import HeteroGraph


def make_edges(num_edges: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int, int]:
    rng = np.random.default_rng(seed)
    users, items = max(num_edges // 20, 1), max(num_edges // 50, 1)
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    cdf = np.cumsum(pop / pop.sum())
    u = rng.integers(0, users, num_edges)
    i = np.minimum(np.searchsorted(cdf, rng.random(num_edges)), items - 1)
    return u, i, users, items


def bench_graphrep(u: np.ndarray, i: np.ndarray, users: int, items: int) -> tuple[float, int]:
    t = time.perf_counter()
    g = HeteroGraph.from_edges({"user": users, "item": items}, {("user", "clicks", "item"): (u, i)})
    return time.perf_counter() - t, g.nbytes_topology


def bench_pyg(u: np.ndarray, i: np.ndarray, users: int, items: int) -> tuple[float, int]:
    from torch_geometric.data import HeteroData

    t = time.perf_counter()
    data = HeteroData()
    data["user"].num_nodes, data["item"].num_nodes = users, items
    ei = torch.stack([torch.from_numpy(u), torch.from_numpy(i)])  # int64 [2, E]
    data["user", "clicks", "item"].edge_index = ei
    data["item", "rev_clicks", "user"].edge_index = ei.flip(0)
    elapsed = time.perf_counter() - t
    nbytes = sum(s.edge_index.numel() * s.edge_index.element_size() for s in data.edge_stores)
    return elapsed, nbytes


def bench_pyg_sorted(u: np.ndarray, i: np.ndarray, users: int, items: int) -> float:
    """PyG made sampler-ready: both edge_index arrays sorted by source (what CSR needs)."""
    from torch_geometric.utils import sort_edge_index

    t = time.perf_counter()
    ei = torch.stack([torch.from_numpy(u), torch.from_numpy(i)])
    fwd = sort_edge_index(ei, num_nodes=max(users, items))
    rev = sort_edge_index(ei.flip(0), num_nodes=max(users, items))
    elapsed = time.perf_counter() - t
    del fwd, rev
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=float, nargs="+", default=[1e6, 1e7, 5e7])
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    bench_graphrep(*make_edges(1000))  # compile the numba kernels outside the timing
    print(
        "| edges | graphrep build s | PyG build s | PyG build+sort s | graphrep B/edge "
        "| PyG B/edge | memory ratio PyG/graphrep |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for e in a.edges:
        n = int(e)
        u, i, users, items = make_edges(n)
        tg, bg = bench_graphrep(u, i, users, items)
        gc.collect()
        tp, bp = bench_pyg(u, i, users, items)
        gc.collect()
        ts = bench_pyg_sorted(u, i, users, items)
        gc.collect()
        print(
            f"| {n:,} | {tg:.2f} | {tp:.2f} | {ts:.2f} | {bg / n:.2f} | {bp / n:.2f} | {bp / bg:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
