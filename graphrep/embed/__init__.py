"""Export and use embeddings: batched inference, the :class:`Embeddings` store, faiss indexes."""

from graphrep.embed.ann import ann_recall, build_index, load_index, save_index, search
from graphrep.embed.store import Embeddings, EmbeddingWriter, NeighborResult

__all__ = [
    "EmbeddingWriter",
    "Embeddings",
    "NeighborResult",
    "ann_recall",
    "build_index",
    "load_index",
    "save_index",
    "search",
]
