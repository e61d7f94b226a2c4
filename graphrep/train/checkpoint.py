"""Atomic, ``weights_only``-loadable checkpoints of a training run.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts --
``model`` and ``optimizer``/``scheduler`` state dicts, ``step``, the torch RNG
state, the model's ``hparams`` and the resolved config -- so that
``torch.load(path, weights_only=True)`` reads it (no unpickling of arbitrary
objects). Files are written to a temporary name and renamed
(:func:`graphrep.utils.atomic.atomic_file`): a kill during the write leaves the
previous checkpoint intact. ``step_<N>.pt`` files are kept ``keep`` deep.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from graphrep.errors import GraphFormatError
from graphrep.utils.atomic import atomic_file

_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``directory/step_<step>.pt`` (zero-padded so names sort by step)."""
    return Path(directory) / f"step_{step:09d}.pt"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint in ``directory``, oldest first."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` (must hold ``"step"``) atomically and prune all but the last ``keep``."""
    path = checkpoint_path(directory, int(state["step"]))
    with atomic_file(path) as f:
        torch.save(state, f)
    for _, old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` on CPU.

    Raises:
        GraphFormatError: missing, truncated or not a graphrep checkpoint (names the file).
    """
    p = Path(path)
    if not p.is_file():
        raise GraphFormatError(f"checkpoint {str(p)!r} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError/UnpicklingError/EOFError variously
        raise GraphFormatError(
            f"checkpoint {str(p)!r} is corrupt or not a weights-only graphrep checkpoint: {exc}"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise GraphFormatError(f"checkpoint {str(p)!r} lacks the 'model'/'step' entries")
    return state


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint in ``directory`` (``None`` when there is none)."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None
