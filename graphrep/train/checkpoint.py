"""Atomic, ``weights_only``-loadable checkpoints of a training run.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts --
``model`` and ``optimizer``/``scheduler`` state dicts, ``step``, the torch RNG
state, the model's ``hparams`` and the resolved config -- so that
``torch.load(path, weights_only=True)`` reads it (no unpickling of arbitrary
objects). The ``model`` state dict is stored packed, one flat tensor per dtype
(:mod:`graphrep.train.packed`); :func:`load_checkpoint` gives it back as a state
dict (and reads checkpoints written unpacked too). Files are written to a temporary name and renamed
(:func:`graphrep.utils.atomic.atomic_file`): a kill during the write leaves the
previous checkpoint intact. ``step_<N>.pt`` files are kept ``keep`` deep. A
write that fails (full disk, no permission) raises
:class:`~graphrep.errors.WriteError` naming the file. :func:`resume_state` picks
the newest checkpoint that loads and belongs to the run's config, saying which
newer files it skipped and why.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from graphrep.errors import ConfigError, GraphFormatError, WriteError
from graphrep.train.packed import PACKED_KEY, pack_state, unpack_state
from graphrep.utils.atomic import atomic_file, write_error

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


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically.

    Raises:
        WriteError: the write failed; torch's zip writer reports a full disk as a
            ``RuntimeError``, mapped here too.
    """
    if isinstance(state.get("model"), dict):  # one tensor per dtype: reads ~5x faster
        state = {**{k: v for k, v in state.items() if k != "model"},
                 PACKED_KEY: pack_state(state["model"])}  # fmt: skip
    try:
        with atomic_file(path) as f:
            torch.save(state, f)
    except WriteError:
        raise
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, OSError):
            raise write_error(exc, path) from exc
        raise WriteError(
            f"cannot write {str(path)!r}: {str(exc).splitlines()[0][:200]}; check that the disk "
            "has free space and is writable, then run again (--resume continues from the last "
            "checkpoint)"
        ) from exc


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` (must hold ``"step"``) atomically and prune all but the last ``keep``."""
    path = checkpoint_path(directory, int(state["step"]))
    save_state(path, state)
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
    if isinstance(state, dict) and PACKED_KEY in state:
        state["model"] = unpack_state(state.pop(PACKED_KEY), f"checkpoint {str(p)!r}")
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise GraphFormatError(f"checkpoint {str(p)!r} lacks the 'model'/'step' entries")
    return state


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint in ``directory`` (``None`` when there is none)."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def resume_state(directory: str | os.PathLike, digest: str) -> tuple[dict[str, Any], Path] | None:
    """The newest intact checkpoint of the run whose config hashes to ``digest``.

    Newer checkpoints that do not load (truncated, corrupt) are skipped with a
    warning naming each file and why; ``None`` when there is no checkpoint.

    Raises:
        GraphFormatError: checkpoints exist but none of them loads.
        ConfigError: the newest intact checkpoint was written with another config
            (e.g. ``config.yaml`` was edited: another ``model.dim``).
    """
    found = list_checkpoints(directory)
    skipped = []
    for _, path in reversed(found):
        try:
            state = load_checkpoint(path)
        except GraphFormatError as exc:
            skipped.append(f"{path.name} ({exc})")
            continue
        if skipped:
            warnings.warn(
                f"resuming from {str(path)!r}; skipped newer checkpoint(s) that do not load: "
                + "; ".join(skipped), stacklevel=2,
            )
        check_digest(state, path, digest)
        return state, path
    if found:
        raise GraphFormatError(
            f"no checkpoint in {str(directory)!r} loads: " + "; ".join(skipped)
        )
    return None


def check_digest(state: dict[str, Any], path: str | os.PathLike, digest: str) -> None:
    """Raise :class:`ConfigError` if checkpoint ``state`` (read from ``path``) was written
    with a config whose digest is not ``digest``."""
    if state.get("digest", digest) != digest:
        raise ConfigError(
            f"checkpoint {str(path)!r} was written with another config (digest "
            f"{state.get('digest')}, the run's config.yaml gives {digest}); restore the "
            "run's original config.yaml, or train into a new --out"
        )


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: str | os.PathLike,
                 optimizer: Any = None, assign: bool = False) -> None:
    """Load checkpoint ``state`` into ``model`` (and ``optimizer``, with its schedule, and
    the torch RNG when an optimizer is given). ``assign``: the model's tensors become the
    state's (no copy; for a model only used for inference, loaded from a state read just
    for it).

    Raises:
        GraphFormatError: the state does not fit (missing keys, other tensor sizes),
            naming the file.
    """
    try:
        model.load_state_dict(state["model"], assign=assign)
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()[:200]
        raise GraphFormatError(
            f"checkpoint {str(path)!r} does not fit this run's model ({reason}); it was written "
            "by another config or graphrep version: train into a new --out"
        ) from None
