"""FeatureSchema / FeatureBatch / NodeFeaturizer: gathering matches the graph's arrays exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from graphrep.errors import GraphValidationError, SchemaError, ShapeError
from graphrep.graph import HeteroGraph, Ragged
from graphrep.models.features import FeatureBatch, FeatureSchema, NodeFeaturizer, NodeSchema


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TEXT = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9], [9, 9], [0]]


def make_graph(image_dtype=np.float32) -> HeteroGraph:
    rng = np.random.default_rng(0)
    return HeteroGraph.from_edges(
        {"pin": 6, "board": 3, "user": 4},
        {
            ("board", "contains", "pin"): ([0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 3, 4, 5, 0]),
            ("user", "engaged", "pin"): ([0, 1, 2, 3, 3], [0, 2, 4, 5, 1]),
        },
        features={
            "pin": {
                "image": rng.normal(size=(6, 5)).astype(image_dtype),
                "text": Ragged.from_lists(TEXT),
            },
            "board": {"title": Ragged.from_lists([[11], [2, 3], []]), "score": np.arange(3.0)},
        },
    )


def test_schema_from_graph_and_roundtrip():
    schema = FeatureSchema.from_graph(make_graph())
    assert schema.node_types == ["pin", "board", "user"]
    pin = schema["pin"]
    assert pin.dense == {"image": 5} and pin.text == ("text",) and pin.vocab == {"text": 10}
    assert pin.num_nodes == 6 and pin.num_modalities == 2 and not pin.featureless
    assert schema["board"].dense == {"score": 1} and schema["board"].vocab == {"title": 12}
    assert schema["user"].featureless and schema["user"].num_modalities == 0
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    with pytest.raises(SchemaError, match=r"'query'.*\['board', 'pin', 'user'\]"):
        schema["query"]


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_gather_matches_graph_arrays(shape):
    g = make_graph()
    fz = NodeFeaturizer(g, max_tokens=4)
    ids = torch.tensor([3, 0, 5, 2, 3, 1][: int(np.prod(shape))]).reshape(shape)
    fb = fz("pin", ids)
    assert fb.node_type == "pin" and fb.shape == torch.Size(shape)
    flat = ids.reshape(-1).numpy()
    img = fb.dense["image"]
    assert img.dtype == torch.float32 and img.shape == (*shape, 5)
    np.testing.assert_array_equal(img.reshape(-1, 5).numpy(), g.features["pin"]["image"][flat])
    tok, mask = fb.tokens["text"], fb.token_mask["text"]
    assert tok.dtype == torch.long and mask.dtype == torch.bool and tok.shape == (*shape, 4)
    for row, (t, m) in zip(
        flat, zip(tok.reshape(-1, 4), mask.reshape(-1, 4), strict=True), strict=True
    ):
        expected = TEXT[row][:4]  # truncated to max_tokens
        assert t[m].tolist() == expected
        assert m.tolist() == [True] * len(expected) + [False] * (4 - len(expected))
    np.testing.assert_array_equal(fb.log_degree.reshape(-1).numpy(), g.log_degree("pin")[flat, 0])
    assert fb.log_degree.shape == (*shape, 1)


def test_gather_featureless_and_empty_and_float64():
    g = make_graph(image_dtype=np.float64)
    fz = NodeFeaturizer(g)
    fb = fz("user", np.array([[3, 0]]))
    assert fb.dense == {} and fb.tokens == {} and fb.ids.dtype == torch.long
    np.testing.assert_allclose(fb.log_degree[0, :, 0].numpy(), np.log1p([2, 1]))
    empty = fz("pin", torch.zeros(3, 0, dtype=torch.long))
    assert empty.dense["image"].shape == (3, 0, 5) and empty.tokens["text"].shape == (3, 0, 32)
    pin = fz("pin", torch.tensor([1]))
    assert pin.dense["image"].dtype == torch.float32  # float64 features are cast
    np.testing.assert_allclose(
        pin.dense["image"][0].numpy(), g.features["pin"]["image"][1], rtol=1e-6
    )


def test_gather_from_memory_mapped_graph(tmp_path):
    g = make_graph()
    g.save(tmp_path / "g")
    loaded = HeteroGraph.load(tmp_path / "g", mmap=True)
    ids = torch.tensor([[5, 1], [0, 3]])
    a, b = NodeFeaturizer(g)("pin", ids), NodeFeaturizer(loaded)("pin", ids)
    assert torch.equal(a.dense["image"], b.dense["image"])
    assert torch.equal(a.tokens["text"], b.tokens["text"])
    assert torch.equal(a.token_mask["text"], b.token_mask["text"])


def test_feature_dims_and_to():
    fz = NodeFeaturizer(make_graph())
    assert fz.feature_dims("board") == {
        "dense": {"score": 1},
        "text": ["title"],
        "vocab": {"title": 12},
    }
    fb = fz("board", torch.tensor([0, 2])).to("cpu")
    assert fb.tokens["title"][0, 0].item() == 11 and fb.token_mask["title"][1].sum().item() == 0


def test_gather_errors():
    fz = NodeFeaturizer(make_graph())
    with pytest.raises(GraphValidationError, match=r"'pin'.*6 is out of range.*\[0, 6\)"):
        fz("pin", torch.tensor([0, 6]))
    with pytest.raises(GraphValidationError, match="-1"):
        fz("pin", torch.tensor([[-1, 0]]))
    with pytest.raises(GraphValidationError, match=r"integer node ids.*float"):
        fz("pin", torch.tensor([0.0, 1.0]))
    with pytest.raises(SchemaError, match="'movie'"):
        fz("movie", torch.tensor([0]))
    with pytest.raises(GraphValidationError, match="max_tokens"):
        NodeFeaturizer(make_graph(), max_tokens=0)


def test_gather_neighbors_replaces_masked_ids():
    fz = NodeFeaturizer(make_graph())
    nbhd = SimpleNamespace(
        ids={"pin": torch.tensor([[4, -1], [2, 3]]), "user": torch.tensor([[1], [-1]])},
        weights={"pin": torch.tensor([[1.0, 0.0], [0.25, 0.75]]), "user": torch.ones(2, 1)},
        mask={
            "pin": torch.tensor([[True, False], [True, True]]),
            "user": torch.tensor([[True], [False]]),
        },
    )
    out = fz.gather_neighbors(nbhd)
    fb, w, m = out["pin"]
    assert fb.ids.tolist() == [[4, 0], [2, 3]] and torch.equal(w, nbhd.weights["pin"])
    assert torch.equal(m, nbhd.mask["pin"]) and fb.dense["image"].shape == (2, 2, 5)
    assert out["user"][0].ids.tolist() == [[1], [0]]
    nbhd.weights["pin"] = torch.ones(2, 3)
    with pytest.raises(ShapeError, match="'pin'"):
        fz.gather_neighbors(nbhd)


def test_feature_batch_check():
    fz = NodeFeaturizer(make_graph())
    schema = fz.schema["pin"]
    fb = fz("pin", torch.tensor([[0, 1]]))
    fb.check(schema, (1, 2))
    with pytest.raises(ShapeError, match=r"shape \(1, 2\), expected \(2,\)"):
        fb.check(schema, (2,))
    with pytest.raises(SchemaError, match="expected a batch of node type 'board'"):
        fb.check(fz.schema["board"])
    bad = FeatureBatch("pin", fb.ids, {"image": fb.dense["image"].long()}, fb.tokens, fb.token_mask)
    with pytest.raises(ShapeError, match="'image' must be a float tensor"):
        bad.check(schema)
    bad = FeatureBatch(
        "pin", fb.ids, {"image": fb.dense["image"][..., :3]}, fb.tokens, fb.token_mask
    )
    with pytest.raises(ShapeError, match=r"\(1, 2, 5\)"):
        bad.check(schema)
    bad = FeatureBatch("pin", fb.ids.float(), fb.dense, fb.tokens, fb.token_mask)
    with pytest.raises(ShapeError, match=r"ids must be a torch\.long"):
        bad.check(schema)
    bad = FeatureBatch("pin", fb.ids, fb.dense, fb.tokens, {"text": fb.token_mask["text"].long()})
    with pytest.raises(ShapeError, match="token_mask 'text' must be a bool"):
        bad.check(schema)
    with pytest.raises(SchemaError, match="missing dense feature 'image'"):
        FeatureBatch("pin", fb.ids, {}, fb.tokens, fb.token_mask).check(schema)
    with pytest.raises(ShapeError, match="log_degree"):
        FeatureBatch("user", fb.ids).check(NodeSchema("user"))
