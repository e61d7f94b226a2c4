"""hold_out_nodes: adding the held-out nodes back rebuilds the permuted full dataset."""

import numpy as np

from graphrep.data import generate
from graphrep.data.holdout_nodes import edges_touching, hold_out_nodes, node_rows
from graphrep.graph.extend import extend_graph


def test_extending_the_training_graph_gives_the_full_graph_back():
    ds = generate("tiny", 0)
    held = np.array([3, 40, 41, 499])
    h = hold_out_nodes(ds, "pin", held)
    assert h.train.graph.num_nodes["pin"] == 496 and h.held.tolist() == [496, 497, 498, 499]
    assert h.original.tolist() == held.tolist()
    np.testing.assert_array_equal(h.full.truth["pin_topic"][h.held], ds.truth["pin_topic"][held])
    ev = h.train.events
    assert not ((ev.item_type == 0) & (ev.item >= 496)).any()
    assert len(ev) < len(ds.events) == len(h.full.events)
    ext = extend_graph(h.train.graph, {"pin": node_rows(h.full.graph, "pin", h.held)},
                       edges_touching(h.full.graph, "pin", h.held))
    assert ext.graph.equals(h.full.graph)
    # the same pin's edges, before and after the permutation
    before = np.sort(ds.graph.csr("rev_contains").neighbors(3))
    np.testing.assert_array_equal(np.sort(h.full.graph.csr("rev_contains").neighbors(496)), before)
