"""Writing the ``Embeddings`` store: :class:`EmbeddingWriter`, atomic and streamed.

The on-disk layout is described in :mod:`graphrep.embed.store` (which reads it).
Vectors stream to disk chunk by chunk: each ``vectors.npy`` is appended in place
(numpy reserves header room for the growing first axis) so an export never holds all
vectors in memory. Everything is built in a temporary directory renamed into place on
success, so a crash leaves no half-written store.

``int8`` uses symmetric per-row (absmax) quantisation, dequantised on read:

.. math::
    s_i = \\max_j |x_{ij}| / 127, \\qquad q_{ij} = \\mathrm{round}(x_{ij} / s_i),
    \\qquad \\hat{x}_{ij} = s_i \\, q_{ij}, \\qquad |\\hat{x}_{ij} - x_{ij}| \\le s_i / 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

import graphrep
from graphrep.errors import ConfigError, GraphFormatError, ShapeError
from graphrep.graph.validate import check_external_ids
from graphrep.utils.arrays import write_array, write_manifest
from graphrep.utils.atomic import atomic_dir
from graphrep.utils.safepath import resolve_inside, safe_name

FORMAT = "graphrep.embeddings"
VERSION = 1
DTYPES = ("float32", "float16", "int8")
CHUNK_ROWS = 65536  # rows per block when streaming or scanning a store


class _NpyAppender:
    """A ``.npy`` file grown in place; the header is rewritten with the final row count."""

    def __init__(self, root: Path, rel: str, dtype: str, row_shape: tuple[int, ...]) -> None:
        self.rel, self.dtype, self.row_shape, self.rows = rel, np.dtype(dtype), row_shape, 0
        path = resolve_inside(root, rel, f"writing into {str(root)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "wb")  # closed in finish() / _close_files()
        self.header_len = self._header()

    def _header(self) -> int:
        self.f.seek(0)
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": (self.rows, *self.row_shape)}
        np.lib.format.write_array_header_1_0(self.f, d)
        return self.f.tell()

    def append(self, arr: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
        self.rows += len(arr)

    def finish(self) -> dict[str, Any]:
        if self._header() != self.header_len:  # pragma: no cover - > 10**21 rows
            raise GraphFormatError(f"{self.rel}: .npy header grew while appending")
        self.f.close()
        return {"file": self.rel, "dtype": self.dtype.str, "shape": [self.rows, *self.row_shape]}


class EmbeddingWriter:
    """Context manager writing an embeddings directory atomically.

    Args:
        path: destination directory (appears only when the ``with`` block succeeds).
        dim: vector length.
        dtype: on-disk dtype, ``"float32"``, ``"float16"`` or ``"int8"`` (per-row scaled).
        meta: JSON-serialisable caller metadata (config hash, model name, ...).
        overwrite: replace an existing embeddings directory graphrep wrote (see
            :func:`~graphrep.utils.atomic.atomic_dir`); else only a missing or empty
            ``path`` is written.
        base: a delta store's ``base`` manifest entry (:func:`graphrep.embed.delta.base_entry`):
            the rows written are then overlaid on that store when read.

    Every store gets a random ``uid`` in its manifest (a delta names its base by it).

    Use as ``with EmbeddingWriter(p, 128, "int8") as w: w.add("pin", vecs, ids)``.
    """

    def __init__(self, path: str | os.PathLike, dim: int, dtype: str = "float32",
                 meta: dict | None = None, overwrite: bool = False,
                 base: dict[str, str] | None = None) -> None:
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise ConfigError(f"dim={dim!r}: expected a positive integer")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype={dtype!r}: expected one of {DTYPES}")
        try:
            json.dumps(meta or {})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"meta: must be JSON-serialisable ({exc})") from exc
        self.path, self.dim, self.dtype, self.meta = Path(path), int(dim), dtype, dict(meta or {})
        self.overwrite, self._cm, self._types, self.base = overwrite, None, {}, base

    def __enter__(self) -> EmbeddingWriter:
        self._cm = atomic_dir(self.path, self.overwrite)
        self._root = self._cm.__enter__()
        return self

    def add(self, entity_type: str, vectors: np.ndarray, ids: np.ndarray | None = None,
            rows: dict[str, np.ndarray] | None = None) -> None:
        """Append ``vectors`` ``[n, dim]`` (and their external ``ids``, default a running
        ``arange``) to ``entity_type``; call repeatedly to stream chunks. ``rows`` holds
        per-row arrays ``[n, ...]`` stored beside the vectors (the same names every call)."""
        if self._cm is None:
            raise ConfigError("EmbeddingWriter.add: use the writer inside a `with` block")
        if not (isinstance(entity_type, str) and entity_type):
            raise ConfigError(f"entity type {entity_type!r}: expected a non-empty string")
        x = np.asarray(vectors)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"vectors of {entity_type!r}: expected shape [n, {self.dim}], "
                             f"got {x.shape}")
        x = x.astype(np.float32, copy=False)
        st = self._types.get(entity_type) or self._open(entity_type)
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if len(bad):
            raise ShapeError(f"vectors of {entity_type!r}: row {st['vec'].rows + bad[0]} is not "
                             "finite (NaN or inf)")
        if ids is None:
            ids = np.arange(st["vec"].rows, st["vec"].rows + len(x), dtype=np.int64)
        elif np.ndim(ids) != 1 or len(ids) != len(x):
            raise ShapeError(f"ids of {entity_type!r}: expected {len(x)} ids (one per vector), "
                             f"got shape {np.shape(ids)}")
        ids = check_external_ids(ids, len(x), f"ids of {entity_type!r}")
        kind = "str" if ids.dtype.kind == "U" else "int"
        if st["id_kind"] not in (None, kind):
            raise ShapeError(f"ids of {entity_type!r}: got {kind} ids after {st['id_kind']} ids")
        st["id_kind"] = kind
        self._add_rows(entity_type, st, dict(rows or {}), len(x))
        st["ids"].append(ids)
        if self.dtype == "int8":
            amax = np.abs(x).max(axis=1)
            scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            st["vec"].append(np.clip(np.rint(x / scale[:, None]), -127, 127))
            st["scales"].append(scale)
        else:
            st["vec"].append(x)

    def _add_rows(self, t: str, st: dict[str, Any], rows: dict[str, np.ndarray], n: int) -> None:
        if st["vec"].rows and set(rows) != set(st["rows"]):
            raise ShapeError(f"rows of {t!r}: got arrays {sorted(rows)} after {sorted(st['rows'])}")
        for name, arr in rows.items():
            arr = np.asarray(arr)
            if arr.ndim < 1 or len(arr) != n:
                raise ShapeError(f"rows[{name!r}] of {t!r}: expected a named array with {n} rows, "
                                 f"got shape {arr.shape}")
            if name not in st["rows"]:
                st["rows"][name] = _NpyAppender(
                    self._root, f"{st['dir']}/rows/{safe_name(name, 'row array')}.npy",
                    arr.dtype.str, arr.shape[1:])
            app = st["rows"][name]
            if arr.shape[1:] != app.row_shape:
                raise ShapeError(f"rows[{name!r}] of {t!r}: row shape {arr.shape[1:]} after "
                                 f"{app.row_shape}")
            app.append(arr)

    def _open(self, t: str) -> dict[str, Any]:
        d = safe_name(t, "entity type")
        vec = _NpyAppender(self._root, f"{d}/vectors.npy", self.dtype, (self.dim,))
        st: dict[str, Any] = {"vec": vec, "ids": [], "id_kind": None, "rows": {}, "dir": d}
        if self.dtype == "int8":
            st["scales"] = _NpyAppender(self._root, f"{d}/scales.npy", "float32", ())
        self._types[t] = st
        return st

    def _finish(self) -> None:
        types = {}
        for t, st in self._types.items():
            n = st["vec"].rows
            ids = np.concatenate(st["ids"]) if st["ids"] else np.zeros(0, np.int64)
            ids = check_external_ids(ids, n, f"ids of {t!r}")  # unique across chunks
            types[t] = {"count": n, "id_kind": st["id_kind"] or "int",
                        "vectors": st["vec"].finish(),
                        "scales": st["scales"].finish() if "scales" in st else None,
                        "rows": {k: a.finish() for k, a in st["rows"].items()},
                        "ids": write_array(self._root, f"{st['dir']}/ids.npy", ids)}
        manifest = {"format": FORMAT, "version": VERSION, "dim": self.dim, "dtype": self.dtype,
                    "graphrep_version": graphrep.__version__, "uid": os.urandom(8).hex(),
                    "meta": self.meta, "types": types, "indexes": {}}
        if self.base is not None:
            manifest["base"] = dict(self.base)
        write_manifest(self._root, manifest)

    def __exit__(self, *exc: Any) -> None:
        cm, self._cm = self._cm, None
        try:
            if exc[0] is None and cm is not None:
                self._finish()
        except BaseException:
            exc = sys.exc_info()
            raise
        finally:
            for st in self._types.values():
                for x in [*st.values(), *st["rows"].values()]:
                    if hasattr(x, "f"):
                        x.f.close()
            if cm is not None:
                cm.__exit__(*exc)  # renames into place, or removes the temporary dir


__all__ = ["CHUNK_ROWS", "DTYPES", "FORMAT", "VERSION", "EmbeddingWriter"]
