r"""The LightGCN baseline: train :class:`~graphrep.models.lightgcn.LightGCN` on a
recommendation dataset's user–item relation and return its user and item vectors.

The model is the paper's (`He et al., SIGIR 2020 <https://arxiv.org/abs/2002.02126>`_:
3 layers, 64-d, layer mean, full-graph propagation every step). The loss is not its BPR
but the sampled softmax SimpleX (`Mao et al., CIKM 2021 <https://arxiv.org/abs/2109.12613>`_)
shows trains the same model far faster: each batch of training pairs
:math:`(u, i)` is scored by cosine over its in-batch items and ``num_negatives`` shared
uniform items (:class:`~graphrep.models.sampled_softmax.SampledSoftmax`, fixed
temperature :math:`\tau`, accidental hits masked),

.. math::
    \mathcal{L} = -\frac{1}{B}\sum_b \log
        \frac{e^{\cos(\mathbf{e}_{u_b}, \mathbf{e}_{i_b})/\tau}}
             {\sum_{c} e^{\cos(\mathbf{e}_{u_b}, \mathbf{e}_c)/\tau}},

trained with Adam; BPR needs the paper's ~1000 epochs, beyond a CPU budget. With a
validation split (``truth["val_pairs"]``, :mod:`graphrep.data.splits`) the run is scored
after every ``validate_every`` epochs by :class:`~graphrep.eval.validation.RecommendationValidator`
and the best epoch's vectors are kept (stopping after ``patience`` validations without
improvement). Users and items are returned L2-normalised, so the dot products every model
is scored by are the cosines it was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphrep.data.dataset import GraphDataset
from graphrep.errors import ConfigError
from graphrep.models.lightgcn import LightGCN, bipartite_adjacency
from graphrep.models.sampled_softmax import SampledSoftmax
from graphrep.samplers.args import check_float, check_int


@dataclass
class LightGCNConfig:
    """Hyper-parameters of :func:`train_lightgcn`.

    Args:
        dim: embedding size (the paper's 64).
        num_layers: propagation layers :math:`K` (the paper's 3).
        epochs: passes over the training pairs at most.
        batch_size: training pairs per step (each step propagates the whole graph).
        num_negatives: shared uniform negative items per step.
        temperature: softmax temperature :math:`\\tau` (fixed).
        lr: Adam learning rate.
        seed: seed of the initialisation, the pair order and the negatives.
        validate_every: epochs between validation scores (0: never; needs ``val_pairs``).
        patience: validations without improvement before stopping (0: never stop early).
        max_queries: validation users scored (a seeded subset when there are more).
        max_seconds: wall-clock budget of the training loop (``None``: none); the run stops
            after the first epoch that ends past it.
    """

    dim: int = 64
    num_layers: int = 3
    epochs: int = 30
    batch_size: int = 8192
    num_negatives: int = 2048
    temperature: float = 0.1
    lr: float = 1e-2
    seed: int = 0
    validate_every: int = 1
    patience: int = 2
    max_queries: int = 5000
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        for f in ("dim", "epochs", "batch_size", "num_negatives", "max_queries"):
            setattr(self, f, check_int(getattr(self, f), f"LightGCNConfig.{f}", minimum=1))
        for f in ("num_layers", "seed", "validate_every", "patience"):
            setattr(self, f, check_int(getattr(self, f), f"LightGCNConfig.{f}", minimum=0))
        for f in ("temperature", "lr"):
            value = check_float(getattr(self, f), f"LightGCNConfig.{f}", 0.0, np.inf,
                                low_open=True, high_open=True)  # fmt: skip
            setattr(self, f, value)
        if self.max_seconds is not None:
            self.max_seconds = check_float(self.max_seconds, "LightGCNConfig.max_seconds", 0.0,
                                           np.inf, low_open=True, high_open=True)  # fmt: skip


def train_lightgcn(
    dataset: GraphDataset,
    config: LightGCNConfig | None = None,
    log: Callable[[str], Any] | None = None,
    history: list[dict[str, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Train LightGCN on ``dataset``'s user–item relation (see the module docstring).

    Args:
        dataset: a recommendation dataset (``meta["relation"]`` or its only relation).
        config: hyper-parameters (default :class:`LightGCNConfig`).
        log: optional ``print``-like callable, one line per epoch.
        history: a list that gets one row per epoch (``epoch``, ``loss``, ``seconds`` since
            the start, ``val_recall`` when validated): the training curve.

    Returns:
        ``{user type: [n_u, dim], item type: [n_i, dim]}`` (float32, L2-normalised; the best
        validated epoch's when the dataset has ``val_pairs``).

    Raises:
        ConfigError: the relation is within one node type.
    """
    cfg = config or LightGCNConfig()
    g = dataset.graph
    rel = dataset.meta.get("relation")
    et = g.edge_type(tuple(rel)) if rel else g.canonical_edge_types[0]
    src, _, dst = et
    if src == dst:
        raise ConfigError(f"LightGCN needs a bipartite relation, got {et}")
    csr = g.csr(et)
    users = np.repeat(np.arange(csr.num_src, dtype=np.int64), np.diff(np.asarray(csr.indptr)))
    items = np.asarray(csr.indices, dtype=np.int64)
    nu, ni = g.num_nodes[src], g.num_nodes[dst]
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        model = LightGCN(nu, ni, cfg.dim, cfg.num_layers)
    adj = bipartite_adjacency(users, items, nu, ni)
    loss_fn = SampledSoftmax(cfg.temperature, cfg.temperature, cfg.temperature, negatives="mixed",
                             logq=False, learn_temperature=False)  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    validator = None
    if cfg.validate_every and "val_pairs" in dataset.truth:
        from graphrep.eval.validation import RecommendationValidator

        validator = RecommendationValidator(dataset, max_queries=cfg.max_queries, seed=cfg.seed)
    steps = max(1, -(-len(users) // cfg.batch_size))
    best, best_vecs, bad = -1.0, None, 0
    history = [] if history is None else history
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(users))
        total = 0.0
        for s in range(steps):
            b = torch.from_numpy(order[s * cfg.batch_size : (s + 1) * cfg.batch_size])
            neg = torch.randint(0, ni, (cfg.num_negatives,), generator=gen)
            hu, hi = model(adj)
            pos_ids = torch.from_numpy(items)[b]
            loss = loss_fn(F.normalize(hu[torch.from_numpy(users)[b]], dim=-1),
                           F.normalize(hi[pos_ids], dim=-1), positive_ids=pos_ids,
                           random_negatives=F.normalize(hi[neg], dim=-1),
                           random_negative_ids=neg)  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        row = {"epoch": epoch, "loss": total / steps, "seconds": time.perf_counter() - t0}
        out_of_time = cfg.max_seconds is not None and row["seconds"] > cfg.max_seconds
        if validator is not None and (epoch % cfg.validate_every == 0 or out_of_time):
            vecs = _vectors(model, adj)
            row["val_recall"] = validator.score(vecs[0][validator.queries], vecs[1])
            if row["val_recall"] > best:
                best, best_vecs, bad = row["val_recall"], vecs, 0
            else:
                bad += 1
        history.append(row)
        if log is not None:
            log(" ".join(f"{k} {v:.4g}" for k, v in row.items()))
        if (cfg.patience and bad >= cfg.patience) or out_of_time:
            break
    u, i = best_vecs if best_vecs is not None else _vectors(model, adj)
    return {src: u, dst: i}


@torch.no_grad()
def _vectors(model: LightGCN, adj: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    hu, hi = model(adj)
    return tuple(F.normalize(h, dim=-1).numpy().astype(np.float32) for h in (hu, hi))  # type: ignore[return-value]
