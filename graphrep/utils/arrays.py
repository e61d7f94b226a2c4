"""A directory of ``.npy`` arrays described by a JSON manifest.

``.npy`` (never pickle: ``allow_pickle=False``) keeps every array loadable
memory-mapped; the manifest records each file's dtype and shape so a truncated
or swapped file is reported by name instead of producing a wrong answer. Every
file entry goes through :func:`~graphrep.utils.safepath.resolve_inside`, so no
manifest can make a reader (graph, dataset truth, event log, embeddings) open a
file outside its directory. :func:`foreign_files` lists what a directory holds
beyond what its manifests name: the files graphrep would not own if asked to
replace it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.errors import GraphFormatError
from graphrep.utils.safepath import resolve_inside

MANIFEST = "manifest.json"


def write_array(root: Path, rel: str, array: np.ndarray) -> dict[str, Any]:
    """Write ``array`` to ``root/rel`` and return its manifest entry.

    ``rel`` is built by the caller from :func:`~graphrep.utils.safepath.safe_name`
    components; it is checked to stay inside ``root`` all the same.
    """
    path = resolve_inside(root, rel, f"writing into {str(root)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(array)
    if arr.dtype == object:
        raise GraphFormatError(f"{rel}: object arrays cannot be stored without pickle")
    np.save(path, arr, allow_pickle=False)
    return {"file": rel, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def read_array(root: Path, entry: Any, mmap: bool, what: str) -> np.ndarray:
    """Read one array described by a manifest entry, checking dtype and shape."""
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if (
        not isinstance(entry, dict)
        or "file" not in entry
        or not isinstance(entry.get("dtype"), str)
        or not isinstance(shape, list)
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape)
    ):
        raise GraphFormatError(f"{root / MANIFEST}: corrupt entry for {what}: {entry!r}")
    path = resolve_inside(root, entry["file"], f"{root / MANIFEST} ({what})")
    if not path.is_file():
        raise GraphFormatError(f"{path}: missing file for {what} (the directory is incomplete)")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # a corrupt header raises ValueError, EOFError, TokenError...
        raise GraphFormatError(f"{path}: unreadable array for {what}: {exc!r}") from exc
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise GraphFormatError(f"{path}: {what} is not a single .npy array")
    if arr.dtype.str != entry["dtype"] or list(arr.shape) != list(entry["shape"]):
        raise GraphFormatError(
            f"{path}: {what} has dtype {arr.dtype.str} shape {list(arr.shape)}, manifest expects "
            f"dtype {entry['dtype']} shape {entry['shape']}"
        )
    return arr


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    with open(root / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)


def _file_entries(node: Any) -> list[str]:
    """Every ``"file"`` string of a manifest (any depth)."""
    if isinstance(node, dict):
        found = [node["file"]] if isinstance(node.get("file"), str) else []
        return found + [f for v in node.values() for f in _file_entries(v)]
    if isinstance(node, list):
        return [f for v in node for f in _file_entries(v)]
    return []


def foreign_files(root: str | os.PathLike) -> list[Path] | None:
    """Files under ``root`` that no graphrep manifest under ``root`` names.

    Returns:
        ``None`` if ``root`` has no graphrep manifest (graphrep did not write it);
        else the paths (sorted; symbolic links count as foreign) that replacing
        ``root`` would delete although graphrep did not write them.
    """
    root = Path(root)
    owned: set[Path] = set()
    for manifest in sorted(root.rglob(MANIFEST)):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        fmt = data.get("format") if isinstance(data, dict) else None
        if not (isinstance(fmt, str) and fmt.startswith("graphrep.")):
            continue
        owned.add(manifest)
        for rel in _file_entries(data):
            owned.add(manifest.parent / rel)
    if root / MANIFEST not in owned:
        return None
    found = [p for p in root.rglob("*") if p.is_symlink() or (p.is_file() and p not in owned)]
    return sorted(found)


def read_manifest(root: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Parse ``root/manifest.json`` and check its ``format`` field."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise GraphFormatError(f"{root}: no such directory (expected a saved {expected_format})")
    if not path.is_file():
        raise GraphFormatError(f"{path}: missing manifest (is {root} a saved {expected_format}?)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GraphFormatError(f"{path}: corrupt manifest, not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise GraphFormatError(f"{path}: expected format {expected_format!r}, found {got!r}")
    return manifest


def manifest_field(manifest: dict[str, Any], key: str, kind: type, where: Path) -> Any:
    """``manifest[key]`` checked to be of type ``kind`` (else a clear format error)."""
    value = manifest.get(key)
    if not isinstance(value, kind):
        raise GraphFormatError(
            f"{where / MANIFEST}: corrupt manifest, field {key!r} should be "
            f"{kind.__name__}, got {type(value).__name__}"
        )
    return value
