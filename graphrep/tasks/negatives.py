"""Pieces the contrastive tasks share: random negatives drawn uniformly or by popularity
(:class:`RandomNegatives`), the logQ log-frequencies of positives (:func:`log_frequency`)
and in-batch retrieval accuracy (:func:`in_batch_accuracy`)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import ConfigError
from graphrep.samplers.args import check_int, check_seed
from graphrep.samplers.covisit import derive_seed
from graphrep.samplers.negatives import PopularityNegativeSampler, UniformNegativeSampler

_NEG_SALT = 0x4E47


def in_batch_accuracy(query: Tensor, positive: Tensor, ids: Tensor, exclude: Tensor | None) -> float:
    """Fraction of rows whose positive outscores every other in-batch candidate.

    Candidates with the row's positive id (or its ``exclude`` id) are ignored.
    """
    if query.shape[0] == 0:
        return 0.0
    with torch.no_grad():
        s = query @ positive.T
        other = ids[None, :] == ids[:, None]
        if exclude is not None:
            other |= ids[None, :] == exclude[:, None]
        s = s.masked_fill(other, -math.inf)
        diag = (query * positive).sum(-1)
        return float((diag >= s.max(1).values).float().mean())


def log_frequency(counts: np.ndarray) -> np.ndarray:
    """``log(max(c, 1) / sum(c))`` as float32 (the per-draw log probability of each id)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = max(float(counts.sum()), 1.0)
    return (np.log(np.maximum(counts, 1.0)) - math.log(total)).astype(np.float32)


class RandomNegatives:
    """Shared random negatives of one node type, uniform or by popularity, with ``log q``.

    Args:
        num_nodes: candidate ids ``[0, num_nodes)``.
        kind: ``"uniform"`` or ``"popularity"``.
        counts: popularity counts (for ``"popularity"``).
        alpha: popularity exponent.
        add: popularity smoothing (so zero-count nodes can be drawn).
        seed: random seed.
        node_type: the candidates' type (names the distribution in :attr:`share_key`).
    """

    def __init__(
        self,
        num_nodes: int,
        kind: str = "uniform",
        counts: np.ndarray | None = None,
        alpha: float = 0.75,
        add: float = 1.0,
        seed: int = 0,
        node_type: str = "",
    ) -> None:
        if kind not in ("uniform", "popularity"):
            raise ConfigError(f"random negatives must be 'uniform' or 'popularity', got {kind!r}")
        self.kind = kind
        self.num_nodes = check_int(num_nodes, "num_nodes")
        seed = derive_seed(check_seed(seed), _NEG_SALT)
        if kind == "uniform":
            self._sampler: Any = UniformNegativeSampler(num_nodes, seed=seed)
        else:
            if counts is None or len(counts) != num_nodes:
                raise ConfigError(
                    f"popularity negatives need counts for all {num_nodes} nodes"
                )
            self._sampler = PopularityNegativeSampler(counts, alpha=alpha, add=add, seed=seed)
        digest = ""
        if counts is not None:
            raw = np.ascontiguousarray(counts, dtype=np.float64).tobytes()
            digest = f"{hashlib.blake2b(raw, digest_size=8).hexdigest()}:{alpha}:{add}"
        #: Random negatives with equal keys follow one distribution, so tasks may share
        #: one draw (``tasks.share_negatives``).
        self.share_key = (node_type, self.num_nodes, kind, digest)

    def sample(self, num: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids int64 [num], log q float32 [num])`` (per-draw log probability)."""
        if self.kind == "uniform":
            ids = self._sampler.sample(1, num, step=step)[0]
            log_q = np.full(num, -math.log(self.num_nodes), dtype=np.float32)
            return ids, log_q
        ids, log_q = self._sampler.sample(1, num, step=step)
        return ids[0], log_q[0].astype(np.float32)
