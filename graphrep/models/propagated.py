r"""Propagated features: a parameter-free, PPR-weighted average of a neighbourhood's raw features.

SGC (`arXiv:1902.07153 <https://arxiv.org/abs/1902.07153>`_) and APPNP
(`arXiv:1810.05997 <https://arxiv.org/abs/1810.05997>`_) show that on attributed
graphs most of what a GNN learns is the features smoothed over the graph. Here a
node's propagated feature is the average of the raw features of the nodes its
importance walks reach, weighted by personalised PageRank:

.. math::
    \mathbf{p}_v = \sum_u \pi_v(u)\,\mathbf{x}_u, \qquad
    \Pi = \alpha \sum_{t \ge 0} (1 - \alpha)^t P^t,

with :math:`\alpha` the teleport probability and :math:`P` the walk of the node
type's meta-paths (the same ones its :class:`~graphrep.samplers.ImportanceSampler`
follows): the mean over its cyclic meta-paths of the product of the hops'
row-stochastic transitions :math:`D_h^{-1} A_h` (uniform, or by the path's edge
weights). A seed from which a path dead-ends stays where it is on that path (a
self-loop), so every row of :math:`\Pi` sums to 1 and :math:`\mathbf{p}_v` is an
average.

Two ways to compute it:

* ``"exact"``: sparse power iteration on the features,
  :math:`Z_{t+1} = \alpha X + (1 - \alpha) P Z_t` from :math:`Z_0 = X`, until the
  largest change is below ``tol`` times the largest :math:`|x|` (the error after
  :math:`t` steps is at most :math:`(1-\alpha)^t \max|x|`). Costs
  :math:`O(t \cdot \mathrm{nnz} \cdot d)` time and two ``[n, d]`` arrays of memory.
* ``"sampled"``: the importance sampler's neighbourhood as the approximation of
  :math:`\pi_v` (its visit counts converge to PPR, :mod:`graphrep.samplers.ppr`):
  :math:`\mathbf{p}_v = \alpha \mathbf{x}_v + (1 - \alpha) \sum_j w_j \mathbf{x}_j` over
  the kept neighbours of the node's own type (L1-normalised weights; a node without
  any keeps :math:`\mathbf{x}_v`). One sampler pass per node, deterministic under the
  sampler's seed.

:func:`propagated_features` computes the feature once per graph (cached for the
process) as one more dense feature ``"<name>@ppr"``; handed to the
:class:`~graphrep.models.features.NodeFeaturizer` (``extra=``), every encoder reading
the type (:class:`~graphrep.models.entity.EntityEncoder`,
:class:`~graphrep.models.pinsage.PinSage`) sees it as one more token. The graph itself
is not changed. Token (text) features are not propagated.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from graphrep.errors import ConfigError, SchemaError
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.samplers.args import check_float, check_int
from graphrep.samplers.importance import ImportanceSampler
from graphrep.samplers.metapath import MetaPath

#: Suffix of the propagated copy of a dense feature (``"x"`` -> ``"x@ppr"``).
SUFFIX = "@ppr"
#: Methods of :func:`propagate`; ``"auto"`` is exact up to :data:`EXACT_MAX_NODES` nodes.
METHODS = ("auto", "exact", "sampled")
#: The most nodes of a type for which ``"auto"`` picks the exact power iteration.
EXACT_MAX_NODES = 2_000_000


def _hop_matrix(path: MetaPath, hop: int) -> sp.csr_matrix:
    csr, name = path.csrs[hop], path.weight[hop]
    n_src, n_dst = csr.num_src, csr.num_dst
    w = (np.ones(csr.num_edges) if name is None else np.asarray(csr.edge_data[name], np.float64))
    a = sp.csr_matrix((w, np.asarray(csr.indices), np.asarray(csr.indptr)), shape=(n_src, n_dst))
    total = np.asarray(a.sum(1)).ravel()
    return sp.diags(np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)) @ a


def walk_operator(paths: Sequence[MetaPath]) -> list[list[sp.csr_matrix]]:
    """Row-stochastic hop matrices :math:`D_h^{-1} A_h` of each cyclic meta-path.

    Raises:
        ConfigError: no path, a path that is not cyclic, or paths of different start types.
    """
    if not paths:
        raise ConfigError("propagated features need at least one meta-path")
    starts = {p.start_type for p in paths}
    if len(starts) != 1 or any(not p.is_cyclic for p in paths):
        raise ConfigError(
            f"propagated features need cyclic meta-paths of one node type, got {list(paths)}"
        )
    return [[_hop_matrix(p, h) for h in range(p.num_hops)] for p in paths]


def apply_walk(hops: list[list[sp.csr_matrix]], z: np.ndarray) -> np.ndarray:
    r""":math:`P z`: the mean over paths of the hops applied right to left; a seed whose walk
    dead-ends on a path keeps its own row there."""
    out = np.zeros_like(z)
    for path in hops:
        cur, reach = z, np.ones(z.shape[0])
        for m in reversed(path):
            cur, reach = m @ cur, m @ reach
        out += cur + (1.0 - reach)[:, None] * z
    return out / len(hops)


def propagate_exact(
    hops: list[list[sp.csr_matrix]], x: np.ndarray, teleport: float = 0.1,
    tol: float = 1e-5, max_iter: int = 300,
) -> np.ndarray:  # fmt: skip
    """:math:`\\Pi X` by power iteration (module docstring); ``float32 [n, d]``."""
    teleport = check_float(teleport, "teleport", 0.0, 1.0, low_open=True)
    x64 = np.asarray(x, dtype=np.float64)
    scale = float(np.abs(x64).max()) if x64.size else 0.0
    z = x64
    for _ in range(check_int(max_iter, "max_iter")):
        nxt = teleport * x64 + (1.0 - teleport) * apply_walk(hops, z)
        done = float(np.abs(nxt - z).max()) <= tol * scale if z.size else True
        z = nxt
        if done:
            break
    return z.astype(np.float32)


def propagate_sampled(
    sampler: ImportanceSampler, x: np.ndarray, teleport: float = 0.1, batch_size: int = 4096
) -> np.ndarray:
    """The sampler's neighbourhood as the PPR approximation (module docstring)."""
    teleport = check_float(teleport, "teleport", 0.0, 1.0, low_open=True)
    nt = sampler.seed_type
    if nt not in sampler.quotas:
        raise ConfigError(
            f"sampled propagation of {nt!r} needs the sampler to keep {nt!r} neighbours; "
            f"its quotas are {sampler.quotas}"
        )
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    for lo in range(0, len(x), check_int(batch_size, "batch_size")):
        ids = np.arange(lo, min(lo + batch_size, len(x)))
        nb = sampler.sample(ids, step=0)
        w = nb.weights[nt].numpy().astype(np.float64) * nb.mask[nt].numpy()
        agg = np.einsum("bk,bkd->bd", w, x[nb.ids[nt].numpy()])
        has = w.sum(1, keepdims=True) > 0
        out[ids] = np.where(has, teleport * x[ids] + (1.0 - teleport) * agg, x[ids])
    return out


def propagate(
    graph: HeteroGraph,
    node_type: str,
    x: np.ndarray,
    metapaths: Sequence[object] | None = None,
    sampler: ImportanceSampler | None = None,
    teleport: float = 0.1,
    method: str = "auto",
) -> np.ndarray:
    """Propagated ``x`` ``[n, d]`` of ``node_type`` by ``method`` (module docstring).

    Args:
        graph: the graph.
        node_type: the type of the rows of ``x``.
        x: ``[n, d]`` raw features.
        metapaths: the walk's cyclic meta-paths (default: the sampler's).
        sampler: the type's importance sampler (needed by ``"sampled"``).
        teleport: :math:`\\alpha`, in ``(0, 1]``.
        method: ``"exact"``, ``"sampled"`` or ``"auto"``.
    """
    if method not in METHODS:
        raise ConfigError(f"propagation method must be one of {list(METHODS)}, got {method!r}")
    n = graph.num_nodes[node_type]
    if x.ndim != 2 or x.shape[0] != n:
        raise ConfigError(f"propagate: x must be [{n}, d] for node type {node_type!r}, got {x.shape}")
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_NODES or sampler is None else "sampled"
    if method == "sampled":
        if sampler is None:
            raise ConfigError(f"sampled propagation of {node_type!r} needs its importance sampler")
        return propagate_sampled(sampler, x, teleport)
    if metapaths is None:
        if sampler is None:
            raise ConfigError(f"exact propagation of {node_type!r} needs metapaths or a sampler")
        paths = [p for p in sampler.metapaths if p.is_cyclic]
    else:
        paths = [MetaPath.resolve(graph, p) for p in metapaths]
    if any(p.start_type != node_type for p in paths):
        raise ConfigError(f"propagate: meta-paths must start at {node_type!r}, got {paths}")
    return propagate_exact(walk_operator(paths), x, teleport)


# Propagated features per graph object, by (type, feature, teleport, method): computed once
# per process, dropped with the graph.
_CACHE: weakref.WeakKeyDictionary[HeteroGraph, dict[tuple, np.ndarray]] = weakref.WeakKeyDictionary()


def propagated_features(
    graph: HeteroGraph,
    samplers: Mapping[str, ImportanceSampler],
    node_types: Sequence[str] | None = None,
    teleport: float = 0.1,
    method: str = "auto",
) -> dict[str, dict[str, np.ndarray]]:
    """``{type: {"<name>@ppr": [n, d]}}`` for every dense feature of every featured type with
    a sampler (cached per graph; the graph itself is not changed).

    Args:
        graph: the graph.
        samplers: node type -> its importance sampler (its meta-paths define the walk).
        node_types: the types to propagate (default: every type with a sampler).
        teleport: :math:`\\alpha`.
        method: ``"exact"``, ``"sampled"`` or ``"auto"``.
    """
    types = list(samplers) if node_types is None else list(node_types)
    cache = _CACHE.setdefault(graph, {})
    out: dict[str, dict[str, np.ndarray]] = {}
    for nt in types:
        if nt not in graph.num_nodes:
            raise SchemaError(f"propagated features: unknown node type {nt!r}")
        sampler = samplers.get(nt)
        feats = graph.features[nt]
        dense = [k for k, v in feats.items() if not isinstance(v, Ragged)]
        if sampler is None or not dense or not any(p.is_cyclic for p in sampler.metapaths):
            continue
        out[nt] = {}
        for name in dense:
            key = (nt, name, float(teleport), method, repr(sampler), sampler.seed)
            if key not in cache:
                x = np.asarray(feats[name], dtype=np.float32)
                cache[key] = propagate(graph, nt, x, None, sampler, teleport, method)
            out[nt][name + SUFFIX] = cache[key]
    return out
