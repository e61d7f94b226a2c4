"""Reading torch-pickled numpy arrays without running arbitrary pickle code.

OGB ships its split files (``split/<name>/{train,valid,test}.pt``, ``split_dict.pt``) as
``torch.save`` pickles of numpy arrays (or dicts of them). Since torch 2.6
``torch.load`` defaults to ``weights_only=True``, which refuses the numpy globals in
those pickles. Instead of turning ``weights_only`` off (which would let a crafted file
run any code), :func:`load_numpy_pickle` keeps it on and allow-lists, only for the
duration of the call (:func:`torch.serialization.safe_globals` is a context manager), the
few constructors a pickled ``ndarray`` needs:

* ``numpy.core.multiarray._reconstruct`` (numpy 1 name) / ``numpy._core.multiarray._reconstruct``
* ``numpy.ndarray``, ``numpy.dtype`` and the concrete ``numpy.dtypes.*DType`` classes
* ``_codecs.encode`` and ``bytes`` (how numpy stores raw array bytes in protocol-2 pickles)

None of these executes user code; anything else in the file makes the load fail with a
:class:`~graphrep.errors.GraphFormatError` naming the file.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrep.errors import GraphFormatError

_RECONSTRUCT_NAMES = ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct")


def _safe_numpy_globals() -> list[Any]:
    """The allow-list of globals a pickled numpy array may reference."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    dtype_classes = [
        type(np.dtype(t)) for t in np.typecodes["All"] if t not in "OMm"  # no object/datetime
    ]
    return [
        *((_reconstruct, name) for name in _RECONSTRUCT_NAMES),
        np.ndarray,
        np.dtype,
        codecs.encode,
        bytes,  # empty arrays pickle their data as bytes()
        *dict.fromkeys(dtype_classes),
    ]


def load_numpy_pickle(path: str | os.PathLike) -> Any:
    """Load a ``torch.save`` file holding numpy arrays, tensors, or dicts/lists of them.

    Args:
        path: the ``.pt`` file.

    Returns:
        The stored object, with numpy arrays as numpy arrays and tensors as tensors.

    Raises:
        GraphFormatError: the file is missing, or cannot be read with ``weights_only=True``
            and the numpy allow-list above (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise GraphFormatError(f"split file {str(path)!r} does not exist")
    try:
        with torch.serialization.safe_globals(_safe_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError... all mean "unreadable"
        raise GraphFormatError(
            f"cannot read {str(path)!r} as a torch file of numpy arrays with weights_only=True "
            f"(only numpy array globals are allowed; arbitrary pickles are refused): "
            f"{_reason(exc)}"
        ) from exc


def _reason(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    picked = [ln for ln in lines if "WeightsUnpickler error" in ln or "Unsupported" in ln]
    return (picked or lines or [type(exc).__name__])[0][:300]


def as_int64(value: Any, what: str) -> np.ndarray:
    """A tensor / array of ids as a contiguous ``int64`` numpy array."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            return np.ascontiguousarray(arr, dtype=np.int64)
        raise GraphFormatError(f"{what}: expected integer ids, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def default_cache_dir(name: str) -> Path:
    """``~/.cache/graphrep/<name>`` (``$XDG_CACHE_HOME`` respected)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphrep" / name
