"""EntityEncoder (OmniSage): shapes, gradients, order invariance, masking, weights, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, GraphValidationError, SchemaError, ShapeError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models.encoders import build_encoders
from graphrep.models.entity import EntityEncoder
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeFeaturizer
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.pinsage import PinSage
from graphrep.models.tokens import relative_weights


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DIM = 16


def make_graph() -> HeteroGraph:
    rng = np.random.default_rng(2)
    text = [[int(t) for t in rng.integers(0, 50, rng.integers(0, 5))] for _ in range(8)]
    return HeteroGraph.from_edges(
        {"pin": 8, "board": 3, "user": 4},
        {
            ("board", "contains", "pin"): ([0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 3, 4, 5, 6]),
            ("user", "engaged", "pin"): ([0, 1, 2, 3, 3], [0, 2, 4, 5, 7]),
        },
        features={
            "pin": {
                "image": rng.normal(size=(8, 6)).astype(np.float32),
                "text": Ragged.from_lists(text),
            },
            "board": {"title": Ragged.from_lists([[1, 2], [3], [4, 5, 6]])},
        },
    )


@pytest.fixture(scope="module")
def env():
    g = make_graph()
    return NodeFeaturizer(g, max_tokens=4), FeatureSchema.from_graph(g)


def encoder(schema, node_type="pin", nbr=("pin", "board", "user"), **kw) -> EntityEncoder:
    torch.manual_seed(0)
    text = HashTextEmbedder(num_buckets=64, dim=DIM)
    kw = {
        "dim": DIM,
        "num_heads": 2,
        "mlp_hidden": 32,
        "id_buckets": 32,
        "text_embedder": text,
        **kw,
    }
    return EntityEncoder(node_type, schema, nbr, **kw)


def neighbors(fz, ids: dict, weights: dict, mask: dict) -> dict:
    return {
        t: (fz(t, torch.tensor(ids[t])), torch.tensor(weights[t]), torch.tensor(mask[t]))
        for t in ids
    }


IDS = {"pin": [[1, 2, 3], [4, 5, 0]], "board": [[0, 1], [2, 2]], "user": [[0], [3]]}
W = {
    "pin": [[0.5, 0.3, 0.2], [0.6, 0.4, 0.0]],
    "board": [[0.9, 0.1], [1.0, 0.0]],
    "user": [[1.0], [1.0]],
}
M = {
    "pin": [[True, True, True], [True, True, False]],
    "board": [[True, True], [True, False]],
    "user": [[True], [True]],
}


def test_shapes_unit_norm_and_batch_independence(env):
    fz, schema = env
    enc = encoder(schema)
    out = enc(fz("pin", torch.tensor([0, 7])), neighbors(fz, IDS, W, M))
    assert out.shape == (2, DIM)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2))
    # a row does not depend on the other rows of the batch
    one = enc(
        fz("pin", torch.tensor([7])),
        neighbors(fz, *({t: [d[t][1]] for t in d} for d in (IDS, W, M))),
    )
    torch.testing.assert_close(one[0], out[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[0], out[1])


def padded_reference(enc, batch, nbrs):
    """The encoder as the plain padded computation: [CLS, own, gated neighbour tokens] through
    nn.TransformerEncoder with a key padding mask, CLS output -> MLP -> L2."""
    own = enc.raw_tokens(enc.node_type, batch)
    bsz = own.shape[0]
    seq, pad = [enc.cls.expand(bsz, 1, DIM), own], [torch.zeros(bsz, 1 + own.shape[1], dtype=torch.bool)]
    for i, nt in enumerate(enc.neighbor_types):
        fb, w, m = nbrs[nt]
        raw = enc.raw_tokens(nt, fb).mean(-2)
        gate = torch.sigmoid(enc.gate[i](torch.log1p(relative_weights(w, m)).unsqueeze(-1)))
        seq.append(gate * enc.neighbor_proj[i](raw) + enc.type_emb[i])
        pad.append(~m)
    h = enc.transformer(torch.cat(seq, 1), src_key_padding_mask=torch.cat(pad, 1))
    return torch.nn.functional.normalize(enc.head(h[:, 0]), dim=-1)


@pytest.mark.parametrize("layers", [1, 2])
def test_equals_the_padded_transformer(env, layers):
    fz, schema = env
    enc = encoder(schema, num_layers=layers)
    batch, nbrs = fz("pin", torch.tensor([0, 7])), neighbors(fz, IDS, W, M)
    out, ref = enc(batch, nbrs), padded_reference(enc, batch, nbrs)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    w = torch.randn(2, DIM)
    params = list(enc.parameters())
    got = torch.autograd.grad((out * w).sum(), params, allow_unused=True)
    want = torch.autograd.grad((ref * w).sum(), params, allow_unused=True)
    for a, b in zip(got, want, strict=True):
        if b is not None:
            torch.testing.assert_close(a.to_dense(), b.to_dense(), atol=1e-5, rtol=1e-4)


def test_gradients_reach_every_parameter(env):
    fz, schema = env
    enc = encoder(schema)
    out = enc(fz("pin", torch.tensor([0, 7])), neighbors(fz, IDS, W, M))
    (out * torch.randn(2, DIM)).sum().backward()
    params = dict(enc.named_parameters())
    assert any("id_emb" in n for n in params) and any("degree" in n for n in params)
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_featureless_type_uses_id_and_degree(env):
    fz, schema = env
    enc = encoder(schema, "user", ("pin",))
    ids = {"pin": [[0, 2], [5, 7], [0, 0]]}
    w = {"pin": [[0.5, 0.5], [0.2, 0.8], [0.0, 0.0]]}
    m = {"pin": [[True, True], [True, True], [False, False]]}
    out = enc(fz("user", torch.tensor([0, 3, 1])), neighbors(fz, ids, w, m))
    assert out.shape == (3, DIM) and torch.isfinite(out).all()
    (out * torch.randn(3, DIM)).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # without neighbors: two users differ only through hashed id and degree
    alone = enc(fz("user", torch.tensor([0, 1])))
    assert not torch.allclose(alone[0], alone[1])


def test_neighbor_order_invariance(env):
    fz, schema = env
    for layers in (1, 2):
        enc = encoder(schema, num_layers=layers)
        ref = enc(fz("pin", torch.tensor([0, 7])), neighbors(fz, IDS, W, M))
        perm = [2, 0, 1]
        ids = {**IDS, "pin": [[r[i] for i in perm] for r in IDS["pin"]]}
        w = {**W, "pin": [[r[i] for i in perm] for r in W["pin"]]}
        m = {**M, "pin": [[r[i] for i in perm] for r in M["pin"]]}
        ids["board"], w["board"], m["board"] = ([r[::-1] for r in d["board"]] for d in (IDS, W, M))
        out = enc(fz("pin", torch.tensor([0, 7])), neighbors(fz, ids, w, m))
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_masked_neighbors_have_no_influence(env):
    fz, schema = env
    enc = encoder(schema)
    seeds = fz("pin", torch.tensor([0, 7]))
    ref = enc(seeds, neighbors(fz, IDS, W, M))
    # change ids and weights of masked slots only
    ids = {"pin": [[1, 2, 3], [4, 5, 6]], "board": [[0, 1], [2, 0]], "user": [[0], [3]]}
    w = {
        "pin": [[0.5, 0.3, 0.2], [0.6, 0.4, 9.0]],
        "board": [[0.9, 0.1], [1.0, 5.0]],
        "user": W["user"],
    }
    torch.testing.assert_close(enc(seeds, neighbors(fz, ids, w, M)), ref, atol=1e-6, rtol=0)
    # dropping the masked slots entirely (smaller k) is the same too
    short = {"pin": [[1, 2, 3], [4, 5, 4]], "board": [[0], [2]], "user": [[0], [3]]}
    w2 = {"pin": W["pin"], "board": [[0.9], [1.0]], "user": W["user"]}
    m2 = {"pin": M["pin"], "board": [[True], [True]], "user": M["user"]}
    # row 0 loses board 1 (valid): only row 1 must match
    torch.testing.assert_close(
        enc(seeds, neighbors(fz, short, w2, m2))[1], ref[1], atol=1e-5, rtol=0
    )
    # all neighbors masked == no neighbors at all
    none = {t: [[False] * len(r) for r in M[t]] for t in M}
    torch.testing.assert_close(
        enc(seeds, neighbors(fz, IDS, W, none)), enc(seeds), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(enc(seeds, {}), enc(seeds, None), atol=0, rtol=0)


def test_importance_weights_matter(env):
    fz, schema = env
    enc = encoder(schema)
    seeds = fz("pin", torch.tensor([0, 7]))
    ref = enc(seeds, neighbors(fz, IDS, W, M))
    w = {**W, "pin": [[0.1, 0.1, 0.8], [0.6, 0.4, 0.0]]}
    out = enc(seeds, neighbors(fz, IDS, w, M))
    assert (out[0] - ref[0]).abs().max() > 1e-4
    torch.testing.assert_close(out[1], ref[1], atol=1e-6, rtol=0)  # row 1 unchanged
    # only ratios matter: scaling a type's weights changes nothing
    scaled = {**W, "pin": [[3 * x for x in r] for r in W["pin"]]}
    torch.testing.assert_close(enc(seeds, neighbors(fz, IDS, scaled, M)), ref, atol=1e-6, rtol=0)


def test_relative_weights():
    w = torch.tensor([[0.5, 0.25, 0.25, 7.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 0.0, 0.0]])
    m = torch.tensor(
        [[True, True, True, False], [True, False, False, False], [True, True, False, False]]
    )
    expected = torch.tensor([[1.5, 0.75, 0.75, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    torch.testing.assert_close(relative_weights(w, m), expected)


def test_entity_errors(env):
    fz, schema = env
    enc = encoder(schema, nbr=("pin", "board"))
    seeds = fz("pin", torch.tensor([0, 7]))
    nb = neighbors(fz, IDS, W, M)
    with pytest.raises(
        SchemaError, match=r"neighbor type 'user'.*known neighbor types: \['pin', 'board'\]"
    ):
        enc(seeds, nb)
    del nb["user"]
    with pytest.raises(ShapeError, match=r"neighbors\['pin'\].*\(B=1, k\)"):
        enc(fz("pin", torch.tensor([0])), nb)
    with pytest.raises(ShapeError, match=r"ids must be a torch\.long"):
        enc(FeatureBatch("pin", seeds.ids.float(), seeds.dense, seeds.tokens, seeds.token_mask), nb)
    with pytest.raises(ShapeError, match=r"batch ids must have shape \(B,\)"):
        enc(fz("pin", torch.tensor([[0, 7]])), nb)
    fb, w, m = nb["pin"]
    with pytest.raises(ShapeError, match="weights must be a float tensor"):
        enc(seeds, {**nb, "pin": (fb, w.long(), m)})
    with pytest.raises(ShapeError, match="mask must be a bool tensor"):
        enc(seeds, {**nb, "pin": (fb, w, m.long())})
    with pytest.raises(ShapeError, match="mask must be a bool tensor"):
        enc(seeds, {**nb, "pin": (fb, w, m[:, :2])})
    with pytest.raises(ShapeError, match=r"\(FeatureBatch, weights, mask\)"):
        enc(seeds, {**nb, "pin": (fb, w)})
    with pytest.raises(GraphValidationError, match=">= 0"):
        enc(seeds, {**nb, "pin": (fb, -w, m)})
    with pytest.raises(SchemaError, match="expected a batch of node type 'pin', got 'board'"):
        enc(fz("board", torch.tensor([0, 1])), nb)
    with pytest.raises(SchemaError, match="'query'"):
        encoder(schema, nbr=("pin", "query"))
    with pytest.raises(ConfigError, match="duplicates"):
        encoder(schema, nbr=("pin", "pin"))
    with pytest.raises(ConfigError, match="divisible"):
        encoder(schema, dim=10, num_heads=4)


def test_build_encoders_share_space_and_text(env):
    fz, schema = env
    torch.manual_seed(0)
    spec = {"pin": ["pin", "board"], "board": ["pin"], "user": ["pin"]}
    for kind, cls in (("entity", EntityEncoder), ("pinsage", PinSage)):
        encs = build_encoders(schema, spec, kind, dim=DIM, id_buckets=32)
        assert set(encs) == set(spec) and all(isinstance(e, cls) for e in encs.values())
        assert (
            encs["pin"].raw[0].modalities.text_embedder
            is encs["board"].raw[0].modalities.text_embedder
        )
        nb = {
            "pin": (
                fz("pin", torch.tensor([[1, 2]])),
                torch.tensor([[0.5, 0.5]]),
                torch.ones(1, 2, dtype=torch.bool),
            )
        }
        for nt in spec:
            z = encs[nt](fz(nt, torch.tensor([0])), nb)
            assert z.shape == (1, DIM)
    with pytest.raises(ConfigError, match="encoder must be one of"):
        build_encoders(schema, spec, "gat")


def test_reset_parameters_leaves_shared_text_embedder_alone(env):
    _, schema = env
    enc = encoder(schema)  # built with a shared (passed-in) text embedder
    text = enc.raw[0].modalities.text_embedder
    before = text.weight.detach().clone()
    cls_before = enc.cls.detach().clone()
    enc.reset_parameters()
    assert torch.equal(text.weight, before) and not torch.equal(enc.cls, cls_before)
    own = EntityEncoder("pin", schema, ["board"], dim=DIM, num_heads=2, id_buckets=32)
    text = own.raw[0].modalities.text_embedder
    assert own.raw[1].modalities.text_embedder is text  # one embedder for all its types
    before = text.weight.detach().clone()
    own.reset_parameters()
    assert not torch.equal(text.weight, before)



def test_learned_norm_starts_at_one_stays_in_range_and_trains(env):
    fz, schema = env
    r = 0.7
    enc = encoder(schema, norm_range=r)
    batch, nbrs = fz("pin", torch.tensor([0, 7])), neighbors(fz, IDS, W, M)
    # at the start it is the unit-norm encoder with the same parameters
    unit = encoder(schema)
    assert enc.load_state_dict(unit.state_dict(), strict=False).missing_keys == [
        "norm_head.weight", "norm_head.bias"]
    torch.testing.assert_close(enc(batch, nbrs), unit(batch, nbrs))
    opt = torch.optim.Adam([p for n, p in enc.named_parameters() if "norm_head" in n], lr=0.05)
    for _ in range(60):  # reward node 0's norm, penalise node 7's
        n = enc(batch, nbrs).norm(dim=-1)
        loss = -n[0] + n[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    n = enc(batch, nbrs).norm(dim=-1).detach()
    assert 1.3 < n[0] <= np.exp(r) + 1e-5 and np.exp(-r) - 1e-5 <= n[1] < 0.8
    enc.reset_parameters()
    torch.testing.assert_close(enc(batch, nbrs).norm(dim=-1), torch.ones(2))
    with pytest.raises(ConfigError, match="norm_range"):
        encoder(schema, norm_range=-1.0)
    encs = build_encoders(schema, {"pin": ["board"], "board": ["pin"]}, dim=DIM, id_buckets=32,
                          num_heads=2, norm_ranges={"pin": r})  # fmt: skip
    assert encs["pin"].norm_range == r and encs["board"].norm_head is None
