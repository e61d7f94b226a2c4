r"""Delta stores: an embeddings version written as the rows that differ from a base store.

An incremental refresh re-encodes a few percent of the rows; writing every version in
full rewrites the whole store (28 MB on the default synthetic graph, 10 GB for 10 M
256-d float32 pins). A *delta store* is an ordinary embeddings store
(:mod:`graphrep.embed.store`) holding only the entities whose rows may differ from a
full *base* store -- the rows re-encoded since the base and the new entities -- with
the base recorded in its manifest::

    "base": {"path": "../../../embeddings", "uid": "<the base store's uid>"}

``path`` is relative to the delta's directory; ``uid`` is the random id
:class:`~graphrep.embed.writer.EmbeddingWriter` gives every store it writes.
:meth:`Embeddings.load <graphrep.embed.store.Embeddings.load>` opens the base, which must
be a full store of the same ``dim``, ``dtype`` and entity types, refuses it when its
``uid`` differs (a re-export replaced it: the delta's other rows would be another model's
vectors), and overlays the delta per type: a delta row whose external id the base holds
replaces that row, the others are appended in the delta's order (new entities only ever
append, so a row keeps its position across versions). Types without delta rows stay the
base's memory maps; the others are copied into memory once.

A version on top of a delta version is again a delta on the same base (the union of the
parent's delta rows and the rows re-encoded now), so reading any version opens at most
two stores. When that union exceeds a share of all rows, the refresh writes the version
in full instead and it becomes the base of the next ones (:func:`delta_rows`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.errors import GraphFormatError
from graphrep.utils.arrays import read_manifest

_FIELDS = ("vec", "scales")


def base_entry(base_root: Path, base_uid: str, delta_root: Path) -> dict[str, str]:
    """The manifest's ``base`` entry of a delta written into ``delta_root`` (its final
    place or a sibling temporary directory at the same depth) on the store at ``base_root``."""
    return {"path": os.path.relpath(base_root, delta_root), "uid": str(base_uid)}


def base_root(root: Path, manifest: dict[str, Any]) -> Path | None:
    """The base directory a delta store's manifest names (``None`` for a full store); a base
    that is itself a delta is refused before it is read (so no chain or cycle is followed)."""
    entry = manifest.get("base")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
            or not isinstance(entry.get("uid"), str):  # fmt: skip
        raise GraphFormatError(f"{root / 'manifest.json'}: corrupt 'base' entry {entry!r}; "
                               "expected {'path': str, 'uid': str}")
    base = (root / entry["path"]).resolve()
    if read_manifest(base, "graphrep.embeddings").get("base") is not None:  # no chains, no cycles
        raise GraphFormatError(f"{root}: a delta on {base}, which is itself a delta (a base must "
                               "be a full store)")
    return base


def check_base(root: Path, manifest: dict[str, Any], base_path: Path, base_manifest: dict[str, Any],
               base_arrays: dict[str, dict]) -> None:
    """The base is the full store the delta was written against, with its types."""
    where = f"{root}: a delta on {base_path}"
    if base_manifest.get("uid") != manifest["base"]["uid"]:
        raise GraphFormatError(f"{where}, which was re-written since (store uid "
                               f"{base_manifest.get('uid')!r}, expected {manifest['base']['uid']!r}): "
                               "its other rows would be another export's. Versions refreshed on "
                               "a previous export cannot be read on a new one (`graphrep embed "
                               "RUN` moves them to RUN/versions.superseded-K); apply their "
                               "changes again (RUN/versions/*/changes)")
    for key in ("dim", "dtype"):
        if base_manifest.get(key) != manifest.get(key):
            raise GraphFormatError(f"{where}: {key} {manifest.get(key)!r} differs from the "
                                   f"base's {base_manifest.get(key)!r}")
    if list(base_arrays) != list(manifest["types"]):
        raise GraphFormatError(f"{where}: entity types {list(manifest['types'])} differ from "
                               f"the base's {list(base_arrays)}")


def overlay(root: Path, base: dict[str, dict], delta: dict[str, dict],
            find_rows: Callable[[str, np.ndarray], tuple[np.ndarray, np.ndarray]]
            ) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """(the version's arrays, per type the rows the delta wrote) from the ``base`` and
    ``delta`` arrays (``{type: {"vec", "ids", ["scales"], "rows"}}`` as the store reads them);
    ``find_rows(type, ids)`` gives the base's (rows, found) of external ids."""
    out, overlaid = {}, {}
    for t, b in base.items():
        d = delta[t]
        if set(d["rows"]) != set(b["rows"]):
            raise GraphFormatError(f"{root}: per-row arrays of {t!r} {sorted(d['rows'])} differ "
                                   f"from the base's {sorted(b['rows'])}")
        n_delta = len(d["ids"])
        if not n_delta:
            out[t], overlaid[t] = b, np.zeros(0, dtype=np.int64)
            continue
        if d["ids"].dtype.kind != b["ids"].dtype.kind:
            raise GraphFormatError(f"{root}: ids of {t!r}: {d['ids'].dtype} ids on a base with "
                                   f"{b['ids'].dtype} ids")
        rows, found = find_rows(t, d["ids"])
        new = ~found  # appended in the delta's order
        pos = np.where(found, rows, len(b["ids"]) + np.cumsum(new) - 1).astype(np.int64)
        n = len(b["ids"]) + int(new.sum())
        a: dict[str, Any] = {"ids": np.concatenate([b["ids"], d["ids"][new]]), "rows": {}}
        for key in _FIELDS:
            if key in b:
                a[key] = _scatter(b[key], d[key], pos, n)
        for k, v in b["rows"].items():
            a["rows"][k] = _scatter(v, d["rows"][k], pos, n)
        out[t], overlaid[t] = a, np.sort(pos)
    return out, overlaid


def _scatter(base: np.ndarray, rows: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    if rows.shape[1:] != base.shape[1:] or rows.dtype != base.dtype:
        raise GraphFormatError(f"delta rows {rows.dtype}{list(rows.shape[1:])} do not match the "
                               f"base's {base.dtype}{list(base.shape[1:])}")
    out = np.empty((n, *base.shape[1:]), dtype=base.dtype)
    out[: len(base)] = base
    out[pos] = rows
    return out


def delta_rows(parent: dict[str, np.ndarray], encoded: dict[str, np.ndarray],
               n_base: dict[str, int], n_new: dict[str, int]) -> dict[str, np.ndarray]:
    """Rows of each type a delta on the base must hold: those the parent's delta wrote
    (``parent``; empty when the parent is the base), those re-encoded now and the new ones."""
    return {t: np.union1d(np.union1d(parent.get(t, np.zeros(0, np.int64)),
                                     encoded.get(t, np.zeros(0, np.int64))),
                          np.arange(n_base[t], n_new[t], dtype=np.int64)).astype(np.int64)
            for t in n_new}  # fmt: skip


__all__ = ["base_entry", "base_root", "check_base", "delta_rows", "overlay"]
