"""Tiny datasets with planted structure, written in the real formats (LightGCN files, OGB's
extracted ogbl layout), so that presets and pipelines are tested end to end on each format.

Users (nodes) belong to ``clusters`` groups and interact (link) mostly within their group,
so a model that learns the graph beats popularity and random on the held-out split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch


def planted_pairs(num_users: int, num_items: int, clusters: int, per_user: int, noise: float,
                  seed: int) -> np.ndarray:  # fmt: skip
    """``[m, 2]`` distinct (user, item) pairs, items mostly from the user's cluster."""
    rng = np.random.default_rng(seed)
    user_c = np.arange(num_users) % clusters
    item_c = np.arange(num_items) % clusters
    pairs = set()
    for u in range(num_users):
        own = np.flatnonzero(item_c == user_c[u])
        for _ in range(per_user):
            pool = np.arange(num_items) if rng.random() < noise else own
            pairs.add((u, int(rng.choice(pool))))
    return np.array(sorted(pairs), dtype=np.int64)


def write_lightgcn(root: Path, num_users: int = 120, num_items: int = 90, clusters: int = 6,
                   per_user: int = 12, test_share: float = 0.2, seed: int = 0) -> Path:  # fmt: skip
    """``root/train.txt`` and ``root/test.txt`` in the LightGCN format."""
    pairs = planted_pairs(num_users, num_items, clusters, per_user, 0.1, seed)
    rng = np.random.default_rng(seed + 1)
    test = rng.random(len(pairs)) < test_share
    root.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.txt", pairs[~test]), ("test.txt", pairs[test])):
        lines = []
        for u in range(num_users):
            items = part[part[:, 0] == u, 1]
            lines.append(" ".join(str(x) for x in [u, *items.tolist()]))
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def _csv(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, header=False, index=False, compression="gzip")


def write_ogbl(root: Path, name: str = "ogbl-ddi", num_nodes: int = 120, clusters: int = 6,
               per_node: int = 10, seed: int = 0) -> Path:  # fmt: skip
    """An OGB link dataset ``root/<name with _>/`` (raw edges + split/<target>/*.pt)."""
    pairs = planted_pairs(num_nodes, num_nodes, clusters, per_node, 0.1, seed)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    rng = np.random.default_rng(seed + 1)
    part = rng.choice(3, size=len(pairs), p=[0.8, 0.1, 0.1])
    train, valid, test = (pairs[part == i] for i in range(3))

    def negatives(m: int) -> np.ndarray:
        return rng.integers(0, num_nodes, size=(m, 2))

    d = root / name.replace("-", "_")
    _csv(d / "raw" / "edge.csv.gz", train)
    _csv(d / "raw" / "num-node-list.csv.gz", np.array([[num_nodes]]))
    _csv(d / "raw" / "num-edge-list.csv.gz", np.array([[len(train)]]))
    s = d / "split" / "target"
    s.mkdir(parents=True, exist_ok=True)
    torch.save({"edge": train}, s / "train.pt")
    torch.save({"edge": valid, "edge_neg": negatives(200)}, s / "valid.pt")
    torch.save({"edge": test, "edge_neg": negatives(200)}, s / "test.pt")
    return d


def write_planetoid(root: Path, name: str = "Cora", num_nodes: int = 900, classes: int = 5,
                    features: int = 60, labeled_per_class: int = 8, seed: int = 0) -> Path:  # fmt: skip
    """A citation graph in Planetoid's raw layout ``root/<name>/raw/ind.<name>.*`` (the files
    PyG's ``Planetoid`` reads): bag-of-words features from class vocabularies with noise,
    citations mostly within a class; the public split (``labeled_per_class`` training nodes
    per class, the next 500 validation nodes, the last 200 test nodes)."""
    import pickle

    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, num_nodes)
    order = np.argsort(label[: classes * 60], kind="stable")  # class-balanced training prefix
    train = np.concatenate([order[label[order] == c][:labeled_per_class] for c in range(classes)])
    perm = np.concatenate([train, np.setdiff1d(np.arange(num_nodes), train)])
    label = label[perm]
    vocab = features // classes
    x = (rng.random((num_nodes, features)) < 0.03).astype(np.float32)
    for i, c in enumerate(label):
        words = c * vocab + rng.choice(vocab, size=4, replace=False)
        x[i, words] = 1.0
    onehot = np.eye(classes, dtype=np.float32)[label]
    graph: dict[int, list[int]] = {i: [] for i in range(num_nodes)}
    for i in range(num_nodes):
        same = np.flatnonzero(label == label[i])
        for j in rng.choice(same, size=3):
            if j != i:
                graph[i].append(int(j))
                graph[int(j)].append(i)
        if rng.random() < 0.2:
            j = int(rng.integers(num_nodes))
            graph[i].append(j)
            graph[j].append(i)
    n_lab, n_test = len(train), 200
    test_idx = np.arange(num_nodes - n_test, num_nodes)
    allx = num_nodes - n_test
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    lower = name.lower()
    parts = {
        "x": sp.csr_matrix(x[:n_lab]), "y": onehot[:n_lab],
        "allx": sp.csr_matrix(x[:allx]), "ally": onehot[:allx],
        "tx": sp.csr_matrix(x[allx:]), "ty": onehot[allx:], "graph": graph,
    }  # fmt: skip
    for suffix, obj in parts.items():
        with open(raw / f"ind.{lower}.{suffix}", "wb") as f:
            pickle.dump(obj, f, protocol=2)
    (raw / f"ind.{lower}.test.index").write_text("\n".join(str(i) for i in test_idx) + "\n")
    return root
