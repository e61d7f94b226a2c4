"""graphrep: universal entity embeddings for large heterogeneous graphs."""

from typing import Any

from graphrep.utils.threads import passive_openmp

passive_openmp()  # before anything loads torch (and with it OpenMP): see graphrep.utils.threads

from graphrep.graph import CSR, HeteroGraph, Ragged  # noqa: E402

#: The package version.
__version__ = "0.1.0"

__all__ = ["CSR", "Embeddings", "HeteroGraph", "Ragged", "__version__"]


def __getattr__(name: str) -> Any:
    """``graphrep.Embeddings`` (imported on first use: it pulls in pandas and faiss glue)."""
    if name == "Embeddings":
        from graphrep.embed.store import Embeddings

        return Embeddings
    raise AttributeError(f"module 'graphrep' has no attribute {name!r}")
