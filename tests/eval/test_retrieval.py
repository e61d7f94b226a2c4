import math

import numpy as np
import pytest
import torch

from graphrep.errors import GraphValidationError, ShapeError
from graphrep.eval import retrieval
from graphrep.eval.retrieval import (
    full_rank_metrics,
    full_rank_per_query,
    group_pairs,
    sampled_metrics,
    score_chunk_rows,
)
from graphrep.graph.ragged import Ragged


def brute_force(q, c, rel_lists, ks, excl_lists=None):
    """Float64 loop: pessimistic order = sort by (-score, is_relevant)."""
    q, c = np.asarray(q, np.float64), np.asarray(c, np.float64)
    out = {f"{m}@{k}": [] for m in ("recall", "hits", "ndcg") for k in ks}
    out["mrr"] = []
    for i in range(len(q)):
        s = c @ q[i]
        ex = set(excl_lists[i]) if excl_lists else set()
        rel = set(rel_lists[i]) - ex
        if not rel:
            for v in out.values():
                v.append(np.nan)
            continue
        alive = [j for j in range(len(c)) if j not in ex]
        order = sorted(alive, key=lambda j: (-s[j], j in rel))
        pos = [p + 1 for p, j in enumerate(order) if j in rel]
        for k in ks:
            found = [p for p in pos if p <= k]
            out[f"recall@{k}"].append(len(found) / len(rel))
            out[f"hits@{k}"].append(float(bool(found)))
            ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
            out[f"ndcg@{k}"].append(sum(1 / math.log2(p + 1) for p in found) / ideal)
        out["mrr"].append(1 / pos[0])
    return {k: np.array(v) for k, v in out.items()}


def random_lists(rng, rows, n, max_len):
    return [rng.integers(0, n, size=rng.integers(0, max_len + 1)).tolist() for _ in range(rows)]


def assert_matches(per, ref):
    for key, want in ref.items():
        np.testing.assert_allclose(per[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


def test_matches_brute_force_with_ties_exclude_and_small_chunks():
    rng = np.random.default_rng(0)
    # small integer embeddings: many exact ties, exact in float32 as in float64
    q = rng.integers(-2, 3, size=(13, 3)).astype(np.float32)
    c = rng.integers(-2, 3, size=(20, 3)).astype(np.float32)
    rel = random_lists(rng, 13, 20, 5)
    rel[3] = []  # an empty row
    excl = random_lists(rng, 13, 20, 4)
    excl[5] = rel[5][:1]  # an excluded relevant item
    excl[7] = list(rel[7])  # every relevant item excluded: the query is skipped
    for small_ks in ((2,), (1, 3)):  # ranks beyond the top-k values are counted exactly
        per = full_rank_per_query(q, c, Ragged.from_lists(rel), small_ks, Ragged.from_lists(excl))
        assert_matches(per, brute_force(q, c, rel, small_ks, excl))
    ks = (1, 3, 5, 25)
    per = full_rank_per_query(
        q, c, Ragged.from_lists(rel), ks, Ragged.from_lists(excl), chunk_size=4
    )
    ref = brute_force(q, c, rel, ks, excl)
    assert_matches(per, ref)
    valid = ~np.isnan(ref["mrr"])
    np.testing.assert_array_equal(per["num_relevant"] > 0, valid)
    np.testing.assert_array_equal(per["rank"][valid], np.round(1 / ref["mrr"][valid]))
    agg = full_rank_metrics(q, c, Ragged.from_lists(rel), ks, Ragged.from_lists(excl), chunk_size=4)
    assert agg["num_queries"] == valid.sum()
    for key in ref:
        assert agg[key] == pytest.approx(np.nanmean(ref[key]), abs=1e-12)


def test_matches_brute_force_random_float64_any_chunk_size():
    rng = np.random.default_rng(1)
    q, c = rng.normal(size=(30, 8)), rng.normal(size=(50, 8))
    rel = Ragged.from_lists(random_lists(rng, 30, 50, 6))
    ref = brute_force(q, c, rel.to_lists(), (1, 5, 10))
    for chunk in (1, 7, 1000):
        assert_matches(full_rank_per_query(q, c, rel, (1, 5, 10), chunk_size=chunk), ref)


def test_score_matrix_budget_caps_the_chunk(monkeypatch):
    assert score_chunk_rows(1024, 50_000) == 671  # 2**25 // 50k
    assert score_chunk_rows(1024, 2_000_000) == 16  # 2M items: 128 MiB, not 8 GB, per chunk
    assert score_chunk_rows(7, 10) == 7 and score_chunk_rows(5, 10**12) == 1
    rng = np.random.default_rng(2)
    q, c = rng.normal(size=(12, 4)), rng.normal(size=(40, 4))
    rel = Ragged.from_lists(random_lists(rng, 12, 40, 3))
    ref = brute_force(q, c, rel.to_lists(), (1, 5))
    monkeypatch.setattr(retrieval, "SCORE_BUDGET", 80)  # 2 query rows per chunk
    assert_matches(full_rank_per_query(q, c, rel, (1, 5), chunk_size=1024), ref)


def test_hand_example_three_queries_five_items():
    c = np.array([[5.0], [4.0], [3.0], [2.0], [1.0]])  # q=+1 ranks items 0,1,2,3,4
    q = np.array([[1.0], [1.0], [-1.0]])
    rel = Ragged.from_lists([[2], [0, 4], []])
    per = full_rank_per_query(q, c, rel, ks=(1, 3))
    np.testing.assert_array_equal(per["rank"], [3, 1, 0])
    np.testing.assert_allclose(per["recall@3"][:2], [1.0, 0.5])
    np.testing.assert_allclose(per["hits@1"][:2], [0.0, 1.0])
    np.testing.assert_allclose(per["ndcg@3"][:2], [0.5, 1 / (1 + 1 / math.log2(3))])
    assert np.isnan(per["mrr"][2])
    m = full_rank_metrics(q, c, rel, ks=(3,))
    assert m == pytest.approx(
        {
            "recall@3": 0.75,
            "hits@3": 1.0,
            "ndcg@3": (0.5 + 1 / (1 + 1 / math.log2(3))) / 2,
            "mrr": (1 / 3 + 1) / 2,
            "num_queries": 2,
        }
    )
    # excluding item 0 for query 1 leaves item 4 at position 4 among items 1..4
    ex = Ragged.from_lists([[], [0], []])
    per = full_rank_per_query(q, c, rel, ks=(3,), exclude=ex)
    assert per["rank"][1] == 4 and per["num_relevant"][1] == 1
    assert per["recall@3"][1] == 0.0


def test_ties_are_pessimistic():
    c, q = np.ones((4, 1)), np.ones((1, 1))
    per = full_rank_per_query(q, c, Ragged.from_lists([[2]]), ks=(3, 4))
    assert per["rank"][0] == 4 and per["hits@3"][0] == 0 and per["hits@4"][0] == 1
    per = full_rank_per_query(q, c, Ragged.from_lists([[1, 2]]), ks=(3,))
    assert per["rank"][0] == 3 and per["recall@3"][0] == 0.5


def test_torch_input_and_duplicates_in_relevant():
    rng = np.random.default_rng(2)
    q, c = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(9, 4)).astype(np.float32)
    rel = Ragged.from_lists([[1, 1, 2], [0], [8, 8], [], [3]])
    a = full_rank_metrics(q, c, rel, ks=(2,))
    b = full_rank_metrics(torch.from_numpy(q), torch.from_numpy(c), rel, ks=(2,))
    assert a == b
    assert a == pytest.approx(
        {k: np.nanmean(v) for k, v in brute_force(q, c, rel.to_lists(), (2,)).items()}
        | {"num_queries": 4}
    )


def test_input_errors_name_the_argument():
    q, c = np.zeros((2, 3), np.float32), np.ones((4, 3), np.float32)
    rel = Ragged.from_lists([[0], [1]])
    bad = q.copy()
    bad[1, 2] = np.nan
    with pytest.raises(GraphValidationError, match="queries: row 1"):
        full_rank_metrics(bad, c, rel)
    with pytest.raises(GraphValidationError, match="corpus"):
        full_rank_metrics(q, np.full((4, 3), np.inf, np.float32), rel)
    with pytest.raises(ShapeError, match="dimension"):
        full_rank_metrics(q, np.ones((4, 2)), rel)
    with pytest.raises(ShapeError, match="floating"):
        full_rank_metrics(q.astype(np.int64), c, rel)
    with pytest.raises(GraphValidationError, match="relevant values"):
        full_rank_metrics(q, c, Ragged.from_lists([[0], [4]]))
    with pytest.raises(ShapeError, match="relevant: expected 2 rows"):
        full_rank_metrics(q, c, Ragged.from_lists([[0]]))
    with pytest.raises(GraphValidationError, match="exclude values"):
        full_rank_metrics(q, c, rel, exclude=Ragged.from_lists([[-1], []]))
    with pytest.raises(GraphValidationError, match="ks"):
        full_rank_metrics(q, c, rel, ks=(0,))
    with pytest.raises(GraphValidationError, match="positives"):
        sampled_metrics(q, c, np.array([0]), np.array([7]))


def test_group_pairs():
    queries, rel = group_pairs(np.array([3, 1, 3, 3, 1]), np.array([5, 2, 5, 0, 9]))
    np.testing.assert_array_equal(queries, [1, 3])
    assert rel.to_lists() == [[2, 9], [0, 5]]
    with pytest.raises(ShapeError):
        group_pairs(np.array([0, 1]), np.array([0]))
    with pytest.raises(GraphValidationError, match="query_rows"):
        group_pairs(np.array([0, 4]), np.array([0, 1]), num_queries=4)
    with pytest.raises(GraphValidationError, match="integer"):
        group_pairs(np.array([0.5]), np.array([1]))


def test_sampled_with_all_negatives_equals_full_ranking():
    rng = np.random.default_rng(3)
    q = rng.integers(-2, 3, size=(10, 3)).astype(np.float32)  # ties on purpose
    c = rng.integers(-2, 3, size=(15, 3)).astype(np.float32)
    pos = rng.integers(0, 15, size=10)
    full = full_rank_metrics(q, c, Ragged.from_lists([[p] for p in pos]), ks=(1, 5))
    for n in (14, 100):
        s = sampled_metrics(q, c, np.arange(10), pos, num_negatives=n, ks=(1, 5))
        for key in ("hits@1", "hits@5", "mrr"):
            assert s[key] == pytest.approx(full[key], abs=1e-12)
        assert s["num_pairs"] == 10


def test_sampled_extremes_and_expected_rank():
    c = np.arange(1.0, 41.0)[:, None]  # item j scores j + 1 for q = +1
    q = np.array([[1.0]])
    rows = np.zeros(500, dtype=np.int64)
    top = sampled_metrics(q, c, rows, np.full(500, 39), num_negatives=10, ks=(1,))
    assert top["mrr"] == 1.0 and top["hits@1"] == 1.0
    for exclude in (True, False):  # drawing the lowest positive itself counts as a tie
        low = sampled_metrics(
            q, c, rows, np.zeros(500, np.int64), num_negatives=10, exclude_positive=exclude
        )
        assert low["mrr"] == pytest.approx(1 / 11) and low["hits@10"] == 0.0
    # positive at full rank 20 of 40: sampled rank - 1 ~ Binomial(10, 19/39)
    mid = sampled_metrics(
        q, c, np.zeros(4000, np.int64), np.full(4000, 20), num_negatives=10, ks=(5,), seed=1
    )
    p = 19 / 39
    from scipy.stats import binom

    assert mid["hits@5"] == pytest.approx(binom.cdf(4, 10, p), abs=0.03)


def test_sampled_is_deterministic_under_seed():
    rng = np.random.default_rng(4)
    q, c = rng.normal(size=(20, 4)), rng.normal(size=(200, 4))
    rows, pos = rng.integers(0, 20, 300), rng.integers(0, 200, 300)
    a = sampled_metrics(q, c, rows, pos, num_negatives=20, seed=7)
    assert a == sampled_metrics(q, c, rows, pos, num_negatives=20, seed=7)
    assert a != sampled_metrics(q, c, rows, pos, num_negatives=20, seed=8)
