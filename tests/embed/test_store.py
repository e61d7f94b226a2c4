import json
import os

import numpy as np
import pytest
import torch

import graphrep
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.embed.views import read_parquet
from graphrep.errors import (
    ConfigError,
    GraphFormatError,
    SchemaError,
    ShapeError,
    UnsafePathError,
)


def _vecs(n, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _write(path, parts, dtype="float32", dim=6, meta=None):
    with EmbeddingWriter(path, dim=dim, dtype=dtype, meta=meta) as w:
        for t, v, ids in parts:
            w.add(t, v, ids)


@pytest.mark.parametrize("mmap", [True, False])
def test_float32_roundtrip_exact_with_int_and_str_ids(tmp_path, mmap):
    pins, users = _vecs(5), _vecs(3, seed=1)
    pin_ids = np.array(["p9", "p1", "p5", "p3", "p0"])
    _write(tmp_path / "e", [("pin", pins, pin_ids), ("user", users, [70, 10, 40])],
           meta={"model": "m", "config_hash": "abc"})
    emb = Embeddings.load(tmp_path / "e", mmap=mmap)
    assert emb.types == ["pin", "user"] and emb.dim == 6 and emb.dtype == "float32"
    assert len(emb) == 8 and emb.count("pin") == 5 and emb.count("user") == 3
    assert emb.meta == {"model": "m", "config_hash": "abc"}
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["format"] == "graphrep.embeddings" and manifest["version"] == 1
    assert manifest["graphrep_version"] == graphrep.__version__
    assert manifest["types"]["pin"]["id_kind"] == "str"
    assert manifest["types"]["user"]["id_kind"] == "int"
    np.testing.assert_array_equal(emb.vectors("pin"), pins)
    assert isinstance(emb.vectors("pin"), np.memmap) == mmap
    assert emb.ids("pin").tolist() == pin_ids.tolist()
    assert emb.ids("user").dtype == np.int64 and emb.ids("user").tolist() == [70, 10, 40]
    assert emb.index_of("pin", ["p3", "p9"]).tolist() == [3, 0]
    assert emb.index_of("user", np.array([40, 70], dtype=np.int32)).tolist() == [2, 0]
    np.testing.assert_array_equal(emb.lookup("user", [10, 40]), users[[1, 2]])
    np.testing.assert_array_equal(emb.lookup("pin", "p5"), pins[[2]])


def test_int8_roundtrip_within_per_row_scale(tmp_path):
    x = _vecs(40, d=16) * np.linspace(0.01, 100, 40, dtype=np.float32)[:, None]
    x[3] = 0.0  # an all-zero row must survive
    _write(tmp_path / "e", [("pin", x, None)], dtype="int8", dim=16)
    got = Embeddings.load(tmp_path / "e").vectors("pin")
    assert got.dtype == np.float32
    bound = np.abs(x).max(axis=1, keepdims=True) / 127.0  # per-row scale
    assert np.all(np.abs(got - x) <= bound * 0.5 + 1e-6 * np.abs(x).max(axis=1, keepdims=True))
    np.testing.assert_array_equal(got[3], 0.0)
    # the stored codes really are int8 with a float32 scale per row
    raw = np.load(tmp_path / "e" / "pin" / "vectors.npy")
    scales = np.load(tmp_path / "e" / "pin" / "scales.npy")
    assert raw.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (40,)


def test_float16_roundtrip_within_1e3_relative(tmp_path):
    x = _vecs(20) * 50
    _write(tmp_path / "e", [("board", x, None)], dtype="float16")
    emb = Embeddings.load(tmp_path / "e")
    got = emb.vectors("board")
    assert got.dtype == np.float32
    assert np.all(np.abs(got - x) <= 1e-3 * np.abs(x))
    assert np.load(tmp_path / "e" / "board" / "vectors.npy").dtype == np.float16
    np.testing.assert_array_equal(emb.lookup("board", [7]), got[[7]])


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(GraphFormatError, match="no such directory"):
        Embeddings.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraphFormatError, match="missing manifest"):
        Embeddings.load(tmp_path / "empty")
    _write(tmp_path / "e", [("pin", _vecs(3), None)])
    manifest = tmp_path / "e" / "manifest.json"
    good = manifest.read_text()
    manifest.write_text(good[:40])
    with pytest.raises(GraphFormatError, match="not valid JSON"):
        Embeddings.load(tmp_path / "e")
    manifest.write_text(good.replace("graphrep.embeddings", "graphrep.heterograph"))
    with pytest.raises(GraphFormatError, match="expected format"):
        Embeddings.load(tmp_path / "e")
    manifest.write_text(good)
    os.remove(tmp_path / "e" / "pin" / "ids.npy")
    with pytest.raises(GraphFormatError, match=r"ids\.npy: missing file"):
        Embeddings.load(tmp_path / "e")


def test_lookup_unknown_id_or_type_raises_naming_it(tmp_path):
    _write(tmp_path / "e", [("pin", _vecs(3), ["a", "b", "c"]), ("user", _vecs(2), [5, 9])])
    emb = Embeddings.load(tmp_path / "e")
    with pytest.raises(SchemaError, match=r"\['zz'\].*'pin'"):
        emb.lookup("pin", ["a", "zz"])
    with pytest.raises(SchemaError, match=r"\[7\].*'user'"):
        emb.index_of("user", [5, 7])
    with pytest.raises(SchemaError, match=r"\[10\].*'user'"):
        emb.index_of("user", [10])  # beyond the largest id
    with pytest.raises(KeyError, match="board"):
        emb.vectors("board")


def _brute(q, x, k):
    s = q.astype(np.float64) @ x.astype(np.float64).T
    return [sorted(range(len(x)), key=lambda j, r=r: (-r[j], j))[:k] for r in s]


def test_neighbors_cross_type_known_answer(tmp_path):
    # queries point along axes; pins are near one axis each; boards mixed
    query = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    pins = np.array([[0.9, 0.1, 0], [0.1, 0.9, 0], [0.7, 0, 0.7], [0, 0, 1], [0.2, 0.8, 0.3]],
                    np.float32)
    _write(tmp_path / "e", [("query", query, ["q1", "q2"]),
                            ("pin", pins, [100, 101, 102, 103, 104])], dim=3)
    emb = Embeddings.load(tmp_path / "e")
    res = emb.neighbors("query", ["q1", "q2"], k=2, target_type="pin")
    assert res.ids.tolist() == [[100, 102], [101, 104]]
    assert res.rows.tolist() == [[0, 2], [1, 4]]
    np.testing.assert_allclose(res.scores, [[0.9, 0.7], [0.9, 0.8]], rtol=1e-6)
    res = emb.neighbors_of_vectors(np.array([[0, 0, 1]], np.float32), k=3, target_type="pin")
    assert res.ids.tolist() == [[103, 102, 104]]
    with pytest.raises(ShapeError):
        emb.neighbors_of_vectors(np.ones((1, 4), np.float32), k=1, target_type="pin")


def test_neighbors_exclude_self_matches_brute_force(tmp_path):
    x = _vecs(30, d=8, seed=3)
    x[7] = x[4]  # a duplicate of query 4 must still be returned for it
    _write(tmp_path / "e", [("pin", x, None)], dim=8)
    emb = Embeddings.load(tmp_path / "e")
    q = [4, 0, 29]
    res = emb.neighbors("pin", q, k=5)
    ref = [[j for j in r if j != i][:5] for i, r in zip(q, _brute(x[q], x, 6), strict=True)]
    assert res.rows.tolist() == ref
    assert 7 in res.rows[0] and not np.any(res.rows == np.array(q)[:, None])
    keep = emb.neighbors("pin", q, k=5, exclude_self=False)
    assert keep.rows[:, 0].tolist() in ([4, 0, 29], [7, 0, 29])
    assert emb.neighbors("pin", [1], k=100).rows.shape == (1, 29)  # k capped


def test_exact_search_chunks_agree_with_brute_force(tmp_path, monkeypatch):
    import graphrep.embed.store as store

    x = _vecs(50, d=4, seed=9)
    _write(tmp_path / "e", [("pin", x, None)], dim=4, dtype="int8")
    emb = Embeddings.load(tmp_path / "e")
    monkeypatch.setattr(store, "_CHUNK", 7)
    res = emb.neighbors_of_vectors(x[:6], k=9, target_type="pin")
    assert res.rows.tolist() == _brute(x[:6], emb.vectors("pin"), 9)


def test_views_numpy_torch_pandas_parquet(tmp_path):
    x = _vecs(4)
    _write(tmp_path / "e", [("pin", x, ["a", "b", "c", "d"]), ("user", x[:2], [3, 1])])
    emb = Embeddings.load(tmp_path / "e")
    np.testing.assert_array_equal(emb.to_numpy("pin"), x)
    t = emb.to_torch("pin")
    assert t.dtype == torch.float32 and torch.equal(t, torch.from_numpy(x))
    t[0, 0] = 123.0  # copy-on-write: the file is untouched
    assert Embeddings.load(tmp_path / "e").vectors("pin")[0, 0] == x[0, 0]
    df = emb.to_pandas("user")
    assert list(df.columns) == ["id", "vector"] and df["id"].tolist() == [3, 1]
    np.testing.assert_array_equal(np.stack(df["vector"]), x[:2])
    for t, ids in (("pin", ["a", "b", "c", "d"]), ("user", [3, 1])):
        emb.to_parquet(t, tmp_path / f"{t}.parquet")
        got_ids, got = read_parquet(tmp_path / f"{t}.parquet")
        assert got_ids.tolist() == ids
        np.testing.assert_array_equal(got, emb.vectors(t))
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "pin.parquet")
    assert str(schema.field("vector").type) == "fixed_size_list<element: float>[6]"


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_load_refuses_nan_vectors_and_duplicate_ids(tmp_path, dtype):
    _write(tmp_path / "e", [("pin", _vecs(4), [1, 2, 3, 4])], dtype=dtype)
    name = "scales.npy" if dtype == "int8" else "vectors.npy"
    path = tmp_path / "e" / "pin" / name
    arr = np.load(path)
    arr[2] = np.nan
    np.save(path, arr)
    with pytest.raises(GraphFormatError, match=r"of 'pin' row 2 is not finite"):
        Embeddings.load(tmp_path / "e")
    _write(tmp_path / "f", [("pin", _vecs(4), [1, 2, 3, 4])], dtype=dtype)
    np.save(tmp_path / "f" / "pin" / "ids.npy", np.array([1, 2, 2, 4]))
    with pytest.raises(GraphFormatError, match=r"ids of 'pin'.*unique; 2 appears twice"):
        Embeddings.load(tmp_path / "f")


def test_type_names_stay_inside_and_entries_outside_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    _write(tmp_path / "d" / "e", [("../../x", _vecs(2), None)])
    assert os.listdir(tmp_path) == ["d"] and os.listdir(tmp_path / "d") == ["e"]
    emb = Embeddings.load(tmp_path / "d" / "e")
    assert emb.types == ["../../x"] and emb.count("../../x") == 2
    np.save(tmp_path / "stolen.npy", _vecs(2))
    p = tmp_path / "d" / "e" / "manifest.json"
    m = json.loads(p.read_text())
    for entry in (str(tmp_path / "stolen.npy"), "../../stolen.npy"):
        m["types"]["../../x"]["vectors"]["file"] = entry
        p.write_text(json.dumps(m))
        with pytest.raises(UnsafePathError, match="outside"):
            Embeddings.load(tmp_path / "d" / "e")
    m = json.loads(p.read_text())
    m["types"]["../../x"]["vectors"]["file"] = "%2E%2E%2F%2E%2E%2Fx/vectors.npy"
    m["indexes"] = {"../../x": {"file": "/etc/hostname", "kind": "flat", "metric": "ip"}}
    p.write_text(json.dumps(m))
    with pytest.raises(UnsafePathError, match="faiss index"):
        Embeddings.load(tmp_path / "d" / "e")


def test_written_gives_the_arrays_just_written_without_reading_them(tmp_path):
    v, ids = _vecs(4), np.array([5, 6, 7, 8])
    _write(tmp_path / "e", [("pin", v, ids)])
    e = Embeddings.written(tmp_path / "e", {"pin": {"vec": v, "ids": ids, "rows": {}}})
    assert e.vectors("pin") is v and e.uid == Embeddings.load(tmp_path / "e").uid
    np.testing.assert_array_equal(e.neighbors("pin", [5], k=2).ids,
                                  Embeddings.load(tmp_path / "e").neighbors("pin", [5], k=2).ids)
    with pytest.raises(ConfigError, match="float32 arrays of types"):
        Embeddings.written(tmp_path / "e", {"board": {"vec": v, "ids": ids, "rows": {}}})
    _write(tmp_path / "q", [("pin", v, ids)], dtype="int8")
    with pytest.raises(ConfigError, match="got int8"):
        Embeddings.written(tmp_path / "q", {"pin": {"vec": v, "ids": ids, "rows": {}}})
