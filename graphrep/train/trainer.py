"""The training loop: AdamW with warmup + cosine, background sampling, logs,
atomic checkpoints and exact resume.

Every batch is a pure function of ``(task seed, step)`` (see :mod:`graphrep.tasks`),
so resuming from the checkpoint of step :math:`s` replays steps :math:`s, s+1, \\dots`
with the same batches; together with the restored model, optimizer, schedule and
torch RNG state, a resumed run ends with the same weights as an uninterrupted one
on the same machine and thread count. The learning rate follows

.. math::
    \\eta_t = \\eta \\cdot \\begin{cases} (t+1)/W & t < W \\\\
    r + (1-r)\\,\\tfrac12\\bigl(1+\\cos(\\pi\\,\\tfrac{t-W}{T-W})\\bigr) & t \\ge W \\end{cases}

with warmup :math:`W`, total steps :math:`T` and floor ratio :math:`r`.
"""

from __future__ import annotations

import contextlib
import math
import resource
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from graphrep import __version__
from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError, TrainingError
from graphrep.train.build import Components, build
from graphrep.train.checkpoint import (
    check_digest,
    load_checkpoint,
    load_weights,
    resume_state,
    save_checkpoint,
    save_state,
)
from graphrep.train.config import RunConfig, TrainConfig
from graphrep.train.distributed import (
    DistEnv,
    init_distributed,
    rank_sample_step,
    samples_consumed,
)
from graphrep.train.logger import MetricLogger
from graphrep.train.prefetch import Prefetcher
from graphrep.train.rundir import RunDir
from graphrep.utils.collectives import (
    ProcessGroupGather,
    ThreadGroup,
    all_reduce_mean,
    barrier,
    pooled_negatives,
    run_ranks,
)
from graphrep.utils.lock import RunLock


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the base learning rate at step ``t`` (see the module docstring)."""
    warm, total, floor = cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio

    def f(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        span = max(1, total - warm)
        progress = min(1.0, (t - warm) / span)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on biases, norms, embeddings, temperatures."""
    decay, no_decay = [], []
    embedding_params = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)
        for p in m.parameters()
    }  # fmt: skip
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and id(p) not in embedding_params else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _examples(rank_batches: list[dict[str, Any]]) -> int:
    n = 0
    for batches in rank_batches:
        for b in batches.values():
            try:
                n += len(b)
            except TypeError:
                continue
    return n


class Trainer:
    """Train an OmniSage model as a :class:`RunConfig` says, in a run directory.

    Args:
        config: the run configuration.
        run_dir: where config, checkpoints, logs and the model go.
        dataset: the data (default: what ``config.data`` names; a generated
            synthetic graph is saved to ``RUN/data`` so later commands read it).

    Example:
        >>> Trainer(preset("tiny"), "runs/tiny").fit()
    """

    def __init__(
        self, config: RunConfig, run_dir: str | RunDir, dataset: GraphDataset | None = None
    ) -> None:
        self.config = config
        self.run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self._dataset = dataset
        self.components: Components | None = None

    def _prepare(self, env: DistEnv) -> Components:
        if not env.is_main:  # rank 0 writes config and data; the others read them (mmap)
            barrier()
            dataset = self._dataset or self.run.dataset(self.config)
            return build(self.config, dataset)
        comps = self._prepare_main()
        barrier()
        return comps

    def _prepare_main(self) -> Components:
        """Check the run directory, load the data and build; write nothing until all succeed
        (a failed start leaves no ``config.yaml`` to block a corrected rerun)."""
        cfg, run = self.config, self.run
        if run.config_path.exists():
            old = run.config()
            if old.digest() != cfg.digest():
                raise ConfigError(
                    f"run directory {str(run.path)!r} holds a run with a different config; "
                    "use a new --out directory (or the same settings to resume)"
                )
        dataset, save_data = self._dataset, False
        if dataset is None:
            if run.data_path.exists():
                dataset = run.dataset(cfg)
            else:
                from graphrep.train.build import load_dataset

                dataset = load_dataset(cfg.data)
                save_data = cfg.data.dataset == "synthetic"
        comps = build(cfg, dataset)
        if save_data:
            dataset.save(run.data_path)
        if not run.config_path.exists():
            cfg.save(run.config_path)
        return comps

    def _finished(self, model: nn.Module) -> dict[str, Any] | None:
        """The stored summary if the run already finished (``model.pt`` at ``train.steps``),
        with the final weights loaded into ``model``; ``None`` otherwise."""
        run = self.run
        if not run.model_path.is_file():
            return None
        state = load_checkpoint(run.model_path)
        if int(state["step"]) < self.config.train.steps:
            return None
        check_digest(state, run.model_path, self.config.digest())
        load_weights(model, state, run.model_path)
        summary = run.read_json(run.summary_path) if run.summary_path.is_file() else {}
        return {**summary, "steps": int(state["step"]), "already_finished": True}

    def fit(self, resume: bool = True) -> dict[str, Any]:
        """Train for ``train.steps`` steps (continuing from the last intact checkpoint if
        ``resume``; a finished run is left unchanged), holding the run directory's lock.

        Returns:
            The training summary (also written to ``RUN/train_summary.json``); for a run
            that had already finished, its stored summary with ``already_finished``.

        Raises:
            RunLockedError: another process is writing the run directory.
            OutputExistsError: the directory is not empty and holds no graphrep run.
        """
        env = init_distributed(self.config.train.device)
        if env.is_main:
            self.run.check_writable()
        with RunLock(self.run.path) if env.is_main else contextlib.nullcontext():
            return self._fit(resume)

    def _fit(self, resume: bool) -> dict[str, Any]:
        cfg, tc, run = self.config, self.config.train, self.run
        if tc.num_threads:
            torch.set_num_threads(tc.num_threads)
        start_time = time.perf_counter()
        env = init_distributed(tc.device)
        if tc.virtual_ranks > 1 and env.distributed:
            raise ConfigError(
                f"train.virtual_ranks={tc.virtual_ranks} emulates several ranks in one process; "
                "under torchrun leave it at 1 (the processes are the ranks)"
            )
        comps = self.components = self._prepare(env)
        device = env.device if env.distributed else torch.device(tc.device)
        model, tasks = comps.model.to(device), comps.tasks
        if resume and (finished := self._finished(model)) is not None:
            return finished
        opt = torch.optim.AdamW(param_groups(model, tc.weight_decay), lr=tc.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(tc))
        start = base_sample = 0
        found = resume_state(run.checkpoints, cfg.digest()) if resume else None
        ckpt = None
        if found is not None:
            state, ckpt = found
            load_weights(model, state, ckpt, opt, sched)
            start = int(state["step"])
            base_sample = int(state.get("samples_consumed", start))
        else:
            torch.manual_seed(tc.seed)
        ranks = tc.virtual_ranks  # logical ranks of this process: first, first + 1, ...
        world, first = env.world_size * ranks, env.rank * ranks
        main = env.is_main
        logger = MetricLogger(run.logs, resume_step=start if ckpt is not None else None) if main else None
        model.train()
        runner: nn.Module = _LossStep(model, tasks)
        if env.distributed:  # gradients averaged over ranks by torch's DDP
            runner = DistributedDataParallel(runner, find_unused_parameters=True)

        def sample(step: int) -> list[Any]:  # rank r draws task step base + (step - start) * W + r
            return [tasks.sample(rank_sample_step(step, r, world, start, base_sample))
                    for r in range(first, first + ranks)]  # fmt: skip

        losses = _RankLosses(runner, ranks, tc.gather_negatives, env.distributed)

        totals = {"wait": 0.0, "step": 0.0, "examples": 0, "steps": 0}
        window = {"wait": 0.0, "step": 0.0, "examples": 0}
        bar = _progress(tc, start) if main else None
        stream = Prefetcher(sample, start, tc.steps, cfg.sampling.prefetch, cfg.sampling.workers)
        metrics: dict[str, float] = {}
        try:
            t_prev = time.perf_counter()
            for step, batches, wait in stream:
                if device.type != "cpu":
                    batches = [tasks.to(b, device) for b in batches]
                loss, metrics = losses(batches)
                if not math.isfinite(metrics["loss"]):
                    raise TrainingError(
                        f"training loss became {metrics['loss']} at step {step}; lower train.lr "
                        "or check the input features for NaN/inf"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                sched.step()
                now = time.perf_counter()
                n = _examples(batches)
                for acc in (totals, window):
                    acc["wait"] += wait
                    acc["step"] += now - t_prev
                    acc["examples"] += n
                totals["steps"] += 1
                t_prev = now
                done = step + 1
                if done % tc.log_every == 0 or done == tc.steps:
                    row = dict(metrics)
                    row["loss"] = all_reduce_mean(metrics["loss"])  # every rank calls it
                    row["lr"] = sched.get_last_lr()[0]
                    row["examples_per_s"] = window["examples"] / max(window["step"], 1e-9)
                    row["sampling_wait_share"] = window["wait"] / max(window["step"], 1e-9)
                    window = {"wait": 0.0, "step": 0.0, "examples": 0}
                    if logger is not None:
                        logger.log(done, row)
                    if bar is not None:
                        bar.set_postfix(loss=f"{metrics['loss']:.3f}",
                                        ex_s=f"{row['examples_per_s']:.0f}",
                                        wait=f"{100 * row['sampling_wait_share']:.0f}%")  # fmt: skip
                if bar is not None:
                    bar.update(1)
                if done % tc.checkpoint_every == 0 or done == tc.steps:
                    if main:
                        consumed = samples_consumed(done, world, start, base_sample)
                        self._checkpoint(model, opt, sched, done, consumed, world)
                    barrier()
                    t_prev = time.perf_counter()  # checkpoint I/O is not step time
        finally:
            stream.close()
            if logger is not None:
                logger.close()
            if bar is not None:
                bar.close()
        summary = {
            "steps": tc.steps,
            "resumed_from": start,
            "final_loss": metrics.get("loss", math.nan),
            "examples_per_s": totals["examples"] / max(totals["step"], 1e-9),
            "sampling_wait_share": totals["wait"] / max(totals["step"], 1e-9),
            "train_wall_s": time.perf_counter() - start_time,
            "peak_rss_mib": peak_rss_mib(),
            "num_threads": torch.get_num_threads(),
            "world_size": world,
        }
        if main:
            final = {
                "model": model.state_dict(), "hparams": model.hparams, "step": tc.steps,
                "config": cfg.to_dict(), "digest": cfg.digest(), "version": __version__,
            }  # fmt: skip
            save_state(run.model_path, {k: _cpu(v) for k, v in final.items()})
            run.write_json(run.summary_path, summary)
        barrier()  # every rank returns once model.pt exists
        return summary

    def _checkpoint(
        self, model: nn.Module, opt: Any, sched: Any, step: int, consumed: int, world_size: int
    ) -> None:
        state = {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "step": step, "torch_rng": torch.get_rng_state(),
            "hparams": model.hparams, "digest": self.config.digest(),
            "samples_consumed": consumed, "world_size": world_size,
        }  # fmt: skip
        save_checkpoint(self.run.checkpoints, _cpu(state), keep=self.config.train.keep_checkpoints)


class _LossStep(nn.Module):
    """The multi-task loss as a module ``forward``, so DDP can wrap it (DDP syncs gradients
    of what runs inside ``forward``; the model's own methods are called from here)."""

    def __init__(self, model: nn.Module, tasks: Any) -> None:
        super().__init__()
        self.model, self.tasks = model, tasks

    def forward(self, batches: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.tasks.loss(self.model, batches)


class _RankLosses:
    """The loss of this process's ranks: one (the process is the rank; under torchrun its
    candidates are pooled with the other processes') or ``W`` virtual ranks run as threads
    whose candidates are pooled and whose losses are averaged, as DDP averages gradients."""

    def __init__(self, runner: nn.Module, ranks: int, gather: bool, distributed: bool) -> None:
        self.runner, self.ranks = runner, ranks
        self.group = ThreadGroup(ranks) if ranks > 1 and gather else None
        self.pool = ProcessGroupGather() if gather and distributed else None

    def __call__(self, batches: list[dict[str, Any]]) -> tuple[torch.Tensor, dict[str, float]]:
        if self.ranks == 1:
            with pooled_negatives(self.pool):
                return self.runner(batches[0])
        if self.group is None:  # virtual ranks without pooled candidates
            results = [self.runner(b) for b in batches]
        else:
            results = run_ranks(self.group, lambda _, b: self.runner(b), batches)
        loss = torch.stack([r[0] for r in results]).mean()
        keys = results[0][1].keys()
        return loss, {k: sum(r[1][k] for r in results) / len(results) for k in keys}


def _cpu(value: Any) -> Any:
    """``value`` with every tensor moved to CPU (checkpoints load anywhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu(v) for v in value)
    return value


def _progress(tc: TrainConfig, start: int) -> Any:
    if not tc.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=tc.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
