"""The run-directory lock, with real second processes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

import graphrep.utils.lock as lock_mod
from graphrep.errors import RunLockedError
from graphrep.utils.lock import LOCK_NAME, RunLock, holds_lock

HOLDER = """
import sys, time
from graphrep.utils.lock import RunLock
with RunLock(sys.argv[1], command="holder test"):
    print("locked", flush=True)
    sys.stdin.read()  # hold until the test closes stdin (or kills us)
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the lock of ``tmp_path / 'run'``; yields the process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(RunLockedError) as info, RunLock(tmp_path / "run"):
        pass
    msg = str(info.value)
    assert f"process {holder.pid}" in msg and "holder test" in msg and "run" in msg
    holder.stdin.close()  # the holder finishes and removes its lock file
    holder.wait(timeout=30)
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with RunLock(tmp_path / "run") as lock:
        assert lock.taken_over is None and holds_lock(tmp_path / "run")
    assert not holds_lock(tmp_path / "run")


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).exists()  # left behind by kill -9
    with pytest.warns(UserWarning, match=f"{holder.pid}.*no longer running"):
        lock = RunLock(tmp_path / "run")
        lock.acquire()
    assert lock.taken_over["pid"] == holder.pid
    record = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert record["pid"] == os.getpid()
    lock.release()
    assert os.listdir(tmp_path / "run") == []


def test_reentrant_and_a_failed_start_leaves_nothing(tmp_path):
    run = tmp_path / "new"
    with RunLock(run), RunLock(run):  # nested holds of one process do not deadlock
        assert (run / LOCK_NAME).exists()
    assert not run.exists()  # created by the lock, still empty: removed again
    run.mkdir()
    with RunLock(run):
        (run / "config.yaml").write_text("x")
    assert os.listdir(run) == ["config.yaml"]


def test_without_flock_the_record_decides(tmp_path, holder, monkeypatch):
    def no_flock(*a, **k):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock_mod.fcntl, "flock", no_flock)
    with pytest.raises(RunLockedError, match=f"process {holder.pid}"), RunLock(tmp_path / "run"):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with pytest.warns(UserWarning, match="no longer running"), RunLock(tmp_path / "run") as lock:
        assert lock.taken_over["pid"] == holder.pid
