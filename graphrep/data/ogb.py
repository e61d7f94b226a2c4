r"""Open Graph Benchmark node / link property prediction datasets from a local extracted copy.

OGB (Hu et al., *Open Graph Benchmark*, NeurIPS 2020, https://arxiv.org/abs/2005.00687)
ships each dataset as ``<root>/<name with - replaced by _>/{raw,split}/...``. This module
reads that layout with the ``ogb`` package's own metadata (``master.csv``) and raw readers
(:func:`ogb.io.read_graph_raw.read_csv_graph_raw`, ``read_csv_heterograph_raw``,
``read_node_label_hetero``...) instead of its ``*PropPredDataset`` classes, so that:

* nothing is downloaded and nothing is written under ``root`` (a read-only root works);
* no ``input()`` prompt can block (the missing ``RELEASE_v*.txt`` prompt is never reached,
  and ``builtins.input`` raises :class:`~graphrep.errors.GraphFormatError` while ogb runs);
* split ``.pt`` files are read with ``weights_only=True`` and a numpy-only allow-list
  (:func:`graphrep.data.safe_load.load_numpy_pickle`).

Conventions of the returned :class:`~graphrep.data.dataset.GraphDataset`:

* ``meta``: ``name`` and ``ogb_name`` (e.g. ``"ogbl-ddi"``), ``task``
  (``"node_classification"`` or ``"link_prediction"``), ``source`` (the dataset folder),
  ``eval_metric``, ``split``, ``symmetric`` and, for homogeneous graphs, ``node_type``
  (always the generic ``"node"``; OGB's master.csv names no type) and ``relation``
  (``["node", "to", "node"]``); ``cache_key`` identifies the raw files it was built from.
* Undirected graphs (master.csv ``add_inverse_edge``: ogbl-ddi, ogbl-collab, ogbn-products,
  ogbn-proteins...) are stored as a **symmetric relation**: the forward relation holds
  every edge in both directions (:math:`(u, v)` and :math:`(v, u)`, so ogbl-ddi has
  :math:`2 \times 1{,}067{,}911` entries) and its automatic reverse ``rev_to`` is identical.
  Directed graphs (ogbn-arxiv, ogbn-mag, ogbl-citation2) keep one direction per relation.
* Node features: ``x`` from ``node-feat.csv.gz``; additional node files (``node_year``)
  become features without the ``node_`` prefix (``year``). Edge features become per-edge
  arrays (``feat`` or ``feat<j>`` per column; ``edge_weight`` -> ``weight``...).
* node classification: ``truth["label"]`` int64 ``[N]`` (``[N, tasks]`` for multi-task
  datasets; unlabelled nodes are ``-1``) of ``meta["label_type"]``, and ``train_idx`` /
  ``valid_idx`` / ``test_idx`` int64.
* link prediction: the graph holds only the training edges (OGB's raw graph *is* the
  training graph); ``truth["train_edges"]``, ``valid_edges``, ``valid_edges_neg``,
  ``test_edges``, ``test_edges_neg`` int64 ``[m, 2]`` (from ``edge``/``edge_neg``, or
  ``source_node``/``target_node`` for ogbl-citation2, whose ``target_node_neg`` matrices
  are kept as ``<split>_target_node_neg``); other split arrays as ``<split>_<key>``.
  Evaluate with ``ogb.linkproppred.Evaluator(meta["ogb_name"])``.

The built dataset is cached (:meth:`GraphDataset.save`, memory-mapped on reload) in
``cache_dir`` (default ``~/.cache/graphrep/<name>``), keyed by the raw files' sizes and
modification times; a cache that cannot be written only warns.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrep.data.dataset import GraphDataset
from graphrep.data.safe_load import as_int64, default_cache_dir, load_numpy_pickle
from graphrep.errors import ConfigError, GraphFormatError
from graphrep.graph.heterograph import HeteroGraph

NODE_TYPE = "node"
RELATION = "to"
_CACHE_VERSION = 1
_REQUIRED = {
    (False, False): ["edge.csv.gz", "num-node-list.csv.gz", "num-edge-list.csv.gz"],
    (True, False): ["num-node-dict.csv.gz", "triplet-type-list.csv.gz"],
    (False, True): ["data.npz"],
    (True, True): ["num_nodes_dict.npz", "num_edges_dict.npz", "edge_index_dict.npz"],
}


def import_ogb() -> None:
    """Import ogb without its import-time PyPI version check (a network call in a thread)."""
    if "ogb" in sys.modules:
        return
    saved = sys.modules.get("outdated")
    sys.modules["outdated"] = None  # type: ignore[assignment]  # makes ogb skip the check
    try:
        import ogb  # noqa: F401
    except ImportError as exc:
        raise ImportError("OGB datasets and evaluators need the ogb package: pip install ogb") from exc
    finally:
        if saved is None:
            del sys.modules["outdated"]
        else:
            sys.modules["outdated"] = saved


@contextlib.contextmanager
def _guarded(what: str) -> Iterator[None]:
    """Silence ogb's prints/progress bars and make any ``input()`` prompt fail, not block."""

    def no_input(prompt: object = "") -> str:
        raise GraphFormatError(f"{what}: ogb asked for interactive input ({prompt!r}); refused")

    saved, builtins.input = builtins.input, no_input
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    except (RuntimeError, AssertionError, FileNotFoundError, KeyError, ValueError) as exc:
        raise GraphFormatError(f"{what}: ogb could not read the raw files: {exc!r}") from exc
    finally:
        builtins.input = saved


def ogb_meta_info(name: str) -> tuple[str, dict[str, str]]:
    """``("node" | "link", master.csv column)`` of an OGB dataset name.

    Raises:
        ConfigError: ``name`` is not an OGB node or link property prediction dataset.
    """
    import importlib.util

    import_ogb()
    known: list[str] = []
    for kind in ("node", "link"):
        spec = importlib.util.find_spec(f"ogb.{kind}proppred")
        assert spec is not None and spec.origin is not None
        master = pd.read_csv(
            Path(spec.origin).parent / "master.csv", index_col=0, keep_default_na=False
        )
        if name in master:
            return kind, {str(k): str(v) for k, v in master[name].items()}
        known += list(master.columns)
    raise ConfigError(
        f"unknown OGB dataset name {name!r}; expected one of {sorted(known)} "
        "(graph property prediction datasets are not graphs to load here)"
    )


def _dataset_dir(name: str, root: str | os.PathLike) -> Path:
    root = Path(root)
    dir_name = name.replace("-", "_")
    if not root.is_dir():
        raise GraphFormatError(f"OGB root {str(root)!r} is not a directory")
    for cand in (root / dir_name, root):
        if (cand / "raw").is_dir() and (cand == root / dir_name or root.name == dir_name):
            return cand
    raise GraphFormatError(
        f"{str(root / dir_name)!r}: no extracted OGB dataset {name!r}; expected "
        f"<root>/{dir_name}/raw/... (OGB's extracted layout)"
    )


def _fingerprint(ddir: Path, name: str) -> str:
    files = sorted(p for sub in ("raw", "split") for p in (ddir / sub).rglob("*") if p.is_file())
    stats = [(str(p.relative_to(ddir)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps([_CACHE_VERSION, name, str(ddir.resolve()), stats]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _columns(arr: np.ndarray | None, prefix: str) -> dict[str, np.ndarray]:
    """``[E]`` / ``[E, d]`` array -> 1-D per-edge arrays (``prefix``, or ``prefix<j>``)."""
    if arr is None:
        return {}
    arr = np.asarray(arr)
    if arr.ndim == 1 or arr.shape[1] == 1:
        return {prefix: arr.reshape(-1)}
    return {f"{prefix}{j}": arr[:, j] for j in range(arr.shape[1])}


def _edge_spec(ei: np.ndarray, data: dict[str, np.ndarray], symmetric: bool) -> dict:
    src, dst = as_int64(ei[0], "edge_index"), as_int64(ei[1], "edge_index")
    if symmetric:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        data = {k: np.concatenate([v, v]) for k, v in data.items()}
    return {"src": src, "dst": dst, **data}


def _extra_files(info: dict[str, str], key: str) -> list[str]:
    return [] if info[key] == "None" else info[key].split(",")


def _read_graph(raw: Path, info: dict[str, str], hetero: bool, binary: bool) -> tuple:
    """``(num_nodes, edges, features)`` for :meth:`HeteroGraph.from_edges`."""
    from ogb.io import read_graph_raw as rr

    symmetric = info["add_inverse_edge"] == "True"
    missing = [f for f in _REQUIRED[(hetero, binary)] if not (raw / f).is_file()]
    if missing:
        raise GraphFormatError(f"{str(raw)!r}: missing OGB raw file(s) {missing}")
    node_files = _extra_files(info, "additional node files")
    edge_files = _extra_files(info, "additional edge files")
    if not hetero:  # read only existing extras: ogb's reader renames species.csv.gz in place
        node_files = [f for f in node_files if (raw / f"{f}.csv.gz").is_file()]
        edge_files = [f for f in edge_files if (raw / f"{f}.csv.gz").is_file()]
    with _guarded(f"OGB raw directory {str(raw)!r}"):
        if binary:
            reader = rr.read_binary_heterograph_raw if hetero else rr.read_binary_graph_raw
            g = reader(str(raw), add_inverse_edge=False)[0]
        else:
            reader = rr.read_csv_heterograph_raw if hetero else rr.read_csv_graph_raw
            g = reader(str(raw), False, node_files, edge_files)[0]
    if not hetero:
        data = _columns(g.get("edge_feat"), "feat")
        for key in (k for k in g if k.startswith("edge_") and k not in ("edge_index", "edge_feat")):
            data.update(_columns(g[key], key[5:]))
        feats = {"x": g["node_feat"]} if g.get("node_feat") is not None else {}
        for key in (k for k in g if k.startswith("node_") and k != "node_feat"):
            feats[key[5:]] = g[key]
        edges = {(NODE_TYPE, RELATION, NODE_TYPE): _edge_spec(g["edge_index"], data, symmetric)}
        return {NODE_TYPE: int(g["num_nodes"])}, edges, {NODE_TYPE: feats}
    num_nodes = {str(k): int(v) for k, v in g["num_nodes_dict"].items()}
    edges = {}
    for et, ei in g["edge_index_dict"].items():
        data = _columns((g.get("edge_feat_dict") or {}).get(et), "feat")
        for key in (k for k in g if k.startswith("edge_") and not k.endswith("_dict")):
            data.update(_columns((g[key] or {}).get(et), key[5:]))
        edges[tuple(str(x) for x in et)] = _edge_spec(ei, data, symmetric)
    feats: dict[str, dict[str, Any]] = {nt: {} for nt in num_nodes}
    for nt, x in (g.get("node_feat_dict") or {}).items():
        feats[nt]["x"] = x
    for key in (k for k in g if k.startswith("node_") and not k.endswith("_dict")):
        for nt, value in (g[key] or {}).items():
            feats[nt][key[5:]] = value
    return num_nodes, edges, feats


def _labels(arr: Any) -> np.ndarray:
    arr = np.asarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.where(np.isnan(arr), -1, arr)
    arr = arr.astype(np.int64)
    return arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr


def _node_truth(ddir: Path, info: dict[str, str], hetero: bool, binary: bool) -> tuple:
    """``(truth, label_type)`` of a node property prediction dataset."""
    from ogb.io import read_graph_raw as rr

    raw, split = ddir / "raw", ddir / "split" / info["split"]
    what = f"OGB labels/splits under {str(ddir)!r}"
    with _guarded(what):
        if hetero and binary:
            with np.load(raw / "node-label.npz", allow_pickle=False) as z:
                labels = {k: z[k] for k in z.files}
        elif hetero:
            labels = rr.read_node_label_hetero(str(raw))
        elif binary:
            with np.load(raw / "node-label.npz", allow_pickle=False) as z:
                labels = {NODE_TYPE: z["node_label"]}
        else:
            labels = {NODE_TYPE: pd.read_csv(raw / "node-label.csv.gz", header=None).values}
        if (split / "split_dict.pt").is_file():
            idx = load_numpy_pickle(split / "split_dict.pt")
        elif hetero:
            parts = rr.read_nodesplitidx_split_hetero(str(split))
            idx = dict(zip(("train", "valid", "test"), parts, strict=True))
        else:
            idx = {k: pd.read_csv(split / f"{k}.csv.gz", header=None).values[:, 0]
                   for k in ("train", "valid", "test")}
    if not isinstance(idx, dict) or not {"train", "valid", "test"} <= set(idx):
        raise GraphFormatError(f"{what}: expected train/valid/test index arrays")
    if hetero:
        typed = [nt for nt in sorted(labels) if isinstance(idx["train"], dict) and nt in idx["train"]]
        if not typed:
            raise GraphFormatError(f"{what}: no node type has both labels and a split")
        label_type = typed[0]
        idx = {k: v[label_type] for k, v in idx.items()}
    else:
        label_type = NODE_TYPE
    truth = {"label": _labels(labels[label_type])}
    truth.update({f"{k}_idx": as_int64(idx[k], f"{what} {k}").reshape(-1)
                  for k in ("train", "valid", "test")})
    return truth, label_type


def _link_truth(ddir: Path, info: dict[str, str]) -> dict[str, np.ndarray]:
    split = ddir / "split" / info["split"]
    if (split / "split_dict.pt").is_file():
        parts = load_numpy_pickle(split / "split_dict.pt")
    else:
        parts = {k: load_numpy_pickle(split / f"{k}.pt") for k in ("train", "valid", "test")}
    truth: dict[str, np.ndarray] = {}
    for part, d in parts.items():
        what = f"{str(split)!r} part {part!r}"
        if not isinstance(d, dict):
            raise GraphFormatError(f"{what}: expected a dict of arrays, got {type(d).__name__}")
        d = dict(d)
        if "source_node" in d and "target_node" in d:
            d["edge"] = np.stack([as_int64(d.pop("source_node"), what),
                                  as_int64(d.pop("target_node"), what)], axis=1)
        for key, value in d.items():
            name = {"edge": f"{part}_edges", "edge_neg": f"{part}_edges_neg"}.get(key)
            arr = as_int64(value, f"{what} key {key!r}") if name else np.asarray(value)
            if name and (arr.ndim != 2 or arr.shape[1] != 2):
                raise GraphFormatError(f"{what} key {key!r}: expected [m, 2], got {arr.shape}")
            truth[name or f"{part}_{key}"] = arr
    for key in ("valid_edges", "test_edges"):
        if key not in truth:
            raise GraphFormatError(f"{str(split)!r}: no {key!r} in the split files")
    return truth


def load_ogb(
    name: str, root: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> GraphDataset:
    """Load an OGB node / link property prediction dataset from its extracted files.

    Args:
        name: the OGB name, e.g. ``"ogbl-ddi"``, ``"ogbn-arxiv"``, ``"ogbn-mag"``.
        root: folder holding ``<name with - replaced by _>/`` (or that folder itself).
        cache_dir: writable folder for the processed dataset (default
            ``~/.cache/graphrep/<name>``); nothing is ever written under ``root``.

    Returns:
        A :class:`GraphDataset` following the conventions in the module docstring.

    Raises:
        ConfigError: unknown dataset name, or a KG-completion dataset (ogbl-wikikg2, biokg).
        GraphFormatError: missing root / raw / split files, or unreadable split files
            (the message names the path and what was expected).
    """
    kind, info = ogb_meta_info(name)
    if kind == "link" and info["task type"] != "link prediction":
        raise ConfigError(f"OGB dataset {name!r} is a {info['task type']} dataset; "
                          "expected a node or link property prediction dataset")
    ddir = _dataset_dir(name, root)
    key = _fingerprint(ddir, name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(name)
    if (cache / "manifest.json").is_file():
        with contextlib.suppress(GraphFormatError, OSError, ValueError):
            cached = GraphDataset.load(cache)
            if cached.meta.get("cache_key") == key:
                return cached
    hetero, binary = info["is hetero"] == "True", info["binary"] == "True"
    num_nodes, edges, feats = _read_graph(ddir / "raw", info, hetero, binary)
    graph = HeteroGraph.from_edges(num_nodes, edges, features=feats)
    meta: dict[str, Any] = {
        "name": name, "ogb_name": name, "source": str(ddir), "split": info["split"],
        "eval_metric": info["eval metric"], "symmetric": info["add_inverse_edge"] == "True",
        "cache_key": key,
    }
    if not hetero:
        meta.update(node_type=NODE_TYPE, relation=[NODE_TYPE, RELATION, NODE_TYPE])
    if kind == "node":
        truth, meta["label_type"] = _node_truth(ddir, info, hetero, binary)
        meta.update(task="node_classification", num_classes=int(info["num classes"]))
    else:
        truth = _link_truth(ddir, info)
        meta["task"] = "link_prediction"
    ds = GraphDataset(graph, None, truth, meta)
    try:
        ds.save(cache, overwrite=True)  # replaces a stale cache graphrep wrote, nothing else
    except OSError as exc:
        warnings.warn(f"could not cache {name!r} in {str(cache)!r}: {exc}", stacklevel=2)
    return ds
