"""``GraphDataset``: a graph plus its EventLog and ground truth, saved as one directory.

Layout::

    DIR/manifest.json     format "graphrep.dataset", JSON metadata, truth array entries
    DIR/graph/            a saved HeteroGraph (see graphrep.graph.storage)
    DIR/events/           a saved EventLog (optional)
    DIR/truth/<name>.npy  ground-truth arrays (topics, held-out pairs...; ``<name>`` in
                          its :func:`~graphrep.utils.safepath.safe_name` form)

A plain saved graph directory is accepted by :meth:`GraphDataset.load` too.
Loading validates the graph and the event log (item ids against the graph's
node counts) before returning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.errors import GraphFormatError
from graphrep.graph.eventlog import EventLog
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.storage import is_saved_graph, load_graph, write_graph_into
from graphrep.utils.arrays import (
    manifest_field,
    read_array,
    read_manifest,
    write_array,
    write_manifest,
)
from graphrep.utils.atomic import atomic_dir
from graphrep.utils.safepath import safe_name

FORMAT = "graphrep.dataset"


@dataclass(eq=False)
class GraphDataset:
    """A graph with what is known about it.

    Args:
        graph: the heterogeneous graph (training edges only for held-out data).
        events: user actions over time (history and future window), if any.
        truth: named ground-truth arrays (e.g. ``pin_topic``, ``heldout_query_pin``).
        meta: JSON-serialisable metadata (name, preset, seed, ``cut_time``...).
    """

    graph: HeteroGraph
    events: EventLog | None = None
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Atomically write the whole bundle to ``path``: a new or empty directory, or with
        ``overwrite`` one graphrep wrote (files graphrep did not write are never deleted)."""
        with atomic_dir(path, overwrite) as tmp:
            (tmp / "graph").mkdir()
            write_graph_into(self.graph, tmp / "graph")
            if self.events is not None:
                (tmp / "events").mkdir()
                self.events.write_into(tmp / "events")
            manifest = {
                "format": FORMAT,
                "version": 1,
                "meta": self.meta,
                "has_events": self.events is not None,
                "truth": {
                    k: write_array(tmp, f"truth/{safe_name(k, 'ground-truth name')}.npy", v)
                    for k, v in self.truth.items()
                },
            }
            write_manifest(tmp, manifest)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> GraphDataset:
        """Load a bundle written by :meth:`save`, or a bare saved graph directory."""
        root = Path(path)
        if is_saved_graph(root):
            return cls(load_graph(root, mmap=mmap))
        manifest = read_manifest(root, FORMAT)
        truth_entries = manifest_field(manifest, "truth", dict, root)
        meta = manifest_field(manifest, "meta", dict, root)
        if not (root / "graph").is_dir():
            raise GraphFormatError(f"{root / 'graph'}: missing graph directory of the dataset")
        graph = load_graph(root / "graph", mmap=mmap)
        events = (
            EventLog.load(root / "events", mmap=mmap, num_items=graph.num_nodes)
            if manifest.get("has_events")
            else None
        )
        truth = {
            k: read_array(root, v, mmap, f"ground truth {k!r}") for k, v in truth_entries.items()
        }
        return cls(graph, events, truth, meta)
