r"""Seeded graph augmentations on encoder inputs: node masking, feature masking, neighbour dropping.

The views of the self-supervised tasks (:mod:`graphrep.tasks.masked_features`,
:mod:`graphrep.tasks.cca`), applied to what the
:class:`~graphrep.models.features.NodeFeaturizer` and the importance samplers produce,
on the CPU before the model sees a batch:

* :func:`mask_rows` -- GraphMAE's node masking (`arXiv:2205.10803
  <https://arxiv.org/abs/2205.10803>`_): every own feature of the chosen nodes is
  replaced by zero (dense) or emptied (tokens), so the dense projection's bias acts as
  the learned ``[MASK]`` token;
* :func:`mask_columns` -- CCA-SSG's feature masking (`arXiv:2106.12484
  <https://arxiv.org/abs/2106.12484>`_): the same random feature dimensions are zeroed
  for every node of a view, the seeds and their neighbours alike;
* :func:`drop_neighbors` -- edge dropping on a sampled neighbourhood: each neighbour slot
  is switched off (its mask set false, so the encoders ignore it) with probability ``p``.

:class:`Augmenter` draws every random choice from ``numpy.random.default_rng([seed,
step, salt])``, so a batch's views are a pure function of the task seed and the step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from graphrep.models.features import FeatureBatch
from graphrep.samplers.args import check_float, check_seed

Neighbors = Mapping[str, tuple[FeatureBatch, Tensor, Tensor]]


def mask_rows(fb: FeatureBatch, rows: Tensor) -> FeatureBatch:
    """A copy of ``fb`` (leading shape ``[B]``) whose rows ``rows`` (bool ``[B]``) have every
    dense feature zeroed and every token feature emptied."""
    keep = (~rows).unsqueeze(-1)
    return FeatureBatch(
        fb.node_type,
        fb.ids,
        {k: v * keep.to(v.dtype) for k, v in fb.dense.items()},
        dict(fb.tokens),
        {k: v & keep for k, v in fb.token_mask.items()},
        fb.log_degree,
    )


def mask_columns(fb: FeatureBatch, keep: Mapping[str, Tensor]) -> FeatureBatch:
    """A copy of ``fb`` (any leading shape) with dense feature ``name`` multiplied by
    ``keep[name]`` (bool ``[d]``) in every row; features not in ``keep`` are unchanged."""
    dense = {k: v * keep[k].to(v.dtype) if k in keep else v for k, v in fb.dense.items()}
    return FeatureBatch(fb.node_type, fb.ids, dense, dict(fb.tokens), dict(fb.token_mask),
                        fb.log_degree)  # fmt: skip


def drop_neighbors(neighbors: Neighbors, drop: Mapping[str, Tensor]) -> dict[str, tuple]:
    """``neighbors`` with slot ``(b, j)`` of type ``t`` switched off where ``drop[t]`` is true."""
    out = {}
    for nt, (fb, w, m) in neighbors.items():
        m2 = m & ~drop[nt] if nt in drop else m
        out[nt] = (fb, torch.where(m2, w, w.new_zeros(())), m2)
    return out


class Augmenter:
    """Seeded random choices of the augmentations (module docstring).

    Args:
        mask_rate: share of a batch's nodes whose own features are masked (GraphMAE).
        feature_drop: probability that a feature dimension is zeroed in a view (CCA-SSG).
        neighbor_drop: probability that a sampled neighbour is dropped from a view.
        seed: random seed.
    """

    def __init__(
        self,
        mask_rate: float = 0.5,
        feature_drop: float = 0.2,
        neighbor_drop: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.mask_rate = check_float(mask_rate, "mask_rate", 0.0, 1.0)
        self.feature_drop = check_float(feature_drop, "feature_drop", 0.0, 1.0, high_open=True)
        self.neighbor_drop = check_float(neighbor_drop, "neighbor_drop", 0.0, 1.0, high_open=True)
        self.seed = check_seed(seed)

    def rng(self, step: int, salt: int) -> np.random.Generator:
        """The generator of ``(seed, step, salt)``."""
        return np.random.default_rng([self.seed, int(step), int(salt)])

    def masked_rows(self, n: int, step: int, salt: int = 0) -> Tensor:
        """Bool ``[n]`` with exactly ``round(mask_rate * n)`` (at least 1 when ``n`` and the
        rate are positive) true entries at random positions."""
        k = round(self.mask_rate * n)
        k = max(k, 1) if n and self.mask_rate > 0 else k
        rows = np.zeros(n, dtype=bool)
        rows[self.rng(step, salt).permutation(n)[:k]] = True
        return torch.from_numpy(rows)

    def view(
        self, fb: FeatureBatch, neighbors: Neighbors, step: int, salt: int
    ) -> tuple[FeatureBatch, dict[str, tuple]]:
        """One random view: the same columns masked for the seeds and every neighbour (per
        dense feature name), each neighbour slot dropped with ``neighbor_drop``."""
        rng = self.rng(step, salt)
        names = sorted({*fb.dense, *(k for f, _, _ in neighbors.values() for k in f.dense)})
        dims = {k: v.shape[-1] for f in (fb, *(f for f, _, _ in neighbors.values()))
                for k, v in f.dense.items()}  # fmt: skip
        keep = {k: torch.from_numpy(rng.random(dims[k]) >= self.feature_drop) for k in names}
        drop = {nt: torch.from_numpy(rng.random(tuple(m.shape)) < self.neighbor_drop)
                for nt, (_, _, m) in sorted(neighbors.items())}  # fmt: skip
        nbrs = {nt: (mask_columns(f, keep), w, m) for nt, (f, w, m) in neighbors.items()}
        return mask_columns(fb, keep), drop_neighbors(nbrs, drop)
