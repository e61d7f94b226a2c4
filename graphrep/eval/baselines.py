"""Baselines and ablations, trained and scored by the same code on the same split.

=================  ==========================================================================
``popularity``     every query gets the most engaged items (training-window counts)
``node2vec``       DeepWalk/node2vec skip-gram over our walks on the untyped graph
                   (:func:`graphrep.eval.skipgram_baseline.train_node2vec`)
``content_only``   the encoders on content features only: no neighbors, no ids, no sequence
                   task (ItemSage-style without the graph)
``pinsage_only``   the :class:`~graphrep.models.pinsage.PinSage` encoder on the graph pair
                   tasks only (no content-retrieval or sequence task)
``no_neighbors``   OmniSage without graph neighbors in its encoders
``no_sequence``    OmniSage without the sequence encoder and user–entity task
``no_content``     OmniSage without content features (hashed ids and degrees only)
``mf``             matrix factorisation: exact id embeddings only (randomly initialised, no
                   neighbors, no content), trained on the same pair tasks with the same loss
``spectral``       training-free: the top singular vectors of the degree-normalised adjacency
                   of the dataset's main relation (GF-CF's ideal low-pass filter,
                   :func:`spectral_vectors`)
``propagated``     training-free: each node's dense raw features averaged over its
                   personalised-PageRank neighbourhood (SGC/APPNP-style smoothing,
                   :mod:`graphrep.models.propagated`, :func:`propagated_vectors`)
``lightgcn``       LightGCN, 3 layers, 64-d, on the user–item relation of a recommendation
                   dataset (:func:`graphrep.eval.lightgcn_baseline.train_lightgcn`)
=================  ==========================================================================

Models without a sequence encoder embed a user as the mean of their recent
history items (:mod:`graphrep.embed.inference`); the trained baselines use the
run's own config otherwise (same steps, batch sizes, learning rate).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.train.config import RunConfig

#: The baselines ``graphrep eval --baselines`` knows, by name.
BASELINES = (
    "popularity", "node2vec", "spectral", "propagated", "lightgcn", "content_only",
    "pinsage_only", "no_neighbors", "no_sequence", "no_content", "mf",
)  # fmt: skip
#: The baselines trained by graphrep's own trainer under a derived :class:`RunConfig`.
TRAINED = BASELINES[5:]
#: Task kinds that read content features (off in the ``no_content`` ablation).
CONTENT_TASKS = ("entity_feature", "masked_features", "cca")
#: Dimension of the training-free spectral baseline's vectors.
SPECTRAL_DIM = 256


def default_baselines(dataset: GraphDataset, cfg: RunConfig | None = None) -> list[str]:
    """The baselines that make sense for ``dataset`` (what ``--baselines`` with no names runs);
    with the run's ``cfg``, trained ones that would keep none of its tasks are left out (e.g.
    ``mf`` of a run trained on self-supervised feature tasks only)."""
    out = _dataset_baselines(dataset)
    if cfg is None:
        return out

    def trainable(name: str) -> bool:
        try:
            baseline_config(cfg, name)
        except ConfigError:
            return False
        return True

    return [b for b in out if b not in TRAINED or trainable(b)]


def _dataset_baselines(dataset: GraphDataset) -> list[str]:
    if "heldout_co_engaged" in dataset.truth:  # the synthetic graph
        return [b for b in BASELINES if b not in ("mf", "spectral", "propagated", "lightgcn")]
    featured = any(dataset.graph.features.get(t) for t in dataset.graph.node_types)
    out = ["spectral", "node2vec", "mf", "no_neighbors"]
    if featured:
        out += ["propagated", "content_only", "no_content"]
    if dataset.meta.get("task") == "recommendation":
        out = ["popularity", *out, "lightgcn"]
    return out


def _weights(cfg: RunConfig, keep: Callable[[Any], bool]) -> list[dict[str, Any]]:
    return [
        {**{k: v for k, v in vars(s).items()}, "weight": s.weight if keep(s) else 0.0}
        for s in cfg.tasks.specs
    ]


def baseline_config(cfg: RunConfig, name: str) -> RunConfig:
    """The :class:`RunConfig` of a trained baseline or ablation ``name``."""
    no_seq = {"sequence": False}
    if name == "content_only":
        update = {
            "model": {"use_neighbors": False, **no_seq},
            "tasks": {"specs": _weights(cfg, lambda s: s.kind != "user_entity")},
        }
    elif name == "pinsage_only":
        update = {
            "model": {"encoder": "pinsage", "norm_types": [], **no_seq},  # PinSage: unit norms
            "tasks": {"specs": _weights(cfg, lambda s: s.kind in ("entity_entity", "query_entity"))},
        }
    elif name == "no_neighbors":
        update = {"model": {"use_neighbors": False}}
    elif name == "no_sequence":
        update = {"model": no_seq, "tasks": {"specs": _weights(cfg, lambda s: s.kind != "user_entity")}}
    elif name == "mf":
        update = {
            "model": {"use_neighbors": False, "use_content": False, "spectral_init": False,
                      "encoder": "light", "norm_types": [], **no_seq},  # id rows only
            "tasks": {"specs": _weights(cfg, lambda s: s.kind in ("entity_entity", "query_entity"))},
        }
    elif name == "no_content":
        update = {
            "model": {"use_content": False},
            "tasks": {"specs": _weights(cfg, lambda s: s.kind not in CONTENT_TASKS)},
        }
    else:
        raise ConfigError(f"{name!r} is not a trained baseline; trained ones are {list(TRAINED)}")
    out = cfg.update(update)
    out.name = name
    return out


def popularity_vectors(dataset: GraphDataset, item_type: str = "pin") -> dict[str, np.ndarray]:
    """1-d "embeddings" under which every query ranks items by training popularity.

    Items get ``log(1 + c)`` (``c``: item's degree summed over all relations before
    the cut), every other type a constant 1, so ``q · v`` orders items by popularity.
    """
    g = dataset.graph
    counts = np.zeros(g.num_nodes[item_type], dtype=np.float64)
    for src, rel, dst in g.canonical_edge_types:  # forward relations only
        if dst == item_type:
            counts += np.diff(g.csr((dst, f"rev_{rel}", src)).indptr)
    out = {t: np.ones((n, 1), dtype=np.float32) for t, n in g.num_nodes.items()}
    out[item_type] = np.log1p(counts).astype(np.float32)[:, None]
    return out


#: Walks the node2vec baseline draws in all (its epochs fit this budget).
NODE2VEC_WALK_BUDGET = 1_000_000


def node2vec_config(dataset: GraphDataset, cfg: RunConfig) -> Any:
    """PyG's example settings (walk length 20, context 10, 10 walks per node), with as many
    epochs as fit a budget of :data:`NODE2VEC_WALK_BUDGET` walks (at most 100, PyG's Cora
    example): one epoch on the synthetic graph, ~37 on Cora, where one epoch barely moves
    embeddings from their random start."""
    from graphrep.eval.skipgram_baseline import Node2VecConfig

    nodes = sum(dataset.graph.num_nodes.values())
    epochs = int(min(100, max(1, NODE2VEC_WALK_BUDGET // (10 * max(nodes, 1)))))
    return Node2VecConfig(dim=cfg.model.dim, seed=cfg.train.seed, epochs=epochs)


def spectral_vectors(dataset: GraphDataset, cfg: RunConfig) -> dict[str, np.ndarray]:
    r"""The training-free spectral embedding of the dataset's main relation:
    :math:`D^{1/2} U_k \Sigma_k^{1/2}` on both sides (:data:`SPECTRAL_DIM` directions), whose
    dot products rank items as GF-CF's ideal low-pass filter
    :math:`r_u D_I^{-1/2} V_k V_k^\top D_I^{1/2}` does (the user-side factors do not change a
    user's ranking); other node types get zero vectors."""
    from graphrep.models.spectral import spectral_embedding

    g = dataset.graph
    rel = dataset.meta.get("relation")
    et = g.edge_type(tuple(rel)) if rel else max(g.canonical_edge_types, key=g.num_edges)
    out = spectral_embedding(g, et, SPECTRAL_DIM, alpha=0.5, gamma=0.5, seed=cfg.train.seed)
    k = next(iter(out.values())).shape[1]
    for t, n in g.num_nodes.items():
        out.setdefault(t, np.zeros((n, k), dtype=np.float32))
    return out


def propagated_vectors(dataset: GraphDataset, cfg: RunConfig) -> dict[str, np.ndarray]:
    """The training-free ``propagated`` baseline: per node type, its propagated dense
    features (``model.propagation``/``propagation_teleport`` of ``cfg``, the walk of its
    sampler's meta-paths) side by side; types without any get zero vectors of width 1."""
    from graphrep.models.propagated import propagated_features
    from graphrep.train.build import build_inputs

    g = dataset.graph
    builder = build_inputs(cfg.update({"model": {"propagated": False, "skip": False}}), dataset)
    feats = propagated_features(g, builder.samplers, teleport=cfg.model.propagation_teleport,
                                method=cfg.model.propagation)  # fmt: skip
    if not feats:
        raise ConfigError(
            "the propagated baseline needs a node type with dense features and a sampler; "
            f"dataset {dataset.meta.get('name')!r} has none"
        )
    out = {t: np.zeros((n, 1), dtype=np.float32) for t, n in g.num_nodes.items()}
    for t, arrays in feats.items():
        out[t] = np.concatenate([np.asarray(a, np.float32) for a in arrays.values()], 1)
    return out


def baseline_vectors(
    name: str, cfg: RunConfig, dataset: GraphDataset, workdir: str | Path
) -> dict[str, np.ndarray]:
    """Train (if needed) and embed baseline ``name``; ``{node type: vectors}``."""
    if name == "popularity":
        g = dataset.graph
        item = "pin" if "pin" in g.num_nodes else g.canonical_edge_types[0][2]
        return popularity_vectors(dataset, item)
    if name == "node2vec":
        from graphrep.eval.skipgram_baseline import train_node2vec

        return train_node2vec(dataset.graph, node2vec_config(dataset, cfg))
    if name == "spectral":
        return spectral_vectors(dataset, cfg)
    if name == "propagated":
        return propagated_vectors(dataset, cfg)
    if name == "lightgcn":
        from graphrep.eval.lightgcn_baseline import LightGCNConfig, train_lightgcn

        return train_lightgcn(dataset, LightGCNConfig(seed=cfg.train.seed, max_queries=cfg.eval.max_queries))
    from graphrep.embed.export import export_embeddings
    from graphrep.train.trainer import Trainer

    bcfg = baseline_config(cfg, name)
    run = Path(workdir) / name
    trainer = Trainer(bcfg, run, dataset)
    trainer.fit()
    assert trainer.components is not None
    emb = export_embeddings(trainer.components.model, bcfg, dataset, run / "embeddings",
                            index="none", overwrite=True)  # fmt: skip
    return {t: emb.vectors(t) for t in emb.types}
