"""Peak memory of the ranks of a torchrun job: summed PSS (proportional set size).

PSS divides every shared page by the number of processes mapping it, so the sum
over ranks is the machine memory the job really uses: a memory-mapped graph in the
page cache counts once, a private copy per rank counts N times.

Usage (runs the command, samples /proc/PID/smaps_rollup of its ranks every second):

    python benchmarks/rank_memory.py -- torchrun --nproc_per_node 4 -m graphrep train ...

Prints the peak of the summed PSS, and per rank the peak PSS, RSS, and the
anonymous / file-backed parts of PSS at the summed peak. Linux only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File")


def rollup(pid: int) -> dict[str, int] | None:
    """The smaps_rollup fields (KiB) of ``pid`` (None once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in FIELDS:
            out[key] = int(rest.split()[0])
    return out


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc/PID/task/*/children)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def is_rank(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "python" in cmd and "torchrun" not in cmd and "graphrep" in cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("give the command to measure after --")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_sum, at_peak = 0, {}
    per_rank: dict[int, dict[str, int]] = {}
    while proc.poll() is None:
        ranks = [p for p in [proc.pid, *descendants(proc.pid)] if is_rank(p)]
        sample = {p: r for p in ranks if (r := rollup(p)) is not None}
        total = sum(r["Pss"] for r in sample.values())
        for p, r in sample.items():
            best = per_rank.setdefault(p, dict.fromkeys(FIELDS, 0))
            for k in FIELDS:
                best[k] = max(best[k], r.get(k, 0))
        if total > peak_sum:
            peak_sum, at_peak = total, sample
        time.sleep(args.interval)
    wall = time.perf_counter() - start
    mib = 1024
    print(f"command: {' '.join(cmd)}")
    print(f"exit {proc.returncode}, wall {wall:.0f} s, ranks {len(per_rank)}")
    print(f"peak summed PSS: {peak_sum / mib:,.0f} MiB")
    for i, (p, best) in enumerate(sorted(per_rank.items())):
        now = at_peak.get(p, {})
        print(f"  rank process {i} (pid {p}): peak PSS {best['Pss'] / mib:,.0f} MiB, peak RSS "
              f"{best['Rss'] / mib:,.0f} MiB; at the summed peak PSS anon "
              f"{now.get('Pss_Anon', 0) / mib:,.0f} + file {now.get('Pss_File', 0) / mib:,.0f} MiB")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
