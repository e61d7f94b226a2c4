"""Export a trained run: every node type (and users) to an embeddings directory.

``export_run(RUN)`` loads ``RUN/model.pt``, rebuilds the run's input pipeline
from ``RUN/config.yaml`` (same samplers, same featurizer), streams every type's
vectors in batches into ``RUN/embeddings`` (written atomically, see
:class:`~graphrep.embed.store.EmbeddingWriter`) with the graph's external ids, and
builds the configured faiss index per type. Under ``torchrun`` each rank embeds a
contiguous shard of every type (:mod:`graphrep.embed.sharded`) and rank 0 merges the
shards into the same directory a single process would write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphrep import __version__
from graphrep.data.dataset import GraphDataset
from graphrep.embed.inference import _chunks, embed_users, encode_nodes
from graphrep.embed.sharded import ShardWriter, merge_shards, shard_range
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.embed.versions import supersede_versions
from graphrep.models import OmniSage
from graphrep.train.build import build_inputs, cut_time
from graphrep.train.config import RunConfig
from graphrep.train.distributed import init_distributed
from graphrep.train.rundir import RunDir
from graphrep.utils.collectives import barrier, get_rank, get_world_size
from graphrep.utils.lock import RunLock

USER_TYPE = "user"
log = logging.getLogger(__name__)


def export_embeddings(
    model: OmniSage,
    config: RunConfig,
    dataset: GraphDataset,
    out: str | os.PathLike,
    dtype: str | None = None,
    index: str | None = None,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
    wall_s: dict[str, float] | None = None,
) -> Embeddings:
    """Embed every encoded node type and every user; write them to ``out``.

    Args:
        model: a trained model (moved to ``config.train.device`` by the caller or kept on CPU).
        config: the run's config (input pipeline, batch size, dtype, index kind).
        dataset: the run's dataset.
        out: the embeddings directory to write (replaced atomically).
        dtype: ``float32``/``float16``/``int8`` (default: ``config.embed.dtype``).
        index: faiss index kind per type or ``"none"`` (default: ``config.embed.index``).
        meta: extra manifest entries.
        overwrite: replace an existing embeddings directory at ``out`` (only one
            graphrep wrote; files graphrep did not write are never deleted).
        wall_s: a dict to fill with seconds per phase: ``inputs`` (the input pipeline),
            ``encode.<type>`` (sampling, encoding and writing a type), ``index``.
    """
    wall = {} if wall_s is None else wall_s
    t0 = time.perf_counter()
    builder = build_inputs(config, dataset)
    wall["inputs"] = time.perf_counter() - t0
    graph, bs = dataset.graph, config.embed.batch_size
    info = {
        "config_digest": config.digest(), "graphrep_version": __version__, "model": config.name,
        "encoder": config.model.encoder, **(meta or {}),
    }  # fmt: skip
    dtype = dtype or config.embed.dtype
    rank, world = get_rank(), get_world_size()
    writer = (
        ShardWriter(out, rank, world, model.dim) if world > 1
        else EmbeddingWriter(out, model.dim, dtype=dtype, meta=info, overwrite=overwrite)
    )  # fmt: skip
    events = dataset.events
    with_users = events is not None and USER_TYPE not in model.encoders
    # users read their history items' embeddings back instead of encoding them again
    lookup = with_users and all(
        t in model.encoders and graph.num_nodes[t] > 0 for t in events.item_types
    )
    scratch = Path(out).parent / f".{Path(out).name}.item-vectors"
    tables = _item_tables(scratch, events.item_types if lookup else (), graph, model.dim, rank)
    try:
        with writer as w:
            for nt in model.encoders:
                t0 = time.perf_counter()
                ids = graph.external_ids(nt)
                rows = shard_range(len(ids), rank, world)
                start = rows[0]
                for chunk, nbr in (next(encode_nodes(model, builder, nt, c, bs))
                                   for c in _chunks(len(ids), bs, rows)):  # fmt: skip
                    w.add(nt, chunk, ids[start : start + len(chunk)], rows=nbr)
                    if nt in tables:
                        tables[nt][start : start + len(chunk)] = chunk
                    start += len(chunk)
                wall[f"encode.{nt}"] = time.perf_counter() - t0
            if with_users:
                t0 = time.perf_counter()
                for table in tables.values():
                    table.flush()
                barrier()  # every rank's rows of the item tables are written
                users = (
                    graph.external_ids(USER_TYPE)
                    if USER_TYPE in graph.num_nodes and graph.num_nodes[USER_TYPE] == events.num_users
                    else np.arange(events.num_users, dtype=np.int64)
                )
                rows = shard_range(len(users), rank, world)
                start = rows[0]
                for chunk in embed_users(
                    model, builder, events, cut_time(dataset), config.model.seq_max_len, bs, rows,
                    item_vectors=tables if lookup else None,
                ):  # fmt: skip
                    w.add(USER_TYPE, chunk, users[start : start + len(chunk)])
                    start += len(chunk)
                wall[f"encode.{USER_TYPE}"] = time.perf_counter() - t0
    finally:
        tables.clear()
        if rank == 0:  # the other ranks' mappings stay valid after the unlink
            shutil.rmtree(scratch, ignore_errors=True)
    if world > 1:  # every rank wrote its shard; rank 0 merges them into one directory
        barrier()
        if rank == 0:
            merge_shards(out, world, model.dim, dtype=dtype, meta=info, overwrite=overwrite)
        barrier()
    emb = Embeddings.load(out)
    kind = index or config.embed.index
    if kind != "none" and rank == 0:
        t0 = time.perf_counter()
        emb.build_indexes({t: kind for t in emb.types})
        emb = Embeddings.load(out)
        wall["index"] = time.perf_counter() - t0
    if world > 1:
        barrier()
    return emb


def _item_tables(
    scratch: Path, item_types: Sequence[str], graph: Any, dim: int, rank: int
) -> dict[str, np.memmap]:
    """Writable ``[num_nodes, D]`` float32 tables (memory-mapped files under ``scratch``,
    shared by the ranks of one machine) that the node pass fills for the user pass."""
    if not item_types:
        return {}
    if rank == 0:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for t in item_types:
            np.lib.format.open_memmap(scratch / f"{t}.npy", "w+", np.float32,
                                      (graph.num_nodes[t], dim)).flush()  # fmt: skip
    barrier()
    return {t: np.load(scratch / f"{t}.npy", mmap_mode="r+") for t in item_types}


def export_run(run: str | os.PathLike | RunDir, out: str | os.PathLike | None = None,
               overwrite: bool | None = None, **kwargs: Any) -> Path:
    """Export a trained run's embeddings; returns the directory.

    Args:
        run: the run directory (locked against other writers while exporting).
        out: the embeddings directory (default: ``RUN/embeddings``).
        overwrite: replace an existing embeddings directory graphrep wrote. Default:
            yes for the run's own ``RUN/embeddings`` (a re-export), no for an ``out``
            of the caller's choosing.
        **kwargs: ``dtype`` / ``index`` of :func:`export_embeddings`.
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    config = run.require().config()
    env = init_distributed("cpu")  # under torchrun every rank embeds its shard (a no-op otherwise)
    target = Path(out) if out is not None else run.embeddings
    replace = out is None if overwrite is None else overwrite
    with RunLock(run.path) if env.is_main else contextlib.nullcontext():
        model = run.load_model()
        dataset = run.dataset(config)
        t0 = time.perf_counter()
        export_embeddings(model, config, dataset, target, meta={"run": str(run.path)},
                          overwrite=replace, **kwargs)  # fmt: skip
        summary = {"export_wall_s": time.perf_counter() - t0}
        if get_rank() == 0:
            run.write_json(run.path / "embed_summary.json", summary)
            if target.resolve() == run.embeddings.resolve():  # a re-export supersedes the versions
                moved = supersede_versions(run)
                if moved is not None:
                    log.warning("re-exported %s: the embeddings versions refreshed on the previous "
                                "export are superseded, moved to %s (their change tables are "
                                "there to apply again)", target, moved)
    return target
