"""The real-data presets carry over unchanged to any dataset of their format: each trains,
exports and evaluates end to end on a tiny planted dataset written in that format, and its
embeddings beat chance on the held-out split."""

from __future__ import annotations

import pytest

from graphrep.embed.export import export_run
from graphrep.eval.run import evaluate_run
from graphrep.train.presets import PRESETS, preset
from graphrep.train.trainer import Trainer
from tests.planted import write_lightgcn, write_ogbl, write_planetoid

FORMATS = {
    # preset: (writer, root below tmp, metric key, chance level)
    "gowalla": (lambda d: write_lightgcn(d / "tiny"), "tiny", ("user→item", "recall@20"), 20 / 90),
    "ogbl-ddi": (lambda d: write_ogbl(d), "", ("link (test)", "hits@20"), 0.1),
    "cora": (lambda d: write_planetoid(d), "", ("paper classification", "accuracy"), 100 / 5),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_preset_runs_end_to_end_on_its_format(tmp_path, name):
    writer, sub, (task, metric), chance = FORMATS[name]
    writer(tmp_path / "data")
    root = tmp_path / "data" / sub if sub else tmp_path / "data"
    cfg = preset(name).override([f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}",
                                 "train.progress=false"])  # fmt: skip
    assert cfg.to_dict()["model"] == preset(name).to_dict()["model"]  # the preset itself
    run = tmp_path / "run"
    Trainer(cfg, run).fit()
    export_run(run)
    result = evaluate_run(run)
    tasks = result["models"][cfg.name]["tasks"]
    value = tasks[task][metric]
    assert value > chance, (name, value, chance)
    if any(s.scorer != "dot" for s in cfg.tasks.specs):  # scored by the jointly trained head
        assert tasks["link head (test)"][metric] > chance, tasks


def test_every_real_preset_is_covered():
    real = {n for n, p in PRESETS.items() if p.get("data", {}).get("dataset") not in (None, "synthetic")}
    assert real == set(FORMATS)
