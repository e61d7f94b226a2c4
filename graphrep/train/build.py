"""From a :class:`~graphrep.train.config.RunConfig` to live objects: the dataset,
the :class:`~graphrep.tasks.InputBuilder`, the :class:`~graphrep.tasks.MultiTask`
and the :class:`~graphrep.models.OmniSage` model.

The one place where config fields become constructor arguments, shared by the
trainer, the exporter and the baselines, so that a run and its export read the
graph the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.models import OmniSage
from graphrep.models.features import NodeFeaturizer
from graphrep.models.spectral import spectral_embedding
from graphrep.samplers.covisit import CoVisitPairSampler
from graphrep.tasks import (
    CCATask,
    EntityEntityTask,
    EntityFeatureTask,
    InputBuilder,
    MaskedFeatureTask,
    MultiTask,
    NeighborConfig,
    QueryEntityTask,
    UserEntityTask,
    default_samplers,
)
from graphrep.train.config import PLANETOID, DataConfig, RunConfig, TaskSpec


def load_dataset(cfg: DataConfig) -> GraphDataset:
    """The dataset a :class:`DataConfig` names (generated or read from disk), with its
    validation split carved out of the training edges when ``cfg.validation > 0``."""
    dataset = _read_dataset(cfg)
    if cfg.validation > 0:
        from graphrep.data.splits import carve_validation

        dataset = carve_validation(dataset, cfg.validation, cfg.seed)
    return dataset


def _read_dataset(cfg: DataConfig) -> GraphDataset:
    if cfg.dataset == "synthetic":
        from graphrep.data.synthetic import generate

        return generate(cfg.preset, cfg.seed)
    if cfg.dataset == "dir":
        return GraphDataset.load(cfg.path, mmap=cfg.mmap)
    if not cfg.root:
        raise ConfigError(
            f"dataset {cfg.dataset!r} needs data.root (--root PATH): the directory with its files"
        )
    if cfg.dataset in PLANETOID:
        from graphrep.data.planetoid import load_planetoid

        return load_planetoid(PLANETOID[cfg.dataset], cfg.root, cache_dir=cfg.cache_dir)
    if cfg.dataset == "gowalla":
        from graphrep.data.lightgcn import load_lightgcn

        return load_lightgcn(cfg.root, name="gowalla")
    from graphrep.data.ogb import load_ogb

    return load_ogb(cfg.dataset, cfg.root, cache_dir=cfg.cache_dir)


def build_inputs(cfg: RunConfig, dataset: GraphDataset) -> InputBuilder:
    """Featurizer + importance samplers of every node type, as the config says (and, with
    ``model.propagated``, the propagated features as one more dense feature per type)."""
    s = cfg.sampling
    kwargs: dict[str, Any] = {
        "num_walks": s.num_walks, "num_traversals": s.num_traversals,
        "restart_prob": s.restart_prob, "seed": cfg.train.seed,
    }  # fmt: skip
    if s.metapaths is not None:
        kwargs["metapaths"] = s.metapaths
    if s.quotas is not None:
        kwargs["quotas"] = s.quotas
    samplers = default_samplers(dataset.graph, NeighborConfig(**kwargs))
    extra = None
    if cfg.model.propagated:  # one more dense feature per type (cached per graph)
        from graphrep.models.propagated import propagated_features

        extra = propagated_features(dataset.graph, samplers, teleport=cfg.model.propagation_teleport,
                                    method=cfg.model.propagation)  # fmt: skip
    featurizer = NodeFeaturizer(dataset.graph, cfg.model.max_tokens, extra)
    return InputBuilder(dataset.graph, samplers, featurizer)


def cut_time(dataset: GraphDataset) -> int:
    """The training cut of the dataset (``meta["cut_time"]``)."""
    cut = dataset.meta.get("cut_time")
    if cut is None:
        raise ConfigError(
            "a user_entity task needs the dataset's meta['cut_time'] (the time that splits "
            "history from the evaluation window)"
        )
    return int(cut)


def _task(cfg: RunConfig, spec: TaskSpec, index: int, builder: InputBuilder, ds: GraphDataset) -> Any:
    t = cfg.tasks
    seed = cfg.train.seed * 1009 + index
    batch = spec.batch_size or (t.user_batch_size if spec.kind == "user_entity" else t.batch_size)
    common: dict[str, Any] = {"batch_size": batch, "temperature": t.temperature, "seed": seed,
                              "name": spec.name}  # fmt: skip
    if spec.kind == "entity_feature":
        return EntityFeatureTask(builder, spec.node_types or [], **common)
    common.pop("temperature")
    if spec.kind == "masked_features":
        return MaskedFeatureTask(builder, spec.node_types or [], mask_rate=t.mask_rate,
                                 gamma=t.sce_gamma, hidden=cfg.model.feature_head_hidden,
                                 **common)  # fmt: skip
    if spec.kind == "cca":
        return CCATask(builder, spec.node_types or [], lam=t.cca_lambda,
                       feature_drop=t.feature_drop, neighbor_drop=t.neighbor_drop, **common)  # fmt: skip
    common["temperature"] = t.temperature
    neg: dict[str, Any] = {"num_random_negatives": t.num_random_negatives, "logq": spec.logq}
    if t.num_random_negatives == 0:
        neg["negatives"] = "in_batch"
    if spec.random_negatives is not None:
        neg["random_negatives"] = spec.random_negatives
    if spec.kind == "entity_entity":
        positives: Any = spec.relation
        if spec.metapath:
            positives = CoVisitPairSampler(builder.graph, list(spec.metapath), seed=seed)
        h = cfg.eval.head
        head = {"hidden": h.hidden, "layers": h.layers, "dropout": h.dropout} if spec.scorer != "dot" else {}
        return EntityEntityTask(builder, positives, **common, **neg, loss=spec.loss, scorer=spec.scorer,
                                head=head)  # fmt: skip
    if spec.kind == "query_entity":
        rel = {"relation": spec.relation} if spec.relation else {}
        return QueryEntityTask(builder, **rel, **common, **neg)
    if ds.events is None:
        raise ConfigError(f"task {spec.name!r} (user_entity) needs the dataset's event log")
    if not cfg.model.sequence:
        raise ConfigError(
            f"task {spec.name!r} (user_entity) needs model.sequence=true; set its weight to 0 "
            "to train without the sequence task"
        )
    return UserEntityTask(
        builder, ds.events, cut_time(ds), max_len=cfg.model.seq_max_len,
        future_window=t.future_window, num_positions=t.num_positions, next_weight=t.next_weight,
        future_weight=t.future_weight, history_grad=t.history_grad, **common, **neg,
    )  # fmt: skip


def build_tasks(cfg: RunConfig, builder: InputBuilder, dataset: GraphDataset) -> MultiTask:
    """The weighted tasks of ``cfg.tasks.specs`` (weight-0 tasks are not built)."""
    tasks = {
        spec.name: (_task(cfg, spec, i, builder, dataset), spec.weight)
        for i, spec in enumerate(cfg.tasks.specs)
        if spec.weight > 0
    }
    return MultiTask(tasks, share_inputs=cfg.tasks.share_inputs,
                     share_negatives=cfg.tasks.share_negatives)  # fmt: skip


def build_model(cfg: RunConfig, builder: InputBuilder, dataset: GraphDataset) -> OmniSage:
    """An untrained :class:`OmniSage` (initialised from ``train.seed``; id tables as
    :func:`init_id_tables` sets them)."""
    m = cfg.model
    torch.manual_seed(cfg.train.seed)
    kw: dict[str, Any] = {"id_buckets": m.id_buckets}
    if m.encoder == "pinsage":
        kw.update(hidden=m.mlp_hidden, skip=m.skip)
    else:
        kw.update(num_heads=m.num_heads, mlp_hidden=m.mlp_hidden, dropout=m.dropout)
        if m.norm_types:
            kw["norm_ranges"] = dict.fromkeys(m.norm_types, m.norm_range)
    model = OmniSage.from_builder(
        builder, dataset.events if m.sequence else None, node_types=m.node_types,
        dim=m.dim, encoder=m.encoder, sequence=m.sequence, use_neighbors=m.use_neighbors,
        use_content=m.use_content, text_buckets=m.text_buckets,
        feature_head_hidden=m.feature_head_hidden,
        sequence_kwargs={"max_len": m.seq_max_len, "num_layers": m.seq_layers,
                         "num_heads": m.seq_heads},
        id_tables={"mode": m.id_embedding, "budget_bytes": m.id_budget_mb * 2**20,
                   "num_buckets": m.id_buckets},
        light_kwargs={"normalize": m.light_normalize},
        **kw,
    )  # fmt: skip
    entity = sorted(t for t, e in model.encoders.items() if hasattr(e, "norm_head"))
    if set(m.norm_types) - set(entity):
        raise ConfigError(f"model.norm_types names {sorted(set(m.norm_types) - set(entity))}, which "
                          f"have no entity encoder; the entity encoders: {entity}")  # fmt: skip
    init_id_tables(model, dataset.graph, cfg)
    return model


def largest_relation(graph: HeteroGraph, node_type: str) -> str | None:
    """The forward relation with the most edges that has ``node_type`` at one end."""
    best, size = None, -1
    for et in graph.canonical_edge_types:
        if node_type in (et[0], et[2]) and graph.csr(et).num_edges > size:
            best, size = et[1], graph.csr(et).num_edges
    return best


def init_id_tables(model: OmniSage, graph: HeteroGraph, cfg: RunConfig) -> None:
    """Hybrid tables get exact rows for their highest-degree ids; exact rows start from a
    spectral embedding when ``model.spectral_init`` (one truncated SVD per relation,
    rescaled to the mean squared row norm 1 of the random initialisation)."""
    m = cfg.model
    by_relation: dict[str, list[str]] = {}
    for t, table in model.id_tables.items():
        if table.mode == "hybrid":
            table.set_frequent(np.argsort(-graph.degree(t), kind="stable"))
        rel = m.spectral_relation or largest_relation(graph, t)
        if m.spectral_init and table.num_exact and rel is not None:
            by_relation.setdefault(rel, []).append(t)
    for rel, types in by_relation.items():
        et = graph.edge_type(rel)
        width = max(model.id_tables[t].dim for t in types)
        vectors = spectral_embedding(graph, rel, width, alpha=m.spectral_alpha, beta=m.spectral_beta,
                                     reg=m.spectral_reg, seed=cfg.train.seed)  # fmt: skip
        for t in types:
            if t in (et[0], et[2]):
                x = vectors[t]
                scale = np.sqrt(len(x) / max(float(np.square(x).sum()), 1e-12))
                model.id_tables[t].load_vectors(x * scale)


@dataclass
class Components:
    """Everything a training run works with."""

    dataset: GraphDataset
    builder: InputBuilder
    tasks: MultiTask
    model: OmniSage


def build(cfg: RunConfig, dataset: GraphDataset) -> Components:
    """Inputs, tasks and model of a run, with the tasks' loss modules attached."""
    builder = build_inputs(cfg, dataset)
    tasks = build_tasks(cfg, builder, dataset)
    model = build_model(cfg, builder, dataset)
    tasks.attach(model)
    return Components(dataset, builder, tasks, model)
