"""Trainer: loss falls, logs/checkpoints are written, a killed run resumes to the same weights."""

from __future__ import annotations

import math

import pytest
import torch

import graphrep.train.trainer as trainer_mod
from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.train.checkpoint import list_checkpoints
from graphrep.train.logger import read_metrics
from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer


@pytest.fixture(scope="module")
def dataset():
    return generate("tiny", 0)


def config(steps=12, every=4):
    return preset("tiny").override(
        [f"train.steps={steps}", f"train.checkpoint_every={every}", "train.log_every=2",
         "train.warmup_steps=2"]
    )  # fmt: skip


def test_fit_writes_run_directory(tmp_path, dataset):
    summary = Trainer(config(), tmp_path / "run", dataset).fit()
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "model.pt").is_file()
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [8, 12]
    rows = read_metrics(run / "logs" / "metrics.csv")
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert 0 <= summary["sampling_wait_share"] <= 1 and summary["examples_per_s"] > 0
    assert any((run / "logs" / "tensorboard").iterdir())
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["step"] == 12 and "hparams" in state


def test_training_lowers_the_loss(tmp_path, dataset):
    Trainer(preset("tiny").override(["train.log_every=10"]), tmp_path / "r", dataset).fit()
    rows = read_metrics(tmp_path / "r" / "logs" / "metrics.csv")
    assert rows[-1]["loss"] < 0.9 * rows[0]["loss"], [r["loss"] for r in rows]


def test_killed_run_resumes_to_identical_weights(tmp_path, dataset, monkeypatch):
    Trainer(config(), tmp_path / "full", dataset).fit()
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["model"]

    real_save = trainer_mod.save_checkpoint

    def save_then_die(directory, state, keep):
        real_save(directory, state, keep)
        if state["step"] == 8:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(), tmp_path / "cut", dataset).fit()
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real_save)
    assert not (tmp_path / "cut" / "model.pt").exists()
    summary = Trainer(config(), tmp_path / "cut", dataset).fit(resume=True)
    assert summary["resumed_from"] == 8
    resumed = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["model"]
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "logs" / "metrics.csv")]
    assert steps == [2, 4, 6, 8, 10, 12]


def test_other_config_in_same_directory_is_refused(tmp_path, dataset):
    Trainer(config(steps=4), tmp_path / "r", dataset).fit()
    with pytest.raises(ConfigError, match="different config"):
        Trainer(config(steps=4).override(["model.dim=16"]), tmp_path / "r", dataset).fit()
