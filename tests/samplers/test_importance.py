import threading

import numba
import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.importance import (
    ImportanceSampler,
    Neighborhood,
    _importance_kernel,
    importance_neighbors,
)


def _chain_graph() -> HeteroGraph:
    """Out-degree-1 relations, so visit counts are exact: next i->i+1, skip i->i+2,
    has pin i -> tag i%3, self i->i, back 0<->1; pin 8 is isolated."""
    i = np.arange(8)
    return HeteroGraph.from_edges(
        {"pin": 9, "tag": 3},
        {
            ("pin", "next", "pin"): (i[:7], i[:7] + 1),
            ("pin", "skip", "pin"): (i[:6], i[:6] + 2),
            ("pin", "has", "tag"): (i, i % 3),
            ("pin", "self", "pin"): (i, i),
            ("pin", "back", "pin"): ([0, 1], [1, 0]),
        },
    )


def _random_bipartite(seed: int = 0) -> HeteroGraph:
    rng = np.random.default_rng(seed)
    users, items = 5, 7
    u = np.concatenate([np.arange(users), rng.integers(0, users, 12), rng.integers(0, users, items)])
    i = np.concatenate([rng.integers(0, items, users), rng.integers(0, items, 12), np.arange(items)])
    return HeteroGraph.from_edges({"user": users, "item": items}, {("user", "clicks", "item"): (u, i)})


def _transition(csr) -> np.ndarray:
    m = np.zeros((csr.num_src, csr.num_dst))
    np.add.at(m, (csr.row_ids(), csr.indices), 1.0)
    return m / m.sum(axis=1, keepdims=True)


def _exact_ppr(P: np.ndarray, seed: int, r: float) -> np.ndarray:
    """pi = r * sum_t (1-r)^t e_s P^t by power iteration."""
    x = np.zeros(P.shape[0])
    x[seed] = 1.0
    pi = r * x
    for _ in range(400):
        x = (1 - r) * x @ P
        pi += r * x
    return pi


def test_exact_counts_top_k_ties_and_merged_paths():
    g = _chain_graph()
    # W=4: walks 0, 2 follow next (visit 1, 2), walks 1, 3 follow skip (visit 2, 4)
    s = ImportanceSampler(g, [["next"], ["skip"]], {"pin": 2}, num_walks=4, num_traversals=2,
                          restart_prob=0.0)
    nb = s.sample([0], step=0)
    assert nb.ids["pin"].tolist() == [[2, 1]]  # 2 (4 visits), then the tie 1 vs 4 -> 1
    np.testing.assert_allclose(nb.weights["pin"].numpy(), [[4 / 6, 2 / 6]], rtol=1e-6)
    big = ImportanceSampler(g, [["next"], ["skip"]], {"pin": 4}, num_walks=4, num_traversals=2,
                            restart_prob=0.0).sample([0], step=0)
    assert big.ids["pin"].tolist() == [[2, 1, 4, 0]]
    np.testing.assert_allclose(big.weights["pin"].numpy(), [[0.5, 0.25, 0.25, 0.0]])
    assert big.mask["pin"].tolist() == [[True, True, True, False]]


def test_paths_of_different_lengths():
    g = _chain_graph()
    # walks 0, 2: next 0->1->2; walks 1, 3: skip-next 0->2->3 then 3->5->6
    s = ImportanceSampler(g, [["next"], ["skip", "next"]], {"pin": 3}, num_walks=4,
                          num_traversals=2, restart_prob=0.0)
    nb = s.sample([0], step=0)
    assert nb.ids["pin"].tolist() == [[2, 1, 3]]  # counts 2:4, then 1, 3, 5, 6 tie at 2
    np.testing.assert_allclose(nb.weights["pin"].numpy(), [[0.5, 0.25, 0.25]])


def test_many_walks_in_sub_blocks_count_exactly():
    g = _chain_graph()
    # 300 walks > one block: 150 per path, counts 1:150, 2:300, 4:150
    s = ImportanceSampler(g, [["next"], ["skip"]], {"pin": 3}, num_walks=300, num_traversals=2,
                          restart_prob=0.0)
    nb = s.sample([0, 2], step=0)
    assert nb.ids["pin"].tolist() == [[2, 1, 4], [4, 3, 6]]
    np.testing.assert_allclose(nb.weights["pin"].numpy(), [[0.5, 0.25, 0.25]] * 2)


def test_quotas_per_type_dead_ends_and_isolated_seeds():
    g = _chain_graph()
    s = ImportanceSampler(g, [["next"], ["has"]], {"pin": 2, "tag": 1}, num_walks=6,
                          num_traversals=1)
    nb = s.sample([0, 7, 8], step=0)
    assert set(nb.node_types) == {"pin", "tag"} and len(nb) == 3
    assert nb.ids["pin"].shape == (3, 2) and nb.ids["tag"].shape == (3, 1)
    assert nb.ids["pin"].dtype == torch.int64 and nb.weights["pin"].dtype == torch.float32
    assert nb.mask["tag"].dtype == torch.bool
    # seed 0: pin 1 (3 visits), tag 0; seed 7: next is a dead end, tag 1; seed 8 isolated
    assert nb.ids["pin"].tolist() == [[1, 0], [0, 0], [0, 0]]
    assert nb.mask["pin"].tolist() == [[True, False], [False, False], [False, False]]
    assert nb.ids["tag"].tolist() == [[0], [1], [0]]
    assert nb.mask["tag"].tolist() == [[True], [True], [False]]
    np.testing.assert_array_equal(nb.weights["pin"].numpy(), [[1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(nb.counts("tag").numpy(), [1, 1, 0])


def test_seed_itself_is_never_a_neighbor():
    g = _chain_graph()
    nb = ImportanceSampler(g, ["back"], {"pin": 2}, num_walks=2, num_traversals=3,
                           restart_prob=0.0).sample([0], step=0)
    assert nb.ids["pin"].tolist() == [[1, 0]] and nb.mask["pin"].tolist() == [[True, False]]
    loops = ImportanceSampler(g, ["self"], {"pin": 3}, num_walks=5, num_traversals=3)
    assert not loops.sample([0, 3], step=0).mask["pin"].any()  # self-loops only revisit the seed


def test_weights_converge_to_personalized_pagerank():
    g = _random_bipartite()
    r = 0.3
    Piu, Pui = _transition(g.csr("rev_clicks")), _transition(g.csr("clicks"))
    s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 7, "user": 5}, num_walks=60000,
                          num_traversals=60, restart_prob=r)
    seeds = [0, 3]
    nb = s.sample(seeds, step=0)
    for b, seed in enumerate(seeds):
        pi = _exact_ppr(Piu @ Pui, seed, r)
        want_items = pi.copy()
        want_items[seed] = 0.0  # the seed is excluded, the rest renormalised
        want_items /= want_items.sum()
        want_users = pi @ Piu
        want_users /= want_users.sum()
        for t, want in (("item", want_items), ("user", want_users)):
            got = np.zeros(len(want))
            m = nb.mask[t][b].numpy()
            got[nb.ids[t][b].numpy()[m]] = nb.weights[t][b].numpy()[m]
            np.testing.assert_allclose(got, want, atol=0.006)  # ~5 standard errors
            assert np.all(np.diff(nb.weights[t][b].numpy()[m]) <= 0)  # sorted by importance


def test_weighted_walks_never_take_zero_weight_edges():
    g = HeteroGraph.from_edges(
        {"user": 2, "item": 3},
        {("user", "clicks", "item"): {"src": [0, 0, 0, 1], "dst": [0, 1, 2, 2],
                                      "weight": [1.0, 1.0, 0.0, 5.0]}},
    )
    s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3}, num_walks=500,
                          num_traversals=1, weight="weight")
    nb = s.sample([0], step=0)
    assert nb.ids["item"][0][nb.mask["item"][0]].tolist() == [1]  # item 2 via weight 0: never
    un = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3}, num_walks=500, num_traversals=1)
    assert sorted(un.sample([0], step=0).ids["item"][0][:2].tolist()) == [1, 2]


def test_determinism_batch_independence_and_thread_counts():
    g = _random_bipartite(1)
    for walks in (10, 300):  # several seeds per block, and sub-blocks of one seed
        s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3, "user": 2}, num_walks=walks,
                              num_traversals=2, restart_prob=0.5, seed=3)
        seeds = np.array([0, 1, 2, 3, 4, 5, 6, 0, 2] * 5)
        a = s.sample(seeds, step=1)
        b = s.sample(seeds, step=1)
        single = s.sample(seeds[3:4], step=1)
        before = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            one = s.sample(seeds, step=1)
        finally:
            numba.set_num_threads(before)
        for t in ("item", "user"):
            for other in (b, one):
                assert torch.equal(a.ids[t], other.ids[t]) and torch.equal(a.weights[t], other.weights[t])
            assert torch.equal(a.ids[t][0], a.ids[t][7])  # same node -> same row
            assert torch.equal(a.weights[t][3], single.weights[t][0])  # independent of the batch
    # another step (or seed) draws other walks: weights differ somewhere
    s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3}, num_walks=20, seed=3)
    w1, w2 = s.sample(np.arange(7)).weights["item"], s.sample(np.arange(7)).weights["item"]
    assert not torch.equal(w1, w2)
    s2 = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3}, num_walks=20, seed=4)
    assert not torch.equal(w1, s2.sample(np.arange(7), step=0).weights["item"])
    assert torch.equal(w1, ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 3},
                                             num_walks=20, seed=3).sample(np.arange(7)).weights["item"])


def test_kernel_releases_the_gil_and_concurrent_calls_agree():
    assert _importance_kernel.targetoptions["nogil"]
    g = _random_bipartite(2)
    s = ImportanceSampler(g, ["rev_clicks", "clicks"], {"item": 4}, num_walks=50)
    seeds = np.tile(np.arange(7), 50)
    ref = s.sample(seeds, step=5)
    out: list[Neighborhood | None] = [None] * 4

    def work(i: int) -> None:
        out[i] = s.sample(seeds, step=5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for nb in out:
        assert nb is not None and torch.equal(nb.ids["item"], ref.ids["item"])


def test_functional_form_and_empty_batch():
    g = _chain_graph()
    nb = importance_neighbors(g, [0], [["next"], ["skip"]], {"pin": 2}, num_walks=4,
                              restart_prob=0.0)
    assert nb.ids["pin"].tolist() == [[2, 1]]
    empty = importance_neighbors(g, np.zeros(0, np.int64), ["next"], {"pin": 2})
    assert empty.ids["pin"].shape == (0, 2) and empty.mask["pin"].shape == (0, 2)
    moved = nb.to("cpu")
    assert torch.equal(moved.ids["pin"], nb.ids["pin"])


def test_bad_arguments_raise_clear_errors():
    g = _chain_graph()
    with pytest.raises(SchemaError, match="'follows'"):
        ImportanceSampler(g, ["follows"], {"pin": 2})
    with pytest.raises(ConfigError, match=r"quotas\['pin'\] must be >= 1"):
        ImportanceSampler(g, ["next"], {"pin": 0})
    with pytest.raises(ConfigError, match="num_walks"):
        ImportanceSampler(g, ["next"], {"pin": 2}, num_walks=0)
    with pytest.raises(ConfigError, match="restart_prob"):
        ImportanceSampler(g, ["next"], {"pin": 2}, restart_prob=1.0)
    with pytest.raises(ConfigError, match="restart_prob"):
        ImportanceSampler(g, ["next"], {"pin": 2}, restart_prob=-0.5)
    with pytest.raises(ConfigError, match="no meta-path visits node type 'tag'"):
        ImportanceSampler(g, ["next"], {"tag": 2})
    with pytest.raises(SchemaError, match="unknown node type 'board'"):
        ImportanceSampler(g, ["next"], {"board": 2})
    with pytest.raises(ConfigError, match="cyclic"):
        ImportanceSampler(g, ["has"], {"tag": 2}, num_traversals=2)
    with pytest.raises(ConfigError, match="quotas"):
        ImportanceSampler(g, ["next"], {})
    s = ImportanceSampler(g, ["next"], {"pin": 2})
    with pytest.raises(GraphValidationError, match=r"node type 'pin'.*out of range"):
        s.sample([9])
    with pytest.raises(GraphValidationError, match="integer"):
        s.sample(["a"])
    with pytest.raises(ConfigError, match="step"):
        s.sample([0], step=-1)
