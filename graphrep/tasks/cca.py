r"""Two-view canonical-correlation objective (CCA-SSG).

From `"From Canonical Correlation Analysis to Self-supervised Graph Neural Networks"
<https://arxiv.org/abs/2106.12484>`_ (Zhang et al., NeurIPS'21). A batch of ``B``
distinct nodes is encoded twice, each time from a random view
(:class:`graphrep.models.augment.Augmenter`: feature dimensions masked for all nodes
of the view, sampled neighbours dropped). With each view's embeddings standardised
per dimension over the batch, :math:`\tilde Z = (Z - \mu) / (\sigma \sqrt{B})`,

.. math::
    \mathcal{L} = \lVert \tilde Z_1 - \tilde Z_2 \rVert_F^2
    + \lambda \big( \lVert \tilde Z_1^\top \tilde Z_1 - I \rVert_F^2
    + \lVert \tilde Z_2^\top \tilde Z_2 - I \rVert_F^2 \big):

the first term makes the two views agree, the second decorrelates the dimensions
(no negatives, no collapse: a constant dimension has zero variance and pays
:math:`\lambda` for its diagonal entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphrep.models.augment import Augmenter
from graphrep.samplers.args import check_float, check_int, check_seed
from graphrep.samplers.covisit import derive_seed
from graphrep.tasks.inputs import EntityInputs, InputBuilder, distinct_inputs, featured_types

_SALT = 0xCCA


def cca_ssg_loss(z1: Tensor, z2: Tensor, lam: float = 1e-3) -> tuple[Tensor, Tensor, Tensor]:
    """``(loss, invariance, decorrelation)`` of two ``[B, D]`` views (module docstring;
    population standard deviation, floored at ``1e-8``)."""
    b = z1.shape[0]

    def standard(z: Tensor) -> Tensor:
        return (z - z.mean(0)) / (z.std(0, unbiased=False).clamp_min(1e-8) * b**0.5)

    s1, s2 = standard(z1), standard(z2)
    eye = torch.eye(z1.shape[1], dtype=z1.dtype, device=z1.device)
    inv = (s1 - s2).square().sum()
    dec = (s1.T @ s1 - eye).square().sum() + (s2.T @ s2 - eye).square().sum()
    return inv + lam * dec, inv, dec


@dataclass
class TwoViewBatch:
    """Per type, the two views' inputs of the same distinct nodes."""

    views: dict[str, tuple[EntityInputs, EntityInputs]]

    def __len__(self) -> int:
        """Examples: the distinct nodes over all types (each seen in two views)."""
        return sum(len(a) for a, _ in self.views.values())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TwoViewBatch:
        return TwoViewBatch(
            {t: (a.to(device, non_blocking), b.to(device, non_blocking)) for t, (a, b) in self.views.items()}
        )


class CCATask:
    """CCA-SSG two-view decorrelation task (see the module docstring).

    Args:
        builder: encoder-input builder.
        node_types: featured types trained by this task.
        batch_size: nodes per type and batch (at least 2).
        lam: the decorrelation weight :math:`\\lambda`.
        feature_drop: probability of masking each feature dimension in a view.
        neighbor_drop: probability of dropping each sampled neighbour in a view.
        seed: random seed (nodes and views).
        name: task name.
    """

    def __init__(
        self,
        builder: InputBuilder,
        node_types: Sequence[str],
        batch_size: int = 256,
        lam: float = 1e-3,
        feature_drop: float = 0.2,
        neighbor_drop: float = 0.2,
        seed: int = 0,
        name: str = "cca",
    ) -> None:
        self.builder = builder
        self.node_types = featured_types(builder, node_types, "CCATask")
        self.batch_size = check_int(batch_size, "batch_size", minimum=2)
        self.lam = check_float(lam, "lam", 0.0, 1e6)
        self.seed = derive_seed(check_seed(seed), _SALT)
        self.augment = Augmenter(0.0, feature_drop, neighbor_drop, self.seed)
        self.name = name

    def loss_specs(self) -> dict[str, dict[str, Any]]:
        """No loss modules: the objective has no parameters."""
        return {}

    def attach(self, model: Any) -> None:
        """Nothing to register."""

    @property
    def epoch_size(self) -> int:
        """Nodes in one epoch (the largest of the task's types)."""
        return max(int(self.builder.graph.num_nodes[t]) for t in self.node_types)

    def sample(self, step: int) -> TwoViewBatch:
        """Distinct uniform nodes per type and two random views of their inputs."""
        views = {}
        for i, (nt, x) in enumerate(
            distinct_inputs(self.builder, self.node_types, self.batch_size, self.seed, step).items()
        ):
            pair = []
            for v in (0, 1):
                fb, nbrs = self.augment.view(x.batch, x.neighbors, step, 2 * i + v)
                pair.append(EntityInputs(nt, fb, nbrs, x.inverse))
            views[nt] = (pair[0], pair[1])
        return TwoViewBatch(views)

    def loss(self, model: Any, batch: TwoViewBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean over types of the CCA-SSG loss."""
        losses, metrics = [], {}
        for nt, (a, b) in batch.views.items():
            loss, inv, dec = cca_ssg_loss(model.embed(nt, a, expand=False),
                                          model.embed(nt, b, expand=False), self.lam)  # fmt: skip
            losses.append(loss)
            metrics[f"{nt}_invariance"] = float(inv.detach())
            metrics[f"{nt}_decorrelation"] = float(dec.detach())
        total = torch.stack(losses).mean()
        metrics["loss"] = float(total.detach())
        return total, metrics

    def __repr__(self) -> str:
        return f"CCATask(name={self.name!r}, node_types={self.node_types}, lam={self.lam})"
