"""FeatureInputs: the modality inputs of several node types prepared in one text-embedder
call equal the inputs computed type by type (values and gradients)."""

from __future__ import annotations

import torch

from graphrep.models.encoders import build_encoders
from graphrep.models.features import FeatureSchema, NodeFeaturizer
from graphrep.models.tokens import FeatureInputs
from tests.models.test_entity import make_graph

DIM = 16


def test_prepare_equals_lazy_inputs_per_type():
    torch.set_num_threads(1)
    g = make_graph()
    fz, schema = NodeFeaturizer(g, max_tokens=4), FeatureSchema.from_graph(g)
    torch.manual_seed(0)
    encs = build_encoders(schema, {"pin": ["pin"], "board": ["pin"]}, "entity", dim=DIM, id_buckets=32)
    mods = {t: encs[t].raw[0].modalities for t in ("pin", "board")}
    text = mods["pin"].text_embedder
    assert text is mods["board"].text_embedder
    feats = {"pin": fz("pin", torch.tensor([0, 3, 5, 7])), "board": fz("board", torch.tensor([2, 0]))}
    rows = {"pin": torch.tensor([3, 0, 0]), "board": torch.tensor([1, 0])}
    results = []
    for prepare in (False, True):
        text.zero_grad()
        inputs = FeatureInputs(feats)
        if prepare:
            inputs.prepare(mods)
        toks = {t: inputs.tokens(encs[t].raw[0], rows[t]) for t in rows}
        (toks["pin"].square().sum() + toks["board"].sum()).backward()
        results.append((toks, text.weight.grad.to_dense().clone()))
    (lazy, g_lazy), (prep, g_prep) = results
    for t in rows:
        torch.testing.assert_close(prep[t], lazy[t])
    torch.testing.assert_close(g_prep, g_lazy)
    assert g_lazy.abs().sum() > 0
