"""LightEncoder: the id row plus the weighted mean of neighbours' rows, by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphrep.errors import SchemaError, ShapeError
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeSchema
from graphrep.models.id_embedding import IdEmbedding
from graphrep.models.light import LightEncoder

SCHEMA = FeatureSchema({"user": NodeSchema("user", 4), "item": NodeSchema("item", 6)})
ALL1 = torch.ones(1, 1, dtype=torch.bool)


def fb(node_type, ids):
    ids = torch.tensor(ids)
    return FeatureBatch(node_type, ids, log_degree=torch.zeros(*ids.shape, 1))


def encoder(normalize=False):
    torch.manual_seed(0)
    tables = {"user": IdEmbedding(4, 3), "item": IdEmbedding(6, 3)}
    return LightEncoder("user", SCHEMA, ["item", "user"], dim=3, id_tables=tables, normalize=normalize)


def test_hand_computation_and_masking():
    enc = encoder()
    eu, ei = enc.tables["user"].weight, enc.tables["item"].weight
    items = fb("item", [[1, 2, 5], [4, 0, 0]])
    w_i = torch.tensor([[1.0, 3.0, 0.0], [2.0, 7.0, 7.0]])
    m_i = torch.tensor([[True, True, False], [True, False, False]])
    users = fb("user", [[3], [0]])
    w_u, m_u = torch.ones(2, 1), torch.tensor([[True], [False]])
    with torch.no_grad():
        enc.beta.copy_(torch.tensor([0.5, 2.0]))
    out = enc(fb("user", [0, 2]), {"item": (items, w_i, m_i), "user": (users, w_u, m_u)})
    want0 = eu[0] + 0.5 * (0.25 * ei[1] + 0.75 * ei[2]) + 2.0 * eu[3]
    want1 = eu[2] + 0.5 * ei[4]  # the masked neighbours (weight 7) and the masked user ignored
    torch.testing.assert_close(out, torch.stack([want0, want1]))


def test_normalize_and_order_invariance():
    enc = encoder(normalize=True)
    items = fb("item", [[1, 2]])
    w, m = torch.tensor([[1.0, 2.0]]), torch.ones(1, 2, dtype=torch.bool)
    a = enc(fb("user", [1]), {"item": (items, w, m)})
    b = enc(fb("user", [1]), {"item": (fb("item", [[2, 1]]), w.flip(-1), m)})
    torch.testing.assert_close(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(1))
    raw = encoder()(fb("user", [1]), {"item": (items, w, m)})
    torch.testing.assert_close(a, F.normalize(raw, dim=-1))


def test_gradients_reach_neighbour_rows_sparsely():
    enc = encoder()
    items = fb("item", [[5, 3]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    enc(fb("user", [1]), {"item": (items, torch.ones(1, 2), mask)}).sum().backward()
    g = enc.tables["item"].weight.grad
    assert g.is_sparse and set(g.coalesce().indices()[0].tolist()) == {3, 5}


def test_errors():
    enc = encoder()
    with pytest.raises(SchemaError, match="not one this encoder was built for"):
        enc(fb("user", [0]), {"query": (fb("item", [[0]]), torch.ones(1, 1), ALL1)})
    with pytest.raises(ShapeError, match="batch ids"):
        enc(fb("user", [[0]]))
    with pytest.raises(ShapeError, match="weights of 'item' must be >= 0"):
        enc(fb("user", [0]), {"item": (fb("item", [[1]]), -torch.ones(1, 1), ALL1)})
    with pytest.raises(ShapeError, match="dim"):
        LightEncoder("user", SCHEMA, [], dim=4, id_tables={"user": IdEmbedding(4, 3)})
