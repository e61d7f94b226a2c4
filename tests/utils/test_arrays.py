"""The manifest-described ``.npy`` directory every loader reads through: entry checks,
ownership (what ``--overwrite`` may delete), and random corruption of saved datasets and
embeddings stores (never a crash, never a read outside the directory, only graphrep errors)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrep import HeteroGraph, Ragged
from graphrep.data.dataset import GraphDataset
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.errors import GraphFormatError, GraphrepError
from graphrep.graph.eventlog import EventLog
from graphrep.utils.arrays import foreign_files, read_array, write_array


def test_read_array_checks_the_entry(tmp_path):
    entry = write_array(tmp_path, "a/x.npy", np.arange(3))
    assert read_array(tmp_path, entry, False, "x").tolist() == [0, 1, 2]
    for bad in ({**entry, "shape": -1}, {**entry, "dtype": 4}, {**entry, "shape": [True]}, [],
                {"file": "a/x.npy"}):  # fmt: skip
        with pytest.raises(GraphFormatError, match="corrupt entry for x"):
            read_array(tmp_path, bad, False, "x")
    with pytest.raises(GraphFormatError, match="manifest expects dtype <f8"):
        read_array(tmp_path, {**entry, "dtype": "<f8"}, False, "x")
    (tmp_path / "a" / "x.npy").write_bytes(b"\x93NUMPY\x01\x00{'descr")
    with pytest.raises(GraphFormatError, match="unreadable array for x"):
        read_array(tmp_path, entry, True, "x")


def test_foreign_files_lists_what_no_manifest_names(tmp_path):
    assert foreign_files(tmp_path) is None  # not graphrep's
    entry = write_array(tmp_path, "a/x.npy", np.arange(3))
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "graphrep.t", "x": entry}))
    assert foreign_files(tmp_path) == []
    (tmp_path / "a" / "notes.txt").write_text("mine")
    os.symlink(tmp_path / "a" / "x.npy", tmp_path / "link.npy")
    assert foreign_files(tmp_path) == [tmp_path / "a" / "notes.txt", tmp_path / "link.npy"]


# ---------------------------------------------------------------- random corruption
def _fuzz_dataset():
    rng = np.random.default_rng(0)
    g = HeteroGraph.from_edges(
        {"user": 4, "pin": 6, "board": 2},
        {
            ("user", "engaged", "pin"): {
                "src": rng.integers(0, 4, 15), "dst": rng.integers(0, 6, 15),
                "timestamp": rng.integers(0, 100, 15), "weight": rng.random(15).astype(np.float32),
            },
            ("board", "contains", "pin"): (rng.integers(0, 2, 8), rng.integers(0, 6, 8)),
        },
        node_ids={"pin": [f"p{i}" for i in range(6)]},
        features={"pin": {"image": rng.normal(size=(6, 3)).astype(np.float32),
                          "text": Ragged.from_lists([[1, 2], [], [3], [4], [5, 6], [7]])}},
    )  # fmt: skip
    ev = EventLog.from_arrays(
        rng.integers(0, 4, 20), rng.integers(0, 6, 20), rng.integers(0, 100, 20), num_users=4,
        action=rng.integers(0, 2, 20), action_names=("click", "save"),
    )  # fmt: skip
    return GraphDataset(g, ev, {"pin_topic": rng.integers(0, 3, 6)}, {"cut_time": 50})


def _fuzz_embeddings(path):
    rng = np.random.default_rng(1)
    with EmbeddingWriter(path, dim=4, dtype="int8") as w:
        w.add("pin", rng.normal(size=(6, 4)), [f"p{i}" for i in range(6)])
        w.add("user", rng.normal(size=(3, 4)), [7, 8, 9])
    Embeddings.load(path).build_indexes({"pin": "flat"})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    _fuzz_dataset().save(root / "dataset")
    _fuzz_embeddings(root / "embeddings")
    return root


HOSTILE = ["/etc/hostname", "../outside.npy", "../../outside.npy", "graph/../../outside.npy",
           -1, 0, 2**31, 2**40, 2**63, None, [], {}, "x", 1.5, True, "<f8", "|O", [3], [-1],
           {"file": "../outside.npy", "dtype": "<i8", "shape": [6]}, "DELETE"]  # fmt: skip
VALUES = [-1, 2_000_000_000, 2**31 - 1, 6, 4, 2**62, float("nan"), float("inf")]
MUTATION = st.one_of(
    st.tuples(st.just("manifest"), st.integers(0, 10**6), st.sampled_from(HOSTILE)),
    st.tuples(st.just("value"), st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(VALUES)),
    st.tuples(st.just("reverse"), st.integers(0, 10**6)),
    st.tuples(st.just("bytes"), st.integers(0, 10**6), st.integers(0, 300)),
    st.tuples(st.just("symlink"), st.integers(0, 10**6)),
)


def _nodes(data, out):
    """Every (container, key) of a JSON tree."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        out.append((data, k))
        _nodes(v, out)
    return out


def _mutate(root, mutation):
    kind, pick = mutation[0], mutation[1]
    arrays = sorted(root.rglob("*.npy"))
    if kind == "manifest":
        manifests = sorted(root.rglob("manifest.json"))
        path = manifests[pick % len(manifests)]
        data = json.loads(path.read_text())
        nodes = _nodes(data, [])
        container, key = nodes[(pick // len(manifests)) % len(nodes)]
        if mutation[2] == "DELETE":
            del container[key]
        else:
            container[key] = mutation[2]
        path.write_text(json.dumps(data))
        return
    path = arrays[pick % len(arrays)]
    if kind == "bytes":  # truncate, or flip one byte
        raw = bytearray(path.read_bytes())
        if not raw:
            return
        if mutation[2] % 2:
            path.write_bytes(raw[: mutation[2] % max(len(raw), 1)])
        else:
            raw[mutation[2] % len(raw)] ^= 0xFF
            path.write_bytes(bytes(raw))
        return
    if kind == "symlink":  # a valid array, but outside the directory
        outside = root.parent / f"outside-{path.parent.name}-{path.name}"
        if path.is_symlink():
            return
        shutil.copy(path, outside)
        path.unlink()
        os.symlink(outside, path)
        return
    try:
        arr = np.load(path)
    except Exception:  # already corrupted by an earlier mutation
        return
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    if kind == "reverse":
        arr = arr[::-1].copy()
    else:
        with np.errstate(all="ignore"):
            value = np.array(mutation[3]).astype(arr.dtype)
        arr.reshape(-1)[mutation[2] % arr.size] = value
    np.save(path, arr)


def _use_embeddings(emb):
    """Lookups and neighbours of every type, exact and through the faiss index."""
    for t in emb.types:
        ids = emb.ids(t)[:2]
        emb.lookup(t, ids)
        emb.neighbors(t, ids, k=3)
    if "pin" in emb.types and "pin" in emb._manifest.get("indexes", {}):
        emb.neighbors("pin", emb.ids("pin")[:2], k=2, index="faiss")


def _use(ds):
    """What training touches first: walks over every relation, user sequences."""
    from graphrep.cli import describe
    from graphrep.samplers import random_walk
    from graphrep.samplers.sequences import SequenceSampler

    describe(ds)
    g = ds.graph
    for et in g.canonical_edge_types:
        starts = np.arange(g.num_nodes[et[0]])
        path = [et, g.reverse_of(et)]
        random_walk(g, starts, path, num_traversals=2, restart_prob=0.3, seed=1)
        if "weight" in g.csr(et).edge_data:
            random_walk(g, starts, path, weight="weight", seed=2)
    if ds.events is not None and ds.events.num_users:
        ev = ds.events
        batch = SequenceSampler(ev, 4, cut_time=50, future_window=30).sample(
            np.arange(ev.num_users), step=0
        )
        items, types = batch.items.numpy(), batch.item_type.numpy()
        for code, nt in enumerate(ev.item_types):
            assert (items[batch.mask.numpy() & (types == code)] < g.num_nodes[nt]).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["dataset", "embeddings"]),
       mutations=st.lists(MUTATION, min_size=1, max_size=3), mmap=st.booleans())  # fmt: skip
def test_random_corruption_is_a_graphrep_error_or_harmless(saved, kind, mutations, mmap):
    """Mutated manifests and arrays: loading never crashes, never reads a file outside the
    directory, and fails (if at all) with a graphrep error; what loads is safe to use."""
    real_load = np.load
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / kind
        shutil.copytree(saved / kind, root)
        for m in mutations:
            _mutate(root, m)
        opened = []

        def spy(file, *args, **kwargs):
            opened.append(Path(file).resolve())
            return real_load(file, *args, **kwargs)

        loader = GraphDataset.load if kind == "dataset" else Embeddings.load
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(np, "load", spy)
            try:
                loaded = loader(root, mmap=mmap)
            except GraphrepError:
                loaded = None
        inside = root.resolve()
        assert all(inside in p.parents for p in opened), opened
        if loaded is not None:
            try:
                (_use if kind == "dataset" else _use_embeddings)(loaded)
            except GraphrepError:  # e.g. a faiss index that no longer matches (named)
                assert kind == "embeddings"
