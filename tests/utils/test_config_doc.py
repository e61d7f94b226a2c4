"""Config docs come from the dataclasses' own ``Args:`` sections and cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from graphrep.train import PRESETS, RunConfig, preset
from graphrep.utils.config_doc import (
    commented_yaml,
    config_fields,
    field_docs,
    plain_text,
    reference_rst,
    type_name,
    undocumented_fields,
)


@dataclass
class Inner:
    """An inner section.

    Args:
        k: the k, on
            two lines.
        names: a list.
    """

    k: int = 3
    names: list[str] = field(default_factory=lambda: ["a", "b"])


@dataclass
class Outer:
    """Outer.

    Prose between the summary and the section.

    Args:
        inner: an :class:`Inner`.
        rate (float): with a ``type`` in parentheses.
        extra: ``None`` or a mapping.

    Raises:
        ValueError: not an Args entry.
    """

    inner: Inner = field(default_factory=Inner)
    rate: float = 0.5
    extra: dict[str, list[int]] | None = None


@dataclass
class Sloppy:
    """Fields documented badly.

    Args:
        a: documented.
        gone: a field that was renamed.
    """

    a: int = 0
    b: int = 1


def test_field_docs_reads_the_args_section():
    assert field_docs(Inner) == {"k": "the k, on two lines.", "names": "a list."}
    assert field_docs(Outer) == {"inner": "an :class:`Inner`.",
                                 "rate": "with a ``type`` in parentheses.",
                                 "extra": "``None`` or a mapping."}  # fmt: skip


def test_undocumented_and_stale_entries_are_reported():
    assert undocumented_fields(Outer) == []
    assert undocumented_fields(Sloppy) == [
        "Sloppy.b: no entry in the Args section",
        "Sloppy.gone: documented but not a field",
    ]


def test_every_run_config_field_is_documented():
    """A new RunConfig field needs an ``Args:`` entry in its dataclass's docstring: that text
    is its documentation in the API reference, the docs' configuration reference and
    ``graphrep config``."""
    assert undocumented_fields(RunConfig) == []


def test_config_fields_walk_the_tree_with_types_and_defaults():
    rows = {d.path: d for d in config_fields(Outer)}
    assert list(rows) == ["inner", "inner.k", "inner.names", "rate", "extra"]
    assert rows["inner.k"].default == 3 and rows["inner.k"].doc == "the k, on two lines."
    assert rows["extra"].type == "dict[str, list[int]] | None"
    specs = {d.path: d for d in config_fields(RunConfig) if d.path.startswith("tasks.specs[]")}
    assert specs["tasks.specs[].name"].required and specs["tasks.specs[].weight"].default == 1.0


def test_type_name_and_plain_text():
    assert type_name(list[str] | None) == "list[str] | None"
    assert type_name(dict[str, dict[str, int]]) == "dict[str, dict[str, int]]"
    text = "see :class:`~graphrep.data.dataset.GraphDataset`, :func:`a.b` and :obj:`x <y.z>`"
    assert plain_text(text + " at ``path``") == "see GraphDataset, a.b and x at path"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_commented_yaml_loads_back_to_the_same_config(name):
    cfg = preset(name)
    text = commented_yaml(cfg, "header line\nsecond line")
    assert text.startswith("# header line\n# second line\n")
    assert yaml.safe_load(text) == cfg.to_dict()
    assert RunConfig.from_dict(yaml.safe_load(text)) == cfg
    # every field's meaning is written above it
    n_fields = sum(1 for d in config_fields(RunConfig, cfg) if "[]" not in d.path)
    assert sum(1 for line in text.splitlines() if line.lstrip().startswith("#")) > n_fields


def test_reference_lists_every_field_with_its_meaning():
    rst = reference_rst(RunConfig)
    for d in config_fields(RunConfig):
        assert f"``{d.path}``" in rst
    assert "``train.lr``" in rst and "peak learning rate of AdamW" in rst
    assert "``float``" in rst and "``0.002``" in rst
