"""LossStep / RankLosses / count_examples: one rank's loss is the task loss, virtual ranks
average theirs (as DDP averages gradients), examples are the tasks' batch lengths."""

from __future__ import annotations

import torch
from torch import nn

from graphrep.train.ranks import LossStep, RankLosses, count_examples


class Tasks:
    """Loss = weight * sum of the batch, one metric."""

    def loss(self, model: nn.Module, batches: dict) -> tuple[torch.Tensor, dict[str, float]]:
        loss = model.w * batches["x"].sum()
        return loss, {"x_loss": float(loss.detach())}


def runner() -> LossStep:
    model = nn.Module()
    model.w = nn.Parameter(torch.tensor(2.0))
    return LossStep(model, Tasks())


def test_one_rank_is_the_task_loss():
    losses = RankLosses(runner(), 1, gather=False, distributed=False)
    loss, metrics = losses([{"x": torch.tensor([1.0, 2.0])}])
    assert float(loss.detach()) == 6.0 and metrics == {"x_loss": 6.0}


def test_virtual_ranks_average_losses_and_metrics_and_gradients():
    run = runner()
    batches = [{"x": torch.tensor([1.0])}, {"x": torch.tensor([3.0, 2.0])}]
    for gather in (False, True):
        run.model.w.grad = None
        loss, metrics = RankLosses(run, 2, gather=gather, distributed=False)(batches)
        assert float(loss.detach()) == (2.0 + 10.0) / 2 and metrics == {"x_loss": 6.0}
        loss.backward()
        assert float(run.model.w.grad) == (1.0 + 5.0) / 2


def test_count_examples_sums_batch_lengths_and_skips_the_rest():
    assert count_examples([{"a": [1, 2, 3], "b": torch.zeros(2, 4), "pool": None}, {"a": [0]}]) == 6
