"""Verification target 1, checked by the pipeline: the features of an earlier commit, recomputed
from scratch, have the md5s that commit's ``dvc.lock`` records (the ``reproduce`` stage,
``stoffwechsel check-reproduction``).

Which commit (:func:`choose_commit`): commits reachable from ``HEAD``, newest first, that are
*eligible*: their ``params.yaml`` has ``embeddings.encoding`` (the marker of commits made after
issue 22: earlier ones hold CPU-dependent embeddings) and their ``dvc.lock`` has the stages
``resolve``, ``features`` and ``embeddings``. Of those, the newest whose lock entries for the three
stages differ from the working tree's ``dvc.lock`` (``HEAD`` among them when the working tree's
features are not the committed ones); when every eligible commit has the working tree's entries,
the newest eligible commit before ``HEAD``; when there is none, ``HEAD`` itself if it is eligible
(a clean clone of the committed version, recomputed: the first commit after the issue has no
earlier one). A shallow clone is not searched.

How (:func:`reproduce_commit`): ``git clone --no-checkout`` of the repository into a temporary
folder, checkout of the commit, ``dvc repro --force resolve features embeddings`` there with its
own empty DVC cache (``cache.dir`` set locally in the clone; no remote is read) and a fresh, empty embedding cache
(``$STOFFWECHSEL_EMBEDDING_CACHE`` in the temporary folder), then every output's md5 in the
clone's new ``dvc.lock`` against the commit's.

The evidence (``reports/reproduction.json``, committed) has deterministic bytes: sorted keys, no
times, no machine facts. Its ``key`` is a hash of the commit's lock entries for the three stages
(deps, params, outputs): when the file already holds a finished check for the key, nothing runs
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

#: the stages whose outputs are "the features"
FEATURE_STAGES = ("resolve", "features", "embeddings")
#: the params.yaml key whose presence marks a commit made after issue 22 (exact encoder)
ENCODING_KEY = ("embeddings", "encoding")
#: the evidence, relative to the project root
EVIDENCE = "reports/reproduction.json"
#: what to run to check target 1 by hand
RUN_HINT = "dvc repro --force reproduce"


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip()}")
    return proc.stdout if proc.returncode == 0 else ""


def _yaml(text: str):
    """YAML with libyaml's parser where PyYAML has it (a ``dvc.lock`` parses about ten times faster;
    the result is the same)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def lock_entries(lock_text: str, stages=FEATURE_STAGES) -> dict | None:
    """The lock entries of ``stages`` as ``{stage: {deps: {path: md5}, params, outs: {path: md5}}}``,
    or None when the lock lacks one of them. Executed notebooks (never byte-identical) are left out."""
    lock = (_yaml(lock_text) or {}).get("stages", {}) if lock_text else {}
    if not all(s in lock for s in stages):
        return None

    def md5s(items) -> dict:
        return {i["path"]: i["md5"] for i in items or [] if not i["path"].startswith("reports/notebooks/")}

    return {
        s: {"deps": md5s(lock[s].get("deps")), "params": lock[s].get("params", {}), "outs": md5s(lock[s].get("outs"))}
        for s in stages
    }


def outputs_of(entries: dict) -> dict[str, str]:
    """path -> md5 of every output of the entries' stages."""
    return {path: md5 for entry in entries.values() for path, md5 in entry["outs"].items()}


def entries_key(entries: dict) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


def eligible(params_text: str) -> bool:
    params = _yaml(params_text or "") or {}
    section = params.get(ENCODING_KEY[0])
    return isinstance(section, dict) and ENCODING_KEY[1] in section


class _History:
    """The committed ``params.yaml`` and ``dvc.lock`` of every commit reachable from ``HEAD``, read
    through one ``git cat-file`` each for the blob ids, and each distinct blob read and parsed
    once (most commits leave both files as they were): on this project's 263 commits one
    ``git show`` per file and commit and a pure-Python parse of each lock took 18.6 s of every
    ``reproduce`` run."""

    FILES = ("params.yaml", "dvc.lock")

    def __init__(self, root: Path):
        self.root = root
        self.revs = _git(root, "rev-list", "HEAD", check=False).split()
        specs = [f"{rev}:{name}" for rev in self.revs for name in self.FILES]
        listed = subprocess.run(
            ["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=root,
            input="\n".join(specs) + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        ids = [line.split()[0] if line.endswith(" blob") else None for line in listed]
        self.blob = dict(zip(specs, ids, strict=True))
        self._eligible: dict[str, bool] = {}
        self._entries: dict[str, dict | None] = {}

    def _text(self, blob: str) -> str:
        return _git(self.root, "cat-file", "blob", blob)

    def entries(self, rev: str) -> dict | None:
        """The commit's feature lock entries, or None when it is not eligible or its lock lacks them."""
        params, lock = (self.blob[f"{rev}:{name}"] for name in self.FILES)
        if params is None or lock is None:
            return None
        if params not in self._eligible:
            self._eligible[params] = eligible(self._text(params))
        if not self._eligible[params]:
            return None
        if lock not in self._entries:
            self._entries[lock] = lock_entries(self._text(lock))
        return self._entries[lock]


def choose_commit(root: Path) -> dict:
    """``{"commit", "entries", "why_this"}`` for the commit to check, or ``{"commit": None,
    "why": ..., "run": ...}`` saying what is missing (module docstring: the rule). Commits are
    read newest first, and no further than the rule needs: the first eligible one whose entries
    differ ends the search."""
    root = Path(root)
    if not _git(root, "rev-parse", "--is-inside-work-tree", check=False).strip() == "true":
        return {
            "commit": None,
            "why": f"{root} is not a git repository",
            "run": f"git clone the project, then {RUN_HINT}",
        }
    if _git(root, "rev-parse", "--is-shallow-repository").strip() == "true":
        return {
            "commit": None,
            "why": "this is a shallow clone: the earlier commits are not here",
            "run": f"git fetch --unshallow, then {RUN_HINT}",
        }
    current = lock_entries((root / "dvc.lock").read_text(encoding="utf-8") if (root / "dvc.lock").is_file() else "")
    history = _History(root)
    head = history.revs[0] if history.revs else ""
    newest = earlier = None
    for rev in history.revs:
        entries = history.entries(rev)
        if entries is None:
            continue
        if entries != current:
            return {
                "commit": rev,
                "entries": entries,
                "why_this": "the newest commit made after issue 22 whose feature lock entries differ",
            }
        newest = newest or (rev, entries)
        if earlier is None and rev != head:
            earlier = (rev, entries)
    if earlier:
        (rev, entries), why = earlier, "the newest earlier commit made after issue 22 (same feature lock entries)"
    elif newest:
        (rev, entries), why = newest, "HEAD: no earlier commit was made after issue 22"
    else:
        return {
            "commit": None,
            "why": "no commit reachable from HEAD has embeddings.encoding in params.yaml and the feature "
            "stages in dvc.lock (commits before issue 22 hold CPU-dependent embeddings)",
            "run": f"commit this version (params.yaml with embeddings.encoding, dvc.lock), then {RUN_HINT}",
        }
    return {"commit": rev, "entries": entries, "why_this": why}


def _tool_env(clone: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STOFFWECHSEL_ROOT", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(clone / "lib")  # the commit's own code
    env["STOFFWECHSEL_EMBEDDING_CACHE"] = str(cache)  # fresh and empty: every vector is encoded
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def reproduce_commit(root: Path, commit: str, recorded: dict, work: Path | None = None) -> dict:
    """Clone ``commit`` into a temporary folder (or ``work``), recompute the feature stages with
    ``dvc repro --force`` and compare every output's md5 with ``recorded`` (the commit's entries)."""
    folder = Path(tempfile.mkdtemp(prefix="reproduce-")) if work is None else Path(work)
    try:
        clone = folder / "clone"
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(Path(root).resolve()), str(clone)], check=True)
        _git(clone, "-c", "advice.detachedHead=false", "checkout", "-q", commit)
        env = _tool_env(clone, folder / "embedding-cache")
        # its own empty DVC cache, whatever the project's config says (a shared cache.dir)
        subprocess.run(["dvc", "cache", "dir", "--local", str(folder / "dvc-cache")], cwd=clone, env=env, check=True)
        proc = subprocess.run(
            ["dvc", "repro", "--force", *FEATURE_STAGES], cwd=clone, env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"dvc repro --force {' '.join(FEATURE_STAGES)} failed in a clone of {commit}:\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
        reproduced = lock_entries((clone / "dvc.lock").read_text(encoding="utf-8")) or {}
    finally:
        if work is None:
            shutil.rmtree(folder, ignore_errors=True)
    before, after = outputs_of(recorded), outputs_of(reproduced)
    outputs = {p: {"recorded": before[p], "reproduced": after.get(p)} for p in sorted(before)}
    differing = [p for p, o in outputs.items() if o["recorded"] != o["reproduced"]]
    return {"outputs": outputs, "differing": differing, "identical": not differing}


def read_evidence(root: Path) -> dict | None:
    path = Path(root) / EVIDENCE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_evidence(root: Path, evidence: dict) -> Path:
    path = Path(root) / EVIDENCE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evidence, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def check_reproduction(root: Path, reproduce=reproduce_commit) -> tuple[dict, bool]:
    """Choose the commit, reproduce it unless ``reports/reproduction.json`` already holds a finished
    check with the same key, write the evidence; returns ``(evidence, ran)``."""
    root = Path(root)
    base = {"stages": list(FEATURE_STAGES)}
    choice = choose_commit(root)
    if choice["commit"] is None:
        evidence = {**base, "checked": False, "commit": None, "key": None, "why": choice["why"], "run": choice["run"]}
        write_evidence(root, evidence)
        return evidence, False
    key = entries_key(choice["entries"])
    old = read_evidence(root)
    if old and old.get("checked") and old.get("key") == key:
        return old, False
    result = reproduce(root, choice["commit"], choice["entries"])
    evidence = {
        **base,
        "checked": True,
        "commit": choice["commit"],
        "why_this_commit": choice["why_this"],
        "key": key,
        "method": f"git clone --no-checkout + checkout, dvc repro --force {' '.join(FEATURE_STAGES)}: "
        "no DVC cache, no remote, an empty embedding cache",
        **result,
    }
    write_evidence(root, evidence)
    return evidence, True
