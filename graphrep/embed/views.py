"""Table views of one entity type's embeddings: pandas and Parquet.

Both use the same layout, one row per entity: an ``id`` column (the external
id, int64 or string) and a ``vector`` column holding the ``dim`` float32
values. In Parquet ``vector`` is a ``fixed_size_list<float32>[dim]`` (what
Spark, DuckDB and Arrow-based feature stores read as an embedding column); in
pandas it holds one 1-D ``float32`` numpy array per row. Parquet files are
written a block of rows at a time and atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrep.errors import GraphFormatError
from graphrep.utils.atomic import atomic_file


def to_pandas(ids: np.ndarray, vectors: np.ndarray) -> pd.DataFrame:
    """``DataFrame`` with columns ``id`` and ``vector`` (one float32 array per row)."""
    vecs = np.asarray(vectors, dtype=np.float32)
    return pd.DataFrame({"id": np.asarray(ids), "vector": list(vecs)})


def to_torch(vectors: np.ndarray) -> Any:
    """``torch.from_numpy`` of float32 ``vectors``; a read-only memory map is reopened
    copy-on-write (pages stay shared until written, writes never reach the file)."""
    import torch

    if isinstance(vectors, np.memmap) and vectors.dtype == np.float32 and vectors.filename:
        return torch.from_numpy(np.load(vectors.filename, mmap_mode="c", allow_pickle=False))
    return torch.from_numpy(np.array(vectors, dtype=np.float32))


def write_parquet(
    path: str | os.PathLike,
    ids: np.ndarray,
    dim: int,
    get_chunk: Callable[[int, int], np.ndarray],
    chunk_rows: int = 65536,
) -> None:
    """Write ``id`` + ``vector`` columns to ``path`` atomically, one row group per block.

    Args:
        path: destination ``.parquet`` file.
        ids: ``[n]`` external ids (int64 or str).
        dim: vector length.
        get_chunk: ``get_chunk(start, stop)`` returns float32 rows ``start:stop``.
        chunk_rows: rows per row group.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = np.asarray(ids)
    id_type = pa.string() if ids.dtype.kind in "UO" else pa.int64()
    schema = pa.schema([("id", id_type), ("vector", pa.list_(pa.float32(), dim))])
    with atomic_file(path, "wb") as f, pq.ParquetWriter(f, schema) as writer:
        for start in range(0, max(len(ids), 1), chunk_rows):
            stop = min(start + chunk_rows, len(ids))
            block = np.ascontiguousarray(get_chunk(start, stop), dtype=np.float32)
            vec = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), dim)
            writer.write_table(
                pa.table([pa.array(ids[start:stop], type=id_type), vec], schema=schema)
            )


def read_parquet(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a file written by :func:`write_parquet`: ``(ids [n], vectors [n, dim] float32)``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"{path}: no such Parquet file")
    table = pq.read_table(path)
    if {"id", "vector"} - set(table.column_names):
        raise GraphFormatError(
            f"{path}: expected columns 'id' and 'vector', found {table.column_names}"
        )
    col = table.column("vector")
    if not pa.types.is_fixed_size_list(col.type):
        raise GraphFormatError(
            f"{path}: column 'vector' should be a fixed_size_list, got {col.type}"
        )
    dim = col.type.list_size
    values = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    ids = table.column("id").to_numpy()
    if ids.dtype == object:
        ids = ids.astype(str)
    return ids, values.astype(np.float32, copy=False).reshape(-1, dim)


__all__ = ["read_parquet", "to_pandas", "to_torch", "write_parquet"]
