"""Documentation of config dataclasses, read from their own docstrings.

Each config dataclass documents its fields in the ``Args:`` section of its
Google-style docstring (one ``name: meaning`` entry per field, continuation
lines indented deeper), the section napoleon renders in the API reference. This
module reads those entries back, so that one text serves three readers: the API
reference, the generated configuration reference (:func:`reference_rst`) and
``graphrep config`` (:func:`commented_yaml`, the resolved YAML with every field's
meaning as a comment). A field without an entry is an error
(:func:`undocumented_fields`, checked by the test suite).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Iterator
from typing import Any

import yaml

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Attributes):\s*$")
_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s?(.*)$")
_ROLE = re.compile(r":[\w:]+:`(~?)([^`<]*?)(?:\s*<([^>]*)>)?`")
_LITERAL = re.compile(r"``(.+?)``")


@dataclasses.dataclass(frozen=True)
class FieldDoc:
    """One config field: its dotted ``path`` (``train.lr``; ``tasks.specs[].name`` for the
    fields of a list's items), its annotation as text, its default and its meaning (RST)."""

    path: str
    type: str
    default: Any
    doc: str
    required: bool = False


def field_docs(cls: type) -> dict[str, str]:
    """``{field name: meaning}`` from the ``Args:`` section of ``cls``'s docstring."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    out: dict[str, list[str]] = {}
    section_indent: int | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        if section_indent is None:
            m = _SECTION.match(line)
            if m:
                section_indent = len(m.group(1))
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section_indent:  # the next section (or prose) ends the Args block
            section_indent = None
            m = _SECTION.match(line)
            if m:
                section_indent, entry_indent = len(m.group(1)), None
            continue
        if entry_indent is None:
            entry_indent = indent
        m = _ENTRY.match(line.strip())
        if indent == entry_indent and m:
            current = m.group(1).lstrip("*")
            out[current] = [m.group(2).strip()]
        elif current is not None:
            out[current].append(line.strip())
    return {k: " ".join(v).strip() for k, v in out.items()}


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _list_item(tp: Any) -> Any:
    """The item type of ``list[X]`` (``None`` for other annotations)."""
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp) or (Any,)
        return item
    return None


def type_name(tp: Any) -> str:
    """An annotation as it is written: ``int``, ``str | None``, ``dict[str, list[int]]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _default(f: dataclasses.Field) -> tuple[Any, bool]:
    if f.default is not dataclasses.MISSING:
        return f.default, False
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory(), False
    return None, True


def _init_fields(cls: type) -> Iterator[tuple[dataclasses.Field, Any, str]]:
    """``(field, annotation, meaning)`` of each constructor field of a config class."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            yield f, hints[f.name], docs.get(f.name, "")


def config_fields(cls: type, config: Any = None, prefix: str = "") -> list[FieldDoc]:
    """Every field of the config tree under ``cls``, depth first, as :class:`FieldDoc`.

    Defaults are read from ``config`` (an instance of ``cls``; default: the class's own
    defaults). Fields of a nested config dataclass follow their section's row; for a
    ``list[Config]`` field the item class's fields follow as ``path[].field`` with that
    class's defaults.
    """
    out: list[FieldDoc] = []
    for f, tp, doc in _init_fields(cls):
        path = f"{prefix}{f.name}"
        if config is not None:
            value, required = getattr(config, f.name), False
        else:
            value, required = _default(f)
        out.append(FieldDoc(path, type_name(tp), value, doc, required))
        if _is_config(tp):
            out.extend(config_fields(tp, value, f"{path}."))
        elif _is_config(_list_item(tp)):
            out.extend(config_fields(_list_item(tp), None, f"{path}[]."))
    return out


def _config_classes(cls: type) -> Iterator[type]:
    yield cls
    for _, tp, _ in _init_fields(cls):
        inner = tp if _is_config(tp) else _list_item(tp)
        if _is_config(inner):
            yield from _config_classes(inner)


def undocumented_fields(cls: type) -> list[str]:
    """Problems of the docs of every config class under ``cls``: fields without an
    ``Args:`` entry and entries that name no field (``"Class.name: ..."`` messages)."""
    problems = []
    for c in dict.fromkeys(_config_classes(cls)):
        fields = list(_init_fields(c))
        names = [f.name for f, _, _ in fields]
        problems += [f"{c.__name__}.{f.name}: no entry in the Args section" for f, _, doc in fields
                     if not doc]  # fmt: skip
        problems += [f"{c.__name__}.{n}: documented but not a field" for n in field_docs(c)
                     if n not in names]  # fmt: skip
    return problems


def plain_text(rst: str) -> str:
    """Inline RST as plain text: ````x```` -> ``x``, ``:class:`~a.B``` -> ``B``."""

    def role(m: re.Match) -> str:
        tilde, text, target = m.groups()
        if target is not None:
            return text.strip()
        return text.rsplit(".", 1)[-1] if tilde else text

    return _LITERAL.sub(r"\1", _ROLE.sub(role, rst))


def _comment(text: str, indent: str, hang: str = "", width: int = 88) -> list[str]:
    """``text`` wrapped into ``# `` comment lines (continuation lines indented by ``hang``)."""
    wrapped = textwrap.wrap(text, max(width - len(indent) - 2, 40), initial_indent=hang,
                            subsequent_indent=hang + "    " if hang else "")  # fmt: skip
    return [f"{indent}# {line}" for line in wrapped]


def _flow(value: Any) -> str:
    """One-line YAML of a scalar or of a collection of scalars."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _leaf(value: Any) -> bool:
    if isinstance(value, dict):
        return all(not isinstance(v, dict | list) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return True


def _dump(key: str, value: Any, indent: str) -> list[str]:
    """Block YAML of ``key: value`` whose innermost collections are written on one line."""
    if _leaf(value):
        return [f"{indent}{key}: {_flow(value)}"]
    lines = [f"{indent}{key}:"]
    if isinstance(value, dict):
        for k, v in value.items():
            lines += _dump(str(k), v, indent + "  ")
        return lines
    for item in value:
        if isinstance(item, dict) and item:
            inner = [line for k, v in item.items() for line in _dump(str(k), v, indent + "  ")]
            lines += [f"{indent}- {inner[0].lstrip()}", *inner[1:]]
        else:
            lines.append(f"{indent}- {_flow(item)}")
    return lines


def _yaml_lines(cls: type, config: Any, indent: str) -> list[str]:
    lines: list[str] = []
    for f, tp, doc in _init_fields(cls):
        value = getattr(config, f.name)
        if not indent and _is_config(tp):  # a blank line before each top-level section
            lines.append("")
        lines += _comment(plain_text(doc), indent)
        if _is_config(tp):
            lines.append(f"{indent}{f.name}:")
            lines += _yaml_lines(tp, value, indent + "  ")
            continue
        item = _list_item(tp)
        if _is_config(item):
            lines += _comment(f"each item ({item.__name__}):", indent)
            for g, _, item_doc in _init_fields(item):
                lines += _comment(f"{g.name}: {plain_text(item_doc)}", indent, "  ")
            value = [dataclasses.asdict(v) for v in value]
        lines += _dump(f.name, value, indent)
    return lines


def commented_yaml(config: Any, header: str = "") -> str:
    """The YAML of a config dataclass instance with every field's meaning as a comment.

    ``yaml.safe_load`` of the text gives back ``dataclasses.asdict(config)``, so the
    output is a valid config file for ``graphrep train --config``.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    body = _yaml_lines(type(config), config, "")
    if lines and body and body[0]:
        lines.append("")
    return "\n".join(lines + body).strip("\n") + "\n"


def _rst_default(d: FieldDoc) -> str:
    if d.required:
        return "*required*"
    if _is_config_value(d.default):
        return ""
    if isinstance(d.default, list) and d.default and _is_config_value(d.default[0]):
        names = [str(getattr(v, "name", "")) for v in d.default]
        return f"{len(names)} items" + (": " + ", ".join(f"``{n}``" for n in names) if all(names) else "")
    return f"``{_flow(d.default)}``"


def _is_config_value(v: Any) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, type)


def _table(rows: list[FieldDoc]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", "   :widths: 22 18 18 42", ""]
    out += ["   * - field", "     - type", "     - default", "     - meaning"]
    for d in rows:
        cells = [f"``{d.path}``", f"``{d.type}``", _rst_default(d), d.doc]
        out.append(f"   * - {cells[0]}")
        out += [f"     - {c}" if c else "     -" for c in cells[1:]]
    return [*out, ""]


def reference_rst(cls: type, config: Any = None, underline: str = "-") -> str:
    """The reference of a config tree as RST: one table per section (field, type, default,
    meaning), the meanings taken from the docstrings and the defaults from ``config``."""
    rows = config_fields(cls, config)
    out: list[str] = []
    sections = []
    for f, tp, doc in _init_fields(cls):
        if not _is_config(tp):
            continue
        sections.append(f.name)
        title = f"``{f.name}``"
        out += [title, underline * len(title), "", doc, ""]
        out += _table([d for d in rows if d.path.startswith(f"{f.name}.")])
    top = [d for d in rows if "." not in d.path and d.path not in sections]
    if top:
        out += ["Top level", underline * 9, ""]
        out += _table(top)
    return "\n".join(out)
