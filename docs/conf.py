"""Sphinx configuration of the graphrep documentation (``make docs``).

The API reference, the configuration reference, the command-line reference, the
benchmark pages and the notebook pages are generated at build time from the code,
``docs/benchmarks.md`` and ``notebooks/`` (``_ext/gendocs.py``, into ``_generated/``),
so they cannot drift from the source. The build needs no network: there is no
intersphinx; references to other libraries' types are shown as plain text.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # document this checkout, not an installed copy

import graphrep  # noqa: E402

project = "graphrep"
author = "graphrep authors"
copyright = "graphrep authors"
version = release = graphrep.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "gendocs",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "benchmarks.md"]
# benchmarks.md is the canonical file; the site shows it split into one page per section
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# Every cross-reference to graphrep must resolve (the test suite builds with -W). Other
# libraries' names cannot be checked offline (no intersphinx): they are shown unlinked, as
# are Python literals written as :obj:`128` (PyG's style for defaults).
nitpicky = True
_EXTERNAL = (
    "numpy", "np", "torch", "pandas", "pd", "scipy", "networkx", "nx", "faiss", "pyarrow",
    "numba", "yaml", "ogb", "torch_geometric", "dgl", "sklearn", "tqdm", "rich",
    "tensorboard", "fastapi", "pydantic", "annotated_types", "uvicorn", "starlette",
    "httpx", *sorted(sys.stdlib_module_names),
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_EXTERNAL)})(\..+)?"),
    (r"py:class", r"optional|Path|Tensor|Number"),  # napoleon's "int, optional"; short names
    (r"py:obj", r"-?[\d.]+(e-?\d+)?|\d+\*\*\d+|True|False|None|\(\)|\[\]|\{\}|\"[^\"]*\"|'[^']*'"),
    (r"py:class", r"graphrep\..*\.[A-Z]"),  # TypeVars (T) of generic helpers
    # pydantic fields' metadata, shown in the service schemas' signatures
    (r"py:class", r"FieldInfo|NoneType|_PydanticGeneralMetadata|MaxLen|MinLen|Gt|Ge|Lt|Le"),
]

# --- autodoc / napoleon: Google-style docstrings with RST math ---------------------------
add_module_names = False  # "OmniSage(...)" under its module's heading, not the full path
toc_object_entries_show_parents = "hide"
autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # torch.nn.Module's docstrings are not ours
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# --- MyST (Markdown pages, notebooks stored with their outputs) -------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 4
nb_execution_mode = "off"  # notebooks are executed by `make notebooks`, not by the docs
nb_merge_streams = True

# --- HTML --------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"graphrep {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
