"""Hits@K of an OGB link run against training time: every kept checkpoint of a run is
embedded and scored on the official valid/test edges, by dot product and by the run's
jointly trained link head, with OGB's Evaluator::

    graphrep train --preset ogbl-ddi ... --out RUN --set train.checkpoint_every=124 \\
        --set train.keep_checkpoints=40
    python benchmarks/link_curve.py RUN

Wall time of a checkpoint is its file's modification time minus the run's
``config.yaml`` (written when training starts), so it includes validation and
checkpoint I/O. Scoring test edges here is reporting, never selection: the run's
model is chosen on the carved validation split while it trains.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from graphrep.embed.inference import embed_ids
from graphrep.eval.protocols import link_prediction
from graphrep.eval.validation import pair_scorer
from graphrep.models import OmniSage
from graphrep.train.build import build_inputs
from graphrep.train.checkpoint import list_checkpoints, load_checkpoint
from graphrep.train.rundir import RunDir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a trained run directory of an OGB link dataset")
    p.add_argument("--json", help="also write the rows to this file")
    a = p.parse_args()
    run = RunDir(a.run)
    cfg = run.config()
    ds = run.dataset(cfg)
    builder = build_inputs(cfg, ds)
    node_type = ds.meta.get("node_type", ds.graph.node_types[0])
    n = ds.graph.num_nodes[node_type]
    t0 = run.config_path.stat().st_mtime
    rows = []
    print("step  wall_s  valid_dot  test_dot  valid_head  test_head")
    for step, path in list_checkpoints(run.checkpoints):
        state = load_checkpoint(path)
        model = OmniSage.from_hparams(state["hparams"])
        model.load_state_dict(state["model"])
        x = embed_ids(model, builder, node_type, np.arange(n), cfg.embed.batch_size)
        scorer = model.link_scorer()
        cfg.eval.link_head = scorer is not None
        head = pair_scorer(scorer, x) if scorer is not None else None
        res = link_prediction({node_type: x}, ds, cfg.eval, head)
        metric = next(iter(res["link (test)"]))
        row = {"step": step, "wall_s": path.stat().st_mtime - t0,
               **{k.replace(" ", "_").replace("(", "").replace(")", ""): v[metric] for k, v in res.items()}}
        rows.append(row)
        nan = float("nan")
        vh, th = row.get("link_head_valid", nan), row.get("link_head_test", nan)
        print(f"{step:5d} {row['wall_s']:7.0f}  {row['link_valid']:.4f}    {row['link_test']:.4f}"
              f"    {vh:.4f}      {th:.4f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
