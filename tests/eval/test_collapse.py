import numpy as np
import pytest
from scipy.stats import kurtosis

from graphrep.errors import GraphValidationError, ShapeError
from graphrep.eval.collapse import (
    chunked_topk,
    cosine_kurtosis,
    interest_entropy,
    p90_coverage,
    random_pairs,
    topic_purity,
)


def brute_topk(q, c, k, exclude_self=False):
    s = np.asarray(q, np.float64) @ np.asarray(c, np.float64).T
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_p90_coverage_all_queries_retrieve_the_same_ten_items():
    rng = np.random.default_rng(0)
    # 10 items along +e1 with distinct scores, 40 items pointing away
    c = np.zeros((50, 2))
    c[:10, 0] = np.arange(10, 20)
    c[10:, 0] = -1.0
    c[10:, 1] = rng.normal(size=40)
    q = np.tile([1.0, 0.0], (7, 1))
    # 70 slots, 10 items with 7 each: 9 items hold 63 = 90% of them
    assert p90_coverage(q, c, k=10, chunk_size=3) == 9 / 50


def test_p90_coverage_distinct_and_skewed_retrieval():
    eye = np.eye(20)
    # each query retrieves its own item: 18 of 20 items cover 90%
    assert p90_coverage(eye, eye, k=1) == 18 / 20
    # k=1: six queries retrieve item 0, four retrieve items 1..4; counts 6,1,1,1,1
    q = np.eye(5)[[0, 0, 0, 0, 0, 0, 1, 2, 3, 4]]
    assert p90_coverage(q, np.eye(5), k=1) == 4 / 5


def test_p90_coverage_matches_brute_force():
    rng = np.random.default_rng(1)
    q, c = rng.normal(size=(40, 6)), rng.normal(size=(60, 6))
    counts = np.sort(np.bincount(brute_topk(q, c, 5).ravel(), minlength=60))[::-1]
    m = next(i + 1 for i in range(60) if counts[: i + 1].sum() >= 0.9 * 200)
    assert p90_coverage(q, c, k=5, chunk_size=7) == m / 60


def test_interest_entropy_hand_example():
    c = np.eye(8)
    labels = np.array([0, 0, 1, 2, 3, 3, 3, 3])
    q = np.array([[4.0, 3, 2, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 2, 3, 4]])
    h0 = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert interest_entropy(q, c, labels, k=4) == pytest.approx(h0 / 2)
    assert interest_entropy(q[1:], c, labels, k=4) == 0.0


def test_interest_entropy_matches_brute_force():
    rng = np.random.default_rng(2)
    q, c = rng.normal(size=(25, 5)), rng.normal(size=(70, 5))
    labels = rng.integers(0, 6, size=70)
    ref = []
    for row in brute_topk(q, c, 12):
        p = np.bincount(labels[row]) / 12
        p = p[p > 0]
        ref.append(-(p * np.log(p)).sum())
    assert interest_entropy(q, c, labels, k=12, chunk_size=4) == pytest.approx(np.mean(ref))
    with pytest.raises(ShapeError, match="item_labels"):
        interest_entropy(q, c, labels[:-1])
    with pytest.raises(GraphValidationError, match="item_labels"):
        interest_entropy(q, c, labels.astype(float))


def test_cosine_kurtosis_equals_scipy_on_the_same_pairs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 16)) * rng.uniform(0.5, 2, size=(300, 1))
    i, j = random_pairs(300, 5000, seed=5)
    assert np.all(i != j) and i.min() >= 0 and max(i.max(), j.max()) < 300
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = (xn[i] * xn[j]).sum(1)
    assert cosine_kurtosis(x, 5000, seed=5) == pytest.approx(kurtosis(cos), rel=1e-10)
    assert cosine_kurtosis(x.astype(np.float32), 5000, seed=5) == pytest.approx(
        kurtosis(cos), rel=1e-4
    )


def test_cosine_kurtosis_flags_hubness_and_total_collapse():
    rng = np.random.default_rng(4)
    spread = rng.normal(size=(400, 32))
    # hub structure: most rows near-orthogonal noise, a few tight clusters → heavy tails
    hubby = rng.normal(size=(400, 32))
    hubby[:40] = rng.normal(size=32) + 0.01 * rng.normal(size=(40, 32))
    assert abs(cosine_kurtosis(spread, 20_000)) < 0.5
    assert cosine_kurtosis(hubby, 20_000) > 3.0
    assert np.isnan(cosine_kurtosis(np.ones((5, 3)), 100))
    zero = spread.copy()
    zero[7] = 0.0
    with pytest.raises(GraphValidationError, match="row 7"):
        cosine_kurtosis(zero)
    with pytest.raises(ShapeError, match="2 rows"):
        cosine_kurtosis(spread[:1])


def test_topic_purity_hand_example_and_exclude_self():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 1, 1, 1])
    # with exclude_self: 0 -> 1 (label 1), 1 -> 0, 2 -> 3, 3 -> 2
    assert topic_purity(x, x, labels, labels, k=1, exclude_self=True) == 0.5
    # without: each row retrieves row 0, 0, 2, 2 first
    assert topic_purity(x, x, labels, labels, k=1) == 0.75
    assert topic_purity(x, x, labels, labels, k=2) == pytest.approx((1 + 1 + 2 + 2) / 8)
    with pytest.raises(ShapeError, match="exclude_self"):
        topic_purity(x[:3], x, labels[:3], labels, exclude_self=True)


def test_topic_purity_matches_brute_force():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 4))
    labels = rng.integers(0, 3, size=50)
    for exclude in (False, True):
        top = brute_topk(x, x, 6, exclude_self=exclude)
        ref = (labels[top] == labels[:, None]).mean()
        got = topic_purity(x, x, labels, labels, k=6, exclude_self=exclude, chunk_size=8)
        assert got == pytest.approx(ref)


def test_nan_embeddings_raise():
    x = np.ones((4, 2))
    x[2, 0] = np.nan
    with pytest.raises(GraphValidationError, match="queries: row 2"):
        p90_coverage(x, np.ones((4, 2)))
    with pytest.raises(GraphValidationError, match="x: row 2"):
        cosine_kurtosis(x)


def test_chunked_topk_exclude_self():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    np.testing.assert_array_equal(chunked_topk(x, x, 1, chunk_size=2)[:, 0], [0, 0, 2])
    np.testing.assert_array_equal(chunked_topk(x, x, 1, exclude_self=True)[:, 0], [1, 0, 1])
    with pytest.raises(ShapeError, match="exclude_self"):
        chunked_topk(x[:2], x, 1, exclude_self=True)
