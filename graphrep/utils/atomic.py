"""Atomic writes: a reader sees the old content or the new one, never half of one.

Files are written to a temporary sibling and moved into place with
:func:`os.replace`; directories are built in a temporary sibling directory and
swapped in by rename, so a crash (or ``kill -9``) mid-write leaves the previous
version intact and at most a ``.<name>.tmp-*`` directory behind.

graphrep never deletes what it did not write: :func:`atomic_dir` refuses an
existing non-empty target unless ``overwrite`` is set *and* the target is a
directory graphrep wrote (a graphrep manifest is there) holding no file its
manifests do not name (:func:`~graphrep.utils.arrays.foreign_files`). A failed
write (no permission, read-only or full disk) raises
:class:`~graphrep.errors.WriteError` naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from graphrep.errors import GraphrepError, OutputExistsError, WriteError
from graphrep.utils.arrays import foreign_files

_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space and run the command again",
    errno.EDQUOT: "the disk quota is exceeded; free some space and run the command again",
    errno.EACCES: "no permission to write there; choose a writable location",
    errno.EPERM: "no permission to write there; choose a writable location",
    errno.EROFS: "the file system is read-only; choose a writable location",
}


def write_error(exc: OSError, path: str | os.PathLike) -> WriteError:
    """A :class:`WriteError` for ``exc`` raised while writing ``path`` (what to do included)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    advice = _ADVICE.get(exc.errno or 0, "check that the location is writable and has free space")
    return WriteError(f"cannot write {str(path)!r}: {reason}; {advice}")


def _is_write_failure(exc: BaseException) -> bool:
    """An ``OSError`` that means "cannot write here" (not one from reading some input)."""
    return (
        isinstance(exc, OSError) and not isinstance(exc, GraphrepError) and exc.errno in _ADVICE
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file that replaces ``path`` when the block exits cleanly.

    Args:
        path: Final location of the file.
        mode: ``"wb"`` or ``"w"``.

    Yields:
        The open temporary file object.

    Raises:
        WriteError: the file could not be written (an ``OSError`` of the write).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from exc
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if _is_write_failure(exc):
            raise write_error(exc, path) from exc
        raise


def check_replaceable(path: str | os.PathLike, overwrite: bool) -> None:
    """Raise unless writing directory ``path`` deletes nothing graphrep did not write.

    Allowed: ``path`` does not exist, is an empty directory, or (with ``overwrite``)
    is a directory graphrep wrote holding only files its manifests name.

    Raises:
        OutputExistsError: naming ``path`` (and the first foreign file) and what to do.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or not path.is_dir():
        raise OutputExistsError(
            f"{str(path)!r} exists and is not a directory; graphrep will not replace it. "
            "Choose another output path"
        )
    if not any(path.iterdir()):
        return
    foreign = foreign_files(path)
    if foreign is None:
        raise OutputExistsError(
            f"{str(path)!r} exists, is not empty and was not written by graphrep (no graphrep "
            "manifest.json); graphrep never deletes files it did not write. Choose a new or "
            "empty output directory"
        )
    if not overwrite:
        raise OutputExistsError(
            f"{str(path)!r} already holds graphrep output; pass --overwrite (overwrite=True) "
            "to replace it, or choose another output directory"
        )
    if foreign:
        raise OutputExistsError(
            f"{str(path)!r} holds {len(foreign)} file(s) graphrep did not write (e.g. "
            f"{str(foreign[0])!r}); graphrep never deletes files it did not write. Move them "
            "away or choose another output directory"
        )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to ``path`` on success.

    Args:
        path: Final directory.
        overwrite: Replace an existing ``path`` that graphrep wrote (see
            :func:`check_replaceable`); without it only a missing or empty ``path``
            is written.

    Yields:
        The temporary directory to write into.

    Raises:
        OutputExistsError: ``path`` may not be replaced (checked before and after the block).
        WriteError: the directory could not be written.
    """
    path = Path(path)
    check_replaceable(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as exc:
        raise write_error(exc, path) from exc
    try:
        yield tmp
        check_replaceable(path, overwrite)  # nobody put files there meanwhile
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_write_failure(exc):
            raise write_error(exc, path) from exc
        raise
