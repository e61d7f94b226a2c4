r"""Incremental refresh: re-encode only what a change set affects, publish a new version.

``refresh_run(RUN, changes)`` applies :class:`~graphrep.embed.changes.Changes` to the
run's current state (:mod:`graphrep.embed.versions`) and writes version :math:`N + 1`
equal -- for every node and user -- to a full export of the changed state, while
encoding only the affected entities. A node :math:`v` of an encoded type is affected
when its encoder input can differ:

1. :math:`v` is new, or its own features changed (a new node; the log-degree token of a
   content-free type whose degree changed);
2. its sampled importance neighbourhood changed: the candidates are the seeds whose
   walks can read a changed row (:func:`~graphrep.samplers.reach.walk_reach`), they are
   sampled again on the new graph and compared with the neighbourhoods the previous
   version stored (``nbr.<type>.ids`` / ``.weights``), so a candidate whose walks did
   not move keeps its vector;
3. its neighbourhood holds a node whose features changed (rule 1).

A user is affected when they have new actions (their sequence or embedding time
changed), are new, or their last ``M`` history items include an affected item. Unaffected
rows are copied from the previous version. Indexes are updated: an HNSW index is patched
(:func:`~graphrep.embed.ann.patch_hnsw`) when at most ``hnsw_patch_max`` of its rows
changed and rebuilt otherwise; flat and IVF indexes are rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from graphrep.embed import ann
from graphrep.embed.changes import Changes
from graphrep.embed.inference import (
    INFERENCE_STEP,
    _lookup_history,
    _users_from_history,
    encode_nodes,
    neighborhood_rows,
)
from graphrep.embed.store import Embeddings, EmbeddingWriter
from graphrep.embed.versions import (
    USER_TYPE,
    Applied,
    RunState,
    apply_changes,
    open_state,
    publish,
    user_ids,
    version_dir,
    versions_dir,
)
from graphrep.errors import ConfigError
from graphrep.samplers.reach import walk_reach
from graphrep.samplers.sequences import SequenceSampler
from graphrep.train.build import build_inputs

_CHUNK = 65536
_ALL = 2**62  # a cut after every event: user histories are already cut


@dataclass
class RefreshReport:
    """What a refresh did: the version, per type ``{total, new, candidates, encoded}``, wall times."""

    version: int
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "types": self.types, "wall_s": self.wall_s}


def _stored_rows(store: Embeddings, t: str, names: list[str], n_old: int) -> dict[str, np.ndarray] | None:
    if t not in store.types:
        return None
    rows = store.row_arrays(t)
    if set(rows) != set(names) or any(len(v) != n_old for v in rows.values()):
        return None  # an export without (these) neighbourhoods: every node is a candidate
    return rows


def _refresh_type(state: RunState, applied: Applied, t: str, old_b: Any, new_b: Any,
                  bs: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """(vectors [n_new, D], neighbourhood rows [n_new, k], affected ids, counts) of type ``t``."""
    model, ext = state.model, applied.extension
    n_old, n_new = state.dataset.graph.num_nodes[t], ext.graph.num_nodes[t]
    new = np.arange(n_old, n_new, dtype=np.int64)
    sampler = new_b.samplers.get(t)
    nbr_types = list(sampler.quotas) if sampler is not None else []
    names = [f"nbr.{u}.{k}" for u in nbr_types for k in ("ids", "weights")]
    stored = _stored_rows(state.embeddings, t, names, n_old)
    rows: dict[str, np.ndarray] = {}
    changed_nb = np.zeros(0, dtype=np.int64)
    cand = new
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
            pad = -1 if k.endswith(".ids") else 0
            full = np.full((n_new, fresh[k].shape[1]), pad, dtype=fresh[k].dtype)
            if stored is not None:
                full[:n_old] = stored[k]
                differ[old_c] |= (stored[k][cand[old_c]] != fresh[k][old_c]).any(1)
            else:
                differ[:] = True
            full[cand] = fresh[k]
            rows[k] = full
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
    affected = np.union1d(np.union1d(new, changed_nb), np.flatnonzero(reads))
    vectors = np.zeros((n_new, model.dim), dtype=np.float32)
    if t in state.embeddings.types:
        vectors[:n_old] = state.embeddings.vectors(t)
    for lo in range(0, len(affected), bs):
        part = affected[lo : lo + bs]
        z, _ = next(encode_nodes(model, new_b, t, part, len(part)))
        vectors[part] = z
    counts = {"total": int(n_new), "new": len(new), "candidates": len(cand),
              "encoded": len(affected)}  # fmt: skip
    return vectors, rows, affected, counts


def _refresh_users(state: RunState, applied: Applied, encoded: dict[str, np.ndarray],
                   vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
    model, config = state.model, state.config
    log, times = applied.dataset.events, applied.user_time
    n_old, n_new = state.embeddings.count(USER_TYPE), log.num_users
    sampler = SequenceSampler(log, config.model.seq_max_len, _ALL, future_window=1)
    everyone = np.arange(n_new, dtype=np.int64)
    hist = sampler.eval_batch(everyone, _ALL, window=1)
    hit = np.zeros(n_new, dtype=bool)
    codes, items, mask = hist.item_type.numpy(), hist.items.numpy(), hist.mask.numpy()
    for code, name in enumerate(log.item_types):
        if name in encoded and len(encoded[name]):
            hit |= (mask & (codes == code) & np.isin(items, encoded[name])).any(1)
    hit[applied.changed_users] = True
    hit[n_old:] = True
    affected = np.flatnonzero(hit & mask.any(1))
    out = np.zeros((n_new, model.dim), dtype=np.float32)
    out[:n_old] = state.embeddings.vectors(USER_TYPE)
    lookup = all(t in vectors for t in log.item_types)
    bs = config.embed.batch_size
    with torch.no_grad():
        for lo in range(0, len(affected), bs):
            users = affected[lo : lo + bs]
            h = sampler.eval_batch(users, _ALL, window=1)
            if lookup:
                emb = _lookup_history(h, log.item_types, vectors, model.dim)
            else:
                raise ConfigError("refresh: users' history items must all be of encoded types")
            q = torch.from_numpy(times[users])
            out[users] = _users_from_history(model, h, emb, q).float().numpy()
    return out, {"total": int(n_new), "new": int(n_new - n_old), "encoded": len(affected)}


def _indexes(new: Embeddings, old: Embeddings, affected: dict[str, np.ndarray],
             hnsw_patch_max: float) -> dict[str, str]:
    done = {}
    for t, kind in old.index_kinds.items():
        if t not in new.types:
            continue
        frac = len(affected.get(t, ())) / max(new.count(t), 1)
        if kind == "hnsw" and frac <= hnsw_patch_max:
            index = ann.patch_hnsw(old.faiss_index(t), new.vectors(t), affected.get(t, np.zeros(0)))
            ann.record_store_index(new.path, new._manifest, t, index, kind)
            done[t] = "patched"
        else:
            new.build_indexes({t: kind})
            done[t] = "rebuilt"
    return done


def refresh_run(run: str | os.PathLike, changes: Changes | str | os.PathLike,
                hnsw_patch_max: float = 0.2) -> RefreshReport:
    """Apply ``changes`` (or a CHANGES directory) to ``run``; publish the next version."""
    t0 = time.perf_counter()
    if not isinstance(changes, Changes):
        changes = Changes.read(changes)
    state = open_state(run)
    t_load = time.perf_counter()
    applied = apply_changes(state.dataset, state.user_time, changes)
    old_b = build_inputs(state.config, state.dataset)
    new_b = build_inputs(state.config, applied.dataset)
    version = state.version + 1
    report = RefreshReport(version)
    vectors, rows, encoded = {}, {}, {}
    bs = state.config.embed.batch_size
    for t in state.model.encoders:
        vectors[t], rows[t], encoded[t], report.types[t] = _refresh_type(
            state, applied, t, old_b, new_b, bs)  # fmt: skip
    has_users = USER_TYPE in state.embeddings.types and USER_TYPE not in state.model.encoders
    if has_users and applied.dataset.events is not None:
        vectors[USER_TYPE], report.types[USER_TYPE] = _refresh_users(state, applied, encoded, vectors)
        encoded[USER_TYPE] = np.arange(0)  # all users' rows are rewritten from `vectors`
    t_enc = time.perf_counter()
    store = state.embeddings
    root = versions_dir(state.run)
    root.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{version:06d}.tmp-", dir=root)
    try:
        meta = {**store.meta, "version": version, "parent": state.version}
        with EmbeddingWriter(os.path.join(tmp, "embeddings"), store.dim, store.dtype, meta) as w:
            for t in store.types:
                if t not in vectors:
                    raise ConfigError(f"refresh: the store holds {t!r}, which this run does not encode")
                ids = user_ids(applied.dataset) if t == USER_TYPE and t not in state.model.encoders \
                    else applied.dataset.graph.external_ids(t)
                for lo in range(0, max(len(ids), 1), _CHUNK):
                    part = {k: v[lo : lo + _CHUNK] for k, v in rows.get(t, {}).items()}
                    w.add(t, vectors[t][lo : lo + _CHUNK], ids[lo : lo + _CHUNK], part)
        new = Embeddings.load(os.path.join(tmp, "embeddings"))
        t_write = time.perf_counter()
        report.wall_s["index"] = 0.0
        idx = _indexes(new, store, encoded, hnsw_patch_max)
        t_idx = time.perf_counter()
        os.mkdir(os.path.join(tmp, "changes"))
        changes.write(os.path.join(tmp, "changes"))
        report.wall_s = {"load": t_load - t0, "encode": t_enc - t_load, "write": t_write - t_enc,
                         "index": t_idx - t_write, "total": time.perf_counter() - t0}  # fmt: skip
        with open(os.path.join(tmp, "refresh.json"), "w") as f:
            json.dump({**report.to_dict(), "indexes": idx, "changes": changes.summary()}, f, indent=1)
        try:
            os.rename(tmp, version_dir(state.run, version))
        except OSError as exc:
            raise ConfigError(f"{version_dir(state.run, version)}: version {version} exists already "
                              "(another refresh published it); refresh again on top of it") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(state.run, version)
    return report


__all__ = ["RefreshReport", "refresh_run"]
