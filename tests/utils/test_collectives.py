"""Candidate pools: virtual ranks exchange tensors in rank order with their gradients; the
current pool is per thread and restored on exit. (The torch.distributed collectives are
tested with 2 gloo processes in tests/train/test_distributed.py and
tests/models/test_sampled_softmax_pooled.py.)"""

from __future__ import annotations

import threading

import pytest
import torch

from graphrep.errors import ConfigError
from graphrep.utils.collectives import (
    ProcessGroupGather,
    ThreadGroup,
    all_gather_many,
    all_gather_parts,
    current_group,
    pooled_negatives,
    run_ranks,
)


def test_virtual_ranks_gather_in_rank_order_with_gradients():
    xs = [torch.full((n, 2), float(r), requires_grad=True) for r, n in enumerate((1, 3, 2))]

    def step(rank: int, x: torch.Tensor) -> torch.Tensor:
        group = current_group()
        assert group is not None and (group.rank, group.world_size) == (rank, 3)
        parts = group.gather([x, torch.tensor([rank])])
        assert [p[0].shape[0] for p in parts] == [1, 3, 2]
        assert [int(p[1]) for p in parts] == [0, 1, 2]
        # each rank's loss weighs every rank's rows by (its rank + 1)
        return (rank + 1) * torch.cat([p[0] for p in parts]).sum()

    losses = run_ranks(ThreadGroup(3), step, xs)
    torch.stack(losses).sum().backward()
    for x in xs:  # d/dx of sum_r (r + 1) * sum(all rows) = 1 + 2 + 3 per element
        assert torch.equal(x.grad, torch.full_like(x, 6.0))


def test_pool_is_per_thread_and_restored():
    assert current_group() is None
    member = ThreadGroup(1).member(0)
    seen = []
    with pooled_negatives(member):
        assert current_group() is member
        t = threading.Thread(target=lambda: seen.append(current_group()))
        t.start()
        t.join()
        with pooled_negatives(None):
            assert current_group() is None
        assert current_group() is member
    assert current_group() is None and seen == [None]


def test_errors_are_specific():
    with pytest.raises(ConfigError, match="world_size"):
        ThreadGroup(0)
    with pytest.raises(ConfigError, match="rank 2 outside"):
        ThreadGroup(2).member(2)
    with pytest.raises(ConfigError, match="2 inputs for 3 ranks"):
        run_ranks(ThreadGroup(3), lambda r, x: x, [1, 2])
    with pytest.raises(ConfigError, match="torchrun"):
        ProcessGroupGather()
    x = torch.ones(2, 1)
    assert all_gather_parts(x) == [x]  # no process group: this rank only
    assert all_gather_many([x, x]) == [[x, x]]


def test_failing_rank_reraises_its_own_error():
    def step(rank: int, x: torch.Tensor) -> torch.Tensor:
        if rank == 1:
            raise ValueError("rank 1 failed")
        return current_group().gather([x])[0][0]  # would wait forever without the abort

    with pytest.raises(ValueError, match="rank 1 failed"):
        run_ranks(ThreadGroup(2, timeout=30), step, [torch.ones(1), torch.ones(1)])
