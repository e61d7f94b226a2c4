"""Execute the notebooks with their small settings, and store them with their outputs.

``make notebooks`` runs ``python tools/notebooks.py --write``: every ``notebooks/*.ipynb``
is executed top to bottom in a fresh kernel, in a temporary working directory, and
written back in place with its outputs (tables, neighbours, plots as compressed PNG),
so that a repository page shows them without running anything. The test suite runs the
same :func:`execute` (tests/test_notebooks.py) and fails if a cell raises.

Re-running changes as little as possible: one thread per library (fixed reductions),
a fixed hash seed, no execution timestamps, no interpreter version or widget state in
the metadata, and figures at a fixed size and resolution. Figures that measure wall
time (the ANN timings of ``03_downstream``) still change from run to run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MAX_BYTES = 1_000_000  # a stored notebook stays small enough to render on a repository page

#: The kernel's environment on top of ours: one thread per library, a fixed hash seed.
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    # tqdm.auto (imported by PyG) warns that ipywidgets is missing; that is the machine's,
    # not the notebook's business (`make lab` installs ipywidgets)
    "PYTHONWARNINGS": "ignore:IProgress not found",
}
#: Inline figures: PNG only, 80 dpi (readable, and a few tens of kB each).
KERNEL_ARGS = [
    "--InlineBackend.figure_formats={'png'}",
    "--InlineBackend.rc={'figure.dpi': 80, 'savefig.dpi': 80}",
]


def notebooks() -> list[Path]:
    """The notebooks, in name order."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def execute(path: str | os.PathLike, workdir: str | os.PathLike | None = None,
            timeout: int = 600) -> Any:
    """Run the notebook at ``path`` in a fresh ``python3`` kernel; return the executed
    notebook (outputs in place of the stored ones). ``workdir`` is the kernel's working
    directory (default: a new temporary directory). Raises ``CellExecutionError`` when a
    cell fails."""
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)  # the kernel inherits our environment
    try:
        with tempfile.TemporaryDirectory(prefix="graphrep-nb-") as tmp:
            client = NotebookClient(
                nb, timeout=timeout, kernel_name="python3", record_timing=False,
                extra_arguments=KERNEL_ARGS,
                resources={"metadata": {"path": str(workdir or tmp)}},
            )  # fmt: skip
            client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return clean(nb)


def clean(nb: Any) -> Any:
    """``nb`` without what changes between runs but carries no content: execution
    timestamps, widget state, the interpreter's version."""
    nb.metadata.pop("widgets", None)
    info = nb.metadata.get("language_info")
    if info is not None:
        nb.metadata["language_info"] = {k: v for k, v in info.items() if k != "version"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def errors(nb: Any) -> list[str]:
    """The error outputs of an executed notebook, as ``"ename: evalue"``."""
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    p.add_argument("--write", action="store_true", help="store the outputs in place")
    args = p.parse_args(argv)
    paths = [Path(x) for x in args.paths] or notebooks()
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        nb = execute(path)
        bad = errors(nb)
        if bad:
            print(f"{path.name}: {bad}", file=sys.stderr)
            return 1
        if args.write:
            nbformat.write(nb, path)
            size = path.stat().st_size
            print(f"  stored {path} ({size / 1e3:.0f} kB)")
            if size > MAX_BYTES:
                print(f"{path.name} is {size / 1e6:.1f} MB, over {MAX_BYTES / 1e6:.0f} MB: "
                      "shrink its figures or outputs", file=sys.stderr)  # fmt: skip
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
