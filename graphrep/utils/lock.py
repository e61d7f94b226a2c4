"""One writer per run directory: an exclusive lock file held with ``flock``.

``RUN/.graphrep.lock`` is locked with :func:`fcntl.flock` (``LOCK_EX | LOCK_NB``)
for as long as a command writes the run (``train``, ``embed``, ``eval``), and
holds a JSON record of the holder (pid, host, command, start time). A second
writer fails at once with :class:`~graphrep.errors.RunLockedError` naming that
process. The kernel drops an ``flock`` when its process dies, so a lock left by
a killed process (``kill -9``, a crash, a lost node) is taken over by the next
writer, which says so. On file systems without ``flock`` the record alone
decides: a record whose process is no longer alive on this host is stale.

The file is removed on release (after checking, on acquire, that the locked file
is still the one at the path, so two processes can never both hold it). The lock
is re-entrant within a process, so library calls that lock the directory they
write (``Trainer.fit``, ``export_run``, ``evaluate_run``) nest without deadlock.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from graphrep.errors import RunLockedError
from graphrep.utils.atomic import write_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid record alone decides
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".graphrep.lock"
_HELD: dict[Path, list[Any]] = {}  # resolved directory -> [lock, depth]
_REGISTRY = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return True
    return True


def _read_record(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another process (its lock record is unreadable)"
    return (
        f"process {record.get('pid')} on {record.get('host')} "
        f"({record.get('command')!s}, since {record.get('since')})"
    )


class RunLock:
    """Exclusive, re-entrant lock of one run directory (see the module docstring).

    Args:
        directory: the run directory (created if missing; removed again on release if
            this lock created it and it is still empty, so a failed start leaves nothing).
        command: what holds the lock, for other writers' messages (default: the
            command line).

    Use as ``with RunLock(run_dir): ...``.

    Raises:
        RunLockedError: another live process holds the lock (on entry).
        WriteError: the directory or lock file cannot be created.
    """

    def __init__(self, directory: str | os.PathLike, command: str | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        argv0 = Path(sys.argv[0])  # `python -m graphrep ...` runs graphrep/__main__.py
        prog = argv0.parent.name if argv0.name == "__main__.py" else argv0.name
        self.command = command or " ".join([prog, *sys.argv[1:]])[:200]
        self.taken_over: dict[str, Any] | None = None
        self._fd: int | None = None
        self._created = False
        self._key: Path | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock (or join this process's hold of it)."""
        try:
            self._created = not self.directory.exists()
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, self.directory) from exc
        key = self.directory.resolve()
        with _REGISTRY:
            held = _HELD.get(key)
            if held is not None:
                held[1] += 1
                self._key = key
                return
            self._fd = self._lock_file()
            self._key = key
            _HELD[key] = [self, 1]

    def _lock_file(self) -> int:
        for _ in range(100):  # retried only while other processes release at the same time
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise write_error(exc, self.path) from exc
            try:
                locked = self._flock(fd)
                previous = _read_record(fd)
                if not locked and previous and self._held_by_other(previous):
                    raise RunLockedError(self._message(previous))
                try:
                    st, now = os.fstat(fd), os.stat(self.path)
                except FileNotFoundError:
                    os.close(fd)
                    continue  # the holder removed the file as we locked it
                if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
                    os.close(fd)
                    continue
                if previous and previous.get("pid") != os.getpid():
                    self.taken_over = previous
                    warnings.warn(
                        f"{self.path}: taking over the lock left by {_describe(previous)}, "
                        "which is no longer running", stacklevel=4,
                    )
                self._write_record(fd)
                return fd
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
        raise RunLockedError(f"{self.path}: could not take the lock (it keeps changing hands)")

    def _flock(self, fd: int) -> bool:
        """``True`` once ``flock`` holds; ``False`` where the file system has no ``flock``."""
        if fcntl is None:  # pragma: no cover
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(self._message(_read_record(fd))) from None
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return False
            raise write_error(exc, self.path) from exc
        return True

    @staticmethod
    def _held_by_other(record: dict[str, Any]) -> bool:
        """Without ``flock``: does the record name a live process other than this one?"""
        pid = record.get("pid")
        if record.get("host") != socket.gethostname():
            return True  # cannot tell whether it lives; assume it does
        return isinstance(pid, int) and pid != os.getpid() and _alive(pid)

    def _message(self, record: dict[str, Any] | None) -> str:
        return (
            f"run directory {str(self.directory)!r} is being written by {_describe(record)}; "
            "only one graphrep process may write a run directory at a time. Wait for it to "
            f"finish (or stop it) and run the command again; the lock is {str(self.path)!r}"
        )

    def _write_record(self, fd: int) -> None:
        record = {
            "pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
        }  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)

    def release(self) -> None:
        """Drop this hold; the last one removes the lock file and unlocks."""
        key, self._key = self._key, None
        if key is None:
            return
        with _REGISTRY:
            held = _HELD[key]
            held[1] -= 1
            if held[1] > 0:
                return
            del _HELD[key]
            owner: RunLock = held[0]
        with contextlib.suppress(OSError):
            os.unlink(owner.path)  # still locked: nobody can take the old inode
        if owner._fd is not None:
            os.close(owner._fd)
            owner._fd = None
        if owner._created:
            with contextlib.suppress(OSError):
                owner.directory.rmdir()  # only succeeds while empty: a failed start


def holds_lock(directory: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``directory``."""
    with _REGISTRY:
        return Path(directory).resolve() in _HELD


__all__ = ["LOCK_NAME", "RunLock", "holds_lock"]
