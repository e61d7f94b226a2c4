"""Augmentations: node masking, column masking and neighbour dropping do exactly that, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError
from graphrep.models.augment import Augmenter, drop_neighbors, mask_columns, mask_rows
from graphrep.models.features import FeatureBatch


def batch(shape=(3,), d=4) -> FeatureBatch:
    n = int(np.prod(shape))
    dense = {"x": torch.arange(n * d, dtype=torch.float32).reshape(*shape, d) + 1}
    tokens = {"t": torch.ones(*shape, 2, dtype=torch.long)}
    mask = {"t": torch.ones(*shape, 2, dtype=torch.bool)}
    return FeatureBatch("a", torch.arange(n).reshape(shape), dense, tokens, mask,
                        torch.zeros(*shape, 1))  # fmt: skip


def test_mask_rows_zeroes_dense_and_empties_tokens_of_the_chosen_rows_only():
    fb = batch()
    out = mask_rows(fb, torch.tensor([False, True, False]))
    assert torch.equal(out.dense["x"][1], torch.zeros(4))
    assert torch.equal(out.dense["x"][[0, 2]], fb.dense["x"][[0, 2]])
    assert out.token_mask["t"].tolist() == [[True, True], [False, False], [True, True]]
    assert fb.dense["x"][1].sum() > 0  # the input is not changed


def test_mask_columns_and_drop_neighbors():
    fb = batch((2, 3))
    keep = torch.tensor([True, False, True, False])
    out = mask_columns(fb, {"x": keep})
    assert torch.equal(out.dense["x"][..., 1], torch.zeros(2, 3))
    assert torch.equal(out.dense["x"][..., 0], fb.dense["x"][..., 0])
    w, m = torch.full((2, 3), 1 / 3), torch.tensor([[True, True, False], [True, True, True]])
    drop = torch.tensor([[True, False, False], [False, False, True]])
    _, w2, m2 = drop_neighbors({"a": (fb, w, m)}, {"a": drop})["a"]
    assert m2.tolist() == [[False, True, False], [True, True, False]]
    assert torch.equal(w2, torch.where(m2, w, torch.zeros(())))


def test_augmenter_rates_and_seeding():
    aug = Augmenter(mask_rate=0.25, feature_drop=0.5, neighbor_drop=0.3, seed=7)
    rows = aug.masked_rows(40, step=2)
    assert int(rows.sum()) == 10 and torch.equal(rows, aug.masked_rows(40, step=2))
    assert not torch.equal(rows, aug.masked_rows(40, step=3))
    assert int(Augmenter(mask_rate=0.01).masked_rows(10, 0).sum()) == 1  # at least one
    own, nbr = batch((500,), d=400), batch((500, 6), d=400)
    w, m = torch.ones(500, 6), torch.ones(500, 6, dtype=torch.bool)
    fb, nbrs = aug.view(own, {"a": (nbr, w, m)}, step=0, salt=1)
    kept = (fb.dense["x"] != 0).all(0)
    assert 0.4 < kept.float().mean() < 0.6  # ~half the columns, the same in every row
    assert torch.equal((nbrs["a"][0].dense["x"] != 0).all(0).all(0), kept)  # same for neighbours
    assert 0.25 < 1 - nbrs["a"][2].float().mean() < 0.35
    fb2, _ = aug.view(own, {"a": (nbr, w, m)}, step=0, salt=1)
    assert torch.equal(fb.dense["x"], fb2.dense["x"])
    with pytest.raises(ConfigError, match="feature_drop"):
        Augmenter(feature_drop=1.0)
