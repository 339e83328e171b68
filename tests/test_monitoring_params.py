"""One definition of each monitoring default (issue 15): ``MonitorParams`` holds it; params.yaml's
``monitor`` section, the ``06_monitor`` notebook's parameters cell and docs/monitoring.md must
agree with it, so a threshold changed in one place cannot silently differ in another."""

from __future__ import annotations

import ast
import re
from dataclasses import asdict

import nbformat
import yaml

from conftest import ROOT
from stoffwechsel.monitoring.params import MonitorParams

DEFAULTS = asdict(MonitorParams())


def _params_yaml() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["monitor"]


def _notebook_parameters() -> dict:
    nb = nbformat.read(ROOT / "notebooks" / "06_monitor.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return {k: v for k, v in values.items() if k not in MonitorParams.NOT_MONITORING}


def _same(a: dict, b: dict) -> list[str]:
    """Keys whose values differ (or that only one side has), with both values."""
    return [
        f"{k}: {a.get(k, '<missing>')!r} != {b.get(k, '<missing>')!r}"
        for k in sorted(set(a) | set(b))
        if k not in a or k not in b or a[k] != b[k] or isinstance(a[k], bool) != isinstance(b[k], bool)
    ]


def test_params_yaml_monitor_section_equals_the_defaults():
    assert not _same(DEFAULTS, _params_yaml())


def test_notebook_parameters_cell_equals_the_defaults():
    assert not _same(DEFAULTS, _notebook_parameters())


def test_docs_name_every_parameter_with_its_default():
    docs = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    rows = [line for line in docs.splitlines() if line.startswith("| `")]
    for name, default in DEFAULTS.items():
        (row,) = [r for r in rows if f"`{name}`" in r.split("|")[1]] or [None]
        assert row is not None, f"docs/monitoring.md: no parameter table row names `{name}`"
        names = re.findall(r"`([a-z_]+)`", row.split("|")[1])
        shown = [v.strip() for v in row.split("|")[2].split(",")]
        assert len(shown) == len(names), f"docs/monitoring.md: row of `{name}` gives {len(shown)} defaults for {names}"
        value = shown[names.index(name)]
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        assert value == expected, f"docs/monitoring.md: `{name}` default {value!r}, MonitorParams says {expected!r}"


def test_the_check_can_fail():
    """The comparison notices a changed value and a missing key (a test that cannot fail is a defect)."""
    changed = dict(DEFAULTS, drift_major_psi=0.3)
    assert _same(DEFAULTS, changed) == ["drift_major_psi: 0.25 != 0.3"]
    missing = {k: v for k, v in DEFAULTS.items() if k != "first_screen_alerts"}
    assert _same(DEFAULTS, missing) == ["first_screen_alerts: 6 != '<missing>'"]


def test_the_notebook_builds_its_params_from_every_parameter():
    namespace = dict(_notebook_parameters(), materials_dir="materials")
    assert MonitorParams.from_namespace(namespace) == MonitorParams()
