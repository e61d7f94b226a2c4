"""load_lightgcn on hand-written files (checked against a line-by-line parse) and real Gowalla."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from graphrep.data.lightgcn import load_lightgcn, parse_interactions
from graphrep.errors import GraphFormatError

GOWALLA = Path("/work/shared/data/gowalla")


def _reference(text: str) -> list[tuple[int, int]]:
    return [(int(ln.split()[0]), int(t)) for ln in text.splitlines() if ln.strip()
            for t in ln.split()[1:]]


def _write(d: Path, train: str, test: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "train.txt").write_text(train)
    (d / "test.txt").write_text(test)
    return d


TRAIN = "0 1 2 10\n1 0\n2\n3 4 4 1203\r\n\n  5\t7 8  \n"  # user 2 has no items, CRLF, tabs
TEST = "0 3\n1 1 2\n6 9\n"  # user 6 and item 9 appear in test only


def test_tiny_files(tmp_path):
    d = _write(tmp_path / "MyData", TRAIN, TEST)
    ds = load_lightgcn(d)
    g = ds.graph
    assert g.num_nodes == {"user": 7, "item": 1204}  # max id + 1 over both files
    src, dst = g.csr(("user", "interacted", "item")).to_coo()
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == sorted(_reference(TRAIN))
    assert g.num_edges() == 9  # the repeated (3, 4) is kept
    assert g.csr("interacted").degrees().tolist() == [3, 1, 0, 3, 0, 2, 0]
    pairs = ds.truth["test_pairs"]
    assert pairs.dtype == np.int64 and pairs.tolist() == [list(p) for p in _reference(TEST)]
    assert ds.meta == {
        "name": "mydata", "task": "recommendation", "source": str(d), "user_type": "user",
        "item_type": "item", "relation": ["user", "interacted", "item"],
    }
    assert load_lightgcn(d, name="x").meta["name"] == "x"


def test_parse_matches_reference_on_random_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(map(str, [u, *rng.integers(0, 10**12, rng.integers(0, 6))]))
             for u in rng.permutation(200)]
    text = "\n".join(lines)  # no trailing newline
    (tmp_path / "f.txt").write_text(text)
    users, items = parse_interactions(tmp_path / "f.txt")
    want = np.array(_reference(text), dtype=np.int64)
    np.testing.assert_array_equal(np.stack([users, items], axis=1), want)
    (tmp_path / "empty.txt").write_text("")
    assert [len(a) for a in parse_interactions(tmp_path / "empty.txt")] == [0, 0]


@pytest.mark.parametrize("bad", ["3 x4", "3 -4", "3 4.0", "3 1234567890123456789"])
def test_bad_token_names_file_and_line(tmp_path, bad):
    d = _write(tmp_path, "0 1\n1 2\n", f"0 1\n\n{bad}\n4 5\n")
    with pytest.raises(GraphFormatError, match=r"test\.txt' line 3: "):
        load_lightgcn(d)


def test_missing_files(tmp_path):
    with pytest.raises(GraphFormatError, match="not a directory"):
        load_lightgcn(tmp_path / "nope")
    (tmp_path / "train.txt").write_text("0 1\n")
    with pytest.raises(GraphFormatError, match=r"test\.txt"):
        load_lightgcn(tmp_path)


@pytest.mark.skipif(not (GOWALLA / "train.txt").is_file(), reason="no Gowalla copy")
def test_real_gowalla_counts():
    t0 = time.perf_counter()
    ds = load_lightgcn(GOWALLA)
    elapsed = time.perf_counter() - t0
    assert ds.graph.num_nodes == {"user": 29_858, "item": 40_981}
    assert ds.graph.num_edges() == 810_128
    assert ds.truth["test_pairs"].shape == (217_242, 2)
    assert ds.meta["name"] == "gowalla"
    assert ds.graph.csr("interacted").degrees().min() >= 8  # SOURCE.md: >= 8 train items
    assert elapsed < 5, elapsed
