"""Compile graphrep's numba kernels ahead of the first training step.

numba compiles a kernel the first time it is called with a given signature and, with
``cache=True`` (every graphrep kernel), stores the machine code beside its source (or
under ``NUMBA_CACHE_DIR``); later processes load it in milliseconds. Without a warm
cache, a fresh install's first training step spends about a minute compiling. The install
command (``make setup``, and so ``make demo`` / ``make test``) runs this module once::

    python -m graphrep.warmup

It trains the ``tiny`` preset for a few steps on its generated graph in a temporary
directory and exports the run, which calls the samplers, the validation pass on load,
the featurizer and the export path with the same array types the main job uses, then
deletes the directory. Nothing of the user's is read or written.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "warm"]


def warm(steps: int = 2, workdir: str | Path | None = None) -> float:
    """Train the ``tiny`` preset for ``steps`` steps and export it, compiling (and caching)
    every kernel on that path.

    Args:
        steps: training steps (at least 1).
        workdir: where the temporary run goes (default: the system's temporary directory);
            it is removed afterwards.

    Returns:
        The wall time it took, in seconds.

    Raises:
        ConfigError: ``steps`` is not a positive int.
    """
    from graphrep.embed.export import export_run
    from graphrep.errors import ConfigError
    from graphrep.train import Trainer, preset

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"warmup: steps must be an int >= 1, got {steps!r}")
    t0 = time.perf_counter()
    cfg = preset("tiny").override([f"train.steps={steps}", "train.progress=false",
                                   f"train.checkpoint_every={steps}"])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="graphrep-warmup-", dir=workdir) as tmp:
        run = Path(tmp) / "run"
        Trainer(cfg, run).fit(resume=False)
        export_run(run)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m graphrep.warmup [--steps N]``: compile and cache the kernels."""
    parser = argparse.ArgumentParser(prog="python -m graphrep.warmup", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="training steps of the tiny preset")
    args = parser.parse_args(argv)
    seconds = warm(args.steps)
    print(f"warmup: graphrep's kernels compiled and cached in {seconds:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
