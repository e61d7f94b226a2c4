"""carve_validation: held-out edges leave the training graph, deterministically, never a
user's last item; link negatives are non-edges."""

from __future__ import annotations

import numpy as np
import pytest

from graphrep.data.lightgcn import load_lightgcn
from graphrep.data.ogb import load_ogb
from graphrep.data.splits import carve_validation
from graphrep.errors import ConfigError
from tests.planted import write_lightgcn, write_ogbl


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return load_lightgcn(write_lightgcn(tmp_path_factory.mktemp("rec") / "tiny"))


def _pairs(g, et):
    s, d = g.csr(et).to_coo()
    return set(zip(s.tolist(), d.tolist(), strict=True))


def test_recommendation_holdout(rec):
    et = ("user", "interacted", "item")
    out = carve_validation(rec, 0.2, seed=3)
    val = {tuple(p) for p in out.truth["val_pairs"].tolist()}
    before, after = _pairs(rec.graph, et), _pairs(out.graph, et)
    assert val and val.isdisjoint(after) and after | val == before
    assert 0.1 < len(val) / len(before) < 0.3
    # every user with training items keeps at least one
    assert (out.graph.csr(et).degrees() > 0).sum() == (rec.graph.csr(et).degrees() > 0).sum()
    # the reverse relation follows, test pairs and meta are kept
    assert _pairs(out.graph, ("item", "rev_interacted", "user")) == {(i, u) for u, i in after}
    np.testing.assert_array_equal(out.truth["test_pairs"], rec.truth["test_pairs"])
    assert out.meta["validation"] == {"fraction": 0.2, "seed": 3}
    again = carve_validation(rec, 0.2, seed=3)
    np.testing.assert_array_equal(again.truth["val_pairs"], out.truth["val_pairs"])
    other = carve_validation(rec, 0.2, seed=4)
    assert not np.array_equal(other.truth["val_pairs"], out.truth["val_pairs"])


def test_link_holdout_removes_both_directions(tmp_path):
    write_ogbl(tmp_path / "ogb")
    ds = load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    out = carve_validation(ds, 0.1, seed=0)
    et = ("node", "to", "node")
    val = {tuple(p) for p in out.truth["val_edges"].tolist()}
    after = _pairs(out.graph, et)
    assert val and all(a < b for a, b in val)
    assert all((a, b) not in after and (b, a) not in after for a, b in val)
    before = _pairs(ds.graph, et)
    assert after | val | {(b, a) for a, b in val} == before
    neg = out.truth["val_edges_neg"]
    assert len(neg) == len(val)
    assert all((a, b) not in before and a != b for a, b in neg.tolist())


def test_refused_where_it_does_not_apply(rec):
    with pytest.raises(ConfigError, match=r"in \(0, 1\)"):
        carve_validation(rec, 0.0)
    rec2 = type(rec)(rec.graph, None, {}, {"name": "x", "task": "node_classification"})
    with pytest.raises(ConfigError, match="validation nodes"):
        carve_validation(rec2, 0.1)
