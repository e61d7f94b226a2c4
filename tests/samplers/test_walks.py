import threading
from collections import Counter

import numba
import numpy as np
import pytest
from scipy import stats

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.metapath import MetaPath
from graphrep.samplers.walks import _walk_kernel, random_walk, stop_probabilities


def _bipartite(weight: bool = False) -> HeteroGraph:
    # users 0..3, items 0..3; user 3 and item 3 are isolated
    src = [0, 0, 1, 1, 1, 2, 2]
    dst = [0, 1, 0, 1, 2, 2, 2]  # user 2 clicked item 2 twice (parallel edge)
    spec = {"src": src, "dst": dst}
    if weight:
        spec["weight"] = [1.0, 3.0, 2.0, 0.0, 2.0, 1.0, 4.0]
    return HeteroGraph.from_edges({"user": 4, "item": 4}, {("user", "clicks", "item"): spec})


def _links() -> HeteroGraph:
    # homogeneous: self-loops (0->0, 2->2), a parallel edge (0->1 twice), dead end 3
    src = [0, 0, 0, 1, 1, 2, 2]
    dst = [0, 1, 1, 2, 3, 0, 2]
    return HeteroGraph.from_edges({"n": 4}, {("n", "link", "n"): (src, dst)})


def _transition_probs(csr, weight: str | None = None) -> dict[tuple[int, int], float]:
    """Exact P(v -> x) of a relation, parallel edges summed."""
    probs: dict[tuple[int, int], float] = {}
    for v in range(csr.num_src):
        lo, hi = csr.indptr[v], csr.indptr[v + 1]
        w = np.ones(hi - lo) if weight is None else csr.edge_data[weight][lo:hi].astype(float)
        if hi == lo or w.sum() == 0:
            continue
        for x, wx in zip(csr.indices[lo:hi], w, strict=True):
            if wx > 0:
                probs[(v, int(x))] = probs.get((v, int(x)), 0.0) + wx / w.sum()
    return probs


def _chi2_transitions(traces: np.ndarray, mp: MetaPath, weight: str | None = None) -> float:
    """Pooled chi-square p-value of observed transitions against the relations' probabilities."""
    stat, dof = 0.0, 0
    for h in range(mp.num_hops):
        probs = _transition_probs(mp.csrs[h], weight)
        cols = range(h, traces.shape[1] - 1, mp.num_hops)
        pairs = Counter()
        for c in cols:
            ok = traces[:, c + 1] >= 0
            pairs.update(zip(traces[ok, c].tolist(), traces[ok, c + 1].tolist(), strict=True))
        for (v, x), _n in pairs.items():
            assert (v, x) in probs, f"walk took a non-edge or zero-weight edge {v}->{x} at hop {h}"
        for v in {v for v, _ in probs}:
            targets = [x for (u, x) in probs if u == v]
            observed = np.array([pairs.get((v, x), 0) for x in targets], dtype=float)
            if observed.sum() == 0 or len(targets) < 2:
                continue
            expected = observed.sum() * np.array([probs[(v, x)] for x in targets])
            stat += float(((observed - expected) ** 2 / expected).sum())
            dof += len(targets) - 1
    return float(stats.chi2.sf(stat, dof))


def test_traces_follow_the_meta_path_types_and_edges():
    g = _bipartite()
    mp = MetaPath(g, ["rev_clicks", "clicks"])
    tr = random_walk(g, [0, 1, 2, 2], mp, num_traversals=3, seed=1)
    assert tr.shape == (4, 7) and tr.dtype == np.int64
    np.testing.assert_array_equal(tr[:, 0], [0, 1, 2, 2])
    for row in tr:
        for j in range(6):
            if row[j + 1] < 0:
                assert (row[j + 1 :] == -1).all()
                break
            assert row[j + 1] in mp.csrs[j % 2].neighbors(row[j])  # a real edge of hop j


def test_transition_frequencies_match_uniform_probabilities():
    g = _bipartite()
    mp = MetaPath(g, ["rev_clicks", "clicks"])
    starts = np.tile(np.arange(3), 4000)
    tr = random_walk(g, starts, mp, num_traversals=3, seed=3)
    assert _chi2_transitions(tr, mp) > 1e-3


def test_weighted_transitions_match_edge_weights_and_skip_zero_weights():
    g = _bipartite(weight=True)
    mp = MetaPath(g, ["rev_clicks", "clicks"], weight="weight")
    tr = random_walk(g, np.tile(np.arange(3), 4000), mp, num_traversals=3, seed=5)
    assert _chi2_transitions(tr, mp, weight="weight") > 1e-3
    # user 1 -> item 1 has weight 0: never taken
    for c in range(1, tr.shape[1] - 1, 2):
        assert not ((tr[:, c] == 1) & (tr[:, c + 1] == 1)).any()
    # the unweighted walk does take it
    tr_u = random_walk(g, np.tile(np.arange(3), 2000), ["rev_clicks", "clicks"], num_traversals=3)
    assert ((tr_u[:, 1] == 1) & (tr_u[:, 2] == 1)).any()


def test_self_loops_parallel_edges_and_dead_ends():
    g = _links()
    mp = MetaPath(g, ["link"])
    tr = random_walk(g, np.tile([0, 1, 2, 3], 3000), mp, num_traversals=6, seed=7)
    assert _chi2_transitions(tr, mp) > 1e-3
    dead = tr[3::4]  # walks from the dead end 3 stop at once
    assert (dead[:, 0] == 3).all() and (dead[:, 1:] == -1).all()
    for row in tr:  # reaching 3 ends the walk
        hit = np.flatnonzero(row == 3)
        if len(hit):
            assert (row[hit[0] + 1 :] == -1).all()
    # P(0 -> 1) = 2/3 via the parallel edge, P(0 -> 0) = 1/3 via the self-loop
    first = tr[0::4, 1]
    assert abs((first == 1).mean() - 2 / 3) < 4 * np.sqrt(2 / 9 / len(first))


def test_isolated_start_gives_padded_row():
    g = _bipartite()
    tr = random_walk(g, [3], ["rev_clicks", "clicks"], num_traversals=2)
    np.testing.assert_array_equal(tr, [[3, -1, -1, -1, -1]])


def test_restart_after_each_traversal_has_geometric_lengths():
    # every node has an edge, so walks only end by restart (after whole traversals)
    g = HeteroGraph.from_edges(
        {"user": 3, "item": 3}, {("user", "clicks", "item"): ([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])}
    )
    r, n, T = 0.3, 20000, 4
    tr = random_walk(g, np.zeros(n, np.int64), ["rev_clicks", "clicks"], num_traversals=T,
                     restart_prob=r, seed=11)
    length = (tr >= 0).sum(axis=1) - 1
    assert set(np.unique(length)) <= {2, 4, 6, 8}  # walks end on the path's end type
    for t in range(1, T + 1):
        frac = (length >= 2 * t).mean()
        expect = (1 - r) ** (t - 1)
        assert abs(frac - expect) < 4 * np.sqrt(expect * (1 - expect) / n) + 1e-9


def test_per_step_restart_probabilities():
    g = HeteroGraph.from_edges(
        {"user": 2, "item": 2}, {("user", "clicks", "item"): ([0, 1, 1], [0, 0, 1])}
    )
    n = 20000
    tr = random_walk(g, np.zeros(n, np.int64), ["rev_clicks", "clicks"], num_traversals=2,
                     restart_prob=[0.0, 0.5, 0.0, 0.0], seed=2)
    stopped = (tr[:, 1] >= 0) & (tr[:, 2] < 0)
    assert (tr[:, 1] >= 0).all()
    assert abs(stopped.mean() - 0.5) < 4 * np.sqrt(0.25 / n)
    np.testing.assert_array_equal(stop_probabilities(0.25, 2, 3), [0, 0, 0.25, 0, 0.25, 0])


def test_same_seed_same_traces_and_thread_count_invariance():
    g = _bipartite()
    starts = np.tile(np.arange(3), 300)
    a = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=3, restart_prob=0.2, seed=9)
    b = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=3, restart_prob=0.2, seed=9)
    c = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=3, restart_prob=0.2, seed=10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=3, restart_prob=0.2,
                          seed=9)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, one)


def test_kernel_releases_the_gil_and_is_thread_safe():
    assert _walk_kernel.targetoptions["nogil"] and _walk_kernel.targetoptions["parallel"]
    g = _bipartite()
    starts = np.tile(np.arange(3), 2000)
    ref = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=4, seed=4)
    results: list[np.ndarray] = [None] * 4  # type: ignore[list-item]

    def work(i: int) -> None:
        results[i] = random_walk(g, starts, ["rev_clicks", "clicks"], num_traversals=4, seed=4)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, ref)


def test_empty_starts_and_bad_arguments():
    g = _bipartite()
    assert random_walk(g, np.zeros(0, np.int64), ["rev_clicks", "clicks"], num_traversals=2).shape == (0, 5)
    with pytest.raises(SchemaError, match="nope"):
        random_walk(g, [0], ["rev_clicks", "nope"])
    with pytest.raises(ConfigError, match="restart_prob"):
        random_walk(g, [0], ["rev_clicks", "clicks"], restart_prob=1.0)
    with pytest.raises(ConfigError, match="restart_prob"):
        random_walk(g, [0], ["rev_clicks", "clicks"], restart_prob=-0.1)
    with pytest.raises(ConfigError, match="per step"):
        random_walk(g, [0], ["rev_clicks", "clicks"], restart_prob=[0.1, 0.2, 0.3])
    with pytest.raises(ConfigError, match="num_traversals"):
        random_walk(g, [0], ["rev_clicks", "clicks"], num_traversals=0)
    with pytest.raises(ConfigError, match="cyclic"):
        random_walk(g, [0], ["rev_clicks"], num_traversals=2)
    with pytest.raises(GraphValidationError, match=r"node type 'item'.*out of range"):
        random_walk(g, [4], ["rev_clicks", "clicks"])
    with pytest.raises(GraphValidationError, match="integer"):
        random_walk(g, [0.5], ["rev_clicks", "clicks"])
    with pytest.raises(ConfigError, match="seed"):
        random_walk(g, [0], ["rev_clicks", "clicks"], seed=-1)
    with pytest.raises(ConfigError, match="seed must be < 2"):
        random_walk(g, [0], ["rev_clicks", "clicks"], seed=2**63)
