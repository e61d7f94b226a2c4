"""load_ogb on tiny datasets written here in OGB's extracted layout, and on the real ogbl-ddi."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphrep.data.dataset import GraphDataset
from graphrep.data.ogb import load_ogb
from graphrep.data.safe_load import load_numpy_pickle
from graphrep.errors import ConfigError, GraphFormatError

DDI = Path("/work/shared/data/ogb/ogbl_ddi")


def _csv(path: Path, rows, header=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=header)
    df.to_csv(path, header=header is not None, index=False, compression="gzip")


def _files(root: Path) -> set:
    return {(str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*")}


# ---------------------------------------------------------------- ogbl-ddi (homogeneous link)
DDI_TRAIN = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]])
DDI_VALID, DDI_VALID_NEG = np.array([[0, 2], [1, 3]]), np.array([[0, 3], [2, 4], [1, 4]])
DDI_TEST, DDI_TEST_NEG = np.array([[1, 4]]), np.array([[0, 0], [2, 2]])


def _write_ddi(root: Path) -> Path:
    d = root / "ogbl_ddi"
    _csv(d / "raw" / "edge.csv.gz", DDI_TRAIN)
    _csv(d / "raw" / "num-node-list.csv.gz", [[5]])
    _csv(d / "raw" / "num-edge-list.csv.gz", [[len(DDI_TRAIN)]])
    s = d / "split" / "target"
    s.mkdir(parents=True)
    torch.save({"edge": DDI_TRAIN}, s / "train.pt")
    torch.save({"edge": DDI_VALID, "edge_neg": DDI_VALID_NEG}, s / "valid.pt")
    torch.save({"edge": DDI_TEST, "edge_neg": DDI_TEST_NEG}, s / "test.pt")
    return d


def test_ddi_tiny_symmetric_train_graph_and_splits(tmp_path):
    _write_ddi(tmp_path / "ogb")
    ds = load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    g = ds.graph
    assert g.num_nodes == {"node": 5}
    assert g.canonical_edge_types == [("node", "to", "node")]
    src, dst = g.csr("to").to_coo()
    got = sorted(zip(src.tolist(), dst.tolist(), strict=True))
    want = sorted([(u, v) for u, v in DDI_TRAIN.tolist()] + [(v, u) for u, v in DDI_TRAIN.tolist()])
    assert got == want  # both directions, each once
    assert g.features["node"] == {}
    assert ds.meta["task"] == "link_prediction" and ds.meta["ogb_name"] == "ogbl-ddi"
    assert ds.meta["symmetric"] is True and ds.meta["node_type"] == "node"
    assert ds.meta["source"] == str(tmp_path / "ogb" / "ogbl_ddi")
    for key, want_arr in [("train_edges", DDI_TRAIN), ("valid_edges", DDI_VALID),
                          ("valid_edges_neg", DDI_VALID_NEG), ("test_edges", DDI_TEST),
                          ("test_edges_neg", DDI_TEST_NEG)]:
        assert ds.truth[key].dtype == np.int64
        np.testing.assert_array_equal(ds.truth[key], want_arr)


def test_ddi_cache_reused_and_invalidated(tmp_path):
    d = _write_ddi(tmp_path / "ogb")
    first = load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "manifest.json").is_file()
    again = load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    assert again.graph.equals(first.graph) and again.meta == first.meta
    assert isinstance(again.truth["valid_edges"], np.memmap)  # came from the cache
    torch.save({"edge": DDI_TEST[:0], "edge_neg": DDI_TEST_NEG}, d / "split/target/test.pt")
    os.utime(d / "split/target/test.pt", ns=(1, 1))
    changed = load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    assert changed.truth["test_edges"].shape == (0, 2)


def test_read_only_root_writes_nothing(tmp_path):
    root = tmp_path / "ogb"
    _write_ddi(root)
    before = _files(root)
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        # as root chmod has no effect; the load still runs and must leave root untouched
        read_only = not os.access(root / "ogbl_ddi", os.W_OK)
        ds = load_ogb("ogbl-ddi", root, cache_dir=tmp_path / "cache")
        assert ds.graph.num_edges() == 2 * len(DDI_TRAIN)
    finally:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert _files(root) == before
    assert read_only or os.geteuid() == 0


def test_errors_name_path_or_dataset(tmp_path):
    with pytest.raises(ConfigError, match="ogbl-nope"):
        load_ogb("ogbl-nope", tmp_path)
    with pytest.raises(ConfigError, match="KG completion"):
        load_ogb("ogbl-wikikg2", tmp_path)
    with pytest.raises(GraphFormatError, match="not a directory"):
        load_ogb("ogbl-ddi", tmp_path / "missing")
    with pytest.raises(GraphFormatError, match="ogbl_ddi"):
        load_ogb("ogbl-ddi", tmp_path)
    d = _write_ddi(tmp_path / "ogb")
    (d / "raw" / "num-edge-list.csv.gz").unlink()
    with pytest.raises(GraphFormatError, match=r"num-edge-list\.csv\.gz"):
        load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "c1")


def test_split_file_with_arbitrary_pickle_is_refused(tmp_path):
    d = _write_ddi(tmp_path / "ogb")
    torch.save({"edge": DDI_VALID, "edge_neg": DDI_VALID_NEG, "x": Path("a")},
               d / "split/target/valid.pt")
    with pytest.raises(GraphFormatError, match=r"valid\.pt"):
        load_ogb("ogbl-ddi", tmp_path / "ogb", cache_dir=tmp_path / "cache")
    (d / "split/target/test.pt").write_bytes(b"not a torch file")
    with pytest.raises(GraphFormatError, match=r"test\.pt"):
        load_numpy_pickle(d / "split/target/test.pt")


# ---------------------------------------------------------------- ogbn-mag (heterogeneous node)
MAG_RELS = {
    ("author", "affiliated_with", "institution"): [[0, 0], [1, 1], [2, 0]],
    ("author", "writes", "paper"): [[0, 0], [0, 1], [1, 2], [2, 3], [2, 4]],
    ("paper", "cites", "paper"): [[1, 0], [2, 0], [4, 3]],
    ("paper", "has_topic", "field_of_study"): [[0, 0], [1, 1], [2, 0], [3, 1], [4, 1]],
}
MAG_X = np.arange(10, dtype=np.float32).reshape(5, 2) / 4
MAG_YEAR, MAG_LABEL = np.array([2010, 2011, 2018, 2019, 2019]), np.array([3, 0, 1, 1, 2])


def _write_mag(root: Path, split_dict: bool = False) -> Path:
    d, raw = root / "ogbn_mag", root / "ogbn_mag" / "raw"
    counts = {"author": 3, "field_of_study": 2, "institution": 2, "paper": 5}
    _csv(raw / "num-node-dict.csv.gz", [list(counts.values())], header=list(counts))
    _csv(raw / "triplet-type-list.csv.gz", [list(et) for et in MAG_RELS])
    for et, e in MAG_RELS.items():
        _csv(raw / "relations" / "___".join(et) / "edge.csv.gz", e)
        _csv(raw / "relations" / "___".join(et) / "num-edge-list.csv.gz", [[len(e)]])
        _csv(raw / "relations" / "___".join(et) / "edge_reltype.csv.gz", [[7]] * len(e))
    _csv(raw / "node-feat" / "paper" / "node-feat.csv.gz", MAG_X)
    _csv(raw / "node-feat" / "paper" / "node_year.csv.gz", MAG_YEAR[:, None])
    has = [[t == "paper" for t in counts]]
    _csv(raw / "nodetype-has-label.csv.gz", has, header=list(counts))
    _csv(raw / "node-label" / "paper" / "node-label.csv.gz", MAG_LABEL[:, None])
    s = d / "split" / "time"
    if split_dict:
        s.mkdir(parents=True)
        torch.save({"train": {"paper": np.array([4, 0])}, "valid": {"paper": np.array([1])},
                    "test": {"paper": np.array([2, 3])}}, s / "split_dict.pt")
    else:
        _csv(s / "nodetype-has-split.csv.gz", has, header=list(counts))
        for part, idx in (("train", [0, 1]), ("valid", [2]), ("test", [3, 4])):
            _csv(s / "paper" / f"{part}.csv.gz", np.array(idx)[:, None])
    return d


def test_mag_tiny_heterogeneous(tmp_path):
    _write_mag(tmp_path)
    ds = load_ogb("ogbn-mag", tmp_path, cache_dir=tmp_path / "cache")
    g = ds.graph
    assert g.num_nodes == {"author": 3, "field_of_study": 2, "institution": 2, "paper": 5}
    assert sorted(g.canonical_edge_types) == sorted(MAG_RELS)
    for et, e in MAG_RELS.items():
        src, dst = g.csr(et).to_coo()
        assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == sorted(map(tuple, e))
        np.testing.assert_array_equal(g.csr(et).edge_data["reltype"], 7)
    assert g.num_edges(("paper", "rev_cites", "paper")) == 3  # directed: reverse separate
    np.testing.assert_allclose(g.features["paper"]["x"], MAG_X)
    np.testing.assert_array_equal(g.features["paper"]["year"][:, 0], MAG_YEAR)
    assert g.features["author"] == {}
    assert ds.meta["task"] == "node_classification" and ds.meta["label_type"] == "paper"
    assert ds.meta["num_classes"] == 349 and ds.meta["symmetric"] is False
    assert ds.truth["label"].dtype == np.int64
    np.testing.assert_array_equal(ds.truth["label"], MAG_LABEL)
    np.testing.assert_array_equal(ds.truth["train_idx"], [0, 1])
    np.testing.assert_array_equal(ds.truth["valid_idx"], [2])
    np.testing.assert_array_equal(ds.truth["test_idx"], [3, 4])
    back = GraphDataset.load(tmp_path / "cache")
    assert back.graph.equals(g)


def test_mag_split_dict_pt(tmp_path):
    _write_mag(tmp_path, split_dict=True)
    ds = load_ogb("ogbn-mag", tmp_path / "ogbn_mag", cache_dir=tmp_path / "cache")  # dir itself
    np.testing.assert_array_equal(ds.truth["train_idx"], [4, 0])
    np.testing.assert_array_equal(ds.truth["test_idx"], [2, 3])
    assert ds.truth["train_idx"].dtype == np.int64


# ---------------------------------------------------------------- the real ogbl-ddi copy
@pytest.mark.skipif(not DDI.is_dir(), reason="no real ogbl-ddi copy in /work/shared/data")
def test_real_ddi_counts(tmp_path):
    before = _files(DDI)
    t0 = time.perf_counter()
    ds = load_ogb("ogbl-ddi", DDI.parent, cache_dir=tmp_path / "cache")
    elapsed = time.perf_counter() - t0
    assert ds.graph.num_nodes == {"node": 4267}
    assert ds.graph.num_edges() == 2 * 1_067_911
    assert ds.truth["train_edges"].shape == (1_067_911, 2)
    assert ds.truth["valid_edges"].shape == ds.truth["test_edges"].shape == (133_489, 2)
    assert ds.truth["valid_edges_neg"].shape == (101_882, 2)
    assert ds.truth["test_edges_neg"].shape == (95_599, 2)
    src, dst = ds.graph.csr("to").to_coo()
    assert np.array_equal(np.sort(src * 4267 + dst), np.sort(dst * 4267 + src))  # symmetric
    assert elapsed < 10, elapsed
    assert _files(DDI) == before  # nothing written into shared data


def test_ogb_input_prompt_is_refused_not_blocking():
    import builtins

    from graphrep.data.ogb import _guarded

    orig = builtins.input
    with pytest.raises(GraphFormatError, match="interactive input"), _guarded("x"):
        input("Will you update the dataset now? (y/N)\n")
    assert builtins.input is orig  # restored
