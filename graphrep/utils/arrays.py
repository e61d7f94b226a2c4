"""A directory of ``.npy`` arrays described by a JSON manifest.

``.npy`` (never pickle: ``allow_pickle=False``) keeps every array loadable
memory-mapped; the manifest records each file's dtype and shape so a truncated
or swapped file is reported by name instead of producing a wrong answer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from graphrep.errors import GraphFormatError


def write_array(root: Path, rel: str, array: np.ndarray) -> dict[str, Any]:
    """Write ``array`` to ``root/rel`` and return its manifest entry."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(array)
    if arr.dtype == object:
        raise GraphFormatError(f"{rel}: object arrays cannot be stored without pickle")
    np.save(path, arr, allow_pickle=False)
    return {"file": rel, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def read_array(root: Path, entry: Any, mmap: bool, what: str) -> np.ndarray:
    """Read one array described by a manifest entry, checking dtype and shape."""
    if not isinstance(entry, dict) or not {"file", "dtype", "shape"} <= set(entry):
        raise GraphFormatError(f"{root / 'manifest.json'}: corrupt entry for {what}: {entry!r}")
    path = root / entry["file"]
    if not path.is_file():
        raise GraphFormatError(f"{path}: missing file for {what} (the directory is incomplete)")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise GraphFormatError(f"{path}: unreadable array for {what}: {exc}") from exc
    if arr.dtype.str != entry["dtype"] or list(arr.shape) != list(entry["shape"]):
        raise GraphFormatError(
            f"{path}: {what} has dtype {arr.dtype.str} shape {list(arr.shape)}, manifest expects "
            f"dtype {entry['dtype']} shape {entry['shape']}"
        )
    return arr


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    with open(root / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)


def read_manifest(root: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Parse ``root/manifest.json`` and check its ``format`` field."""
    root = Path(root)
    path = root / "manifest.json"
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
            f"{where / 'manifest.json'}: corrupt manifest, field {key!r} should be "
            f"{kind.__name__}, got {type(value).__name__}"
        )
    return value
