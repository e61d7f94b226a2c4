"""Data-parallel overhead: 1 process × T threads against T processes × 1 thread.

Runs, back to back and at the same global batch, ``graphrep train --preset P`` in one
process with ``T`` torch threads, then under ``torchrun --nproc_per_node T`` with 1
thread each and per-rank batches divided by ``T`` -- with negatives pooled across
ranks (the default) and without -- and prints the global examples/s of each as a ratio
to the single process (``docs/scaling.md``)::

    python benchmarks/ddp_throughput.py --preset default --steps 60 --procs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from graphrep.train.presets import preset


def _train(args: list[str], out: Path, threads: int, env: dict[str, str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*args, "--out", str(out), "--threads", str(threads), "--no-progress"]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "train_summary.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--procs", type=int, default=2, help="processes (= threads of the 1-process run)")
    parser.add_argument("--out", default=None, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    t = args.procs
    tasks = preset(args.preset).tasks
    per_rank = [f"tasks.batch_size={tasks.batch_size // t}",
                f"tasks.num_random_negatives={tasks.num_random_negatives // t}",
                f"tasks.user_batch_size={tasks.user_batch_size // t}"]  # fmt: skip
    root = Path(args.out or tempfile.mkdtemp(prefix="ddp_throughput_"))
    base = ["train", "--preset", args.preset, "--steps", str(args.steps)]
    one_env = {**os.environ, "OMP_NUM_THREADS": str(t)}
    rank_env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(t),
                "-m", "graphrep"]  # fmt: skip
    sets = [x for kv in per_rank for x in ("--set", kv)]
    runs = {
        f"1 process x {t} threads": (
            _train([sys.executable, "-m", "graphrep", *base], root / "one", t, one_env), 1),
        f"{t} processes x 1 thread, pooled negatives": (
            _train([*torchrun, *base, *sets], root / "pooled", 1, rank_env), t),
        f"{t} processes x 1 thread, own negatives": (
            _train([*torchrun, *base, *sets, "--set", "train.gather_negatives=false"],
                   root / "own", 1, rank_env), t),
    }  # fmt: skip
    ref = None
    print(f"preset {args.preset}, {args.steps} steps, global batch {tasks.batch_size} pairs")
    for name, (summary, ranks) in runs.items():
        rate = summary["examples_per_s"] * ranks  # rank 0's rate times the ranks
        ref = ref or rate
        print(f"{name:45s} {rate:8.0f} examples/s  {rate / ref:5.2f}x  "
              f"peak RSS {summary['peak_rss_mib']:,.0f} MiB per process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
