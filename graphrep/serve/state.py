"""What the service serves: one embeddings version (vectors, search indexes, encoder), swapped
atomically when a refresh publishes a new one.

A request reads ``VersionHolder.current`` once and uses that :class:`Served` to the
end, so a swap never drops or mixes requests: in-flight ones finish on the old version
(its memory maps stay open until the last reference goes), new ones get the new one. A
watcher thread polls ``RUN/versions/CURRENT`` and loads the new version *before*
swapping, so the service never waits for a load.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.embed import ann
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import current_version, embeddings_path
from graphrep.train.rundir import RunDir

log = logging.getLogger("graphrep.serve")


@dataclass
class Served:
    """One loaded version: vectors, per-type search (``exact`` or an HNSW index), encoder."""

    version: int
    embeddings: Embeddings
    indexes: dict[str, Any]
    encoder: Any | None

    def search_kind(self, entity_type: str) -> str:
        return "hnsw" if entity_type in self.indexes else "exact"


DEFAULT_EF_SEARCH = 128
"""HNSW search breadth of ``graphrep serve``. With the default preset's learned pin norms,
pin recall@10 against exact search is 0.96-0.97 at 128 (0.93-0.96 at 32) and ``/neighbors``
still serves ~1,800 requests/s with p99 under 10 ms on 2 cores (docs/benchmarks.md)."""


def load_version(run: RunDir, version: int, exact_max: int, with_encoder: bool,
                 ef_search: int = DEFAULT_EF_SEARCH) -> Served:
    """Load ``version`` of ``run``: types over ``exact_max`` rows are searched with HNSW (the
    stored index when it is one, else built here), visiting ``ef_search`` candidates
    (:data:`DEFAULT_EF_SEARCH`)."""
    emb = Embeddings.load(embeddings_path(run, version))
    indexes = {}
    for t in emb.types:
        if emb.count(t) <= exact_max:
            continue
        if emb.index_kinds.get(t) == "hnsw":
            index = emb.faiss_index(t)
        else:
            index = ann.build_index(emb.vectors(t), "hnsw", ef_search=ef_search)
        index.hnsw.efSearch = ef_search
        indexes[t] = index
    encoder = None
    if with_encoder and run.model_path.is_file():
        from graphrep.embed.encode import Encoder

        encoder = Encoder.from_run(run.path)
        if encoder.embeddings is None or encoder.embeddings.path != emb.path:
            encoder.embeddings = emb
    return Served(version, emb, indexes, encoder)


class VersionHolder:
    """The served version and the watcher that swaps in newly published ones.

    Args:
        run: a run directory (or a bare embeddings directory: served as version 0, no
            encoder, no reload).
        exact_max: exact search up to this many rows of a target type, HNSW above.
        with_encoder: load the run's model for ``/encode``.
        poll_s: how often the watcher checks for a new version.
        ef_search: HNSW search breadth (see :func:`load_version`).
    """

    def __init__(self, run: str | os.PathLike, exact_max: int = 10_000, with_encoder: bool = True,
                 poll_s: float = 0.5, ef_search: int = DEFAULT_EF_SEARCH) -> None:
        self.path = Path(run)
        self.run = RunDir(self.path)
        self.is_run = self.run.config_path.is_file()
        self.exact_max, self.with_encoder, self.poll_s = exact_max, with_encoder, poll_s
        self.ef_search = ef_search
        self.current = self._load(self._version())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _version(self) -> int:
        return current_version(self.run) if self.is_run else 0

    def _load(self, version: int) -> Served:
        if not self.is_run:
            emb = Embeddings.load(self.path)
            served = Served(0, emb, {}, None)
            for t in emb.types:
                if emb.count(t) > self.exact_max:
                    served.indexes[t] = ann.build_index(emb.vectors(t), "hnsw", ef_search=self.ef_search)
            return served
        return load_version(self.run, version, self.exact_max, self.with_encoder, self.ef_search)

    def check(self) -> bool:
        """Swap in the published version if it is newer; returns whether it swapped."""
        v = self._version()
        if v == self.current.version:
            return False
        served = self._load(v)
        self.current = served  # one reference assignment: atomic for readers
        log.info("serving embeddings version %d", v)
        return True

    def start(self) -> None:
        if self._thread is None and self.is_run:
            self._thread = threading.Thread(target=self._watch, name="graphrep-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:  # a half-published or broken version: keep serving the old one
                log.exception("could not load the new embeddings version; still serving %d",
                              self.current.version)


def as_ids(values: list[Any], store_ids: np.ndarray) -> np.ndarray:
    """Request ids in the store's id dtype (JSON numbers or strings)."""
    if store_ids.dtype.kind == "U":
        return np.array([str(v) for v in values])
    out = []
    for v in values:
        if isinstance(v, str):
            try:
                v = int(v)
            except ValueError:
                raise KeyError(v) from None
        out.append(v)
    return np.array(out, dtype=np.int64)
