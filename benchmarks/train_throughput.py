"""Training throughput of a preset: examples/s, where a step's time goes, FLOPs and FLOP/s.

Four measurements, all in one process and one run (so ratios between them are sound):

* ``peak``: the fp32 matmul rate of this machine (``n x n`` matmuls, the run's threads).
* ``train``: :class:`graphrep.train.Trainer` trains the preset for ``--steps`` steps in a
  temporary run directory; examples/s per logged window (``metrics.csv``, the same
  figure ``graphrep train`` logs), the median of the windows after the first, the first
  window's sampling-wait share and the time to the end of the first step.
* ``profile``: a training loop of the same parts (background sampler, multi-task loss,
  the trainer's optimizer) under :mod:`torch.profiler`, its step split into waiting on
  samples, featurising (the model's feature-token modules), the rest of the forward,
  backward and the optimizer step; the sampler thread's time split into neighbourhood
  sampling and the rest; the top operators by self CPU time.
* ``flops``: :class:`torch.utils.flop_counter.FlopCounterMode` over the forward and backward
  of one step, split by module; achieved FLOP/s = FLOPs per step / step time, as a share
  of ``peak``.

The script reads only the public training API, so the same file measures another commit
(``PYTHONPATH=/path/to/checkout python benchmarks/train_throughput.py ...``)::

    python benchmarks/train_throughput.py --preset default --steps 60 --json out.json
    python benchmarks/train_throughput.py --preset default --only train --steps 60 \\
        --set train.log_every=5
"""

from __future__ import annotations

# first: the package sets the OpenMP wait policy before torch loads (graphrep.utils.threads)
import graphrep  # noqa: F401

# isort: split
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from flop_count import FlopCount  # benchmarks/flop_count.py, beside this script
from torch import nn

from graphrep.train.build import build, load_dataset
from graphrep.train.prefetch import Prefetcher
from graphrep.train.presets import preset

#: Module classes whose forward turns node features into tokens (model-side featurising).
FEATURISE = ("ModalityTokens", "RawFeatureTokens", "HashTextEmbedder", "FeatureTokens")


def matmul_peak(threads: int, n: int = 2048, seconds: float = 2.0) -> float:
    """fp32 GFLOP/s of ``n x n @ n x n`` (best of repeated timed rounds)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(3):
            torch.mm(a, b, out=out)
        best = max(best, 3 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def resolve(args: argparse.Namespace) -> Any:
    cfg = preset(args.preset).override(
        [f"train.num_threads={args.threads}", "train.progress=false", f"train.device={args.device}",
         *args.set]
    )  # fmt: skip
    return cfg


def dataset_for(cfg: Any, cache: str | None) -> Any:
    """The preset's dataset, generated once into ``cache`` and read from there afterwards."""
    if cache and cfg.data.dataset == "synthetic":
        path = Path(cache) / f"{cfg.data.preset}-{cfg.data.seed}"
        if not path.exists():
            load_dataset(cfg.data).save(path)
        from graphrep.data.dataset import GraphDataset

        ds = GraphDataset.load(path, mmap=True)
        if getattr(cfg.data, "validation", 0) > 0:
            from graphrep.data.splits import carve_validation

            ds = carve_validation(ds, cfg.data.validation, cfg.data.seed)
        return ds
    return load_dataset(cfg.data)


# ---------------------------------------------------------------- train (the real Trainer)
def train_rate(cfg: Any, dataset: Any, steps: int) -> dict[str, Any]:
    from graphrep.train.logger import read_metrics
    from graphrep.train.trainer import Trainer

    cfg = cfg.override([f"train.steps={steps}", f"train.checkpoint_every={10 * steps}"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = Trainer(cfg, Path(tmp) / "run", dataset=dataset).fit(resume=False)
        wall = time.perf_counter() - t0
        rows = read_metrics(Path(tmp) / "run" / "logs" / "metrics.csv")
    rates = [r["examples_per_s"] for r in rows if "examples_per_s" in r]
    waits = [r["sampling_wait_share"] for r in rows if "sampling_wait_share" in r]
    steady = rates[1:] or rates
    return {
        "steps": steps, "log_every": cfg.train.log_every, "fit_wall_s": wall,
        "window_examples_per_s": rates, "window_wait_share": waits,
        "examples_per_s_median": statistics.median(steady),
        "examples_per_s_summary": summary["examples_per_s"],
        "first_window_wait_share": waits[0] if waits else None,
        "sampling_wait_share": summary["sampling_wait_share"],
        "peak_rss_mib": summary["peak_rss_mib"], "final_loss": summary["final_loss"],
    }  # fmt: skip


# ---------------------------------------------------------------- profile
class _Regions:
    """Outermost forward of every module whose class is in ``names`` becomes one
    ``torch.profiler`` region ``label`` (nested ones are not counted twice)."""

    def __init__(self, model: nn.Module, names: tuple[str, ...], label: str) -> None:
        self.label, self.depth, self.stack = label, 0, []
        self.handles = []
        for m in model.modules():
            if type(m).__name__ in names:
                self.handles.append(m.register_forward_pre_hook(self._enter))
                self.handles.append(m.register_forward_hook(self._exit))

    def _enter(self, *_: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            self.depth += 1
            if self.depth == 1:
                rf = torch.profiler.record_function(self.label)
                rf.__enter__()
                self.stack.append(rf)

    def _exit(self, *_: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            self.depth -= 1
            if self.depth == 0 and self.stack:
                self.stack.pop().__exit__(None, None, None)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _optimizer(model: nn.Module, cfg: Any, total: int) -> Any:
    try:
        from graphrep.train.optim import RunOptimizer
    except ImportError:  # older checkouts: AdamW + warmup/cosine inside the trainer
        from graphrep.train.trainer import lr_lambda, param_groups

        class _Opt:
            def __init__(self) -> None:
                self.opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
                self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(cfg))

            def zero_grad(self) -> None:
                self.opt.zero_grad(set_to_none=True)

            def sync_sparse(self) -> None:
                pass

            def step(self) -> None:
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                self.opt.step()
                self.sched.step()

        return _Opt()
    return RunOptimizer(model, cfg, total)


def _timed_sampler(tasks: Any) -> tuple[Any, dict[str, float]]:
    """``tasks.sample`` that adds its time, and the importance samplers' share, to a dict."""
    from graphrep.samplers.importance import ImportanceSampler

    acc: dict[str, float] = defaultdict(float)
    original = ImportanceSampler.sample

    def sample_nb(self: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            acc["neighbourhoods"] += time.perf_counter() - t0

    ImportanceSampler.sample = sample_nb  # benchmark instrumentation only

    def sample(step: int) -> Any:
        t0 = time.perf_counter()
        out = tasks.sample(step)
        acc["total"] += time.perf_counter() - t0
        acc["steps"] += 1
        return out

    sample.restore = lambda: setattr(ImportanceSampler, "sample", original)  # type: ignore[attr-defined]
    return sample, acc


def profile(cfg: Any, dataset: Any, warmup: int, steps: int, top: int) -> dict[str, Any]:
    comps = build(cfg, dataset)
    model, tasks = comps.model, comps.tasks
    model.train()
    total = warmup + steps
    opt = _optimizer(model, cfg.train, total)
    sample, sacc = _timed_sampler(tasks)
    stream = Prefetcher(sample, 0, total, cfg.sampling.prefetch, cfg.sampling.workers)
    regions = _Regions(model, FEATURISE, "featurise")
    names = ("wait", "forward", "backward", "optimizer")
    it = iter(stream)
    t_steps = 0.0
    try:
        for _ in range(warmup):
            _, batches, _ = next(it)
            loss, _ = tasks.loss(model, batches)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for k in list(sacc):
            sacc[k] = 0.0
        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities) as prof:
            t0 = time.perf_counter()
            for _ in range(steps):
                with torch.profiler.record_function("wait"):
                    _, batches, _ = next(it)
                with torch.profiler.record_function("forward"):
                    loss, _ = tasks.loss(model, batches)
                with torch.profiler.record_function("backward"):
                    opt.zero_grad()
                    loss.backward()
                with torch.profiler.record_function("optimizer"):
                    opt.sync_sparse()
                    opt.step()
            t_steps = time.perf_counter() - t0
    finally:
        stream.close()
        regions.remove()
        sample.restore()
    spans: dict[str, float] = defaultdict(float)
    for ev in prof.events():
        if ev.name in (*names, "featurise"):
            spans[ev.name] += ev.time_range.elapsed_us() / 1e6
    split = {
        "wait": spans["wait"], "featurise": spans["featurise"],
        "forward (rest)": spans["forward"] - spans["featurise"],
        "backward": spans["backward"], "optimizer": spans["optimizer"],
    }  # fmt: skip
    covered = sum(split.values())
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    ops = [e for e in ops if e.key not in (*names, "featurise")][:top]
    n = max(sacc["steps"], 1)
    return {
        "steps": steps, "step_s": t_steps / steps, "profiled_share": covered / max(t_steps, 1e-9),
        "split_s_per_step": {k: v / steps for k, v in split.items()},
        "split_share": {k: v / max(covered, 1e-9) for k, v in split.items()},
        "sampler_s_per_step": {"total": sacc["total"] / n,
                               "neighbourhoods": sacc["neighbourhoods"] / n,
                               "features+assembly": (sacc["total"] - sacc["neighbourhoods"]) / n},
        "top_ops": [{"op": e.key, "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
                     "calls_per_step": e.count / steps} for e in ops],
        "ops_per_step": sum(e.count for e in prof.key_averages() if e.key not in names) / steps,
    }  # fmt: skip


# ---------------------------------------------------------------- flops
def flops(cfg: Any, dataset: Any, warmup: int, steps: int, depth: int) -> dict[str, Any]:
    comps = build(cfg, dataset)
    model, tasks = comps.model, comps.tasks
    model.train()
    batches = [tasks.sample(s) for s in range(warmup + steps)]
    opt = _optimizer(model, cfg.train, warmup + steps)

    def run(b: Any) -> None:
        loss, _ = tasks.loss(model, b)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for b in batches[:warmup]:  # warm up (and compile, where that is switched on)
        run(b)
    t0 = time.perf_counter()
    for b in batches[warmup:]:
        run(b)
    step_s = (time.perf_counter() - t0) / steps
    examples = sum(_examples(b) for b in batches[warmup:])
    counter = FlopCount(model)
    try:
        for b in batches[warmup:]:
            with counter.mode:
                counter.forward = True
                loss, _ = tasks.loss(model, b)
                counter.forward = False
                loss.backward()
            model.zero_grad(set_to_none=True)
    finally:
        counter.remove()
    total = sum(counter.counts.values()) / steps
    grouped: dict[str, float] = defaultdict(float)
    for name, f in counter.counts.items():
        parts = name.split(".")
        key = ".".join(parts[:depth]) if name != "backward" else name
        grouped[key or "(model)"] += f / steps
    fwd = total - grouped.get("backward", 0.0)
    return {
        "flop_per_step": total, "forward_flop_per_step": fwd,
        "examples_per_step": examples / steps,
        "flop_per_example": total / max(examples / steps, 1),
        "step_s_no_sampling": step_s, "gflop_s": total / step_s / 1e9,
        "forward_by_module": {k: v for k, v in sorted(grouped.items(), key=lambda kv: -kv[1])
                              if k != "backward"},
        "by_op": {k: v / steps for k, v in sorted(counter.by_op.items(), key=lambda kv: -kv[1])},
    }  # fmt: skip


def _examples(batches: Any) -> int:
    """Examples of one step, counted as the trainer counts them (older checkouts kept the
    counter inside the trainer)."""
    try:
        from graphrep.train.ranks import count_examples
    except ImportError:
        from graphrep.train.trainer import _examples as count_examples
    return count_examples([batches])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=40, help="trainer steps (train)")
    p.add_argument("--profile-steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--only", nargs="*", default=["peak", "train", "profile", "flops"],
                   choices=["peak", "train", "profile", "flops"])  # fmt: skip
    p.add_argument("--data-cache", default=os.environ.get("GRAPHREP_BENCH_DATA"),
                   help="directory to keep the generated dataset in between runs")
    p.add_argument("--depth", type=int, default=3, help="name depth of the FLOP split")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = resolve(args)
    out: dict[str, Any] = {"preset": args.preset, "overrides": args.set, "threads": args.threads,
                           "torch": torch.__version__, "load": os.getloadavg()}  # fmt: skip
    t0 = time.perf_counter()
    dataset = dataset_for(cfg, args.data_cache)
    out["data_s"] = time.perf_counter() - t0
    if "peak" in args.only:
        out["peak_gflop_s"] = matmul_peak(args.threads)
        print(f"fp32 matmul peak: {out['peak_gflop_s']:.1f} GFLOP/s", flush=True)
    if "train" in args.only:
        out["train"] = tr = train_rate(cfg, dataset, args.steps)
        print(f"train: {tr['examples_per_s_median']:.0f} examples/s (median of windows 2..), "
              f"first window wait {100 * (tr['first_window_wait_share'] or 0):.1f} %, "
              f"windows {[round(r) for r in tr['window_examples_per_s']]}", flush=True)  # fmt: skip
    if "profile" in args.only:
        out["profile"] = pr = profile(cfg, dataset, args.warmup, args.profile_steps, args.top)
        print(f"profile: {pr['step_s'] * 1e3:.0f} ms/step under the profiler", flush=True)
        for k, v in pr["split_s_per_step"].items():
            print(f"  {k:16s} {v * 1e3:8.1f} ms  {100 * pr['split_share'][k]:5.1f} %")
        print("  sampler thread: " + ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in pr["sampler_s_per_step"].items()))  # fmt: skip
        print(f"  ops per step: {pr['ops_per_step']:.0f}")
        for e in pr["top_ops"]:
            print(f"    {e['op']:44s} {e['self_ms_per_step']:8.2f} ms  x{e['calls_per_step']:.0f}")
    if "flops" in args.only:
        out["flops"] = fl = flops(cfg, dataset, args.warmup, max(2, args.profile_steps // 2), args.depth)
        print(f"flops: {fl['flop_per_step'] / 1e9:.2f} GFLOP/step, "
              f"{fl['flop_per_example'] / 1e6:.2f} MFLOP/example, {fl['gflop_s']:.1f} GFLOP/s "
              f"(step without sampling {fl['step_s_no_sampling'] * 1e3:.0f} ms)", flush=True)  # fmt: skip
        if "peak_gflop_s" in out:
            fl["peak_share"] = fl["gflop_s"] / out["peak_gflop_s"]
            print(f"  {100 * fl['peak_share']:.1f} % of the fp32 matmul peak")
        fwd = fl["forward_flop_per_step"]
        print(f"  forward {fwd / 1e9:.2f} GFLOP/step, by module:")
        for k, v in list(fl["forward_by_module"].items())[:14]:
            print(f"    {k:50s} {v / 1e9:7.3f} GFLOP  {100 * v / fwd:5.1f} %")
        print("  by op: " + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in list(fl["by_op"].items())[:6]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
