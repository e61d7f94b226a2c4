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
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from graphrep import __version__
from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError, TrainingError
from graphrep.train.build import Components, build
from graphrep.train.checkpoint import (
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
from graphrep.train.early_stopping import EarlyStopping, Validator
from graphrep.train.logger import MetricLogger
from graphrep.train.optim import RunOptimizer
from graphrep.train.prefetch import Prefetcher
from graphrep.train.ranks import LossStep, RankLosses, count_examples
from graphrep.train.rundir import RunDir
from graphrep.utils.collectives import (
    all_reduce_mean,
    barrier,
    broadcast_object,
    get_rank,
)
from graphrep.utils.lock import RunLock


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Trainer:
    """Train an OmniSage model as a :class:`RunConfig` says, in a run directory.

    Args:
        config: the run configuration.
        run_dir: where config, checkpoints, logs and the model go.
        dataset: the data (default: what ``config.data`` names; a generated
            synthetic graph is saved to ``RUN/data`` so later commands read it).
        validator: scores the model for early stopping (default, when
            ``train.validate_every > 0``: the dataset's own protocol on its validation split,
            :func:`graphrep.eval.validation.validator_for`).

    Example:
        >>> Trainer(preset("tiny"), "runs/tiny").fit()
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | RunDir,
        dataset: GraphDataset | None = None,
        validator: Validator | None = None,
    ) -> None:
        self.config = config
        self.run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self._dataset = dataset
        self.validator = validator
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
        new_config = not run.config_path.exists()
        if new_config:  # first, so that a kill while RUN/data is written leaves a run
            cfg.save(run.config_path)
        if save_data:
            try:
                dataset.save(run.data_path)
            except BaseException:
                if new_config:  # a failed start leaves nothing behind
                    run.config_path.unlink(missing_ok=True)
                raise
        return comps

    def fit(self, resume: bool = True) -> dict[str, Any]:
        """Train for the configured budget (continuing from the newest intact checkpoint if
        ``resume``; a finished run is left unchanged), holding the run directory's lock.

        The budget is ``train.steps``, or ``train.epochs`` passes over the epoch task's
        positives. With ``train.validate_every`` the model is scored on the validation
        split every so many epochs, the best one is kept (``RUN/best.pt``) and written to
        ``model.pt``, and training stops after ``train.patience`` validations without
        improvement.

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
        if resume and (finished := run.finished(model, cfg.digest())) is not None:
            return finished
        per_epoch = tasks.steps_per_epoch(tc.epoch_task)
        total = tc.steps if tc.epochs is None else max(1, math.ceil(tc.epochs * per_epoch))
        total = max(total, tc.min_steps)
        opt = RunOptimizer(model, tc, total)
        every = max(1, round(tc.validate_every * per_epoch)) if tc.validate_every > 0 else 0
        validator = self._validator(comps) if every else None
        early = EarlyStopping(tc.patience)
        start = base_sample = 0
        found = resume_state(run.checkpoints, cfg.digest()) if resume else None
        ckpt = None
        if found is not None:
            state, ckpt = found
            load_weights(model, state, ckpt, opt)
            start = int(state["step"])
            base_sample = int(state.get("samples_consumed", start))
            if "early_stopping" in state:
                early.load_state_dict(state["early_stopping"])
        else:
            torch.manual_seed(tc.seed)
        ranks = tc.virtual_ranks  # logical ranks of this process: first, first + 1, ...
        world, first = env.world_size * ranks, env.rank * ranks
        main = env.is_main
        logger = MetricLogger(run.logs, resume_step=start if ckpt is not None else None) if main else None
        model.train()
        runner: nn.Module = LossStep(model, tasks)
        if env.distributed:  # dense gradients averaged by torch's DDP, id tables by opt.sync_sparse
            sparse = {id(p) for p in opt.sparse_params}
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                runner, [n for n, p in runner.named_parameters() if id(p) in sparse]
            )
            runner = DistributedDataParallel(runner, find_unused_parameters=True)

        def sample(step: int) -> list[Any]:  # rank r draws task step base + (step - start) * W + r
            return [tasks.sample(rank_sample_step(step, r, world, start, base_sample))
                    for r in range(first, first + ranks)]  # fmt: skip

        losses = RankLosses(runner, ranks, tc.gather_negatives, env.distributed)

        totals = {"wait": 0.0, "step": 0.0, "examples": 0, "steps": 0}
        window = {"wait": 0.0, "step": 0.0, "examples": 0}
        bar = _progress(tc, start, total, per_epoch) if main else None
        stream = Prefetcher(sample, start, total, cfg.sampling.prefetch, cfg.sampling.workers,
                            cfg.sampling.kernel_threads or None)  # fmt: skip
        metrics: dict[str, float] = {}
        done = start
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
                opt.zero_grad()
                loss.backward()
                opt.sync_sparse()
                opt.step()
                now = time.perf_counter()
                n = count_examples(batches)
                for acc in (totals, window):
                    acc["wait"] += wait
                    acc["step"] += now - t_prev
                    acc["examples"] += n
                totals["steps"] += 1
                t_prev = now
                done = step + 1
                row: dict[str, float] | None = None
                if done % tc.log_every == 0 or done == total:
                    row = dict(metrics)
                    row["loss"] = all_reduce_mean(metrics["loss"])  # every rank calls it
                    row["lr"] = opt.get_last_lr()
                    row["epoch"] = done / per_epoch
                    row["examples_per_s"] = window["examples"] / max(window["step"], 1e-9)
                    row["sampling_wait_share"] = window["wait"] / max(window["step"], 1e-9)
                    window = {"wait": 0.0, "step": 0.0, "examples": 0}
                    if bar is not None:
                        bar.set_postfix(loss=f"{metrics['loss']:.3f}",
                                        ex_s=f"{row['examples_per_s']:.0f}",
                                        wait=f"{100 * row['sampling_wait_share']:.0f}%")  # fmt: skip
                if validator is not None and (done % every == 0 or done == total):
                    value = self._validate(validator, model, comps, early, done)
                    row = {**(row or {}), f"val/{validator.metric}": value}
                    t_prev = time.perf_counter()  # validation is not step time
                if row is not None and logger is not None:
                    logger.log(done, row)
                if bar is not None:
                    bar.update(1 / per_epoch)
                stop = early.should_stop and done >= tc.min_steps
                if done % tc.checkpoint_every == 0 or done == total or stop:
                    if main:
                        consumed = samples_consumed(done, world, start, base_sample)
                        self._checkpoint(model, opt, done, consumed, world, early)
                    barrier()
                    t_prev = time.perf_counter()  # checkpoint I/O is not step time
                if stop:
                    break
        finally:
            stream.close()
            if logger is not None:
                logger.close()
            if bar is not None:
                bar.close()
        if validator is not None and early.best_step >= 0:  # the run keeps its best model
            model.load_state_dict(load_checkpoint(run.best_path)["model"])
        summary = {
            "steps": done, "planned_steps": total, "epochs": done / per_epoch,
            "resumed_from": start,
            "final_loss": metrics.get("loss", math.nan),
            "examples_per_s": totals["examples"] / max(totals["step"], 1e-9),
            "sampling_wait_share": totals["wait"] / max(totals["step"], 1e-9),
            "train_wall_s": time.perf_counter() - start_time,
            "peak_rss_mib": peak_rss_mib(),
            "num_threads": torch.get_num_threads(),
            "world_size": world,
        }  # fmt: skip
        if validator is not None:
            summary.update(validation_metric=validator.metric, best_step=early.best_step,
                           best_value=early.best, stopped_early=done < total,
                           validations=early.history)  # fmt: skip
        if main:
            final = {
                "model": model.state_dict(), "hparams": model.hparams, "step": done,
                "config": cfg.to_dict(), "digest": cfg.digest(), "version": __version__,
            }  # fmt: skip
            save_state(run.model_path, {k: _cpu(v) for k, v in final.items()})
            run.write_json(run.summary_path, summary)
        barrier()  # every rank returns once model.pt exists
        return summary

    def _validator(self, comps: Components) -> Validator:
        if self.validator is not None:
            return self.validator
        from graphrep.eval.validation import validator_for  # eval sits downstream of train

        return validator_for(self.config, comps.dataset)

    def _validate(
        self, validator: Validator, model: nn.Module, comps: Components, early: EarlyStopping, step: int
    ) -> float:
        """Score the model (rank 0; every rank gets the value), keep it if it is the best."""
        value = None
        if get_rank() == 0:
            model.eval()
            with torch.no_grad():
                value = float(validator(model, comps.builder))
            model.train()
        value = float(broadcast_object(value))
        if early.update(step, value) and get_rank() == 0:
            state = {"model": model.state_dict(), "step": step, "value": value,
                     "metric": validator.metric}  # fmt: skip
            save_state(self.run.best_path, _cpu(state))
        return value

    def _checkpoint(
        self, model: nn.Module, opt: RunOptimizer, step: int, consumed: int, world_size: int,
        early: EarlyStopping,
    ) -> None:
        state = {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "step": step, "torch_rng": torch.get_rng_state(),
            "hparams": model.hparams, "digest": self.config.digest(),
            "samples_consumed": consumed, "world_size": world_size,
            "early_stopping": early.state_dict(),
        }  # fmt: skip
        save_checkpoint(self.run.checkpoints, _cpu(state), keep=self.config.train.keep_checkpoints)


def _cpu(value: Any) -> Any:
    """``value`` with every tensor moved to CPU (checkpoints load anywhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu(v) for v in value)
    return value


def _progress(tc: TrainConfig, start: int, total: int, per_epoch: int) -> Any:
    """A progress bar in epochs (fractions of an epoch per step)."""
    if not tc.progress:
        return None
    from tqdm.auto import tqdm

    fmt = "{l_bar}{bar}| {n:.2f}/{total:.2f} epochs [{elapsed}<{remaining}{postfix}]"
    return tqdm(total=round(total / per_epoch, 4), initial=round(start / per_epoch, 4),
                desc="train", unit="epoch", dynamic_ncols=True, bar_format=fmt)  # fmt: skip
