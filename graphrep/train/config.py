"""The run configuration: a tree of typed dataclasses (TorchRec style) ⇄ YAML.

``RunConfig`` holds every choice of a run -- data, model, sampling, tasks,
training, export, evaluation -- and is saved resolved in the run directory
(``config.yaml``). Build one with :func:`graphrep.train.presets.preset` or from
YAML with :func:`load_config`; override fields with ``section.field=value``
strings (:func:`graphrep.utils.config.apply_overrides`), which is what the CLI's
``--set`` does. Each section checks its own ranges and names the field it rejects.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphrep.errors import ConfigError
from graphrep.utils.config import apply_overrides, from_dict, load_yaml, merge, save_yaml, to_dict

TASK_KINDS = ("entity_entity", "entity_feature", "user_entity", "query_entity")


def _positive(value: Any, name: str, minimum: float = 1) -> None:
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")


def _finite(value: Any, name: str) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")


def _choice(value: Any, name: str, options: Sequence[Any]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {list(options)}, got {value!r}")


@dataclass
class DataConfig:
    """Where the graph comes from.

    Args:
        dataset: ``"synthetic"`` (generated from ``preset``/``seed``), ``"dir"`` (a saved
            :class:`~graphrep.data.dataset.GraphDataset` at ``path``), a Planetoid name
            (``cora``, ``citeseer``, ``pubmed``), ``gowalla`` (LightGCN files) or an OGB
            node/link property prediction name (``ogbl-ddi``, ``ogbn-arxiv``, ...).
        preset: synthetic preset (``tiny``, ``default``, ``large``).
        seed: synthetic generator seed.
        path: dataset directory for ``dataset="dir"``.
        root: directory holding a real dataset's raw files (read only).
        cache_dir: writable directory for processed files (default: ``~/.cache/graphrep``).
        mmap: open saved datasets (``RUN/data``, ``dataset="dir"``) memory-mapped, so the
            processes of one machine share one copy of the topology in the page cache;
            ``False`` reads a private copy into each process's memory.
        validation: share of the training edges (recommendation and link-prediction
            datasets) held out as a validation split for early stopping and model
            selection (:func:`graphrep.data.splits.carve_validation`, seeded by ``seed``);
            0 holds out nothing.
    """

    dataset: str = "synthetic"
    preset: str = "default"
    seed: int = 0
    path: str | None = None
    root: str | None = None
    cache_dir: str | None = None
    mmap: bool = True
    validation: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.validation) and 0.0 <= self.validation < 1.0):
            raise ConfigError(f"data.validation must be in [0, 1), got {self.validation!r}")
        if not is_known_dataset(self.dataset):
            raise ConfigError(
                f"data.dataset must be 'synthetic', 'dir', one of {list(REAL_DATASETS)} or an "
                f"OGB name (ogbn-*/ogbl-*), got {self.dataset!r}"
            )
        _positive(self.seed, "data.seed", 0)
        if self.dataset == "dir" and not self.path:
            raise ConfigError("data.path is required when data.dataset is 'dir'")


PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
REAL_DATASETS = (*PLANETOID, "gowalla")


def is_known_dataset(name: str) -> bool:
    """Whether :func:`graphrep.train.build.load_dataset` knows how to read ``name``."""
    return name in ("synthetic", "dir", *REAL_DATASETS) or name.startswith(("ogbn-", "ogbl-"))


@dataclass
class ModelConfig:
    """The OmniSage model (see :class:`graphrep.models.OmniSage`).

    Args:
        encoder: each type's encoder: ``"entity"`` (the OmniSage transformer aggregator),
            ``"pinsage"`` (the importance-pooling GCN baseline), ``"light"``
            (:class:`graphrep.models.LightEncoder`: id row + importance-pooled neighbour
            rows, no transformer) or ``"auto"`` (``light`` for content-free types,
            ``entity`` for the others).
        dim: the shared embedding dimension ``D`` of every type and of users.
        num_heads: attention heads of each entity encoder's transformer (divides ``dim``).
        mlp_hidden: hidden size of the entity encoders' output MLP (PinSage: its hidden size).
        id_buckets: hashed rows of a ``hashed`` id table, and of the tail of a ``hybrid`` one.
        text_buckets: rows of the hashed-text table shared by every type's token features.
        feature_head_hidden: hidden size of the entity-feature task's MLP heads.
        max_tokens: token features (text) are padded or truncated to this many tokens.
        node_types: the types that get an encoder and are exported (default: every type
            of the graph).
        use_neighbors: encoders read the sampled importance neighbourhoods (``false``: the
            ``no_neighbors`` ablation).
        use_content: encoders read content features (``false``: hashed ids and degrees
            only, the ``no_content`` ablation).
        sequence: build the PinnerFormer-style user sequence encoder (needed by a
            ``user_entity`` task; ``false`` for graphs without an event log).
        seq_max_len: a user's most recent actions the sequence encoder reads.
        seq_layers: transformer layers of the sequence encoder.
        seq_heads: attention heads of the sequence encoder (divides ``dim``).
        id_embedding: each type's id table (:class:`graphrep.models.IdEmbedding`, shared by
            every encoder reading the type): ``"exact"`` (one row per node), ``"hashed"``
            (``id_buckets`` rows), ``"hybrid"`` (exact rows for the most frequent ids,
            hashed rows for the rest) or ``"auto"`` (exact when the table fits
            ``id_budget_mb``, else hybrid).
        id_budget_mb: the size in MiB up to which ``auto`` keeps an exact id table.
        spectral_init: start exact id rows from a spectral embedding
            (:func:`graphrep.models.spectral.spectral_embedding`) of the graph.
        spectral_relation: the relation of that embedding (default: each type's largest).
        spectral_alpha: the spectral vectors are scaled by singular value to this power
            (the filter :math:`f(\\sigma) = \\sigma^{\\alpha} e^{\\beta\\sigma}` of
            :func:`~graphrep.models.spectral.spectral_embedding`).
        spectral_beta: the filter's exponential coefficient :math:`\\beta` (0: none).
        spectral_reg: degree regulariser :math:`\\rho` of the normalised adjacency,
            :math:`(D + \\rho)^{-1/2} A (D + \\rho)^{-1/2}`.
        light_normalize: L2-normalise the outputs of light encoders: ``true`` (every
            type), ``false`` (none) or a list of the node types to normalise (e.g.
            ``[user]``: cosine-normalised users against unnormalised items, whose norms
            then carry popularity into dot-product ranking).
    """

    encoder: str = "entity"
    dim: int = 64
    num_heads: int = 2
    mlp_hidden: int = 128
    id_buckets: int = 2**16
    text_buckets: int = 2**16
    feature_head_hidden: int = 128
    max_tokens: int = 16
    node_types: list[str] | None = None
    use_neighbors: bool = True
    use_content: bool = True
    sequence: bool = True
    seq_max_len: int = 32
    seq_layers: int = 1
    seq_heads: int = 2
    id_embedding: str = "auto"
    id_budget_mb: int = 512
    spectral_init: bool = True
    spectral_relation: str | None = None
    spectral_alpha: float = 0.5
    spectral_beta: float = 0.0
    spectral_reg: float = 0.0
    light_normalize: bool | list[str] = True

    def __post_init__(self) -> None:
        _choice(self.encoder, "model.encoder", ("entity", "pinsage", "light", "auto"))
        _choice(self.id_embedding, "model.id_embedding", ("auto", "exact", "hashed", "hybrid"))
        _positive(self.id_budget_mb, "model.id_budget_mb")
        _finite(self.spectral_alpha, "model.spectral_alpha")
        _finite(self.spectral_beta, "model.spectral_beta")
        _finite(self.spectral_reg, "model.spectral_reg")
        _positive(self.spectral_reg, "model.spectral_reg", 0)
        if not isinstance(self.light_normalize, bool) and not (
            isinstance(self.light_normalize, list)
            and all(isinstance(t, str) for t in self.light_normalize)
        ):
            raise ConfigError(
                "model.light_normalize must be true, false or a list of node types, "
                f"got {self.light_normalize!r}"
            )
        for name in ("dim", "num_heads", "mlp_hidden", "id_buckets", "text_buckets",
                     "feature_head_hidden", "max_tokens", "seq_max_len", "seq_layers",
                     "seq_heads"):  # fmt: skip
            _positive(getattr(self, name), f"model.{name}")
        if self.dim % self.num_heads or self.dim % self.seq_heads:
            raise ConfigError(
                f"model.dim ({self.dim}) must be divisible by model.num_heads ({self.num_heads}) "
                f"and model.seq_heads ({self.seq_heads})"
            )


@dataclass
class SamplingConfig:
    """Importance neighborhoods and the background sampling worker.

    Args:
        metapaths: per seed type, the meta-paths (lists of relation names) its random
            walks follow (default: the Pinterest schema's,
            :data:`graphrep.tasks.PINTEREST_METAPATHS`).
        quotas: per seed type, how many neighbours of each type to keep, the top-k by
            visit count (default: :data:`graphrep.tasks.PINTEREST_QUOTAS`).
        num_walks: random walks per seed (split evenly over the type's meta-paths).
        num_traversals: meta-path traversals per walk at most (``> 1`` needs cyclic paths).
        restart_prob: probability that a walk ends after each traversal (the next walk
            starts again at the seed), in ``[0, 1)``.
        prefetch: bounded queue length of batches sampled ahead of the model.
        workers: sampling threads (the batches are the same for any number).
        kernel_threads: threads of the compiled (numba) sampling kernels inside each
            worker (0: every core); one keeps a worker on one core, off the model's.
    """

    metapaths: dict[str, list[list[str]]] | None = None
    quotas: dict[str, dict[str, int]] | None = None
    num_walks: int = 64
    num_traversals: int = 2
    restart_prob: float = 0.5
    prefetch: int = 4
    workers: int = 1
    kernel_threads: int = 1

    def __post_init__(self) -> None:
        _positive(self.num_walks, "sampling.num_walks")
        _positive(self.num_traversals, "sampling.num_traversals")
        if not 0.0 <= self.restart_prob < 1.0:
            raise ConfigError(f"sampling.restart_prob must be in [0, 1), got {self.restart_prob}")
        _positive(self.prefetch, "sampling.prefetch")
        _positive(self.workers, "sampling.workers")
        _positive(self.kernel_threads, "sampling.kernel_threads", 0)


@dataclass
class TaskSpec:
    """One task of the multi-task objective.

    Args:
        name: unique task name (metric prefix, loss-module name).
        kind: one of ``entity_entity``, ``entity_feature``, ``user_entity``, ``query_entity``.
        weight: its weight in the summed loss (0 switches it off).
        relation: positive pairs' relation (entity/query tasks).
        node_types: types whose features are retrieved (entity_feature).
        batch_size: overrides ``tasks.batch_size``.
        random_negatives: ``"uniform"`` or ``"popularity"`` (default: the task's own).
        metapath: entity_entity positives from random-walk co-visits along this cyclic
            meta-path (PinSage; e.g. ``[rev_engaged, engaged]``) instead of ``relation``'s edges.
        logq: subtract log sampling probabilities (debias popularity; default on). Off
            for link prediction and top-k recommendation benchmarks, whose random
            negatives reward knowing popularity.
        loss: entity_entity objective: ``"softmax"`` (sampled softmax over in-batch and
            random candidates) or ``"bce"`` (OGB's link objective: binary cross-entropy of
            each edge against ``tasks.num_random_negatives`` corrupted edges, accidental
            edges masked; :class:`graphrep.models.LinkBCE`).
        scorer: the ``bce`` pair scorer: ``"dot"`` or ``"hadamard_mlp"`` (OGB's link head,
            sized by ``eval.head``, trained jointly with the encoders and saved with the
            model; ``graphrep eval --link-head`` then scores with it).
    """

    name: str
    kind: str
    weight: float = 1.0
    relation: str | None = None
    node_types: list[str] | None = None
    batch_size: int | None = None
    random_negatives: str | None = None
    metapath: list[str] | None = None
    logq: bool = True
    loss: str = "softmax"
    scorer: str = "dot"

    def __post_init__(self) -> None:
        _choice(self.kind, f"tasks.specs[{self.name}].kind", TASK_KINDS)
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(f"tasks.specs[{self.name}].weight must be finite and >= 0")
        if self.kind == "entity_entity" and not (self.relation or self.metapath):
            raise ConfigError(f"tasks.specs[{self.name}] ({self.kind}) needs a relation or metapath")
        if self.kind == "entity_feature" and not self.node_types:
            raise ConfigError(f"tasks.specs[{self.name}] (entity_feature) needs node_types")
        _choice(self.loss, f"tasks.specs[{self.name}].loss", ("softmax", "bce"))
        _choice(self.scorer, f"tasks.specs[{self.name}].scorer", ("dot", "hadamard_mlp"))
        if (self.loss, self.scorer) != ("softmax", "dot") and self.kind != "entity_entity":
            raise ConfigError(f"tasks.specs[{self.name}]: loss/scorer apply to entity_entity tasks only")
        if self.scorer != "dot" and self.loss != "bce":
            raise ConfigError(f"tasks.specs[{self.name}]: scorer {self.scorer!r} needs loss 'bce'")
        if self.random_negatives is not None:
            _choice(self.random_negatives, f"tasks.specs[{self.name}].random_negatives",
                    ("uniform", "popularity"))  # fmt: skip


def _pinterest_tasks() -> list[TaskSpec]:
    return [
        TaskSpec("pin_pin", "entity_entity", 1.0, relation="co_engaged"),
        TaskSpec("board_pin", "entity_entity", 1.0, relation="contains"),
        TaskSpec("feature", "entity_feature", 0.5, node_types=["pin", "board", "query"]),
        TaskSpec("sequence", "user_entity", 0.3),
        TaskSpec("query", "query_entity", 1.0, relation="clicked"),
    ]


@dataclass
class TaskConfig:
    """Shared task settings and the list of tasks.

    Args:
        batch_size: examples per step of each entity-entity, entity-feature and
            query-entity task, per rank (a :class:`TaskSpec` may override it).
        num_random_negatives: random negatives shared by a batch, besides the in-batch
            ones (0: in-batch negatives only).
        temperature: initial temperature of every sampled softmax (learned).
        user_batch_size: users per step of the user-entity task, per rank.
        future_window: the dense all-action task's window after each position, in the
            event log's time units (seconds).
        num_positions: positions per user of the dense all-action task.
        next_weight: weight of the next-action loss in the user-entity task.
        future_weight: weight of the dense all-action loss in the user-entity task.
        history_grad: the user-entity loss trains the entity encoders through the
            history items' embeddings too.
        share_inputs: encode the nodes of every task once per step, deduplicated across
            tasks and rows (the same losses and gradients, less work:
            :class:`graphrep.tasks.MultiTask`).
        share_negatives: tasks whose random negatives follow one distribution share one
            draw per step (fewer nodes to encode; changes the sampled data).
        specs: the tasks of the multi-task objective (:class:`TaskSpec`; default: the
            Pinterest schema's five).
    """

    batch_size: int = 128
    num_random_negatives: int = 128
    temperature: float = 0.07
    user_batch_size: int = 32
    future_window: int = 7 * 86400
    num_positions: int = 8
    next_weight: float = 1.0
    future_weight: float = 1.0
    history_grad: bool = True
    share_inputs: bool = True
    share_negatives: bool = False
    specs: list[TaskSpec] = field(default_factory=_pinterest_tasks)

    def __post_init__(self) -> None:
        for name in ("batch_size", "user_batch_size", "future_window", "num_positions"):
            _positive(getattr(self, name), f"tasks.{name}")
        _positive(self.num_random_negatives, "tasks.num_random_negatives", 0)
        _positive(self.next_weight, "tasks.next_weight", 0)
        _positive(self.future_weight, "tasks.future_weight", 0)
        if not self.specs:
            raise ConfigError("tasks.specs must list at least one task")
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"tasks.specs has duplicate task names: {names}")
        if not any(s.weight > 0 for s in self.specs):
            raise ConfigError("tasks.specs: at least one task needs a positive weight")


@dataclass
class TrainConfig:
    """Optimisation, checkpointing and logging.

    Args:
        steps: optimizer steps of the run (replaced by ``epochs`` when that is set).
        lr: peak learning rate of AdamW (every weight but the id tables).
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear warmup before the cosine decay.
        min_lr_ratio: the cosine decay's floor, as a fraction of ``lr``.
        grad_clip: gradient-norm clip (0: off).
        seed: seed of the model's initialisation and of every task's batches.
        checkpoint_every: steps between checkpoints (the last step is always saved).
        keep_checkpoints: most recent checkpoints kept in ``RUN/checkpoints``.
        log_every: steps between rows of ``RUN/logs/metrics.csv``.
        num_threads: torch threads (0: torch's default).
        device: ``"cpu"`` or ``"cuda[:N]"``.
        progress: show a progress bar.
        gather_negatives: under ``torchrun``, pool the sampled-softmax candidates of all
            ranks.
        virtual_ranks: run ``W`` ranks as threads of one process, computing exactly what
            a ``W``-process run computes (the same batches, candidate pools and averaged
            gradient), e.g. to continue a multi-GPU run on one machine.
        id_lr: learning rate of SparseAdam on the id tables' sparse gradients (default:
            ``lr``; every other weight is trained by AdamW, :mod:`graphrep.train.optim`).
        epochs: the budget as passes over the positives of ``epoch_task`` (replaces
            ``steps``; default: use ``steps``).
        epoch_task: the task whose positives ``epochs`` counts (default: the first task).
        validate_every: epochs between scores of the validation split carved from the
            training data (``data.validation``; Planetoid's validation nodes); the best
            model is the one written to ``model.pt`` (0: never validate).
        patience: validations without improvement before training stops early (0: never).
        min_steps: the budget is at least this many steps, and early stopping waits for
            them (a small graph whose epoch is a single batch still trains; 0: no floor).
    """

    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    num_threads: int = 0
    device: str = "cpu"
    progress: bool = True
    gather_negatives: bool = True
    virtual_ranks: int = 1
    id_lr: float | None = None
    epochs: float | None = None
    epoch_task: str | None = None
    validate_every: float = 0.0
    patience: int = 0
    min_steps: int = 0

    def __post_init__(self) -> None:
        _positive(self.steps, "train.steps")
        if self.id_lr is not None and not (math.isfinite(self.id_lr) and self.id_lr > 0):
            raise ConfigError(f"train.id_lr must be a finite number > 0, got {self.id_lr}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"train.epochs must be a finite number > 0, got {self.epochs}")
        if not (math.isfinite(self.validate_every) and self.validate_every >= 0):
            raise ConfigError(f"train.validate_every must be >= 0 (epochs), got {self.validate_every}")
        _positive(self.patience, "train.patience", 0)
        _positive(self.min_steps, "train.min_steps", 0)
        _positive(self.virtual_ranks, "train.virtual_ranks")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        _positive(self.weight_decay, "train.weight_decay", 0)
        _positive(self.warmup_steps, "train.warmup_steps", 0)
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _positive(self.grad_clip, "train.grad_clip", 0)
        _positive(self.seed, "train.seed", 0)
        _positive(self.checkpoint_every, "train.checkpoint_every")
        _positive(self.keep_checkpoints, "train.keep_checkpoints")
        _positive(self.log_every, "train.log_every")
        _positive(self.num_threads, "train.num_threads", 0)
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be 'cpu' or 'cuda[:N]', got {self.device!r}")


@dataclass
class EmbedConfig:
    """Export of every node's embedding.

    Args:
        batch_size: nodes embedded per forward pass.
        dtype: stored vector type: ``"float32"``, ``"float16"`` or ``"int8"`` (per-row scales).
        index: faiss index stored with the vectors: ``"none"``, ``"flat"``, ``"hnsw"`` or
            ``"ivf"``.
    """

    batch_size: int = 1024
    dtype: str = "float32"
    index: str = "flat"

    def __post_init__(self) -> None:
        _positive(self.batch_size, "embed.batch_size")
        _choice(self.dtype, "embed.dtype", ("float32", "float16", "int8"))
        _choice(self.index, "embed.index", ("none", "flat", "hnsw", "ivf"))


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


@dataclass
class RunConfig:
    """Everything a run needs; saved as ``config.yaml`` in the run directory.

    Args:
        data: where the graph comes from (:class:`DataConfig`).
        model: the model (:class:`ModelConfig`).
        sampling: importance neighbourhoods and background sampling (:class:`SamplingConfig`).
        tasks: the training tasks (:class:`TaskConfig`).
        train: optimisation, checkpoints and logs (:class:`TrainConfig`).
        embed: the export (:class:`EmbedConfig`).
        eval: the evaluation protocol (:class:`EvalConfig`).
        name: the model's name in results tables and ``metrics.json``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    name: str = "omnisage"

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        return from_dict(cls, data)

    def override(self, overrides: Sequence[str]) -> RunConfig:
        """A copy with ``section.field=value`` overrides applied."""
        return apply_overrides(RunConfig, self, overrides)

    def update(self, data: dict[str, Any]) -> RunConfig:
        """A copy with a nested mapping merged in (validated): sections merge field by field;
        a field given in ``data`` replaces the old value, a mapping-valued field (such as
        ``sampling.quotas``) as a whole."""
        return from_dict(RunConfig, merge(self.to_dict(), data, RunConfig))

    def digest(self) -> str:
        """A short hash of the model-relevant config (recorded in exports). How a run is
        executed (threads, device, virtual ranks, memory mapping, caches) is left out, so a
        run can resume with other settings of those."""
        keep = {k: v for k, v in self.to_dict().items() if k not in ("eval", "embed")}
        for section, fields in _EXECUTION.items():
            keep[section] = {k: v for k, v in keep[section].items() if k not in fields}
        blob = json.dumps(keep, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> None:
        """Write the resolved config as YAML (atomically)."""
        save_yaml(self.to_dict(), path)


_EXECUTION = {
    "train": ("progress", "num_threads", "device", "virtual_ranks"),
    "data": ("mmap", "cache_dir"),
    "sampling": ("prefetch", "workers", "kernel_threads"),
    "tasks": ("share_inputs",),
}


def load_config(path: str | os.PathLike) -> RunConfig:
    """A :class:`RunConfig` from a YAML file (``yaml.safe_load``, validated)."""
    try:
        return RunConfig.from_dict(load_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{os.fspath(path)}: {exc}") from None
