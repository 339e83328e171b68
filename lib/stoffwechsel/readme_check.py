"""Target 8's reading of the README: the sections and phrases it must hold, the commands its code
blocks run, and whether each command exists (run with ``--help``, never for real).

The subcommands of ``dvc`` and ``stoffwechsel`` (25 of the README's 48 commands) are not run one
process each (about 0.7 s each, most of target 8's 15 s): after one ``--help`` run of each
executable, a ``dvc`` subcommand is looked up in DVC's own argparse parser, a ``stoffwechsel`` one
in the commands its help page lists (:func:`commands_exist`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

#: the README's sections a new team member needs (headings, start of the text)
README_SECTIONS = (
    "Two commands",
    "What `dvc repro` does",
    "Features and the feature store",
    "Model training and offline evaluation",
    "Monitoring production",
    "The dashboard",
    "Reproducing features from an earlier commit",
    "The materials",
    "Verification targets",
    "Layout",
)


#: phrases the README must contain (what a reader must be able to run)
README_PHRASES = (
    "make run",
    "make test",
    "dvc repro",
    "dvc exp run -S",
    "dvc metrics diff",
    "dvc plots diff",
    "git checkout",
    "dvc checkout",
    "jupyter lab",
    "mlflow ui",
    "_site/index.html",
    "quarto render",
    "stoffwechsel validate",
)


#: the tools whose commands target 8 runs with --help (all in the venv or the base system, so the
#: result does not depend on what else a machine has: Quarto and Chromium are optional)
README_TOOLS = ("stoffwechsel", "dvc", "make", "jupyter", "mlflow", "git")


def readme_commands(text: str) -> list[str]:
    """Every command the README documents for the project's tools (fenced ``bash`` blocks and
    inline code), reduced to the tool and its subcommands: ``dvc exp run -S x=1`` -> ``dvc exp
    run``, ``.venv/bin/mlflow ui ...`` -> ``mlflow ui``."""
    fences = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    blocks = [body for lang, body in fences if lang in ("", "bash", "sh", "console", "shell")]
    lines = [ln for b in blocks for ln in b.replace("\\\n", " ").splitlines()]
    prose = re.sub(r"^```\w*\n.*?^```", "", text, flags=re.S | re.M)
    lines += re.findall(r"`([^`\n]+)`", prose)
    found = set()
    for line in lines:
        for part in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):
            words = part.split()
            if not words:
                continue
            tool = words[0].removeprefix(".venv/bin/")
            if tool not in README_TOOLS:
                continue
            subs = []
            for w in words[1 : 3 if tool == "dvc" else 2]:
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                subs.append(w)
            if not subs:  # the tool named in prose, not a command
                continue
            found.add(" ".join([tool, *subs]))
    return sorted(found)


def _help_command(command: str) -> list[str]:
    tool, *subs = command.split()
    if tool == "make":
        return ["make", "-n", *subs]  # a dry run: the target exists
    if tool == "git":
        return ["git", *subs, "-h"]
    if tool == "dvc" and len(subs) == 2 and subs[1] not in _dvc_subcommands(subs[0]):
        subs = subs[:1]  # `dvc checkout main`: the second word is an argument
    return [tool, *subs, "--help"]


def _dvc_subcommands(group: str) -> frozenset[str]:
    groups = {
        "exp": {"run", "show", "remove", "apply", "diff", "list", "push", "pull", "save", "branch", "clean"},
        "metrics": {"show", "diff"},
        "plots": {"show", "diff", "modify", "templates"},
        "remote": {"add", "list", "modify", "remove", "default", "rename"},
        "stage": {"add", "list"},
        "cache": {"dir", "migrate"},
    }
    return frozenset(groups.get(group, ()))


def _tool_env() -> dict[str, str]:
    """The environment the commands run in: this interpreter's bin first on PATH (the project's tools)."""
    import os
    import sys

    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


#: tools whose subcommands are looked up without a process each (module docstring)
IN_PROCESS_TOOLS = ("dvc", "stoffwechsel")


def _dvc_parser_check(command: str) -> str:
    """:func:`command_exists` for a ``dvc`` subcommand without a process: DVC's own argparse parser
    given the ``--help`` arguments (it exits 0 for a subcommand it knows). Not thread-safe
    (argparse prints)."""
    import contextlib
    import io

    from dvc.cli import DvcParserError
    from dvc.cli.parser import get_main_parser

    argv = _help_command(command)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            get_main_parser().parse_args(argv[1:])
        code = 0
    except SystemExit as exc:
        code = exc.code
    except DvcParserError:  # an unknown subcommand (DVC logs the reason)
        code = 2
    first = next((ln for ln in out.getvalue().splitlines() if ln.strip()), "")
    return "ok" if code == 0 else f"{' '.join(argv)}: exit {code}: {first.strip()[:200]}"


def _listed_commands(help_text: str) -> set[str]:
    """The command names of a Click/Typer ``--help`` page (its ``Commands:`` section)."""
    section = help_text.split("\nCommands:\n", 1)[1] if "\nCommands:\n" in help_text else ""
    return {m.group(1) for m in re.finditer(r"^  ([a-z][a-z0-9-]*)(?:\s|$)", section, re.M)}


def commands_exist(root: Path, commands: list[str], jobs: int = 4) -> dict[str, str]:
    """:func:`command_exists` for every command. ``dvc`` and ``stoffwechsel`` run once each with
    ``--help`` (the executable is there and starts); then a ``dvc`` subcommand is looked up in DVC's
    parser (:func:`_dvc_parser_check`) and a ``stoffwechsel`` one in the commands its help page
    lists. The rest run as processes, ``jobs`` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    env = {**_tool_env(), "COLUMNS": "200"}  # one command per line
    mine = [c for c in commands if c.split()[0] in IN_PROCESS_TOOLS]
    others = [c for c in commands if c not in mine]

    def start(tool: str) -> subprocess.CompletedProcess | str:
        try:
            return subprocess.run([tool, "--help"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{tool} --help: {type(exc).__name__}"

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        started = {t: pool.submit(start, t) for t in IN_PROCESS_TOOLS if any(c.split()[0] == t for c in mine)}
        ran = dict(zip(others, pool.map(lambda c: command_exists(root, c), others)))
        dvc = {c: _dvc_parser_check(c) for c in mine if c.startswith("dvc ")}  # meanwhile, in this thread
        started = {t: f.result() for t, f in started.items()}
    for c in mine:
        tool, sub = c.split()[:2]
        proc = started[tool]
        if isinstance(proc, str) or proc.returncode != 0:
            ran[c] = proc if isinstance(proc, str) else f"{tool} --help: exit {proc.returncode}"
        elif tool == "dvc":
            ran[c] = dvc[c]
        else:
            listed = _listed_commands(proc.stdout)
            ran[c] = "ok" if sub in listed else f"{c} --help: no such command (listed: {', '.join(sorted(listed))})"
    return {c: ran[c] for c in commands}


def command_exists(root: Path, command: str) -> str:
    """``"ok"`` when ``command --help`` (``make -n``, ``git ... -h``) runs, else the first line of
    what went wrong."""
    env = _tool_env()
    argv = _help_command(command)
    try:
        proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(argv)}: {type(exc).__name__}"
    ok = proc.returncode == 0 or (argv[0] == "git" and proc.returncode == 129 and "usage" in proc.stdout + proc.stderr)
    if ok:
        return "ok"
    first = next((ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()), "")
    return f"{' '.join(argv)}: exit {proc.returncode}: {first.strip()[:200]}"
