"""A run directory of the tiny preset with held-out pins (an untrained model: exactness of the
inference paths does not need a trained one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.data.holdout_nodes import hold_out_nodes
from graphrep.data.synthetic import generate
from graphrep.embed.export import export_run
from graphrep.train.build import build
from graphrep.train.presets import preset
from graphrep.train.rundir import RunDir


def _make_run(path, dataset, cfg=None) -> RunDir:
    """A run directory holding ``dataset``, the tiny config and an initialised model."""
    cfg = cfg or preset("tiny").override(["embed.index=hnsw"])
    run = RunDir(path)
    run.path.mkdir(parents=True)
    cfg.save(run.config_path)
    dataset.save(run.data_path)
    model = build(cfg, dataset).model
    torch.save({"model": model.state_dict(), "hparams": model.hparams, "step": 0}, run.model_path)
    export_run(run)
    return run


@pytest.fixture(scope="session")
def make_run():
    """``make_run(path, dataset, cfg=None)``: a run directory with its export (version 0)."""
    return _make_run


@pytest.fixture(scope="module")
def holdout():
    ds = generate("tiny", 0)
    rng = np.random.default_rng(0)
    return hold_out_nodes(ds, "pin", np.sort(rng.choice(500, 10, replace=False)))


@pytest.fixture
def held_run(holdout, tmp_path):
    return _make_run(tmp_path / "run", holdout.train)
