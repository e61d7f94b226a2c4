r"""Sharded export: each rank embeds a contiguous slice of every type; rank 0 merges.

Under ``torchrun`` with :math:`W` ranks, rank :math:`r` embeds rows
:math:`[\mathrm{lo}_r, \mathrm{hi}_r)` of a type with :math:`n` nodes
(:func:`shard_range`, balanced like :func:`numpy.array_split`),

.. math::
    \mathrm{lo}_r = r \lfloor n / W \rfloor + \min(r, n \bmod W), \qquad
    \mathrm{hi}_r = \mathrm{lo}_{r+1},

and writes them with :class:`~graphrep.embed.store.EmbeddingWriter` (float32, so
nothing is lost before the final encoding) into its own shard directory::

    PARENT/.<name>.shards/rank_<r>/     an embeddings directory (written atomically)

next to the destination ``PARENT/<name>``, which stays untouched until the merge.
After a barrier, rank 0 runs :func:`merge_shards`: it checks that every shard is
present and complete, streams the shards in rank order through one
``EmbeddingWriter`` into the destination (atomically; the bytes equal those of a
single-process export of the same vectors in the same dtype), and removes the
shards. The shard directory must be on a filesystem every rank sees.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.embed.store import Embeddings
from graphrep.embed.writer import CHUNK_ROWS, EmbeddingWriter
from graphrep.errors import ConfigError, GraphFormatError


def _check_rank(rank: Any, world_size: Any) -> None:
    if isinstance(world_size, bool) or not isinstance(world_size, int | np.integer) or world_size < 1:
        raise ConfigError(f"world_size={world_size!r}: expected an integer >= 1")
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 0 <= rank < world_size:
        raise ConfigError(f"rank={rank!r}: expected an integer in [0, {world_size})")


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``n`` that ``rank`` of ``world_size`` handles (contiguous,
    sizes differ by at most one, earlier ranks take the extra rows)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(f"n={n!r}: expected an integer >= 0")
    _check_rank(rank, world_size)
    q, rem = divmod(int(n), int(world_size))
    lo = rank * q + min(rank, rem)
    return int(lo), int(lo + q + (rank < rem))


def shard_root(out_dir: str | os.PathLike) -> Path:
    """The directory holding the shards of the export to ``out_dir``."""
    out = Path(out_dir)
    return out.parent / f".{out.name}.shards"


def shard_dir(out_dir: str | os.PathLike, rank: int) -> Path:
    """Rank ``rank``'s shard directory of the export to ``out_dir``."""
    return shard_root(out_dir) / f"rank_{int(rank)}"


class ShardWriter(EmbeddingWriter):
    """An :class:`EmbeddingWriter` for rank ``rank``'s shard of the export to ``out_dir``.

    Use it like the writer (``with ShardWriter(out, r, W, dim) as w: w.add(t, vecs, ids)``)
    with the rows of :func:`shard_range`; call :meth:`add` for every type, with an
    empty ``[0, dim]`` array where the shard holds none, so the merge can tell a
    complete shard from a partial one.

    Args:
        out_dir: the final embeddings directory (the shard goes next to it).
        rank: this rank.
        world_size: number of ranks.
        dim: vector length.
    """

    def __init__(self, out_dir: str | os.PathLike, rank: int, world_size: int, dim: int) -> None:
        _check_rank(rank, world_size)
        meta = {"shard": {"rank": int(rank), "world_size": int(world_size)}}
        super().__init__(shard_dir(out_dir, rank), dim, "float32", meta=meta, overwrite=True)


def write_shard(out_dir: str | os.PathLike, rank: int, world_size: int, dim: int,
                types: Mapping[str, tuple[Iterable[np.ndarray], np.ndarray | None]]) -> Path:
    """Write rank ``rank``'s shard: ``types`` maps each entity type to ``(chunks, ids)``,
    an iterable of ``[b, dim]`` vector chunks and the shard's external ids (``None``:
    a running ``arange`` from 0). Returns the shard directory."""
    with ShardWriter(out_dir, rank, world_size, dim) as w:
        for t, (chunks, ids) in types.items():
            ids = None if ids is None else np.asarray(ids)
            start = 0
            for chunk in chunks:
                x = np.asarray(chunk)
                w.add(t, x, None if ids is None else ids[start : start + len(x)])
                start += len(x)
            if start == 0:  # an empty shard of this type still records the type
                w.add(t, np.zeros((0, dim), np.float32), None if ids is None else ids[:0])
            if ids is not None and start != len(ids):
                raise ConfigError(f"write_shard: type {t!r} got {start} vectors but "
                                  f"{len(ids)} ids")
    return shard_dir(out_dir, rank)


def _open_shards(out_dir: Path, world_size: int, dim: int) -> list[Embeddings]:
    root = shard_root(out_dir)
    missing = [r for r in range(world_size) if not (shard_dir(out_dir, r) / "manifest.json").is_file()]
    if missing:
        raise GraphFormatError(f"{root}: shard(s) of rank(s) {missing} missing or incomplete "
                               f"(expected rank_0 .. rank_{world_size - 1}); did every rank "
                               "finish writing before the merge?")
    shards = []
    for r in range(world_size):
        s = Embeddings.load(shard_dir(out_dir, r))
        info = s.meta.get("shard")
        if info != {"rank": r, "world_size": world_size}:
            raise GraphFormatError(f"{s.path}: shard metadata {info!r}, expected rank {r} of "
                                   f"world size {world_size} (a stale shard of another export?)")
        if s.dim != dim:
            raise GraphFormatError(f"{s.path}: shard of rank {r} has dim {s.dim}, expected {dim}")
        if shards and s.types != shards[0].types:
            raise GraphFormatError(f"{s.path}: shard of rank {r} holds types {s.types}, rank 0 "
                                   f"holds {shards[0].types} (an incomplete shard)")
        shards.append(s)
    return shards


def merge_shards(out_dir: str | os.PathLike, world_size: int, dim: int, dtype: str = "float32",
                 meta: dict[str, Any] | None = None, chunk_rows: int = CHUNK_ROWS,
                 keep_shards: bool = False, overwrite: bool = False) -> Path:
    """Merge the ``world_size`` shards of the export to ``out_dir`` into it (run on rank 0
    after a barrier). Types keep rank 0's order, rows go in rank order.

    Args:
        out_dir: destination embeddings directory (replaced atomically).
        world_size: number of shards expected.
        dim: vector length.
        dtype: on-disk dtype of the merged store (see :class:`EmbeddingWriter`).
        meta: manifest metadata of the merged store.
        chunk_rows: rows streamed per copy (bounds memory).
        keep_shards: keep the shard directories (default: removed after the merge).
        overwrite: replace an existing embeddings directory graphrep wrote at ``out_dir``.

    Raises:
        GraphFormatError: a shard is missing, incomplete, stale or of another ``dim``.
    """
    _check_rank(0, world_size)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows={chunk_rows!r}: expected an integer >= 1")
    out = Path(out_dir)
    shards = _open_shards(out, int(world_size), int(dim))
    with EmbeddingWriter(out, int(dim), dtype, meta=meta, overwrite=overwrite) as w:
        for t in shards[0].types:
            full = [s for s in shards if s.count(t)] or shards[:1]  # an all-empty type stays
            for s in full:
                vec, ids, extra = s.vectors(t), s.ids(t), s.row_arrays(t)
                for lo in range(0, max(len(ids), 1), chunk_rows):
                    part = {k: v[lo : lo + chunk_rows] for k, v in extra.items()}
                    w.add(t, vec[lo : lo + chunk_rows], np.asarray(ids[lo : lo + chunk_rows]), part)
    del shards  # release the memory maps before deleting their files
    if not keep_shards:
        shutil.rmtree(shard_root(out), ignore_errors=True)
    return out


__all__ = ["ShardWriter", "merge_shards", "shard_dir", "shard_range", "shard_root", "write_shard"]
