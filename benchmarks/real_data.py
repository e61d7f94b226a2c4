"""Real data: train, export and evaluate graphrep on Cora, Gowalla and ogbl-ddi with each
dataset's official protocol, beside our own baselines and the published numbers.

Runs the CLI (exactly what a user types) per dataset, timing each command and its own
peak RSS, and prints one table::

    python benchmarks/real_data.py --data ../shared/data --out runs/real
    python benchmarks/real_data.py --data ../shared/data --datasets gowalla --refit
    python benchmarks/real_data.py --data ../shared/data --datasets cora --steps 100

The presets choose every hyperparameter (and stop early) on a validation split carved
from the training data. ``--refit`` then retrains on *all* the training data for the
validated number of epochs (``data.validation=0``, no validation) and scores that model
on the test split once, the usual select-then-refit protocol; without it the test figure
is the validated model's, trained on the carved-down training data. ``--steps`` overrides
the budget (a quick check); the numbers in docs/benchmarks.md use the presets as they are.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# dataset -> (root under --data, headline metrics, baselines, published figures)
DATASETS = {
    "cora": ("planetoid", ["accuracy"], ["node2vec", "mf"],
             {"GAT (supervised)": 83.0, "DGI (unsupervised)": 82.3}),
    "gowalla": ("gowalla", ["recall@20", "ndcg@20"], ["spectral", "mf", "lightgcn"],
                {"LightGCN": "0.1830 / 0.1554", "SimpleX": "0.1872 / 0.1557",
                 "BSPM": "0.1920 / –", "MF (BPR)": "0.1291 / 0.1109"}),
    "ogbl-ddi": ("ogb", ["hits@20"], ["node2vec", "mf"],
                 {"GraphSAGE": 0.5390, "GCN": 0.3707, "node2vec": 0.2326, "MF": 0.1368}),
}  # fmt: skip


def run(argv: list[str]) -> tuple[float, float]:
    """Run ``graphrep ARGV``; its wall seconds and its own peak RSS (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "graphrep", *argv])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"graphrep {' '.join(argv)} failed ({proc.returncode})")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def headline(models: dict, metrics: list[str]) -> dict[str, list[float | None]]:
    """``{model: [value of each metric]}`` on the test task of each model."""
    out = {}
    for name, m in models.items():
        tasks = m["tasks"]
        task = next((t for t in tasks if "test" in t), next(iter(tasks)))
        out[name] = [tasks[task].get(k) for k in metrics]
    return out


def pipeline(train: list[str], out: Path) -> dict[str, float]:
    """``train`` + ``embed`` + ``eval`` of one run: wall seconds and peak RSS of each."""
    if out.exists():
        shutil.rmtree(out)
    cost: dict[str, float] = {}
    for step, argv in (("train", [*train, "--out", str(out)]), ("embed", ["embed", str(out)]),
                       ("eval", ["eval", str(out)])):  # fmt: skip
        cost[f"{step}_s"], cost[f"{step}_rss_mib"] = run(argv)
    return cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data", help="the shared data directory")
    p.add_argument("--out", default="runs/real")
    p.add_argument("--cache-dir", default=None, help="writable dir for processed files")
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="config override passed to every `graphrep train`")  # fmt: skip
    p.add_argument("--refit", action="store_true",
                   help="retrain on all training data for the validated epochs; test that model")
    p.add_argument("--baselines", nargs="*", default=None,
                   help="baselines to train and score (default: each dataset's own; none: skip)")
    args = p.parse_args()
    lines = ["| dataset | metrics | model | test | val | train+embed+eval (s) | peak RSS (MiB) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in args.datasets:
        sub, metrics, baselines, published = DATASETS[name]
        out = Path(args.out) / name
        train = ["train", "--dataset", name, "--root", str(Path(args.data) / sub), "--no-progress"]
        if args.cache_dir:
            train += ["--cache-dir", args.cache_dir]
        if args.steps is not None:
            train += ["--steps", str(args.steps)]
        for item in args.set:
            train += ["--set", item]
        cost = pipeline(train, out)
        summary = json.loads((out / "train_summary.json").read_text())
        val = summary.get("best_value")
        scored = out
        if args.refit and val is not None:
            per_epoch = summary["steps"] / summary["epochs"]
            epochs = (summary["best_step"]) / per_epoch
            refit = [*train, "--set", "data.validation=0", "--set", "train.validate_every=0",
                     "--set", f"train.epochs={epochs:.6g}"]  # fmt: skip
            scored = out.with_name(f"{name}-refit")
            refit_cost = pipeline(refit, scored)
            print(f"{name}: refit for {epochs:.3g} epochs (best validation {val:.4f})", flush=True)
            cost = {k: cost[k] + refit_cost[k] if k.endswith("_s") else max(cost[k], refit_cost[k])
                    for k in cost}  # fmt: skip
        wall = sum(v for k, v in cost.items() if k.endswith("_s"))
        rss = max(v for k, v in cost.items() if k.endswith("_rss_mib"))
        chosen = baselines if args.baselines is None else args.baselines
        if chosen:
            run(["eval", str(scored), "--baselines", *chosen])
        result = json.loads((scored / "metrics.json").read_text())
        print(json.dumps({"dataset": name, "cost": cost, "validation": val,
                          "metrics": headline(result["models"], metrics),
                          "wall_s": result.get("wall_s")}), flush=True)  # fmt: skip
        shown_val = "–" if val is None or math.isnan(val) else f"{val:.4f}"
        for model, values in headline(result["models"], metrics).items():
            shown = " / ".join("–" if v is None else f"{v:.4f}" for v in values)
            own = model == summary.get("name", "omnisage") or model == "omnisage"
            time_s = f"{wall:.0f}" if own else f"{result.get('wall_s', {}).get(model, math.nan):.0f}"
            lines.append(f"| {name} | {' / '.join(metrics)} | graphrep {model} | {shown} | "
                         f"{shown_val if own else ''} | {time_s} | {rss:.0f} |" if own else
                         f"| {name} | {' / '.join(metrics)} | graphrep {model} | {shown} | | "
                         f"{time_s} (eval) | |")  # fmt: skip
        for model, value in published.items():
            lines.append(f"| {name} | {' / '.join(metrics)} | {model} (published) | {value} | | | |")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
