import numba
import numpy as np

from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.lockstep import walk_block
from graphrep.samplers.metapath import MetaPath, pack_hops
from graphrep.samplers.transition import step
from graphrep.utils.rng import next_float, stream_state


@numba.njit(cache=True)
def _one_by_one(indptrs, indices, cws, weighted, step_rel, stop, path_of, starts, states, trace):
    """Reference: each walk on its own, with the same per-walk random stream."""
    for k in range(starts.shape[0]):
        v = starts[k]
        st = states[k]
        m = path_of[k]
        for s in range(trace.shape[1]):
            if v >= 0:
                r = step_rel[m, s]
                if stop[m, s] > 0.0:
                    st, u = next_float(st)
                    if u < stop[m, s]:
                        r = -1
                if r < 0:
                    v = -1
                else:
                    st, v = step(indptrs[r], indices[r], cws[r], weighted[r], v, st)
            trace[k, s] = v
        states[k] = st


def test_lock_step_walks_equal_walking_one_at_a_time():
    rng = np.random.default_rng(0)
    users, items = 30, 40
    u, i = rng.integers(0, users, 150), rng.integers(0, items, 150)
    w = rng.uniform(0, 2, 150) * (rng.random(150) > 0.2)  # some zero weights
    g = HeteroGraph.from_edges(
        {"user": users, "item": items},
        {("user", "clicks", "item"): {"src": u, "dst": i, "weight": w}},
    )
    a = MetaPath(g, ["rev_clicks", "clicks"], weight="weight")
    b = MetaPath(g, ["rev_clicks", "clicks", "rev_clicks", "clicks"])
    indptrs, indices, cws, weighted, hop_rel = pack_hops([a, b])
    S = 8
    step_rel = np.full((2, S), -1, np.int64)
    step_rel[0, :6] = np.tile(hop_rel[:2], 3)  # path a: 3 traversals, then ends
    step_rel[1, :] = np.tile(hop_rel[2:], 2)
    stop = np.zeros((2, S))
    stop[0, 2:6:2] = 0.3
    stop[1, 4] = 0.5
    stop[1, 1] = 0.1
    n = 70
    groups = np.array([0, 40, n], np.int64)
    path_of = np.repeat([0, 1], [40, 30]).astype(np.int64)
    starts = rng.integers(0, items, n).astype(np.int64)
    states = np.array([stream_state(3, 0, k) for k in range(n)], dtype=np.uint64)
    got = np.empty((n, S), np.int64)
    want = np.empty((n, S), np.int64)
    st_got, st_want = states.copy(), states.copy()
    walk_block(indptrs, indices, cws, weighted, step_rel, stop, groups, starts, st_got, got)
    _one_by_one(indptrs, indices, cws, weighted, step_rel, stop, path_of, starts, st_want, want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(st_got, st_want)
    assert (got[:40, 6:] == -1).all()  # path a has ended
    assert (got >= 0).sum() > n  # walks did move
