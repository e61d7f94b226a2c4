"""--device cuda: models and batches on the GPU, sampling on CPU threads (skips without CUDA)."""

from __future__ import annotations

import pytest
import torch

from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_train_on_cuda_checkpoints_load_on_cpu(tmp_path):
    cfg = preset("tiny").override(["train.steps=6", "train.device=cuda", "train.checkpoint_every=3"])
    trainer = Trainer(cfg, tmp_path / "run")
    summary = trainer.fit()
    assert summary["final_loss"] == summary["final_loss"]  # finite, not NaN
    assert next(trainer.components.model.parameters()).is_cuda
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)  # no map_location
    assert {v.device.type for v in state["model_packed"]["data"].values()} == {"cpu"}
