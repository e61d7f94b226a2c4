"""The notebooks run top to bottom (small settings) with a fresh kernel, and are stored
with their outputs (``make notebooks``), small enough for a repository page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parent.parent
_spec = importlib.util.spec_from_file_location("notebook_tool", ROOT / "tools" / "notebooks.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

NOTEBOOKS = tool.notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = tool.execute(path, tmp_path)  # the same run as `make notebooks`
    assert tool.errors(nb) == []
    assert any(o.get("output_type") != "error" for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_with_its_outputs(path):
    """Committed executed top to bottom (``make notebooks``), with its figures or tables,
    without run-to-run noise, under the size a repository page renders."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} is not stored executed top to bottom: run `make notebooks`"
    )
    outputs = [o for c in code for o in c.outputs]
    assert tool.errors(nb) == []
    rich = [o for o in outputs if {"image/png", "text/html"} & set(o.get("data", {}))]
    assert rich, f"{path.name} is stored without its figures and tables"
    assert not any("execution" in c.metadata for c in code)
    assert "version" not in nb.metadata.get("language_info", {})
    assert path.stat().st_size < tool.MAX_BYTES


def test_there_are_notebooks():
    assert any(p.name == "01_quickstart.ipynb" for p in NOTEBOOKS)


def test_clean_drops_run_noise():
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.metadata["widgets"] = {"state": {}}
    timing = {"iopub.status.busy": "2026-01-01T00:00:00.000000Z"}
    nb.cells.append(nbformat.v4.new_code_cell("1", metadata={"execution": timing, "tags": ["x"]}))
    out = tool.clean(nb)
    assert out.metadata == {"language_info": {"name": "python"}}
    assert out.cells[0].metadata == {"tags": ["x"]}
