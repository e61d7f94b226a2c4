"""torch.distributed helpers: single-process fallbacks, seeds, step streams, and a
2-process gloo run checked against single-process float64 references."""

import json
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from graphrep.errors import ConfigError, ShapeError
from graphrep.train.distributed import (
    DistEnv,
    init_distributed,
    rank_sample_step,
    rank_seed,
    samples_consumed,
    shard_steps,
)
from graphrep.utils.collectives import (
    all_gather_many,
    all_gather_with_grad,
    all_reduce_mean,
    barrier,
    broadcast_object,
    gather_ids,
    get_rank,
    get_world_size,
)

SIZES = (3, 5)  # unequal row counts per rank exercise the padded gather
DIM = 4
PAYLOAD = {"run": "r1", "steps": [1, 2, 3], "lr": 0.5}



def _inputs(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(SIZES[rank], DIM, generator=g, dtype=torch.float64)
    q = torch.randn(2, DIM, generator=g, dtype=torch.float64)
    return x, q


def _loss(rank: int, q: torch.Tensor, gathered: torch.Tensor) -> torch.Tensor:
    """A rank-dependent contrastive-style loss of local queries against all rows."""
    return torch.logsumexp(q @ gathered.T, dim=1).sum() + 0.1 * (rank + 1) * (gathered**3).sum()


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    env = init_distributed("cpu")
    try:
        x, q = _inputs(rank)
        x.requires_grad_(True)
        gathered = all_gather_with_grad(x)
        _loss(rank, q, gathered).backward()
        ids = gather_ids(torch.arange(SIZES[rank]) + 100 * rank)
        big = torch.arange(SIZES[rank]) + 2**50 + 1000 * rank  # int64, exact through float64
        many = all_gather_many([x.detach(), big, torch.zeros(rank + 1, 0)])
        assert torch.equal(torch.cat([m[1] for m in many]),
                           torch.cat([torch.arange(n) + 2**50 + 1000 * r for r, n in enumerate(SIZES)]))
        assert [m[2].shape for m in many] == [(1, 0), (2, 0)] and many[1][1].dtype == torch.long
        assert torch.equal(torch.cat([m[0] for m in many]), gathered.detach())
        obj = broadcast_object(PAYLOAD if rank == 0 else None)
        mean = all_reduce_mean(float(rank + 1))
        barrier()
        np.savez(os.path.join(out, f"rank_{rank}.npz"), gathered=gathered.detach().numpy(),
                 grad=x.grad.numpy(), ids=ids.numpy())
        info = {"env": [env.rank, env.world_size, env.local_rank, env.backend, str(env.device),
                        env.is_main], "obj": obj, "mean": mean,
                "rank": get_rank(), "world_size": get_world_size()}
        with open(os.path.join(out, f"rank_{rank}.json"), "w") as f:
            json.dump(info, f)
    finally:
        env.destroy()


def test_two_process_gloo(tmp_path, free_port):
    mp.spawn(_worker, args=(2, free_port, str(tmp_path)), nprocs=2, join=True)
    xs, qs = zip(*(_inputs(r) for r in range(2)), strict=True)
    full = torch.cat(xs).requires_grad_(True)  # single-process reference
    sum(_loss(r, qs[r], full) for r in range(2)).backward()
    bounds = np.cumsum((0, *SIZES))
    for r in range(2):
        res = np.load(tmp_path / f"rank_{r}.npz", allow_pickle=False)
        info = json.loads((tmp_path / f"rank_{r}.json").read_text())
        np.testing.assert_array_equal(res["gathered"], full.detach().numpy())
        np.testing.assert_allclose(res["grad"], full.grad[bounds[r] : bounds[r + 1]].numpy(),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(res["ids"], [0, 1, 2, 100, 101, 102, 103, 104])
        assert info["env"] == [r, 2, r, "gloo", "cpu", r == 0]
        assert info["obj"] == PAYLOAD
        assert info["mean"] == 1.5
        assert (info["rank"], info["world_size"]) == (r, 2)


def test_single_process_fallbacks(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    env = init_distributed("cpu")
    assert env == DistEnv(0, 1, 0, None, torch.device("cpu"))
    assert env.is_main and not env.distributed
    env.destroy()  # no-op
    x = torch.randn(3, 2, requires_grad=True)
    y = all_gather_with_grad(x)
    (2 * y).sum().backward()
    assert torch.equal(y, x) and torch.equal(x.grad, torch.full((3, 2), 2.0))
    ids = torch.tensor([4, 1])
    assert torch.equal(gather_ids(ids), ids)
    assert broadcast_object({"a": 1}) == {"a": 1}
    assert all_reduce_mean(2.5) == 2.5
    barrier()
    assert (get_rank(), get_world_size()) == (0, 1)
    with pytest.raises(ShapeError, match="at least one dimension"):
        all_gather_with_grad(torch.tensor(1.0))


def test_init_errors(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            init_distributed("cuda")
    with pytest.raises(ConfigError, match="device='meta'"):
        init_distributed("meta")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="MASTER_ADDR"):
        init_distributed("cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        init_distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ConfigError, match="RANK=2"):
        init_distributed("cpu")


def test_rank_seed():
    for seed in (0, 7, 2**63 - 1):
        seeds = [rank_seed(seed, r) for r in range(64)]
        assert seeds[0] == seed
        assert len(set(seeds)) == 64
        assert all(0 <= s < 2**63 for s in seeds)
        assert seeds == [rank_seed(seed, r) for r in range(64)]  # reproducible
    assert rank_seed(1, 3) != rank_seed(2, 3)
    for bad in ((-1, 0), (0, -1), (2**63, 0), (1.5, 0), (True, 0)):
        with pytest.raises(ConfigError):
            rank_seed(*bad)


def _batch(t: int) -> np.ndarray:
    """A stand-in for a task's batch: a pure function of the task step."""
    return np.random.default_rng([11, t]).integers(0, 10**9, size=4)


def test_rank_sample_step_union():
    for world_size in (1, 2, 3, 5):
        for step in range(6):
            steps = [rank_sample_step(step, r, world_size) for r in range(world_size)]
            assert sorted(steps) == list(range(step * world_size, step * world_size + world_size))
            got = np.sort(np.concatenate([_batch(t) for t in steps]))
            ref = np.sort(np.concatenate([_batch(t) for t in range(step * world_size,
                                                                   (step + 1) * world_size)]))
            np.testing.assert_array_equal(got, ref)
        assert samples_consumed(6, world_size) == 6 * world_size
    assert list(shard_steps(2, 5, 1, 3)) == [rank_sample_step(s, 1, 3) for s in (2, 3, 4)]


def test_resume_with_another_world_size():
    """W=2 for steps [0, 3), resumed with W=3 for [3, 5), then W=1 for [5, 7): every
    task step 0..g-1 is sampled exactly once, in the 1-process order."""
    seen, base_step, base_sample = [], 0, 0
    for world_size, stop in ((2, 3), (3, 5), (1, 7)):
        for step in range(base_step, stop):
            seen += [rank_sample_step(step, r, world_size, base_step, base_sample)
                     for r in range(world_size)]
        base_sample = samples_consumed(stop, world_size, base_step, base_sample)
        base_step = stop
    assert seen == list(range(base_sample)) and base_sample == 2 * 3 + 3 * 2 + 1 * 2
    with pytest.raises(ConfigError, match="rank=3"):
        rank_sample_step(0, 3, 3)
    with pytest.raises(ConfigError, match="step=2"):
        rank_sample_step(2, 0, 2, base_step=3)
