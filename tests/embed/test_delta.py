"""Delta stores: the rows that differ from a base store, overlaid on it when read."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from graphrep.embed.changes import Changes
from graphrep.embed.delta import base_entry, delta_rows
from graphrep.embed.refresh import refresh_run
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.embed.versions import embeddings_path
from graphrep.errors import GraphFormatError
from graphrep.graph.extend import EdgeRows

DIM = 4


def _base(path, dtype="float32", overwrite=False):
    """pins with str ids and a per-row array, boards with int ids."""
    rng = np.random.default_rng(0)
    pins, boards = rng.normal(size=(5, DIM)).astype(np.float32), rng.normal(size=(3, DIM)).astype(np.float32)
    with EmbeddingWriter(path, DIM, dtype, overwrite=overwrite) as w:
        w.add("pin", pins, np.array(["a", "b", "c", "d", "e"]), {"nbr": np.arange(10).reshape(5, 2)})
        w.add("board", boards, np.array([10, 20, 30]))
    return Embeddings.load(path), pins, boards


def _delta(path, base, pins, ids, nbr, boards=None, board_ids=None, dtype="float32", **entry):
    e = {**base_entry(base.path, base.uid, path), **entry}
    with EmbeddingWriter(path, DIM, dtype, base=e) as w:
        w.add("pin", pins, ids, {"nbr": nbr})
        w.add("board", np.zeros((0, DIM)) if boards is None else boards,
              np.zeros(0, np.int64) if board_ids is None else board_ids)


def test_a_delta_replaces_the_rows_it_holds_and_appends_new_ids(tmp_path):
    base, pins, boards = _base(tmp_path / "base")
    new = np.full((3, DIM), 7.0, np.float32)
    new[2] = 9.0
    # rows of "d" and "b" (in any order), then a new pin "f"
    _delta(tmp_path / "v1", base, new, np.array(["d", "b", "f"]), np.array([[-1, -1], [-2, -2], [-3, -3]]))
    v1 = Embeddings.load(tmp_path / "v1")
    want = pins.copy()
    want[[3, 1]] = 7.0
    np.testing.assert_array_equal(v1.vectors("pin"), np.r_[want, np.full((1, DIM), 9.0, np.float32)])
    np.testing.assert_array_equal(v1.ids("pin"), ["a", "b", "c", "d", "e", "f"])
    np.testing.assert_array_equal(v1.row_arrays("pin")["nbr"][[1, 3, 5]], [[-2, -2], [-1, -1], [-3, -3]])
    np.testing.assert_array_equal(v1.row_arrays("pin")["nbr"][[0, 2, 4]], [[0, 1], [4, 5], [8, 9]])
    np.testing.assert_array_equal(v1.delta_rows("pin"), [1, 3, 5])
    # a type without delta rows is the base's memory map, untouched
    assert isinstance(v1.vectors("board"), np.memmap) and len(v1.delta_rows("board")) == 0
    np.testing.assert_array_equal(v1.vectors("board"), boards)
    assert v1.base.path == base.path and base.base is None and v1.uid != base.uid
    assert v1.lookup("pin", ["f"])[0, 0] == 9.0 and v1.index_of("pin", ["d"])[0] == 3


def test_int8_deltas_carry_their_scales(tmp_path):
    base, _, _ = _base(tmp_path / "base", "int8")
    new = np.array([[1.0, -2.0, 0.5, 3.0]], np.float32)
    _delta(tmp_path / "v1", base, new, np.array(["c"]), np.array([[0, 0]]), dtype="int8")
    v1 = Embeddings.load(tmp_path / "v1")
    np.testing.assert_allclose(v1.vectors("pin")[2], new[0], atol=3.0 / 127)
    np.testing.assert_array_equal(v1.vectors("pin")[[0, 1, 3, 4]], base.vectors("pin")[[0, 1, 3, 4]])


def test_a_delta_on_a_rewritten_base_or_on_a_delta_is_refused(tmp_path):
    base, pins, _ = _base(tmp_path / "base")
    _delta(tmp_path / "v1", base, pins[:1], np.array(["a"]), np.array([[0, 0]]))
    v1 = Embeddings.load(tmp_path / "v1")
    _delta(tmp_path / "v2", v1, pins[:1], np.array(["a"]), np.array([[0, 0]]))  # a base that is a delta
    with pytest.raises(GraphFormatError, match="itself a delta"):
        Embeddings.load(tmp_path / "v2")
    shutil.copytree(tmp_path / "v1", tmp_path / "v1c")  # a cycle: v1c on v2 on v1c
    m2 = json.loads((tmp_path / "v1c" / "manifest.json").read_text())
    m2["base"] = base_entry(tmp_path / "v2", Embeddings.load(tmp_path / "v1").uid, tmp_path / "v1c")
    (tmp_path / "v1c" / "manifest.json").write_text(json.dumps(m2))
    with pytest.raises(GraphFormatError, match="itself a delta"):
        Embeddings.load(tmp_path / "v1c")
    _base(tmp_path / "base", overwrite=True)  # written again: same shapes, a new uid
    with pytest.raises(GraphFormatError, match="re-written since"):
        Embeddings.load(tmp_path / "v1")
    m = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    m["base"] = {"path": 3}
    (tmp_path / "v1" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match="corrupt 'base' entry"):
        Embeddings.load(tmp_path / "v1")


def test_a_delta_must_match_the_base_types_and_row_arrays(tmp_path):
    base, pins, _ = _base(tmp_path / "base")
    with EmbeddingWriter(tmp_path / "v1", DIM, base=base_entry(base.path, base.uid, tmp_path / "v1")) as w:
        w.add("pin", pins[:1], np.array(["a"]), {"nbr": np.zeros((1, 2), np.int64)})
    with pytest.raises(GraphFormatError, match="entity types"):
        Embeddings.load(tmp_path / "v1")
    with EmbeddingWriter(tmp_path / "v2", DIM, base=base_entry(base.path, base.uid, tmp_path / "v2")) as w:
        w.add("pin", pins[:1], np.array(["a"]))
        w.add("board", np.zeros((0, DIM)), np.zeros(0, np.int64))
    with pytest.raises(GraphFormatError, match="per-row arrays of 'pin'"):
        Embeddings.load(tmp_path / "v2")
    _delta(tmp_path / "v3", base, pins[:1], np.array([7]), np.array([[0, 0]]))
    with pytest.raises(GraphFormatError, match="int64 ids on a base with <U1 ids"):
        Embeddings.load(tmp_path / "v3")


def test_delta_rows_is_the_union_of_the_parents_the_encoded_and_the_new_rows():
    got = delta_rows({"pin": np.array([1, 4])}, {"pin": np.array([4, 2]), "user": np.array([0])},
                     {"pin": 6, "user": 3}, {"pin": 8, "user": 3})
    np.testing.assert_array_equal(got["pin"], [1, 2, 4, 6, 7])
    np.testing.assert_array_equal(got["user"], [0])


def _all(e: Embeddings) -> dict:
    return {t: (np.array(e.vectors(t)), np.array(e.ids(t)),
                {k: np.array(v) for k, v in e.row_arrays(t).items()}) for t in e.types}


def _assert_identical(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for t in a:
        np.testing.assert_array_equal(a[t][0], b[t][0], err_msg=t)
        np.testing.assert_array_equal(a[t][1], b[t][1], err_msg=t)
        assert a[t][2].keys() == b[t][2].keys()
        for k in a[t][2]:
            np.testing.assert_array_equal(a[t][2][k], b[t][2][k], err_msg=f"{t} {k}")


def test_refresh_versions_are_deltas_on_the_export_identical_to_full_versions(held_run):
    steps = [Changes(edges={"clicked": EdgeRows([3], [7])}),
             Changes(edges={"contains": EdgeRows([0, 2], [1, 5])})]
    full_run = held_run.path.parent / "full_copy"
    shutil.copytree(held_run.path, full_run)
    for i, changes in enumerate(steps, start=1):
        r = refresh_run(held_run.path, changes, scope="local")
        f = refresh_run(full_run, changes, scope="local", delta_max=0)
        assert (r.stored, f.stored, r.version) == ("delta", "full", i)
        v = Embeddings.load(embeddings_path(held_run.path, i))
        m = json.loads((embeddings_path(held_run.path, i) / "manifest.json").read_text())
        # every version is a delta on the export itself (never on another delta)
        assert v.base.path.resolve() == embeddings_path(held_run.path, 0).resolve()
        assert m["base"]["path"] == "../../../embeddings"
        assert sum(e["count"] for e in m["types"].values()) < len(v) // 4
        _assert_identical(_all(v), _all(Embeddings.load(embeddings_path(full_run, i))))
    # past the share, a version is written in full and the next ones build on it
    r3 = refresh_run(held_run.path, Changes(), scope="local", delta_max=1e-9)
    r4 = refresh_run(held_run.path, Changes(edges={"clicked": EdgeRows([1], [2])}), scope="local")
    assert (r3.stored, r4.stored) == ("full", "delta")
    assert Embeddings.load(embeddings_path(held_run.path, 4)).base.path.resolve() == \
        embeddings_path(held_run.path, 3).resolve()
