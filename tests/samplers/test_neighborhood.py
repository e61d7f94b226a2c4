"""``Neighborhood``: the padded per-type container the samplers return."""

from __future__ import annotations

import numpy as np
import torch

from graphrep.samplers.neighborhood import Neighborhood


def _two_types() -> Neighborhood:
    col, ids, w, m = Neighborhood.allocate({"pin": 2, "board": 1}, 3)
    assert col.tolist() == [0, 2]  # pin owns columns 0-1, board column 2
    ids[:] = [[1, 2, 7], [3, 0, 8], [5, 6, 0]]
    w[:] = [[0.75, 0.25, 1.0], [1.0, 0.0, 1.0], [0.5, 0.5, 0.0]]
    m[:] = [[True, True, True], [True, False, True], [True, True, False]]
    return Neighborhood.from_flat({"pin": 2, "board": 1}, ids, w, m)


def test_from_flat_splits_columns_per_type():
    nb = _two_types()
    assert nb.node_types == ["pin", "board"] and len(nb) == 3
    assert nb.ids["pin"].tolist() == [[1, 2], [3, 0], [5, 6]]
    assert nb.ids["board"].tolist() == [[7], [8], [0]]
    assert nb.counts("pin").tolist() == [2, 1, 2] and nb.counts("board").tolist() == [1, 1, 0]


def test_take_selects_rows_in_the_given_order():
    nb = _two_types()
    sub = nb.take(np.array([2, 0, 2]))
    assert len(sub) == 3
    for t in nb.node_types:
        assert torch.equal(sub.ids[t], nb.ids[t][[2, 0, 2]])
        assert torch.equal(sub.weights[t], nb.weights[t][[2, 0, 2]])
        assert torch.equal(sub.mask[t], nb.mask[t][[2, 0, 2]])
    assert len(nb.take(np.zeros(0, dtype=np.int64))) == 0


def test_cat_puts_the_seeds_of_the_parts_one_after_the_other():
    nb = _two_types()
    both = Neighborhood.cat([nb.take(np.array([2])), nb.take(np.array([0, 1]))])
    assert len(both) == 3 and both.node_types == nb.node_types
    for f in ("ids", "weights", "mask"):
        for t in nb.node_types:
            assert torch.equal(getattr(both, f)[t], getattr(nb, f)[t][[2, 0, 1]])
