"""Encoder assembly: which type gets which encoder, one shared id table per type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError
from graphrep.models import OmniSage
from graphrep.models.encoders import IdTableSpec, build_encoders, build_id_tables, id_table_types
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureSchema, NodeSchema
from graphrep.models.light import LightEncoder

SCHEMA = FeatureSchema({
    "user": NodeSchema("user", 30),
    "pin": NodeSchema("pin", 50, dense={"image": 4}),
    "item": NodeSchema("item", 20),
})  # fmt: skip
NBR = {"pin": ["pin", "user"], "user": ["pin", "item"], "item": ["user"]}


def test_auto_chooses_light_for_content_free_types():
    tables = build_id_tables(SCHEMA, NBR, "auto", 8, IdTableSpec())
    encs = build_encoders(SCHEMA, NBR, "auto", dim=8, id_tables=tables, num_heads=2, mlp_hidden=8)
    assert isinstance(encs["pin"], EntityEncoder)
    assert isinstance(encs["user"], LightEncoder) and isinstance(encs["item"], LightEncoder)
    # content-free types have tables; pin is read by a light encoder (user's), so it has one too
    assert set(tables) == {"user", "pin", "item"}
    assert id_table_types(SCHEMA, NBR, "entity") == ["user", "item"]


def test_light_normalize_by_type():
    tables = build_id_tables(SCHEMA, NBR, "light", 8, IdTableSpec())
    encs = build_encoders(SCHEMA, NBR, "light", dim=8, id_tables=tables,
                          light_kwargs={"normalize": ["user"]})  # fmt: skip
    assert encs["user"].normalize and not encs["item"].normalize and not encs["pin"].normalize


def test_one_table_per_type_shared_by_every_reader():
    m = OmniSage(SCHEMA, NBR, dim=8, encoder="auto", sequence=False, num_heads=2, mlp_hidden=8)
    user_table = m.id_tables["user"]
    assert m.encoders["user"].tables["user"] is user_table
    assert m.encoders["item"].tables["user"] is user_table
    pin_raw = m.encoders["pin"].raw[m.encoders["pin"]._raw_index["user"]]
    assert pin_raw.id_emb is user_table
    # the parameters are counted once
    ids = {id(p) for p in m.parameters()}
    assert len(ids) == len(list(m.parameters()))
    # exact under the default budget: one row per user
    assert user_table.mode == "exact" and user_table.num_rows == 30


def test_budget_makes_hybrid_tables():
    spec = IdTableSpec(mode="auto", budget_bytes=12 * 8 * 4, num_buckets=4)
    tables = build_id_tables(SCHEMA, NBR, "entity", 8, spec)
    assert tables["user"].mode == "hybrid" and tables["user"].num_exact == 8
    assert tables["user"].num_rows == 12


def test_from_hparams_round_trip_keeps_tables():
    m = OmniSage(SCHEMA, NBR, dim=8, encoder="auto", sequence=False, num_heads=2, mlp_hidden=8,
                 id_tables={"mode": "hybrid", "budget_bytes": 12 * 8 * 4, "num_buckets": 4})
    m.id_tables["user"].set_frequent(np.arange(29, -1, -1))
    copy = OmniSage.from_hparams(m.hparams)
    copy.load_state_dict(m.state_dict())
    ids = torch.arange(30)
    torch.testing.assert_close(copy.id_tables["user"](ids), m.id_tables["user"](ids))


def test_unknown_encoder():
    with pytest.raises(ConfigError, match=r"model\.encoder"):
        build_encoders(SCHEMA, NBR, "gat")
