"""Data sources: the synthetic Pinterest-like graph, dataset bundles, real-data loaders."""

from graphrep.data.dataset import GraphDataset
from graphrep.data.edge_tables import load_edge_table
from graphrep.data.lightgcn import load_lightgcn
from graphrep.data.ogb import load_ogb
from graphrep.data.planetoid import load_planetoid
from graphrep.data.synthetic import generate
from graphrep.data.synthetic_config import PRESETS, SyntheticConfig, preset_config

__all__ = [
    "PRESETS",
    "GraphDataset",
    "SyntheticConfig",
    "generate",
    "load_edge_table",
    "load_lightgcn",
    "load_ogb",
    "load_planetoid",
    "preset_config",
]
