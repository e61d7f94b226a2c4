"""Trainer: loss falls, logs/checkpoints are written, a killed run resumes to the same weights."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

import graphrep.train.trainer as trainer_mod
from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, OutputExistsError, RunLockedError, SchemaError
from graphrep.train.checkpoint import list_checkpoints, load_checkpoint
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
    full = load_checkpoint(tmp_path / "full" / "model.pt")["model"]

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
    resumed = load_checkpoint(tmp_path / "cut" / "model.pt")["model"]
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "logs" / "metrics.csv")]
    assert steps == [2, 4, 6, 8, 10, 12]


def test_other_config_in_same_directory_is_refused(tmp_path, dataset):
    Trainer(config(steps=4), tmp_path / "r", dataset).fit()
    with pytest.raises(ConfigError, match="different config"):
        Trainer(config(steps=4).override(["model.dim=16"]), tmp_path / "r", dataset).fit()


def _snapshot(run):
    """Bytes and mtimes of every file of a run (to show that nothing changed)."""
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}  # fmt: skip


def test_resume_of_a_finished_run_changes_nothing(tmp_path, dataset):
    Trainer(config(steps=4), tmp_path / "r", dataset).fit()
    before = _snapshot(tmp_path / "r")
    trainer = Trainer(config(steps=4), tmp_path / "r", dataset)
    summary = trainer.fit(resume=True)
    assert summary["already_finished"] and summary["steps"] == 4
    assert math.isfinite(summary["final_loss"]) and summary["examples_per_s"] > 0
    assert _snapshot(tmp_path / "r") == before
    final = load_checkpoint(tmp_path / "r" / "model.pt")["model"]
    for k, v in trainer.components.model.state_dict().items():  # the final weights, loaded
        assert torch.equal(v, final[k]), k


def test_resume_skips_a_truncated_checkpoint(tmp_path, dataset, monkeypatch):
    cfg = config(steps=6, every=2).override(["train.keep_checkpoints=3"])
    real_save = trainer_mod.save_checkpoint

    def save_then_die(directory, state, keep):
        path = real_save(directory, state, keep)
        if state["step"] == 4:
            path.write_bytes(path.read_bytes()[:1000])  # a truncated newest checkpoint
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(trainer_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path / "cut", dataset).fit()
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real_save)
    with pytest.warns(UserWarning, match=r"step_000000002\.pt.*skipped.*step_000000004\.pt"):
        summary = Trainer(cfg, tmp_path / "cut", dataset).fit(resume=True)
    assert summary["resumed_from"] == 2 and summary["steps"] == 6
    assert torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["step"] == 6
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "logs" / "metrics.csv")]
    assert steps == [2, 4, 6]  # the rows after the skipped checkpoint were replayed once


def test_resume_after_editing_the_model_config_is_named(tmp_path, dataset, monkeypatch):
    from graphrep.train.config import load_config

    def die(*a, **k):
        raise KeyboardInterrupt("killed")

    cfg = config(steps=4, every=2)
    real_save = trainer_mod.save_checkpoint
    monkeypatch.setattr(trainer_mod, "save_checkpoint",
                        lambda d, s, keep: (real_save(d, s, keep), die()))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path / "r", dataset).fit()
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real_save)
    edited = tmp_path / "r" / "config.yaml"
    edited.write_text(edited.read_text().replace("dim: 32", "dim: 16"))
    with pytest.raises(ConfigError, match=r"step_000000002\.pt' was written with another config"):
        Trainer(load_config(edited), tmp_path / "r", dataset).fit(resume=True)


def test_a_failed_start_writes_nothing(tmp_path, dataset):
    bad = config(steps=2).override(["tasks.specs=[{name: p, kind: entity_entity, relation: nope}]"])
    with pytest.raises(SchemaError, match="nope"):
        Trainer(bad, tmp_path / "r", dataset).fit()
    assert not (tmp_path / "r").exists()  # no config.yaml left to block a corrected rerun
    Trainer(config(steps=2), tmp_path / "r", dataset).fit()
    assert (tmp_path / "r" / "model.pt").is_file()


def test_a_failed_save_of_the_generated_data_writes_nothing(tmp_path, dataset, monkeypatch):
    import importlib

    from graphrep.data.dataset import GraphDataset
    from graphrep.errors import WriteError

    def full(self, path, overwrite=False):
        raise WriteError(f"cannot write {path}: disk full")

    build_mod = importlib.import_module("graphrep.train.build")  # the package exports build()
    monkeypatch.setattr(build_mod, "load_dataset", lambda cfg: dataset)  # as if generated
    monkeypatch.setattr(GraphDataset, "save", full)
    with pytest.raises(WriteError, match="disk full"):
        Trainer(config(steps=2), tmp_path / "r").fit()
    assert not (tmp_path / "r").exists()


def test_a_users_directory_is_not_a_run_directory(tmp_path, dataset):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "thesis.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"thesis\.txt"):
        Trainer(config(steps=2), tmp_path / "v", dataset).fit()
    assert os.listdir(tmp_path / "v") == ["thesis.txt"]


def test_a_second_writer_is_refused(tmp_path, dataset):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from graphrep.utils.lock import RunLock\n"
         "with RunLock(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()",
         str(tmp_path / "r")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {holder.pid}"):
            Trainer(config(steps=2), tmp_path / "r", dataset).fit()
        assert os.listdir(tmp_path / "r") == [".graphrep.lock"]  # the holder's, untouched
    finally:
        holder.kill()
        holder.wait()
