"""The ``tasks`` section of the run configuration: which training objectives a run
combines (:class:`TaskSpec`, one per task) and the settings they share (:class:`TaskConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from graphrep.errors import ConfigError
from graphrep.utils.checks import at_least as _positive
from graphrep.utils.checks import choice as _choice

#: The task kinds a :class:`TaskSpec` can name.
TASK_KINDS = ("entity_entity", "entity_feature", "user_entity", "query_entity",
              "masked_features", "cca")  # fmt: skip


@dataclass
class TaskSpec:
    """One task of the multi-task objective.

    Args:
        name: unique task name (metric prefix, loss-module name).
        kind: one of ``entity_entity``, ``entity_feature``, ``user_entity``, ``query_entity``,
            ``masked_features`` (GraphMAE, :mod:`graphrep.tasks.masked_features`), ``cca``
            (CCA-SSG, :mod:`graphrep.tasks.cca`).
        weight: its weight in the summed loss (0 switches it off).
        relation: positive pairs' relation (entity/query tasks).
        node_types: types whose features are retrieved (entity_feature), reconstructed
            (masked_features) or viewed twice (cca).
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
        if self.kind in ("entity_feature", "masked_features", "cca") and not self.node_types:
            raise ConfigError(f"tasks.specs[{self.name}] ({self.kind}) needs node_types")
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
        mask_rate: share of a batch's nodes whose own features a ``masked_features`` task
            masks.
        sce_gamma: exponent :math:`\\gamma \\ge 1` of its scaled cosine error.
        cca_lambda: decorrelation weight :math:`\\lambda` of a ``cca`` task. The invariance
            term here is :math:`\\lVert \\tilde Z_1 - \\tilde Z_2 \\rVert^2 = 2(D - \\mathrm{tr}\\,C)`,
            twice CCA-SSG's :math:`-\\mathrm{tr}\\,C` up to a constant, so the paper's
            :math:`\\lambda` is ``cca_lambda / 2`` (1e-3 here is its 5e-4).
        feature_drop: probability that a ``cca`` view masks each feature dimension.
        neighbor_drop: probability that a ``cca`` view drops each sampled neighbour.
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
    mask_rate: float = 0.5
    sce_gamma: float = 3.0
    cca_lambda: float = 1e-3
    feature_drop: float = 0.2
    neighbor_drop: float = 0.2

    def __post_init__(self) -> None:
        for name, low, high in (("mask_rate", 0.0, 1.0), ("feature_drop", 0.0, 0.99),
                                ("neighbor_drop", 0.0, 0.99), ("sce_gamma", 1.0, 100.0),
                                ("cca_lambda", 0.0, 1e6)):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and low <= v <= high):
                raise ConfigError(f"tasks.{name} must be in [{low}, {high}], got {v!r}")
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
