"""Safe paths: user names become safe file names; manifest entries stay inside their directory.

Node types, feature names and column names are chosen by users (or by whoever
wrote a file we are asked to read) and become file names on save. On the way
out, :func:`safe_name` maps any name to one path component that cannot climb
out of, or hide in, its directory: letters, digits, ``_`` and ``-`` are kept,
every other character (``/``, ``.``, ``%``, spaces, non-ASCII...) becomes
``%XX`` of its UTF-8 bytes. The mapping is injective (``%`` itself is encoded),
so two names never share a file, and a fixed suffix such as ``.offsets.npy``
can never be produced by a name (``.`` is always encoded).

On the way in, :func:`resolve_inside` turns a manifest's relative file entry into
a path, refusing absolute paths, ``..``, and anything that resolves -- through
symbolic links too -- outside the manifest's directory, with an
:class:`~graphrep.errors.UnsafePathError` naming the manifest and the entry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from graphrep.errors import GraphValidationError, UnsafePathError

MAX_NAME_BYTES = 200  #: Leaves room for suffixes under the usual 255-byte name limit.
_KEEP = re.compile(r"[A-Za-z0-9_\-]")
_UTF8 = "surrogatepass"  # lone surrogates (undecodable file names) still encode


def safe_name(name: Any, what: str) -> str:
    """``name`` as one safe path component (see the module docstring).

    Args:
        name: a user-chosen name (node type, feature, column...).
        what: what the name is, for messages (e.g. ``"feature name of node type 'pin'"``).

    Raises:
        GraphValidationError: ``name`` is not a non-empty string, or its safe form is
            longer than :data:`MAX_NAME_BYTES` bytes.
    """
    if not isinstance(name, str) or not name:
        raise GraphValidationError(f"{what} {name!r}: expected a non-empty string")
    out = "".join(
        ch if _KEEP.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8", _UTF8))
        for ch in name
    )
    if len(out) > MAX_NAME_BYTES:
        raise GraphValidationError(
            f"{what} {name[:40]!r}...: too long to be a file name ({len(out)} bytes once "
            f"encoded, at most {MAX_NAME_BYTES}); choose a shorter name"
        )
    return out


def resolve_inside(root: str | os.PathLike, rel: Any, where: str) -> Path:
    """The path of manifest entry ``rel`` under ``root``, refused if it could leave ``root``.

    Args:
        root: the directory the entry is relative to.
        rel: the entry (a relative POSIX path such as ``"relations/0/indptr.npy"``).
        where: what holds the entry, for messages (e.g. the manifest path and field).

    Raises:
        UnsafePathError: ``rel`` is not a non-empty relative path string, contains
            ``..`` or a NUL byte, or resolves (following symbolic links) outside ``root``.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"{where}: file entry {rel!r} is not a relative path string")
    parts = PurePosixPath(rel)
    if parts.is_absolute() or ".." in parts.parts or rel.startswith("~"):
        raise UnsafePathError(
            f"{where}: file entry {rel!r} points outside its directory (absolute or '..'); "
            "graphrep only reads files inside the directory it was given"
        )
    base = os.path.realpath(root)  # string operations: a manifest has many entries
    real = os.path.realpath(os.path.join(base, *parts.parts))
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"{where}: file entry {rel!r} resolves to {real!r}, outside {base!r} "
            "(a symbolic link?); graphrep only reads files inside the directory it was given"
        )
    return Path(root).joinpath(*parts.parts)


__all__ = ["MAX_NAME_BYTES", "resolve_inside", "safe_name"]
