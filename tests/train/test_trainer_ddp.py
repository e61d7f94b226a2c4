"""Trainer under torch.distributed (2 gloo processes): ranks sample distinct batches and pool
their negatives, DDP keeps them in sync, rank 0 writes; the loss curve and the exported
embeddings equal a 1-process run of 2 virtual ranks (the same global batch); a 2-process
checkpoint resumes in 1 process."""

from __future__ import annotations

import os
import shutil

import numpy as np
import torch
import torch.multiprocessing as mp

from graphrep.embed.export import export_run
from graphrep.embed.store import Embeddings
from graphrep.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from graphrep.train.logger import read_metrics
from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer

STEPS, EVERY = 6, 3


def config(*extra: str):
    return preset("tiny").override(
        [f"train.steps={STEPS}", f"train.checkpoint_every={EVERY}", "train.log_every=1",
         "train.warmup_steps=1", "train.num_threads=1", *extra]
    )  # fmt: skip



def _worker(rank: int, world_size: int, port: int, run: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    trainer = Trainer(config(), run)
    try:
        trainer.fit()
        assert trainer.components is not None
        params = torch.cat([p.detach().flatten() for p in trainer.components.model.parameters()])
        np.save(os.path.join(run, f"params_{rank}.npy"), params.numpy())
        export_run(run)  # sharded: each rank embeds a slice, rank 0 merges
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_two_processes_train_then_resume_in_one(tmp_path, free_port):
    run = tmp_path / "run"
    mp.spawn(_worker, args=(2, free_port, str(run)), nprocs=2, join=True)
    # DDP kept the replicas identical
    np.testing.assert_array_equal(np.load(run / "params_0.npy"), np.load(run / "params_1.npy"))
    # rank 0 alone wrote checkpoints, logs and the model; 2 ranks consumed 2 task steps per step
    state = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert state["step"] == STEPS and state["world_size"] == 2
    assert state["samples_consumed"] == 2 * STEPS
    assert [r["step"] for r in read_metrics(run / "logs" / "metrics.csv")] == list(range(1, 7))
    assert (run / "model.pt").is_file()
    # one process running the 2 ranks as threads computes the same run
    virtual = tmp_path / "virtual"
    assert Trainer(config("train.virtual_ranks=2"), virtual).fit()["world_size"] == 2
    curve = [r["loss"] for r in read_metrics(run / "logs" / "metrics.csv")]
    np.testing.assert_allclose(
        [r["loss"] for r in read_metrics(virtual / "logs" / "metrics.csv")], curve, rtol=1e-5
    )
    ddp_emb, one_emb = Embeddings.load(run / "embeddings"), Embeddings.load(export_run(virtual))
    for t in one_emb.types:
        np.testing.assert_allclose(ddp_emb.vectors(t), one_emb.vectors(t), atol=2e-5)
    # resume the 2-process run from its step-3 checkpoint in a single process
    for step, path in list_checkpoints(run / "checkpoints"):
        if step > EVERY:
            path.unlink()
    (run / "model.pt").unlink()
    mid = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert mid["step"] == EVERY and mid["samples_consumed"] == 2 * EVERY
    # ... as 2 virtual ranks: the same computation, so it ends where the 2 processes ended
    shutil.copytree(run, tmp_path / "as_virtual")
    again = Trainer(config("train.virtual_ranks=2"), tmp_path / "as_virtual")
    assert again.fit()["resumed_from"] == EVERY and again.components is not None
    params = torch.cat([p.detach().flatten() for p in again.components.model.parameters()])
    diff = np.abs(params.numpy() - np.load(run / "params_0.npy"))
    # float noise through Adam: a few weights with tiny gradients move by up to ~1e-4 (a
    # resume with 1 rank, i.e. other batches, moves 80 % of them by more than 1e-5)
    assert diff.max() < 1e-3 and (diff > 1e-5).mean() < 1e-3
    # ... as 1 rank: a different (smaller) global batch, the batch stream continues
    summary = Trainer(config(), run).fit()
    assert summary["resumed_from"] == EVERY and summary["world_size"] == 1
    final = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert final["samples_consumed"] == 2 * EVERY + (STEPS - EVERY)
    assert [r["step"] for r in read_metrics(run / "logs" / "metrics.csv")] == list(range(1, 7))


def rec_config(root, *extra: str):
    """The gowalla preset (light encoder, exact sparse id tables) on a tiny LightGCN dataset."""
    return preset("gowalla").override(
        [f"data.root={root}", f"train.steps={STEPS}", f"train.checkpoint_every={EVERY}",
         "train.log_every=1", "train.warmup_steps=1", "train.num_threads=1", "train.epochs=null",
         "train.validate_every=0", "train.progress=false", "tasks.batch_size=32",
         "tasks.num_random_negatives=32", *extra]
    )  # fmt: skip


def _sparse_worker(rank: int, world_size: int, port: int, run: str, root: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    trainer = Trainer(rec_config(root), run)
    try:
        trainer.fit()
        assert trainer.components is not None
        tables = trainer.components.model.id_tables
        assert tables and all(t.sparse and t.mode == "exact" for t in tables.values())
        np.save(os.path.join(run, f"tables_{rank}.npy"), _tables(trainer))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _tables(trainer: Trainer) -> np.ndarray:
    assert trainer.components is not None
    tables = trainer.components.model.id_tables
    return torch.cat([t.weight.detach().flatten() for t in tables.values()]).numpy()


def test_sparse_id_tables_synchronised_across_processes(tmp_path, free_port):
    from tests.planted import write_lightgcn

    root = write_lightgcn(tmp_path / "tiny")
    run = tmp_path / "run"
    mp.spawn(_sparse_worker, args=(2, free_port, str(run), str(root)), nprocs=2, join=True)
    # the sparse rows were averaged over the ranks (RunOptimizer.sync_sparse): equal replicas,
    # equal to one process running both ranks, whose loss is the mean of theirs
    np.testing.assert_array_equal(np.load(run / "tables_0.npy"), np.load(run / "tables_1.npy"))
    virtual = Trainer(rec_config(root, "train.virtual_ranks=2"), tmp_path / "virtual")
    virtual.fit()
    np.testing.assert_allclose(np.load(run / "tables_0.npy"), _tables(virtual), atol=1e-5)
    curve = [r["loss"] for r in read_metrics(run / "logs" / "metrics.csv")]
    np.testing.assert_allclose(
        [r["loss"] for r in read_metrics(tmp_path / "virtual" / "logs" / "metrics.csv")], curve,
        rtol=1e-5,
    )
