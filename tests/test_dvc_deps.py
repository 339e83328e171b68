"""dvc.yaml states each stage's real code inputs, and this test keeps it so (issue 15).

For every stage the test derives, from what the stage executes, the package modules it needs:
the stage notebook's imports of ``stoffwechsel`` (and, for a stage that executes the site's page
notebooks, theirs), followed transitively through ``lib/stoffwechsel``; for the ``site`` stage,
the imports of the CLI command it runs. A module missing from the stage's ``deps`` means a
change to it would not re-run the stage: DVC would reproduce the wrong thing without a warning.
A declared module the stage never imports makes it re-run for nothing; both fail, named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT

PACKAGE = ROOT / "lib" / "stoffwechsel"
#: Stages whose notebook executes the site's page notebooks (``notebooks.run_page_notebooks``).
PAGE_RUNNERS = ("verify",)
#: What a non-notebook stage runs: stage -> (CLI function, module that defines it).
CLI_STAGES = {"site": ("build_site_command", "cli"), "reproduce": ("check_reproduction_command", "cli")}
#: Stages that render executed notebooks they do not execute: what those show depends on the
#: code the notebooks import, so the renderer re-runs when that code changes.
RENDERED = {"site": ("notebooks/07_verify.ipynb", "notebooks/pages/*.ipynb")}
#: Modules imported everywhere for reasons that cannot change a stage's outputs.
NOT_DEPS = {
    "__init__": "holds only the package docstring and version",
}


def module_file(name: str) -> Path | None:
    """``lib/stoffwechsel/<name>.py`` (or a subpackage's ``__init__.py``) for a dotted module name
    relative to the package, or None when it is not part of the package."""
    path = PACKAGE.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(tree: ast.AST, current: str = "") -> set[str]:
    """Package modules (dotted, relative to ``stoffwechsel``) imported anywhere in ``tree``,
    function-level imports included. ``current`` is the importing module (for relative imports)."""
    found: set[str] = set()
    package_parts = current.split(".")[:-1] if current else []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("stoffwechsel."):
                    found.add(alias.name.removeprefix("stoffwechsel."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                base = package_parts[: len(package_parts) - (node.level - 1)]
            elif node.module == "stoffwechsel" or (node.module or "").startswith("stoffwechsel."):
                base = []
            else:
                continue
            module = ".".join([*base, *(node.module or "").removeprefix("stoffwechsel").lstrip(".").split(".")]).strip(
                "."
            )
            if node.module == "stoffwechsel":
                module = ".".join(base)
            for alias in node.names:  # `from pkg import name` may import a submodule
                sub = f"{module}.{alias.name}".strip(".")
                found.add(sub if module_file(sub) else module)
    return {m for m in found if m and module_file(m)}


def closure(modules: set[str]) -> set[str]:
    """``modules`` and every package module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        todo += imported_modules(
            ast.parse(path.read_text(encoding="utf-8")), name if path.name != "__init__.py" else f"{name}.__init__"
        )
    return seen


def notebook_imports(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return imported_modules(ast.parse(source))


def cli_function_imports(function: str, module: str) -> set[str]:
    tree = ast.parse(module_file(module).read_text(encoding="utf-8"))
    (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    return imported_modules(fn, module)


def required_deps(name: str, stage: dict) -> set[str]:
    """Files (relative to the root) that the stage's code depends on."""
    files: set[str] = set()
    if name in CLI_STAGES:
        modules = cli_function_imports(*CLI_STAGES[name])
        for pattern in RENDERED.get(name, ()):
            for notebook in sorted(ROOT.glob(pattern)):
                files.add(notebook.relative_to(ROOT).as_posix())
                modules |= notebook_imports(notebook)
    else:
        (notebook,) = (ROOT / "notebooks").glob(f"[0-9][0-9]_{name}.ipynb")
        files.add(notebook.relative_to(ROOT).as_posix())
        modules = notebook_imports(notebook)
        if name in PAGE_RUNNERS:
            for page in sorted((ROOT / "notebooks" / "pages").glob("*.ipynb")):
                files.add(page.relative_to(ROOT).as_posix())
                modules |= notebook_imports(page)
    for module in closure(modules):
        if module.split(".")[-1] not in NOT_DEPS:
            files.add(module_file(module).relative_to(ROOT).as_posix())
    return files


def covered(path: str, declared: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_declares_the_code_it_runs(name):
    declared = [d if isinstance(d, str) else next(iter(d)) for d in STAGES[name].get("deps", [])]
    required = required_deps(name, STAGES[name])
    missing = sorted(p for p in required if not covered(p, declared))
    assert not missing, f"dvc.yaml stage '{name}' imports or runs these but does not list them in deps: {missing}"
    declared_code = [d for d in declared if d.startswith("lib/") and d.endswith(".py")]
    extra = sorted(d for d in declared_code if d not in required)
    assert not extra, f"dvc.yaml stage '{name}' lists modules it never imports (re-runs for nothing): {extra}"


def test_the_derivation_sees_transitive_and_relative_imports():
    """The checker itself: a stage notebook that imports only ``data.contract`` needs ``data.io``
    and ``config`` too, which contract imports; a relative import (``from .io import ...``, which
    the package no longer uses but Python allows) resolves inside the importing sub-package."""
    needed = closure({"data.contract"})
    assert {"data.contract", "data.io", "data.dialect", "config"} <= needed
    assert not any(m.startswith(("monitoring", "features", "site")) for m in needed)
    assert imported_modules(ast.parse("from .io import write_csv"), "data.contract") == {"data.io"}
    assert imported_modules(ast.parse("from .. import glossary"), "monitoring.alerts") == {"glossary"}


@pytest.mark.pipeline
def test_a_change_to_chart_code_re_renders_the_site(pipeline_clone):
    """The stale-page case: a change to the monitoring package (chart code the pages import) used to re-run
    only `monitor`, which wrote the same bytes, so `site` showed the old pages. Now every stage
    that executes or renders those pages is out of date, and only those (`monitor` computes the
    alerts and draws nothing, so it does not re-run)."""
    import json

    from conftest import run

    module = pipeline_clone / "lib" / "stoffwechsel" / "monitoring" / "plots.py"
    original = module.read_bytes()
    try:
        module.write_bytes(original + b"\n# a chart tweak\n")
        status = json.loads(run(["dvc", "status", "--json"], pipeline_clone).stdout)
    finally:
        module.write_bytes(original)
    import yaml

    stages = yaml.safe_load((pipeline_clone / "dvc.yaml").read_text())["stages"]
    drawing = {
        name for name, stage in stages.items() if "lib/stoffwechsel/monitoring/plots.py" in stage.get("deps", [])
    }
    assert {"verify", "site"} <= drawing, drawing  # the stages that draw the charts declare the chart code
    assert set(status) == drawing, status  # exactly those are out of date: no stale page, no needless rerun
    assert "features" not in status and "train" not in status
