"""The run configuration: a tree of typed dataclasses (TorchRec style) ⇄ YAML.

``RunConfig`` holds every choice of a run -- data, model, sampling, tasks,
training, export, evaluation -- and is saved resolved in the run directory
(``config.yaml``). Build one with :func:`graphrep.train.presets.preset` or from
YAML with :func:`load_config`; override fields with ``section.field=value``
strings (:func:`graphrep.utils.config.apply_overrides`), which is what the CLI's
``--set`` does. Each section checks its own ranges and names the field it rejects.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphrep.errors import ConfigError
from graphrep.train.model_config import ModelConfig
from graphrep.train.output_config import EmbedConfig, EvalConfig, LinkHeadConfig
from graphrep.train.task_config import TASK_KINDS, TaskConfig, TaskSpec
from graphrep.utils.checks import at_least as _positive
from graphrep.utils.config import apply_overrides, from_dict, load_yaml, merge, save_yaml, to_dict

__all__ = [
    "PLANETOID", "REAL_DATASETS", "TASK_KINDS", "DataConfig", "EmbedConfig", "EvalConfig",
    "LinkHeadConfig", "ModelConfig",
    "RunConfig", "SamplingConfig", "TaskConfig", "TaskSpec", "TrainConfig", "is_known_dataset",
    "load_config",
]  # fmt: skip



@dataclass
class DataConfig:
    """Where the graph comes from.

    Args:
        dataset: ``"synthetic"`` (generated from ``preset``/``seed``), ``"dir"`` (a saved
            :class:`~graphrep.data.dataset.GraphDataset` at ``path``), a Planetoid name
            (``cora``, ``citeseer``, ``pubmed``), ``gowalla`` (LightGCN files) or an OGB
            node/link property prediction name (``ogbl-ddi``, ``ogbn-arxiv``, ...).
        preset: synthetic preset (``tiny``, ``default``, ``large``).
        seed: synthetic generator seed.
        path: dataset directory for ``dataset="dir"``.
        root: directory holding a real dataset's raw files (read only).
        cache_dir: writable directory for processed files (default: ``~/.cache/graphrep``).
        mmap: open saved datasets (``RUN/data``, ``dataset="dir"``) memory-mapped, so the
            processes of one machine share one copy of the topology in the page cache;
            ``False`` reads a private copy into each process's memory.
        validation: share of the training edges (recommendation and link-prediction
            datasets) held out as a validation split for early stopping and model
            selection (:func:`graphrep.data.splits.carve_validation`, seeded by ``seed``);
            0 holds out nothing.
    """

    dataset: str = "synthetic"
    preset: str = "default"
    seed: int = 0
    path: str | None = None
    root: str | None = None
    cache_dir: str | None = None
    mmap: bool = True
    validation: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.validation) and 0.0 <= self.validation < 1.0):
            raise ConfigError(f"data.validation must be in [0, 1), got {self.validation!r}")
        if not is_known_dataset(self.dataset):
            raise ConfigError(
                f"data.dataset must be 'synthetic', 'dir', one of {list(REAL_DATASETS)} or an "
                f"OGB name (ogbn-*/ogbl-*), got {self.dataset!r}"
            )
        _positive(self.seed, "data.seed", 0)
        if self.dataset == "dir" and not self.path:
            raise ConfigError("data.path is required when data.dataset is 'dir'")


PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
REAL_DATASETS = (*PLANETOID, "gowalla")


def is_known_dataset(name: str) -> bool:
    """Whether :func:`graphrep.train.build.load_dataset` knows how to read ``name``."""
    return name in ("synthetic", "dir", *REAL_DATASETS) or name.startswith(("ogbn-", "ogbl-"))


@dataclass
class SamplingConfig:
    """Importance neighborhoods and the background sampling worker.

    Args:
        metapaths: per seed type, the meta-paths (lists of relation names) its random
            walks follow (default: the Pinterest schema's,
            :data:`graphrep.tasks.PINTEREST_METAPATHS`).
        quotas: per seed type, how many neighbours of each type to keep, the top-k by
            visit count (default: :data:`graphrep.tasks.PINTEREST_QUOTAS`).
        num_walks: random walks per seed (split evenly over the type's meta-paths).
        num_traversals: meta-path traversals per walk at most (``> 1`` needs cyclic paths).
        restart_prob: probability that a walk ends after each traversal (the next walk
            starts again at the seed), in ``[0, 1)``.
        prefetch: bounded queue length of batches sampled ahead of the model.
        workers: sampling threads (the batches are the same for any number).
        kernel_threads: threads of the compiled (numba) sampling kernels inside each
            worker (0: every core); one keeps a worker on one core, off the model's.
    """

    metapaths: dict[str, list[list[str]]] | None = None
    quotas: dict[str, dict[str, int]] | None = None
    num_walks: int = 64
    num_traversals: int = 2
    restart_prob: float = 0.5
    prefetch: int = 4
    workers: int = 1
    kernel_threads: int = 1

    def __post_init__(self) -> None:
        _positive(self.num_walks, "sampling.num_walks")
        _positive(self.num_traversals, "sampling.num_traversals")
        if not 0.0 <= self.restart_prob < 1.0:
            raise ConfigError(f"sampling.restart_prob must be in [0, 1), got {self.restart_prob}")
        _positive(self.prefetch, "sampling.prefetch")
        _positive(self.workers, "sampling.workers")
        _positive(self.kernel_threads, "sampling.kernel_threads", 0)


@dataclass
class TrainConfig:
    """Optimisation, checkpointing and logging.

    Args:
        steps: optimizer steps of the run (replaced by ``epochs`` when that is set).
        lr: peak learning rate of AdamW (every weight but the id tables).
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear warmup before the cosine decay.
        min_lr_ratio: the cosine decay's floor, as a fraction of ``lr``.
        grad_clip: gradient-norm clip (0: off).
        seed: seed of the model's initialisation and of every task's batches.
        checkpoint_every: steps between checkpoints (the last step is always saved).
        keep_checkpoints: most recent checkpoints kept in ``RUN/checkpoints``.
        log_every: steps between rows of ``RUN/logs/metrics.csv``.
        num_threads: torch threads (0: torch's default).
        device: ``"cpu"`` or ``"cuda[:N]"``.
        progress: show a progress bar.
        gather_negatives: under ``torchrun``, pool the sampled-softmax candidates of all
            ranks.
        virtual_ranks: run ``W`` ranks as threads of one process, computing exactly what
            a ``W``-process run computes (the same batches, candidate pools and averaged
            gradient), e.g. to continue a multi-GPU run on one machine.
        id_lr: learning rate of SparseAdam on the id tables' sparse gradients (default:
            ``lr``; every other weight is trained by AdamW, :mod:`graphrep.train.optim`).
        epochs: the budget as passes over the positives of ``epoch_task`` (replaces
            ``steps``; default: use ``steps``).
        epoch_task: the task whose positives ``epochs`` counts (default: the first task).
        validate_every: epochs between scores of the validation split carved from the
            training data (``data.validation``; Planetoid's validation nodes); the best
            model is the one written to ``model.pt`` (0: never validate).
        patience: validations without improvement before training stops early (0: never).
        min_steps: the budget is at least this many steps, and early stopping waits for
            them (a small graph whose epoch is a single batch still trains; 0: no floor).
    """

    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    num_threads: int = 0
    device: str = "cpu"
    progress: bool = True
    gather_negatives: bool = True
    virtual_ranks: int = 1
    id_lr: float | None = None
    epochs: float | None = None
    epoch_task: str | None = None
    validate_every: float = 0.0
    patience: int = 0
    min_steps: int = 0

    def __post_init__(self) -> None:
        _positive(self.steps, "train.steps")
        if self.id_lr is not None and not (math.isfinite(self.id_lr) and self.id_lr > 0):
            raise ConfigError(f"train.id_lr must be a finite number > 0, got {self.id_lr}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"train.epochs must be a finite number > 0, got {self.epochs}")
        if not (math.isfinite(self.validate_every) and self.validate_every >= 0):
            raise ConfigError(f"train.validate_every must be >= 0 (epochs), got {self.validate_every}")
        _positive(self.patience, "train.patience", 0)
        _positive(self.min_steps, "train.min_steps", 0)
        _positive(self.virtual_ranks, "train.virtual_ranks")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        _positive(self.weight_decay, "train.weight_decay", 0)
        _positive(self.warmup_steps, "train.warmup_steps", 0)
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _positive(self.grad_clip, "train.grad_clip", 0)
        _positive(self.seed, "train.seed", 0)
        _positive(self.checkpoint_every, "train.checkpoint_every")
        _positive(self.keep_checkpoints, "train.keep_checkpoints")
        _positive(self.log_every, "train.log_every")
        _positive(self.num_threads, "train.num_threads", 0)
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be 'cpu' or 'cuda[:N]', got {self.device!r}")


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``config.yaml`` in the run directory.

    Args:
        data: where the graph comes from (:class:`DataConfig`).
        model: the model (:class:`ModelConfig`).
        sampling: importance neighbourhoods and background sampling (:class:`SamplingConfig`).
        tasks: the training tasks (:class:`TaskConfig`).
        train: optimisation, checkpoints and logs (:class:`TrainConfig`).
        embed: the export (:class:`EmbedConfig`).
        eval: the evaluation protocol (:class:`EvalConfig`).
        name: the model's name in results tables and ``metrics.json``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    name: str = "omnisage"

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        return from_dict(cls, data)

    def override(self, overrides: Sequence[str]) -> RunConfig:
        """A copy with ``section.field=value`` overrides applied."""
        return apply_overrides(RunConfig, self, overrides)

    def update(self, data: dict[str, Any]) -> RunConfig:
        """A copy with a nested mapping merged in (validated): sections merge field by field;
        a field given in ``data`` replaces the old value, a mapping-valued field (such as
        ``sampling.quotas``) as a whole."""
        return from_dict(RunConfig, merge(self.to_dict(), data, RunConfig))

    def digest(self) -> str:
        """A short hash of the model-relevant config (recorded in exports). How a run is
        executed (threads, device, virtual ranks, memory mapping, caches) is left out, so a
        run can resume with other settings of those."""
        keep = {k: v for k, v in self.to_dict().items() if k not in ("eval", "embed")}
        for section, fields in _EXECUTION.items():
            keep[section] = {k: v for k, v in keep[section].items() if k not in fields}
        blob = json.dumps(keep, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> None:
        """Write the resolved config as YAML (atomically)."""
        save_yaml(self.to_dict(), path)


_EXECUTION = {
    "train": ("progress", "num_threads", "device", "virtual_ranks"),
    "data": ("mmap", "cache_dir"),
    "sampling": ("prefetch", "workers", "kernel_threads"),
    "tasks": ("share_inputs",),
}


def load_config(path: str | os.PathLike) -> RunConfig:
    """A :class:`RunConfig` from a YAML file (``yaml.safe_load``, validated)."""
    try:
        return RunConfig.from_dict(load_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{os.fspath(path)}: {exc}") from None
