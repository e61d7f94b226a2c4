"""Propagated skip path: the linear map by hand, PinSage's output with it, init, reset, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphrep.errors import ConfigError
from graphrep.graph import HeteroGraph
from graphrep.models.features import FeatureSchema, NodeFeaturizer
from graphrep.models.pinsage import PinSage
from graphrep.models.skip import PropagatedSkip, propagated_names
from graphrep.train.presets import preset

DIM, HID = 6, 10


@pytest.fixture(scope="module")
def env():
    rng = np.random.default_rng(0)
    g = HeteroGraph.from_edges(
        {"paper": 5},
        {("paper", "cites", "paper"): ([0, 1, 2, 3, 4], [1, 2, 3, 4, 0])},
        features={"paper": {"x": rng.normal(size=(5, 4)).astype(np.float32),
                            "x@ppr": rng.normal(size=(5, 3)).astype(np.float32)}},
    )  # fmt: skip
    return g, NodeFeaturizer(g, max_tokens=4), FeatureSchema.from_graph(g)


def encoder(schema, skip=True) -> PinSage:
    torch.manual_seed(0)
    return PinSage("paper", schema, ("paper",), dim=DIM, hidden=HID, skip=skip)


def neighbors(fz):
    ids = torch.tensor([[1, 2], [3, 4], [0, 1]])
    w = torch.tensor([[0.7, 0.3], [0.5, 0.5], [1.0, 0.0]])
    return {"paper": (fz("paper", ids), w, w > 0)}


def test_skip_is_the_linear_map_of_the_propagated_features_only(env):
    g, fz, schema = env
    skip = PropagatedSkip(schema["paper"], DIM)
    assert propagated_names(schema["paper"]) == ["x@ppr"] == skip.names
    fb = fz("paper", torch.tensor([0, 3]))
    p = torch.from_numpy(g.features["paper"]["x@ppr"][[0, 3]])
    want = p @ skip.lin.weight.T + skip.lin.bias
    torch.testing.assert_close(skip(fb), want)
    fb.dense["x"] = fb.dense["x"] * 100.0  # the raw features are not read
    torch.testing.assert_close(skip(fb), want)


def test_untrained_pinsage_with_skip_is_the_normalised_projection(env):
    _, fz, schema = env
    enc = encoder(schema)
    fb = fz("paper", torch.tensor([0, 1, 2]))
    z = enc(fb, neighbors(fz))
    torch.testing.assert_close(z, F.normalize(enc.skip(fb), dim=-1))


def test_trained_output_adds_the_skip_before_normalising(env):
    _, fz, schema = env
    enc, plain = encoder(schema), encoder(schema, skip=False)
    torch.manual_seed(1)
    with torch.no_grad():
        enc.head[2].weight.normal_()
        enc.head[2].bias.normal_()
    plain.load_state_dict({k: v for k, v in enc.state_dict().items() if not k.startswith("skip.")})
    captured = {}
    plain.head.register_forward_hook(lambda m, i, o: captured.setdefault("f", o))
    fb, nb = fz("paper", torch.tensor([0, 1, 2])), neighbors(fz)
    plain(fb, nb)
    want = F.normalize(captured["f"] + enc.skip(fb), dim=-1)
    torch.testing.assert_close(enc(fb, nb), want)
    # the masked node of GraphMAE (propagated features zeroed) reads the encoder path + bias
    fb.dense["x@ppr"] = torch.zeros_like(fb.dense["x@ppr"])
    captured.clear()
    plain(fb, nb)
    torch.testing.assert_close(enc(fb, nb), F.normalize(captured["f"] + enc.skip.lin.bias, dim=-1))


def test_gradients_reach_both_paths_and_reset_restarts_them(env):
    _, fz, schema = env
    enc = encoder(schema)
    fb, nb = fz("paper", torch.tensor([0, 1, 2])), neighbors(fz)
    enc(fb, nb).sum().backward()
    assert enc.skip.lin.weight.grad.abs().sum() > 0
    assert enc.head[2].weight.grad.abs().sum() > 0  # the zero-started layer learns
    before = enc.skip.lin.weight.detach().clone()
    with torch.no_grad():
        enc.head[2].weight.fill_(1.0)
    enc.reset_parameters()
    assert torch.count_nonzero(enc.head[2].weight) == 0
    assert not torch.equal(before, enc.skip.lin.weight)
    assert "skip=True" in repr(enc)


def test_errors_name_the_type_and_the_setting():
    bare = FeatureSchema.from_graph(
        HeteroGraph.from_edges({"paper": 2}, {("paper", "cites", "paper"): ([0], [1])},
                               features={"paper": {"x": np.ones((2, 3), np.float32)}})
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"'paper'.*model\.propagated"):
        PropagatedSkip(bare["paper"], DIM)
    with pytest.raises(ConfigError, match=r"model\.skip"):
        preset("cora").override(["model.encoder=entity", "model.skip=true"])
    with pytest.raises(ConfigError, match=r"model\.skip"):
        preset("cora").override(["model.propagated=false", "model.skip=true"])
