"""The run directory: one place for a run's config, data, checkpoints, logs and outputs.

::

    RUN/config.yaml          resolved RunConfig (what `graphrep train` ran)
    RUN/data/                the dataset, when train generated it (synthetic presets)
    RUN/checkpoints/         step_<N>.pt, atomic, weights_only-loadable
    RUN/logs/                metrics.csv + tensorboard/
    RUN/model.pt             final weights + hparams (weights_only-loadable; the best
                             validated model when training validates)
    RUN/best.pt              the best validated weights so far (train.validate_every)
    RUN/train_summary.json   throughput, sampling wait share, wall time, peak RSS
    RUN/embeddings/          exported embeddings (graphrep embed)
    RUN/metrics.json         evaluation results (graphrep eval)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from graphrep.data.dataset import GraphDataset
from graphrep.errors import GraphFormatError, OutputExistsError
from graphrep.train.checkpoint import check_digest, load_checkpoint, load_weights
from graphrep.train.config import RunConfig, load_config
from graphrep.utils.atomic import atomic_file
from graphrep.utils.lock import LOCK_NAME


class RunDir:
    """Paths and loaders of a run directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.yaml")
    data_path = property(lambda self: self.path / "data")
    checkpoints = property(lambda self: self.path / "checkpoints")
    logs = property(lambda self: self.path / "logs")
    model_path = property(lambda self: self.path / "model.pt")
    best_path = property(lambda self: self.path / "best.pt")
    summary_path = property(lambda self: self.path / "train_summary.json")
    embeddings = property(lambda self: self.path / "embeddings")
    metrics_path = property(lambda self: self.path / "metrics.json")

    def require(self) -> RunDir:
        """Check that this is a run directory (has ``config.yaml``)."""
        if not self.path.is_dir():
            raise GraphFormatError(f"run directory {str(self.path)!r} does not exist")
        if not self.config_path.is_file():
            raise GraphFormatError(
                f"{str(self.path)!r} is not a graphrep run directory (no config.yaml); "
                "create one with `graphrep train --out DIR`"
            )
        return self

    def check_writable(self) -> RunDir:
        """Check that a run may be written here: a new or empty directory, or a run's.

        Raises:
            OutputExistsError: ``path`` is a file, or a non-empty directory without
                ``config.yaml`` (graphrep never writes into or deletes what it did not write).
        """
        if self.path.exists() and not self.path.is_dir():
            raise OutputExistsError(f"run directory {str(self.path)!r} exists and is not a directory")
        if self.path.is_dir() and not self.config_path.exists():
            other = next((p for p in self.path.iterdir() if p.name != LOCK_NAME), None)
            if other is not None:
                raise OutputExistsError(
                    f"{str(self.path)!r} is not empty (e.g. {other.name!r}) and holds no graphrep "
                    "run (no config.yaml); graphrep never writes into or deletes files it did "
                    "not write. Choose a new or empty --out directory"
                )
        return self

    def config(self) -> RunConfig:
        """The run's resolved config."""
        return load_config(self.require().config_path)

    def dataset(self, config: RunConfig | None = None) -> GraphDataset:
        """The run's dataset: ``RUN/data`` if saved there, else what the config names."""
        data = (config or self.config()).data
        if self.data_path.exists():
            return GraphDataset.load(self.data_path, mmap=data.mmap)
        from graphrep.train.build import load_dataset

        return load_dataset(data)

    def trained_state(self) -> dict[str, Any]:
        """``model.pt`` (written when training finished)."""
        if not self.model_path.is_file():
            raise GraphFormatError(
                f"run {str(self.path)!r} has no trained model (model.pt); run `graphrep train` "
                "to completion first (or `graphrep train --resume`)"
            )
        return load_checkpoint(self.model_path)

    def finished(self, model: torch.nn.Module, digest: str) -> dict[str, Any] | None:
        """The stored summary if the run already finished, with its final weights loaded into
        ``model``; ``None`` if it did not. ``model.pt`` is written once, when a run ends (its
        budget spent or stopped early).

        Raises:
            ConfigError: ``model.pt`` was written with another config than ``digest``'s.
        """
        if not self.model_path.is_file():
            return None
        state = load_checkpoint(self.model_path)
        check_digest(state, self.model_path, digest)
        load_weights(model, state, self.model_path)
        summary = self.read_json(self.summary_path) if self.summary_path.is_file() else {}
        return {**summary, "steps": int(state["step"]), "already_finished": True}

    def load_model(self) -> torch.nn.Module:
        """The trained :class:`~graphrep.models.OmniSage` in eval mode, on CPU.

        Raises:
            GraphFormatError: ``model.pt`` is missing, lacks an entry, or its
                weights do not fit the model its hyperparameters describe (naming the file).
        """
        from graphrep.models import OmniSage

        state = self.trained_state()  # checks the 'model' and 'step' entries
        if not isinstance(state.get("hparams"), dict):
            raise GraphFormatError(f"{str(self.model_path)!r} holds no model hyperparameters "
                                   "('hparams'): it was not written by `graphrep train`")
        try:
            model = OmniSage.from_hparams(state["hparams"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GraphFormatError(f"{str(self.model_path)!r}: its hparams do not describe a model "
                                   f"this graphrep version builds ({exc!r})") from None
        load_weights(model, state, self.model_path, assign=True)
        return model.eval()

    def write_json(self, path: Path, data: Any) -> None:
        """Write ``data`` as JSON atomically."""
        with atomic_file(path, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)

    def read_json(self, path: Path) -> Any:
        """Read a JSON file of the run (clear error when missing or corrupt)."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GraphFormatError(f"{str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GraphFormatError(f"{str(path)!r} is not valid JSON: {exc}") from None
