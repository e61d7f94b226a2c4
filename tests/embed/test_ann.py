import json
import os

import numpy as np
import pytest

from graphrep.embed.ann import (
    ann_recall,
    build_index,
    exact_search,
    load_index,
    save_index,
    search,
    top_k,
)
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.errors import ConfigError, GraphFormatError


def _unit(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(q, x, k, metric="ip"):
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    if metric == "ip":
        s = q64 @ x64.T
    else:
        s = -((q64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
    rows = [sorted(range(len(x)), key=lambda j, r=r: (-r[j], j))[:k] for r in s]
    return np.array(rows), np.take_along_axis(s, np.array(rows), 1)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_search_matches_brute_force_across_chunks(metric):
    x, q = _unit(60, 5, 1), _unit(7, 5, 2)
    scores, rows = exact_search(q, len(x), lambda a, b: x[a:b], 8, metric, chunk_rows=9)
    ref_rows, ref_scores = _brute(q, x, 8, metric)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


def test_top_k_excludes_given_rows_and_caps_k():
    x = _unit(10, 4, 3)
    _, rows = top_k(x[[2, 5]], 10, lambda a, b: x[a:b], 3, exclude=np.array([2, 5]))
    ref = _brute(x[[2, 5]], x, 4)[0][:, 1:]  # self is the top hit of a unit vector
    np.testing.assert_array_equal(rows, ref)
    assert top_k(x[:1], 10, lambda a, b: x[a:b], 50)[1].shape == (1, 10)
    with pytest.raises(ConfigError, match="k=0"):
        top_k(x[:1], 10, lambda a, b: x[a:b], 0)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_index_equals_exact_search(metric):
    x, q = _unit(200, 16, 4), _unit(20, 16, 5)
    index = build_index(x, "flat", metric)
    scores, rows = search(index, q, 10)
    ref_rows, ref_scores = _brute(q, x, 10, metric)
    np.testing.assert_array_equal(rows, ref_rows)
    expected = ref_scores if metric == "ip" else -ref_scores  # faiss l2: squared distance
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert ann_recall(index, x, q, k=10) == 1.0


def test_hnsw_recall_at_10_above_0_9():
    x = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    q = np.random.default_rng(1).normal(size=(100, 32)).astype(np.float32)
    index = build_index(x, "hnsw", "ip", M=16)
    assert index.ntotal == 2000
    assert ann_recall(index, x, q, k=10) > 0.9


def test_ivf_index_trains_and_searches_all_cells_exactly():
    x, q = _unit(500, 8, 6), _unit(10, 8, 7)
    index = build_index(x, "ivf", nlist=10, nprobe=10)  # probing every cell = exact
    assert ann_recall(index, x, q, k=5) == 1.0


def test_ann_recall_counts_overlap():
    x, q = _unit(50, 4, 8), _unit(5, 4, 9)

    class Half:  # returns the exact top-2 then two misses
        d, metric_type = 4, 0  # faiss.METRIC_INNER_PRODUCT == 0

        def search(self, queries, k):
            rows = _brute(queries, x, 50)[0]
            out = np.concatenate([rows[:, :2], rows[:, -2:]], axis=1)
            return np.zeros(out.shape, np.float32), out

    assert ann_recall(Half(), x, q, k=4) == pytest.approx(0.5)


def test_build_index_rejects_bad_arguments():
    x = _unit(10, 4)
    with pytest.raises(ConfigError, match="kind='annoy'"):
        build_index(x, "annoy")
    with pytest.raises(ConfigError, match="metric='cos'"):
        build_index(x, "flat", "cos")
    with pytest.raises(ConfigError, match=r"\['nlist'\].*'hnsw'"):
        build_index(x, "hnsw", nlist=4)


def test_save_load_round_trip_is_atomic(tmp_path):
    x, q = _unit(300, 8, 10), _unit(5, 8, 11)
    index = build_index(x, "hnsw")
    save_index(index, tmp_path / "a.faiss")
    assert os.listdir(tmp_path) == ["a.faiss"]  # no temporary left behind
    again = load_index(tmp_path / "a.faiss")
    assert again.ntotal == 300
    for a, b in zip(search(index, q, 7), search(again, q, 7), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(GraphFormatError, match="missing"):
        load_index(tmp_path / "nope.faiss")
    (tmp_path / "bad.faiss").write_bytes(b"not an index")
    with pytest.raises(GraphFormatError, match=r"bad\.faiss"):
        load_index(tmp_path / "bad.faiss")


def test_embeddings_build_indexes_and_faiss_neighbors(tmp_path):
    pins, users = _unit(400, 8, 12), _unit(5, 8, 13)
    with EmbeddingWriter(tmp_path / "e", dim=8) as w:
        w.add("pin", pins, np.arange(400) + 1000)
        w.add("user", users)
    emb = Embeddings.load(tmp_path / "e")
    with pytest.raises(ConfigError, match="build_indexes"):
        emb.neighbors("user", [0], target_type="pin", index="faiss")
    emb.build_indexes({"pin": "flat"})
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    # a flat index is the vectors themselves: recorded without a file, built when loaded
    assert manifest["indexes"]["pin"] == {"file": None, "kind": "flat", "metric": "ip"}
    assert not (tmp_path / "e" / "index_pin.faiss").exists()
    exact = emb.neighbors("user", [0, 3], k=5, target_type="pin")
    for e in (emb, Embeddings.load(tmp_path / "e")):  # reopened: rebuilt from the vectors
        res = e.neighbors("user", [0, 3], k=5, target_type="pin", index="faiss")
        np.testing.assert_array_equal(res.ids, exact.ids)
        np.testing.assert_allclose(res.scores, exact.scores, atol=1e-5)
    same = emb.neighbors("pin", [1000, 1001], k=4, index="faiss")
    assert not np.any(same.rows == np.array([[0], [1]]))
    np.testing.assert_array_equal(same.rows, emb.neighbors("pin", [1000, 1001], k=4).rows)
    emb.build_indexes({"pin": "hnsw"})  # other kinds are files
    np.testing.assert_array_equal(Embeddings.load(tmp_path / "e").neighbors(
        "pin", [1000, 1001], k=4, index="faiss").rows, same.rows)
    os.remove(tmp_path / "e" / "index_pin.faiss")
    with pytest.raises(GraphFormatError, match=r"index_pin\.faiss"):
        Embeddings.load(tmp_path / "e")
    # a store written before flat indexes went file-less still reads its file
    save_index(build_index(pins, "flat"), tmp_path / "e" / "index_pin.faiss")
    m = json.loads((tmp_path / "e" / "manifest.json").read_text())
    m["indexes"]["pin"] = {"file": "index_pin.faiss", "kind": "flat", "metric": "ip"}
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(m))
    np.testing.assert_array_equal(Embeddings.load(tmp_path / "e").neighbors(
        "pin", [1000, 1001], k=4, index="faiss").rows, same.rows)
    m["indexes"]["pin"] = {"file": None, "kind": "hnsw", "metric": "ip"}
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match="'hnsw' index needs a file"):
        Embeddings.load(tmp_path / "e")
