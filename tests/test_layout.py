"""The package's folder tree says what `dvc dag` says (issue 23): no import cycles, each
sub-package imports only those below it, the simulator and the studies stay out of the pipeline's
code, sub-package ``__init__`` files load nothing heavy, and module names are unique (the feature
views' version fingerprints read a module by its name: lib/stoffwechsel/features/views.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lib" / "stoffwechsel"

#: The floors, lowest first: a module may import its own floor and those below it. The ground
#: floor is what every floor needs (vocabulary, settings, errors, the words and the privacy rules
#: that monitoring and the site both use, exact arithmetic).
FLOORS = (
    ("ground", {"domain", "config", "errors", "glossary", "formats", "privacy", "exact"}),
    ("data", None),
    ("features", None),
    ("model", None),
    ("monitoring", None),
    ("site", None),
    ("simulation", None),
    ("studies", None),
    (
        "top",
        {"cli", "__main__", "verification", "readme_check", "bench", "notebooks", "notebook_hygiene", "reproduction"},
    ),
)
#: Who may import the simulator and the studies (and the tests, which are not in the package).
MAY_IMPORT_SIMULATION = {"simulation", "studies", "top:cli", "top:__main__"}


def module_name(path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, object]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at the top or inside a function)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets.add(mod)
                targets.update(f"{mod}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in known and t != name and t != "stoffwechsel"}
    return graph


def floor_of(name: str) -> tuple[int, str]:
    parts = name.split(".")
    if len(parts) == 1:  # the package itself
        return 0, "ground"
    head = parts[1]
    for rank, (floor, members) in enumerate(FLOORS):
        if members is None and head == floor:
            return rank, floor
        if members is not None and len(parts) == 2 and head in members:
            return rank, f"{floor}:{head}" if floor == "top" else floor
    raise AssertionError(f"{name}: in no floor of tests/test_layout.py's FLOORS (add it)")


def test_every_module_has_a_floor_and_the_top_level_holds_only_ground_and_top():
    for name in modules():
        floor_of(name)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ gathering its modules is not a cycle with them; nothing else may be
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert cycles(graph) == []


def test_each_floor_imports_only_its_own_floor_and_those_below():
    wrong = []
    for name, targets in import_graph().items():
        rank, floor = floor_of(name)
        for target in sorted(targets):
            t_rank, t_floor = floor_of(target)
            if t_rank > rank:
                wrong.append(f"{name} ({floor}) imports {target} ({t_floor})")
            elif t_floor in ("simulation", "studies") and floor not in MAY_IMPORT_SIMULATION:
                wrong.append(f"{name} ({floor}) imports {target}: only the studies and the CLI may")
    assert wrong == []


def test_the_layering_check_would_catch_an_upward_import():
    rank_data, _ = floor_of("stoffwechsel.data.contract")
    rank_site, _ = floor_of("stoffwechsel.site.build")
    assert rank_data < rank_site
    assert floor_of("stoffwechsel.verification")[1] == "top:verification"
    with pytest.raises(AssertionError, match="in no floor"):
        floor_of("stoffwechsel.somewhere_new")


def test_module_names_are_unique_across_the_package():
    names = Counter(name.rsplit(".", 1)[-1] for name, p in modules().items() if p.name != "__init__.py")
    assert [n for n, c in names.items() if c > 1] == []


@pytest.mark.parametrize("package", ["data", "features", "model", "monitoring", "site", "simulation", "studies"])
def test_sub_package_init_loads_nothing_heavy(package):
    code = (
        f"import sys; import stoffwechsel.{package}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'numpy', 'torch', 'sklearn', 'pyarrow', 'duckdb', 'matplotlib', 'mlflow')"
        " or (m.startswith('stoffwechsel.') and m != 'stoffwechsel." + package + "')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
