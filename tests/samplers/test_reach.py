"""walk_reach: seeds outside the reach keep their neighbourhood exactly; the reach is tight."""

import numpy as np

from graphrep.graph.extend import EdgeRows, extend_graph
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.importance import ImportanceSampler
from graphrep.samplers.reach import walk_reach


def _graph(rng: np.random.Generator) -> HeteroGraph:
    """Two user-item communities joined by nothing, so a change in one cannot reach the other."""
    src, dst = [], []
    for base_u, base_i in ((0, 0), (20, 30)):
        for _ in range(60):
            src.append(base_u + rng.integers(0, 20))
            dst.append(base_i + rng.integers(0, 30))
    return HeteroGraph.from_edges({"user": 40, "item": 60}, {("user", "clicks", "item"): (src, dst)})


def _sample(g: HeteroGraph, seeds: np.ndarray, traversals: int):
    s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 5, "user": 3}, num_walks=40,
                          num_traversals=traversals, seed=3)
    return s, s.sample(seeds, step=7)


def test_seeds_outside_the_reach_keep_their_neighbourhoods():
    rng = np.random.default_rng(0)
    g = _graph(rng)
    ext = extend_graph(g, edges={"clicks": EdgeRows([2, 5], [7, 11])})  # inside community 0
    seeds = np.arange(60)
    for traversals in (1, 2):
        old_s, old = _sample(g, seeds, traversals)
        _, new = _sample(ext.graph, seeds, traversals)
        reach = walk_reach(old_s, ext.changed_rows)
        differ = np.zeros(60, dtype=bool)
        for t in old.ids:
            differ |= (old.ids[t] != new.ids[t]).any(1).numpy()
            differ |= (old.weights[t] != new.weights[t]).any(1).numpy()
        assert differ.any()  # the change matters
        assert set(np.flatnonzero(differ)) <= set(reach.tolist())
        assert (reach < 30).all()  # nothing of the other community
        # items 7 and 11 gained users: their rows of rev_clicks changed, so they are in it
        assert {7, 11} <= set(reach.tolist())


def test_reach_grows_with_traversals_by_the_exact_recursion():
    # a path item0 - u0 - item1 - u1 - item2: a change at u1's row is read by walks of
    # item2 and item1 at step 1 and, with 2 traversals, by item0 at step 3
    g = HeteroGraph.from_edges({"user": 3, "item": 4},
                               {("user", "clicks", "item"): ([0, 0, 1, 1], [0, 1, 1, 2])})
    changed = {("user", "clicks", "item"): np.array([1])}
    one = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 2}, num_traversals=1)
    two = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 2}, num_traversals=2)
    assert walk_reach(one, changed).tolist() == [1, 2]
    assert walk_reach(two, changed).tolist() == [0, 1, 2]
