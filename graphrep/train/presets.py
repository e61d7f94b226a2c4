"""Named run presets: ``tiny`` (tests, seconds), ``default`` (the README's main job,
minutes on 2 CPU cores), ``large`` (the 60M-edge synthetic graph).

A preset is a nested mapping of overrides on :class:`~graphrep.train.config.RunConfig`'s
defaults, so ``preset("default")`` equals ``RunConfig()`` plus the entries below.
"""

from __future__ import annotations

from typing import Any

from graphrep.errors import ConfigError
from graphrep.train.config import RunConfig

PINTEREST_QUOTAS_SMALL = {
    "pin": {"pin": 8, "board": 4},
    "board": {"pin": 8, "board": 4},
    "user": {"pin": 8},
    "query": {"pin": 8, "query": 4},
}

# fmt: off
PINTEREST_QUOTAS_DEFAULT = {
    "pin": {"pin": 10, "board": 5},
    "board": {"pin": 10, "board": 5},
    "user": {"pin": 10},
    "query": {"pin": 10, "query": 5},
}

#: Run presets by name, each a nested mapping of overrides on :class:`RunConfig`'s defaults.
#:
#: :meta hide-value:
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "data": {"preset": "tiny"},
        "model": {
            "dim": 32, "num_heads": 2, "mlp_hidden": 64, "id_buckets": 2048,
            "text_buckets": 4096, "feature_head_hidden": 64, "max_tokens": 12,
            "node_types": ["pin", "board", "query"], "seq_max_len": 12, "seq_heads": 2,
        },
        "sampling": {"quotas": PINTEREST_QUOTAS_SMALL, "num_walks": 16, "prefetch": 2},
        "tasks": {
            "batch_size": 32, "num_random_negatives": 32, "user_batch_size": 16,
            "future_window": 86400, "num_positions": 4,
        },
        "train": {
            "steps": 60, "lr": 3e-3, "warmup_steps": 5, "checkpoint_every": 20,
            "log_every": 5, "progress": False,
        },
        "embed": {"batch_size": 256},
        "eval": {"ks": [10], "num_negatives": 100, "max_queries": 500},
    },
    "default": {
        "data": {"preset": "default"},
        # pins learn their output norm (popularity into dot-product retrieval; chosen on a
        # graph generated with another seed, docs/benchmarks.md)
        "model": {"node_types": ["pin", "board", "query"], "text_buckets": 32768,
                  "id_buckets": 32768, "seq_max_len": 16, "norm_types": ["pin"]},
        "sampling": {"quotas": PINTEREST_QUOTAS_DEFAULT},
        "train": {"steps": 640, "warmup_steps": 20, "checkpoint_every": 100},
    },
    "large": {
        "data": {"preset": "large"},
        "model": {"dim": 128, "num_heads": 4, "mlp_hidden": 256, "node_types": ["pin", "board", "query"]},
        "tasks": {"batch_size": 256, "num_random_negatives": 256, "user_batch_size": 64},
        "train": {"steps": 5000, "checkpoint_every": 500},
        "embed": {"index": "hnsw"},
    },
    # real data (graphrep train --dataset NAME --root PATH); see docs/benchmarks.md
    # cora: chosen on Cora's 500 validation nodes only (docs/benchmarks.md); nothing in it
    # names Cora, so it serves any Planetoid-format citation graph unchanged
    # (512-d PinSage + a skip path from the propagated features, GraphMAE + CCA-SSG with
    # CCA-SSG's Cora drop rates, 1024-node batches, the validation probe every epoch)
    "cora": {
        "data": {"dataset": "cora"},
        "model": {"node_types": ["paper"], "sequence": False, "encoder": "pinsage", "dim": 512,
                  "num_heads": 4, "mlp_hidden": 256, "id_buckets": 4096, "propagated": True,
                  "skip": True},
        "sampling": {"metapaths": {"paper": [["cites"]]}, "quotas": {"paper": {"paper": 16}},
                     "num_traversals": 2},
        "tasks": {"batch_size": 1024, "num_random_negatives": 256, "feature_drop": 0.1,
                  "neighbor_drop": 0.4, "specs": [
            {"name": "mae", "kind": "masked_features", "node_types": ["paper"], "weight": 1.0},
            {"name": "cca", "kind": "cca", "node_types": ["paper"], "weight": 1.0}]},
        "train": {"epochs": 12, "lr": 1e-3, "weight_decay": 1e-3, "warmup_steps": 15,
                  "checkpoint_every": 500, "validate_every": 1},
        "eval": {"ks": [10]},
    },
    # Gowalla (and any LightGCN-format user-item file pair): exact 256-d id rows started from a
    # filtered spectral embedding, fine-tuned by sampled softmax over 1024 shared negatives;
    # every choice made on the validation edges carved from training (docs/benchmarks.md)
    "gowalla": {
        "data": {"dataset": "gowalla", "validation": 0.1},
        "model": {"node_types": ["user", "item"], "sequence": False, "dim": 256,
                  "encoder": "light", "use_neighbors": False, "id_embedding": "exact",
                  "spectral_init": True, "spectral_alpha": 1.0, "spectral_reg": 32.0,
                  "light_normalize": ["user"]},
        "sampling": {"metapaths": {}, "quotas": {}},
        "tasks": {"batch_size": 1024, "num_random_negatives": 1024, "temperature": 0.333,
                  "specs": [{"name": "user_item", "kind": "entity_entity",
                             "relation": "interacted", "logq": True}]},
        "train": {"epochs": 12, "lr": 3e-4, "warmup_steps": 0, "min_lr_ratio": 0.1,
                  "validate_every": 1, "patience": 2, "checkpoint_every": 1000},
        "eval": {"ks": [20]},
    },
    "ogbl-ddi": {
        # OGB's link recipe (learnable node vectors propagated over the graph, trained end to
        # end with BCE against uniform random node pairs) on graphrep's light encoder: exact id rows,
        # pooled importance neighbourhoods, unnormalised outputs; one task scores pairs by dot
        # product, one trains OGB's Hadamard-MLP head jointly; validation on carved edges.
        "data": {"dataset": "ogbl-ddi", "validation": 0.05},
        "model": {"node_types": ["node"], "sequence": False, "encoder": "light", "dim": 128,
                  "id_embedding": "exact", "spectral_init": False, "light_normalize": False},
        "sampling": {"metapaths": {"node": [["to"]]}, "quotas": {"node": {"node": 32}},
                     "num_walks": 128},
        "tasks": {"batch_size": 16384, "num_random_negatives": 16384, "specs": [
            {"name": "edges", "kind": "entity_entity", "relation": "to", "logq": False,
             "loss": "bce"},
            {"name": "edges_head", "kind": "entity_entity", "relation": "to", "logq": False,
             "loss": "bce", "scorer": "hadamard_mlp"}]},
        "train": {"epochs": 12, "lr": 5e-3, "weight_decay": 0.0, "warmup_steps": 20,
                  "grad_clip": 0.0, "validate_every": 1, "patience": 3, "min_steps": 200,
                  "checkpoint_every": 500},
        "eval": {"ks": [20], "link_head": True, "val_hits_share": 0.01,
                 "head": {"hidden": 128, "layers": 3, "dropout": 0.5}},
    },
}
# fmt: on


def preset(name: str) -> RunConfig:
    """The :class:`RunConfig` of a named preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets are {sorted(PRESETS)}")
    return RunConfig().update(PRESETS[name])
