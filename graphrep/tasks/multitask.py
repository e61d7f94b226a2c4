r"""Weighted multi-task objective: the OmniSage training loss.

OmniSage (https://arxiv.org/abs/2504.17811) trains one set of encoders on several
tasks at once:

.. math::
    \mathcal{L} = \sum_{k} \lambda_k \mathcal{L}_k,
    \qquad \text{e.g. } \lambda_{\text{pair}}\mathcal{L}_{\text{entity-entity}}
    + \lambda_{\text{feat}}\mathcal{L}_{\text{entity-feature}}
    + \lambda_{\text{seq}}(\mathcal{L}_{\text{next}} + \mathcal{L}_{\text{future}})
    + \lambda_{\text{query}}\mathcal{L}_{\text{query-entity}} .

:class:`MultiTask` samples every task with positive weight for a step
(:meth:`MultiTask.sample`, CPU only, safe in a background thread) and sums their
weighted losses on the model (:meth:`MultiTask.loss`); tasks with weight 0 are
neither sampled nor run (an ablation switch).

**One encoding per step.** Tasks with ``shares_inputs`` add their nodes to one
:class:`~graphrep.tasks.pool.NodePool` per step (``share_inputs=True``): each distinct node
is sampled, featurised and encoded once, and every task reads the same embeddings
(:class:`StepBatch`). The losses and gradients are those of separate encodings. A task
whose inputs are augmented keeps ``shares_inputs = False`` and encodes its own.
``share_negatives`` lets tasks with the same random-negative distribution share one draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphrep.errors import ConfigError
from graphrep.models.nodes import NodeBatch
from graphrep.tasks.pool import Encoded, NodePool


@dataclass
class StepBatch(Mapping):
    """The batches of one step, by task name, and the nodes they share (or ``None``)."""

    batches: dict[str, Any]
    nodes: NodeBatch | None = None

    def __getitem__(self, name: str) -> Any:
        return self.batches[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> StepBatch:
        return StepBatch({k: b.to(device) for k, b in self.batches.items()},
                         None if self.nodes is None else self.nodes.to(device, non_blocking))  # fmt: skip


def _weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"MultiTask: weight of task {name!r} must be a number, got {value!r}")
    w = float(value)
    if not math.isfinite(w) or w < 0:
        raise ConfigError(f"MultiTask: weight of task {name!r} must be finite and >= 0, got {value!r}")
    return w


class MultiTask:
    """A weighted sum of tasks (each with ``sample(step)``, ``loss(model, batch)``, ``attach``).

    Args:
        tasks: name -> ``(task, weight)`` or name -> task (weight 1).
        share_inputs: tasks with ``shares_inputs`` (and one builder) encode their nodes
            together, once per step.
        share_negatives: tasks with equal random-negative samplers share one draw per step.

    Example:
        >>> mt = MultiTask({"pairs": (pair_task, 1.0), "feat": (feature_task, 0.5)})
        >>> mt.attach(model)                      # loss modules, before the optimizer
        >>> loss, metrics = mt.loss(model, mt.sample(step=0))
    """

    def __init__(
        self, tasks: Mapping[str, Any], share_inputs: bool = True, share_negatives: bool = False
    ) -> None:
        if not isinstance(tasks, Mapping) or not tasks:
            raise ConfigError("MultiTask: tasks must be a non-empty {name: (task, weight)} mapping")
        self.tasks: dict[str, Any] = {}
        self.weights: dict[str, float] = {}
        for name, item in tasks.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise ConfigError(f"MultiTask: task names must be non-empty str without '/', got {name!r}")
            task, weight = item if isinstance(item, tuple) else (item, 1.0)
            for attr in ("sample", "loss", "attach", "loss_specs"):
                if not callable(getattr(task, attr, None)):
                    raise ConfigError(
                        f"MultiTask: task {name!r} ({type(task).__name__}) has no {attr}() method"
                    )
            self.tasks[name] = task
            self.weights[name] = _weight(name, weight)
        loss_names: dict[str, str] = {}
        for name, task in self.tasks.items():
            for ln in task.loss_specs():
                if ln in loss_names:
                    raise ConfigError(
                        f"MultiTask: tasks {loss_names[ln]!r} and {name!r} both use the loss "
                        f"module {ln!r}; give them different name= arguments"
                    )
                loss_names[ln] = name
        if not any(self.weights.values()):
            raise ConfigError("MultiTask: at least one task needs a positive weight")
        self.share_inputs, self.share_negatives = bool(share_inputs), bool(share_negatives)

    def _sharing(self, name: str) -> bool:
        return bool(getattr(self.tasks[name], "shares_inputs", False))

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Change some weights (unknown task names raise :class:`ConfigError`)."""
        unknown = sorted(set(weights) - set(self.tasks))
        if unknown:
            raise ConfigError(f"MultiTask: unknown tasks {unknown}; tasks are {list(self.tasks)}")
        new = dict(self.weights)
        new.update({k: _weight(k, v) for k, v in weights.items()})
        if not any(new.values()):
            raise ConfigError("MultiTask: at least one task needs a positive weight")
        self.weights = new

    @property
    def active(self) -> list[str]:
        """Names of the tasks with a positive weight."""
        return [n for n, w in self.weights.items() if w > 0]

    def steps_per_epoch(self, name: str | None = None) -> int:
        """Steps in one epoch of task ``name`` (default: the first active task): its
        positives per epoch (``epoch_size``) over its batch size, rounded up."""
        name = self.active[0] if name is None else name
        if name not in self.tasks:
            raise ConfigError(f"train.epoch_task: unknown task {name!r}; tasks are {list(self.tasks)}")
        task = self.tasks[name]
        size = getattr(task, "epoch_size", None)
        if size is None:
            raise ConfigError(f"task {name!r} ({type(task).__name__}) defines no epoch_size")
        return max(1, math.ceil(int(size) / int(task.batch_size)))

    def attach(self, model: Any) -> None:
        """Register every task's loss modules on ``model`` (before creating the optimizer)."""
        for task in self.tasks.values():
            task.attach(model)

    def sample(self, step: int) -> StepBatch:
        """The batch of every active task for ``step`` (no model access), the nodes of the
        sharing tasks pooled into one :class:`NodeBatch`."""
        sharing = [n for n in self.active if self._sharing(n)] if self.share_inputs else []
        builders = {id(self.tasks[n].builder) for n in sharing}
        pool = None
        if len(builders) == 1 and (len(sharing) > 1 or self.share_negatives):
            pool = NodePool(self.tasks[sharing[0]].builder, step, self.share_negatives)
        batches = {}
        for name in self.active:
            task = self.tasks[name]
            shared = pool is not None and name in sharing
            batches[name] = task.sample(step, pool) if shared else task.sample(step)
        return StepBatch(batches, None if pool is None else pool.build())

    @staticmethod
    def to(batches: Mapping[str, Any], device: torch.device | str) -> Mapping[str, Any]:
        """Move every batch to ``device``."""
        if isinstance(batches, StepBatch):
            return batches.to(device)
        return {name: b.to(device) for name, b in batches.items()}

    def loss(self, model: Any, batches: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Weighted sum of the tasks' losses and metrics ``"loss"``, ``"<task>/<metric>"``.

        Raises:
            ConfigError: a batch of an unknown task, or an active task without a batch.
        """
        unknown = sorted(set(batches) - set(self.tasks))
        if unknown:
            raise ConfigError(f"MultiTask.loss: batches of unknown tasks {unknown}")
        missing = [n for n in self.active if n not in batches]
        if missing:
            raise ConfigError(f"MultiTask.loss: no batch for active tasks {missing}")
        total: Tensor | None = None
        metrics: dict[str, float] = {}
        nodes = getattr(batches, "nodes", None)
        shared = None if nodes is None else Encoded.of(model, nodes)
        for name in self.active:
            batch = batches[name]
            task = self.tasks[name]
            if shared is not None and getattr(batch, "nodes", 0) is None and self._sharing(name):
                loss, m = task.loss(model, batch, shared)
            else:
                loss, m = task.loss(model, batch)
            term = self.weights[name] * loss
            total = term if total is None else total + term
            metrics.update({f"{name}/{k}": v for k, v in m.items()})
            metrics[f"{name}/weight"] = self.weights[name]
        assert total is not None  # at least one active task (checked in __init__)
        metrics["loss"] = float(total.detach())
        return total, metrics

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}: {self.tasks[n]!r} x {w:g}" for n, w in self.weights.items())
        return f"MultiTask({inner})"
