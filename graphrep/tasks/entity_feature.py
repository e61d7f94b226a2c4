r"""Entity–feature task: a node's embedding retrieves the encoding of its own raw features.

OmniSage (https://arxiv.org/abs/2504.17811) adds an entity–feature objective so
that embeddings learned mostly from graph structure keep the content of the
entity. For a batch of distinct nodes :math:`v_1..v_B` of type :math:`\tau`, the
query is the embedding :math:`\mathbf{z}_v` and the positive the feature target
:math:`\mathbf{y}_v = g_\tau(\mathrm{sg}[\overline{\mathbf{t}}(v)])` of
:meth:`~graphrep.models.omnisage.OmniSage.feature_targets` (a small MLP over the
mean of the node's modality tokens); the other nodes' targets are the negatives:

.. math::
    \mathcal{L}_\tau = -\frac{1}{B}\sum_b \log
    \frac{e^{\mathbf{z}_{v_b}^\top \mathbf{y}_{v_b} / \tau_\tau}}
    {\sum_{j} e^{\mathbf{z}_{v_b}^\top \mathbf{y}_{v_j} / \tau_\tau}},
    \qquad \mathcal{L} = \frac{1}{|T|}\sum_{\tau \in T} \mathcal{L}_\tau .

Nodes are drawn uniformly without replacement (so no logQ correction is
needed), cold nodes without edges included; each type has its own loss module
(own temperature), named ``f"{name}_{type}"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphrep.models.nodes import NodeBatch
from graphrep.samplers.args import check_int, check_seed
from graphrep.samplers.covisit import derive_seed
from graphrep.tasks.inputs import InputBuilder, distinct_ids, featured_types
from graphrep.tasks.negatives import in_batch_accuracy
from graphrep.tasks.pool import Encoded, NodePool, NodeRows, encoded_for, private_pool

_SALT = 0xFEA7


@dataclass
class FeatureTaskBatch:
    """Per node type, the rows of a batch of distinct nodes in the step's encoded nodes
    (``nodes``: those nodes, when the batch was sampled on its own)."""

    rows: dict[str, NodeRows]
    nodes: NodeBatch | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> FeatureTaskBatch:
        nodes = None if self.nodes is None else self.nodes.to(device, non_blocking)
        return FeatureTaskBatch({t: r.to(device, non_blocking) for t, r in self.rows.items()}, nodes)


class EntityFeatureTask:
    """Entity–feature contrastive task over one or more featured node types.

    Args:
        builder: encoder-input builder.
        node_types: featured node types trained by this task.
        batch_size: nodes per type and batch (at most the type's node count).
        temperature: initial softmax temperature.
        seed: random seed.
        name: task name (loss modules are ``f"{name}_{type}"``).
    """

    def __init__(
        self,
        builder: InputBuilder,
        node_types: Sequence[str],
        batch_size: int = 64,
        temperature: float = 0.07,
        seed: int = 0,
        name: str = "entity_feature",
    ) -> None:
        node_types = featured_types(builder, node_types, "EntityFeatureTask")
        self.builder = builder
        self.node_types = list(node_types)
        self.batch_size = check_int(batch_size, "batch_size", minimum=2)
        self.temperature = temperature
        self.seed = derive_seed(check_seed(seed), _SALT)
        self.name = name

    def loss_name(self, node_type: str) -> str:
        return f"{self.name}_{node_type}"

    def loss_specs(self) -> dict[str, dict[str, Any]]:
        """In-batch softmax without logQ (nodes are drawn uniformly), one per type."""
        return {
            self.loss_name(t): {
                "negatives": "in_batch",
                "logq": False,
                "init_temperature": self.temperature,
            }
            for t in self.node_types
        }

    def attach(self, model: Any) -> None:
        """Register this task's loss modules on ``model``."""
        for name, kwargs in self.loss_specs().items():
            model.add_loss(name, **kwargs)

    @property
    def epoch_size(self) -> int:
        """How many nodes one epoch has (the largest of the task's types; each batch draws
        every type)."""
        return max(int(self.builder.graph.num_nodes[t]) for t in self.node_types)

    shares_inputs = True

    def sample(self, step: int, pool: NodePool | None = None) -> FeatureTaskBatch:
        """``batch_size`` distinct uniform nodes per type (pure function of ``(seed, step)``),
        added to ``pool`` (the step's shared one) or to a pool of its own."""
        step = check_int(step, "step", minimum=0)
        pool, own = private_pool(self, step, pool)
        ids = distinct_ids(self.builder, self.node_types, self.batch_size, self.seed, step)
        rows = {nt: pool.add(nt, x) for nt, x in ids.items()}
        return FeatureTaskBatch(rows, pool.build() if own else None)

    def loss(
        self, model: Any, batch: FeatureTaskBatch, encoded: Encoded | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Mean over types of the in-batch softmax (metrics per type and overall)."""
        enc = encoded_for(model, batch.nodes, encoded)
        losses, metrics = [], {}
        for nt, rows in batch.rows.items():
            z = enc.take(rows)
            y = model.feature_targets(nt, enc.features(rows))
            ids = rows.ids
            softmax = model.get_loss(self.loss_name(nt))
            loss = softmax(z, y, positive_ids=ids)
            losses.append(loss)
            metrics[f"{nt}_loss"] = float(loss.detach())
            metrics[f"{nt}_accuracy"] = in_batch_accuracy(z.detach(), y.detach(), ids, None)
            metrics[f"{nt}_temperature"] = softmax.temperature
        total = torch.stack(losses).mean()
        metrics["loss"] = float(total.detach())
        return total, metrics

    def __repr__(self) -> str:
        return (
            f"EntityFeatureTask(name={self.name!r}, node_types={self.node_types}, "
            f"batch_size={self.batch_size})"
        )
