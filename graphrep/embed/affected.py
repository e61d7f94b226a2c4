"""Which nodes of a type a change set affects, per refresh scope.

The rules are those of :mod:`graphrep.embed.refresh` (its module docstring): ``exact``
resamples every seed whose walks can read a changed row and keeps those whose
neighbourhood moved or reads changed features; ``local`` takes the new and changed nodes
and the endpoints of new edges that reach their importance neighbourhood.
:func:`sequence_changed` says which known users' encoder input new actions changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrep.embed.inference import INFERENCE_STEP, neighborhood_rows
from graphrep.embed.versions import Applied, RunState
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.reach import walk_reach
from graphrep.samplers.sequences import SequenceSampler

ALL_EVENTS = 2**62  #: a cut after every event (a state's user histories are already cut)


def exact_affected(state: RunState, applied: Applied, t: str, old_b: Any, new_b: Any,
                    rows: dict[str, np.ndarray], names: list[str],
                    stored: dict[str, np.ndarray] | None) -> tuple[np.ndarray, int]:
    """Scope ``exact`` (rules 1-3 of :mod:`graphrep.embed.refresh`): the affected ids of ``t``
    and the number of resampled candidates; ``rows`` gets the candidates' new neighbourhoods."""
    model, ext = state.model, applied.extension
    n_old, n_new = state.dataset.graph.num_nodes[t], ext.graph.num_nodes[t]
    new = np.arange(n_old, n_new, dtype=np.int64)
    sampler = new_b.samplers.get(t)
    nbr_types = list(sampler.quotas) if sampler is not None else []
    changed_nb, cand = np.zeros(0, dtype=np.int64), new
    if sampler is not None:
        if stored is None:
            cand = np.arange(n_new, dtype=np.int64)
        else:
            cand = np.union1d(walk_reach(old_b.samplers[t], ext.changed_rows), new)
        nb = sampler.sample(cand, step=INFERENCE_STEP)
        fresh = neighborhood_rows({u: (nb.ids[u], nb.weights[u], nb.mask[u]) for u in nbr_types})
        old_c = cand < n_old
        differ = ~old_c.copy()
        for k in names:
            if k not in rows:
                rows[k] = np.full((n_new, fresh[k].shape[1]), -1 if k.endswith(".ids") else 0,
                                  dtype=fresh[k].dtype)  # fmt: skip
                differ[:] = True
            else:
                differ[old_c] |= (rows[k][cand[old_c]] != fresh[k][old_c]).any(1)
            rows[k][cand] = fresh[k]
        changed_nb = cand[differ]
    # nodes whose encoder input reads changed features (rules 1 and 3)
    feat = {u: new_nodes for u, new_nodes in ext.new_nodes.items()}
    for u, ids in ext.degree_changed.items():
        if u in model.encoder_schema and model.encoder_schema[u].featureless:
            feat[u] = np.union1d(feat.get(u, np.zeros(0, np.int64)), ids)
    reads = np.zeros(n_new, dtype=bool)
    reads[feat.get(t, np.zeros(0, np.int64))] = True
    for u in nbr_types:
        if u in feat and len(feat[u]):
            reads |= np.isin(rows[f"nbr.{u}.ids"], feat[u]).any(1)
    return np.union1d(np.union1d(new, changed_nb), np.flatnonzero(reads)), len(cand)


def local_affected(state: RunState, applied: Applied, t: str,
                   new_b: Any) -> tuple[np.ndarray, int, tuple[np.ndarray, Neighborhood | None]]:
    """Scope ``local``: (affected ids of ``t``, number of endpoints sampled again, the kept
    endpoints with the neighbourhoods sampled for them) -- the new nodes of ``t``, those whose
    own features changed (the log-degree token of a content-free type) and the endpoints of
    new edges that reach their importance neighbourhood (rule c of
    :mod:`graphrep.embed.refresh`). The kept endpoints' neighbourhoods are the ones an
    encoder would sample (same sampler, :data:`INFERENCE_STEP`): pass them on."""
    ext, empty = applied.extension, np.zeros(0, dtype=np.int64)
    parts = [ext.new_nodes.get(t, empty)]
    schema = state.model.encoder_schema
    if t in schema and schema[t].featureless:
        parts.append(ext.degree_changed.get(t, empty))
    sampler = new_b.samplers.get(t)
    n_cand, kept = 0, (empty, None)
    if sampler is not None:
        read = {et for mp in sampler.metapaths for et in mp.edge_types if et[0] == t}
        edges = {et: e for et, e in ext.new_edges.items() if et in read}
        ends = np.unique(np.concatenate([empty, *(np.asarray(s, dtype=np.int64) for s, _ in edges.values())]))
        ends = ends[ends < state.dataset.graph.num_nodes[t]]  # new nodes are encoded anyway
        n_cand = len(ends)
        kept = _reached(sampler, edges, ends)
        parts.append(kept[0])
    return np.unique(np.concatenate(parts)), n_cand, kept


def _reached(sampler: Any, edges: dict[Any, tuple[np.ndarray, np.ndarray]],
             ends: np.ndarray) -> tuple[np.ndarray, Neighborhood | None]:
    """The endpoints ``ends`` whose importance neighbourhood, sampled on the new graph, holds
    the other end of one of their new edges (or whose new edges lead to a type their
    neighbourhood does not carry: no such test, so they count as reached), and those
    neighbourhoods."""
    if not len(ends):
        return ends, None
    nb = sampler.sample(ends, step=INFERENCE_STEP)
    hit = np.zeros(len(ends), dtype=bool)
    for et, (src, dst) in edges.items():
        u = et[2]
        if u not in nb.ids:
            hit |= np.isin(ends, src)
            continue
        n_u = np.int64(sampler.graph.num_nodes[u])
        pairs = np.asarray(src, dtype=np.int64) * n_u + np.asarray(dst, dtype=np.int64)
        keys = ends[:, None] * n_u + nb.ids[u].numpy()
        hit |= (np.isin(keys, pairs) & nb.mask[u].numpy()).any(1)
    return ends[hit], nb.take(np.flatnonzero(hit))


_SEQUENCE_FIELDS = ("items", "item_type", "action", "surface", "timestamp", "mask")


def sequence_changed(state: RunState, applied: Applied, sampler: SequenceSampler) -> np.ndarray:
    """The known users with new actions whose encoder input changed: an added action among
    their last ``M`` (an action older than those leaves the window as it was) or a later
    embedding time."""
    users = applied.changed_users[applied.changed_users < state.dataset.events.num_users]
    if not len(users):
        return users
    m = state.config.model.seq_max_len
    before = SequenceSampler(state.dataset.events, m, ALL_EVENTS, future_window=1).eval_batch(
        users, ALL_EVENTS, window=1)  # fmt: skip
    after = sampler.eval_batch(users, ALL_EVENTS, window=1)
    same = applied.user_time[users] == state.user_time[users]
    for f in _SEQUENCE_FIELDS:
        same &= (getattr(before, f) == getattr(after, f)).all(1).numpy()
    return users[~same]


__all__ = ["ALL_EVENTS", "exact_affected", "local_affected", "sequence_changed"]
