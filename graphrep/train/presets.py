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
        "model": {"node_types": ["pin", "board", "query"], "text_buckets": 32768,
                  "id_buckets": 32768, "seq_max_len": 16},
        "sampling": {"quotas": PINTEREST_QUOTAS_DEFAULT},
        "train": {"steps": 320, "warmup_steps": 20, "checkpoint_every": 100},
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
    "cora": {
        "data": {"dataset": "cora"},
        "model": {"node_types": ["paper"], "sequence": False, "encoder": "pinsage", "dim": 128,
                  "num_heads": 4, "mlp_hidden": 256, "id_buckets": 4096, "propagated": True},
        "sampling": {"metapaths": {"paper": [["cites"]]}, "quotas": {"paper": {"paper": 16}},
                     "num_traversals": 2},
        "tasks": {"batch_size": 256, "num_random_negatives": 256, "specs": [
            {"name": "mae", "kind": "masked_features", "node_types": ["paper"], "weight": 1.0},
            {"name": "cca", "kind": "cca", "node_types": ["paper"], "weight": 1.0}]},
        "train": {"epochs": 12, "lr": 1e-3, "weight_decay": 1e-3, "warmup_steps": 15,
                  "checkpoint_every": 500, "validate_every": 3},
        "eval": {"ks": [10]},
    },
    "gowalla": {
        "data": {"dataset": "gowalla"},
        "model": {"node_types": ["user", "item"], "sequence": False, "dim": 64,
                  "id_buckets": 16384},
        "sampling": {"metapaths": {"user": [["interacted", "rev_interacted"]],
                                   "item": [["rev_interacted", "interacted"]]},
                     "quotas": {"user": {"item": 16, "user": 4}, "item": {"user": 16, "item": 4}}},
        "tasks": {"batch_size": 512, "num_random_negatives": 512, "specs": [
            {"name": "user_item", "kind": "entity_entity", "relation": "interacted",
             "logq": False}]},
        "train": {"steps": 1200, "lr": 2e-3, "warmup_steps": 100, "checkpoint_every": 500},
        "eval": {"ks": [20]},
    },
    "ogbl-ddi": {
        "data": {"dataset": "ogbl-ddi"},
        "model": {"node_types": ["node"], "sequence": False, "dim": 64, "num_heads": 2,
                  "mlp_hidden": 128, "id_buckets": 8192},
        "sampling": {"metapaths": {"node": [["to"]]}, "quotas": {"node": {"node": 16}}},
        "tasks": {"batch_size": 512, "num_random_negatives": 512, "specs": [
            {"name": "edges", "kind": "entity_entity", "relation": "to", "logq": False}]},
        "train": {"steps": 1000, "lr": 2e-3, "warmup_steps": 100, "checkpoint_every": 500},
        "eval": {"ks": [20]},
    },
}
# fmt: on


def preset(name: str) -> RunConfig:
    """The :class:`RunConfig` of a named preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets are {sorted(PRESETS)}")
    return RunConfig().update(PRESETS[name])
