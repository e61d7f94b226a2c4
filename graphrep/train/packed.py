r"""A model ``state_dict`` packed into one flat tensor per dtype, for checkpoints that load fast.

``torch.load(weights_only=True)`` rebuilds every tensor of a checkpoint through a
Python unpickler, about 0.1 ms each: the ~190 tensors of an OmniSage model took
22 ms to read, against 4 ms for the same numbers in one tensor. A checkpoint
therefore stores its ``model`` entry as ``model_packed``:

* ``data``: dtype name -> a 1-D tensor holding every entry of that dtype, back to back;
* ``names`` and ``dtypes``: the entries' names and dtype names, each joined by ``"\n"``
  into one string, in state-dict order;
* ``meta``: ``int64 [n, 2]`` offset into its dtype's data and number of dimensions of
  every entry, and ``shapes``: their dimensions back to back. Entries that are the same
  tensor (tied weights, such as the one text embedder every encoder shares) are stored
  once and point at the same offset.

(Strings and tensors rather than a list per entry: the unpickler's cost is per object.)
It is still a plain dict of tensors and strings, so ``torch.load(...,
weights_only=True)`` reads it; :func:`unpack_state` turns it back into a state dict of
views into ``data`` (validated: known dtypes, offsets and shapes inside the data),
which :meth:`torch.nn.Module.load_state_dict` copies from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from graphrep.errors import GraphFormatError

PACKED_KEY = "model_packed"  #: The checkpoint entry of a packed ``model`` state dict.
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool)}  # fmt: skip


def pack_state(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """``state`` (a ``state_dict``) packed as the module docstring says; tensors are copied
    to CPU."""
    parts: dict[str, list[Tensor]] = {}
    sizes: dict[str, int] = {}
    seen: dict[tuple, int] = {}
    names, dtypes, offsets, shapes = [], [], [], []
    for name, t in state.items():
        if not isinstance(t, Tensor) or not isinstance(name, str) or "\n" in name:
            raise TypeError(f"pack_state: entry {name!r} must be a tensor named without newlines")
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            raise TypeError(f"pack_state: entry {name!r} has dtype {t.dtype}, not one of {sorted(_DTYPES)}")
        key = (t.device, t.data_ptr(), dtype, tuple(t.shape), t.stride()) if t.numel() else None
        if key in seen:  # the same tensor again (tied weights)
            off = seen[key]
        else:
            off = sizes.get(dtype, 0)
            parts.setdefault(dtype, []).append(t.detach().reshape(-1).cpu())
            sizes[dtype] = off + t.numel()
            if key is not None:
                seen[key] = off
        names.append(name)
        dtypes.append(dtype)
        offsets.append((off, t.dim()))
        shapes.extend(t.shape)
    return {"data": {d: torch.cat(p) if len(p) > 1 else p[0].clone() for d, p in parts.items()},
            "names": "\n".join(names), "dtypes": "\n".join(dtypes),
            "meta": torch.tensor(offsets, dtype=torch.int64).reshape(-1, 2),
            "shapes": torch.tensor(shapes, dtype=torch.int64)}  # fmt: skip


def unpack_state(packed: Any, where: str) -> dict[str, Tensor]:
    """The state dict of :func:`pack_state`'s output, as views into its data.

    Raises:
        GraphFormatError: ``packed`` is not such a dict, or an entry names an unknown dtype
            or lies outside the data (naming ``where``, e.g. the checkpoint file).
    """
    def bad(msg: str) -> GraphFormatError:
        return GraphFormatError(f"{where}: packed model weights are invalid: {msg}")

    fields = {"data": dict, "names": str, "dtypes": str, "meta": Tensor, "shapes": Tensor}
    if not isinstance(packed, dict) or any(not isinstance(packed.get(k), c) for k, c in fields.items()):
        raise bad(f"expected a dict with {', '.join(fields)}")
    data = packed["data"]
    for dtype, flat in data.items():
        if dtype not in _DTYPES or not isinstance(flat, Tensor) or flat.dim() != 1 \
                or flat.dtype != _DTYPES[dtype]:  # fmt: skip
            raise bad(f"data entry {dtype!r} is not a 1-D tensor of that dtype")
    names = packed["names"].split("\n") if packed["names"] else []
    dtypes = packed["dtypes"].split("\n") if packed["dtypes"] else []
    meta, dims = packed["meta"], packed["shapes"]
    if meta.dtype != torch.int64 or dims.dtype != torch.int64 or dims.dim() != 1 \
            or tuple(meta.shape) != (len(names), 2) or len(dtypes) != len(names):  # fmt: skip
        raise bad(f"{len(names)} names, {len(dtypes)} dtypes, meta {tuple(meta.shape)}: "
                  "expected one dtype and one [offset, ndim] row per name")  # fmt: skip
    if len(set(names)) != len(names):
        raise bad("an entry name appears twice")
    rows, dims = meta.tolist(), dims.tolist()
    if sum(nd for _, nd in rows) != len(dims) or any(off < 0 or nd < 0 for off, nd in rows) \
            or any(d < 0 for d in dims):  # fmt: skip
        raise bad("negative offsets or dimensions, or shapes that do not add up")
    out: dict[str, Tensor] = {}
    at = 0
    for name, dtype, (off, nd) in zip(names, dtypes, rows, strict=True):
        shape, at = dims[at : at + nd], at + nd
        if dtype not in data:
            raise bad(f"entry {name!r} has dtype {dtype!r}, which has no data")
        if off + math.prod(shape) > len(data[dtype]):
            raise bad(f"entry {name!r} ({dtype} {shape} at {off}) lies past the end of its data "
                      f"({len(data[dtype])} values)")  # fmt: skip
        out[name] = data[dtype][off : off + math.prod(shape)].view(shape)
    return out


__all__ = ["PACKED_KEY", "pack_state", "unpack_state"]
