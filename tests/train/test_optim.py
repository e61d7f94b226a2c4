"""RunOptimizer: AdamW for dense weights, SparseAdam for id tables, one schedule, exact state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphrep.errors import GraphFormatError
from graphrep.models.id_embedding import IdEmbedding
from graphrep.train.config import TrainConfig
from graphrep.train.optim import RunOptimizer, lr_lambda, sparse_parameters


def test_lr_schedule_warmup_then_cosine():
    f = lr_lambda(TrainConfig(steps=102, warmup_steps=2, min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.5) and f(1) == pytest.approx(1.0)
    assert f(2) == pytest.approx(1.0)
    assert f(52) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(102) == pytest.approx(0.1)
    g = lr_lambda(TrainConfig(steps=102, warmup_steps=2, min_lr_ratio=0.1), total_steps=202)
    assert g(102) == pytest.approx(0.1 + 0.9 * 0.5)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = IdEmbedding(1000, 4)
        self.lin = nn.Linear(4, 1)

    def forward(self, ids):
        return self.lin(self.table(ids)).sum()


def test_sparse_rows_only_and_dense_adamw():
    torch.manual_seed(0)
    model = Toy()
    opt = RunOptimizer(model, TrainConfig(lr=0.1, id_lr=0.05, warmup_steps=0, steps=10))
    assert sparse_parameters(model) == [model.table.weight]
    assert opt.sparse is not None and opt.sparse.param_groups[0]["lr"] == pytest.approx(0.05)
    before = model.table.weight.detach().clone()
    lin_before = model.lin.weight.detach().clone()
    opt.zero_grad()
    model(torch.tensor([3, 7, 7])).backward()
    opt.step()
    moved = (model.table.weight.detach() != before).any(1).nonzero().reshape(-1).tolist()
    assert moved == [3, 7]  # only the rows in the batch changed
    assert not torch.equal(model.lin.weight, lin_before)
    # the untouched rows' Adam moments were never created: lazy, row-wise state
    state = opt.sparse.state[model.table.weight]
    assert torch.count_nonzero(state["exp_avg"].abs().sum(1)) == 2


def test_state_round_trip_continues_identically():
    def run(steps, resume_from=None):
        torch.manual_seed(0)
        model = Toy()
        opt = RunOptimizer(model, TrainConfig(lr=0.05, warmup_steps=1, steps=6))
        start = 0
        if resume_from is not None:
            model.load_state_dict(resume_from[0])
            opt.load_state_dict(resume_from[1])
            start = resume_from[2]
        for t in range(start, steps):
            opt.zero_grad()
            model(torch.tensor([t % 5, 10 + t])).backward()
            opt.step()
        return model, opt

    full, _ = run(6)
    half, opt = run(3)
    resumed, _ = run(6, (half.state_dict(), opt.state_dict(), 3))
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_mismatched_state_is_refused():
    dense_only = RunOptimizer(nn.Linear(2, 2), TrainConfig())
    with pytest.raises(GraphFormatError, match="does not match"):
        dense_only.load_state_dict(RunOptimizer(Toy(), TrainConfig()).state_dict())
    with pytest.raises(GraphFormatError, match="not a graphrep"):
        dense_only.load_state_dict({"state": {}})


def _sync_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    from graphrep.train.distributed import init_distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    env = init_distributed("cpu")
    try:
        torch.manual_seed(0)
        model = Toy()
        opt = RunOptimizer(model, TrainConfig(lr=0.1, warmup_steps=0, steps=3))
        opt.zero_grad()
        ids = torch.tensor([[1, 2, 2], [2, 9]][rank])
        model(ids).backward()
        opt.sync_sparse()
        torch.save(model.table.weight.grad.to_dense(), os.path.join(out, f"g{rank}.pt"))
    finally:
        env.destroy()


def test_sparse_gradients_are_averaged_over_processes(tmp_path, free_port):
    import torch.multiprocessing as mp

    mp.spawn(_sync_worker, args=(2, free_port, str(tmp_path)), nprocs=2, join=True)
    g0, g1 = (torch.load(tmp_path / f"g{r}.pt", weights_only=True) for r in (0, 1))
    torch.manual_seed(0)
    model = Toy()
    want = []
    for ids in ([1, 2, 2], [2, 9]):
        model.zero_grad()
        model(torch.tensor(ids)).backward()
        want.append(model.table.weight.grad.to_dense())
    torch.testing.assert_close(g0, g1)
    torch.testing.assert_close(g0, (want[0] + want[1]) / 2)


def test_dense_update_equals_plain_adamw():
    """The fused kernel is an implementation choice: the same update as torch's loop AdamW."""
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    opt = RunOptimizer(a, TrainConfig(lr=0.05, warmup_steps=0, steps=10**9, weight_decay=0.1, grad_clip=0.0))
    assert opt.dense.defaults.get("fused") or opt.dense.defaults.get("foreach")
    ref = torch.optim.AdamW([{"params": [b.weight], "weight_decay": 0.1},
                             {"params": [b.bias], "weight_decay": 0.0}], lr=0.05)  # fmt: skip
    x = torch.randn(5, 4)
    for _ in range(3):
        for model, o in ((a, opt), (b, ref)):
            o.zero_grad()
            model(x).square().sum().backward()
            o.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
