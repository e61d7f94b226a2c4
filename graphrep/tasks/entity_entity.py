r"""Entity–entity task: the embeddings of a positive pair retrieve each other.

OmniSage (https://arxiv.org/abs/2504.17811) and PinSage
(https://arxiv.org/abs/1806.01973) train on graph pairs :math:`(q, p)`, e.g. two
co-engaged pins or a board and a pin it contains, with a sampled softmax

.. math::
    \mathcal{L} = -\frac{1}{B}\sum_b \log
    \frac{e^{s(q_b, p_b)}}{e^{s(q_b, p_b)} + \sum_{c \in \mathcal{N}_b} e^{s(q_b, c)}},
    \qquad s(q, c) = \frac{\mathbf{z}_q^\top \mathbf{z}_c}{\tau} - \log Q(c),

where :math:`\mathcal{N}_b` are the other rows' positives (``"in_batch"``) plus
``num_random_negatives`` shared random nodes of the positive's type
(``"mixed"``, Yang et al. WWW'20), drawn uniformly or by popularity.

**logQ** (Yi et al. RecSys'19): a positive :math:`p` arrives in a batch of
:math:`B` uniformly drawn edges with expected count :math:`B\,d(p)/E`
(:math:`d(p)` its in-degree in the relation, after the per-item cap of the
epoch); a random negative with :math:`K\,q(c)`. Both are passed to
:class:`~graphrep.models.sampled_softmax.SampledSoftmax` in these common units
(log expected count). For co-visit positives :math:`d(p)` is the in-degree of
the meta-path's last hop, the stationary visit rate of the walk (an approximation).
When both ends have one type, the query node itself is never a negative of its row.

**Link BCE** (``loss="bce"``, OGB's link-prediction objective,
:class:`~graphrep.models.link_bce.LinkBCE`): each random negative ``m`` of the
destination type is paired with a uniformly drawn node of the source type, so the
negatives are uniform node pairs like OGB's evaluation negatives (pairing them with
the batch's sources instead would draw negative sources by degree, as the positives
are, and hide the popularity that uniform negatives reward); pairs that are edges
of the relation (or a node with itself) are masked, and each pair is scored by the dot
product or by a Hadamard-product MLP trained jointly with the encoders (``scorer``).

Sampling (:meth:`EntityEntityTask.sample`) touches no model parameter and depends
only on ``(seed, step)``; :meth:`EntityEntityTask.loss` runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphrep.errors import ConfigError
from graphrep.graph.validate import EdgeType, fmt_edge_type
from graphrep.models.nodes import NodeBatch
from graphrep.samplers.args import check_int, check_seed
from graphrep.samplers.covisit import CoVisitPairSampler
from graphrep.samplers.pairs import EdgePairSampler, PairBatch
from graphrep.tasks.inputs import InputBuilder
from graphrep.tasks.negatives import RandomNegatives, in_batch_accuracy, log_frequency
from graphrep.tasks.pool import Encoded, NodePool, NodeRows, encoded_for, private_pool
from graphrep.utils.collectives import current_group


@dataclass
class PairTaskBatch:
    """A batch of positive pairs with their random negatives.

    ``src``, ``dst`` and ``neg`` are the rows of the queries, positives and random negatives
    in the step's encoded nodes; ``nodes`` holds those nodes when the batch was sampled on
    its own (``None``: they are in the step's shared :class:`~graphrep.tasks.pool.NodePool`).
    """

    src_type: str
    dst_type: str
    src: NodeRows
    dst: NodeRows
    neg: NodeRows
    log_q_pos: Tensor
    log_q_neg: Tensor
    nodes: NodeBatch | None = None
    neg_mask: Tensor | None = None
    neg_src: NodeRows | None = None

    @property
    def src_ids(self) -> Tensor:
        return self.src.ids

    @property
    def dst_ids(self) -> Tensor:
        return self.dst.ids

    @property
    def neg_ids(self) -> Tensor:
        return self.neg.ids

    @property
    def neg_src_ids(self) -> Tensor | None:
        """Source ends of the BCE negative pairs (``None`` for the sampled softmax)."""
        return None if self.neg_src is None else self.neg_src.ids

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PairTaskBatch:
        return PairTaskBatch(
            self.src_type, self.dst_type,
            *(r.to(device, non_blocking) for r in (self.src, self.dst, self.neg)),
            self.log_q_pos.to(device), self.log_q_neg.to(device),
            None if self.nodes is None else self.nodes.to(device, non_blocking),
            None if self.neg_mask is None else self.neg_mask.to(device),
            None if self.neg_src is None else self.neg_src.to(device, non_blocking),
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.src.ids.shape[0])


class EntityEntityTask:
    """Contrastive task on positive pairs of entities (see the module docstring).

    Args:
        builder: encoder-input builder (features + neighborhoods).
        positives: a relation name / edge type (pairs = its edges), or a ready
            :class:`EdgePairSampler` / :class:`CoVisitPairSampler`.
        batch_size: pairs per batch (co-visit batches may hold fewer).
        negatives: ``"in_batch"`` or ``"mixed"`` (in-batch + shared random).
        random_negatives: ``"uniform"`` or ``"popularity"`` (by total degree).
        num_random_negatives: shared random negatives per batch (``"mixed"``).
        logq: apply the logQ correction.
        max_per_dst: per-item cap of edge pairs per epoch (relation positives only).
        popularity_alpha: exponent of popularity negatives.
        temperature: initial softmax temperature.
        seed: random seed.
        name: task (and loss module) name; default: the relation name.
        loss: ``"softmax"`` (sampled softmax) or ``"bce"`` (link BCE against corrupted
            edges, see the module docstring; needs ``"mixed"`` negatives).
        scorer: the BCE pair scorer, ``"dot"`` or ``"hadamard_mlp"``.
        head: ``hidden``, ``layers``, ``dropout`` of the MLP scorer.
    """

    default_negatives = "mixed"
    default_random = "uniform"

    def __init__(
        self,
        builder: InputBuilder,
        positives: str | EdgeType | EdgePairSampler | CoVisitPairSampler,
        batch_size: int = 64,
        negatives: str | None = None,
        random_negatives: str | None = None,
        num_random_negatives: int = 64,
        logq: bool = True,
        max_per_dst: int | None = None,
        popularity_alpha: float = 0.75,
        temperature: float = 0.07,
        seed: int = 0,
        name: str | None = None,
        loss: str = "softmax",
        scorer: str = "dot",
        head: dict[str, Any] | None = None,
    ) -> None:
        self.builder = builder
        if loss not in ("softmax", "bce"):
            raise ConfigError(f"loss must be 'softmax' or 'bce', got {loss!r}")
        if scorer != "dot" and loss != "bce":
            raise ConfigError(f"scorer {scorer!r} needs loss='bce' (the softmax scores by dot product)")
        self.loss_kind, self.scorer, self.head = loss, scorer, dict(head or {})
        graph = builder.graph
        self.seed = check_seed(seed)
        self.batch_size = check_int(batch_size, "batch_size")
        self.negatives = self.default_negatives if negatives is None else negatives
        if self.negatives not in ("in_batch", "mixed"):
            raise ConfigError(f"negatives must be 'in_batch' or 'mixed', got {self.negatives!r}")
        self.num_random = check_int(num_random_negatives, "num_random_negatives", minimum=0)
        if self.negatives == "mixed" and self.num_random == 0:
            raise ConfigError("negatives='mixed' needs num_random_negatives >= 1")
        if loss == "bce" and self.negatives != "mixed":
            raise ConfigError("loss='bce' needs random negatives (negatives='mixed')")
        self.logq = bool(logq)
        self.temperature = temperature
        if isinstance(positives, CoVisitPairSampler):
            self.pairs: Any = positives
            self.src_type = self.dst_type = positives.node_type
            last = positives.metapath.csrs[-1]
            counts = np.bincount(last.indices, minlength=last.num_dst)
            self._log_p_fixed: np.ndarray | None = log_frequency(counts)
            default_name = f"covisit_{self.src_type}"
        else:
            if not isinstance(positives, EdgePairSampler):
                positives = EdgePairSampler(graph, positives, seed=self.seed, max_per_dst=max_per_dst)
            self.pairs = positives
            self.src_type, self.dst_type = positives.edge_type[0], positives.edge_type[2]
            self._log_p_fixed = None
            default_name = positives.edge_type[1]
            if positives.num_edges == 0:
                raise ConfigError(
                    f"relation {fmt_edge_type(positives.edge_type)} has no edges to draw pairs from"
                )
        self.name = default_name if name is None else name
        kind = self.default_random if random_negatives is None else random_negatives
        counts = graph.degree(self.dst_type) if kind == "popularity" else None
        self.random = RandomNegatives(
            graph.num_nodes[self.dst_type], kind, counts, alpha=popularity_alpha, seed=self.seed,
            node_type=self.dst_type,
        )
        self._log_p_cache: tuple[int, np.ndarray] | None = None
        self.random_src = RandomNegatives(graph.num_nodes[self.src_type], "uniform", seed=self.seed + 1)

    # ---------------------------------------------------------------- model side
    def loss_specs(self) -> dict[str, dict[str, Any]]:
        """Loss modules this task needs: name -> ``SampledSoftmax`` arguments."""
        if self.loss_kind == "bce":
            return {self.name: {"kind": "link_bce", "scorer": self.scorer, **self.head}}
        return {
            self.name: {
                "negatives": self.negatives,
                "logq": self.logq,
                "init_temperature": self.temperature,
            }
        }

    def attach(self, model: Any) -> None:
        """Register this task's loss modules on ``model`` (before creating the optimizer)."""
        for name, kwargs in self.loss_specs().items():
            if kwargs.get("kind") == "link_bce":  # the MLP scorer reads the model's width
                kwargs = {"dim": model.dim, **kwargs}
            model.add_loss(name, **kwargs)

    # ---------------------------------------------------------------- sampling
    @property
    def epoch_size(self) -> int:
        """How many positives one epoch has (the relation's edges after the per-item cap, or
        one co-visit seed per node of the type)."""
        if isinstance(self.pairs, EdgePairSampler):
            return int(self.pairs.num_edges)
        return int(self.builder.graph.num_nodes[self.src_type])

    def _epoch(self, step: int) -> int:
        if not isinstance(self.pairs, EdgePairSampler):
            return 0
        per_epoch = max(1, -(-self.pairs.num_edges // self.batch_size))
        return step // per_epoch

    def _log_p_dst(self, epoch: int) -> np.ndarray:
        if self._log_p_fixed is not None:
            return self._log_p_fixed
        if self._log_p_cache is None or self._log_p_cache[0] != epoch:
            csr = self.pairs.csr
            dst = csr.indices[self.pairs.epoch_edges(epoch)]
            self._log_p_cache = (epoch, log_frequency(np.bincount(dst, minlength=csr.num_dst)))
        return self._log_p_cache[1]

    def _draw_pairs(self, step: int) -> tuple[PairBatch, int]:
        if isinstance(self.pairs, EdgePairSampler):
            epoch = self._epoch(step)
            return self.pairs.sample(self.batch_size, step=step, epoch=epoch), epoch
        return self.pairs.sample(self.batch_size, step=step), 0

    shares_inputs = True

    def sample(self, step: int, pool: NodePool | None = None) -> PairTaskBatch:
        """The batch of ``step`` (pure function of ``(seed, step)``); its nodes go to ``pool``
        (the step's shared one) or, by default, to a pool of its own."""
        step = check_int(step, "step", minimum=0)
        pool, own = private_pool(self, step, pool)
        pairs, epoch = self._draw_pairs(step)
        src, dst = pairs.src.astype(np.int64), pairs.dst.astype(np.int64)
        if self.negatives == "mixed":
            neg, log_q_neg = pool.negatives(self.random, self.num_random)
        else:
            neg, log_q_neg = np.zeros(0, np.int64), np.zeros(0, np.float32)
        log_q_pos = self._log_p_dst(epoch)[dst]
        rows = [pool.add(t, ids) for t, ids in
                ((self.src_type, src), (self.dst_type, dst), (self.dst_type, neg))]  # fmt: skip
        mask = neg_src = None
        if self.loss_kind == "bce":
            src_of_neg = self.random_src.sample(len(neg), step)[0].astype(np.int64)
            mask = torch.from_numpy(self._negative_mask(src_of_neg, neg))
            neg_src = pool.add(self.src_type, src_of_neg)
        return PairTaskBatch(
            self.src_type, self.dst_type, *rows,
            torch.from_numpy(np.asarray(log_q_pos, dtype=np.float32)),
            torch.from_numpy(np.asarray(log_q_neg, dtype=np.float32)),
            pool.build() if own else None,
            mask,
            neg_src,
        )  # fmt: skip

    def _negative_mask(self, rows: np.ndarray, neg: np.ndarray) -> np.ndarray:
        """``False`` for BCE negative pairs ``(rows[m], neg[m])`` that are edges of the
        relation (co-visit positives: only a node paired with itself is masked)."""
        bad = rows == neg if self.src_type == self.dst_type else np.zeros(len(neg), dtype=bool)
        if isinstance(self.pairs, EdgePairSampler):
            bad |= self.pairs.csr.has_edges(rows, neg)
        return ~bad

    # ---------------------------------------------------------------- loss
    def loss(
        self, model: Any, batch: PairTaskBatch, encoded: Encoded | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Sampled-softmax loss of the batch and metrics (``loss``, ``accuracy``, ``temperature``);
        ``encoded``: the step's shared encoding when the batch was sampled into a shared pool."""
        b = len(batch)
        softmax = model.get_loss(self.name)
        if b == 0:  # e.g. no co-visited pair in the batch: nothing to learn from
            if self.loss_kind == "bce":
                return next(model.parameters()).sum() * 0.0, {"loss": 0.0, "accuracy": 0.0}
            return self._empty_loss(model, softmax)
        enc = encoded_for(model, batch.nodes, encoded)
        same = batch.src_type == batch.dst_type
        query, positive = enc.take(batch.src), enc.take(batch.dst)
        if self.loss_kind == "bce":
            loss, won = softmax(query, positive, enc.take(batch.neg_src), enc.take(batch.neg),
                                batch.neg_mask)  # fmt: skip
            return loss, {"loss": float(loss.detach()), "accuracy": float(won)}
        exclude = batch.src_ids[:, None] if same else None
        kwargs: dict[str, Any] = {"positive_ids": batch.dst_ids, "exclude_ids": exclude}
        if softmax.negatives != "in_batch":
            kwargs["random_negatives"] = enc.take(batch.neg)
            kwargs["random_negative_ids"] = batch.neg_ids
        if softmax.logq:
            kwargs["log_q_positive"] = batch.log_q_pos
            if softmax.negatives != "in_batch":
                kwargs["log_q_random"] = batch.log_q_neg
        loss = softmax(query, positive, **kwargs)
        acc = in_batch_accuracy(
            query.detach(), positive.detach(), batch.dst_ids, batch.src_ids if same else None
        )
        return loss, {"loss": float(loss.detach()), "accuracy": acc, "temperature": softmax.temperature}

    @staticmethod
    def _empty_loss(model: Any, softmax: Any) -> tuple[Tensor, dict[str, float]]:
        """Zero loss of an empty batch that keeps ``backward()`` valid; with pooled
        negatives the softmax still runs (on no rows), so every rank gathers in lockstep."""
        zero = next(model.parameters()).sum() * 0.0
        if current_group() is not None:
            empty = torch.zeros(0, model.dim, device=zero.device)
            ids = torch.zeros(0, dtype=torch.long, device=zero.device)
            lq = torch.zeros(0, device=zero.device)
            kwargs: dict[str, Any] = {"positive_ids": ids, "log_q_positive": lq}
            if softmax.negatives != "in_batch":
                kwargs.update(random_negatives=empty, random_negative_ids=ids, log_q_random=lq)
            zero = zero + softmax(empty, empty, **kwargs)
        return zero, {"loss": 0.0, "accuracy": 0.0, "temperature": softmax.temperature}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, {self.src_type}->{self.dst_type}, "
            f"batch_size={self.batch_size}, negatives={self.negatives!r}, "
            f"random={self.random.kind!r}, num_random={self.num_random})"
        )
