"""``graphrep`` command line: ``synth``, ``info``, and the main job's ``train``, ``embed``,
``eval`` and ``neighbors`` (:mod:`graphrep.cli_run`).

The CLI only parses arguments and calls the public API; every piece of work
lives in the library so notebooks and scripts can do the same in Python.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence

from graphrep import __version__
from graphrep.cli_run import add_commands
from graphrep.data.dataset import GraphDataset
from graphrep.errors import GraphrepError
from graphrep.graph.ragged import Ragged
from graphrep.utils.atomic import check_replaceable


def _fmt_count(n: int) -> str:
    return f"{n:,}"


def describe(ds: GraphDataset) -> str:
    """Human-readable schema and statistics of a dataset (what ``graphrep info`` prints)."""
    g = ds.graph
    lines = ["node types:"]
    w = max((len(nt) for nt in g.node_types), default=4)
    for nt in g.node_types:
        ids = " (external ids)" if nt in g.node_ids else ""
        lines.append(f"  {nt:<{w}}  {_fmt_count(g.num_nodes[nt]):>14} nodes{ids}")
    lines.append("relations (reverses rev_<rel> stored too):")
    for et in g.canonical_edge_types:
        csr = g.csr(et)
        extra = f"  edge arrays: {', '.join(csr.edge_data)}" if csr.edge_data else ""
        name = f"{et[0]} --{et[1]}--> {et[2]}"
        lines.append(f"  {name:<36} {_fmt_count(csr.num_edges):>14} edges{extra}")
    lines.append("features:")
    any_feat = False
    for nt, feats in g.features.items():
        for name, v in feats.items():
            any_feat = True
            if isinstance(v, Ragged):
                mean = v.lengths().mean() if len(v) else 0.0
                desc = f"token lists, {_fmt_count(len(v.values))} tokens (mean {mean:.1f}/node)"
            else:
                desc = f"dense {v.dtype} {list(v.shape)}"
            lines.append(f"  {nt}.{name}: {desc}")
    if not any_feat:
        lines.append("  (none)")
    gib = g.nbytes_topology / 2**30
    per_edge = g.nbytes_topology / max(g.num_edges(), 1)
    lines.append(
        f"total: {_fmt_count(g.num_edges())} edges; topology {gib:.3f} GiB "
        f"({per_edge:.2f} bytes/edge, both directions)"
    )
    if ds.events is not None:
        ev = ds.events
        span = f", time {int(ev.timestamp.min())}..{int(ev.timestamp.max())}" if len(ev) else ""
        lines.append(
            f"events: {_fmt_count(len(ev))} actions by {_fmt_count(ev.num_users)} users "
            f"(actions: {', '.join(ev.action_names)}{span})"
        )
    if "cut_time" in ds.meta:
        lines.append(f"training cut time: {ds.meta['cut_time']}")
    if ds.truth:
        lines.append(
            "ground truth: " + ", ".join(f"{k} {list(v.shape)}" for k, v in ds.truth.items())
        )
    return "\n".join(lines)


def _cmd_synth(args: argparse.Namespace) -> int:
    from graphrep.data.synthetic import generate, preset_config

    cfg = preset_config(args.preset, scale=args.scale)
    check_replaceable(args.out, args.overwrite)  # before minutes of generation
    t0 = time.perf_counter()
    ds = generate(cfg, seed=args.seed)
    t1 = time.perf_counter()
    ds.save(args.out, overwrite=args.overwrite)
    t2 = time.perf_counter()
    print(
        f"synthetic preset {args.preset!r} (seed {args.seed}, scale {args.scale}): "
        f"generated in {t1 - t0:.1f}s, saved to {args.out} in {t2 - t1:.1f}s"
    )
    print(describe(ds))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    print(f"{args.dir}:")
    print(describe(GraphDataset.load(args.dir)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    p = argparse.ArgumentParser(
        prog="graphrep",
        description="Universal entity embeddings for heterogeneous graphs (PinSage / OmniSage on CPU).",
    )
    p.add_argument("--version", action="version", version=f"graphrep {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser(
        "synth",
        help="generate the built-in synthetic Pinterest-like graph and save it",
        description="Generate the synthetic pin/board/user/query graph with planted topics, "
        "its user EventLog and ground truth, and save them to a directory.",
    )
    s.add_argument(
        "--preset",
        choices=["tiny", "default", "large"],
        default="default",
        help="size preset (tiny: tests, default: the main job, large: >= 50M edges)",
    )
    s.add_argument(
        "--seed", type=int, default=0, help="random seed; one seed gives one identical graph"
    )
    s.add_argument("--scale", type=float, default=1.0, help="multiply entity and event counts")
    s.add_argument("--out", required=True, help="output directory (written atomically); "
                   "a new or empty directory unless --overwrite")  # fmt: skip
    s.add_argument("--overwrite", action="store_true",
                   help="replace --out if it is a dataset graphrep wrote (files graphrep did not "
                   "write are never deleted)")  # fmt: skip
    s.set_defaults(func=_cmd_synth)

    i = sub.add_parser(
        "info",
        help="print the schema and statistics of a saved graph or dataset",
        description="Print node types with counts, relations with edge counts, feature shapes "
        "and EventLog size of a directory written by `graphrep synth` or HeteroGraph.save().",
    )
    i.add_argument("dir", help="saved graph or dataset directory")
    i.set_defaults(func=_cmd_info)
    add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphrep`` console script."""
    args = build_parser().parse_args(argv)
    prog = f"graphrep {args.command}"

    def show(message: Warning | str, *_: object, **__: object) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            return int(args.func(args))
        except GraphrepError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except MemoryError as exc:
            print(f"{prog}: error: out of memory ({exc or 'allocation failed'}); the input is "
                  "larger than this machine can hold: check node counts, --scale or batch sizes",
                  file=sys.stderr)  # fmt: skip
        except OSError as exc:  # a file error the library did not name itself: name the path
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
