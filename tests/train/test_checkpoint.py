"""Checkpoints: atomic, pruned, weights_only-loadable, clear errors on corruption."""

from __future__ import annotations

import pytest
import torch

from graphrep.errors import ConfigError, GraphFormatError, WriteError
from graphrep.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_weights,
    resume_state,
    save_checkpoint,
)


class Evil:
    """Any class: unpickling it would run arbitrary code paths."""


def state(step):
    return {"step": step, "model": {"w": torch.full((2, 2), float(step))}, "hparams": {"dim": 2}}


def test_save_load_prune(tmp_path):
    for s in (10, 20, 30):
        save_checkpoint(tmp_path, state(s), keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]
    latest = latest_checkpoint(tmp_path)
    loaded = load_checkpoint(latest)
    assert loaded["step"] == 30 and torch.equal(loaded["model"]["w"], torch.full((2, 2), 30.0))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path, state(1))
    assert torch.load(path, weights_only=True)["step"] == 1


def test_refuses_pickled_objects(tmp_path):
    path = tmp_path / "step_000000001.pt"
    torch.save({"step": 1, "model": Evil()}, path)
    with pytest.raises(GraphFormatError, match="weights-only"):
        load_checkpoint(path)


def test_corrupt_and_missing(tmp_path):
    path = save_checkpoint(tmp_path, state(5))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(GraphFormatError, match="corrupt"):
        load_checkpoint(path)
    with pytest.raises(GraphFormatError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    assert latest_checkpoint(tmp_path / "absent") is None


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, state(1))

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(WriteError, match=r"step_000000002\.pt.*free space"):
        save_checkpoint(tmp_path, state(2))
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_000000001.pt"]


def test_disk_full_while_checkpointing_is_a_named_error(tmp_path, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(WriteError, match=r"step_000000003\.pt.*disk is full"):
        save_checkpoint(tmp_path, state(3))
    assert list(tmp_path.iterdir()) == []


def test_resume_skips_a_truncated_newest_checkpoint(tmp_path):
    for s in (10, 20):
        save_checkpoint(tmp_path, {**state(s), "digest": "d"}, keep=3)
    newest = checkpoint_path(tmp_path, 20)
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"step_000000010\.pt.*skipped.*step_000000020\.pt.*corrupt"):
        got, path = resume_state(tmp_path, "d")
    assert got["step"] == 10 and path == checkpoint_path(tmp_path, 10)
    checkpoint_path(tmp_path, 10).write_bytes(b"")
    with pytest.raises(GraphFormatError, match=r"no checkpoint .* loads"):
        resume_state(tmp_path, "d")
    assert resume_state(tmp_path / "none", "d") is None


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    save_checkpoint(tmp_path, {**state(5), "digest": "aaa"})
    with pytest.raises(ConfigError, match=r"another config \(digest aaa.*gives bbb"):
        resume_state(tmp_path, "bbb")
    model = torch.nn.Linear(3, 2)
    with pytest.raises(GraphFormatError, match=r"step_000000005\.pt' does not fit"):
        load_weights(model, {"model": {"weight": torch.zeros(2, 2)}}, checkpoint_path(tmp_path, 5))
