r"""Collectives on ``torch.distributed`` and the groups that pool softmax candidates.

These sit below ``models`` and ``train`` so that a loss module can gather its
negatives across ranks (PinnerFormer, https://arxiv.org/abs/2205.04507, trains
with negatives gathered from all GPUs) without importing the training loop.

**Differentiable all-gather.** :func:`all_gather_parts` returns every rank's
:math:`x_r` (rank order) and routes gradients back to each slice,

.. math::
    \frac{\partial \sum_{r'} \mathcal{L}_{r'}}{\partial x_r}
    = \Bigl[\sum_{r'} \frac{\partial \mathcal{L}_{r'}}{\partial G}\Bigr]_{\text{rows of } r},

(all-reduce of the gradient, then the own slice: the SimCLR / CLIP trick). With
DDP's gradient averaging the parameters then follow
:math:`\nabla \tfrac1W \sum_r \mathcal{L}_r`, as one process computing every
rank's loss would.

**Candidate pools.** A :class:`GatherGroup` is the set of ranks whose in-batch and
random negatives are pooled. :class:`ProcessGroupGather` is the torch.distributed
world; :class:`ThreadGroup` runs ``W`` *virtual* ranks as threads of one process
(:func:`run_ranks`), which computes exactly what ``W`` processes compute, in one
process. The trainer makes a group current with :func:`pooled_negatives`; outside
it, :func:`current_group` is ``None`` and every loss sees its own batch only.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from graphrep.errors import ConfigError, ShapeError

T = TypeVar("T")


def is_initialized() -> bool:
    """Whether a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def _comm_device(x: Tensor | None = None) -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu") if x is None else x.device


def _gather_padded(x: Tensor, sizes: list[int]) -> list[Tensor]:
    """All-gather ``x`` whose dim-0 size differs per rank (padded to the largest)."""
    m = max(sizes)
    x = x.contiguous()
    if x.shape[0] < m:
        x = torch.cat([x, x.new_zeros((m - x.shape[0], *x.shape[1:]))])
    parts = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(parts, x)
    return [p[:s] for p, s in zip(parts, sizes, strict=True)]


class _AllGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: list[int]) -> Tensor:
        rank = dist.get_rank()
        ctx.lo, ctx.hi = sum(sizes[:rank]), sum(sizes[: rank + 1])
        return torch.cat(_gather_padded(x, sizes))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.lo : ctx.hi], None


def _check_gatherable(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() < 1:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{name}: expected a tensor with at least one dimension, got {got}")
    return x


def all_gather_parts(x: Tensor) -> list[Tensor]:
    """Every rank's ``x`` in rank order (module docstring); differentiable when ``x``
    requires grad. Ranks may hold different numbers of rows; trailing dimensions and
    dtype must agree (integers below 2**53, see :func:`all_gather_many`). ``[x]``
    without a process group."""
    x = _check_gatherable(x, "all_gather_parts")
    return [mine[0] for mine in all_gather_many([x])]


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenation of every rank's ``x`` along dim 0, differentiably (identity without
    a process group)."""
    x = _check_gatherable(x, "all_gather_with_grad")
    parts = all_gather_parts(x)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def all_gather_many(xs: Sequence[Tensor]) -> list[list[Tensor]]:
    """Every rank's tensors ``xs`` (``result[rank][i]``) in two collectives: the row
    counts, then one float64 blob of all of them (differentiable: see the module
    docstring). Every rank passes the same number of tensors with the same
    trailing shapes and dtypes; row counts may differ. Integers must be below 2**53
    (exact in float64). ``[list(xs)]`` without a process group."""
    xs = [_check_gatherable(x, "all_gather_many") for x in xs]
    if not is_initialized() or dist.get_world_size() == 1:
        return [list(xs)]
    device = xs[0].device if xs else torch.device("cpu")
    rows = torch.tensor([x.shape[0] for x in xs], dtype=torch.long, device=device)
    table = [torch.empty_like(rows) for _ in range(dist.get_world_size())]
    dist.all_gather(table, rows)
    counts = torch.stack(table).tolist()  # [W][len(xs)]
    widths = [math.prod(x.shape[1:]) for x in xs]
    flat = [x.reshape(-1).to(torch.float64) for x in xs]
    blob = torch.cat(flat) if flat else torch.zeros(0, dtype=torch.float64, device=device)
    sizes = [sum(c * w for c, w in zip(r, widths, strict=True)) for r in counts]
    grad = any(x.requires_grad for x in xs)
    if grad:
        gathered = _AllGather.apply(blob, sizes)
    else:
        with torch.no_grad():
            gathered = torch.cat(_gather_padded(blob, sizes))
    out, at = [], 0
    for r in counts:
        mine = []
        for x, n, w in zip(xs, r, widths, strict=True):
            part = gathered[at : at + n * w].reshape(n, *x.shape[1:])
            mine.append(part.to(x.dtype) if x.is_floating_point() else part.detach().to(x.dtype))
            at += n * w
        out.append(mine)
    return out


@torch.no_grad()
def gather_ids(ids: Tensor) -> Tensor:
    """Concatenate every rank's ``ids`` along dim 0 (no gradient; sizes may differ)."""
    ids = _check_gatherable(ids, "gather_ids")
    return torch.cat(all_gather_parts(ids.detach()))


def broadcast_object(obj: Any = None, src: int = 0) -> Any:
    """Send a JSON-serialisable ``obj`` from rank ``src`` to every rank (sent as UTF-8
    JSON, never pickled); returns it. Single-process: returns ``obj``."""
    if not is_initialized():
        return obj
    dev = _comm_device()
    if dist.get_rank() == src:
        try:
            data = json.dumps(obj).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"broadcast_object: obj must be JSON-serialisable ({exc})") from exc
        size = torch.tensor([len(data)], dtype=torch.long, device=dev)
    else:
        size = torch.zeros(1, dtype=torch.long, device=dev)
    dist.broadcast(size, src)
    if dist.get_rank() == src:
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
    else:
        buf = torch.empty(int(size), dtype=torch.uint8, device=dev)
    dist.broadcast(buf, src)
    return json.loads(bytes(buf.cpu().numpy()).decode())


def barrier() -> None:
    """Wait for every rank (no-op single-process)."""
    if is_initialized():
        if dist.get_backend() == "nccl":  # name the device (else NCCL guesses and warns)
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def all_reduce_mean(value: float) -> float:
    """Mean of ``value`` over ranks, in float64 (``value`` itself single-process)."""
    if not is_initialized():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / dist.get_world_size()


# ---------------------------------------------------------------- candidate pools
class GatherGroup(Protocol):
    """Ranks that pool their softmax candidates: :meth:`gather` returns every rank's
    tensors in rank order. Every rank must call :meth:`gather` the same number of times
    in the same order (the tasks' losses run in a fixed order on every rank)."""

    rank: int
    world_size: int

    def gather(self, xs: Sequence[Tensor]) -> list[list[Tensor]]:
        """Every rank's tensors ``xs`` (``result[rank][i]``); gradients reach each rank's
        own rows."""
        ...


class ProcessGroupGather:
    """The torch.distributed world as a candidate pool (:func:`all_gather_many`)."""

    def __init__(self) -> None:
        if not is_initialized():
            raise ConfigError("ProcessGroupGather: no torch.distributed process group "
                              "(launch with torchrun)")  # fmt: skip
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def gather(self, xs: Sequence[Tensor]) -> list[list[Tensor]]:
        return all_gather_many(xs)


class ThreadGroup:
    """``world_size`` virtual ranks running as threads of one process.

    Rank ``v``'s :meth:`member` exchanges tensors with the others through a barrier;
    the tensors keep their autograd graphs, so one ``backward()`` of the mean of the
    ranks' losses gives the gradient a ``world_size``-process DDP run computes.
    """

    def __init__(self, world_size: int, timeout: float | None = 600.0) -> None:
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ConfigError(f"ThreadGroup: world_size must be an integer >= 1, got {world_size!r}")
        self.world_size = world_size
        self._barrier = threading.Barrier(world_size, timeout=timeout)
        self._slots: list[Any] = [None] * world_size

    def member(self, rank: int) -> GatherGroup:
        """The group as seen from virtual rank ``rank``."""
        if not 0 <= rank < self.world_size:
            raise ConfigError(f"ThreadGroup: rank {rank} outside [0, {self.world_size})")
        return _ThreadMember(self, rank)

    def exchange(self, rank: int, x: Any) -> list[Any]:
        """Deposit rank ``rank``'s ``x``; returns every rank's, once all have deposited."""
        self._slots[rank] = x
        self._barrier.wait()
        parts = list(self._slots)
        self._barrier.wait()  # everyone has read before the next exchange overwrites
        return parts

    def abort(self) -> None:
        """Release every waiting rank with ``BrokenBarrierError`` (one rank failed)."""
        self._barrier.abort()


class _ThreadMember:
    def __init__(self, group: ThreadGroup, rank: int) -> None:
        self.group, self.rank, self.world_size = group, rank, group.world_size

    def gather(self, xs: Sequence[Tensor]) -> list[list[Tensor]]:
        return self.group.exchange(self.rank, [_check_gatherable(x, "gather") for x in xs])


_CURRENT = threading.local()


def current_group() -> GatherGroup | None:
    """The candidate pool of this thread (``None``: each loss sees its own batch)."""
    return getattr(_CURRENT, "group", None)


@contextmanager
def pooled_negatives(group: GatherGroup | None) -> Iterator[None]:
    """Make ``group`` this thread's candidate pool inside the ``with`` block."""
    previous = current_group()
    _CURRENT.group = group
    try:
        yield
    finally:
        _CURRENT.group = previous


def run_ranks(group: ThreadGroup, fn: Callable[[int, Any], T], args: Sequence[Any]) -> list[T]:
    """``[fn(v, args[v]) for v in ranks]``, each in its own thread with the group's
    member ``v`` current (:func:`pooled_negatives`). An exception in one rank aborts the
    others and is re-raised."""
    if len(args) != group.world_size:
        raise ConfigError(f"run_ranks: {len(args)} inputs for {group.world_size} ranks")
    results: list[Any] = [None] * group.world_size
    errors: list[BaseException | None] = [None] * group.world_size

    def work(v: int) -> None:
        try:
            with pooled_negatives(group.member(v)):
                results[v] = fn(v, args[v])
        except BaseException as exc:  # re-raised below, in the calling thread
            errors[v] = exc
            group.abort()

    threads = [threading.Thread(target=work, args=(v,), daemon=True) for v in range(1, len(args))]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    first = next((e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)),
                 next((e for e in errors if e is not None), None))  # fmt: skip
    if first is not None:
        raise first
    return results


__all__ = [
    "GatherGroup",
    "ProcessGroupGather",
    "ThreadGroup",
    "all_gather_many",
    "all_gather_parts",
    "all_gather_with_grad",
    "all_reduce_mean",
    "barrier",
    "broadcast_object",
    "current_group",
    "gather_ids",
    "get_rank",
    "get_world_size",
    "is_initialized",
    "pooled_negatives",
    "run_ranks",
]
