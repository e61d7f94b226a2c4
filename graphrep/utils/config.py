"""One mapping between typed dataclass configs and plain dicts / YAML.

A config is a tree of ``@dataclass`` instances whose fields are annotated with
``int``, ``float``, ``bool``, ``str``, ``X | None``, ``list[X]``, ``dict[str, X]``
or another config dataclass. :func:`from_dict` builds the tree from a mapping
(e.g. ``yaml.safe_load`` output) and rejects unknown keys, wrongly typed and
non-finite (NaN, inf) values with a :class:`~graphrep.errors.ConfigError` that
names the dotted field (``train.lr``); :func:`to_dict` is its inverse;
:func:`apply_overrides` applies ``a.b.c=value`` strings (values parsed as YAML
scalars), as CLI flags do.
Dataclasses validate their own ranges in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from graphrep.errors import ConfigError
from graphrep.utils.atomic import atomic_file

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked/converted to the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"config field {where!r} must not be null")
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _convert(a, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"config field {where!r}: {errors}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if origin in (list, Sequence):
        (item,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ConfigError(f"config field {where!r} must be a list, got {value!r}")
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping):
        key_t, val_t = typing.get_args(tp) or (str, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(f"config field {where!r} must be a mapping, got {value!r}")
        return {_convert(key_t, k, where): _convert(val_t, v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config field {where!r} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config field {where!r} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config field {where!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"config field {where!r} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config field {where!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config field {where!r}: unsupported annotation {_type_name(tp)}")


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build the dataclass ``cls`` from a mapping; missing keys keep their defaults.

    Raises:
        ConfigError: unknown keys, wrongly typed values, or a failed ``__post_init__``
            check; the message names the dotted field.
    """
    label = where or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section {label!r} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config field(s) {[prefix + str(k) for k in unknown]}; "
            f"{label!r} has {sorted(fields)}"
        )
    kwargs = {
        name: _convert(hints[name], value, f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The plain-dict (YAML-ready) form of a config dataclass."""
    return dataclasses.asdict(config)


def merge(base: Mapping[str, Any], update: Mapping[str, Any], cls: type | None = None) -> dict[str, Any]:
    """Recursive dict merge: ``update``'s leaves replace ``base``'s (mappings merge).

    With the dataclass ``cls`` the merge follows its fields: sections (dataclass-typed fields)
    merge recursively, every other field -- a ``dict``-valued one like ``sampling.quotas``
    included -- is replaced as a whole, so a YAML file's mapping is the value it says
    rather than a union with the preset's keys.
    """
    out = dict(base)
    sections = _sections(cls) if cls is not None else None
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            if sections is None:
                out[k] = merge(out[k], v)
                continue
            if k in sections:
                out[k] = merge(out[k], v, sections[k])
                continue
        out[k] = v
    return out


def _sections(cls: type) -> dict[str, type]:
    """Fields of the dataclass ``cls`` that are dataclasses themselves (optionally ``| None``)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next((a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)), tp)
        if dataclasses.is_dataclass(tp):
            out[f.name] = tp
    return out


def parse_override(item: str) -> dict[str, Any]:
    """``"train.lr=0.01"`` -> ``{"train": {"lr": 0.01}}`` (the value parsed as YAML)."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.field=value")
    key, _, raw = item.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {item!r}: empty field name in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
    out: dict[str, Any] = {parts[-1]: value}
    for p in reversed(parts[:-1]):
        out = {p: out}
    return out


def apply_overrides(cls: type[T], config: T, overrides: Sequence[str]) -> T:
    """A copy of ``config`` with ``section.field=value`` overrides applied and validated."""
    data = to_dict(config)
    for item in overrides:
        data = merge(data, parse_override(item))
    return from_dict(cls, data)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same types as yaml.safe_load


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load`` (clear errors naming the file)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(p)!r} is not UTF-8 text (undecodable byte at offset {exc.start}); "
            "save it as UTF-8 YAML"
        ) from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # the safe loader (libyaml's when built)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping, got {type(data).__name__}")
    return dict(data)


def save_yaml(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a mapping as YAML atomically."""
    with atomic_file(path, "w") as f:
        yaml.safe_dump(dict(data), f, sort_keys=False)
