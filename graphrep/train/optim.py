r"""The optimizer of a run: AdamW for dense weights, row-wise SparseAdam for id tables.

Id tables (:class:`~graphrep.models.id_embedding.IdEmbedding`, and any embedding
with ``sparse=True``) produce **sparse** gradients: the rows a batch touched. They
are updated by :class:`torch.optim.SparseAdam` (lazy Adam: moments and the update of
a row change only when the row has a gradient), so a step costs
:math:`O(\text{rows touched} \times D)` whatever the table size, as in TorchRec and
PyTorch-BigGraph. Every other parameter goes to AdamW (torch's fused kernel) with weight decay on
matrices only (:func:`param_groups`). Both follow one learning-rate schedule
(:func:`lr_lambda`); id tables may have their own base rate (``train.id_lr``).

**Several processes.** DDP does not handle the sparse gradients (NCCL has no sparse
all-reduce): the trainer keeps the id tables out of DDP and, after ``backward``,
:meth:`RunOptimizer.sync_sparse` all-gathers every rank's coalesced ``(rows, values)``
(:func:`~graphrep.utils.collectives.all_gather_many`) and replaces each rank's gradient
by the sum over ranks divided by the world size -- the same average DDP gives the
dense weights -- so every rank applies the identical row update.

Gradient clipping (``train.grad_clip``) applies to the dense weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from graphrep.errors import GraphFormatError
from graphrep.train.config import TrainConfig
from graphrep.utils.collectives import all_gather_many, get_world_size


def lr_lambda(cfg: TrainConfig, total_steps: int | None = None) -> Callable[[int], float]:
    r"""Multiplier of the base learning rate at step ``t``: linear warmup over
    ``warmup_steps``, then cosine decay to ``min_lr_ratio`` at ``total_steps``
    (default ``cfg.steps``)."""
    warm, floor = cfg.warmup_steps, cfg.min_lr_ratio
    total = cfg.steps if total_steps is None else total_steps

    def f(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        span = max(1, total - warm)
        progress = min(1.0, (t - warm) / span)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def sparse_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters whose gradients are sparse (modules with ``sparse=True``), each once."""
    out, seen = [], set()
    for m in model.modules():
        if getattr(m, "sparse", False) is True:
            for p in m.parameters(recurse=False):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return out


def param_groups(model: nn.Module, weight_decay: float, skip: set[int] | None = None) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on biases, norms, embeddings,
    temperatures; parameters whose ``id`` is in ``skip`` are left out."""
    skip = skip or set()
    decay, no_decay = [], []
    embedding_params = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)
        for p in m.parameters()
    }  # fmt: skip
    for p in model.parameters():
        if not p.requires_grad or id(p) in skip:
            continue
        (decay if p.ndim >= 2 and id(p) not in embedding_params else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _adamw(groups: list[dict[str, Any]], lr: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel (one pass over each tensor: the update of a large
    table costs several times less than the per-op loop), or the multi-tensor one where
    the fused kernel does not take the parameters (device, dtype)."""
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, foreach=True)


class RunOptimizer:
    """AdamW (dense) + SparseAdam (id tables) with one warmup + cosine schedule.

    Args:
        model: the model whose parameters are optimised.
        cfg: ``train`` config (``lr``, ``id_lr``, ``weight_decay``, ``grad_clip``, schedule).
        total_steps: steps of the schedule (default ``cfg.steps``; epoch budgets derive it).
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, total_steps: int | None = None) -> None:
        self.cfg = cfg
        self.sparse_params = sparse_parameters(model)
        skip = {id(p) for p in self.sparse_params}
        self.dense_params = [p for p in model.parameters() if p.requires_grad and id(p) not in skip]
        self.dense = _adamw(param_groups(model, cfg.weight_decay, skip), cfg.lr)
        self.sparse = None
        if self.sparse_params:
            lr = cfg.id_lr if cfg.id_lr is not None else cfg.lr
            self.sparse = torch.optim.SparseAdam(self.sparse_params, lr=lr)
        schedule = lr_lambda(cfg, total_steps)
        self.schedulers = [
            torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in (self.dense, self.sparse) if o
        ]

    def zero_grad(self) -> None:
        self.dense.zero_grad(set_to_none=True)
        if self.sparse is not None:
            self.sparse.zero_grad(set_to_none=True)

    @torch.no_grad()
    def sync_sparse(self) -> None:
        """Average the id tables' sparse gradients over the torch.distributed ranks (module
        docstring); a no-op in one process."""
        world = get_world_size()
        if world == 1 or not self.sparse_params:
            return
        for p in self.sparse_params:
            g = p.grad.coalesce() if p.grad is not None else None
            rows = g.indices()[0] if g is not None else torch.zeros(0, dtype=torch.long, device=p.device)
            vals = g.values() if g is not None else p.new_zeros(0, *p.shape[1:])
            parts = all_gather_many([rows, vals])
            all_rows = torch.cat([r for r, _ in parts])
            all_vals = torch.cat([v for _, v in parts]) / world
            p.grad = torch.sparse_coo_tensor(
                all_rows[None], all_vals, p.shape, check_invariants=True
            ).coalesce()

    def step(self) -> None:
        """Clip the dense gradients, step both optimizers and the schedule."""
        if self.cfg.grad_clip > 0 and self.dense_params:
            nn.utils.clip_grad_norm_(self.dense_params, self.cfg.grad_clip)
        self.dense.step()
        if self.sparse is not None:
            self.sparse.step()
        for s in self.schedulers:
            s.step()

    def get_last_lr(self) -> float:
        """The dense learning rate now."""
        return self.schedulers[0].get_last_lr()[0]

    def state_dict(self) -> dict[str, Any]:
        """The dense and sparse optimizers' and the schedulers' state (for a checkpoint)."""
        return {
            "dense": self.dense.state_dict(),
            "sparse": None if self.sparse is None else self.sparse.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output.

        Raises:
            GraphFormatError: the state was saved by a model with other (sparse) parameters.
        """
        if not isinstance(state, dict) or "dense" not in state:
            raise GraphFormatError("optimizer state is not a graphrep RunOptimizer state")
        if (state["sparse"] is None) != (self.sparse is None):
            raise GraphFormatError(
                "optimizer state does not match the model (sparse id tables present in one only)"
            )
        self.dense.load_state_dict(state["dense"])
        if self.sparse is not None:
            self.sparse.load_state_dict(state["sparse"])
        for s, sd in zip(self.schedulers, state["schedulers"], strict=True):
            s.load_state_dict(sd)
