"""OmniSage: encoders per type, shared text table, feature heads, users, ablation switches."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError, SchemaError
from graphrep.models import OmniSage
from graphrep.models.pinsage import PinSage
from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.models.sequence import SequenceEncoder
from graphrep.samplers.sequences import SequenceSampler
from graphrep.tasks import InputBuilder, NeighborConfig, default_samplers

QUOTAS = {
    "pin": {"pin": 6, "board": 3},
    "board": {"pin": 6, "board": 3},
    "user": {"pin": 6},
    "query": {"pin": 6, "query": 3},
}
SMALL = {
    "dim": 16,
    "num_heads": 2,
    "mlp_hidden": 32,
    "id_buckets": 256,
    "text_buckets": 512,
    "feature_head_hidden": 32,
    "sequence_kwargs": {"max_len": 8, "num_layers": 1, "num_heads": 2},
}


@pytest.fixture(scope="module")
def env():
    ds = generate("tiny", 0)
    cfg = NeighborConfig(quotas=QUOTAS, num_walks=16, seed=1)
    return ds, InputBuilder(ds.graph, default_samplers(ds.graph, cfg), max_tokens=8)


def make(builder, events=None, **kw) -> OmniSage:
    torch.manual_seed(0)
    return OmniSage.from_builder(builder, events, **{**SMALL, **kw})


def test_structure(env):
    ds, b = env
    m = make(b, ds.events)
    assert list(m.encoders) == ["pin", "board", "user", "query"]
    assert m.encoders["pin"].neighbor_types == ["pin", "board"]
    assert m.encoders["user"].neighbor_types == ["pin"]
    assert set(m.feature_heads) == {"pin", "board", "query"}  # users are featureless
    assert isinstance(m.sequence, SequenceEncoder)
    assert m.sequence.num_actions == len(ds.events.action_names)
    assert m.sequence.num_surfaces == len(ds.events.surface_names)
    # one hashed-text table shared by every encoder that reads text
    texts = {
        id(r.modalities.text_embedder)
        for enc in m.encoders.values()
        for r in enc.raw
        if r.modalities is not None and r.modalities.text_embedder is not None
    }
    assert texts == {id(m.text_embedder)}
    assert m.text_embedder.num_buckets == 512
    json.dumps(m.hparams)  # checkpointable config


def test_embed_matches_encoder_and_inverse(env):
    _, b = env
    m = make(b)
    x = b.build("pin", [9, 2, 9, 40], step=0)
    z = m.embed("pin", x)
    assert z.shape == (4, 16)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(4))
    direct = m.encoders["pin"](x.batch, x.neighbors)
    torch.testing.assert_close(m.embed("pin", x, expand=False), direct)
    torch.testing.assert_close(z, direct[x.inverse])
    torch.testing.assert_close(z[0], z[2])
    with pytest.raises(SchemaError, match="inputs are of node type 'pin'"):
        m.embed("board", x)
    with pytest.raises(SchemaError, match="no encoder for node type 'shop'"):
        m.embed("shop", x)


def test_use_neighbors_false_ignores_neighbors(env):
    _, b = env
    m = make(b, use_neighbors=False)
    assert all(enc.neighbor_types == [] for enc in m.encoders.values())
    x = b.build("pin", [1, 2, 3], step=0)
    bare = dataclasses.replace(x, neighbors={})
    torch.testing.assert_close(m.embed("pin", x), m.embed("pin", bare))
    full = make(b)
    assert not torch.allclose(full.embed("pin", x), full.embed("pin", bare))


def test_use_content_false_ignores_features(env):
    _, b = env
    x = b.build("pin", [1, 2, 3], step=0)
    noisy = dataclasses.replace(
        x, batch=dataclasses.replace(x.batch, dense={"image": torch.randn_like(x.batch.dense["image"])})
    )
    ids_only = make(b, use_content=False)
    assert len(ids_only.feature_heads) == 0 and ids_only.text_embedder is None
    torch.testing.assert_close(ids_only.embed("pin", x), ids_only.embed("pin", noisy))
    with pytest.raises(ConfigError, match="no entity-feature head"):
        ids_only.feature_targets("pin", x.batch)
    content = make(b)
    assert not torch.allclose(content.embed("pin", x), content.embed("pin", noisy))


@pytest.mark.parametrize("detach", [True, False])
def test_feature_targets_and_stop_gradient(env, detach):
    _, b = env
    m = make(b, detach_feature_targets=detach)
    x = b.build("board", [0, 5, 7], step=0)
    y = m.feature_targets("board", x.batch)
    assert y.shape == (3, 16)
    torch.testing.assert_close(y.norm(dim=-1), torch.ones(3))
    y.sum().backward()
    proj = m.encoders["board"].raw[0].modalities.text_proj[0].weight
    assert m.feature_heads["board"][0].weight.grad is not None
    assert (proj.grad is None) == detach
    with pytest.raises(ConfigError, match="no entity-feature head"):
        m.feature_targets("user", b.build("user", [0], step=0).batch)


def test_embed_users_is_last_real_position(env):
    ds, b = env
    m = make(b, ds.events)
    cut = ds.meta["cut_time"]
    s = SequenceSampler(ds.events, max_len=8, cut_time=cut, future_window=86400, num_positions=2)
    seq = s.sample(s.active_users(3)[:5], step=0)
    items = b.build_items(ds.events.item_types, {"history": (seq.item_type, seq.items)}, step=0)
    u = m.embed_users(seq, items, query_time=cut)
    assert u.shape == (5, 16)
    torch.testing.assert_close(u.norm(dim=-1), torch.ones(5))
    table = m.item_table(items)
    assert table.shape == (items.num_rows, 16)
    out = m.sequence_outputs(seq, table[items.index["history"]], cut)
    torch.testing.assert_close(u, out[:, -1])  # left padded: the last column is the latest action
    # the item embeddings that enter the sequence are the pin encoder's
    torch.testing.assert_close(table, m.embed("pin", items.inputs["pin"]))
    grads = torch.autograd.grad(u.sum(), m.encoders["pin"].cls)
    assert grads[0].abs().sum() > 0


def test_sequence_disabled(env):
    ds, b = env
    m = make(b, sequence=False)
    assert m.sequence is None
    s = SequenceSampler(ds.events, 4, ds.meta["cut_time"], 86400)
    seq = s.sample(np.array([0]), step=0)
    with pytest.raises(ConfigError, match="sequence=False"):
        m.sequence_outputs(seq, torch.zeros(1, 4, 16))


def test_loss_registry(env):
    _, b = env
    m = make(b)
    with pytest.raises(ConfigError, match=r"call task\.attach"):
        m.get_loss("pairs")
    loss = m.add_loss("pairs", negatives="in_batch", logq=False, init_temperature=0.1)
    assert isinstance(loss, SampledSoftmax) and m.get_loss("pairs") is loss
    assert m.add_loss("pairs") is loss  # idempotent
    assert any(p is loss.log_temperature for p in m.parameters())
    with pytest.raises(ConfigError, match=r"without '\.'"):
        m.add_loss("a.b")


def test_pinsage_variant(env):
    _, b = env
    kw = {k: v for k, v in SMALL.items() if k not in ("num_heads", "mlp_hidden")}
    torch.manual_seed(0)
    m = OmniSage.from_builder(b, encoder="pinsage", hidden=24, **kw)
    assert all(isinstance(e, PinSage) for e in m.encoders.values())
    assert m.feature_heads["pin"][0].in_features == 24
    x = b.build("pin", [0, 1], step=0)
    assert m.embed("pin", x).shape == (2, 16)
    assert m.feature_targets("pin", x.batch).shape == (2, 16)


def test_constructor_errors(env):
    _, b = env
    with pytest.raises(ConfigError, match="neighbor_types"):
        OmniSage(b.schema, {})
    with pytest.raises(ConfigError, match="dim"):
        OmniSage(b.schema, {"pin": []}, dim=0)
    with pytest.raises(ConfigError, match="encoder must be one of"):
        OmniSage(b.schema, {"pin": []}, dim=8, encoder="gat", text_buckets=64)


def test_from_hparams_restores_a_checkpoint(env):
    ds, b = env
    m = make(b, ds.events, use_neighbors=False)
    m.add_loss("pairs", negatives="in_batch", logq=False, init_temperature=0.2)
    with torch.no_grad():
        m.losses["pairs"].log_temperature.fill_(-1.0)
    h = json.loads(json.dumps(m.hparams))
    assert h["losses"] == {"pairs": {"negatives": "in_batch", "logq": False, "init_temperature": 0.2}}
    torch.manual_seed(123)
    r = OmniSage.from_hparams(h)
    assert not r.use_neighbors and list(r.losses) == ["pairs"]
    r.load_state_dict(m.state_dict())
    x = b.build("query", [3, 4], step=0)
    torch.testing.assert_close(r.embed("query", x), m.embed("query", x))
    assert r.get_loss("pairs").temperature == pytest.approx(math.exp(-1.0))
