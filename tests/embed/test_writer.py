"""EmbeddingWriter: streamed, validated, atomic writes (read back with Embeddings)."""

import os

import numpy as np
import pytest

from graphrep.embed.store import Embeddings
from graphrep.embed.writer import EmbeddingWriter
from graphrep.errors import ConfigError, GraphValidationError, ShapeError


def _vecs(n, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_streaming_chunks_append_in_order(tmp_path, dtype):
    chunks = [_vecs(n, seed=n) for n in (4, 1, 7, 0, 3)]
    with EmbeddingWriter(tmp_path / "e", dim=6, dtype=dtype) as w:
        start = 0
        for c in chunks:
            w.add("pin", c, np.arange(start, start + len(c)) * 10)
            w.add("query", c)  # default ids continue the running arange
            start += len(c)
    emb = Embeddings.load(tmp_path / "e")
    full = np.concatenate(chunks)
    assert emb.count("pin") == 15
    np.testing.assert_allclose(emb.vectors("pin"), full, atol=np.abs(full).max() / 127)
    assert emb.ids("pin").tolist() == list(range(0, 150, 10))
    assert emb.ids("query").tolist() == list(range(15))
    assert np.load(tmp_path / "e" / "pin" / "vectors.npy").shape == (15, 6)


def test_crash_mid_write_leaves_nothing_or_the_old_store(tmp_path):
    with pytest.raises(RuntimeError), EmbeddingWriter(tmp_path / "e", dim=6) as w:
        w.add("pin", _vecs(3))
        raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []
    old = _vecs(2, seed=5)
    with EmbeddingWriter(tmp_path / "e", dim=6) as w:
        w.add("pin", old)
    with pytest.raises(RuntimeError), EmbeddingWriter(tmp_path / "e", dim=6, overwrite=True) as w:
        w.add("pin", _vecs(9))
        raise RuntimeError("killed")
    assert os.listdir(tmp_path) == ["e"]
    np.testing.assert_array_equal(Embeddings.load(tmp_path / "e").vectors("pin"), old)


def test_duplicate_ids_across_chunks_fail_at_close_without_output(tmp_path):
    with pytest.raises(GraphValidationError, match="'a'"), EmbeddingWriter(tmp_path / "e", 6) as w:
        w.add("pin", _vecs(2), ["a", "b"])
        w.add("pin", _vecs(1), ["a"])
    assert os.listdir(tmp_path) == []


def test_overwrite_false_refuses_existing(tmp_path):
    with EmbeddingWriter(tmp_path / "e", dim=6) as w:
        w.add("pin", _vecs(2))
    with pytest.raises(FileExistsError), EmbeddingWriter(tmp_path / "e", 6, overwrite=False):
        pass


def test_add_validates_inputs(tmp_path):
    with pytest.raises(ShapeError) as info, EmbeddingWriter(tmp_path / "e", dim=6) as w:
        w.add("pin", _vecs(3))
        bad = _vecs(4)
        bad[2, 1] = np.nan
        w.add("pin", bad)
    assert "'pin'" in str(info.value) and "row 5" in str(info.value)  # 3 + 2
    with EmbeddingWriter(tmp_path / "f", dim=6) as w:
        with pytest.raises(ShapeError, match=r"\[n, 6\]"):
            w.add("pin", _vecs(3, d=5))
        with pytest.raises(ShapeError, match="expected 3 ids"):
            w.add("pin", _vecs(3), [1, 2])
        with pytest.raises(GraphValidationError, match="unique"):
            w.add("pin", _vecs(2), [4, 4])
        with pytest.raises(ConfigError, match="entity type"):
            w.add("", _vecs(2))
        w.add("pin", _vecs(1), [1])
        with pytest.raises(ShapeError, match="str ids after int"):
            w.add("pin", _vecs(1), ["z"])
    with pytest.raises(ConfigError, match="dtype"):
        EmbeddingWriter(tmp_path / "g", dim=6, dtype="bfloat16")
    with pytest.raises(ConfigError, match="add"):
        EmbeddingWriter(tmp_path / "g", dim=6).add("pin", _vecs(1))
