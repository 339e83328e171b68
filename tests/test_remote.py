"""Issue #22, point 3: a teammate gets the exact bytes without recomputing. The session's
`dvc repro` clone pushes its outputs to a temporary remote; a fresh `git clone` of it pulls them,
and then DVC finds everything up to date, `dvc repro` runs no stage, and every output has the md5
its dvc.lock records. The real default remote (in the user's cache folder) is never written: both
clones point at the temporary remote in their `.dvc/config.local`, and every DVC command runs with
HOME in the temporary folder, so even `~` would resolve there."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from configobj import ConfigObj

from conftest import ROOT, run

TEST_REMOTE = "test-remote"


def lock_outputs(lock_text: str) -> dict[str, str]:
    """path -> md5 of every output a dvc.lock records (cached or not, metrics and plots included)."""
    lock = yaml.safe_load(lock_text)
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def output_md5(path: Path) -> str | None:
    """The md5 DVC 3 records for an output (computed here, not asked of DVC): a file's is the md5
    of its bytes; a folder's is the md5 of the sorted JSON list of its files' md5 and relative
    path, with `.dir` appended. None where the output is missing."""
    if path.is_file():
        return _file_md5(path)
    if not path.is_dir():
        return None
    entries = [
        {"md5": _file_md5(f), "relpath": f.relative_to(path).as_posix()} for f in sorted(path.rglob("*")) if f.is_file()
    ]
    entries.sort(key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir"


def test_default_remote_is_a_folder_outside_every_clone():
    """`.dvc/config` names a default remote (`dvc remote add -d`) whose url starts at the user's
    home, so every clone on the machine, wherever it lies, resolves it to the same folder; a
    relative url would be read relative to each clone's `.dvc/`. Analytics stay off."""
    config = ConfigObj(str(ROOT / ".dvc" / "config"))
    default = config["core"]["remote"]
    url = config[f'remote "{default}"']["url"]
    assert config["core"]["analytics"] == "false"
    assert url.startswith("~/"), f".dvc/config: remote {default!r} url {url!r} does not start at the home folder"
    resolved = Path(os.path.expanduser(url)).resolve()
    assert ROOT.resolve() not in resolved.parents, f".dvc/config: remote {default!r} url {url!r} lies inside the clone"


def _point_at(clone: Path, remote: Path, home: Path) -> None:
    run(["dvc", "remote", "add", "--local", "-d", "--force", TEST_REMOTE, str(remote)], clone, HOME=str(home))
    assert run(["dvc", "remote", "default"], clone, HOME=str(home)).stdout.strip() == TEST_REMOTE


def _commit_the_run(source: Path, clone: Path) -> None:
    """Commit in ``clone`` (a `git clone` of ``source``) what the pipeline run changed in
    ``source``'s working tree (dvc.lock, the committed reports): the teammate's commit after `make
    run`. ``source`` itself, shared by the session's tests, is left as it is."""
    listed = run(
        ["git", "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=all"], source
    ).stdout.split("\0")
    for entry in filter(None, listed):
        rel = entry[3:]
        src, dst = source / rel, clone / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.is_file():
            dst.unlink()
    run(["git", "add", "-A"], clone)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "run"], clone)


@pytest.mark.pipeline
def test_push_then_fresh_clone_pulls_the_exact_bytes_and_recomputes_nothing(pipeline_clone, tmp_path):
    remote, home = tmp_path / "remote", tmp_path / "home"
    home.mkdir()
    local_config = pipeline_clone / ".dvc" / "config.local"
    before = local_config.read_bytes() if local_config.exists() else None
    try:
        _point_at(pipeline_clone, remote, home)
        run(["dvc", "push"], pipeline_clone, HOME=str(home))
    finally:  # the session's clone keeps its own configuration
        if before is None:
            local_config.unlink(missing_ok=True)
        else:
            local_config.write_bytes(before)
    assert any(p.is_file() for p in remote.rglob("*")), "dvc push wrote nothing to the temporary remote"
    assert not (home / ".cache").exists(), "dvc push wrote to the default remote"

    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", str(pipeline_clone), str(fresh)], tmp_path)
    _commit_the_run(pipeline_clone, fresh)
    _point_at(fresh, remote, home)
    run(["dvc", "pull"], fresh, HOME=str(home))

    lock_text = (fresh / "dvc.lock").read_text()
    recorded = lock_outputs(lock_text)
    assert recorded == lock_outputs((pipeline_clone / "dvc.lock").read_text())
    pulled = {path: output_md5(fresh / path) for path in recorded}
    differing = {p: {"lock": md5, "fresh clone": pulled[p]} for p, md5 in recorded.items() if pulled[p] != md5}
    assert not differing, f"after dvc pull these outputs differ from dvc.lock: {differing}"

    status = run(["dvc", "status"], fresh, HOME=str(home)).stdout
    assert "Data and pipelines are up to date" in status, f"dvc status after dvc pull:\n{status}"
    repro = run(["dvc", "repro"], fresh, HOME=str(home)).stdout
    assert "Running stage" not in repro, f"dvc repro after dvc pull ran stages:\n{repro}"
    assert (fresh / "dvc.lock").read_text() == lock_text
