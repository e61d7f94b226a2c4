"""Real data: train, export and evaluate graphrep on Cora, Gowalla and ogbl-ddi with each
dataset's official protocol, beside our own baselines (node2vec, matrix factorisation)
and the published numbers.

Runs the CLI (exactly what a user types) per dataset, timing each command and its
peak RSS, and prints one table::

    python benchmarks/real_data.py --data ../shared/data --out runs/real
    python benchmarks/real_data.py --data ../shared/data --datasets cora --steps 100

``--steps`` overrides the presets' training steps (for a quick check); the numbers in
docs/benchmarks.md use the presets as they are.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# dataset -> (root under --data, headline metric key, published figures)
DATASETS = {
    "cora": ("planetoid", "accuracy", {"GAT (supervised)": 83.0, "DGI (unsupervised)": 82.3}),
    "gowalla": ("gowalla", "recall@20", {"LightGCN": 0.1830, "NGCF": 0.1570, "MF": 0.1291}),
    "ogbl-ddi": ("ogb", "hits@20", {"GraphSAGE": 0.5390, "GCN": 0.3707, "node2vec": 0.2326,
                                    "MF": 0.1368}),
}  # fmt: skip
BASELINES = ["node2vec", "mf"]


def run(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "graphrep", *argv], check=False)
    if proc.returncode != 0:
        sys.exit(f"graphrep {' '.join(argv)} failed ({proc.returncode})")
    return time.perf_counter() - t0


def headline(models: dict, metric: str) -> dict[str, float]:
    """``{model: value}`` of the metric on the test task of each model."""
    out = {}
    for name, m in models.items():
        tasks = m["tasks"]
        task = next((t for t in tasks if "test" in t), next(iter(tasks)))
        out[name] = tasks[task].get(metric)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data", help="the shared data directory")
    p.add_argument("--out", default="runs/real")
    p.add_argument("--cache-dir", default=None, help="writable dir for processed files")
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--no-baselines", action="store_true")
    args = p.parse_args()
    lines = ["| dataset | metric | model | value | train+embed+eval (s) |", "|---|---|---|---|---|"]
    for name in args.datasets:
        sub, metric, published = DATASETS[name]
        out = Path(args.out) / name
        train = ["train", "--dataset", name, "--root", str(Path(args.data) / sub), "--out", str(out),
                 "--no-progress"]  # fmt: skip
        if args.cache_dir:
            train += ["--cache-dir", args.cache_dir]
        if args.steps is not None:
            train += ["--steps", str(args.steps)]
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        wall = run(train) + run(["embed", str(out)]) + run(["eval", str(out)])
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if not args.no_baselines:
            run(["eval", str(out), "--baselines", *BASELINES])
        result = json.loads((out / "metrics.json").read_text())
        for model, value in headline(result["models"], metric).items():
            shown = "–" if value is None else f"{value:.4f}"
            time_s = f"{wall:.0f} (peak RSS so far {rss:.0f} MiB)" if model == "omnisage" else ""
            lines.append(f"| {name} | {metric} | graphrep {model} | {shown} | {time_s} |")
        for model, value in published.items():
            lines.append(f"| {name} | {metric} | {model} (published) | {value:.4f} | |")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
