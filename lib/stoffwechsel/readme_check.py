"""Target 8's reading of the README: the sections and phrases it must hold, the commands its code
blocks run, and whether each command exists (run with ``--help``, never for real)."""

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


def command_exists(root: Path, command: str) -> str:
    """``"ok"`` when ``command --help`` (``make -n``, ``git ... -h``) runs, else the first line of
    what went wrong."""
    import os
    import sys

    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
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
