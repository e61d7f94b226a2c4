"""DeepWalk / node2vec skip-gram baseline over a HeteroGraph, node types ignored.

The classic structural baseline: DeepWalk [Perozzi et al., KDD 2014,
https://arxiv.org/abs/1403.6652] and node2vec [Grover & Leskovec, KDD 2016,
https://arxiv.org/abs/1607.00653]. Every node of every type is a node of one
homogeneous graph (:func:`~graphrep.samplers.homogeneous.homogeneous_csr`; by
default all relations and their reverses, i.e. undirected), walks come from
:func:`~graphrep.samplers.node2vec.node2vec_walk` (``p = q = 1`` is DeepWalk,
which the kernel runs as a plain first-order walk), and a
:class:`~graphrep.models.skipgram.SkipGram` table is trained with the
negative-sampling loss of PyG's ``Node2Vec`` and :class:`torch.optim.SparseAdam`.

Training follows PyG's loop: each epoch visits the start nodes in a random
order, ``batch_size`` of them per step; each is walked ``walks_per_node``
times (``walk_length`` nodes per walk) and cut into windows of ``context_size``
nodes. Negatives are PyG's too: for every walk, ``num_negative_samples``
"walks" made of the start node followed by uniformly random nodes, cut into
windows the same way.

**Isolated nodes** (no edge in the view, in or out) never start a walk and are
never drawn as negatives, so they keep their random :math:`\\mathcal{N}(0, 1)`
initialisation (L2-normalised like the rest): their vectors carry no
information. Nodes without out-edges in a directed view (``edge_types``
without reverses) start no walk either. Windows reaching past a dead end are
dropped (see :meth:`SkipGram.contexts`).

**Determinism.** The run is a function of ``config.seed`` alone: torch draws
(initialisation, start order, negatives) use a forked RNG seeded with it (the
caller's global torch RNG is left untouched), and the walks of epoch ``e``,
step ``b`` use a seed derived from ``(seed, e, b)``; the walk kernel does not
depend on the thread count.

Example:
    >>> g = generate("tiny", 0).graph
    >>> emb = train_node2vec(g, Node2VecConfig(dim=32, epochs=2))
    >>> emb["pin"].shape
    (500, 32)
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphrep.errors import ConfigError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.models.skipgram import SkipGram
from graphrep.samplers.args import check_float, check_int
from graphrep.samplers.homogeneous import homogeneous_csr
from graphrep.samplers.node2vec import node2vec_walk


@dataclass
class Node2VecConfig:
    """Hyper-parameters of :func:`train_node2vec` (PyG ``Node2Vec`` names and meanings).

    Args:
        dim: embedding size.
        walk_length: nodes per walk (the start included), ``>= context_size``.
        context_size: window length; each window's first node is paired with the
            ``context_size - 1`` nodes after it. ``>= 2``.
        walks_per_node: walks from each start node per epoch.
        p: node2vec return parameter (``> 0``).
        q: node2vec in-out parameter (``> 0``); ``p = q = 1`` is DeepWalk.
        num_negative_samples: negative walks per positive walk.
        epochs: passes over the start nodes.
        batch_size: start nodes per optimiser step (each walked ``walks_per_node`` times).
        lr: SparseAdam learning rate.
        seed: random seed, an int in ``[0, 2**63)``.
        edge_types: relations of the homogeneous view (names or edge types,
            reverses allowed); ``None``: all relations and their reverses.
    """

    dim: int = 64
    walk_length: int = 20
    context_size: int = 10
    walks_per_node: int = 10
    p: float = 1.0
    q: float = 1.0
    num_negative_samples: int = 1
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.01
    seed: int = 0
    edge_types: Sequence[str | tuple[str, str, str]] | None = None

    def __post_init__(self) -> None:
        def name(field: str) -> str:
            return f"Node2VecConfig.{field}"

        for field in ("dim", "walk_length", "context_size", "walks_per_node",
                      "num_negative_samples", "epochs", "batch_size"):
            minimum = 2 if field in ("walk_length", "context_size") else 1
            setattr(self, field, check_int(getattr(self, field), name(field), minimum=minimum))
        if self.context_size > self.walk_length:
            raise ConfigError(
                f"{name('context_size')} must be <= walk_length ({self.walk_length}), "
                f"got {self.context_size}"
            )
        for field in ("p", "q", "lr"):
            value = check_float(getattr(self, field), name(field), 0.0, np.inf,
                                low_open=True, high_open=True)
            setattr(self, field, value)
        self.seed = check_int(self.seed, name("seed"), minimum=0)
        if self.seed >= 2**63:
            raise ConfigError(f"{name('seed')} must be < 2**63, got {self.seed}")
        if self.edge_types is not None:
            self.edge_types = _check_edge_types(self.edge_types, name("edge_types"))


def _check_edge_types(value: Any, what: str) -> tuple:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(
            f"{what} must be None or a list of relation names / (src, rel, dst) tuples, "
            f"got {value!r}"
        )
    out = []
    for et in value:
        ok = isinstance(et, str) or (
            isinstance(et, Sequence) and len(et) == 3 and all(isinstance(s, str) for s in et)
        )
        if not ok:
            raise ConfigError(
                f"{what}: each entry must be a relation name or a (src, rel, dst) tuple of "
                f"strings, got {et!r}"
            )
        out.append(et if isinstance(et, str) else tuple(et))
    if not out:
        raise ConfigError(f"{what} must name at least one relation (or be None for all)")
    return tuple(out)


def _walk_seed(seed: int, epoch: int, step: int) -> int:
    """An independent walk seed in ``[0, 2**63)`` for each ``(seed, epoch, step)``."""
    state = np.random.SeedSequence([seed, epoch, step]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def _windows(
    model: SkipGram,
    csr: Any,
    batch: np.ndarray,
    neg_pool: torch.Tensor,
    cfg: Node2VecConfig,
    walk_seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative windows of one step (PyG's ``pos_sample`` / ``neg_sample``)."""
    starts = np.tile(batch, cfg.walks_per_node)
    walks = node2vec_walk(csr, starts, cfg.walk_length - 1, cfg.p, cfg.q, seed=walk_seed)
    pos = model.contexts(torch.from_numpy(walks), cfg.context_size)
    neg_starts = torch.from_numpy(np.tile(batch, cfg.walks_per_node * cfg.num_negative_samples))
    rand = neg_pool[torch.randint(len(neg_pool), (len(neg_starts), cfg.walk_length - 1))]
    neg = model.contexts(torch.cat([neg_starts.view(-1, 1), rand], dim=1), cfg.context_size)
    return pos, neg


def train_node2vec(
    graph: HeteroGraph,
    config: Node2VecConfig | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Train skip-gram embeddings on walks over all node types (see the module docstring).

    Args:
        graph: the graph; its types are merged into one id space (``type_offsets``).
        config: hyper-parameters (default :class:`Node2VecConfig`).
        progress: print one line per epoch (mean loss, walks/s, positive pairs/s)
            to stderr.

    Returns:
        Per node type, ``float32 [num_nodes[type], dim]`` L2-normalised embeddings.

    Raises:
        ConfigError: ``graph`` is not a HeteroGraph or ``config`` is not a
            :class:`Node2VecConfig`.
        SchemaError: ``config.edge_types`` names an unknown relation.
    """
    if not isinstance(graph, HeteroGraph):
        raise ConfigError(f"train_node2vec: graph must be a HeteroGraph, got {type(graph).__name__}")
    cfg = Node2VecConfig() if config is None else config
    if not isinstance(cfg, Node2VecConfig):
        raise ConfigError(
            f"train_node2vec: config must be a Node2VecConfig or None, got {type(cfg).__name__}"
        )
    cfg = dataclasses.replace(cfg)  # re-validate fields changed after construction
    csr, offsets = homogeneous_csr(graph, cfg.edge_types)
    total = csr.num_src
    if total == 0:
        return {t: np.zeros((0, cfg.dim), dtype=np.float32) for t in graph.node_types}
    out_deg = np.diff(np.asarray(csr.indptr, dtype=np.int64))
    in_deg = np.bincount(np.asarray(csr.indices, dtype=np.int64), minlength=total)
    start_pool = np.flatnonzero(out_deg > 0)
    neg_pool = torch.from_numpy(np.flatnonzero(out_deg + in_deg > 0))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = SkipGram(total, cfg.dim, sparse=True)
        if len(start_pool):
            opt = torch.optim.SparseAdam(list(model.parameters()), lr=cfg.lr)
            for epoch in range(cfg.epochs):
                t0 = time.perf_counter()
                order = start_pool[torch.randperm(len(start_pool)).numpy()]
                loss_sum, steps, pairs = 0.0, 0, 0
                for step, lo in enumerate(range(0, len(order), cfg.batch_size)):
                    batch = order[lo : lo + cfg.batch_size]
                    pos, neg = _windows(
                        model, csr, batch, neg_pool, cfg, _walk_seed(cfg.seed, epoch, step)
                    )
                    opt.zero_grad()
                    loss = model.loss(pos, neg)
                    loss.backward()
                    opt.step()
                    loss_sum += float(loss.detach())
                    steps += 1
                    pairs += pos.size(0) * (cfg.context_size - 1)
                if progress:
                    dt = max(time.perf_counter() - t0, 1e-9)
                    walks = len(order) * cfg.walks_per_node
                    print(
                        f"node2vec epoch {epoch + 1}/{cfg.epochs}: loss {loss_sum / steps:.4f}, "
                        f"{walks / dt:,.0f} walks/s, {pairs / dt:,.0f} pairs/s, {dt:.1f}s",
                        file=sys.stderr,
                    )
        emb = F.normalize(model.embedding.weight.detach(), dim=1).to(torch.float32).numpy()
    return {t: emb[offsets[t] : offsets[t] + graph.num_nodes[t]].copy() for t in graph.node_types}
