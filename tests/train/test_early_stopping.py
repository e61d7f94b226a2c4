"""Epoch budgets, validation on the carved split, best model kept, patience, resume."""

from __future__ import annotations

import math

import pytest
import torch

from graphrep.train.checkpoint import load_checkpoint
from graphrep.train.early_stopping import EarlyStopping
from graphrep.train.logger import read_metrics
from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer
from tests.planted import write_lightgcn


def test_early_stopping_rule():
    e = EarlyStopping(patience=2)
    assert e.update(10, 0.1) and e.best_step == 10
    assert not e.update(20, 0.05) and not e.should_stop
    assert e.update(30, 0.2) and e.bad == 0
    assert not e.update(40, 0.2)  # equal is no improvement
    assert not e.update(50, float("nan")) and e.should_stop
    f = EarlyStopping()
    f.load_state_dict(e.state_dict())
    assert (f.best, f.best_step, f.bad, f.history) == (0.2, 30, 2, e.history)
    assert not EarlyStopping(patience=0, bad=100).should_stop


class Scripted:
    """A validator returning scores from a list (what the trainer does with them)."""

    metric = "score"

    def __init__(self, scores):
        self.scores, self.calls = list(scores), 0

    def __call__(self, model, builder):
        self.calls += 1
        return self.scores.pop(0)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_lightgcn(tmp_path_factory.mktemp("rec") / "tiny")


def config(root, **train):
    overrides = [f"data.root={root}", "data.validation=0.1", "train.progress=false",
                 "tasks.batch_size=64", "tasks.num_random_negatives=64", "train.log_every=1"]
    overrides += [f"train.{k}={v}" for k, v in train.items()]
    return preset("gowalla").override(overrides)


def test_epochs_set_the_budget_and_best_model_is_kept(tmp_path, root):
    cfg = config(root, epochs=4, validate_every=1, patience=0, checkpoint_every=1000)
    val = Scripted([0.1, 0.3, 0.2, 0.25])
    trainer = Trainer(cfg, tmp_path / "run", validator=val)
    summary = trainer.fit()
    per_epoch = trainer.components.tasks.steps_per_epoch()
    assert per_epoch == math.ceil(trainer.components.tasks.tasks["user_item"].epoch_size / 64)
    assert summary["steps"] == 4 * per_epoch and summary["epochs"] == pytest.approx(4)
    assert val.calls == 4 and summary["best_step"] == 2 * per_epoch
    assert summary["best_value"] == pytest.approx(0.3) and not summary["stopped_early"]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    final = load_checkpoint(tmp_path / "run" / "model.pt")
    assert best["step"] == 2 * per_epoch
    for k, v in best["model"].items():
        assert torch.equal(v, final["model"][k]), k
    rows = read_metrics(tmp_path / "run" / "logs" / "metrics.csv")
    scored = [r for r in rows if not math.isnan(r.get("val/score", math.nan))]
    assert [r["step"] for r in scored] == [per_epoch * i for i in (1, 2, 3, 4)]
    assert "epoch" in rows[0]


def test_patience_stops(tmp_path, root):
    cfg = config(root, epochs=6, validate_every=1, patience=2, checkpoint_every=1000)
    summary = Trainer(cfg, tmp_path / "run", validator=Scripted([0.5, 0.4, 0.3, 0.9])).fit()
    per_epoch = summary["planned_steps"] // 6
    assert summary["stopped_early"] and summary["steps"] == 3 * per_epoch
    assert summary["best_step"] == per_epoch


class Killed(Exception):
    pass


class DiesWhenEmpty(Scripted):
    """Scores from a list, then the process 'dies' (an exception out of fit)."""

    def __call__(self, model, builder):
        if not self.scores:
            raise Killed
        return super().__call__(model, builder)


def test_resume_continues_the_selection(tmp_path, root):
    per_epoch = Trainer(config(root, epochs=4), tmp_path / "probe")._prepare_main().tasks.steps_per_epoch()
    cfg = config(root, epochs=4, validate_every=1, checkpoint_every=per_epoch)
    with pytest.raises(Killed):
        Trainer(cfg, tmp_path / "run", validator=DiesWhenEmpty([0.5, 0.9])).fit()
    summary = Trainer(cfg, tmp_path / "run", validator=Scripted([0.1, 0.2])).fit(resume=True)
    assert summary["resumed_from"] == 2 * per_epoch
    assert summary["best_step"] == 2 * per_epoch and summary["best_value"] == pytest.approx(0.9)
    assert [s for s, _ in summary["validations"]] == [per_epoch * i for i in (1, 2, 3, 4)]


def test_default_validator_scores_the_carved_split(tmp_path, root):
    cfg = config(root, epochs=2, validate_every=1)
    summary = Trainer(cfg, tmp_path / "run").fit()
    assert summary["validation_metric"] == "recall@20"
    assert len(summary["validations"]) == 2
    assert all(0.0 <= v <= 1.0 for _, v in summary["validations"])
