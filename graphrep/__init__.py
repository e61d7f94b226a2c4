"""graphrep: universal entity embeddings for large heterogeneous graphs."""

from graphrep.graph import CSR, HeteroGraph, Ragged

__version__ = "0.1.0"

__all__ = ["CSR", "HeteroGraph", "Ragged", "__version__"]
