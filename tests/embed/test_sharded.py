"""Sharded export: balanced ranges, shard writing, and a merge identical to a
single-process export (3 fake ranks without a process group, then 2 gloo ranks)."""

import itertools
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as mp

from graphrep.embed.sharded import (
    ShardWriter,
    merge_shards,
    shard_dir,
    shard_range,
    shard_root,
    write_shard,
)
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.errors import ConfigError, GraphFormatError

DIM = 6
META = {"model": "test"}


def _data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "pin": (rng.normal(size=(11, DIM)).astype(np.float32), rng.permutation(1000)[:11]),
        "board": (rng.normal(size=(2, DIM)).astype(np.float32),  # fewer rows than ranks
                  np.array(["b-one", "b-two"])),
    }


def _chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def _single(path: Path, dtype: str) -> Path:
    with EmbeddingWriter(path, DIM, dtype, meta=META) as w:
        for t, (x, ids) in _data().items():
            for lo in range(0, len(x), 4):
                w.add(t, x[lo : lo + 4], ids[lo : lo + 4])
    return path


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes; the manifest's without its random store ``uid`` (one per store)."""
    out = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    out["manifest.json"] = re.sub(rb'\n "uid": "[0-9a-f]{16}",', b"", out["manifest.json"])
    return out


def _write_fake_rank(out: Path, rank: int, world_size: int) -> None:
    types = {}
    for t, (x, ids) in _data().items():
        lo, hi = shard_range(len(x), rank, world_size)
        types[t] = (_chunks(x[lo:hi], 3), ids[lo:hi])
    write_shard(out, rank, world_size, DIM, types)


def test_shard_range():
    for n in range(13):
        for world_size in range(1, 6):
            ranges = [shard_range(n, r, world_size) for r in range(world_size)]
            bounds = [lo for lo, _ in ranges] + [ranges[-1][1]]
            assert bounds[0] == 0 and bounds[-1] == n
            assert all(hi == nxt for (_, hi), (nxt, _) in itertools.pairwise(ranges))
            sizes = [hi - lo for lo, hi in ranges]
            assert sizes == [len(a) for a in np.array_split(np.arange(n), world_size)]
    for bad in ((-1, 0, 1), (5, 2, 2), (5, 0, 0), (5, -1, 2)):
        with pytest.raises(ConfigError):
            shard_range(*bad)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_merge_three_fake_ranks_equals_single_export(tmp_path, dtype):
    out = tmp_path / "emb"
    for r in range(3):
        _write_fake_rank(out, r, 3)
    assert Embeddings.load(shard_dir(out, 2)).count("board") == 0
    merge_shards(out, 3, DIM, dtype, meta=META, chunk_rows=4)
    ref = _single(tmp_path / "ref", dtype)
    assert _files(out) == _files(ref)  # byte-identical arrays, ids and manifest
    a, b = Embeddings.load(out), Embeddings.load(ref)
    assert a.types == b.types == ["pin", "board"]
    for t in a.types:
        assert a.count(t) == b.count(t) == len(_data()[t][1])
        np.testing.assert_array_equal(a.ids(t), _data()[t][1])
        np.testing.assert_array_equal(a.vectors(t), b.vectors(t))
    assert not shard_root(out).exists()


def test_keep_shards_and_rerun(tmp_path):
    out = tmp_path / "emb"
    for r in range(2):
        _write_fake_rank(out, r, 2)
    merge_shards(out, 2, DIM, meta=META, keep_shards=True)
    assert shard_dir(out, 1).is_dir()
    merge_shards(out, 2, DIM, meta=META, overwrite=True)  # replaces the previous merge atomically
    assert _files(out) == _files(_single(tmp_path / "ref", "float32"))


def test_missing_or_bad_shards(tmp_path):
    out = tmp_path / "emb"
    _write_fake_rank(out, 0, 3)
    _write_fake_rank(out, 2, 3)
    with pytest.raises(GraphFormatError, match=r"rank\(s\) \[1\] missing"):
        merge_shards(out, 3, DIM)
    assert not out.exists()
    with pytest.raises(GraphFormatError, match="expected rank 0 of world size 1"):
        merge_shards(out, 1, DIM)  # rank 0's shard was written for world size 3
    with ShardWriter(out, 1, 3, DIM - 1) as w:
        w.add("pin", np.zeros((1, DIM - 1), np.float32), np.array([5000]))
    with pytest.raises(GraphFormatError, match="rank 1 has dim 5, expected 6"):
        merge_shards(out, 3, DIM)
    with ShardWriter(out, 1, 3, DIM) as w:  # rank 1 forgets the "board" type
        w.add("pin", np.zeros((1, DIM), np.float32), np.array([5000]))
    with pytest.raises(GraphFormatError, match="shard of rank 1 holds types"):
        merge_shards(out, 3, DIM)
    assert shard_root(out).is_dir() and not out.exists()  # shards kept after a failure
    with pytest.raises(ConfigError, match="3 vectors but 4 ids"):
        write_shard(out, 0, 1, DIM, {"pin": ([np.zeros((3, DIM))], np.arange(4))})



def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    from graphrep.train.distributed import init_distributed
    from graphrep.utils.collectives import barrier

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    env = init_distributed("cpu")
    try:
        with ShardWriter(out, env.rank, env.world_size, DIM) as w:
            for t, (x, ids) in _data().items():
                lo, hi = shard_range(len(x), env.rank, env.world_size)
                w.add(t, x[lo:hi], ids[lo:hi])
        barrier()
        if env.is_main:
            merge_shards(out, env.world_size, DIM, "float16", meta=META)
        barrier()
    finally:
        env.destroy()


def test_two_gloo_ranks_write_and_merge(tmp_path, free_port):
    out = tmp_path / "emb"
    mp.spawn(_worker, args=(2, free_port, str(out)), nprocs=2, join=True)
    assert _files(out) == _files(_single(tmp_path / "ref", "float16"))
    assert not shard_root(out).exists()
