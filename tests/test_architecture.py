"""docs/architecture.md's promises about the code's layout (issue 15): each "where to change"
answer names one place that exists, and no module grows past about 600 lines without saying why."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

LIMIT = 600
PACKAGE = ROOT / "lib" / "stoffwechsel"


def _where_to_change_rows() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Where to change", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| (")]
    return [(cells[0].strip(), cells[1].strip()) for cells in rows]


def test_each_where_to_change_answer_names_one_existing_place():
    rows = _where_to_change_rows()
    assert [what[:3] for what, _ in rows] == ["(a)", "(b)", "(c)", "(d)"]
    for what, place in rows:
        files = re.findall(r"`((?:lib/|params\.yaml)[^`]*)`", place)
        assert len(files) == 1, (what, files)
        assert (ROOT / files[0]).exists(), (what, files[0])


def test_no_module_over_the_limit_without_a_reason_in_its_docstring():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > LIMIT:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            if f"over {LIMIT} lines" not in doc:
                long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not long, long
