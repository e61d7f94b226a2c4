"""PinSage baseline: the convolve formula by hand, the L-layer scheme, invariances, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphrep.errors import GraphValidationError, SchemaError, ShapeError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models.features import FeatureSchema, NodeFeaturizer
from graphrep.models.hash_text import HashTextEmbedder
from graphrep.models.pinsage import PinSage, PinSageConv

DIM, HID = 8, 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_graph() -> HeteroGraph:
    rng = np.random.default_rng(3)
    return HeteroGraph.from_edges(
        {"pin": 6, "board": 3, "user": 3},
        {
            ("board", "contains", "pin"): ([0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 4, 5]),
            ("user", "engaged", "pin"): ([0, 1, 2, 2], [0, 2, 4, 5]),
        },
        features={
            "pin": {"image": rng.normal(size=(6, 5)).astype(np.float32)},
            "board": {"title": Ragged.from_lists([[1, 2], [3], [4, 5, 6]])},
        },
    )


@pytest.fixture(scope="module")
def env():
    g = make_graph()
    return NodeFeaturizer(g, max_tokens=4), FeatureSchema.from_graph(g)


def model(schema, node_type="pin", nbr=("pin", "board", "user"), **kw) -> PinSage:
    torch.manual_seed(0)
    text = HashTextEmbedder(num_buckets=64, dim=DIM)
    kw = {"dim": DIM, "hidden": HID, "id_buckets": 32, "text_embedder": text, **kw}
    return PinSage(node_type, schema, nbr, **kw)


def nbrs(fz, spec: dict) -> dict:
    """spec: type -> (ids, weights, mask) as lists."""
    return {
        t: (fz(t, torch.tensor(i)), torch.tensor(w, dtype=torch.float32), torch.tensor(m))
        for t, (i, w, m) in spec.items()
    }


SPEC = {
    "pin": (
        [[1, 2, 3], [4, 5, 0]],
        [[0.5, 0.3, 0.2], [0.6, 0.4, 0.0]],
        [[True] * 3, [True, True, False]],
    ),
    "board": ([[0, 1], [2, 2]], [[0.9, 0.1], [1.0, 0.0]], [[True, True], [True, False]]),
    "user": ([[0], [2]], [[1.0], [1.0]], [[True], [True]]),
}


def test_conv_matches_formula_by_hand():
    torch.manual_seed(0)
    conv = PinSageConv(3)
    h = torch.tensor([[1.0, -2.0, 0.5]])
    hn = torch.tensor([[[0.2, 0.1, -0.3], [1.0, 1.0, 1.0], [9.0, 9.0, 9.0]]])
    w = torch.tensor([[3.0, 1.0, 0.0]])  # third neighbor has weight 0: ignored
    Q, q = conv.pool.weight.detach(), conv.pool.bias.detach()
    W, b = conv.update.weight.detach(), conv.update.bias.detach()
    msg = torch.relu(hn[0, :2] @ Q.T + q)
    n = (3.0 * msg[0] + 1.0 * msg[1]) / 4.0
    expected = torch.relu(torch.cat([h[0], n]) @ W.T + b)
    expected = expected / expected.norm()
    torch.testing.assert_close(conv(h, hn, w)[0], expected)
    # empty neighborhood: n = 0
    alone = torch.relu(torch.cat([h[0], torch.zeros(3)]) @ W.T + b)
    torch.testing.assert_close(conv(h)[0], alone / alone.norm())
    torch.testing.assert_close(conv(h, hn[:, :0], w[:, :0]), conv(h))


def test_two_layer_scheme_matches_explicit_computation(env):
    fz, schema = env
    ps = model(schema, nbr=("pin",))
    seeds = fz("pin", torch.tensor([0]))
    nb = nbrs(fz, {"pin": ([[1, 2, 3]], [[0.5, 0.3, 0.2]], [[True, True, True]])})
    fb, w, _ = nb["pin"]
    c1, c2 = ps.convs
    h0, hn0 = ps.raw_features("pin", seeds), ps.raw_features("pin", fb)
    h1 = c1(h0, hn0, w)
    hn1 = c1(hn0)  # neighbors: layer 1 from their raw features only
    h2 = c2(h1, hn1, w)
    expected = F.normalize(ps.head(h2), dim=-1)
    torch.testing.assert_close(ps(seeds, nb), expected, atol=1e-6, rtol=1e-5)
    # the input of layer 1 is the mean of the raw-feature tokens (here one: the image)
    lin = ps.raw[0].modalities.dense_proj[0]
    tok = lin(seeds.dense["image"]) + ps.raw[0].modalities.modality_emb[0]
    torch.testing.assert_close(h0, tok)


def test_shapes_norm_and_gradients(env):
    fz, schema = env
    ps = model(schema)
    out = ps(fz("pin", torch.tensor([0, 5])), nbrs(fz, SPEC))
    assert out.shape == (2, DIM)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2))
    (out * torch.randn(2, DIM)).sum().backward()
    for name, p in ps.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    one_layer = model(schema, num_layers=1)
    assert len(one_layer.convs) == 1 and one_layer(fz("pin", torch.tensor([1]))).shape == (1, DIM)


def test_featureless_user(env):
    fz, schema = env
    ps = model(schema, "user", ("pin",))
    spec = {"pin": ([[0, 2], [4, 5]], [[0.5, 0.5], [0.9, 0.1]], [[True, True], [True, True]])}
    out = ps(fz("user", torch.tensor([0, 2])), nbrs(fz, spec))
    assert out.shape == (2, DIM) and torch.isfinite(out).all()
    (out.sum(0) @ torch.randn(DIM)).backward()
    for name, p in ps.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_order_masking_and_weight_normalisation(env):
    fz, schema = env
    ps = model(schema)
    seeds = fz("pin", torch.tensor([0, 5]))
    ref = ps(seeds, nbrs(fz, SPEC))
    # neighbor order
    perm = {
        t: tuple([[r[i] for i in reversed(range(len(r)))] for r in x] for x in s)
        for t, s in SPEC.items()
    }
    torch.testing.assert_close(ps(seeds, nbrs(fz, perm)), ref, atol=1e-6, rtol=0)
    # masked slots: any ids/weights
    masked = {
        **SPEC,
        "pin": ([[1, 2, 3], [4, 5, 3]], [[0.5, 0.3, 0.2], [0.6, 0.4, 50.0]], SPEC["pin"][2]),
    }
    torch.testing.assert_close(ps(seeds, nbrs(fz, masked)), ref, atol=0, rtol=0)
    # weights are normalised: scaling all of them changes nothing
    scaled = {t: (i, [[2.5 * x for x in r] for r in w], m) for t, (i, w, m) in SPEC.items()}
    torch.testing.assert_close(ps(seeds, nbrs(fz, scaled)), ref, atol=1e-6, rtol=0)
    # one neighbor of weight w vs 2w: identical
    one = {"pin": ([[3]], [[0.2]], [[True]])}
    two = {"pin": ([[3]], [[0.4]], [[True]])}
    s1 = fz("pin", torch.tensor([0]))
    torch.testing.assert_close(ps(s1, nbrs(fz, one)), ps(s1, nbrs(fz, two)), atol=0, rtol=0)
    # ...but the ratios matter, and neighbors matter at all
    ratio = {**SPEC, "pin": (SPEC["pin"][0], [[0.1, 0.1, 0.8], [0.6, 0.4, 0.0]], SPEC["pin"][2])}
    assert (ps(seeds, nbrs(fz, ratio))[0] - ref[0]).abs().max() > 1e-4
    assert (ps(seeds)[0] - ref[0]).abs().max() > 1e-4
    # all masked == no neighbors
    none = {t: (i, w, [[False] * len(r) for r in m]) for t, (i, w, m) in SPEC.items()}
    torch.testing.assert_close(ps(seeds, nbrs(fz, none)), ps(seeds), atol=1e-6, rtol=0)


def test_pinsage_errors(env):
    fz, schema = env
    ps = model(schema, nbr=("pin",))
    seeds = fz("pin", torch.tensor([0, 5]))
    nb = nbrs(fz, SPEC)
    with pytest.raises(SchemaError, match=r"neighbor type 'board'.*\['pin'\]"):
        ps(seeds, nb)
    pin = {"pin": nb["pin"]}
    with pytest.raises(ShapeError, match=r"\(B=1, k\)"):
        ps(fz("pin", torch.tensor([0])), pin)
    fb, w, m = pin["pin"]
    with pytest.raises(ShapeError, match="weights must be a float"):
        ps(seeds, {"pin": (fb, w.long(), m)})
    with pytest.raises(GraphValidationError, match=">= 0"):
        ps(seeds, {"pin": (fb, -w, m)})
    with pytest.raises(SchemaError, match="'board'"):
        ps(fz("board", torch.tensor([0, 1])), pin)
