r"""Data-parallel building blocks on ``torch.distributed`` (started by ``torchrun``).

Every rank runs the same program on its own batches; gradients are averaged by
:class:`torch.nn.parallel.DistributedDataParallel`. This module holds what the
training loop needs around that: process-group setup from ``torchrun``'s
environment (gloo on CPU, NCCL on GPU), per-rank seeds and step streams.

**Step streams.** Batches are pure functions of the task step (see
:mod:`graphrep.tasks`). At optimizer step :math:`s` of a run of world size
:math:`W` (never resized), rank :math:`r` samples task step

.. math::
    t(s, r) = s\,W + r,

so the ranks' batches at step :math:`s` are exactly the batches a 1-process run
draws at steps :math:`[sW, sW + W)`, and after :math:`s` steps
:math:`g = sW` task steps (batches) have been consumed. A run resumed at
optimizer step :math:`s_0` with :math:`g_0` consumed batches under a new world
size :math:`W'` continues the same sequence,
:math:`t(s, r) = g_0 + (s - s_0)\,W' + r`, so no batch is repeated or skipped.

**Collectives** (the differentiable all-gather, broadcast, barrier, mean) live in
:mod:`graphrep.utils.collectives`, below ``models``, because the sampled softmax
gathers its negatives across ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

from graphrep.errors import ConfigError
from graphrep.utils.collectives import is_initialized

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job.

    Attributes:
        rank: global rank in ``[0, world_size)``.
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU).
        backend: ``"gloo"``, ``"nccl"`` or ``None`` (single process, nothing initialised).
        device: the device this rank computes on (``cpu`` or ``cuda:<local_rank>``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that logs, checkpoints and merges)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group was initialised for this env."""
        return self.backend is not None

    def destroy(self) -> None:
        """Tear down the process group (a no-op single-process; idempotent)."""
        if self.distributed and is_initialized():
            dist.destroy_process_group()


def _env_int(name: str, minimum: int) -> int:
    raw = os.environ.get(name)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"environment variable {name}={raw!r}: expected an integer >= "
                          f"{minimum} (set by torchrun)")
    return value


def _device(device: str | torch.device, local_rank: int) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device={device!r}: expected 'cpu' or 'cuda[:i]' ({exc})") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r}: CUDA is not available on this machine; "
                              "use device='cpu' (gloo backend)")
        return torch.device("cuda", local_rank if dev.index is None else dev.index)
    if dev.type != "cpu":
        raise ConfigError(f"device={device!r}: distributed training supports 'cpu' (gloo) "
                          "and 'cuda' (nccl)")
    return dev


def init_distributed(device: str | torch.device = "cpu") -> DistEnv:
    """Join the process group described by ``torchrun``'s environment variables.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
    Without ``RANK``/``WORLD_SIZE`` (a plain ``python`` run) it returns a single-process
    env and initialises nothing. If a process group already exists it is reused.

    Args:
        device: ``"cpu"`` (gloo backend) or ``"cuda"`` (NCCL; each rank uses
            ``cuda:<LOCAL_RANK>`` unless an index is given).

    Raises:
        ConfigError: CUDA requested but unavailable, an unsupported device, or a
            malformed / incomplete torchrun environment.
    """
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ and not is_initialized():
        return DistEnv(device=_device(device, 0))
    missing = [k for k in _ENV if k not in os.environ]
    if missing and not is_initialized():
        raise ConfigError(f"incomplete torchrun environment: {missing} not set (launch with "
                          "`torchrun --nproc_per_node N ...` or unset RANK/WORLD_SIZE)")
    local_rank = _env_int("LOCAL_RANK", 0) if "LOCAL_RANK" in os.environ else 0
    dev = _device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if is_initialized():
        backend = str(dist.get_backend())
        return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, backend, dev)
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if rank >= world_size:
        raise ConfigError(f"environment variable RANK={rank}: expected < WORLD_SIZE={world_size}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world_size)
    return DistEnv(rank, world_size, local_rank, backend, dev)


def rank_seed(seed: int, rank: int) -> int:
    """A reproducible seed in ``[0, 2**63)`` for ``rank``; distinct ranks get distinct seeds.

    ``rank_seed(seed, 0) == seed``, so a 1-process run keeps its seed; other ranks
    draw from ``numpy.random.SeedSequence(seed, spawn_key=(rank,))`` (a 64-bit hash).
    """
    for name, v in (("seed", seed), ("rank", rank)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < 2**63:
            raise ConfigError(f"{name}={v!r}: expected an integer in [0, 2**63)")
    if rank == 0:
        return int(seed)
    state = np.random.SeedSequence(int(seed), spawn_key=(int(rank),)).generate_state(1, np.uint64)
    mixed = int(state[0]) >> 1
    return mixed if mixed != seed else mixed ^ 1


def _check_steps(step: int, rank: int, world_size: int, base_step: int, base_sample: int) -> None:
    for name, v, lo in (("step", step, base_step), ("rank", rank, 0), ("world_size", world_size, 1),
                        ("base_step", base_step, 0), ("base_sample", base_sample, 0)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ConfigError(f"{name}={v!r}: expected an integer >= {lo}")
    if rank >= world_size:
        raise ConfigError(f"rank={rank}: expected < world_size={world_size}")


def rank_sample_step(step: int, rank: int, world_size: int, base_step: int = 0,
                     base_sample: int = 0) -> int:
    """The task step rank ``rank`` samples at optimizer step ``step`` (module docstring).

    Args:
        step: optimizer step (``>= base_step``).
        rank: this rank.
        world_size: number of ranks since ``base_step``.
        base_step: optimizer step the current world size started at (a resume point).
        base_sample: task steps consumed before ``base_step`` (:func:`samples_consumed`
            of the previous segment; stored in the checkpoint).

    Returns:
        ``base_sample + (step - base_step) * world_size + rank``.
    """
    _check_steps(step, rank, world_size, base_step, base_sample)
    return int(base_sample + (step - base_step) * world_size + rank)


def samples_consumed(step: int, world_size: int, base_step: int = 0, base_sample: int = 0) -> int:
    """Task steps (batches) consumed by all ranks before optimizer step ``step``."""
    _check_steps(step, 0, world_size, base_step, base_sample)
    return int(base_sample + (step - base_step) * world_size)


def shard_steps(start: int, stop: int, rank: int, world_size: int, base_step: int = 0,
                base_sample: int = 0) -> range:
    """Task steps rank ``rank`` samples for optimizer steps ``[start, stop)``, in order."""
    first = rank_sample_step(start, rank, world_size, base_step, base_sample)
    return range(first, first + max(0, stop - start) * world_size, world_size)


__all__ = [
    "DistEnv",
    "init_distributed",
    "rank_sample_step",
    "rank_seed",
    "samples_consumed",
    "shard_steps",
]
