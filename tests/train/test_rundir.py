"""The run directory: checks on what it holds and clear errors on what it does not."""

from __future__ import annotations

import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import GraphFormatError, OutputExistsError
from graphrep.train.build import build
from graphrep.train.presets import preset
from graphrep.train.rundir import RunDir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory with the tiny preset's config and an (initialised) model.pt."""
    cfg = preset("tiny")
    run = RunDir(tmp_path_factory.mktemp("run"))
    cfg.save(run.config_path)
    model = build(cfg, generate("tiny", 0)).model
    torch.save({"model": model.state_dict(), "hparams": model.hparams, "step": 3}, run.model_path)
    return run, model


def test_require_names_what_is_missing(tmp_path):
    with pytest.raises(GraphFormatError, match="does not exist"):
        RunDir(tmp_path / "nope").require()
    with pytest.raises(GraphFormatError, match=r"no config\.yaml"):
        RunDir(tmp_path).require()


def test_check_writable_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes\.txt"):
        RunDir(tmp_path).check_writable()
    assert RunDir(tmp_path / "fresh").check_writable().path == tmp_path / "fresh"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        RunDir(tmp_path / "file").check_writable()


def test_load_model_returns_the_saved_weights_in_eval_mode(trained):
    run, model = trained
    loaded = run.load_model()
    assert not loaded.training
    want = model.state_dict()
    got = loaded.state_dict()
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def test_load_model_names_a_model_file_that_does_not_fit(trained, tmp_path):
    run, model = trained
    bad = RunDir(tmp_path)
    bad.config_path.write_text(run.config_path.read_text())
    with pytest.raises(GraphFormatError, match="no trained model"):
        bad.load_model()
    weights = {k: v for k, v in model.state_dict().items()}
    first = next(iter(weights))
    weights[first] = torch.zeros(3, 3)  # another config's tensor size
    torch.save({"model": weights, "hparams": model.hparams, "step": 0}, bad.model_path)
    with pytest.raises(GraphFormatError, match=r"model\.pt' does not fit"):
        bad.load_model()
    torch.save({"weights": weights}, bad.model_path)
    with pytest.raises(GraphFormatError, match="lacks the 'model'/'step' entries"):
        bad.load_model()
    torch.save({"model": weights, "step": 0}, bad.model_path)
    with pytest.raises(GraphFormatError, match=r"no model hyperparameters \('hparams'\)"):
        bad.load_model()
    torch.save({"model": weights, "hparams": {"dim": 8}, "step": 0}, bad.model_path)
    with pytest.raises(GraphFormatError, match="hparams do not describe a model"):
        bad.load_model()


def test_json_round_trip_and_errors(tmp_path):
    run = RunDir(tmp_path)
    run.write_json(tmp_path / "a.json", {"b": [1, 2], "a": 0.5})
    assert run.read_json(tmp_path / "a.json") == {"a": 0.5, "b": [1, 2]}
    assert not list(tmp_path.glob("*.tmp*"))  # written through a temporary file, renamed
    with pytest.raises(GraphFormatError, match="does not exist"):
        run.read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(GraphFormatError, match="not valid JSON"):
        run.read_json(tmp_path / "bad.json")
