"""ContentEncoder (ItemSage): shapes, gradients, text sharing, masking, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrep.errors import ConfigError, SchemaError, ShapeError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models.content import ContentEncoder, ModalityTokens
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeFeaturizer
from graphrep.models.hash_text import HashTextEmbedder


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DIM = 16


def make_graph() -> HeteroGraph:
    rng = np.random.default_rng(1)
    return HeteroGraph.from_edges(
        {"pin": 5, "query": 3},
        {("query", "clicked", "pin"): ([0, 1, 2], [0, 2, 4])},
        features={
            "pin": {
                "image": rng.normal(size=(5, 6)).astype(np.float32),
                "desc": rng.normal(size=(5, 3)).astype(np.float32),
                "text": Ragged.from_lists([[1, 2], [3], [], [4, 5, 6], [7]]),
            },
            "query": {"text": Ragged.from_lists([[1, 2], [8, 9], [3]])},
        },
    )


@pytest.fixture
def setup():
    torch.manual_seed(0)
    g = make_graph()
    schema = FeatureSchema.from_graph(g)
    text = HashTextEmbedder(num_buckets=128, dim=DIM)
    pin = ContentEncoder.from_schema(schema["pin"], dim=DIM, num_heads=2, text_embedder=text)
    return NodeFeaturizer(g, max_tokens=4), schema, text, pin


def test_shapes_and_leading_dims(setup):
    fz, _, _, pin = setup
    fb = fz("pin", torch.tensor([[0, 1, 2], [3, 4, 0]]))
    out = pin(fb)
    assert out.shape == (2, 3, DIM) and torch.isfinite(out).all()
    flat = pin(fz("pin", torch.tensor([0, 1, 2, 3, 4, 0])))
    torch.testing.assert_close(out.reshape(6, DIM), flat, atol=1e-5, rtol=1e-5)
    assert pin.modality_tokens(fb).shape == (2, 3, 3, DIM)  # image, desc, text
    assert not torch.allclose(flat[0], flat[1])
    torch.testing.assert_close(flat[0], flat[5])


def test_gradients_reach_every_parameter(setup):
    fz, _, _, pin = setup
    (pin(fz("pin", torch.arange(5))) * torch.randn(5, DIM)).sum().backward()
    for name, p in pin.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_text_embedder_shared_between_types(setup):
    _, schema, text, pin = setup
    query = ContentEncoder.from_schema(schema["query"], dim=DIM, num_heads=2, text_embedder=text)
    assert query.tokens.text_embedder is pin.tokens.text_embedder
    both = torch.nn.ModuleList([pin, query])
    n_shared = text.weight.numel()
    total = sum(p.numel() for p in both.parameters())
    assert total == sum(p.numel() for p in pin.parameters()) + sum(
        p.numel() for p in query.parameters()
    ) - sum(p.numel() for p in text.parameters())
    assert total > n_shared


def test_text_and_dense_change_output_padding_does_not(setup):
    fz, _, _, pin = setup
    pin.eval()
    fb = fz("pin", torch.tensor([3]))
    ref = pin(fb)
    tok = fb.tokens["text"].clone()
    tok[0, 1] = 42
    changed = FeatureBatch("pin", fb.ids, fb.dense, {"text": tok}, fb.token_mask, fb.log_degree)
    assert (pin(changed) - ref).abs().max() > 1e-4
    tok = fb.tokens["text"].clone()
    tok[0, 3] = 42  # masked position (row 3 has 3 tokens)
    padded = FeatureBatch("pin", fb.ids, fb.dense, {"text": tok}, fb.token_mask, fb.log_degree)
    assert torch.equal(pin(padded), ref)
    dense = {**fb.dense, "desc": fb.dense["desc"] + 1.0}
    assert (
        pin(FeatureBatch("pin", fb.ids, dense, fb.tokens, fb.token_mask)) - ref
    ).abs().max() > 1e-4


def test_own_text_embedder_and_dense_only():
    torch.manual_seed(0)
    enc = ContentEncoder({"a": 2}, dim=8, num_heads=2, num_layers=2)
    assert enc.tokens.text_embedder is None
    fb = FeatureBatch("x", torch.arange(3), {"a": torch.randn(3, 2)})
    assert enc(fb).shape == (3, 8)
    enc2 = ContentEncoder({}, ["t"], dim=8, num_heads=2)
    assert (
        isinstance(enc2.tokens.text_embedder, HashTextEmbedder)
        and enc2.tokens.text_embedder.dim == 8
    )
    ms = ModalityTokens(enc2.tokens.schema, dim=4, text_embedder=enc2.tokens.text_embedder)
    fb2 = FeatureBatch(
        "x",
        torch.arange(2),
        {},
        {"t": torch.ones(2, 3, dtype=torch.long)},
        {"t": torch.ones(2, 3, dtype=torch.bool)},
    )
    assert ms(fb2).shape == (2, 1, 4)  # text projected from the shared 8-dim embedder to 4


def test_content_errors(setup):
    fz, schema, _, pin = setup
    with pytest.raises(SchemaError, match="expected a batch of node type 'pin', got 'query'"):
        pin(fz("query", torch.tensor([0])))
    fb = fz("pin", torch.tensor([0]))
    with pytest.raises(ShapeError, match=r"'image' must be a float tensor of shape \(1, 6\)"):
        pin(
            FeatureBatch(
                "pin", fb.ids, {**fb.dense, "image": torch.zeros(1, 5)}, fb.tokens, fb.token_mask
            )
        )
    with pytest.raises(SchemaError, match="missing token feature 'text'"):
        pin(FeatureBatch("pin", fb.ids, fb.dense))
    with pytest.raises(ConfigError, match="at least one dense or text feature"):
        ContentEncoder({}, [])
    with pytest.raises(ConfigError, match="divisible by num_heads"):
        ContentEncoder({"a": 2}, dim=10, num_heads=4)
    with pytest.raises(ConfigError, match="sequence of names"):
        ContentEncoder({}, "text")
    with pytest.raises(ConfigError, match="no features"):
        ModalityTokens(schema["pin"].__class__("user"), dim=4)
