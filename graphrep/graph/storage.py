"""Save / load a :class:`HeteroGraph` as ``.npy`` files + ``manifest.json``.

Layout (every array memory-mappable)::

    DIR/manifest.json
    DIR/nodes/<type>.ids.npy                       external ids (optional)
    DIR/relations/<i>/{indptr,indices}.npy         forward CSR of relation i
    DIR/relations/<i>/rev_{indptr,indices}.npy     its reverse
    DIR/relations/<i>/[rev_]edge.<name>.npy        per-edge arrays
    DIR/features/<type>/<name>.npy                 dense features
    DIR/features/<type>/<name>.{offsets,values}.npy  ragged token lists

``<type>`` and ``<name>`` are :func:`~graphrep.utils.safepath.safe_name` forms of
the user's names (``../x`` is stored as ``%2E%2E%2Fx``), and the manifest records
every file, so loading never depends on the encoding. Writes go to a temporary
directory renamed into place, so an interrupted save never leaves a half-written
graph where a complete one is expected. Loading validates everything the
samplers' kernels rely on (:mod:`graphrep.graph.validate`) before returning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from graphrep.errors import GraphFormatError, GraphrepError
from graphrep.graph.csr import CSR
from graphrep.graph.heterograph import HeteroGraph
from graphrep.graph.ragged import Ragged
from graphrep.utils.arrays import (
    manifest_field,
    read_array,
    read_manifest,
    write_array,
    write_manifest,
)
from graphrep.utils.atomic import atomic_dir
from graphrep.utils.safepath import safe_name

FORMAT = "graphrep.heterograph"
VERSION = 1


def _write_csr(root: Path, prefix: str, csr: CSR) -> dict[str, Any]:
    return {
        "indptr": write_array(root, f"{prefix}indptr.npy", csr.indptr),
        "indices": write_array(root, f"{prefix}indices.npy", csr.indices),
        "edge_data": {
            k: write_array(root, f"{prefix}edge.{safe_name(k, 'edge array name')}.npy", v)
            for k, v in csr.edge_data.items()
        },
    }


def write_graph_into(graph: HeteroGraph, root: Path) -> None:
    """Write ``graph`` into an existing (empty) directory ``root``; not atomic by itself."""
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "node_types": {}}
    for nt, n in graph.num_nodes.items():
        ids = graph.node_ids.get(nt)
        manifest["node_types"][nt] = {
            "count": n,
            "ids": None
            if ids is None
            else write_array(root, f"nodes/{safe_name(nt, 'node type')}.ids.npy", ids),
        }
    manifest["relations"] = []
    for i, et in enumerate(graph.canonical_edge_types):
        d = f"relations/{i}/"
        manifest["relations"].append(
            {
                "edge_type": list(et),
                "forward": _write_csr(root, d, graph.csr(et)),
                "reverse": _write_csr(root, d + "rev_", graph.csr(graph.reverse_of(et))),
            }
        )
    feats: dict[str, dict[str, Any]] = {}
    for nt, named in graph.features.items():
        for name, value in named.items():
            base = f"features/{safe_name(nt, 'node type')}/{safe_name(name, 'feature name')}"
            if isinstance(value, Ragged):
                entry = {
                    "kind": "ragged",
                    "offsets": write_array(root, base + ".offsets.npy", value.offsets),
                    "values": write_array(root, base + ".values.npy", value.values),
                }
            else:
                entry = {"kind": "dense", "array": write_array(root, base + ".npy", value)}
            feats.setdefault(nt, {})[name] = entry
    manifest["features"] = feats
    write_manifest(root, manifest)


def save_graph(graph: HeteroGraph, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Atomically save ``graph`` to directory ``path``.

    Args:
        graph: the graph.
        path: a new or empty directory, or (with ``overwrite``) one graphrep wrote.
        overwrite: replace an existing graphrep directory (see
            :func:`~graphrep.utils.atomic.atomic_dir`; files graphrep did not write
            are never deleted).
    """
    with atomic_dir(path, overwrite) as tmp:
        write_graph_into(graph, tmp)


def _read_csr(root: Path, entry: Any, num_dst: int, mmap: bool, what: str) -> CSR:
    if not isinstance(entry, dict) or not isinstance(entry.get("edge_data", {}), dict):
        raise GraphFormatError(f"{root / 'manifest.json'}: corrupt CSR entry for {what}")
    indptr = read_array(root, entry.get("indptr"), mmap, f"{what} indptr")
    indices = read_array(root, entry.get("indices"), mmap, f"{what} indices")
    data = {
        k: read_array(root, v, mmap, f"{what} edge array {k!r}")
        for k, v in entry.get("edge_data", {}).items()
    }
    return CSR(indptr, indices, num_dst, data)


def load_graph(path: str | os.PathLike, mmap: bool = True) -> HeteroGraph:
    """Load a graph saved by :func:`save_graph`.

    Args:
        path: the directory.
        mmap: map arrays read-only instead of reading them into memory (N
            processes then share one copy of the topology through the page cache).

    Raises:
        GraphFormatError: missing directory/file, corrupt manifest, or an array
            whose dtype/shape disagrees with the manifest.
    """
    root = Path(path)
    manifest = read_manifest(root, FORMAT)
    node_types = manifest_field(manifest, "node_types", dict, root)
    relations = manifest_field(manifest, "relations", list, root)
    features = manifest_field(manifest, "features", dict, root)
    try:
        num_nodes = {nt: int(v["count"]) for nt, v in node_types.items()}
        ids = {
            nt: read_array(root, v["ids"], mmap, f"external ids of {nt!r}")
            for nt, v in node_types.items()
            if v.get("ids") is not None
        }
        forward, reverse = {}, {}
        for rel in relations:
            et = tuple(rel["edge_type"])
            what = f"relation {et}"
            forward[et] = _read_csr(root, rel["forward"], num_nodes[et[2]], mmap, what)
            reverse[et] = _read_csr(
                root, rel["reverse"], num_nodes[et[0]], mmap, "reverse of " + what
            )
        feats: dict[str, dict[str, Any]] = {}
        for nt, named in features.items():
            for name, e in named.items():
                what = f"feature {name!r} of {nt!r}"
                if e["kind"] == "ragged":
                    value: Any = Ragged(
                        read_array(root, e["offsets"], mmap, what + " offsets"),
                        read_array(root, e["values"], mmap, what + " values"),
                    )
                else:
                    value = read_array(root, e["array"], mmap, what)
                feats.setdefault(nt, {})[name] = value
    except GraphrepError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        raise GraphFormatError(f"{root / 'manifest.json'}: corrupt manifest ({exc!r})") from exc
    try:
        return HeteroGraph(num_nodes, forward, node_ids=ids, features=feats, reverses=reverse)
    except GraphrepError as exc:
        raise GraphFormatError(f"{root}: saved graph is inconsistent: {exc}") from exc


def is_saved_graph(path: str | os.PathLike) -> bool:
    """True if ``path`` holds a graph manifest."""
    try:
        read_manifest(path, FORMAT)
    except GraphFormatError:
        return False
    return True


__all__ = ["is_saved_graph", "load_graph", "save_graph", "write_graph_into"]
