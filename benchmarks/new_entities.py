"""New entities without retraining, and incremental refresh, on the default synthetic graph.

Protocol (reproducible; see docs/benchmarks.md, "New entities and incremental refresh"):

1. ``prepare``: generate the default synthetic graph (seed 0), hold out 500 random pins
   (1 %) with at least 3 edges (:func:`graphrep.data.holdout_nodes.hold_out_nodes`: the
   pins, their edges and the events naming them leave the training data) and save the
   training and the full (permuted) datasets.
2. Train the default preset on the training dataset (the command is printed), export.
3. ``evaluate``: encode the held-out pins through :class:`graphrep.embed.encode.Encoder`
   from content alone and from content + 3 of their edges (to known nodes, drawn at
   random), and report topic purity@10 of each against the exported vectors of the trained
   pins (planted fine topics), beside the trained pins' own purity; then refresh the run
   with the held-out pins, all their edges and their actions before the cut
   (``graphrep embed RUN --update``), time it against a full export of the changed graph,
   and check that both agree. Both are timed from the run directory to a written store
   (the export's share includes loading the changed state, as ``graphrep embed RUN`` loads
   the run); the share against the export alone, the state already in memory, is
   reported beside it (``share_of_export_in_memory``). Pending writeback is flushed
   (``os.sync``) before each timed call, so no stage's writes stall on the previous one's.
   Every scope's refresh and the full export run :data:`REPEATS` times in turn (A B A B);
   a share is the ratio of the medians (each round's ratio is listed beside it). Each round
   also refreshes the version-0 state kept in memory (``refresh_state``, local scope: a
   long-running process, no load), reported against the export with its state in memory
   (``refresh_warm_local``).

    python benchmarks/new_entities.py prepare --out /tmp/ne
    graphrep train --preset default --graph /tmp/ne/train --out /tmp/ne/run
    graphrep embed /tmp/ne/run
    python benchmarks/new_entities.py evaluate --out /tmp/ne
    python benchmarks/new_entities.py saves --out /tmp/ne     # new pins with board saves only
    python benchmarks/new_entities.py edges --out /tmp/ne     # new pins with all edges, no actions
    python benchmarks/new_entities.py actions --out /tmp/ne   # all edges and actions (as evaluate)
    python benchmarks/new_entities.py write --out /tmp/ne     # all edges: full vs delta writes
    python benchmarks/new_entities.py fresh --out /tmp/ne     # each call in a fresh process
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from graphrep.data.dataset import GraphDataset
from graphrep.data.holdout_nodes import edges_touching, hold_out_nodes, node_rows
from graphrep.data.synthetic import generate
from graphrep.embed.changes import ActionRows, Changes
from graphrep.embed.encode import Encoder
from graphrep.embed.export import export_embeddings
from graphrep.embed.refresh import DELTA_MAX, refresh_run, refresh_state
from graphrep.embed.store import Embeddings
from graphrep.embed.versions import embeddings_path, open_state
from graphrep.eval.collapse import topic_purity
from graphrep.eval.evaluate import evaluate_retrieval
from graphrep.eval.holdout import future_task, pair_task

HELD = 500
REPEATS = 5  #: timed rounds of every refresh scope and the full export, in turn


def prepare(out: Path) -> None:
    ds = generate("default", 0)
    deg = ds.graph.degree("pin")
    rng = np.random.default_rng(0)
    held = np.sort(rng.choice(np.flatnonzero(deg >= 3), HELD, replace=False))
    h = hold_out_nodes(ds, "pin", held)
    h.train.save(out / "train")
    h.full.save(out / "full")
    print(f"held out {HELD} pins; training graph {h.train.graph}")


def _known_edges(full: GraphDataset, held: np.ndarray, per_pin: int | None,
                 rng: np.random.Generator) -> dict[str, list[list]]:
    """Per held-out pin, up to ``per_pin`` of its edges to trained nodes (all if None), by
    relation name as seen from the pin."""
    items = []  # (pin, relation name seen from the pin, other end)
    for et, e in edges_touching(full.graph, "pin", held).items():
        cases = []
        if et[2] == "pin":  # the pin is the destination (as source of the reverse if pin-pin)
            cases.append((f"rev_{et[1]}" if et[0] == "pin" else et[1], e.dst, e.src, et[0]))
        if et[0] == "pin":
            cases.append((et[1], e.src, e.dst, et[2]))
        for name, me, other, other_type in cases:
            sel = np.isin(me, held)
            if other_type == "pin":
                sel &= ~np.isin(other, held)
            items += [(int(p), name, o.item()) for p, o in zip(me[sel], other[sel], strict=True)]
    by_pin: dict[int, list] = {int(p): [] for p in held}
    for p, name, o in items:
        by_pin[p].append((name, o))
    names = sorted({name for _, name, _ in items})
    out = {n: [[] for _ in held] for n in names}
    for i, p in enumerate(held):
        chosen = by_pin[int(p)]
        if per_pin is not None and len(chosen) > per_pin:
            chosen = [chosen[j] for j in rng.choice(len(chosen), per_pin, replace=False)]
        for name, o in chosen:
            out[name][i].append(o)
    return out


def evaluate(out: Path) -> dict:
    torch.set_num_threads(1)
    run = out / "run"
    # the refresh below: the held-out pins, all their edges and their actions
    full, held, changes = _held_changes(out, "actions")
    n_train = int(held[0])
    topic = full.truth["pin_topic"]
    shutil.rmtree(run / "versions", ignore_errors=True)  # rerunnable: back to version 0
    enc = Encoder.from_run(run)
    corpus = enc.embeddings.vectors("pin")
    rows = changes.nodes["pin"]
    rng = np.random.default_rng(1)
    res: dict = {"held_out_pins": len(held), "trained_pins": int(n_train)}
    res["purity_trained_exported"] = topic_purity(corpus, corpus, topic[:n_train], topic[:n_train],
                                                  k=10, exclude_self=True)  # fmt: skip
    t = time.perf_counter()
    alone = enc.encode_new("pin", rows.features, count=len(held))
    res["encode_content_only_s"] = time.perf_counter() - t
    three = _known_edges(full, held, 3, rng)
    t = time.perf_counter()
    with_edges = enc.encode_new("pin", rows.features, three)
    res["encode_content_3_edges_s"] = time.perf_counter() - t
    res["mean_edges_given"] = float(np.mean([sum(len(v[i]) for v in three.values())
                                             for i in range(len(held))]))  # fmt: skip
    for name, z in (("content_only", alone), ("content_3_edges", with_edges)):
        res[f"purity_{name}"] = topic_purity(z, corpus, topic[held], topic[:n_train], k=10)
    res.update(_refresh_vs_full(out, changes, GraphDataset(full.graph, full.events, {}, full.meta),
                                full, held, corpus))  # fmt: skip
    return res


def _held_actions(full: GraphDataset, n_train: int) -> ActionRows:
    """The events before the cut that name a held-out pin."""
    ev, cut = full.events, full.meta["cut_time"]
    sel = (ev.item_type == 0) & (ev.item >= n_train) & (ev.timestamp < cut)
    return ActionRows(ev.user[sel], ev.item[sel], ev.timestamp[sel], ev.item_type[sel],
                      ev.action[sel], ev.surface[sel], ev.duration[sel])


def _held_changes(out: Path, relations: str) -> tuple[GraphDataset, np.ndarray, Changes]:
    """(full dataset, held-out pins, change set): the held-out pins with only their board
    saves (``"saves"``), all their edges (``"edges"``) or all their edges and actions
    (``"actions"``)."""
    full = GraphDataset.load(out / "full", mmap=False)
    n_train = GraphDataset.load(out / "train").graph.num_nodes["pin"]
    held = np.arange(n_train, full.graph.num_nodes["pin"])
    touching = edges_touching(full.graph, "pin", held)
    if relations == "saves":
        edges = {"contains": touching[full.graph.edge_type("contains")]}
    else:
        edges = {et[1]: e for et, e in touching.items()}
    acts = _held_actions(full, int(held[0])) if relations == "actions" else None
    return full, held, Changes({"pin": node_rows(full.graph, "pin", held)}, edges, acts)


def refresh_saves(out: Path, relations: str = "saves") -> dict:
    """Refresh with the held-out pins and only their board saves (how a pin arrives on
    Pinterest: saved to a board) -- or (``relations="edges"``) all their edges but none of
    their actions, or (``"actions"``) all their edges and their actions, as ``evaluate``
    refreshes but in a fresh process -- from version 0, against a full export of that graph."""
    torch.set_num_threads(1)
    full, held, changes = _held_changes(out, relations)
    shutil.rmtree(out / "run" / "versions", ignore_errors=True)
    corpus = Embeddings.load(embeddings_path(out / "run", 0)).vectors("pin")
    export_ds = GraphDataset(full.graph, full.events, {}, full.meta) if changes.actions is not None else None
    return _refresh_vs_full(out, changes, export_ds, full, held, corpus)


def fresh_call(out: Path, what: str, relations: str) -> dict:
    """One timed call in this process, a fresh one (imports excluded), as ``graphrep embed RUN
    --update`` runs: the local refresh of ``relations``'s change set from version 0, or
    (``what="export"``) as ``graphrep embed RUN`` runs, the full export of the state the last
    refresh published."""
    torch.set_num_threads(1)
    full, _, changes = _held_changes(out, relations)
    run = out / "run"
    if what == "refresh":
        shutil.rmtree(run / "versions", ignore_errors=True)
        os.sync()
        t = time.perf_counter()
        report = refresh_run(run, changes, scope="local")
        return {"s": time.perf_counter() - t, "wall_s": report.wall_s}
    t = time.perf_counter()
    state = open_state(run)
    wall: dict = {"load": time.perf_counter() - t}
    export_ds = GraphDataset(full.graph, full.events, {}, full.meta) if changes.actions is not None else None
    export_embeddings(state.model, state.config, export_ds or state.dataset, out / "reference",
                      overwrite=True, wall_s=wall)  # fmt: skip
    return {"s": time.perf_counter() - t, "wall_s": wall}


def fresh(out: Path, repeats: int = REPEATS) -> dict:
    """Each change set's refresh and then the full export (of the last, all-edges-and-actions
    version), each call in a fresh process, ``repeats`` times in turn: the CLI's first-call
    costs (loading cached compiled kernels, pyarrow's first Parquet write, first-touch page
    faults) included, which the in-process rounds of the other stages pay only once."""
    steps = [("refresh", "saves"), ("refresh", "edges"), ("refresh", "actions"), ("export", "actions")]
    calls: dict[str, list] = {"saves": [], "edges": [], "actions": [], "export": []}
    for _ in range(repeats):
        for what, rel in steps:
            cmd = [sys.executable, __file__, "fresh-call", "--out", str(out), "--what", what,
                   "--relations", rel]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            call = json.loads(done.stdout.splitlines()[-1])
            calls["export" if what == "export" else rel].append(call)
            _log(f"fresh {what} {rel}: {call['s']:.3f} s")
    med = {k: float(np.median([c["s"] for c in v])) for k, v in calls.items()}
    shares = {k: med[k] / med["export"] for k in ("saves", "edges", "actions")}
    return {"calls": calls, "median_s": med, "share_of_export": shares}


def write_ab(out: Path, rounds: int = 6) -> dict:
    """The all-edges local refresh written in full (``delta_max=0``) and as a delta, in turn
    (A B A B, the first round dropped as warm-up), and the time to read each version back."""
    torch.set_num_threads(1)
    changes = _held_changes(out, "edges")[2]
    run, res = out / "run", {}
    for i in range(rounds + 1):
        for name, dm in (("full", 0.0), ("delta", DELTA_MAX)):
            shutil.rmtree(run / "versions", ignore_errors=True)
            os.sync()
            w = refresh_run(run, changes, scope="local", delta_max=dm).wall_s
            t = time.perf_counter()
            Embeddings.load(embeddings_path(run)).vectors("pin")
            read = time.perf_counter() - t
            if i:  # round 0 warms up
                r = res.setdefault(name, {"total_s": [], "write_s": [], "read_s": []})
                for k, v in (("total_s", w["total"]), ("write_s", w["write"]), ("read_s", read)):
                    r[k].append(v)
    for r in res.values():
        r.update({f"median_{k}": float(np.median(v)) for k, v in list(r.items())})
    return res


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


SCOPES = (("exact", "exact", True), ("local", "local", False), ("local_user_history", "local", True))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine (1 where both rows are zero: users without history)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(1) / np.maximum(na * nb, 1e-12)
    return np.where((na == 0) & (nb == 0), 1.0, cos)


def _default_tasks(full: GraphDataset, cfg) -> list:
    """The default protocol's four tasks on the full (permuted) graph: the generator's
    held-out pairs, renamed to the full graph's pin ids, and future engagements."""
    ds = generate("default", 0)
    deg = ds.graph.degree("pin")
    held0 = np.sort(np.random.default_rng(0).choice(np.flatnonzero(deg >= 3), HELD, replace=False))
    perm = np.concatenate([np.flatnonzero(~np.isin(np.arange(len(deg)), held0)), held0])
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    t = ds.truth
    tasks = [pair_task("pin→pin", inv[t["heldout_co_engaged"]], "pin", "pin", symmetric=True),
             pair_task("board→pin", np.c_[t["heldout_board_pin"][:, 0], inv[t["heldout_board_pin"][:, 1]]],
                       "board", "pin"),
             pair_task("query→pin", np.c_[t["heldout_query_pin"][:, 0], inv[t["heldout_query_pin"][:, 1]]],
                       "query", "pin"),
             future_task(full, "user→pin", cfg.user_window)]  # fmt: skip
    return tasks


def _refresh_vs_full(out: Path, changes: Changes, export_ds: GraphDataset | None,
                     full: GraphDataset, held: np.ndarray, corpus0: np.ndarray,
                     repeats: int = REPEATS) -> dict:
    """Refresh version 0 with ``changes`` in each scope, then export the changed graph in
    full in the same process, ``repeats`` times in turn (A B A B); counts, median wall times
    (each repeat's beside them) and the drift of each scope from the export."""
    run = out / "run"
    topic, n_train = full.truth["pin_topic"], int(held[0])
    v0 = Embeddings.load(embeddings_path(run, 0))
    refreshed, res = {}, {"refresh": {}}
    totals: dict[str, list[float]] = {name: [] for name, _, _ in SCOPES}
    from_disk, in_memory, warm = [], [], []
    shutil.rmtree(run / "versions", ignore_errors=True)
    state0 = open_state(run)  # version 0, kept in memory for the warm refreshes
    for rep in range(repeats):
        for name, scope, history in SCOPES:
            shutil.rmtree(run / "versions", ignore_errors=True)  # every scope from version 0
            os.sync()  # no writeback left from the previous stage stalls this one's writes
            report = refresh_run(run, changes, scope=scope, user_history=history)
            totals[name].append(report.wall_s["total"])
            if rep == 0:  # the vectors are the same every time
                new = Embeddings.load(embeddings_path(run))
                refreshed[name] = {t: np.array(new.vectors(t)) for t in new.types}
                res["refresh"][name] = report.to_dict()
            _log(f"refresh {name}: {report.types} {report.wall_s}")
        shutil.rmtree(run / "versions", ignore_errors=True)
        os.sync()  # a local refresh of the state in memory (no load), as a long-running process
        warm.append(refresh_state(state0, changes, scope="local")[0].wall_s["total"])
        _log(f"warm local refresh {warm[-1]:.3f} s")
        os.sync()
        t = time.perf_counter()
        state = open_state(run)  # the changed state from disk (model, dataset, the version's changes)
        wall: dict = {"load": time.perf_counter() - t}
        t = time.perf_counter()
        ref = export_embeddings(state.model, state.config, export_ds or state.dataset,
                                out / "reference", overwrite=True, wall_s=wall)  # fmt: skip
        in_memory.append(time.perf_counter() - t)
        from_disk.append(in_memory[-1] + wall["load"])
        if rep == 0:
            res["full_export_wall_s"] = wall
        _log(f"full export {from_disk[-1]:.2f} s from disk: {wall}")
    res["full_export_s"] = float(np.median(in_memory))
    res["refresh_warm_local"] = {"total_s_each": warm,
                                 "share_of_export_in_memory": float(np.median(warm)) / res["full_export_s"]}
    res["full_export_from_disk_s"] = float(np.median(from_disk))
    res["full_export_from_disk_s_each"] = from_disk
    exact = {t: np.array(ref.vectors(t)) for t in ref.types}
    cfg = state.config.eval
    tasks = _default_tasks(full, cfg)
    for name, vec in {"full_export": exact, **refreshed}.items():
        r = res.setdefault("quality", {}).setdefault(name, {})
        r["purity_held_vs_version_0_pins"] = topic_purity(vec["pin"][held], corpus0, topic[held],
                                                          topic[:n_train], k=10)  # fmt: skip
        r["purity_held_vs_own_pins"] = topic_purity(vec["pin"][held], vec["pin"][:n_train],
                                                    topic[held], topic[:n_train], k=10)  # fmt: skip
        got = evaluate_retrieval(vec, tasks, cfg)
        r[f"recall@{cfg.ks[0]}"] = {k: m[f"recall@{cfg.ks[0]}"] for k, m in got.items()}
        _log(f"{name}: {r}")
    for name in refreshed:
        rep, d = res["refresh"][name], res["quality"][name]
        # both from the run directory to a written store; and against the export alone
        rep["total_s_each"] = totals[name]
        rep["share_of_full_export"] = float(np.median(totals[name])) / res["full_export_from_disk_s"]
        rep["share_of_full_export_each"] = [a / b for a, b in zip(totals[name], from_disk, strict=True)]
        rep["share_of_export_in_memory"] = float(np.median(totals[name])) / res["full_export_s"]
        for t, v in refreshed[name].items():
            cos = _cosine(v, exact[t])
            n0 = v0.count(t)
            copied = np.flatnonzero((v[:n0] == v0.vectors(t)).all(1))
            d[f"cos.{t}"] = {"mean": float(cos.mean()), "min": float(cos.min()),
                             "copied_rows": len(copied),
                             "copied_mean": float(cos[copied].mean()) if len(copied) else None,
                             "copied_min": float(cos[copied].min()) if len(copied) else None}  # fmt: skip
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["prepare", "evaluate", "saves", "edges", "actions", "write",
                                      "fresh", "fresh-call"])  # fmt: skip
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--what", choices=["refresh", "export"], default="refresh", help="fresh-call only")
    p.add_argument("--relations", choices=["saves", "edges", "actions"], default="actions",
                   help="fresh-call only")  # fmt: skip
    args = p.parse_args()
    if args.stage == "fresh-call":
        print(json.dumps(fresh_call(args.out, args.what, args.relations)))
    elif args.stage == "fresh":
        print(json.dumps(fresh(args.out), indent=1))
    elif args.stage == "prepare":
        prepare(args.out)
    elif args.stage == "evaluate":
        print(json.dumps(evaluate(args.out), indent=1))
    elif args.stage == "write":
        print(json.dumps(write_ab(args.out), indent=1))
    else:
        print(json.dumps(refresh_saves(args.out, args.stage), indent=1))


if __name__ == "__main__":
    main()
