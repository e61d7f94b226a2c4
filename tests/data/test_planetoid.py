"""load_planetoid against the real Cora copy (read through PyG, processed into a tmp cache)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from graphrep.data.planetoid import load_planetoid
from graphrep.errors import ConfigError, GraphFormatError

ROOT = Path("/work/shared/data/planetoid")
needs_cora = pytest.mark.skipif(not (ROOT / "Cora" / "raw").is_dir(), reason="no Cora copy")


def _files(root: Path) -> set:
    return {(str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*")}


@needs_cora
def test_cora_public_counts_and_conventions(tmp_path):
    before = _files(ROOT)
    ds = load_planetoid("Cora", ROOT, cache_dir=tmp_path / "cache")
    g = ds.graph
    assert g.num_nodes == {"paper": 2708}
    assert g.canonical_edge_types == [("paper", "cites", "paper")]
    assert g.num_edges() == 10556
    src, dst = g.csr("cites").to_coo()
    fwd = np.sort(src.astype(np.int64) * 2708 + dst)
    assert np.array_equal(fwd, np.sort(dst.astype(np.int64) * 2708 + src))  # symmetric
    assert len(np.unique(fwd)) == 10556 and not np.any(src == dst)
    x = g.features["paper"]["x"]
    assert x.shape == (2708, 1433) and x.dtype == np.float32
    assert set(np.unique(x).tolist()) == {0.0, 1.0}  # raw bag of words, not row-normalised
    y = ds.truth["label"]
    assert y.dtype == np.int64 and y.shape == (2708,) and set(y.tolist()) == set(range(7))
    tr, va, te = (ds.truth[k] for k in ("train_idx", "valid_idx", "test_idx"))
    assert (len(tr), len(va), len(te)) == (140, 500, 1000)
    np.testing.assert_array_equal(tr, np.arange(140))  # Planetoid: first 20 per class
    np.testing.assert_array_equal(np.bincount(y[tr]), [20] * 7)
    np.testing.assert_array_equal(va, np.arange(140, 640))
    assert not set(tr.tolist()) & set(te.tolist())
    assert ds.meta == {
        "name": "cora", "task": "node_classification", "source": str(ROOT / "Cora" / "raw"),
        "label_type": "paper", "node_type": "paper", "relation": ["paper", "cites", "paper"],
        "split": "public", "num_classes": 7, "symmetric": True,
    }
    assert (tmp_path / "cache" / "Cora" / "processed").is_dir()
    assert _files(ROOT) == before  # PyG wrote into the cache only


@needs_cora
def test_cora_full_and_geom_gcn_splits(tmp_path):
    full = load_planetoid("cora", ROOT, split="full", cache_dir=tmp_path / "c")
    assert (len(full.truth["valid_idx"]), len(full.truth["test_idx"])) == (500, 1000)
    assert len(full.truth["train_idx"]) == 2708 - 1500
    geom = load_planetoid("Cora", ROOT, split="geom-gcn", cache_dir=tmp_path / "c")
    sizes = [len(geom.truth[k]) for k in ("train_idx", "valid_idx", "test_idx")]
    assert sizes == [1192, 796, 497]  # SOURCE.md, Geom-GCN split 0
    assert geom.meta["geom_gcn_split"] == 0


@needs_cora
def test_cache_restaged_when_raw_file_missing(tmp_path):
    load_planetoid("Cora", ROOT, cache_dir=tmp_path / "c")
    (tmp_path / "c" / "Cora" / "raw" / "ind.cora.graph").unlink()
    ds = load_planetoid("Cora", ROOT, cache_dir=tmp_path / "c")
    assert ds.graph.num_edges() == 10556


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="root"):
        load_planetoid("Cora")
    with pytest.raises(ConfigError, match="split"):
        load_planetoid("Cora", tmp_path, split="random")
    with pytest.raises(GraphFormatError, match="not a directory"):
        load_planetoid("Cora", tmp_path / "nope")
    with pytest.raises(GraphFormatError, match="CiteSeer"):
        load_planetoid("CiteSeer", tmp_path)
    if (ROOT / "Cora" / "raw").is_dir():
        shutil.copytree(ROOT / "Cora", tmp_path / "Cora")
        (tmp_path / "Cora" / "raw" / "ind.cora.ty").unlink()
        with pytest.raises(GraphFormatError, match=r"ind\.cora\.ty"):
            load_planetoid("Cora", tmp_path, cache_dir=tmp_path / "cache")
