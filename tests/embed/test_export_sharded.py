"""Sharded export under torch.distributed equals the single-process export."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.multiprocessing as mp

from graphrep.embed.export import export_run
from graphrep.embed.store import Embeddings
from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer


def _worker(rank: int, world_size: int, port: int, run: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    try:
        export_run(run, out)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_two_rank_export_matches_single_process(tmp_path, free_port):
    run = tmp_path / "run"
    Trainer(preset("tiny").override(["train.steps=2", "train.checkpoint_every=2"]), run).fit()
    single = Embeddings.load(export_run(run, tmp_path / "single"))
    mp.spawn(_worker, args=(2, free_port, str(run), str(tmp_path / "sharded")), nprocs=2)
    sharded = Embeddings.load(tmp_path / "sharded")
    assert sorted(sharded.types) == sorted(single.types)
    for t in single.types:
        np.testing.assert_array_equal(sharded.ids(t), single.ids(t))
        np.testing.assert_allclose(sharded.vectors(t), single.vectors(t), atol=1e-5)
    assert not list(tmp_path.glob(".sharded.shards*"))  # shards merged and removed
