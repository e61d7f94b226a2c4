"""Data sources: the synthetic Pinterest-like graph, dataset bundles, real-data loaders."""

from graphrep.data.dataset import GraphDataset

__all__ = ["GraphDataset"]
