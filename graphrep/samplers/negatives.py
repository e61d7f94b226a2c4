"""Random negatives: uniform over a node type, and popularity-proportional with logQ.

Contrastive losses (sampled softmax) score each positive against negatives.
In-batch negatives are the loss's job; the samplers here add

* **uniform** negatives of the positive's node type, optionally never equal to
  the row's positive (drawn from the other ``n - 1`` ids directly, so no
  rejection loop is needed), and
* **popularity** negatives drawn with probability

  .. math::
      q_j = \\frac{w_j}{\\sum_k w_k}, \\qquad
      w_j = \\begin{cases} (c_j + a)^{\\alpha} & c_j + a > 0 \\\\ 0 & \\text{else}\\end{cases}

  from item counts :math:`c` (e.g. degrees), exponent :math:`\\alpha` and
  smoothing :math:`a`. Each draw comes with its exact :math:`\\log q_j` for the
  logQ correction of sampled softmax [Yi et al., "Sampling-Bias-Corrected Neural
  Modeling for Large Corpus Item Recommendations", RecSys 2019,
  https://doi.org/10.1145/3298689.3346996]: the logit of a negative becomes
  :math:`s_j - \\log q_j`. Draws use Walker's alias method (Vose's O(n) build,
  O(1) per draw). When the row's positive ``p`` is excluded the draw is
  rejection-sampled and its probability is the conditional
  :math:`q_j / (1 - q_p)`, which is what ``log_q`` then holds.

Kernels run in parallel over rows with the counter-based RNG of
:mod:`graphrep.utils.rng` (stream = ``(seed, step, row)``), so the output does
not depend on the thread count, and release the GIL.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from graphrep.errors import ConfigError, GraphValidationError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import StepCounter, check_float, check_int, check_seed, node_count
from graphrep.utils.rng import next_below, next_float, stream_state

Positives = np.ndarray | int


def _batch(
    positives: Any, num_nodes: int, exclude: bool | None, what: str
) -> tuple[np.ndarray, bool]:
    """Resolve ``positives`` (ids or a batch size) and the exclusion flag."""
    if isinstance(positives, int | np.integer) and not isinstance(positives, bool):
        if exclude:
            raise ConfigError(
                f"{what}: exclude_positive=True needs the positive ids, got a batch size"
            )
        size = check_int(positives, "batch size", minimum=0)
        return np.full(size, -1, dtype=np.int64), False
    ids = check_node_ids(positives, num_nodes, f"{what}: positives")
    return ids, True if exclude is None else bool(exclude)


# --------------------------------------------------------------------------- uniform
@numba.njit(cache=True, nogil=True, parallel=True)
def _uniform_kernel(
    positives: np.ndarray, num_nodes: int, num: int, exclude: bool, seed: int, stream: int
) -> np.ndarray:
    out = np.empty((positives.shape[0], num), dtype=np.int64)
    for b in prange(positives.shape[0]):
        state = stream_state(seed, stream, b)
        pos = positives[b]
        for k in range(num):
            if exclude:
                state, j = next_below(state, num_nodes - 1)
                if j >= pos:
                    j += 1
            else:
                state, j = next_below(state, num_nodes)
            out[b, k] = j
    return out


class UniformNegativeSampler:
    """Negatives drawn uniformly from the ``num_nodes`` ids of one node type.

    Args:
        num_nodes: number of candidate ids (``>= 1``).
        seed: random seed; ``(seed, step)`` fixes the output.

    Example:
        >>> s = UniformNegativeSampler(100, seed=0)
        >>> s.sample(np.array([3, 7]), 5, step=0).shape
        (2, 5)
    """

    def __init__(self, num_nodes: int, seed: int = 0) -> None:
        self.num_nodes = check_int(num_nodes, "num_nodes", minimum=1)
        self.seed = check_seed(seed)
        self._steps = StepCounter()

    @classmethod
    def for_type(cls, graph: HeteroGraph, node_type: str, seed: int = 0) -> UniformNegativeSampler:
        """Sampler over every node of ``node_type`` (unknown types raise ``SchemaError``)."""
        return cls(node_count(graph, node_type, "UniformNegativeSampler"), seed)

    def sample(
        self,
        positives: Positives,
        num_negatives: int,
        *,
        exclude_positive: bool | None = None,
        step: int | None = None,
    ) -> np.ndarray:
        """Draw ``num_negatives`` ids per row.

        Args:
            positives: ``[B]`` positive ids, or an int ``B`` when no positive is known.
            num_negatives: negatives per row (``>= 1``).
            exclude_positive: never return a row's positive (default: ``True`` when
                positive ids are given). Each negative is then uniform over the other
                ``num_nodes - 1`` ids.
            step: stream index (default: the next value of an internal counter).

        Returns:
            ``int64 [B, num_negatives]``.
        """
        num = check_int(num_negatives, "num_negatives")
        pos, exclude = _batch(positives, self.num_nodes, exclude_positive, "UniformNegativeSampler")
        if exclude and self.num_nodes < 2:
            raise ConfigError(
                "UniformNegativeSampler: exclude_positive needs num_nodes >= 2, "
                f"got {self.num_nodes}"
            )
        step = self._steps.resolve(step)
        return _uniform_kernel(pos, self.num_nodes, num, exclude, self.seed, step)


# --------------------------------------------------------------------------- popularity
@numba.njit(cache=True, nogil=True)
def build_alias(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table for probabilities ``p`` (summing to 1): ``(prob, alias)``.

    A draw picks a column ``i`` uniformly and returns ``i`` with probability
    ``prob[i]``, else ``alias[i]``. Zero-probability entries are never returned.
    """
    n = p.shape[0]
    prob = np.zeros(n, dtype=np.float64)
    alias = np.arange(n).astype(np.int64)
    scaled = p * n
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    best = 0
    for i in range(n):
        if p[i] > p[best]:
            best = i
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    for k in range(nl):
        prob[large[k]] = 1.0
    for k in range(ns):  # rounding leftovers: keep them, but never a zero-mass entry
        s = small[k]
        if p[s] > 0.0:
            prob[s] = 1.0
        else:
            prob[s] = 0.0
            alias[s] = best
    return prob, alias


@numba.njit(cache=True, nogil=True, parallel=True)
def _alias_kernel(
    prob: np.ndarray,
    alias: np.ndarray,
    log_p: np.ndarray,
    positives: np.ndarray,
    num: int,
    exclude: bool,
    seed: int,
    stream: int,
) -> tuple[np.ndarray, np.ndarray]:
    n = prob.shape[0]
    batch = positives.shape[0]
    ids = np.empty((batch, num), dtype=np.int64)
    log_q = np.empty((batch, num), dtype=np.float64)
    for b in prange(batch):
        state = stream_state(seed, stream, b)
        pos = positives[b]
        shift = 0.0
        if exclude:
            shift = np.log1p(-np.exp(log_p[pos]))
        for k in range(num):
            j = pos
            while j == pos:  # one pass unless excluding and we hit the positive
                state, i = next_below(state, n)
                state, u = next_float(state)
                j = i if u < prob[i] else alias[i]
                if not exclude:
                    break
            ids[b, k] = j
            log_q[b, k] = log_p[j] - shift
    return ids, log_q


class PopularityNegativeSampler:
    """Negatives drawn in proportion to ``(counts + add) ** alpha``, with exact ``log q``.

    Args:
        counts: non-negative popularity per id (e.g. degrees or engagement counts).
        alpha: exponent (``0`` = uniform over ids with positive count; word2vec uses 0.75).
        add: additive smoothing so zero-count ids get some mass (``0`` = they are never drawn).
        seed: random seed; ``(seed, step)`` fixes the output.

    Example:
        >>> s = PopularityNegativeSampler(np.array([1, 0, 3]), seed=0)
        >>> ids, log_q = s.sample(4, 2, step=0)
        >>> bool((ids != 1).all()), bool(np.allclose(log_q, s.log_prob(ids)))
        (True, True)
    """

    def __init__(self, counts: Any, alpha: float = 1.0, add: float = 0.0, seed: int = 0) -> None:
        c = np.asarray(counts)
        if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.number) or c.dtype == bool:
            raise GraphValidationError(
                f"PopularityNegativeSampler: counts must be a non-empty 1-D numeric array, "
                f"got dtype {c.dtype} shape {c.shape}"
            )
        c = c.astype(np.float64)
        if not np.isfinite(c).all() or (c < 0).any():
            bad = int(np.flatnonzero(~np.isfinite(c) | (c < 0))[0])
            raise GraphValidationError(
                "PopularityNegativeSampler: counts must be finite and >= 0; "
                f"got {c[bad]} at id {bad}"
            )
        self.alpha = check_float(alpha, "alpha", 0.0, 1e3)
        self.add = check_float(add, "add", 0.0, float(np.finfo(np.float64).max))
        self.seed = check_seed(seed)
        base = c + self.add
        with np.errstate(divide="ignore"):
            log_w = np.where(base > 0, self.alpha * np.log(base), -np.inf)
        if not np.isfinite(log_w).any():
            raise ConfigError(
                "PopularityNegativeSampler: every count is 0; pass add > 0 to give ids mass"
            )
        top = log_w.max()
        log_norm = top + np.log(np.exp(log_w - top).sum())
        self._log_p = log_w - log_norm
        p = np.exp(self._log_p)
        self._prob, self._alias = build_alias(p / p.sum())
        self._num_support = int(np.isfinite(log_w).sum())
        self._steps = StepCounter()

    @classmethod
    def for_type(
        cls, graph: HeteroGraph, node_type: str, alpha: float = 1.0, add: float = 0.0, seed: int = 0
    ) -> PopularityNegativeSampler:
        """Popularity = total degree of each node of ``node_type`` (reverses included)."""
        node_count(graph, node_type, "PopularityNegativeSampler")
        return cls(graph.degree(node_type), alpha=alpha, add=add, seed=seed)

    @property
    def num_nodes(self) -> int:
        return int(self._log_p.shape[0])

    @property
    def probs(self) -> np.ndarray:
        """The sampling distribution ``q`` (``float64 [num_nodes]``, sums to 1)."""
        return np.exp(self._log_p)

    def log_prob(self, ids: Any) -> np.ndarray:
        """``log q`` of ``ids`` (any shape) under the unconditional distribution; ``-inf`` if 0."""
        arr = np.asarray(ids)
        flat = check_node_ids(arr.reshape(-1), self.num_nodes, "PopularityNegativeSampler.log_prob")
        return self._log_p[flat].reshape(arr.shape)

    def sample(
        self,
        positives: Positives,
        num_negatives: int,
        *,
        exclude_positive: bool | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``num_negatives`` ids per row with their log-probabilities.

        Args:
            positives: ``[B]`` positive ids, or an int ``B`` when no positive is known.
            num_negatives: negatives per row (``>= 1``).
            exclude_positive: never return a row's positive (default: ``True`` when
                positive ids are given); ``log_q`` is then conditional on that.
            step: stream index (default: the next value of an internal counter).

        Returns:
            ``(ids int64 [B, n], log_q float64 [B, n])``.
        """
        num = check_int(num_negatives, "num_negatives")
        pos, exclude = _batch(
            positives, self.num_nodes, exclude_positive, "PopularityNegativeSampler"
        )
        if exclude and len(pos):
            sole = self._log_p[pos] >= np.log1p(-1e-12)
            if self._num_support < 2 or sole.any():
                raise ConfigError(
                    "PopularityNegativeSampler: exclude_positive is impossible, the positive "
                    "holds all the sampling mass (fewer than 2 ids with count > 0; pass add > 0)"
                )
        step = self._steps.resolve(step)
        return _alias_kernel(
            self._prob, self._alias, self._log_p, pos, num, exclude, self.seed, step
        )
