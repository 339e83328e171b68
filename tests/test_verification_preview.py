"""`verify` renders a preview of the site into a temporary folder and leaves nothing behind in
the system temp directory (issue 18)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from stoffwechsel import verification
from stoffwechsel.site import build


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with the real `_quarto.yml` and a `reports/` folder; the renderer stubbed
    (what is tested is where the preview lives, not the pages); the temp dir isolated."""
    root = tmp_path / "project"
    (root / "reports").mkdir(parents=True)
    (root / "reports" / "keep.json").write_text("{}")
    (root / "_quarto.yml").write_text((ROOT / "_quarto.yml").read_text())
    (root / "site.css").write_text((ROOT / "site.css").read_text())  # the stylesheet _quarto.yml names
    temp = tmp_path / "systemp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))

    def fake_render(work: Path):
        assert (work / "_quarto.yml").is_file() and (work / "reports" / "keep.json").is_file()
        (work / "_site").mkdir()
        (work / "_site" / "index.html").write_text("<html></html>")

    monkeypatch.setattr(build, "render_site", fake_render)
    return root, temp


def test_the_preview_is_removed_after_use(project):
    root, temp = project
    with verification.preview_site(root) as site_dir:
        assert (site_dir / "index.html").is_file()
        assert site_dir.parent.parent == temp and site_dir.parent.name.startswith("site-preview-")
    assert not site_dir.exists()
    assert list(temp.iterdir()) == []
    assert (root / "reports" / "keep.json").is_file(), "removing the preview must not follow its link to reports/"


def test_the_preview_is_removed_after_an_error(project):
    root, temp = project
    with pytest.raises(RuntimeError, match="check failed"):
        with verification.preview_site(root):
            raise RuntimeError("check failed")
    assert list(temp.iterdir()) == []
    assert (root / "reports" / "keep.json").is_file()


def test_a_work_folder_given_by_the_caller_stays(project, tmp_path):
    root, temp = project
    work = tmp_path / "mine"
    with verification.preview_site(root, work) as site_dir:
        assert site_dir == work / "_site"
    assert (work / "_site" / "index.html").is_file()
    assert list(temp.iterdir()) == []
