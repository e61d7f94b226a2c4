"""Data sources: the synthetic Pinterest-like graph, dataset bundles, real-data loaders."""

from graphrep.data.dataset import GraphDataset
from graphrep.data.synthetic import generate
from graphrep.data.synthetic_config import PRESETS, SyntheticConfig, preset_config

__all__ = ["PRESETS", "GraphDataset", "SyntheticConfig", "generate", "preset_config"]
