"""Cost of the integrity pass graphrep runs when it loads a saved dataset.

Loading a graph checks what the compiled samplers rely on before any of them runs
(:mod:`graphrep.graph.integrity`): every relation's ``indptr`` (from 0,
non-decreasing, ending at ``len(indices)``), its ids against the target type's
count, finite edge arrays, and that the stored reverse holds exactly the forward
edges and edge values (sorted rows, keyed multiset hash); the event log's user
offsets, time order, codes and item ids
(:func:`graphrep.graph.eventlog.check_event_columns`). This script times

* reading every array of the dataset into memory (``read_array``, no validation),
* the validation pass alone on those arrays, per relation (best of ``--repeat``),
* ``GraphDataset.load`` memory-mapped (validation included, page cache warm),

and prints the pass's ratio to the read. ``--exact`` also times, per relation, the
exact stable-transpose walk that the check runs only to locate a mismatch (random
access into the reverse, for comparison with the streaming hash)::

    graphrep synth --preset large --out /tmp/large      # 60.7M edges, ~80 s
    python benchmarks/bench_validate.py /tmp/large --exact
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.graph.eventlog import check_event_columns
from graphrep.graph.integrity import _bits, _transpose_mismatch, check_reverse
from graphrep.utils.arrays import read_array


def read_all(root: Path) -> float:
    """Seconds to read every array named by the manifests under ``root`` into memory."""
    t = time.perf_counter()
    for manifest in sorted(root.rglob("manifest.json")):
        stack = [json.loads(manifest.read_text())]
        while stack:
            node = stack.pop()
            if isinstance(node, dict) and isinstance(node.get("file"), str) and "dtype" in node:
                if node["file"].endswith(".npy"):
                    read_array(manifest.parent, node, False, node["file"])
            elif isinstance(node, dict | list):
                stack.extend(node.values() if isinstance(node, dict) else node)
    return time.perf_counter() - t


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("data", help="a dataset directory written by `graphrep synth`")
    p.add_argument("--threads", type=int, default=0, help="numba threads (0: numba's default)")
    p.add_argument("--repeat", type=int, default=3, help="timings per figure (the best is kept)")
    p.add_argument("--exact", action="store_true", help="also time the exact transpose walk")
    args = p.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    root = Path(args.data)
    ds = GraphDataset.load(root, mmap=False)  # warms the page cache and the compiled kernels
    read = best(lambda: read_all(root), min(args.repeat, 2))
    g = ds.graph
    print(f"numba threads {numba.get_num_threads()}; {g.num_edges():,} edges, "
          f"{0 if ds.events is None else len(ds.events):,} events")  # fmt: skip
    total = 0.0
    for et in g.canonical_edge_types:
        fwd, rev = g.csr(et), g.csr(g.reverse_of(et))
        s = best(lambda fwd=fwd, rev=rev, et=et: check_reverse(fwd, rev, str(et)), args.repeat)
        total += s
        print(f"  {et[0]}-{et[1]}->{et[2]}: {fwd.num_edges:>12,} edges, edge arrays "
              f"{sorted(fwd.edge_data) or '-'}: {s:6.2f} s ({fwd.num_edges / s / 1e6:.0f}M edges/s)")
        if args.exact:
            pairs = [(_bits(fwd.edge_data[k]), _bits(rev.edge_data[k])) for k in fwd.edge_data]
            s = best(lambda fwd=fwd, rev=rev, pairs=pairs: [_transpose_mismatch(
                fwd.indptr, fwd.indices, rev.indptr, rev.indices, a, b, True) for a, b in pairs],
                min(args.repeat, 2))  # fmt: skip
            print(f"      exact transpose walk, one per edge array: {s:6.2f} s")
    if ds.events is not None:
        ev = ds.events
        cols = {k: getattr(ev, k) for k in ("user", "item_type", "item", "action", "surface",
                                             "timestamp")}  # fmt: skip
        counts = np.array([g.num_nodes[t] for t in ev.item_types], dtype=np.int64)
        s = best(lambda: check_event_columns(cols, ev.user_offsets, counts, len(ev.action_names),
                                             len(ev.surface_names), "EventLog"), args.repeat)  # fmt: skip
        total += s
        print(f"  event log: {len(ev):>12,} events: {s:6.2f} s")
    mmap = best(lambda: GraphDataset.load(root, mmap=True), min(args.repeat, 2))
    print(f"validation pass {total:.2f} s; reading every array into memory {read:.2f} s "
          f"(ratio {total / read:.2f}); memory-mapped load with validation {mmap:.2f} s")


if __name__ == "__main__":
    main()
