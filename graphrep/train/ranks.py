"""The loss of one training step over this process's ranks.

:class:`LossStep` wraps the multi-task loss as a module ``forward`` so DDP can wrap it;
:class:`RankLosses` runs it for one rank, or for ``W`` virtual ranks as threads whose
random-negative candidates are pooled and whose losses are averaged,

.. math::
    \\mathcal{L} = \\frac1W \\sum_{r=1}^{W} \\mathcal{L}_r ,

which is what DDP's gradient averaging computes over ``W`` processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from graphrep.utils.collectives import (
    ProcessGroupGather,
    ThreadGroup,
    pooled_negatives,
    run_ranks,
)


def count_examples(rank_batches: list[Mapping[str, Any]]) -> int:
    """Examples in one step's batches of every rank: the summed lengths of the tasks'
    batches (entries without a length, such as a shared node pool, are not examples)."""
    n = 0
    for batches in rank_batches:
        for b in batches.values():
            try:
                n += len(b)
            except TypeError:
                continue
    return n



class LossStep(nn.Module):
    """The multi-task loss as a module ``forward``, so DDP can wrap it (DDP syncs gradients
    of what runs inside ``forward``; the model's own methods are called from here)."""

    def __init__(self, model: nn.Module, tasks: Any) -> None:
        super().__init__()
        self.model, self.tasks = model, tasks

    def forward(self, batches: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.tasks.loss(self.model, batches)


class RankLosses:
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
