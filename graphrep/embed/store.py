"""The ``Embeddings`` store: per-type vectors with external ids, written atomically.

Layout (every array a memory-mappable ``.npy``, never pickle)::

    DIR/manifest.json               format "graphrep.embeddings", version 1, dim, dtype,
                                    meta, graphrep_version, per type: count, id_kind, files
    DIR/<type>/vectors.npy          [n, dim] float32 | float16 | int8
    DIR/<type>/scales.npy           [n] float32 per-row scales (int8 only)
    DIR/<type>/ids.npy              [n] external ids (int64 or unicode)
    DIR/<type>/rows/<name>.npy      optional per-row arrays [n, ...] (e.g. the sampled
                                    neighbourhoods an incremental refresh compares against)
    DIR/index_<type>.faiss          optional faiss index (:meth:`Embeddings.build_indexes`;
                                    a flat index has no file: it is the vectors)

A manifest with a ``base`` entry is a *delta store*: its rows are overlaid on a full base
store when loaded (:mod:`graphrep.embed.delta`; an incremental refresh writes its
versions so).

(``<type>`` in its :func:`~graphrep.utils.safepath.safe_name` form; the manifest
records every file.) :meth:`Embeddings.load` refuses file entries outside the
directory, non-finite vectors or scales, and duplicate external ids.

``int8`` rows are per-row absmax-quantised and dequantised on read; the writer
(:class:`~graphrep.embed.writer.EmbeddingWriter`, re-exported here) streams vectors to disk
and builds the directory atomically (see :mod:`graphrep.embed.writer`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.embed import ann, delta, views
from graphrep.embed.writer import CHUNK_ROWS, DTYPES, FORMAT, VERSION, EmbeddingWriter
from graphrep.errors import ConfigError, GraphFormatError, GraphrepError, SchemaError
from graphrep.graph.validate import check_external_ids
from graphrep.utils.arrays import (
    manifest_field,
    read_array,
    read_manifest,
)
from graphrep.utils.safepath import resolve_inside

_CHUNK = CHUNK_ROWS


def _check_loaded(root: Path, t: str, a: dict[str, np.ndarray]) -> None:
    """Finite vectors (and int8 scales), unique external ids; chunked to bound memory."""
    for name in ("vec", "scales"):
        x = a.get(name)
        if x is None or x.dtype.kind != "f":
            continue
        for lo in range(0, len(x), _CHUNK):
            block = np.asarray(x[lo : lo + _CHUNK])
            finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
            if not finite.all():
                what = "vector" if name == "vec" else "scale"
                raise GraphFormatError(f"{root}: {what} of {t!r} row {lo + int(np.argmin(finite))} "
                                       "is not finite (NaN or inf); re-export the embeddings")
    if a.get("scales") is not None and len(a["scales"]) != len(a["ids"]):
        raise GraphFormatError(f"{root}: scales of {t!r} disagree with its count")
    try:
        check_external_ids(a["ids"], len(a["ids"]), f"{root}: ids of {t!r}")
    except GraphrepError as exc:
        raise GraphFormatError(str(exc)) from None


@dataclass(frozen=True)
class NeighborResult:
    """Top-``k`` neighbours: external ``ids`` ``[m, k]``, target ``rows`` ``[m, k]`` and
    ``scores`` ``[m, k]`` (inner products for exact search), best first."""

    ids: np.ndarray
    rows: np.ndarray
    scores: np.ndarray


class Embeddings:
    """A saved embeddings directory (see the module docstring); use :meth:`load`."""

    def __init__(self, root: Path, manifest: dict[str, Any], arrays: dict[str, dict],
                 base: Embeddings | None = None, overlaid: dict[str, np.ndarray] | None = None) -> None:
        self.path, self._manifest, self._arrays = root, manifest, arrays
        self._base, self._overlaid = base, overlaid or {}
        self._sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> row indexes
        self._faiss: dict[str, Any] = {}

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> Embeddings:
        """Open ``path`` (memory-mapped by default).

        Raises:
            GraphFormatError: missing directory, missing/corrupt manifest, wrong format
                or version, or a missing/inconsistent array file.
        """
        root = Path(path)
        m = read_manifest(root, FORMAT)
        if m.get("version") != VERSION or m.get("dtype") not in DTYPES:
            raise GraphFormatError(f"{root / 'manifest.json'}: unsupported version/dtype "
                                   f"{m.get('version')!r}/{m.get('dtype')!r}, expected "
                                   f"{VERSION}/one of {DTYPES}")
        dim = manifest_field(m, "dim", int, root)
        manifest_field(m, "meta", dict, root)
        m.setdefault("indexes", {})
        arrays: dict[str, dict] = {}
        try:
            for t, e in manifest_field(m, "types", dict, root).items():
                a = {"vec": read_array(root, e["vectors"], mmap, f"vectors of {t!r}"),
                     "ids": read_array(root, e["ids"], mmap, f"ids of {t!r}")}
                if m["dtype"] == "int8":
                    a["scales"] = read_array(root, e["scales"], mmap, f"scales of {t!r}")
                n = int(e["count"])
                if a["vec"].shape != (n, dim) or a["ids"].shape != (n,):
                    raise GraphFormatError(f"{root}: arrays of {t!r} disagree with count {n}")
                _check_loaded(root, t, a)
                a["rows"] = {k: read_array(root, v, mmap, f"rows {k!r} of {t!r}")
                             for k, v in e.get("rows", {}).items()}  # fmt: skip
                if any(len(v) != n for v in a["rows"].values()):
                    raise GraphFormatError(f"{root}: a per-row array of {t!r} has not {n} rows")
                arrays[t] = a
            for t, e in m["indexes"].items():
                where = f"{root / 'manifest.json'} (faiss index of {t!r})"
                if e["file"] is None:  # a flat index: built from the vectors when used
                    if e["kind"] != "flat" or t not in arrays:
                        raise GraphFormatError(f"{where}: a {e['kind']!r} index needs a file")
                elif not resolve_inside(root, e["file"], where).is_file():
                    raise GraphFormatError(f"{root / e['file']}: missing faiss index of {t!r}")
        except GraphrepError:
            raise
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise GraphFormatError(f"{root / 'manifest.json'}: corrupt manifest ({exc!r})") from exc
        base_path = delta.base_root(root, m)
        if base_path is None:
            return cls(root, m, arrays)
        base = cls.load(base_path, mmap)
        delta.check_base(root, m, base_path, base._manifest, base._arrays)
        arrays, overlaid = delta.overlay(root, base._arrays, arrays, base.find_rows)
        return cls(root, m, arrays, base, overlaid)

    @classmethod
    def written(cls, path: str | os.PathLike, arrays: dict[str, dict[str, Any]],
                base: Embeddings | None = None, overlaid: dict[str, np.ndarray] | None = None
                ) -> Embeddings:
        """The float32 store just written to ``path``, its arrays (``{type: {"vec", "ids",
        "rows"}}``, every row of the version) given from memory instead of read back (for a
        delta store: its ``base`` and, per type, the rows it ``overlaid`` on it)."""
        root = Path(path)
        m = read_manifest(root, FORMAT)
        m.setdefault("indexes", {})
        if m["dtype"] != "float32" or list(m["types"]) != list(arrays):
            raise ConfigError(f"{root}: Embeddings.written needs the float32 arrays of types "
                              f"{list(m['types'])}, got {m['dtype']} and {list(arrays)}")
        return cls(root, m, arrays, base, overlaid)

    types = property(lambda self: list(self._arrays), doc="Entity types, in write order.")
    dim = property(lambda self: int(self._manifest["dim"]), doc="Vector length.")
    dtype = property(lambda self: str(self._manifest["dtype"]), doc="On-disk dtype.")
    meta = property(lambda self: dict(self._manifest["meta"]), doc="Caller metadata.")

    @property
    def uid(self) -> str | None:
        """The store's random id (``None`` for a store written before graphrep recorded one)."""
        return self._manifest.get("uid")

    @property
    def base(self) -> Embeddings | None:
        """The full store a delta store is overlaid on (``None`` for a full store)."""
        return self._base

    def delta_rows(self, entity_type: str) -> np.ndarray:
        """Rows of ``entity_type`` a delta store wrote over its base (empty for a full store)."""
        self._get(entity_type)
        return self._overlaid.get(entity_type, np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        """Total number of vectors over all types."""
        return sum(len(a["ids"]) for a in self._arrays.values())

    def _get(self, t: str) -> dict[str, np.ndarray]:
        if t not in self._arrays:
            raise SchemaError(f"unknown entity type {t!r}; stored types: {self.types}")
        return self._arrays[t]

    def count(self, entity_type: str) -> int:
        """Number of vectors of ``entity_type``."""
        return len(self._get(entity_type)["ids"])

    def ids(self, entity_type: str) -> np.ndarray:
        """External ids ``[n]`` (int64 or str) of ``entity_type``, in row order."""
        return self._get(entity_type)["ids"]

    def row_arrays(self, entity_type: str) -> dict[str, np.ndarray]:
        """The per-row arrays stored beside ``entity_type``'s vectors (name -> ``[n, ...]``)."""
        return dict(self._get(entity_type)["rows"])

    def _rows(self, t: str, rows: Any) -> np.ndarray:
        a = self._get(t)
        if "scales" not in a:
            return np.asarray(a["vec"][rows], dtype=np.float32)
        return a["vec"][rows].astype(np.float32) * a["scales"][rows][:, None]

    def vectors(self, entity_type: str) -> np.ndarray:
        """``[n, dim]`` float32 vectors: the memory map for float32 stores, else dequantised."""
        a = self._get(entity_type)
        if a["vec"].dtype == np.float32:
            return a["vec"]
        return self._rows(entity_type, slice(None))

    def find_rows(self, entity_type: str, external_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """(rows ``[m]``, found ``[m]``) of ``external_ids``; a row is meaningless where not found."""
        ids = self.ids(entity_type)
        if entity_type not in self._sorted:
            order = np.argsort(ids, kind="stable")
            self._sorted[entity_type] = (order, ids[order])
        order, sorted_ids = self._sorted[entity_type]
        q = np.atleast_1d(np.asarray(external_ids))
        if ids.dtype.kind == "U":
            q = q.astype(str)
        elif q.dtype.kind not in "iu" and q.size:
            raise SchemaError(f"ids of {entity_type!r} are integers; got {q.dtype} ids {q[:5]}")
        pos = np.minimum(np.searchsorted(sorted_ids, q), max(len(ids) - 1, 0))
        found = sorted_ids[pos] == q if len(ids) else np.zeros(q.shape, bool)
        return (order[pos] if len(ids) else np.zeros(q.shape, np.int64)).astype(np.int64), found

    def index_of(self, entity_type: str, external_ids: Any) -> np.ndarray:
        """Rows ``[m]`` of ``external_ids``; :class:`SchemaError` names any unknown id."""
        rows, found = self.find_rows(entity_type, external_ids)
        if not found.all():
            q = np.atleast_1d(np.asarray(external_ids))
            bad = q[~found]
            raise SchemaError(f"unknown external id(s) {bad[:5].tolist()} for entity type "
                              f"{entity_type!r} ({len(bad)} of {len(q)} missing)")
        return rows

    def vectors_at(self, entity_type: str, rows: Any) -> np.ndarray:
        """float32 vectors of rows ``rows`` (indexes or a slice), dequantised."""
        return self._rows(entity_type, rows)

    def lookup(self, entity_type: str, external_ids: Any) -> np.ndarray:
        """float32 vectors ``[m, dim]`` of ``external_ids``."""
        return self._rows(entity_type, self.index_of(entity_type, external_ids))

    def neighbors(self, query_type: str, query_ids: Any, k: int = 10,
                  target_type: str | None = None, exclude_self: bool = True,
                  index: str = "exact") -> NeighborResult:
        """Top-``k`` ``target_type`` entities (default ``query_type``) for each query id.

        Scores are inner products. ``exclude_self`` drops the query itself when both
        types are equal. ``index="faiss"`` uses the index from :meth:`build_indexes`.
        ``k`` is capped at the number of candidates.
        """
        target = query_type if target_type is None else target_type
        rows = self.index_of(query_type, query_ids)
        exclude = rows if exclude_self and target == query_type else None
        return self._search(self._rows(query_type, rows), target, k, index, exclude)

    def neighbors_of_vectors(self, vectors: np.ndarray, k: int, target_type: str,
                             index: str = "exact") -> NeighborResult:
        """Top-``k`` ``target_type`` entities for arbitrary ``[m, dim]`` query vectors."""
        return self._search(vectors, target_type, k, index, None)

    def _search(self, q: Any, t: str, k: int, index: str, exclude: np.ndarray | None
                ) -> NeighborResult:
        if index not in ("exact", "faiss"):
            raise ConfigError(f"index={index!r}: expected 'exact' or 'faiss'")
        faiss_index = self._faiss_index(t) if index == "faiss" else None
        scores, rows = ann.top_k(q, self.count(t), lambda a, b: self._rows(t, slice(a, b)), k,
                                 faiss_index, exclude, _CHUNK)
        ids = self.ids(t)[np.maximum(rows, 0)]
        ids[rows < 0] = "" if ids.dtype.kind == "U" else -1
        return NeighborResult(ids=ids, rows=rows, scores=scores)

    @property
    def index_kinds(self) -> dict[str, str]:
        """Entity type -> kind of its stored faiss index (``flat``, ``hnsw``, ``ivf``)."""
        return {t: str(e["kind"]) for t, e in self._manifest["indexes"].items()}

    def faiss_index(self, entity_type: str) -> Any:
        """The stored faiss index of ``entity_type`` (loaded once)."""
        return self._faiss_index(entity_type)

    def _faiss_index(self, t: str) -> Any:
        self._get(t)  # an unknown type raises SchemaError
        if t not in self._faiss:
            entry = self._manifest.get("indexes", {}).get(t) or {}
            rows = self.vectors(t) if "file" in entry and entry["file"] is None else None
            self._faiss[t] = ann.load_store_index(self.path, self._manifest, t, rows)
        return self._faiss[t]

    def build_indexes(self, kinds: dict[str, str], metric: str = "ip", **params: Any) -> None:
        """Build ``{type: "flat"|"hnsw"|"ivf"}`` faiss indexes into the directory: each
        ``index_<type>.faiss`` is written atomically (a flat index has no file: it is the
        vectors), then all are recorded in the manifest (replaced atomically, once);
        ``params`` go to :func:`graphrep.embed.ann.build_index`."""
        for t, kind in kinds.items():
            self._faiss[t] = ann.build_store_index(self.path, self._manifest, t, self.vectors(t),
                                                   kind, metric, publish=False, **params)
        ann.publish_manifest(self.path, self._manifest)

    to_numpy = vectors

    def to_torch(self, entity_type: str) -> Any:
        """float32 ``torch.Tensor`` ``[n, dim]`` (a copy-on-write map for float32 stores)."""
        return views.to_torch(self.vectors(entity_type))

    def to_pandas(self, entity_type: str) -> Any:
        """``DataFrame`` with ``id`` and ``vector`` (one float32 array per row) columns."""
        return views.to_pandas(self.ids(entity_type), self.vectors(entity_type))

    def to_parquet(self, entity_type: str, path: str | os.PathLike) -> None:
        """Write ``id`` + ``vector`` (``fixed_size_list<float32>``) Parquet atomically."""
        views.write_parquet(path, self.ids(entity_type), self.dim,
                            lambda a, b: self._rows(entity_type, slice(a, b)), _CHUNK)


__all__ = ["DTYPES", "EmbeddingWriter", "Embeddings", "NeighborResult"]
