"""SampledSoftmax with negatives pooled over ranks: 2 virtual ranks (threads) and 2 gloo
processes each give the loss and gradients of one process scoring the whole batch."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.utils.collectives import ThreadGroup, pooled_negatives, run_ranks

SPLIT = (2, 5)  # rank 0 holds rows [0, 2), rank 1 rows [2, 7): unequal on purpose
NEG_SPLIT = (3, 4)


def _full(per_row: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    b, n, d = sum(SPLIT), sum(NEG_SPLIT), 4

    def unit(*s: int) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.randn(*s, d, generator=g), dim=-1)

    shape = (b, 3) if per_row else (n,)
    return {
        "query": unit(b), "positive": unit(b),
        "positive_ids": torch.tensor([3, 1, 3, 2, 1, 0, 5]),  # duplicates across the ranks
        "random_negatives": unit(*shape),
        "random_negative_ids": torch.randint(0, 6, shape, generator=g),
        "log_q_positive": torch.log(torch.rand(b, generator=g) * 0.5 + 0.01),
        "log_q_random": torch.log(torch.rand(shape, generator=g) * 0.5 + 0.01),
        "exclude_ids": torch.tensor([[0], [2], [-1], [5], [3], [-1], [1]]),
    }  # fmt: skip


def _shard(full: dict[str, torch.Tensor], rank: int, per_row: bool) -> dict[str, torch.Tensor]:
    lo, hi = sum(SPLIT[:rank]), sum(SPLIT[: rank + 1])
    nlo, nhi = sum(NEG_SPLIT[:rank]), sum(NEG_SPLIT[: rank + 1])
    out = {}
    for k, v in full.items():
        rows = (nlo, nhi) if k.startswith(("random", "log_q_random")) and not per_row else (lo, hi)
        out[k] = v[rows[0] : rows[1]]
    return out


def _leaves(full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.clone().requires_grad_(True) if v.is_floating_point() and "log_q" not in k
                else v) for k, v in full.items()}  # fmt: skip


def _loss(mode: str) -> SampledSoftmax:
    return SampledSoftmax(0.2, 0.01, 1.0, negatives=mode)


CASES = [("in_batch", False), ("mixed", False), ("random", False), ("mixed", True)]


@pytest.mark.parametrize("mode,per_row", CASES)
def test_two_virtual_ranks_equal_one_process(mode, per_row):
    full = _full(per_row)
    if mode == "in_batch":
        full = {k: v for k, v in full.items() if "random" not in k}
    ref_in = _leaves(full)
    ref_loss = _loss(mode)
    ref = ref_loss(**ref_in)
    ref.backward()

    pooled_in = _leaves(full)
    pooled_loss = _loss(mode)
    shards = [_shard(pooled_in, r, per_row) for r in range(2)]
    losses = run_ranks(ThreadGroup(2), lambda r, kw: pooled_loss(**kw), shards)
    total = torch.stack(losses).mean()  # what DDP's gradient averaging optimises
    total.backward()
    assert total.item() == pytest.approx(ref.item(), rel=1e-6)
    for k, v in ref_in.items():
        if v.requires_grad:
            np.testing.assert_allclose(pooled_in[k].grad.numpy(), v.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert pooled_loss.log_temperature.grad.item() == pytest.approx(
        ref_loss.log_temperature.grad.item(), rel=1e-5
    )


def test_outside_a_pool_each_rank_sees_its_own_batch():
    full = _full()
    loss = _loss("mixed")
    shard = _shard(full, 1, False)
    with pooled_negatives(None):
        alone = loss(**shard)
    assert alone.item() == pytest.approx(loss(**shard).item())
    pooled = run_ranks(ThreadGroup(2), lambda r, kw: loss(**kw), [_shard(full, 0, False), shard])
    assert abs(pooled[1].item() - alone.item()) > 1e-3  # more candidates, another loss


def test_a_failing_rank_releases_the_others():
    loss = _loss("mixed")
    full = _full()
    shards = [_shard(full, 0, False), {**_shard(full, 1, False), "positive": None}]
    with pytest.raises(Exception, match="positive must be a floating"):
        run_ranks(ThreadGroup(2, timeout=30), lambda r, kw: loss(**kw), shards)


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    from graphrep.train.distributed import init_distributed
    from graphrep.utils.collectives import ProcessGroupGather

    env = init_distributed("cpu")
    try:
        shard = _leaves(_shard(_full(), rank, False))
        loss = _loss("mixed")
        with pooled_negatives(ProcessGroupGather()):
            value = loss(**shard)
        value.backward()
        np.savez(os.path.join(out, f"rank_{rank}.npz"), loss=value.item(),
                 **{k: v.grad.numpy() for k, v in shard.items() if v.requires_grad},
                 tau=loss.log_temperature.grad.item())  # fmt: skip
    finally:
        env.destroy()


def test_two_gloo_processes_equal_one_process(tmp_path, free_port):
    mp.spawn(_worker, args=(free_port, str(tmp_path)), nprocs=2, join=True)
    ref_in = _leaves(_full())
    ref_loss = _loss("mixed")
    ref = ref_loss(**ref_in)
    ref.backward()
    res = [np.load(tmp_path / f"rank_{r}.npz") for r in range(2)]
    assert np.mean([float(r["loss"]) for r in res]) == pytest.approx(ref.item(), rel=1e-6)
    # DDP averages parameter gradients; the gathered inputs get the sum over ranks' losses
    assert np.mean([float(r["tau"]) for r in res]) == pytest.approx(
        ref_loss.log_temperature.grad.item(), rel=1e-5
    )
    for r in range(2):
        mine = _shard({k: v.grad for k, v in ref_in.items() if v.requires_grad}, r, False)
        for k, g in mine.items():
            np.testing.assert_allclose(res[r][k], 2 * g.numpy(), rtol=1e-5, atol=1e-6)
