"""``graphrep train | config | embed | eval | neighbors``: the main job's commands.

The contract later tools rely on::

    graphrep train --preset P [--graph DIR] --out RUN [--config YAML] [--set a.b=v ...] [--resume]
    graphrep config --preset P [--config YAML] [--set a.b=v ...]   # the resolved YAML, commented
    graphrep embed RUN [--out DIR [--overwrite]] [--dtype float16] [--index hnsw]
    graphrep embed RUN --update CHANGES            # incremental refresh -> a new version
    graphrep serve RUN [--host 127.0.0.1] [--port 8000]
    graphrep eval RUN [--baselines [NAME ...]] [--link-head]  # prints the table, writes RUN/metrics.json
    graphrep neighbors RUN --type T --id X [-k 10] [--target-type U]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from graphrep.errors import ConfigError

PRESET_NAMES = ["tiny", "default", "large", "cora", "gowalla", "ogbl-ddi"]

if TYPE_CHECKING:  # the CLI imports torch only when a command needs it
    from graphrep.train.config import RunConfig


def preset_name(args: argparse.Namespace) -> str:
    """The preset a command starts from: ``--preset``, else the ``--dataset``'s own, else
    ``default``."""
    from graphrep.train.presets import PRESETS

    return args.preset or (args.dataset if args.dataset in PRESETS else "default")


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """The run config from ``--preset``, ``--config``, ``--graph`` and ``--set`` flags."""
    from graphrep.train.presets import preset
    from graphrep.utils.config import load_yaml

    cfg = preset(preset_name(args))
    if args.config:
        try:
            cfg = cfg.update(load_yaml(args.config))
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from None
    overrides = list(args.set or [])
    if args.graph:
        overrides += ["data.dataset=dir", f"data.path={Path(args.graph).resolve()}"]
    if args.dataset:
        overrides.append(f"data.dataset={args.dataset}")
    if args.root:
        overrides.append(f"data.root={Path(args.root).resolve()}")
    if args.cache_dir:
        overrides.append(f"data.cache_dir={Path(args.cache_dir).resolve()}")
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    if args.threads is not None:
        overrides.append(f"train.num_threads={args.threads}")
    if args.no_progress:
        overrides.append("train.progress=false")
    return cfg.override(overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from graphrep.train.checkpoint import latest_checkpoint
    from graphrep.train.rundir import RunDir
    from graphrep.train.trainer import Trainer
    from graphrep.utils.collectives import get_rank

    run = RunDir(args.out)
    if args.resume:
        cfg = run.config()
        if args.threads is not None:
            cfg = cfg.override([f"train.num_threads={args.threads}"])
    else:
        cfg = resolve_config(args)
        if latest_checkpoint(run.checkpoints) is not None or run.model_path.exists():
            raise ConfigError(
                f"{args.out!r} already holds a run; pass --resume to continue it or choose a new --out"
            )
    try:
        summary = Trainer(cfg, run).fit(resume=args.resume)
    except KeyboardInterrupt:
        if get_rank() == 0:
            last = latest_checkpoint(run.checkpoints)
            where = (f"the last checkpoint is {str(last)!r}" if last is not None
                     else "no checkpoint was written yet")  # fmt: skip
            print(f"graphrep train: interrupted; {where}. Continue with `graphrep train --out "
                  f"{args.out} --resume`", file=sys.stderr)  # fmt: skip
        return 130
    if get_rank() != 0:  # under torchrun, rank 0 reports
        return 0
    if summary.get("already_finished"):
        print(f"run {str(run.path)!r} already finished ({summary['steps']} steps, "
              f"{run.model_path.name} written); nothing to do, nothing changed")  # fmt: skip
        return 0
    print(
        f"trained {summary['steps']} steps (from {summary['resumed_from']}) in "
        f"{summary['train_wall_s']:.1f}s: final loss {summary['final_loss']:.3f}, "
        f"{summary['examples_per_s']:.0f} examples/s, sampling wait "
        f"{100 * summary['sampling_wait_share']:.1f}% of step time, peak RSS "
        f"{summary['peak_rss_mib']:.0f} MiB -> {run.path}"
    )
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from graphrep.embed.export import export_run
    from graphrep.embed.store import Embeddings
    from graphrep.utils.collectives import get_rank

    if args.update:
        return _refresh(args)
    if args.scope is not None:
        raise ConfigError("--scope applies to --update (an incremental refresh) only")

    kw = {k: v for k, v in (("dtype", args.dtype), ("index", args.index)) if v is not None}
    out = export_run(args.run, args.out, overwrite=True if args.overwrite else None, **kw)
    if get_rank() != 0:
        return 0
    emb = Embeddings.load(out)
    counts = ", ".join(f"{t} {emb.count(t):,}" for t in emb.types)
    print(f"embedded {counts} (dim {emb.dim}) -> {out}")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from graphrep.embed.refresh import refresh_run
    from graphrep.embed.versions import embeddings_path

    if args.out or args.dtype or args.index:
        raise ConfigError("--update writes the next version of RUN's embeddings with their dtype "
                          "and indexes; drop --out/--dtype/--index")
    report = refresh_run(args.run, args.update, scope=args.scope)
    parts = ", ".join(f"{t} {c['encoded']:,} of {c['total']:,}" for t, c in report.types.items())
    print(f"version {report.version} ({report.scope} scope): re-encoded {parts} in "
          f"{report.wall_s['total']:.1f}s -> {embeddings_path(args.run, report.version)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from graphrep.serve.app import serve
    except ImportError as exc:
        raise ConfigError(f"graphrep serve needs the serve extra: pip install 'graphrep[serve]' "
                          f"({exc})") from None
    print(f"serving {args.run} on http://{args.host}:{args.port} (docs: /docs)", flush=True)
    breadth = {} if args.ef_search is None else {"ef_search": args.ef_search}
    serve(args.run, args.host, args.port, exact_max=args.exact_max, encode=not args.no_encode,
          **breadth)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from graphrep.eval.report import results_table
    from graphrep.eval.run import evaluate_run
    from graphrep.train.rundir import RunDir

    baselines = [] if args.baselines is None else (args.baselines or ["all"])
    result = evaluate_run(args.run, baselines, log=print, link_head=args.link_head)
    synthetic = result["protocol"]["task"] == "synthetic"
    extra = ["pin_topic_purity@10", "p90_coverage@10"] if synthetic else []
    print(results_table(result["models"], result["protocol"]["headline"], extra))
    print(f"metrics -> {RunDir(args.run).metrics_path}")
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    from graphrep.embed.store import Embeddings
    from graphrep.embed.versions import embeddings_path
    from graphrep.train.rundir import RunDir

    run = RunDir(args.run)
    emb = Embeddings.load(embeddings_path(run) if run.embeddings.exists() else run.path)
    qid: object = args.id
    if emb.ids(args.type).dtype.kind in "iu":  # integer external ids
        try:
            qid = int(args.id)
        except ValueError:
            raise ConfigError(f"--id: node type {args.type!r} has integer ids, got {args.id!r}") from None
    res = emb.neighbors(args.type, [qid], k=args.k, target_type=args.target_type)
    target = args.target_type or args.type
    rows = [
        {"rank": r + 1, "id": _plain(res.ids[0][r]), "score": round(float(res.scores[0][r]), 4)}
        for r in range(len(res.ids[0]))
    ]
    if args.json:
        print(json.dumps({"query": {"type": args.type, "id": _plain(qid)}, "target_type": target,
                          "neighbors": rows}))  # fmt: skip
    else:
        print(f"{args.k} nearest {target} of {args.type} {qid}:")
        for row in rows:
            print(f"  {row['rank']:>3}  {row['id']!s:<24} {row['score']:.4f}")
    return 0


def _plain(x: object) -> object:
    return x.item() if hasattr(x, "item") else x


def cmd_config(args: argparse.Namespace) -> int:
    from graphrep import __version__
    from graphrep.utils.config_doc import commented_yaml

    cfg = resolve_config(args)
    header = (
        f"graphrep {__version__} run configuration: preset {preset_name(args)!r}, resolved, "
        "every field with its meaning.\nEdit and train with: graphrep train --config FILE --out RUN"
    )
    print(commented_yaml(cfg, header), end="")
    return 0


def _add_config_flags(t: argparse.ArgumentParser) -> None:
    """The flags :func:`resolve_config` reads (shared by ``train`` and ``config``)."""
    t.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="run preset (default: the --dataset's own, else 'default'; also the "
                   "synthetic graph's size when neither --graph nor --dataset is given)")  # fmt: skip
    t.add_argument("--dataset", help="a real dataset: cora, citeseer, pubmed, gowalla, ogbl-*, ogbn-*")
    t.add_argument("--root", help="directory with the --dataset's files (read only is fine)")
    t.add_argument("--cache-dir", help="writable directory for processed dataset files")
    t.add_argument("--graph", help="a dataset directory written by `graphrep synth` / GraphDataset.save")
    t.add_argument("--config", help="YAML file merged over the preset")
    t.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                   help="override a config field (repeatable), e.g. --set train.lr=0.001")  # fmt: skip
    t.add_argument("--steps", type=int, help="shortcut for --set train.steps=N")
    t.add_argument("--seed", type=int, help="shortcut for --set train.seed=N")
    t.add_argument("--device", help="cpu or cuda[:N]")
    t.add_argument("--threads", type=int, help="torch threads (0: torch's default)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``train``, ``config``, ``embed``, ``eval`` and ``neighbors`` on the CLI."""
    t = sub.add_parser("train", help="train OmniSage on a graph (synthetic preset by default)",
                       description="Train on the synthetic graph of --preset, or on a saved dataset "
                       "(--graph DIR); write config, checkpoints, logs and model.pt to --out.")  # fmt: skip
    _add_config_flags(t)
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (its saved config)")  # fmt: skip
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("config", help="print the resolved run config as YAML, every field explained",
                       description="Print the config `graphrep train` would use with the same flags, "
                       "as YAML with each field's meaning as a comment (a valid --config file).")  # fmt: skip
    _add_config_flags(c)
    c.set_defaults(func=cmd_config)

    e = sub.add_parser("embed", help="export embeddings of every node type and user of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--out", help="embeddings directory (default: RUN/embeddings, replaced by a "
                   "re-export); a new or empty directory unless --overwrite")  # fmt: skip
    e.add_argument("--overwrite", action="store_true",
                   help="replace --out if it holds embeddings graphrep wrote (files graphrep did "
                   "not write are never deleted)")  # fmt: skip
    e.add_argument("--dtype", choices=["float32", "float16", "int8"])
    e.add_argument("--index", choices=["none", "flat", "hnsw", "ivf"])
    e.add_argument("--update", metavar="CHANGES",
                   help="directory of change tables (nodes_<type>, edges_<relation>, actions "
                   ".parquet): re-encode only what they affect and publish the next version")  # fmt: skip
    e.add_argument("--scope", metavar="exact|local",
                   help="with --update: 'exact' (equal to a full export of the changed graph) "
                   "or 'local' (new/changed nodes, endpoints of new edges, users with new "
                   "actions; other rows kept); default: the run's embed.refresh_scope")  # fmt: skip
    e.set_defaults(func=cmd_embed)

    s = sub.add_parser("serve", help="serve a run's embeddings over HTTP (needs graphrep[serve])")
    s.add_argument("run", help="run directory (or an embeddings directory)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--exact-max", type=int, default=10_000,
                   help="exact search up to this many rows of a target type, HNSW above")
    s.add_argument("--ef-search", type=int, default=None,
                   help="HNSW search breadth, recall vs speed (default 128)")
    s.add_argument("--no-encode", action="store_true", help="do not load the model (/encode off)")
    s.set_defaults(func=cmd_serve)

    v = sub.add_parser("eval", help="evaluate a run's embeddings (and baselines); print the table")
    v.add_argument("run", help="run directory")
    v.add_argument("--baselines", nargs="*", metavar="NAME",
                   help="also train/score baselines (no names: all of them)")  # fmt: skip
    v.add_argument("--link-head", action="store_true", default=None,
                   help="link datasets: also score by the run's jointly trained link head, or by "
                        "OGB's head trained on the frozen embeddings")  # fmt: skip
    v.set_defaults(func=cmd_eval)

    n = sub.add_parser("neighbors", help="nearest neighbours of one node, across types")
    n.add_argument("run", help="run directory (or an embeddings directory)")
    n.add_argument("--type", required=True, help="query node type (e.g. pin, user, query)")
    n.add_argument("--id", required=True, help="external id of the query node")
    n.add_argument("-k", type=int, default=10, help="number of neighbours")
    n.add_argument("--target-type", help="type of the neighbours (default: --type)")
    n.add_argument("--json", action="store_true", help="print JSON")
    n.set_defaults(func=cmd_neighbors)
