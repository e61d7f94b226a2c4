r"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from a local raw copy.

The Planetoid splits (Yang et al., *Revisiting Semi-Supervised Learning with Graph
Embeddings*, ICML 2016, https://arxiv.org/abs/1603.08861) as used by GCN (Kipf & Welling,
https://arxiv.org/abs/1609.02907): 20 labelled nodes per class, 500 validation and 1000
test nodes. Read with :class:`torch_geometric.datasets.Planetoid`.

**Pickles.** The raw ``ind.<name>.*`` files are Python-2 pickles (scipy CSR matrices,
numpy arrays, a ``defaultdict`` adjacency list) and PyG's ``read_planetoid_data`` unpickles
them. That is PyG's code reading files whose checksums are verified in
``shared/data/planetoid/SOURCE.md``; do not point this loader at untrusted files.

**Read-only roots.** PyG writes ``processed/`` next to ``raw/``; the raw files are copied
into the writable ``cache_dir`` (default ``~/.cache/graphrep/<name>``) and PyG runs there,
so nothing is written under ``root``.

Conventions of the returned :class:`~graphrep.data.dataset.GraphDataset`:

* node type ``"paper"``, relation ``("paper", "cites", "paper")``. PyG's ``edge_index`` is
  already symmetric (Cora: 5,278 undirected edges = 10,556 directed entries) and is stored
  once as is, so the forward relation is symmetric and ``rev_cites`` is identical to it.
* feature ``"x"``: the raw float32 bag-of-words rows, **not** row-normalised (GCN's
  setup applies :math:`x_i / \sum_j x_{ij}`; do that in the model or a transform).
* ``truth["label"]`` int64 ``[N]``, ``truth["train_idx"]``, ``["valid_idx"]``,
  ``["test_idx"]`` int64 from PyG's masks (public split: 140 / 500 / 1000 on Cora).
* ``meta``: ``name`` (lower case), ``task="node_classification"``, ``source``,
  ``label_type="paper"``, ``node_type``, ``split``, ``num_classes``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.data.safe_load import default_cache_dir
from graphrep.errors import ConfigError, GraphFormatError
from graphrep.graph.heterograph import HeteroGraph

NODE_TYPE = "paper"
RELATION = (NODE_TYPE, "cites", NODE_TYPE)
SPLITS = ("public", "full", "geom-gcn")
_RAW_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def _find_name_dir(root: Path, name: str) -> Path:
    if not root.is_dir():
        raise GraphFormatError(f"Planetoid root {str(root)!r} is not a directory")
    if (root / name).is_dir():
        return root / name
    matches = [p for p in root.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
    if not matches:
        raise GraphFormatError(
            f"{str(root / name)!r}: no Planetoid dataset {name!r}; expected "
            f"<root>/{name}/raw/ind.{name.lower()}.* (PyG's layout)"
        )
    return matches[0]


def _stage_raw(src: Path, dst: Path, files: list[str]) -> bool:
    """Copy ``files`` from ``src`` to ``dst`` unless already equal in size; True if any copied."""
    missing = [f for f in files if not (src / f).is_file()]
    if missing:
        raise GraphFormatError(f"{str(src)!r}: missing Planetoid raw file(s) {missing}")
    dst.mkdir(parents=True, exist_ok=True)
    copied = False
    for f in files:
        target = dst / f
        if not target.is_file() or target.stat().st_size != (src / f).stat().st_size:
            tmp = dst / f".{f}.tmp"
            shutil.copyfile(src / f, tmp)
            os.replace(tmp, target)
            copied = True
    return copied


def load_planetoid(
    name: str = "Cora",
    root: str | os.PathLike | None = None,
    split: str = "public",
    cache_dir: str | os.PathLike | None = None,
    geom_gcn_split: int = 0,
) -> GraphDataset:
    """Load a Planetoid dataset through PyG without writing under ``root``.

    Args:
        name: ``"Cora"``, ``"CiteSeer"`` or ``"PubMed"`` (case-insensitive folder match).
        root: (required) folder holding ``<name>/raw/ind.<name>.*`` (and ``<name>/geom-gcn/raw`` for
            the Geom-GCN splits).
        split: ``"public"`` (Planetoid's fixed split), ``"full"`` (every non-valid/test node
            trains) or ``"geom-gcn"`` (60/20/20 splits of Pei et al. 2020).
        cache_dir: writable folder where the raw files are copied and PyG writes
            ``processed/`` (default ``~/.cache/graphrep/<name lower case>``).
        geom_gcn_split: which of the 10 Geom-GCN splits (``split="geom-gcn"`` only).

    Returns:
        A :class:`GraphDataset` following the conventions in the module docstring.

    Raises:
        ConfigError: no ``root``, unknown ``split`` or ``geom_gcn_split`` out of range.
        GraphFormatError: missing root, dataset folder or raw file (the message names it).
    """
    if root is None:
        raise ConfigError("root: expected the folder holding <name>/raw/ind.<name>.*, got None")
    if split not in SPLITS:
        raise ConfigError(f"split: expected one of {SPLITS}, got {split!r}")
    if not 0 <= geom_gcn_split < 10:
        raise ConfigError(f"geom_gcn_split: expected 0..9, got {geom_gcn_split}")
    ndir = _find_name_dir(Path(root), name)
    lower = ndir.name.lower()
    files = [f"ind.{lower}.{s}" for s in _RAW_SUFFIXES]
    sub = Path("geom-gcn") if split == "geom-gcn" else Path()
    if split == "geom-gcn":
        files += [f"{lower}_split_0.6_0.2_{i}.npz" for i in range(10)]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(lower)
    staged = cache / ndir.name / sub
    if _stage_raw(ndir / sub / "raw", staged / "raw", files):
        shutil.rmtree(staged / "processed", ignore_errors=True)  # stale w.r.t. new raw files

    from torch_geometric.datasets import Planetoid

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        data = Planetoid(str(cache), ndir.name, split=split)[0]
    n = int(data.num_nodes)
    edge_index = data.edge_index.numpy()
    graph = HeteroGraph.from_edges(
        {NODE_TYPE: n},
        {RELATION: (edge_index[0], edge_index[1])},
        features={NODE_TYPE: {"x": data.x.numpy().astype(np.float32)}},
    )
    masks = {"train": data.train_mask, "valid": data.val_mask, "test": data.test_mask}
    truth = {"label": data.y.numpy().astype(np.int64)}
    for part, mask in masks.items():
        m = mask.numpy()
        m = m[:, geom_gcn_split] if m.ndim == 2 else m
        truth[f"{part}_idx"] = np.flatnonzero(m).astype(np.int64)
    meta = {
        "name": lower, "task": "node_classification", "source": str(ndir / sub / "raw"),
        "label_type": NODE_TYPE, "node_type": NODE_TYPE, "relation": list(RELATION),
        "split": split, "num_classes": int(truth["label"].max()) + 1, "symmetric": True,
    }
    if split == "geom-gcn":
        meta["geom_gcn_split"] = geom_gcn_split
    return GraphDataset(graph, None, truth, meta)
