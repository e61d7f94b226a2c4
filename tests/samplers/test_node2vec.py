import itertools
from collections import Counter

import numba
import numpy as np
import pytest
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.homogeneous import homogeneous_csr, type_offsets
from graphrep.samplers.node2vec import _node2vec_kernel, node2vec_walk


def _undirected(edges: list[tuple[int, int]], n: int, weights: list[float] | None = None) -> CSR:
    src = [a for a, b in edges] + [b for a, b in edges]
    dst = [b for a, b in edges] + [a for a, b in edges]
    data = None if weights is None else {"weight": np.array(weights * 2, dtype=float)}
    return CSR.from_coo(np.array(src), np.array(dst), n, n, data)


def _edge_weight(csr: CSR, v: int, x: int, weight: str | None) -> float:
    lo, hi = csr.indptr[v], csr.indptr[v + 1]
    hit = csr.indices[lo:hi] == x
    return float(hit.sum()) if weight is None else float(csr.edge_data[weight][lo:hi][hit].sum())


def _chi2_second_order(tr: np.ndarray, csr: CSR, p: float, q: float, weight=None) -> float:
    """Pooled chi-square p-value of x | (t, v) against the analytic node2vec law."""
    triples = Counter()
    for j in range(1, tr.shape[1] - 1):
        ok = tr[:, j + 1] >= 0
        triples.update(zip(tr[ok, j - 1].tolist(), tr[ok, j].tolist(), tr[ok, j + 1].tolist(),
                           strict=True))
    groups: dict[tuple[int, int], Counter] = {}
    for (t, v, x), n in triples.items():
        groups.setdefault((t, v), Counter())[x] = n
    stat, dof = 0.0, 0
    for (t, v), obs in groups.items():
        nbrs = sorted(set(csr.neighbors(v).tolist()))
        t_nbrs = set(csr.neighbors(t).tolist())
        assert set(obs) <= set(nbrs), f"walk left {v} by a non-edge"
        w = np.array([
            _edge_weight(csr, v, x, weight) * (1 / p if x == t else 1.0 if x in t_nbrs else 1 / q)
            for x in nbrs
        ])
        if len(nbrs) < 2:
            continue
        observed = np.array([obs.get(x, 0) for x in nbrs], dtype=float)
        expected = observed.sum() * w / w.sum()
        stat += float(((observed - expected) ** 2 / expected).sum())
        dof += len(nbrs) - 1
    return float(stats.chi2.sf(stat, dof))


GRAPH = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (1, 3), (4, 5)]


@pytest.mark.parametrize(("p", "q"), [(0.5, 2.0), (4.0, 0.25), (1.0, 1.0)])
def test_second_order_transitions_match_node2vec_probabilities(p, q):
    csr = _undirected(GRAPH, 6)
    tr = node2vec_walk(csr, np.tile(np.arange(6), 1500), 8, p=p, q=q, seed=0)
    assert _chi2_second_order(tr, csr, p, q) > 1e-3


def test_test_detects_wrong_parameters():
    csr = _undirected(GRAPH, 6)
    tr = node2vec_walk(csr, np.tile(np.arange(6), 1500), 8, p=0.25, q=4.0, seed=1)
    assert _chi2_second_order(tr, csr, 1.0, 1.0) < 1e-6


def test_exact_fallback_after_many_rejections():
    # on a path graph every step either returns (1/p) or moves on (1/q): acceptance
    # <= 1/20 per proposal, so ~10% of steps hit the exact fallback
    csr = _undirected([(i, i + 1) for i in range(5)], 6)
    p, q = 50.0, 20.0
    tr = node2vec_walk(csr, np.tile(np.arange(6), 1500), 8, p=p, q=q, seed=2)
    assert _chi2_second_order(tr, csr, p, q) > 1e-3


def test_weighted_second_order_and_first_step():
    csr = _undirected(GRAPH, 6, weights=[1.0, 3.0, 0.5, 2.0, 1.0, 4.0, 1.0])
    p, q = 2.0, 0.5
    tr = node2vec_walk(csr, np.tile(np.arange(6), 1500), 6, p=p, q=q, weight="weight", seed=3)
    assert _chi2_second_order(tr, csr, p, q, weight="weight") > 1e-3
    first = tr[tr[:, 0] == 0, 1]  # first step is first-order: P(0->1) = 1/4, P(0->2) = 3/4
    assert abs((first == 2).mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / len(first))


def test_dead_ends_pad_and_directed_rows():
    csr = CSR.from_coo(np.array([0, 1, 3]), np.array([1, 2, 3]), 4, 4)
    tr = node2vec_walk(csr, [0, 2, 3], 4, p=0.5, q=2.0)
    np.testing.assert_array_equal(tr, [[0, 1, 2, -1, -1], [2, -1, -1, -1, -1], [3, 3, 3, 3, 3]])


def test_heterograph_view_uses_global_ids():
    g = HeteroGraph.from_edges(
        {"user": 2, "item": 3}, {("user", "clicks", "item"): ([0, 0, 1], [0, 1, 2])}
    )
    offsets = type_offsets(g)
    assert offsets == {"user": 0, "item": 2}
    csr, off = homogeneous_csr(g)
    assert off == offsets and csr.num_src == csr.num_dst == 5
    src, dst = csr.to_coo()
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == {
        (0, 2), (0, 3), (1, 4), (2, 0), (3, 0), (4, 1)
    }
    tr = node2vec_walk(g, [0, 1, 4], 5, p=2.0, q=0.5, seed=4)
    for row in tr:
        for a, b in itertools.pairwise(row):
            assert b in csr.neighbors(a)
    one_way, _ = homogeneous_csr(g, ["clicks"])
    assert one_way.num_edges == 3
    with pytest.raises(SchemaError, match="no edge array 'weight'"):
        homogeneous_csr(g, weight="weight")


def test_deterministic_and_thread_count_invariant():
    csr = _undirected(GRAPH, 6)
    starts = np.tile(np.arange(6), 100)
    a = node2vec_walk(csr, starts, 10, p=0.5, q=2.0, seed=7)
    assert np.array_equal(a, node2vec_walk(csr, starts, 10, p=0.5, q=2.0, seed=7))
    assert not np.array_equal(a, node2vec_walk(csr, starts, 10, p=0.5, q=2.0, seed=8))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = node2vec_walk(csr, starts, 10, p=0.5, q=2.0, seed=7)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, one)
    assert _node2vec_kernel.targetoptions["nogil"]


def test_bad_arguments():
    csr = _undirected(GRAPH, 6)
    with pytest.raises(GraphValidationError, match="square"):
        node2vec_walk(CSR.from_coo(np.array([0]), np.array([1]), 1, 2), [0], 3)
    with pytest.raises(ConfigError, match="p must be"):
        node2vec_walk(csr, [0], 3, p=0.0)
    with pytest.raises(ConfigError, match="q must be"):
        node2vec_walk(csr, [0], 3, q=-1.0)
    with pytest.raises(ConfigError, match="walk_length"):
        node2vec_walk(csr, [0], -1)
    with pytest.raises(GraphValidationError, match="out of range"):
        node2vec_walk(csr, [6], 3)
    with pytest.raises(ConfigError, match="HeteroGraph or CSR"):
        node2vec_walk(np.zeros((3, 3)), [0], 3)
    assert node2vec_walk(csr, np.zeros(0, np.int64), 3).shape == (0, 4)
