r"""Embeddings versions of a run: the full export and the incremental refreshes on top of it.

::

    RUN/embeddings/                version 0, the full export (``graphrep embed RUN``)
    RUN/versions/000001/           version 1 (``graphrep embed RUN --update CHANGES``)
        embeddings/                the version's embeddings store: the rows that differ from
                                   the last store written in full (version 0 or a later one),
                                   overlaid on it when read (:mod:`graphrep.embed.delta`)
        changes/                   the change tables applied on top of version 0
        refresh.json               what was re-encoded, wall times
    RUN/versions/CURRENT           ``{"version": N}``: the version readers use

A version directory is built in a temporary sibling and renamed into place, then
``CURRENT`` is replaced atomically, so a reader (``graphrep serve``) sees the old
version or the new one, whole. Publishing a version number that exists already fails
(two refreshes cannot both publish version N); versions are never deleted by graphrep.
Re-exporting the run (``graphrep embed RUN``, which replaces ``RUN/embeddings``) supersedes
its versions: they were refreshed on the previous export, and the new one holds none of
their changes. The export moves ``RUN/versions`` to ``RUN/versions.superseded-K``
(:func:`supersede_versions`; nothing is deleted, their change tables stay there to apply
again), so readers see version 0, the new export. A delta version whose base store was
re-written some other way is refused when read (its base's store id differs), not overlaid
on the new vectors.

**State of version N.** The graph is the run's dataset plus the changes of versions
``1..N`` replayed in order (:func:`apply_changes`; replaying is :math:`O(E)` per
version, see :mod:`graphrep.graph.extend`). User sequences are the events before the
run's cut plus every action the changes added (whatever its time); a user is embedded
at :math:`q_u = \max(\text{cut}, 1 + \text{latest added action})` (the cut for users
without added actions, as in the full export). Because users without new actions keep
the cut, refreshing a user is exactly what the full export of the same state gives.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.data.dataset import GraphDataset
from graphrep.embed.changes import ActionRows, Changes
from graphrep.embed.store import Embeddings
from graphrep.errors import GraphFormatError, GraphValidationError, SchemaError
from graphrep.graph.eventlog import EventLog
from graphrep.graph.extend import GraphExtension, NodeRows, extend_graph
from graphrep.train.build import cut_time
from graphrep.train.rundir import RunDir
from graphrep.utils.atomic import atomic_file

USER_TYPE = "user"
VERSIONS = "versions"
CURRENT = "CURRENT"


def versions_dir(run: str | os.PathLike | RunDir) -> Path:
    return _run(run).path / VERSIONS


def _run(run: str | os.PathLike | RunDir) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir(run)


def version_dir(run: str | os.PathLike | RunDir, version: int) -> Path:
    """Directory of version ``version >= 1``."""
    return versions_dir(run) / f"{int(version):06d}"


def current_version(run: str | os.PathLike | RunDir) -> int:
    """The published version (0 without refreshes)."""
    path = versions_dir(run) / CURRENT
    if not path.is_file():
        return 0
    try:
        v = json.loads(path.read_text())["version"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise GraphFormatError(f"{path}: corrupt version pointer ({exc!r})") from exc
    if not isinstance(v, int) or v < 0 or (v and not version_dir(run, v).is_dir()):
        raise GraphFormatError(f"{path}: points to version {v!r}, which does not exist")
    return v


def embeddings_path(run: str | os.PathLike | RunDir, version: int | None = None) -> Path:
    """The embeddings store of ``version`` (default: the current one)."""
    v = current_version(run) if version is None else int(version)
    return _run(run).embeddings if v == 0 else version_dir(run, v) / "embeddings"


def publish(run: str | os.PathLike | RunDir, version: int) -> None:
    """Point ``CURRENT`` at ``version`` (atomically)."""
    with atomic_file(versions_dir(run) / CURRENT, "w") as f:
        json.dump({"version": int(version)}, f)


def supersede_versions(run: str | os.PathLike | RunDir) -> Path | None:
    """Move ``RUN/versions`` to the first free ``RUN/versions.superseded-K`` (after a
    re-export of ``RUN/embeddings``; see the module docstring); the new path, or ``None``
    when there were no versions."""
    src = versions_dir(run)
    if not src.is_dir():
        return None
    k = 1
    while (dst := src.with_name(f"{VERSIONS}.superseded-{k}")).exists():
        k += 1
    os.rename(src, dst)
    return dst


@dataclass
class RunState:
    """A run at one embeddings version (see the module docstring).

    Attributes:
        run: the run directory.
        version: the version.
        config: the run's config.
        model: the trained model (eval mode).
        dataset: graph of the version; ``events`` the user sequences (history only).
        user_time: ``int64 [num_users]`` time each user is embedded at.
        embeddings: the version's store.
    """

    run: RunDir
    version: int
    config: Any
    model: Any
    dataset: GraphDataset
    user_time: np.ndarray | None
    embeddings: Embeddings


@dataclass
class Applied:
    """:func:`apply_changes`' result: the next state's data and what changed."""

    extension: GraphExtension
    dataset: GraphDataset
    user_time: np.ndarray | None
    changed_users: np.ndarray


def open_state(run: str | os.PathLike | RunDir, version: int | None = None) -> RunState:
    """Load the run (config, model, dataset) at ``version`` (default: the current one)."""
    rd = _run(run).require()
    v = current_version(rd) if version is None else int(version)
    config = rd.config()
    model = rd.load_model()
    dataset = rd.dataset(config)
    user_time = None
    if dataset.events is not None:
        cut = cut_time(dataset)
        dataset = GraphDataset(dataset.graph, dataset.events.before(cut), dataset.truth, dataset.meta)
        user_time = np.full(dataset.events.num_users, cut, dtype=np.int64)
    for i in range(1, v + 1):
        applied = apply_changes(dataset, user_time, Changes.read(version_dir(rd, i) / "changes"))
        dataset, user_time = applied.dataset, applied.user_time
    return RunState(rd, v, config, model, dataset, user_time, Embeddings.load(embeddings_path(rd, v)))


def _users_aligned(dataset: GraphDataset) -> bool:
    g, ev = dataset.graph, dataset.events
    return ev is not None and USER_TYPE in g.num_nodes and g.num_nodes[USER_TYPE] == ev.num_users


def user_ids(dataset: GraphDataset) -> np.ndarray:
    """External ids of the users (the graph's user ids when it has one node per user)."""
    if _users_aligned(dataset):
        return dataset.graph.external_ids(USER_TYPE)
    return np.arange(dataset.events.num_users, dtype=np.int64)


def _codes(values: Any, names: tuple[str, ...], n: int, what: str) -> np.ndarray:
    if values is None:
        return np.zeros(n, dtype=np.int64)
    arr = np.atleast_1d(np.asarray(values))
    if arr.dtype.kind in "US":
        lookup = {k: i for i, k in enumerate(names)}
        bad = [x for x in np.unique(arr) if str(x) not in lookup]
        if bad:
            raise SchemaError(f"actions column {what!r}: unknown name(s) {bad[:5]}; expected {list(names)}")
        return np.array([lookup[str(x)] for x in arr], dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= len(names)):
        raise GraphValidationError(f"actions column {what!r}: codes must be in [0, {len(names)}) "
                                   f"({list(names)})")
    return arr.astype(np.int64)


def apply_changes(dataset: GraphDataset, user_time: np.ndarray | None, changes: Changes) -> Applied:
    """The dataset (graph + user sequences) with ``changes`` applied (see the module docstring)."""
    nodes = dict(changes.nodes)
    acts: ActionRows | None = changes.actions
    ev = dataset.events
    if acts is not None and len(acts) and ev is None:
        raise SchemaError("changes: actions given but the run's dataset has no event log")
    if acts is not None and len(acts) and _users_aligned(dataset):
        known = set(dataset.graph.external_ids(USER_TYPE).tolist())
        listed = set() if USER_TYPE not in nodes or nodes[USER_TYPE].ids is None else \
            set(np.asarray(nodes[USER_TYPE].ids).tolist())
        fresh = [u for u in dict.fromkeys(np.atleast_1d(np.asarray(acts.user)).tolist())
                 if u not in known and u not in listed]
        if fresh:
            prev = nodes.get(USER_TYPE)
            ids = list(prev.ids) + fresh if prev is not None and prev.ids is not None else fresh
            if prev is not None and prev.ids is None:
                raise SchemaError("changes: new users in nodes_user.parquet need an 'id' column")
            nodes[USER_TYPE] = NodeRows(np.asarray(ids), {}, len(ids))
    ext = extend_graph(dataset.graph, nodes, changes.edges)
    g = ext.graph
    events, times = ev, user_time
    changed_users = np.zeros(0, dtype=np.int64)
    if ev is None:
        return Applied(ext, GraphDataset(g, None, dataset.truth, dataset.meta), times, changed_users)
    n = len(acts) if acts is not None else 0
    aligned = _users_aligned(dataset)
    if aligned:
        users = g.index_of(USER_TYPE, np.atleast_1d(np.asarray(acts.user))) if n else np.zeros(0, np.int64)
        num_users = g.num_nodes[USER_TYPE]
    else:
        users = np.atleast_1d(np.asarray(acts.user)).astype(np.int64) if n else np.zeros(0, np.int64)
        if n and users.min() < 0:
            raise GraphValidationError("actions column 'user': negative user id")
        num_users = max(ev.num_users, int(users.max()) + 1 if n else 0)
    if n or num_users != ev.num_users:
        types = _codes(acts.item_type if n else None, ev.item_types, n, "item_type")
        item_ext = np.atleast_1d(np.asarray(acts.item)) if n else np.zeros(0, np.int64)
        items = np.zeros(n, dtype=np.int64)
        for code in np.unique(types):
            sel = types == code
            items[sel] = g.index_of(ev.item_types[code], item_ext[sel])
        ts = np.atleast_1d(np.asarray(acts.timestamp)).astype(np.int64) if n else np.zeros(0, np.int64)
        cols = {
            "item_type": types,
            "action": _codes(acts.action if n else None, ev.action_names, n, "action"),
            "surface": _codes(acts.surface if n else None, ev.surface_names, n, "surface"),
            "duration": np.zeros(n, np.float32) if not n or acts.duration is None
            else np.asarray(acts.duration, np.float32),
        }  # fmt: skip
        events = ev.merged(EventLog.from_arrays(
            users, items, ts, num_users=num_users, item_types=ev.item_types,
            action_names=ev.action_names, surface_names=ev.surface_names, **cols,
        ))  # fmt: skip
        cut = cut_time(dataset)
        times = np.r_[user_time, np.full(num_users - len(user_time), cut, np.int64)]
        np.maximum.at(times, users, ts + 1)
        changed_users = np.unique(users)
    out = GraphDataset(g, events, dataset.truth, dataset.meta)
    return Applied(ext, out, times, changed_users)


__all__ = [
    "Applied", "RunState", "apply_changes", "current_version", "embeddings_path", "open_state",
    "publish", "supersede_versions", "user_ids", "version_dir", "versions_dir",
]
