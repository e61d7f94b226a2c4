r"""Incremental refresh: re-encode only what a change set affects, publish a new version.

``refresh_run(RUN, changes)`` applies :class:`~graphrep.embed.changes.Changes` to the
run's current state (:mod:`graphrep.embed.versions`) and writes version :math:`N + 1`.
Rows that are not re-encoded keep version :math:`N`'s vector and stored neighbourhood.
The version is written as a delta store (:mod:`graphrep.embed.delta`): only the rows that
differ from the last version written in full -- version :math:`N`'s delta rows, the rows
re-encoded now and the new ones -- while they are at most ``delta_max`` of all rows; past
that it is written in full and becomes the base of the next ones. Two scopes say which rows
are re-encoded.

**Exact** (``scope="exact"``): version :math:`N + 1` equals -- for every node and user --
a full export of the changed state. A node :math:`v` of an encoded type is affected when
its encoder input can differ:

1. :math:`v` is new, or its own features changed (a new node; the log-degree token of a
   content-free type whose degree changed);
2. its sampled importance neighbourhood changed: the candidates are the seeds whose
   walks can read a changed row (:func:`~graphrep.samplers.reach.walk_reach`), they are
   sampled again on the new graph and compared with the neighbourhoods the previous
   version stored (``nbr.<type>.ids`` / ``.weights``), so a candidate whose walks did
   not move keeps its vector;
3. its neighbourhood holds a node whose features changed (rule 1).

Because a walk picks each step's neighbour by its position in a CSR row, one inserted
edge moves every walk that passes through its row: a uniform 1 % of new pins changes most
neighbourhoods within two traversals, and the exact refresh costs about a full export
(docs/benchmarks.md).

**Local** (``scope="local"``, bounded staleness between full exports, as PinSage-style
systems refresh): re-encode only

a. the new nodes,
b. the nodes whose own features changed (rule 1),
c. the endpoints of the new edges that reach their importance neighbourhood: a node whose
   own row of a relation its walks read gained edges is sampled again on the new graph,
   and re-encoded when that neighbourhood holds the other end of one of its new edges (or
   when the new edges lead to a type its neighbourhood does not carry). An edge whose far
   end did not make the node's top neighbours brings no node behind it in through its own
   visits (a walk reaches those only through the far end, each visit after one to it), so
   such an endpoint keeps its vector and stored neighbourhood, like the nodes further away.

No walk-reach resampling and no rule 3: a node further from the change keeps its
vector and stored neighbourhood until the next exact refresh or full export (whose
result a local refresh approaches; the drift is measured in docs/benchmarks.md). A
version records whether it is exact (``meta["exact"]``); an exact refresh on top of a
local version cannot tell stale rows from current ones, so it re-encodes every node and
user (the cost of a full export) and is exact again.

A user is re-encoded when they are new, when new actions changed their encoder input
(an added action among their last ``M``, or a later embedding time: an action older than
their last ``M`` changes nothing), or -- always in exact scope, optionally in local scope
-- their last ``M`` history items include a re-encoded item. Indexes are updated: an HNSW index is
patched (:func:`~graphrep.embed.ann.patch_hnsw`) when at most ``hnsw_patch_max`` of its
rows changed and rebuilt otherwise; flat and IVF indexes are rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrep.embed import ann, delta
from graphrep.embed.affected import ALL_EVENTS, exact_affected, local_affected, sequence_changed
from graphrep.embed.changes import Changes
from graphrep.embed.inference import (
    INFERENCE_STEP,
    _lookup_history,
    _users_from_history,
    encode_nodes,
)
from graphrep.embed.store import Embeddings
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
from graphrep.embed.writer import CHUNK_ROWS, EmbeddingWriter
from graphrep.errors import ConfigError
from graphrep.samplers.neighborhood import Neighborhood
from graphrep.samplers.sequences import SequenceSampler
from graphrep.train.build import build_inputs
from graphrep.train.output_config import REFRESH_SCOPES
from graphrep.utils.checks import choice as check_choice

DELTA_MAX = 0.25  #: the largest share of rows a delta version holds before one is written in full


@dataclass
class RefreshReport:
    """What a refresh did.

    Attributes:
        version: the published version.
        scope: ``"exact"`` or ``"local"``.
        stored: ``"delta"`` (only the rows that differ from the base store were written,
            :mod:`graphrep.embed.delta`) or ``"full"``.
        types: per type ``{total, new, candidates, encoded}`` (users: ``{total, new, encoded}``).
        wall_s: seconds per phase: ``load`` (run state), ``apply`` (changes, input
            pipelines), ``encode.<type>`` (choosing, sampling and encoding), ``write``,
            ``index``, ``total``.
    """

    version: int
    scope: str = "exact"
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    stored: str = "full"

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "scope": self.scope, "stored": self.stored,
                "types": self.types, "wall_s": self.wall_s}  # fmt: skip


def _stored_rows(store: Embeddings, t: str, names: list[str], n_old: int) -> dict[str, np.ndarray] | None:
    if t not in store.types:
        return None
    rows = store.row_arrays(t)
    if set(rows) != set(names) or any(len(v) != n_old for v in rows.values()):
        return None  # an export without (these) neighbourhoods: every node is a candidate
    return rows


def _padded(stored: dict[str, np.ndarray], n_new: int) -> dict[str, np.ndarray]:
    """The previous version's neighbourhood rows, with empty rows for the new nodes."""
    out = {}
    for k, v in stored.items():
        full = np.full((n_new, v.shape[1]), -1 if k.endswith(".ids") else 0, dtype=v.dtype)
        full[: len(v)] = v
        out[k] = full
    return out


def _refresh_type(state: RunState, applied: Applied, t: str, old_b: Any, new_b: Any, bs: int,
                  scope: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """(vectors [n_new, D], neighbourhood rows [n_new, k], affected ids, counts) of type ``t``
    (``scope="all"``: every node, for an exact version on top of a local one)."""
    model = state.model
    n_old, n_new = state.dataset.graph.num_nodes[t], applied.extension.graph.num_nodes[t]
    sampler = new_b.samplers.get(t)
    names = [f"nbr.{u}.{k}" for u in (sampler.quotas if sampler is not None else ())
             for k in ("ids", "weights")]  # fmt: skip
    stored = _stored_rows(state.embeddings, t, names, n_old) if scope != "all" else None
    rows = _padded(stored, n_new) if stored is not None else {}
    sampled: tuple[np.ndarray, Any] = (np.zeros(0, dtype=np.int64), None)
    if scope in ("exact", "all"):
        affected, n_cand = exact_affected(state, applied, t, old_b, new_b, rows, names, stored)
    else:  # rows not re-encoded keep the neighbourhood (and vector) of the previous version
        affected, n_cand, sampled = local_affected(state, applied, t, new_b)
    vectors = np.zeros((n_new, model.dim), dtype=np.float32)
    if t in state.embeddings.types:
        vectors[:n_old] = state.embeddings.vectors(t)
    # the endpoints local_affected sampled already, then the rest, in the same batches
    ids, nb = sampled
    rest = np.setdiff1d(affected, ids, assume_unique=True)
    if nb is not None and len(rest):
        nb = Neighborhood.cat([nb, sampler.sample(rest, step=INFERENCE_STEP)])
    ids, lo = np.concatenate([ids, rest]), 0
    for z, nbr in encode_nodes(model, new_b, t, ids, bs, nb):
        part = ids[lo : lo + len(z)]
        lo += len(z)
        vectors[part] = z
        for k in rows:
            rows[k][part] = nbr[k]
    counts = {"total": int(n_new), "new": int(n_new - n_old), "candidates": n_cand,
              "encoded": len(affected)}  # fmt: skip
    return vectors, rows, affected, counts


def _refresh_users(state: RunState, applied: Applied, encoded: dict[str, np.ndarray],
                   vectors: dict[str, np.ndarray], history: bool = True,
                   everyone: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Users' vectors: the new users, those whose last ``M`` actions or embedding time
    changed and (``history``) those whose last ``M`` history items include a re-encoded
    item; the others are copied."""
    model, config = state.model, state.config
    log, times = applied.dataset.events, applied.user_time
    n_old, n_new = state.embeddings.count(USER_TYPE), log.num_users
    sampler = SequenceSampler(log, config.model.seq_max_len, ALL_EVENTS, future_window=1)
    hit = np.zeros(n_new, dtype=bool)
    if history:
        hist = sampler.eval_batch(np.arange(n_new, dtype=np.int64), ALL_EVENTS, window=1)
        codes, items, mask = hist.item_type.numpy(), hist.items.numpy(), hist.mask.numpy()
        for code, name in enumerate(log.item_types):
            if name in encoded and len(encoded[name]):
                hit |= (mask & (codes == code) & np.isin(items, encoded[name])).any(1)
    hit[sequence_changed(state, applied, sampler)] = True
    hit[n_old:] = True
    hit[:] |= everyone
    hit &= np.diff(log.user_offsets) > 0  # users without any history keep their zero vector
    affected = np.flatnonzero(hit)
    out = np.zeros((n_new, model.dim), dtype=np.float32)
    out[:n_old] = state.embeddings.vectors(USER_TYPE)
    lookup = all(t in vectors for t in log.item_types)
    bs = config.embed.batch_size
    with torch.no_grad():
        for lo in range(0, len(affected), bs):
            users = affected[lo : lo + bs]
            h = sampler.eval_batch(users, ALL_EVENTS, window=1)
            if lookup:
                emb = _lookup_history(h, log.item_types, vectors, model.dim)
            else:
                raise ConfigError("refresh: users' history items must all be of encoded types")
            q = torch.from_numpy(times[users])
            out[users] = _users_from_history(model, h, emb, q).float().numpy()
    return out, affected, {"total": int(n_new), "new": int(n_new - n_old), "encoded": len(affected)}


def _indexes(new: Embeddings, old: Embeddings, affected: dict[str, np.ndarray],
             hnsw_patch_max: float) -> dict[str, str]:
    done, rebuild = {}, {}
    for t, kind in old.index_kinds.items():
        if t not in new.types:
            continue
        frac = len(affected.get(t, ())) / max(new.count(t), 1)
        if kind == "hnsw" and frac <= hnsw_patch_max:
            index = ann.patch_hnsw(old.faiss_index(t), new.vectors(t), affected.get(t, np.zeros(0)))
            ann.record_store_index(new.path, new._manifest, t, index, kind, publish=False)
            done[t] = "patched"
        else:
            rebuild[t] = kind
            done[t] = "rebuilt"
    new.build_indexes(rebuild)  # and the manifest, once
    return done


def _delta_plan(store: Embeddings, vectors: dict[str, np.ndarray], encoded: dict[str, np.ndarray],
                delta_max: float) -> tuple[dict[str, np.ndarray] | None, Embeddings]:
    """(rows to write per type, the base) for a delta version on the previous version's base,
    or ``(None, store)``: write in full (the base has no uid, or the rows that differ from it
    exceed ``delta_max`` of all rows)."""
    base = store.base or store
    if base.uid is None or delta_max <= 0:
        return None, store
    n_new = {t: len(vectors[t]) for t in store.types}
    want = delta.delta_rows({t: store.delta_rows(t) for t in store.types}, encoded,
                            {t: base.count(t) for t in store.types}, n_new)  # fmt: skip
    if sum(map(len, want.values())) > delta_max * sum(n_new.values()):
        return None, store
    return want, base


def refresh_run(run: str | os.PathLike, changes: Changes | str | os.PathLike,
                scope: str | None = None, user_history: bool | None = None,
                hnsw_patch_max: float = 0.2, delta_max: float = DELTA_MAX) -> RefreshReport:
    """Apply ``changes`` (or a CHANGES directory) to ``run``; publish the next version.

    Loads the run's current state (:func:`~graphrep.embed.versions.open_state`), then
    :func:`refresh_state`; ``wall_s["load"]`` is the loading.

    Args:
        run: the run directory.
        changes: the change tables (or their directory).
        scope: ``"exact"`` (the version equals a full export of the changed state) or
            ``"local"`` (re-encode the changed nodes and the endpoints of the new edges
            only; see the module docstring). Default: the run's ``embed.refresh_scope``.
        user_history: in ``local`` scope, also re-encode the users whose last ``M``
            history items include a re-encoded item (default: the run's
            ``embed.refresh_user_history``). The exact scope always does.
        hnsw_patch_max: patch an HNSW index in place when at most this share of its
            rows changed; rebuild it otherwise.
        delta_max: write the version as a delta store on the previous version's base
            (:mod:`graphrep.embed.delta`) while the rows that differ from that base are at
            most this share of all rows; else in full (it becomes the next versions' base).
            0 writes every version in full.
    """
    t0 = time.perf_counter()
    changes = _checked(changes, scope)  # before loading the run
    state = open_state(run)
    return refresh_state(state, changes, scope, user_history, hnsw_patch_max, delta_max,
                         loaded_s=time.perf_counter() - t0)[0]


def _checked(changes: Changes | str | os.PathLike, scope: str | None) -> Changes:
    if scope is not None:
        check_choice(scope, "refresh scope (embed.refresh_scope, --scope)", REFRESH_SCOPES)
    return changes if isinstance(changes, Changes) else Changes.read(changes)


def refresh_state(state: RunState, changes: Changes | str | os.PathLike, scope: str | None = None,
                  user_history: bool | None = None, hnsw_patch_max: float = 0.2,
                  delta_max: float = DELTA_MAX, loaded_s: float = 0.0
                  ) -> tuple[RefreshReport, RunState]:
    """:func:`refresh_run` on a state already in memory; returns the report and the next
    state (the published version's), so a process applying a stream of change sets loads
    the run once instead of loading it and replaying every version's changes each time.
    ``state`` itself is not changed; ``loaded_s`` (the seconds spent loading it) is reported
    as the ``load`` phase. Publishing fails with :class:`ConfigError` when another process
    published the next version meanwhile."""
    t0 = time.perf_counter() - loaded_s
    t_load = time.perf_counter()
    changes = _checked(changes, scope)
    embed = state.config.embed
    scope = embed.refresh_scope if scope is None else scope
    history = scope == "exact" or (embed.refresh_user_history if user_history is None
                                   else bool(user_history))  # fmt: skip
    # an exact version on top of a local one re-encodes everything: its kept rows are stale
    stale = scope == "exact" and not state.embeddings.meta.get("exact", True)
    applied = apply_changes(state.dataset, state.user_time, changes)
    old_b = build_inputs(state.config, state.dataset) if scope == "exact" and not stale else None
    new_b = build_inputs(state.config, applied.dataset)
    version = state.version + 1
    report = RefreshReport(version, scope)
    report.wall_s.update(load=loaded_s, apply=time.perf_counter() - t_load)
    vectors, rows, encoded = {}, {}, {}
    for t in state.model.encoders:
        t1 = time.perf_counter()
        vectors[t], rows[t], encoded[t], report.types[t] = _refresh_type(
            state, applied, t, old_b, new_b, embed.batch_size, "all" if stale else scope)  # fmt: skip
        report.wall_s[f"encode.{t}"] = time.perf_counter() - t1
    has_users = USER_TYPE in state.embeddings.types and USER_TYPE not in state.model.encoders
    if has_users and applied.dataset.events is not None:
        t1 = time.perf_counter()
        vectors[USER_TYPE], encoded[USER_TYPE], report.types[USER_TYPE] = _refresh_users(
            state, applied, encoded, vectors, history, everyone=stale)  # fmt: skip
        report.wall_s[f"encode.{USER_TYPE}"] = time.perf_counter() - t1
    t_enc = time.perf_counter()
    store = state.embeddings
    root = versions_dir(state.run)
    root.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{version:06d}.tmp-", dir=root)
    try:
        meta = {**store.meta, "version": version, "parent": state.version,
                "exact": scope == "exact"}  # fmt: skip
        missing = [t for t in store.types if t not in vectors]
        if missing:
            raise ConfigError(f"refresh: the store holds {missing[0]!r}, which this run does not encode")
        ids = {t: user_ids(applied.dataset) if t == USER_TYPE and t not in state.model.encoders
               else applied.dataset.graph.external_ids(t) for t in store.types}  # fmt: skip
        plan, base = _delta_plan(store, vectors, encoded, delta_max)
        report.stored = "full" if plan is None else "delta"
        out = os.path.join(tmp, "embeddings")
        entry = None if plan is None else delta.base_entry(base.path, base.uid, Path(out))
        with EmbeddingWriter(out, store.dim, store.dtype, meta, base=entry) as w:
            for t in store.types:
                sel = None if plan is None else plan[t]
                n = len(ids[t]) if sel is None else len(sel)
                for lo in range(0, max(n, 1), CHUNK_ROWS):
                    part = slice(lo, lo + CHUNK_ROWS) if sel is None else sel[lo : lo + CHUNK_ROWS]
                    w.add(t, vectors[t][part], ids[t][part],
                          {k: v[part] for k, v in rows.get(t, {}).items()})  # fmt: skip
        if store.dtype == "float32":  # the arrays just written, as they are in memory
            arrays = {t: {"vec": vectors[t], "ids": ids[t], "rows": rows.get(t, {})}
                      for t in store.types}  # fmt: skip
            new = Embeddings.written(out, arrays, None if plan is None else base, plan)
        else:  # quantised on write: read back what was stored
            new = Embeddings.load(out)
        t_write = time.perf_counter()
        idx = _indexes(new, store, encoded, hnsw_patch_max)
        t_idx = time.perf_counter()
        os.mkdir(os.path.join(tmp, "changes"))
        changes.write(os.path.join(tmp, "changes"))
        report.wall_s.update(write=t_write - t_enc, index=t_idx - t_write,
                             total=time.perf_counter() - t0)  # fmt: skip
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
    new.path = version_dir(state.run, version) / "embeddings"  # renamed into place
    return report, RunState(state.run, version, state.config, state.model, applied.dataset,
                            applied.user_time, new)


__all__ = ["RefreshReport", "refresh_run", "refresh_state"]
