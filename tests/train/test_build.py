"""build(): config fields reach the tasks and the model; weight-0 tasks are not built."""

from __future__ import annotations

import pytest

from graphrep.data.synthetic import generate
from graphrep.errors import ConfigError
from graphrep.train.build import build, load_dataset
from graphrep.train.config import DataConfig
from graphrep.train.presets import preset


@pytest.fixture(scope="module")
def ds():
    return generate("tiny", 0)


def test_specs_reach_tasks_and_model(ds):
    cfg = preset("tiny").override([
        "tasks.specs=[{name: a, kind: entity_entity, relation: co_engaged, logq: false, "
        "batch_size: 7}, {name: s, kind: user_entity, weight: 0}]",
        "model.use_neighbors=false", "tasks.history_grad=false",
    ])  # fmt: skip
    c = build(cfg, ds)
    assert c.tasks.active == ["a"] and "s" not in c.tasks.tasks
    assert c.tasks.tasks["a"].logq is False and c.tasks.tasks["a"].batch_size == 7
    assert c.model.use_neighbors is False and c.model.dim == cfg.model.dim
    assert "a" in c.model.losses


def test_user_task_needs_sequence_model(ds):
    cfg = preset("tiny").override(["model.sequence=false"])
    with pytest.raises(ConfigError, match=r"model\.sequence"):
        build(cfg, ds)


def test_real_dataset_needs_root():
    with pytest.raises(ConfigError, match=r"data\.root"):
        load_dataset(DataConfig(dataset="gowalla"))
    with pytest.raises(ConfigError, match=r"data\.dataset"):
        DataConfig(dataset="imagenet")


def test_covisit_positives_from_a_metapath(ds):
    from graphrep.samplers.covisit import CoVisitPairSampler

    cfg = preset("tiny").override([
        "tasks.specs=[{name: pp, kind: entity_entity, metapath: [rev_engaged, engaged]}]",
        "model.sequence=false",
    ])  # fmt: skip
    task = build(cfg, ds).tasks.tasks["pp"]
    assert isinstance(task.pairs, CoVisitPairSampler) and task.src_type == task.dst_type == "pin"
    with pytest.raises(ConfigError, match="relation or metapath"):
        preset("tiny").override(["tasks.specs=[{name: x, kind: entity_entity}]"])


def test_saved_dataset_opens_memory_mapped_unless_told_not_to(ds, tmp_path):
    import numpy as np

    ds.save(tmp_path / "data")
    for mmap in (True, False):
        loaded = load_dataset(DataConfig(dataset="dir", path=str(tmp_path / "data"), mmap=mmap))
        indices = loaded.graph.csr(("user", "engaged", "pin")).indices
        assert isinstance(indices, np.memmap) is mmap
        np.testing.assert_array_equal(indices, ds.graph.csr(("user", "engaged", "pin")).indices)



def test_learned_pin_norms(ds):
    cfg = preset("tiny").override(["model.norm_types=[pin]", "model.norm_range=0.5"])
    c = build(cfg, ds)
    assert c.model.encoders["pin"].norm_range == 0.5 and c.model.encoders["board"].norm_head is None
    with pytest.raises(ConfigError, match="norm_types"):
        build(preset("tiny").override(["model.norm_types=[user]"]), ds)
    with pytest.raises(ConfigError, match="norm_range"):
        preset("tiny").override(["model.norm_range=0"])
