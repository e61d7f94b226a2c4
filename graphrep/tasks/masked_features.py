r"""Masked feature reconstruction (GraphMAE) with the scaled cosine error.

From `"GraphMAE: Self-Supervised Masked Graph Autoencoders"
<https://arxiv.org/abs/2205.10803>`_ (Hou et al., KDD'22). For a batch of distinct
nodes of a featured type, a share ``mask_rate`` of them, :math:`\tilde V`, have their own
features masked (:func:`graphrep.models.augment.mask_rows`: the propagated token too,
since it holds the node's own features); the encoder embeds every node from what is
left (its neighbours' features among it), a decoder MLP :math:`g` maps the embedding
back to the raw dense features, and the loss is the scaled cosine error over the
masked nodes

.. math::
    \mathcal{L}_{\mathrm{SCE}} = \frac{1}{|\tilde V|} \sum_{v \in \tilde V}
    \Big(1 - \frac{\mathbf{x}_v^\top g(\mathbf{z}_v)}
    {\lVert \mathbf{x}_v \rVert\,\lVert g(\mathbf{z}_v) \rVert}\Big)^{\gamma},
    \qquad \gamma \ge 1,

where :math:`\mathbf{x}_v` is the concatenation of the type's raw dense features
(propagated ones excluded); :math:`\gamma > 1` down-weights the easy, already
well-reconstructed nodes. Each type has its own decoder (``f"{name}_{type}"``,
:meth:`~graphrep.models.omnisage.OmniSage.add_head`). The decoder reads the node's
embedding only (GraphMAE re-masks and decodes with one more GNN layer; here the
encoder already saw the neighbourhood).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrep.errors import ConfigError
from graphrep.models.augment import Augmenter, mask_rows
from graphrep.models.propagated import SUFFIX
from graphrep.samplers.args import check_float, check_int, check_seed
from graphrep.samplers.covisit import derive_seed
from graphrep.tasks.inputs import EntityInputs, InputBuilder, distinct_inputs, featured_types

_SALT = 0x3AE


def scaled_cosine_error(pred: Tensor, target: Tensor, gamma: float = 3.0) -> Tensor:
    r""":math:`\mathrm{mean}_v (1 - \cos(\hat{\mathbf{x}}_v, \mathbf{x}_v))^\gamma` over rows."""
    cos = F.cosine_similarity(pred, target, dim=-1, eps=1e-8)
    return (1.0 - cos).clamp_min(0.0).pow(gamma).mean()


@dataclass
class MaskedBatch:
    """Per type: the masked inputs, the masked rows (bool ``[B]``) and their targets."""

    inputs: dict[str, EntityInputs]
    rows: dict[str, Tensor]
    targets: dict[str, Tensor]

    def __len__(self) -> int:
        """Examples: the batch's nodes over all types (masked or not; all are encoded)."""
        return sum(len(x) for x in self.inputs.values())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MaskedBatch:
        return MaskedBatch({t: x.to(device, non_blocking) for t, x in self.inputs.items()},
                           {t: r.to(device) for t, r in self.rows.items()},
                           {t: y.to(device) for t, y in self.targets.items()})  # fmt: skip


def target_features(builder: InputBuilder, node_type: str) -> list[str]:
    """The raw dense features a type's nodes are reconstructed into (propagated ones excluded)."""
    return [k for k in builder.schema[node_type].dense if not k.endswith(SUFFIX)]


class MaskedFeatureTask:
    """GraphMAE's masked feature reconstruction (see the module docstring).

    Args:
        builder: encoder-input builder.
        node_types: featured types trained by this task (each needs a dense feature).
        batch_size: nodes per type and batch.
        mask_rate: share of the batch whose own features are masked.
        gamma: the scaled cosine error's exponent :math:`\\gamma \\ge 1`.
        hidden: hidden size of the decoder MLPs.
        seed: random seed (nodes and masks).
        name: task name (decoders are ``f"{name}_{type}"``).
    """

    def __init__(
        self,
        builder: InputBuilder,
        node_types: Sequence[str],
        batch_size: int = 256,
        mask_rate: float = 0.5,
        gamma: float = 3.0,
        hidden: int = 256,
        seed: int = 0,
        name: str = "masked_features",
    ) -> None:
        self.builder = builder
        self.node_types = featured_types(builder, node_types, "MaskedFeatureTask")
        for nt in self.node_types:
            if not target_features(builder, nt):
                raise ConfigError(
                    f"MaskedFeatureTask: node type {nt!r} has no dense feature to reconstruct"
                )
        self.batch_size = check_int(batch_size, "batch_size", minimum=2)
        self.gamma = check_float(gamma, "gamma", 1.0, 100.0)
        self.hidden = check_int(hidden, "hidden")
        self.seed = derive_seed(check_seed(seed), _SALT)
        self.augment = Augmenter(mask_rate=check_float(mask_rate, "mask_rate", 0.0, 1.0, low_open=True),
                                 seed=self.seed)  # fmt: skip
        self.name = name

    def head_name(self, node_type: str) -> str:
        return f"{self.name}_{node_type}"

    def loss_specs(self) -> dict[str, dict[str, Any]]:
        """No sampled-softmax modules (the decoders are heads)."""
        return {}

    def attach(self, model: Any) -> None:
        """Register one decoder per type on ``model``."""
        for nt in self.node_types:
            out = sum(self.builder.schema[nt].dense[k] for k in target_features(self.builder, nt))
            model.add_head(self.head_name(nt), model.dim, out, self.hidden)

    @property
    def epoch_size(self) -> int:
        """Nodes in one epoch (the largest of the task's types)."""
        return max(int(self.builder.graph.num_nodes[t]) for t in self.node_types)

    def sample(self, step: int) -> MaskedBatch:
        """Distinct uniform nodes per type, a random ``mask_rate`` of them masked."""
        inputs, rows, targets = {}, {}, {}
        for i, (nt, x) in enumerate(
            distinct_inputs(self.builder, self.node_types, self.batch_size, self.seed, step).items()
        ):
            r = self.augment.masked_rows(x.num_unique, step, i)
            targets[nt] = torch.cat([x.batch.dense[k] for k in target_features(self.builder, nt)], -1)[r]
            inputs[nt] = EntityInputs(nt, mask_rows(x.batch, r), x.neighbors, x.inverse)
            rows[nt] = r
        return MaskedBatch(inputs, rows, targets)

    def loss(self, model: Any, batch: MaskedBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean over types of the scaled cosine error of the masked nodes."""
        losses, metrics = [], {}
        for nt, x in batch.inputs.items():
            z = model.embed(nt, x, expand=False)[batch.rows[nt]]
            pred = model.get_head(self.head_name(nt))(z)
            loss = scaled_cosine_error(pred, batch.targets[nt], self.gamma)
            losses.append(loss)
            metrics[f"{nt}_loss"] = float(loss.detach())
            metrics[f"{nt}_cosine"] = float(
                F.cosine_similarity(pred.detach(), batch.targets[nt], dim=-1).mean()
            )
        total = torch.stack(losses).mean()
        metrics["loss"] = float(total.detach())
        return total, metrics

    def __repr__(self) -> str:
        return (
            f"MaskedFeatureTask(name={self.name!r}, node_types={self.node_types}, "
            f"batch_size={self.batch_size}, mask_rate={self.augment.mask_rate}, gamma={self.gamma})"
        )
