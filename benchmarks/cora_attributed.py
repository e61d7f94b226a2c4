"""Cora (attributed graphs): train the ``cora`` preset with overrides, export, evaluate.

Prints one line of JSON per run (val/test accuracy of the linear probe, the validation
history, wall and CPU seconds, peak RSS) and appends it to ``$GRAPHREP_OUT/results.jsonl``::

    PYTHONPATH=$PWD nice -n 10 python benchmarks/cora_attributed.py NAME \\
        [specs=mae:1,cca:1] [section.field=value ...]

``specs=`` replaces ``tasks.specs`` (``mae`` masked_features, ``cca``, ``cites``
entity_entity, ``feature`` entity_feature, each ``name:weight``). Data from
``$GRAPHREP_DATA`` (default ``/work/shared/data/planetoid``), runs under
``$GRAPHREP_OUT`` (default ``/tmp/attr``). One torch thread (a shared machine).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time

import torch

from graphrep.embed.export import export_run
from graphrep.eval.run import evaluate_run
from graphrep.train.presets import preset
from graphrep.train.trainer import Trainer

KINDS = {
    "mae": ("masked_features", {"node_types": ["paper"]}),
    "cca": ("cca", {"node_types": ["paper"]}),
    "cites": ("entity_entity", {"relation": "cites"}),
    "feature": ("entity_feature", {"node_types": ["paper"]}),
}


def main() -> None:
    torch.set_num_threads(1)
    data = os.environ.get("GRAPHREP_DATA", "/work/shared/data/planetoid")
    out = os.environ.get("GRAPHREP_OUT", "/tmp/attr")
    name, overrides = sys.argv[1], sys.argv[2:]
    base = preset("cora")
    for o in [o for o in overrides if o.startswith("specs=")]:
        overrides.remove(o)
        specs = []
        for item in o[len("specs="):].split(","):
            key, weight = item.split(":")
            kind, kw = KINDS[key]
            specs.append({"name": key, "kind": kind, "weight": float(weight), **kw})
        base = base.update({"tasks": {"specs": specs}})
    cfg = base.override([f"data.root={data}", f"data.cache_dir={out}/gcache", "train.progress=false",
                         "train.num_threads=1", *overrides])  # fmt: skip
    run = f"{out}/runs/{name}"
    shutil.rmtree(run, ignore_errors=True)
    w0, c0 = time.perf_counter(), time.process_time()
    summary = Trainer(cfg, run).fit()
    export_run(run)
    res = evaluate_run(run)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    m = res["models"][cfg.name]["tasks"]["paper classification"]
    row = {"name": name, "overrides": overrides, "val": m.get("val_accuracy"), "test": m["accuracy"],
           "best_step": summary.get("best_step"), "best_value": summary.get("best_value"),
           "validations": summary.get("validations"), "wall": round(wall), "cpu": round(cpu),
           "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}  # fmt: skip
    print(json.dumps(row), flush=True)
    with open(f"{out}/results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
