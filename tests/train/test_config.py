"""RunConfig ⇄ YAML: round trip, presets, overrides, errors that name the field."""

from __future__ import annotations

import pytest

from graphrep.errors import ConfigError
from graphrep.train.config import RunConfig, load_config
from graphrep.train.presets import PRESETS, preset
from graphrep.utils.config import parse_override


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_yaml(name, tmp_path):
    cfg = preset(name)
    cfg.save(tmp_path / "c.yaml")
    back = load_config(tmp_path / "c.yaml")
    assert back == cfg
    assert back.digest() == cfg.digest()


def test_preset_tiny_differs_from_default():
    assert preset("tiny").model.dim == 32
    assert preset("default").data.preset == "default"
    assert preset("tiny").digest() != preset("default").digest()


def test_overrides_parse_yaml_scalars():
    assert parse_override("train.lr=0.01") == {"train": {"lr": 0.01}}
    cfg = preset("tiny").override(["train.steps=7", "model.use_neighbors=false", "eval.ks=[5, 20]"])
    assert cfg.train.steps == 7 and cfg.model.use_neighbors is False and cfg.eval.ks == [5, 20]


def test_int_accepted_for_float_but_not_reverse():
    assert preset("tiny").override(["train.lr=1"]).train.lr == 1.0
    with pytest.raises(ConfigError, match=r"train\.steps"):
        preset("tiny").override(["train.steps=1.5"])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.stepz=3", r"train\.stepz"),
        ("train.lr=-1", "train.lr"),
        ("model.encoder=gat", "model.encoder"),
        ("model.dim=31", "model.dim"),
        ("train.progress=maybe", "train.progress"),
        ("tasks.specs=[]", "tasks.specs"),
        ("embed.dtype=int4", "embed.dtype"),
        ("data.dataset=dir", "data.path"),
        ("train.virtual_ranks=0", r"train\.virtual_ranks"),
        ("data.mmap=perhaps", r"data\.mmap"),
        ("nosection", "section.field=value"),
        ("model.spectral_reg=-1", r"model\.spectral_reg"),
        ("model.light_normalize=maybe", r"model\.light_normalize"),
    ],
)
def test_bad_fields_are_named(override, match):
    with pytest.raises(ConfigError, match=match):
        preset("tiny").override([override])


def test_task_spec_validation():
    with pytest.raises(ConfigError, match="kind"):
        RunConfig.from_dict({"tasks": {"specs": [{"name": "a", "kind": "nope"}]}})
    with pytest.raises(ConfigError, match="relation"):
        RunConfig.from_dict({"tasks": {"specs": [{"name": "a", "kind": "entity_entity"}]}})
    with pytest.raises(ConfigError, match="duplicate"):
        RunConfig.from_dict({"tasks": {"specs": [
            {"name": "a", "kind": "entity_entity", "relation": "x"},
            {"name": "a", "kind": "entity_entity", "relation": "y"},
        ]}})  # fmt: skip


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("train:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml.*train\.lr"):
        load_config(wrong)
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_is_safe_loaded(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


@pytest.mark.parametrize("override", ["train.lr=.inf", "train.grad_clip=.nan",
                                      "train.weight_decay=.nan", "tasks.temperature=-.inf"])  # fmt: skip
def test_non_finite_numbers_are_refused_where_read(override):
    field = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{field}' must be a finite number"):
        preset("tiny").override([override])


def test_a_non_utf8_config_file_is_named(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_bytes(b"train: {steps: 5}\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"run\.yaml.*not UTF-8 text"):
        load_config(p)


def test_update_replaces_mapping_fields_and_set_merges_them():
    base = preset("default")
    assert set(base.sampling.quotas) == {"pin", "board", "user", "query"}
    shop = base.update({"sampling": {"quotas": {"item": {"item": 8}}, "num_walks": 10}})
    assert shop.sampling.quotas == {"item": {"item": 8}}  # not a union with the preset's keys
    assert shop.sampling.num_walks == 10 and shop.sampling.restart_prob == base.sampling.restart_prob
    assert shop.model == base.model  # other sections untouched
    one = base.override(["sampling.quotas.pin.pin=3"])  # --set changes one entry
    assert one.sampling.quotas["pin"] == {"pin": 3, "board": 5}
    assert set(one.sampling.quotas) == set(base.sampling.quotas)
