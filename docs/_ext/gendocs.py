"""Sphinx extension: the pages generated from the code at build time.

Into ``docs/_generated/`` (not committed), on every build:

* ``api/``: one page per package of ``graphrep``: the package docstring, a table of
  its public names (``__all__``) and every module with its public members (autodoc);
* ``config.rst``: every :class:`~graphrep.train.config.RunConfig` field with its type,
  default and meaning (:func:`graphrep.utils.config_doc.reference_rst`) and the presets;
* ``cli.rst``: the ``--help`` of ``graphrep`` and every subcommand;
* ``benchmarks/``: ``docs/benchmarks.md`` (the canonical file) split into one page per
  ``##`` section, links rewritten to the new locations;
* ``notebooks/``: copies of ``notebooks/*.ipynb`` with their stored outputs.

It also resolves cross-references to a graphrep object by any of its import paths
(``graphrep.models.OmniSage`` and ``graphrep.models.omnisage.OmniSage``), and warns
(an error under ``-W``) about a public name without documentation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

import graphrep

logger = logging.getLogger(__name__)

GENERATED = "_generated"
ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


# ----------------------------------------------------------------------------- helpers
def _modules(package: str) -> list[str]:
    """Every importable module below ``package`` (recursively, private ones left out)."""
    pkg = importlib.import_module(package)
    names = []
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


ROLE = re.compile(r":(?!math:)[\w:]+:`(~?)([^`<]*?)(?:\s*<([^>]*)>)?`")  # math stays


def _unlinked(rst: str) -> str:
    """``:class:`~a.B``` -> ````B````: a docstring's references as literals, for a table
    cell away from the module and class that its relative references need."""

    def literal(m: re.Match) -> str:
        tilde, text, target = m.groups()
        shown = text.strip() if target is not None else text.rsplit(".", 1)[-1] if tilde else text
        return f"``{shown}``"

    return ROLE.sub(literal, rst)


def _summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, references unlinked."""
    doc = inspect.getdoc(obj) or ""
    return _unlinked(doc.split("\n\n")[0].replace("\n", " ").strip())


def _first_sentence(text: str) -> str:
    return _unlinked(text.strip().split(". ")[0].rstrip(".") + ".") if text.strip() else ""


def _assigned_names(module: str) -> set[str]:
    """Names the module's source assigns at top level (imports do not count)."""
    source = ModuleAnalyzer.for_module(module).code
    names: set[str] = set()
    for stmt in ast.parse(source).body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _defining_module(name: str, obj: Any, candidates: list[str]) -> str | None:
    """The module among ``candidates`` whose source assigns ``name`` (for data objects)."""
    for mod in candidates:
        if name in _assigned_names(mod) and getattr(importlib.import_module(mod), name, None) is obj:
            return mod
    return None


def _is_documented_data(module: str, name: str) -> bool:
    analyzer = ModuleAnalyzer.for_module(module)
    return ("", name) in analyzer.find_attr_docs()


def _canonical(obj: Any) -> str | None:
    """``module.qualname`` of a class or function (where autodoc documents it)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        if module and qualname and "<" not in qualname:
            return f"{module}.{qualname}"
    return None


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _cell(text: str) -> str:
    return text.replace("\n", " ")


# ----------------------------------------------------------------------------- API pages
def _public_rows(package: str, modules: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(reference, summary)`` per name of ``package.__all__``, and the package's own data."""
    pkg = importlib.import_module(package)
    rows, own_data = [], []
    for name in getattr(pkg, "__all__", []):
        obj = getattr(pkg, name)
        target = _canonical(obj)
        if target is not None:
            if not (inspect.getdoc(obj) or "").strip() or obj.__doc__ is None:
                logger.warning(f"public name {package}.{name} ({target}) has no docstring")
            rows.append((f":py:obj:`{name} <{target}>`", _summary(obj)))
            continue
        module = _defining_module(name, obj, [*modules, package])
        if module is None:
            logger.warning(f"public name {package}.{name}: no module of {package} assigns it")
            continue
        if not _is_documented_data(module, name):
            logger.warning(f"public name {package}.{name} has no '#:' doc comment in {module}")
        if module == package:
            own_data.append(name)
        doc = ModuleAnalyzer.for_module(module).find_attr_docs().get(("", name))
        summary = _first_sentence(" ".join(doc)) if doc else ""
        rows.append((f":py:data:`{name} <{module}.{name}>`", summary))
    return rows, own_data


def _api_page(package: str, modules: list[str], title: str) -> str:
    out = _heading(title, "=")
    out += [f".. automodule:: {package}", "   :no-members:", ""]
    rows, own_data = _public_rows(package, modules)
    if rows:
        out += _heading("Public names", "-")
        out += [".. list-table::", "   :widths: 30 70", ""]
        for ref, summary in rows:
            out += [f"   * - {ref}", f"     - {_cell(summary)}" if summary else "     -"]
        out.append("")
    for name in own_data:
        out += [f".. autodata:: {package}.{name}", ""]
    if modules:
        out += _heading("Modules", "-")
    for mod in modules:
        m = importlib.import_module(mod)
        if not (m.__doc__ or "").strip():
            logger.warning(f"module {mod} has no docstring")
        out += _heading(f"``{mod}``", "~")
        out += [f".. automodule:: {mod}", ""]
    return "\n".join(out)


def api_pages() -> dict[str, str]:
    """``api/<package>.rst`` for ``graphrep`` and each of its subpackages, and ``api/index``."""
    top = "graphrep"
    subpackages = [
        f"{top}.{m.name}" for m in pkgutil.iter_modules(graphrep.__path__) if m.ispkg
        and not m.name.startswith("_")
    ]  # fmt: skip
    top_modules = [
        f"{top}.{m.name}" for m in pkgutil.iter_modules(graphrep.__path__)
        if not m.ispkg and not m.name.startswith("_")
    ]  # fmt: skip
    pages = {f"api/{top}.rst": _api_page(top, top_modules, f"``{top}``")}
    for pkg in sorted(subpackages):
        pages[f"api/{pkg}.rst"] = _api_page(pkg, _modules(pkg), f"``{pkg}``")
    index = _heading("API reference", "=")
    index += [
        "Every public name of the package, generated from the docstrings. A name is",
        "documented once, in the module that defines it; each package page starts with the",
        "names it exports (``from graphrep.models import OmniSage``).",
        "",
        ".. list-table::",
        "   :widths: 30 70",
        "",
    ]
    for pkg in [top, *sorted(subpackages)]:
        summary = _summary(importlib.import_module(pkg))
        index += [f"   * - :doc:`{pkg}`", f"     - {_cell(summary)}"]
    index += ["", ".. toctree::", "   :hidden:", ""]
    index += [f"   {pkg}" for pkg in [top, *sorted(subpackages)]]
    pages["api/index.rst"] = "\n".join(index) + "\n"
    return pages


# ----------------------------------------------------------------------------- config, CLI
def config_page() -> str:
    import yaml

    from graphrep.train import PRESETS, RunConfig
    from graphrep.utils.config_doc import reference_rst

    out = _heading("Configuration reference", "=")
    out += [
        ".. currentmodule:: graphrep.train.config",
        "",
        "Every choice of a run is a field of :class:`~graphrep.train.config.RunConfig`, a tree",
        "of typed dataclasses read from YAML (``graphrep train --config run.yaml``) and",
        "overridden by ``--set section.field=value``. This page is generated from the",
        "dataclasses' docstrings; the defaults are the dataclasses' own (the ``default``",
        "preset changes a few, listed below). ``graphrep config --preset P`` prints the",
        "resolved configuration of a preset as YAML with the same explanations as comments.",
        "",
        ".. code-block:: bash",
        "",
        "   graphrep config --preset default > run.yaml    # edit, then:",
        "   graphrep train --config run.yaml --out runs/mine",
        "",
    ]
    out += [reference_rst(RunConfig), ""]
    out += _heading("Presets", "-")
    out += [
        "A preset is a mapping of overrides on the defaults above",
        "(:data:`graphrep.train.presets.PRESETS`); ``--preset`` picks one.",
        "",
    ]
    for name, overrides in PRESETS.items():
        out += _heading(f"``{name}``", "~")
        text = yaml.safe_dump(overrides, sort_keys=False, default_flow_style=None, width=88)
        out += [".. code-block:: yaml", ""] + [f"   {line}" for line in text.splitlines()] + [""]
    return "\n".join(out)


def cli_page() -> str:
    from graphrep.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "92"  # argparse wraps help to the terminal: keep the page stable
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        out = _heading("Command line", "=")
        out += [
            "Generated from the argument parser (:func:`graphrep.cli.build_parser`): what",
            "``graphrep --help`` and ``graphrep COMMAND --help`` print.",
            "",
            ".. code-block:: text",
            "",
        ]
        out += [f"   {line}".rstrip() for line in parser.format_help().splitlines()] + [""]
        for name, p in sub.choices.items():
            out += _heading(f"``graphrep {name}``", "-")
            out += [".. code-block:: text", ""]
            out += [f"   {line}".rstrip() for line in p.format_help().splitlines()] + [""]
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out)


# ----------------------------------------------------------------------------- benchmarks
def _slug(title: str) -> str:
    from myst_parser.slugs import github_slugify

    return github_slugify(re.sub(r"[`*_]", "", title).strip())


def _sections(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The lines before the first ``##`` heading and ``(title, lines)`` per ``##`` section
    (headings inside code fences do not count)."""
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
        elif not line.startswith("# "):
            intro.append(line)
    return intro, sections


def benchmark_pages(source: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``benchmarks/*.md`` pages from ``docs/benchmarks.md``, and ``{anchor: page}`` for every
    heading (to send links into the file to the page that holds the heading)."""
    intro, sections = _sections(source.read_text())
    names: dict[str, str] = {}
    anchors: dict[str, str] = {}
    for title, lines in sections:
        name = _slug(title.split("(")[0]).strip("-") or "section"  # "Real data (...)": real-data
        while name in names.values():
            name += "-2"
        names[title] = name
        anchors[_slug(title)] = name
        fenced = False
        for line in lines:
            if FENCE.match(line):
                fenced = not fenced
            m = re.match(r"^(#{3,6}) (.*)$", line)
            if m and not fenced:
                anchors.setdefault(_slug(m.group(2)), name)
    pages: dict[str, str] = {}
    here = f"{GENERATED}/benchmarks"
    for title, lines in sections:
        body, fenced = [], False
        for line in lines:
            if FENCE.match(line):
                fenced = not fenced
            if not fenced and re.match(r"^#{3,6} ", line):
                line = line[1:]  # one level up: the section is the page
            body.append(line)
        text = "\n".join([f"# {title}", *body]).strip() + "\n"
        pages[f"benchmarks/{names[title]}.md"] = rewrite_links(text, here, anchors, here)
    index = ["# Benchmarks", "", *intro, ""]
    index += [
        "Measured figures with the exact commands and the machine. The source is one file,",
        "`docs/benchmarks.md`, shown here one page per section.",
        "",
        "```{toctree}",
        ":maxdepth: 2",
        "",
        *[names[t] for t, _ in sections],
        "```",
        "",
    ]
    pages["benchmarks/index.md"] = rewrite_links("\n".join(index), here, anchors, here)
    return pages, anchors


def rewrite_links(text: str, doc_dir: str, anchors: dict[str, str], source_dir: str = "") -> str:
    """Markdown links of a page in ``doc_dir`` (relative to ``docs/``) retargeted: links
    into ``benchmarks.md`` go to the generated page holding the anchor; a page generated
    from ``docs/benchmarks.md`` keeps its other relative links pointing where they did."""
    bench = f"{GENERATED}/benchmarks"

    def rel(target: str) -> str:
        return os.path.relpath(target, doc_dir or ".").replace(os.sep, "/")

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # a URL (https:, mailto:, ...)
            return m.group(0)
        path, _, anchor = target.partition("#")
        if not path:  # an anchor in the same file
            if source_dir == bench and anchor in anchors:
                return f"{m.group(1)}{rel(f'{bench}/{anchors[anchor]}.md')}#{anchor}{m.group(3)}"
            return m.group(0)
        base = source_dir if source_dir != bench else ""  # benchmarks.md lives in docs/
        resolved = os.path.normpath(os.path.join(base, path)).replace(os.sep, "/")
        if resolved == "benchmarks.md":
            page = anchors.get(anchor, "index") if anchor else "index"
            new = rel(f"{bench}/{page}.md") + (f"#{anchor}" if anchor else "")
        else:
            new = rel(resolved) + (f"#{anchor}" if anchor else "")
        return f"{m.group(1)}{new}{m.group(3)}"

    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else LINK.sub(fix, line))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


# ----------------------------------------------------------------------------- build hooks
def _write(path: Path, data: str | bytes) -> None:
    """Write only when the content changed (Sphinx rebuilds pages whose sources changed)."""
    raw = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == raw:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def generate(app: Sphinx) -> None:
    src = Path(app.srcdir)
    out = src / GENERATED
    files: dict[str, str | bytes] = {}
    files.update(api_pages())
    files["config.rst"] = config_page()
    files["cli.rst"] = cli_page()
    pages, anchors = benchmark_pages(src / "benchmarks.md")
    files.update(pages)
    app.env.graphrep_benchmark_anchors = anchors  # type: ignore[attr-defined]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files[f"notebooks/{nb.name}"] = nb.read_bytes()
    for rel, data in files.items():
        _write(out / rel, data)
    if out.is_dir():  # drop pages of removed modules, sections or notebooks
        keep = {out / rel for rel in files}
        for path in sorted(out.rglob("*"), reverse=True):
            if path.is_file() and path not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                shutil.rmtree(path)


def retarget_benchmark_links(app: Sphinx, docname: str, source: list[str]) -> None:
    """Links from hand-written pages into ``benchmarks.md`` go to its generated pages."""
    if docname.startswith(f"{GENERATED}/") or not str(app.env.doc2path(docname)).endswith(".md"):
        return
    anchors = getattr(app.env, "graphrep_benchmark_anchors", {})
    doc_dir = os.path.dirname(docname)
    source[0] = rewrite_links(source[0], doc_dir, anchors, doc_dir)


def _import(path: str) -> Any:
    """The object at a dotted path (module attributes followed), or ``None``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _documented_as(path: str) -> str | None:
    """Where autodoc documents the graphrep object that ``path`` imports."""
    head, _, attr = path.rpartition(".")
    obj = _import(path)
    if obj is None:
        return None
    target = _canonical(obj)
    if target is not None:
        return target
    owner = _import(head) if head else None
    if inspect.isclass(owner) and _canonical(owner):  # a method, property or attribute
        return f"{_canonical(owner)}.{attr}"
    if inspect.ismodule(obj):
        return obj.__name__
    if inspect.ismodule(owner) and owner.__name__.startswith("graphrep"):  # data
        package = owner.__name__ if hasattr(owner, "__path__") else owner.__name__.rpartition(".")[0]
        module = _defining_module(attr, obj, [owner.__name__, *_modules(package)])
        return f"{module}.{attr}" if module else None
    return None


def resolve_alias(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``graphrep.models.OmniSage`` (and names imported into a module) to the
    place where the object is documented."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module and not target.startswith("graphrep."):
        if cls:
            candidates.append(f"{module}.{cls}.{target}")
        candidates.append(f"{module}.{target}")
    domain = env.get_domain("py")
    for cand in candidates:
        if not cand.startswith("graphrep."):
            continue
        where = _documented_as(cand)
        if where is None or where == target:  # Sphinx has looked that up already
            continue
        ref = domain.resolve_any_xref(env, node["refdoc"], app.builder, where, node, contnode)
        if ref:
            return ref[0][1]
    return None


def dataclass_signature(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                        signature: str | None, return_annotation: str | None) -> Any:
    """``field(default_factory=...)`` defaults show as ``...``: autodoc's ``<factory>`` is
    no Python, and a signature that does not parse loses its annotations' structure."""
    if signature and "<factory>" in signature:
        return re.sub(r"=\s*<factory>", "= ...", signature), return_annotation
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-signature", dataclass_signature)
    app.connect("source-read", retarget_benchmark_links)
    app.connect("missing-reference", resolve_alias)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

