import threading

import numba
import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, GraphValidationError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.samplers.ppr import _ppr_kernel, ppr_push


def _random_bipartite(seed: int = 0, weight: bool = False) -> HeteroGraph:
    rng = np.random.default_rng(seed)
    users, items = 5, 7
    u = np.concatenate([np.arange(users), rng.integers(0, users, 12), rng.integers(0, users, items)])
    i = np.concatenate([rng.integers(0, items, users), rng.integers(0, items, 12), np.arange(items)])
    spec = {"src": u, "dst": i}
    if weight:
        spec["weight"] = rng.uniform(0.1, 3.0, len(u))
    return HeteroGraph.from_edges({"user": users, "item": items}, {("user", "clicks", "item"): spec})


def _transition(csr, weight: str | None = None) -> np.ndarray:
    m = np.zeros((csr.num_src, csr.num_dst))
    w = np.ones(csr.num_edges) if weight is None else csr.edge_data[weight]
    np.add.at(m, (csr.row_ids(), csr.indices), w)
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-300)


def _exact_ppr(P: np.ndarray, seed: int, r: float) -> np.ndarray:
    x = np.zeros(P.shape[0])
    x[seed] = 1.0
    pi = r * x
    for _ in range(500):
        x = (1 - r) * x @ P
        pi += r * x
    return pi


def _dense_weights(nb, t: str, b: int, n: int) -> np.ndarray:
    got = np.zeros(n)
    m = nb.mask[t][b].numpy()
    got[nb.ids[t][b].numpy()[m]] = nb.weights[t][b].numpy()[m]
    return got


@pytest.mark.parametrize("weight", [None, "weight"])
def test_push_matches_power_iteration(weight):
    g = _random_bipartite(weight=weight is not None)
    r = 0.3
    Piu = _transition(g.csr("rev_clicks"), weight)
    Pui = _transition(g.csr("clicks"), weight)
    seeds = np.arange(7)
    nb = ppr_push(g, seeds, ["rev_clicks", "clicks"], restart=r, eps=1e-10,
                  top_k={"item": 7, "user": 5}, weight=weight)
    for b, seed in enumerate(seeds):
        pi = _exact_ppr(Piu @ Pui, seed, r)
        items = pi.copy()
        items[seed] = 0.0
        users = pi @ Piu  # expected visits of the intermediate type
        np.testing.assert_allclose(_dense_weights(nb, "item", b, 7), items / items.sum(), atol=1e-6)
        np.testing.assert_allclose(_dense_weights(nb, "user", b, 5), users / users.sum(), atol=1e-6)


def test_error_shrinks_with_eps():
    g = _random_bipartite(3)
    r = 0.2
    pi = _exact_ppr(_transition(g.csr("rev_clicks")) @ _transition(g.csr("clicks")), 2, r)
    pi[2] = 0.0
    pi /= pi.sum()
    errs = []
    for eps in (1e-2, 1e-4, 1e-8):
        nb = ppr_push(g, [2], ["rev_clicks", "clicks"], restart=r, eps=eps, top_k=7)
        errs.append(np.abs(_dense_weights(nb, "item", 0, 7) - pi).max())
    assert errs[0] > errs[2] and errs[1] > errs[2] and errs[2] < 1e-5


def test_type_at_several_positions_adds_up_visits():
    # pin -> board -> pin -> user -> pin: pins are visited at positions 0 and 2
    g = HeteroGraph.from_edges(
        {"pin": 5, "board": 2, "user": 2},
        {
            ("pin", "saved_to", "board"): ([0, 1, 2, 3, 4, 1], [0, 0, 1, 1, 1, 1]),
            ("user", "engaged", "pin"): ([0, 0, 1, 1, 1], [0, 3, 1, 2, 4]),
        },
    )
    path = ["saved_to", "rev_saved_to", "rev_engaged", "engaged"]
    hops = [_transition(g.csr(r)) for r in path]
    sizes = [5, 2, 5, 2]  # node count at positions 0..3
    alpha, seed = 0.25, 0
    # expected visits on the layered chain: q = e_(seed, 0) (I - M)^-1
    off = np.concatenate([[0], np.cumsum(sizes)])
    M = np.zeros((off[-1], off[-1]))
    for h in range(4):
        nh = (h + 1) % 4
        scale = (1 - alpha) if h == 0 else 1.0
        M[off[h] : off[h + 1], off[nh] : off[nh + 1]] = scale * hops[h]
    e = np.zeros(off[-1])
    e[seed] = 1.0
    q = np.linalg.solve((np.eye(off[-1]) - M).T, e)
    pins = q[0:5] + q[7:12]
    pins[seed] = 0.0
    boards, users = q[5:7], q[12:14]
    nb = ppr_push(g, [seed], path, restart=alpha, eps=1e-12,
                  top_k={"pin": 5, "board": 2, "user": 2})
    np.testing.assert_allclose(_dense_weights(nb, "pin", 0, 5), pins / pins.sum(), atol=1e-7)
    np.testing.assert_allclose(_dense_weights(nb, "board", 0, 2), boards / boards.sum(), atol=1e-7)
    np.testing.assert_allclose(_dense_weights(nb, "user", 0, 2), users / users.sum(), atol=1e-7)


def test_sorted_by_score_ties_by_id_seed_excluded_and_padding():
    # item 0 -> users {0, 1}; user 0 -> items {0, 1, 2, 3} (1..3 tie), user 1 -> items {0, 4}
    g = HeteroGraph.from_edges(
        {"user": 3, "item": 6},
        {("user", "clicks", "item"): ([0, 0, 0, 0, 1, 1], [3, 1, 0, 2, 0, 4])},
    )
    nb = ppr_push(g, [0, 5], ["rev_clicks", "clicks"], restart=0.5, eps=1e-9, top_k=6)
    ids, w, m = nb.ids["item"][0], nb.weights["item"][0], nb.mask["item"][0]
    assert set(nb.ids) == {"item"}
    assert ids[:4].tolist() == [4, 1, 2, 3] and m.tolist() == [True] * 4 + [False] * 2
    assert w[0] > w[1] == w[2] == w[3] > 0 and float(w.sum()) == pytest.approx(1.0)
    assert 0 not in ids[m].tolist()
    assert not nb.mask["item"][1].any() and nb.ids["item"][1].tolist() == [0] * 6  # isolated seed
    band = ppr_push(g, [0], ["rev_clicks", "clicks"], restart=0.5, eps=1e-9, top_k=2)
    assert band.ids["item"][0].tolist() == [4, 1]  # a prefix of the full ranking


def test_deterministic_across_threads_and_gil_released():
    assert _ppr_kernel.targetoptions["nogil"] and _ppr_kernel.targetoptions["parallel"]
    g = _random_bipartite(4)
    seeds = np.tile(np.arange(7), 20)
    ref = ppr_push(g, seeds, ["rev_clicks", "clicks"], restart=0.15, eps=1e-6, top_k=4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = ppr_push(g, seeds, ["rev_clicks", "clicks"], restart=0.15, eps=1e-6, top_k=4)
    finally:
        numba.set_num_threads(before)
    assert torch.equal(ref.ids["item"], one.ids["item"])
    assert torch.equal(ref.weights["item"], one.weights["item"])
    out: list = [None] * 3

    def work(i: int) -> None:
        out[i] = ppr_push(g, seeds, ["rev_clicks", "clicks"], restart=0.15, eps=1e-6, top_k=4)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for nb in out:
        assert torch.equal(nb.weights["item"], ref.weights["item"])


def test_table_growth_on_a_larger_graph():
    rng = np.random.default_rng(7)
    users, items = 400, 900
    g = HeteroGraph.from_edges(
        {"user": users, "item": items},
        {("user", "clicks", "item"): (rng.integers(0, users, 6000), rng.integers(0, items, 6000))},
    )
    r = 0.3
    P = _transition(g.csr("rev_clicks")) @ _transition(g.csr("clicks"))
    nb = ppr_push(g, [5], ["rev_clicks", "clicks"], restart=r, eps=1e-9, top_k=items)
    pi = _exact_ppr(P, 5, r)
    pi[5] = 0.0
    np.testing.assert_allclose(_dense_weights(nb, "item", 0, items), pi / pi.sum(), atol=1e-6)


def test_empty_batch_and_bad_arguments():
    g = _random_bipartite()
    mp = ["rev_clicks", "clicks"]
    assert ppr_push(g, np.zeros(0, np.int64), mp, top_k=3).ids["item"].shape == (0, 3)
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(ConfigError, match="restart"):
            ppr_push(g, [0], mp, restart=bad)
    with pytest.raises(ConfigError, match="eps"):
        ppr_push(g, [0], mp, eps=0.0)
    with pytest.raises(ConfigError, match="cyclic"):
        ppr_push(g, [0], ["rev_clicks"])
    with pytest.raises(ConfigError, match=r"top_k\['item'\] must be >= 1"):
        ppr_push(g, [0], mp, top_k=0)
    with pytest.raises(ConfigError, match="not on the meta-path"):
        g2 = HeteroGraph.from_edges(
            {"user": 1, "item": 1, "tag": 1},
            {("user", "clicks", "item"): ([0], [0]), ("item", "has", "tag"): ([0], [0])},
        )
        ppr_push(g2, [0], mp, top_k={"tag": 2})
    with pytest.raises(SchemaError, match="'views'"):
        ppr_push(g, [0], ["rev_clicks", "views"])
    with pytest.raises(GraphValidationError, match=r"node type 'item'.*out of range"):
        ppr_push(g, [7], mp)
