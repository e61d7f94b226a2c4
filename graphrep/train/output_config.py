"""The ``embed`` and ``eval`` sections of the run configuration: how a trained run is
exported (:class:`EmbedConfig`) and evaluated (:class:`EvalConfig`, with OGB's link head
in :class:`LinkHeadConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from graphrep.errors import ConfigError
from graphrep.utils.checks import at_least as _positive
from graphrep.utils.checks import choice as _choice

REFRESH_SCOPES = ("exact", "local")  #: What ``graphrep embed RUN --update`` re-encodes.


@dataclass
class EmbedConfig:
    """Export of every node's embedding, and incremental refreshes of it.

    Args:
        batch_size: nodes embedded per forward pass.
        dtype: stored vector type: ``"float32"``, ``"float16"`` or ``"int8"`` (per-row scales).
        index: faiss index stored with the vectors: ``"none"``, ``"flat"``, ``"hnsw"`` or
            ``"ivf"``.
        refresh_scope: what ``graphrep embed RUN --update`` re-encodes
            (:mod:`graphrep.embed.refresh`): ``"exact"`` every node whose encoder input
            changed, so the new version equals a full export of the changed graph;
            ``"local"`` only new nodes, nodes with changed features, the endpoints of new
            edges and users with new actions (bounded staleness between full exports: the
            other rows keep their vectors and stored neighbourhoods).
        refresh_user_history: in ``"local"`` scope, also re-encode users whose last
            ``model.seq_max_len`` history items include a re-encoded item (off by
            default: a uniform 1 % of new pins re-encodes pins that nearly every user's
            history holds, which triples the local refresh's cost).
    """

    batch_size: int = 1024
    dtype: str = "float32"
    index: str = "flat"
    refresh_scope: str = "exact"
    refresh_user_history: bool = False

    def __post_init__(self) -> None:
        _positive(self.batch_size, "embed.batch_size")
        _choice(self.dtype, "embed.dtype", ("float32", "float16", "int8"))
        _choice(self.index, "embed.index", ("none", "flat", "hnsw", "ivf"))
        _choice(self.refresh_scope, "embed.refresh_scope", REFRESH_SCOPES)


@dataclass
class LinkHeadConfig:
    """OGB's link head (:mod:`graphrep.eval.link_head`; its ddi example: 3 layers of 256,
    dropout 0.5).

    Args:
        hidden: hidden width of the Hadamard-product MLP.
        layers: linear layers (``>= 1``).
        dropout: dropout between layers while training.
        epochs: passes over the training edges (the best epoch on the carved validation
            split is kept when there is one).
        batch_size: positive edges per step (as many random negatives).
        lr: Adam learning rate.
        seed: initialisation and negative-sampling seed.
        standardize: scale the embeddings to unit variance per dimension first.
    """

    hidden: int = 256
    layers: int = 3
    dropout: float = 0.5
    epochs: int = 20
    batch_size: int = 65536
    lr: float = 0.005
    seed: int = 0
    standardize: bool = True

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "epochs", "batch_size"):
            _positive(getattr(self, name), f"eval.head.{name}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"eval.head.dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"eval.head.lr must be a finite number > 0, got {self.lr}")


@dataclass
class EvalConfig:
    """Evaluation protocol.

    Args:
        ks: cut-offs of recall@k / hits@k / NDCG@k (the first is the headline).
        num_negatives: random negatives of the sampled protocol (the positive among them).
        max_queries: held-out queries scored per task at most (a seeded subsample).
        user_window: user-to-item task: only actions this long after the training cut
            (default: every later action).
        seed: seed of the query subsample and the sampled negatives.
        link_head: also score link-prediction datasets with OGB's Hadamard-MLP head trained
            on the frozen embeddings, besides the dot product.
        head: the settings of that head (:class:`LinkHeadConfig`); also the size of a link
            task's jointly trained ``hadamard_mlp`` scorer, which replaces the frozen head.
        val_hits_share: link-prediction validation (early stopping) ranks each carved edge
            against the carved negatives at ``K = max(1, share * negatives)`` instead of the
            dataset's ``K`` (0): random non-training pairs include the graph's hidden edges
            (about 3 % of them on ogbl-ddi), which fill the top ``K = 20`` of any good model.
    """

    ks: list[int] = field(default_factory=lambda: [10, 50])
    num_negatives: int = 1000
    max_queries: int = 5000
    user_window: int | None = None
    seed: int = 0
    link_head: bool = False
    head: LinkHeadConfig = field(default_factory=LinkHeadConfig)
    val_hits_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.ks:
            raise ConfigError("eval.ks must list at least one k")
        for k in self.ks:
            _positive(k, "eval.ks[]")
        _positive(self.num_negatives, "eval.num_negatives")
        _positive(self.max_queries, "eval.max_queries")
        if self.user_window is not None:
            _positive(self.user_window, "eval.user_window")
        if not (math.isfinite(self.val_hits_share) and 0.0 <= self.val_hits_share < 1.0):
            raise ConfigError(f"eval.val_hits_share must be in [0, 1), got {self.val_hits_share!r}")
