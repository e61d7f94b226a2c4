"""The main job end to end, timed: train -> embed -> eval (-> baselines) on a preset.

Runs the CLI commands as child processes (exactly what a user types) and prints,
per command, wall time and peak RSS, then the training throughput and sampling
wait share from ``RUN/train_summary.json`` and the results table::

    python benchmarks/main_job.py --preset default --out runs/bench
    python benchmarks/main_job.py --preset default --out runs/bench --baselines

Baselines are trained with the run's own config (same steps, batches, lr), so the
table compares models at equal training budget.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from graphrep.eval.report import results_table


def timed(argv: list[str]) -> tuple[float, float]:
    """Run ``graphrep argv``; return (wall seconds, peak RSS MiB of the child)."""
    cmd = [sys.executable, "-m", "graphrep", *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    # RUSAGE_CHILDREN's maxrss is the largest child so far; each step is reported cumulatively
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--baselines", action="store_true", help="also train and score every baseline")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training")
    args = p.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    train = ["train", "--preset", args.preset, "--out", str(out), "--no-progress"]
    if args.threads is not None:
        train += ["--threads", str(args.threads)]
    rows = [("train", *timed(train)), ("embed", *timed(["embed", str(out)])),
            ("eval", *timed(["eval", str(out)]))]  # fmt: skip
    if args.baselines:
        rows.append(("eval --baselines", *timed(["eval", str(out), "--baselines"])))
    summary = json.loads((out / "train_summary.json").read_text())
    print()
    print("| step | wall (s) | peak RSS so far (MiB) |\n|---|---|---|")
    for name, wall, rss in rows:
        print(f"| {name} | {wall:.1f} | {rss:.0f} |")
    main_wall = sum(w for n, w, _ in rows if n in ("train", "embed", "eval"))
    print(f"\nmain job (train + embed + eval): {main_wall:.1f} s")
    print(
        f"training: {summary['examples_per_s']:.0f} examples/s, sampling wait "
        f"{100 * summary['sampling_wait_share']:.2f}% of step time, "
        f"{summary['num_threads']} torch threads"
    )
    metrics = json.loads((out / "metrics.json").read_text())
    print()
    print(results_table(metrics["models"], "recall@10", ["pin_topic_purity@10", "p90_coverage@10"]))


if __name__ == "__main__":
    main()
