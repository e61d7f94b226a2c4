import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrep.errors import ConfigError, GraphValidationError, ShapeError
from graphrep.models.sketch import CountMinSketch, ExactLogQ, SketchLogQ


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 2**62), min_size=0, max_size=200),
    width=st.integers(1, 16),
    depth=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_never_underestimates(ids, width, depth, seed):
    sk = CountMinSketch(width, depth, seed)
    t = torch.tensor(ids, dtype=torch.long)
    sk.update(t)
    assert sk.total == len(ids)
    uniq, true = np.unique(np.array(ids, dtype=np.int64), return_counts=True)
    est = sk.estimate(torch.from_numpy(uniq)).numpy()
    assert (est >= true).all()
    assert (est <= len(ids)).all()


def test_exact_for_few_distinct_ids_in_a_wide_sketch():
    ids = torch.tensor([5, 2**31 - 1 + 5, 2 * (2**31 - 1) + 5, 2**40, 0, 7, 7, 7, 5])
    counts = torch.tensor([1, 2, 3, 4, 5, 1, 1, 1, 10])
    sk = CountMinSketch(2**14, 4, seed=3)
    sk.update(ids, counts)
    query = torch.tensor([[5, 2**31 + 4], [2**32 + 3, 2**40], [0, 7]])
    expected = torch.tensor([[11, 2], [3, 4], [5, 3]])
    assert torch.equal(sk.estimate(query), expected)  # shape kept
    assert sk.total == int(counts.sum())
    assert sk.estimate(torch.tensor([123456])).item() == 0


def test_error_bound_on_zipf_stream():
    eps, delta = 0.005, math.exp(-4)
    sk = CountMinSketch.from_error(eps, delta, seed=11)
    assert sk.width == math.ceil(math.e / eps) and sk.depth == 4
    rng = np.random.default_rng(0)
    n_items = 20000
    p = 1.0 / np.arange(1, n_items + 1) ** 1.1
    p /= p.sum()
    stream = rng.choice(n_items, size=200_000, p=p)
    for chunk in np.array_split(stream, 20):  # streaming, batch by batch
        sk.update(torch.from_numpy(chunk))
    true = np.bincount(stream, minlength=n_items)
    est = sk.estimate(torch.arange(n_items)).numpy()
    err = est - true
    assert (err >= 0).all()
    violations = (err > eps * len(stream)).mean()
    assert violations <= delta  # Pr[err > eps N] <= delta per item
    # each row alone: E[err_x] <= (N - n_x) / w for a universal hash; check the average
    one = CountMinSketch(sk.width, 1, seed=5)
    one.update(torch.from_numpy(stream))
    err1 = one.estimate(torch.arange(n_items)).numpy() - true
    bound = ((len(stream) - true) / one.width).mean()
    assert err1.mean() <= 1.1 * bound
    assert err1.mean() >= 0.7 * bound  # hashing actually spreads the ids (not a degenerate map)


def test_state_dict_roundtrip_merge_and_reset():
    a = CountMinSketch(64, 3, seed=1)
    a.update(torch.tensor([1, 2, 3, 3]))
    b = CountMinSketch(64, 3, seed=1)
    b.load_state_dict(a.state_dict())
    q = torch.arange(10)
    assert torch.equal(a.estimate(q), b.estimate(q)) and b.total == 4
    assert set(a.state_dict()) == {"coef", "offset", "table", "total_count"}
    c = CountMinSketch(64, 3, seed=1)
    c.update(torch.tensor([3, 9]))
    whole = CountMinSketch(64, 3, seed=1)
    whole.update(torch.tensor([1, 2, 3, 3, 3, 9]))
    a.merge_(c)
    assert torch.equal(a.table, whole.table) and a.total == 6
    with pytest.raises(ConfigError, match="share width, depth and seed"):
        a.merge_(CountMinSketch(64, 3, seed=2))
    a.reset_parameters()
    assert a.total == 0 and int(a.estimate(q).sum()) == 0
    # same seed, same hash functions; different seed, different ones
    assert torch.equal(CountMinSketch(64, 3, 1).coef, CountMinSketch(64, 3, 1).coef)
    assert not torch.equal(CountMinSketch(64, 3, 1).coef, CountMinSketch(64, 3, 2).coef)


def test_sketch_errors():
    sk = CountMinSketch(8, 2)
    with pytest.raises(ShapeError, match="integer"):
        sk.update(torch.tensor([1.0, 2.0]))
    with pytest.raises(GraphValidationError, match=">= 0"):
        sk.update(torch.tensor([-1]))
    with pytest.raises(ShapeError, match="one per id"):
        sk.update(torch.tensor([1, 2]), torch.tensor([1]))
    with pytest.raises(GraphValidationError, match="counts must be >= 0"):
        sk.update(torch.tensor([1]), torch.tensor([-2]))
    with pytest.raises(ShapeError, match="torch tensor"):
        sk.estimate([1, 2])
    for bad in (dict(width=0), dict(depth=1.5), dict(seed=-1)):
        with pytest.raises(ConfigError):
            CountMinSketch(**{"width": 8, "depth": 2, **bad})


def test_exact_logq_matches_counts():
    est = ExactLogQ(6, counts=torch.tensor([0, 1, 0, 0, 0, 0]))
    batches = [torch.tensor([0, 0, 3]), torch.tensor([[3, 5], [0, 0]])]
    for b in batches:
        est.update(b)
    counts = np.array([4, 1, 0, 2, 0, 1])
    assert est.total == counts.sum()
    ids = torch.tensor([[0, 1], [3, 5]])
    expected = np.log(counts[ids.numpy()] / counts.sum())
    np.testing.assert_allclose(est.log_q(ids).numpy(), expected, rtol=1e-6)
    assert est(torch.tensor([2])).item() == pytest.approx(math.log(1 / 8))  # floored at one count
    with pytest.raises(GraphValidationError, match="num_items=6"):
        est.update(torch.tensor([6]))
    with pytest.raises(ShapeError):
        ExactLogQ(6, counts=torch.ones(5, dtype=torch.long))
    est.reset_parameters()
    assert est.total == 0


def test_sketch_logq_agrees_with_exact_on_small_streams():
    exact, sketch = ExactLogQ(100), SketchLogQ(2**12, 4, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        batch = torch.from_numpy(rng.integers(0, 30, size=64))
        exact.update(batch)
        sketch.update(batch)
        ids = torch.arange(30)
        torch.testing.assert_close(sketch.log_q(ids), exact.log_q(ids))
    assert sketch.total == exact.total == 320
    # with a narrow sketch, estimates (and so log q) can only be too high
    narrow, exact2 = SketchLogQ(4, 2), ExactLogQ(30)
    stream = torch.from_numpy(rng.integers(0, 30, size=500))
    narrow.update(stream)
    exact2.update(stream)
    ids = torch.arange(30)
    assert (narrow.log_q(ids) >= exact2.log_q(ids) - 1e-6).all()
    assert (narrow.log_q(ids) > exact2.log_q(ids) + 1e-3).any()
