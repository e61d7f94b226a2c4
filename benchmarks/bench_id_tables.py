"""Step time of id-table training against table size: sparse rows (SparseAdam) vs dense AdamW.

One step is what the light encoder does on an interaction graph: a batch of ``B`` query
ids and ``B`` positive ids, each pooled with ``K`` sampled neighbours' rows, scored
against ``N`` shared random negatives with a softmax, then the optimizer step of
:class:`graphrep.train.optim.RunOptimizer`. With sparse gradients the step touches
``B (2 + 2K) + N`` rows whatever the table size; with a dense table every step reads and
writes all rows (AdamW's moments). Prints the median step time per setting and the ratio
to the smallest table, all measured in one run.

    python benchmarks/bench_id_tables.py --rows 100000 10000000 --dense-rows 100000 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from graphrep.models.id_embedding import IdEmbedding
from graphrep.train.config import TrainConfig
from graphrep.train.optim import RunOptimizer


def step_time(rows: int, dim: int, sparse: bool, batch: int, k: int, negatives: int,
              steps: int, seed: int = 0) -> float:  # fmt: skip
    """Median seconds of ``steps`` training steps (after 3 warm-up steps)."""
    torch.manual_seed(seed)
    table = IdEmbedding(rows, dim, "exact", sparse=sparse)
    opt = RunOptimizer(table, TrainConfig(lr=1e-3, warmup_steps=0, steps=10**6, grad_clip=0))
    gen = torch.Generator().manual_seed(seed)
    times = []
    for i in range(steps + 3):
        q, p = (torch.randint(0, rows, (batch,), generator=gen) for _ in range(2))
        nq, np_ = (torch.randint(0, rows, (batch, k), generator=gen) for _ in range(2))
        neg = torch.randint(0, rows, (negatives,), generator=gen)
        t0 = time.perf_counter()
        zq = F.normalize(table(q) + table(nq).mean(1), dim=-1)
        zp = F.normalize(table(p) + table(np_).mean(1), dim=-1)
        zn = F.normalize(table(neg), dim=-1)
        logits = torch.cat([zq @ zp.T, zq @ zn.T], 1) / 0.1
        loss = F.cross_entropy(logits, torch.arange(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[100_000, 10_000_000])
    p.add_argument("--dense-rows", type=int, nargs="*", default=[100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--neighbors", type=int, default=16)
    p.add_argument("--negatives", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"dim {a.dim}, batch {a.batch}, {a.neighbors} neighbours, {a.negatives} negatives, "
          f"{a.threads} threads, median of {a.steps} steps")  # fmt: skip
    base = None
    for kind, sizes in (("sparse (SparseAdam)", a.rows), ("dense (AdamW)", a.dense_rows)):
        for rows in sizes:
            t = step_time(rows, a.dim, kind.startswith("sparse"), a.batch, a.neighbors,
                          a.negatives, a.steps)  # fmt: skip
            base = base or t
            print(f"{kind:<20} rows {rows:>12,}: {1000 * t:8.1f} ms/step  ({t / base:.2f}x the "
                  f"first row)")  # fmt: skip


if __name__ == "__main__":
    main()
