"""The documentation site builds from the code with no warning (``make docs``).

Sphinx runs with ``-W -n`` (warnings are errors, every cross-reference must resolve), so
a public name without a docstring, a module without one, a broken ``:class:`` reference
or malformed RST in a docstring fails here. The generated pages (API reference,
configuration and command-line reference, benchmark and notebook pages) are checked to be
there. One test builds once (the build writes ``docs/_generated``, so it must not run
twice at the same time under xdist).
"""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphrep

ROOT = Path(__file__).parent.parent


def _build(out: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("sphinx") is None:  # fail, not skip: CI must build the docs
        pytest.fail("the docs toolchain is not installed: pip install -e '.[docs]'")
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip


def test_docs_build_without_warnings_and_hold_the_generated_pages(tmp_path):
    site = tmp_path / "html"
    proc = _build(site)
    assert proc.returncode == 0, f"docs build failed (make docs):\n{proc.stderr[-6000:]}"
    assert (site / "index.html").is_file()

    api = site / "_generated" / "api"
    packages = ["graphrep", *(f"graphrep.{m.name}" for m in pkgutil.iter_modules(graphrep.__path__)
                              if m.ispkg)]  # fmt: skip
    assert [p for p in packages if not (api / f"{p}.html").is_file()] == []
    models = (api / "graphrep.models.html").read_text()
    assert 'id="graphrep.models.omnisage.OmniSage"' in models  # documented where it is defined

    config = (site / "_generated" / "config.html").read_text()
    assert "train.lr" in config and "peak learning rate of AdamW" in config
    cli = (site / "_generated" / "cli.html").read_text()
    assert "graphrep config" in cli and "--preset" in cli
    bench = site / "_generated" / "benchmarks"
    assert (bench / "index.html").is_file() and len(list(bench.glob("*.html"))) > 2
    for name in ("01_quickstart", "02_real_data", "03_downstream"):
        page = (site / "_generated" / "notebooks" / f"{name}.html").read_text()
        assert "<img" in page or "<table" in page, f"{name}: its stored outputs are not shown"


_MARKERS = ("<" * 7 + " ", ">" * 7 + " ")  # built here so this file holds no marker itself
_SOURCES = ("README.md", "docs", "graphrep", "tests", "benchmarks", "notebooks", "tools")
_SUFFIXES = {".md", ".py", ".ipynb", ".yaml", ".yml", ".toml", ".rst", ".txt", ".cfg"}


def test_no_merge_conflict_markers_in_docs_or_sources():
    """A committed ``<<<<<<<``/``>>>>>>>`` block renders silently in Markdown; refuse it."""
    found = []
    for top in _SOURCES:
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.suffix not in _SUFFIXES or "_generated" in path.parts or not path.is_file():
                continue
            for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if line.startswith(_MARKERS):
                    found.append(f"{path.relative_to(ROOT)}:{no}")
    assert not found, f"merge-conflict markers left in: {found}"
