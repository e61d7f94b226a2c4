"""Positive pairs of nodes co-visited by meta-path random walks (PinSage's graph positives).

PinSage [Ying et al., KDD 2018, https://arxiv.org/abs/1806.01973] trains on pairs
``(q, i)`` where ``i`` is visited often by random walks from ``q`` (pins that
share boards). :class:`CoVisitPairSampler` runs one walk of ``walk_length``
traversals of a cyclic meta-path (e.g. pin→board→pin) from each seed with
:func:`~graphrep.samplers.walks.random_walk` and picks **one visit uniformly**
among the walk's stops on the start type that are not the seed itself. A node
is thus drawn with probability proportional to its expected visit count

.. math::
    P(i \\mid q) \\propto \\mathbb{E}\\big[\\#\\{k \\le K : v_k = i\\}\\big], \\quad i \\ne q,

where :math:`v_k` is the walk's node after traversal :math:`k` and :math:`K` the
walk length (shortened by restarts and dead ends). Seeds whose walk meets no
other node (dead ends, isolated nodes, nodes that only reach themselves) give no
pair and are dropped from the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrep.errors import ConfigError, GraphValidationError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.validate import check_node_ids
from graphrep.samplers.args import StepCounter, check_float, check_int, check_seed
from graphrep.samplers.metapath import MetaPath, Weight
from graphrep.samplers.pairs import PairBatch
from graphrep.samplers.walks import random_walk


def derive_seed(seed: int, *keys: int) -> int:
    """A seed in ``[0, 2**63)`` derived from ``seed`` and ``keys`` (e.g. a step)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


class CoVisitPairSampler:
    """Pairs ``(seed, node co-visited by a random walk from the seed)`` along a cyclic meta-path.

    Args:
        graph: the graph.
        metapath: relations from a node type back to itself, e.g.
            ``["saved_to", "rev_saved_to"]`` (pin→board→pin), or a :class:`MetaPath`.
        walk_length: traversals of the meta-path per walk (``K``).
        restart_prob: probability of ending the walk after each traversal, in ``[0, 1)``.
        weight: optional edge array used as transition weight (see :class:`MetaPath`).
        seed: random seed; ``(seed, step)`` fixes the output.

    Example:
        >>> g = HeteroGraph.from_edges(
        ...     {"pin": 3, "board": 1}, {("pin", "saved_to", "board"): ([0, 1, 2], [0, 0, 0])})
        >>> s = CoVisitPairSampler(g, ["saved_to", "rev_saved_to"], walk_length=3, seed=0)
        >>> b = s.sample(8, step=0)    # up to 8 (pin, pin) pairs, never (p, p)
        >>> bool((b.src != b.dst).all()), b.src_type, b.dst_type
        (True, 'pin', 'pin')
    """

    def __init__(
        self,
        graph: HeteroGraph,
        metapath: MetaPath | Any,
        walk_length: int = 2,
        restart_prob: float = 0.0,
        weight: Weight = None,
        seed: int = 0,
    ) -> None:
        self.graph = graph
        self.metapath = MetaPath.resolve(graph, metapath, weight)
        if not self.metapath.is_cyclic:
            raise ConfigError(
                f"CoVisitPairSampler: metapath must end at its start type, but {self.metapath} "
                f"ends at {self.metapath.end_type!r}"
            )
        self.walk_length = check_int(walk_length, "walk_length")
        self.restart_prob = check_float(restart_prob, "restart_prob", 0.0, 1.0, high_open=True)
        self.seed = check_seed(seed)
        self.node_type = self.metapath.start_type
        self._starts = np.flatnonzero(self.metapath.csrs[0].degrees() > 0).astype(np.int64)
        self._steps = StepCounter()

    @property
    def num_start_nodes(self) -> int:
        """Nodes with at least one edge on the first hop (where :meth:`sample` starts)."""
        return len(self._starts)

    def pairs_from(self, seeds: Any, step: int | None = None) -> PairBatch:
        """One co-visited node per seed in ``seeds`` (rows without one are dropped).

        Args:
            seeds: ids of the meta-path's start type.
            step: stream index (default: the next value of an internal counter).
        """
        n = self.graph.num_nodes[self.node_type]
        seeds = check_node_ids(seeds, n, f"CoVisitPairSampler seeds (node type {self.node_type!r})")
        step = self._steps.resolve(step)
        return self._pairs(seeds, step)

    def sample(self, batch_size: int, step: int | None = None) -> PairBatch:
        """Up to ``batch_size`` pairs from seeds drawn uniformly among :attr:`num_start_nodes`."""
        batch_size = check_int(batch_size, "batch_size")
        if not len(self._starts):
            raise GraphValidationError(
                f"CoVisitPairSampler: no {self.node_type!r} node has an edge on the first hop "
                f"of {self.metapath}"
            )
        step = self._steps.resolve(step)
        rng = np.random.default_rng(derive_seed(self.seed, step, 1))
        seeds = self._starts[rng.integers(0, len(self._starts), size=batch_size)]
        return self._pairs(seeds, step)

    def _pairs(self, seeds: np.ndarray, step: int) -> PairBatch:
        hops = self.metapath.num_hops
        traces = random_walk(
            self.graph,
            seeds,
            self.metapath,
            num_traversals=self.walk_length,
            restart_prob=self.restart_prob,
            seed=derive_seed(self.seed, step, 0),
        )
        stops = traces[:, hops::hops]  # the node after each complete traversal
        valid = (stops >= 0) & (stops != seeds[:, None])
        count = valid.sum(axis=1)
        rows = np.flatnonzero(count > 0)
        rng = np.random.default_rng(derive_seed(self.seed, step, 2))
        pick = (rng.random(len(rows)) * count[rows]).astype(np.int64)
        rank = np.cumsum(valid[rows], axis=1) - 1  # rank of each valid visit in its row
        col = np.argmax(valid[rows] & (rank == pick[:, None]), axis=1)
        return PairBatch(
            seeds[rows], stops[rows, col].astype(np.int64), self.node_type, self.node_type
        )
