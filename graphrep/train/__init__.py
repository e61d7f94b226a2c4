"""Training: the typed run config, presets, the :class:`Trainer` and its run directory."""

from graphrep.train.build import Components, build, load_dataset
from graphrep.train.config import (
    DataConfig,
    EmbedConfig,
    EvalConfig,
    ModelConfig,
    RunConfig,
    SamplingConfig,
    TaskConfig,
    TaskSpec,
    TrainConfig,
    load_config,
)
from graphrep.train.presets import PRESETS, preset
from graphrep.train.rundir import RunDir
from graphrep.train.trainer import Trainer

__all__ = [
    "PRESETS",
    "Components",
    "DataConfig",
    "EmbedConfig",
    "EvalConfig",
    "ModelConfig",
    "RunConfig",
    "RunDir",
    "SamplingConfig",
    "TaskConfig",
    "TaskSpec",
    "TrainConfig",
    "Trainer",
    "build",
    "load_config",
    "load_dataset",
    "preset",
]
