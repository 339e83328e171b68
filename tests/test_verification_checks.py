"""Issue 22: the Verification page never says "not checked" after a plain `make run`. Target 5
without a browser (the alert in the first screen's HTML, not hidden), target 8 by the stage (the
README's sections and commands), target 1 from the reproduce stage's evidence, and the split
between verification.json (the same on every machine) and the untracked machine facts."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT
from stoffwechsel import config, readme_check, reproduction, verification
from stoffwechsel.site import build, checks

ALERT = '<div class="alert alert-danger" role="alert" data-segment="Bargain Hunters">Fewer purchases</div>'


def page(tmp_path, body: str, head: str = ""):
    path = tmp_path / "overview.html"
    path.write_text(f"<html><head>{head}</head><body><nav><img src='logo.png'></nav><main>{body}</main></body></html>")
    return path


def test_a_visible_alert_in_the_first_screen_passes(tmp_path):
    got = checks.alert_in_first_screen_html(page(tmp_path, ALERT + "<img src='chart.png'>"))
    assert got["visible_in_first_screen"] is True and got["alert_segment"] == "Bargain Hunters"
    assert got["hidden_by"] == [] and got["tall_elements_before_it"] == []


@pytest.mark.parametrize(
    "body, head, reason",
    [
        (f'<div class="d-none">{ALERT}</div>', "", "class"),
        (f"<section hidden>{ALERT}</section>", "", "hidden attribute"),
        (f'<div style="display: none">{ALERT}</div>', "", "style"),
        (f'<div style="visibility:hidden">{ALERT}</div>', "", "style"),
        (f'<div class="later">{ALERT}</div>', "<style>.x, .later { display:none }</style>", "stylesheet"),
    ],
)
def test_a_hidden_alert_fails(tmp_path, body, head, reason):
    got = checks.alert_in_first_screen_html(page(tmp_path, body, head))
    assert got["visible_in_first_screen"] is False
    assert any(reason in h for h in got["hidden_by"]), got


def test_an_alert_below_a_chart_is_not_in_the_first_screen(tmp_path):
    got = checks.alert_in_first_screen_html(page(tmp_path, "<figure><img src='c.png'></figure>" + ALERT))
    assert got["visible_in_first_screen"] is False and got["tall_elements_before_it"] == ["figure", "img"]


@pytest.mark.parametrize(
    "drawing, tall",
    [
        ('<svg width="1em" height="1em" viewBox="0 0 16 16"><path d="M0 0h16v16z"/></svg>', False),  # an icon
        ('<svg height="24px"><path d="M0 0"/></svg>', False),
        ('<svg height="4em"><path d="M0 0"/></svg>', True),
        ('<svg height="400"><path d="M0 0"/></svg>', True),
        ("<svg><path d='M0 0'/></svg>", True),  # no height: a chart until it says otherwise
        ('<svg height="100%"><path d="M0 0"/></svg>', True),
    ],
)
def test_an_icon_drawn_inline_is_not_tall_but_a_chart_is(tmp_path, drawing, tall):
    """The value boxes draw the hourglass and the bell inline (1em): they do not push the alert
    below the first screen; an SVG without a small height does."""
    got = checks.alert_in_first_screen_html(page(tmp_path, f"<div class='value-box'>{drawing}</div>" + ALERT))
    assert got["visible_in_first_screen"] is not tall
    assert got["tall_elements_before_it"] == (["svg"] if tall else [])


def test_no_alert_fails(tmp_path):
    got = checks.alert_in_first_screen_html(page(tmp_path, "<p>all calm</p>"))
    assert got == {"page": "overview.html", "alert_found": False, "visible_in_first_screen": False}


def test_target_5_reads_the_main_page_and_a_browser_that_disagrees_fails_it(tmp_path):
    root, site = tmp_path / "root", tmp_path / "site"
    (root / "reports" / "monitoring").mkdir(parents=True)
    (site / "pages").mkdir(parents=True)
    alert = {"segment_column": "segment", "segment": "B", "metric": "m", "window_start": "2026-03-02"}
    alerts = {"alerts": [{**alert, "severity": "critical", "message": "fewer purchases"}]}
    (root / "reports" / "monitoring" / "alerts.json").write_text(json.dumps(alerts))
    (site / "index.html").write_text("<meta http-equiv='refresh' content=\"0; URL='pages/overview.html'\">")
    shutil.copy(page(tmp_path, ALERT), site / "pages" / "overview.html")
    target = verification.target_visible_alert(root, None, site)
    assert target.status == verification.PASS and target.evidence["html_check"]["page"] == "overview.html"
    blind = {"visible_in_first_viewport": False, "console_errors": []}
    assert verification.target_visible_alert(root, blind, site).status == verification.FAIL
    (site / "pages" / "overview.html").write_text("<p>calm</p>")  # the alert is gone from the page
    assert verification.target_visible_alert(root, None, site).status == verification.FAIL
    assert "browser" not in json.dumps(target.evidence["html_check"])  # the record is the same without one


def test_readme_commands_are_extracted_as_tool_and_subcommands():
    text = """
```bash
make run     # set up
dvc exp run -S train.max_iter=400 && dvc metrics diff
.venv/bin/mlflow ui --port 5000
git checkout <rev>
stoffwechsel simulate --out /tmp/x \\
    --scale 10
apt-get install chromium
```
Use `stoffwechsel validate materials` or `dvc checkout`; `quarto render` where installed.
"""
    assert readme_check.readme_commands(text) == [
        "dvc checkout",
        "dvc exp run",
        "dvc metrics diff",
        "git checkout",
        "make run",
        "mlflow ui",
        "stoffwechsel simulate",
        "stoffwechsel validate",
    ]


def test_a_command_the_readme_names_but_the_project_lacks_fails(tmp_path):
    assert readme_check.command_exists(ROOT, "stoffwechsel validate") == "ok"
    assert readme_check.command_exists(ROOT, "make run") == "ok"
    assert readme_check.command_exists(ROOT, "git checkout") == "ok"
    assert readme_check.command_exists(ROOT, "stoffwechsel no-such-command").startswith("stoffwechsel no-such")
    assert "exit" in readme_check.command_exists(ROOT, "make no-such-target")


def test_the_parsers_answer_as_the_executables_do():
    """commands_exist looks dvc's and the package's subcommands up in their parsers: the same
    answer as a process per command, for commands that exist and for ones that do not."""
    commands = [
        "dvc exp run",
        "dvc metrics diff",
        "dvc checkout main",
        "dvc no-such",
        "stoffwechsel validate",
        "stoffwechsel no-such-command",
        "make run",
    ]
    fast = readme_check.commands_exist(ROOT, commands)
    slow = {c: readme_check.command_exists(ROOT, c) for c in commands}
    assert {c: r == "ok" for c, r in fast.items()} == {c: r == "ok" for c, r in slow.items()}
    assert [c for c, r in fast.items() if r != "ok"] == ["dvc no-such", "stoffwechsel no-such-command"]
    assert fast["stoffwechsel no-such-command"].startswith("stoffwechsel no-such")


def test_target_8_passes_on_the_projects_readme_and_fails_on_a_missing_command(tmp_path):
    target = verification.target_readme(ROOT)
    assert target.status == verification.PASS, target.evidence
    assert "make run" in target.evidence["commands_checked"] and "dvc repro" in target.evidence["commands_checked"]
    readme = (
        "## Two commands\n\n```bash\nmake run\nstoffwechsel validate materials\n```\nThen `stoffwechsel tidy-up`.\n"
    )
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):  # what `make -n run` reads
        shutil.copy(ROOT / name, tmp_path / name)
    broken = verification.target_readme(tmp_path)
    assert broken.status == verification.FAIL
    assert broken.evidence["commands_checked"] == ["make run", "stoffwechsel tidy-up", "stoffwechsel validate"]
    assert list(broken.evidence["commands_failing"]) == ["stoffwechsel tidy-up"]


def test_target_1_follows_the_reproduce_stage_evidence(tmp_path, monkeypatch):
    monkeypatch.setattr(verification, "outputs_match_lock", lambda root, stages: {"outputs": {}, "mismatched": []})
    assert verification.target_reproduction(tmp_path).status == verification.NOT_CHECKED
    assert verification.target_reproduction(tmp_path).evidence["run"] == reproduction.RUN_HINT
    none = {"checked": False, "why": "this is a shallow clone", "run": "git fetch --unshallow, then x"}
    reproduction.write_evidence(tmp_path, none)
    t = verification.target_reproduction(tmp_path)
    assert t.status == verification.NOT_CHECKED and t.evidence["run"] == none["run"]
    reproduction.write_evidence(tmp_path, {"checked": True, "identical": True, "commit": "abc"})
    assert verification.target_reproduction(tmp_path).status == verification.PASS
    reproduction.write_evidence(tmp_path, {"checked": True, "identical": False, "commit": "abc"})
    assert verification.target_reproduction(tmp_path).status == verification.FAIL


def test_machine_facts_stay_out_of_the_record(tmp_path):
    """What the browser saw and the test suite's records go to the environment file only."""
    (tmp_path / "reports" / "test-artifacts").mkdir(parents=True)
    (tmp_path / "reports" / "test-artifacts" / "readme-commands.json").write_text('{"passed": true}')
    browser = {"visible_in_first_viewport": True, "console_errors": [], "alert_segment": "B"}
    env = verification.environment(tmp_path, browser, True)
    assert env["browser"] == browser and env["site_renderer"] in ("quarto", "python")
    assert env["test_records"]["readme_commands_fresh_clone"] == {"passed": True}
    assert "chromium" in verification.environment(tmp_path, None, True)["browser"]
    assert (ROOT / "reports" / ".gitignore").read_text().count(f"/{config.VERIFICATION_ENVIRONMENT_FILE}") == 1


def test_the_site_manifest_and_staleness(tmp_path, monkeypatch):
    """reports/site.json names the pages and titles (no renderer, no bytes of _site); _site is stale
    when missing or when an input of the site stage changed since it was built."""
    root = tmp_path / "project"
    (root / "reports" / "notebooks").mkdir(parents=True)
    (root / "notebooks").mkdir()
    nb = {
        "cells": [{"cell_type": "raw", "metadata": {}, "source": '---\ntitle: "Verification"\n---'}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "reports" / "notebooks" / "07_verify.ipynb").write_text(json.dumps(nb))
    (root / "notebooks" / "07_verify.ipynb").write_text(json.dumps(nb))
    (root / "_quarto.yml").write_text(
        "project:\n  type: website\n  output-dir: _site\n  render:\n    - reports/notebooks/07_verify.ipynb\n"
    )
    (root / "params.yaml").write_text("monitor: {fdr: 0.1}\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  site:\n    cmd: x\n    params: [monitor]\n    deps: [notebooks/07_verify.ipynb, _quarto.yml]\n"
        "    outs: [{reports/site.json: {cache: false}}]\n"
    )
    assert not build.site_is_current(root)
    (root / "_site").mkdir()
    build.write_site_records(root, "python")
    manifest = json.loads((root / "reports" / "site.json").read_text())
    assert manifest == {
        "main_page": "reports/notebooks/07_verify.html",
        "output_dir": "_site",
        "pages": [
            {
                "page": "reports/notebooks/07_verify.html",
                "source": "reports/notebooks/07_verify.ipynb",
                "title": "Verification",
            }
        ],
    }
    assert build.site_is_current(root)
    (root / "params.yaml").write_text("monitor: {fdr: 0.2}\n")
    assert not build.site_is_current(root)
    build.write_site_records(root, "quarto")
    assert json.loads((root / "reports" / "site.json").read_text()) == manifest  # renderer-independent
    assert build.site_is_current(root)
    (root / "notebooks" / "07_verify.ipynb").write_text(json.dumps({**nb, "metadata": {"x": 1}}))
    assert not build.site_is_current(root)


def test_the_verification_page_shows_this_machines_facts_in_an_analysts_block(tmp_path):
    root = tmp_path / "project"
    (root / "reports" / "notebooks").mkdir(parents=True)
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Verification"}], "metadata": {}}
    (root / "reports" / "notebooks" / "07_verify.ipynb").write_text(
        json.dumps({**nb, "nbformat": 4, "nbformat_minor": 5})
    )
    (root / "_quarto.yml").write_text(
        "project:\n  type: website\n  output-dir: _site\n  render:\n    - reports/notebooks/07_verify.ipynb\n"
    )
    build.render_site(root)
    page = root / "_site" / "reports" / "notebooks" / "07_verify.html"
    plain = page.read_text(encoding="utf-8")
    assert build.add_environment_block(root) is None  # no record yet: the page is left as it is
    env = {"browser": "no chromium here <b>", "site_renderer": "python"}
    (root / "reports" / config.VERIFICATION_ENVIRONMENT_FILE).write_text(json.dumps(env))
    assert build.add_environment_block(root) == page
    shown = page.read_text(encoding="utf-8")
    end = plain.rindex("</main>")  # the block goes at the end of the page's content
    assert shown.startswith(plain[:end]) and shown.endswith(plain[end:]) and "for-analysts" in shown[end:]
    assert "no chromium here &lt;b&gt;" in shown and "<b>" not in shown.replace("<body", "")


def test_a_declared_executed_notebook_keeps_no_times_paths_nor_stderr(tmp_path):
    """The executed 07_verify notebook is in dvc.lock: run times, absolute paths, the Python patch
    version and stderr (progress lines with seconds, kernel logs) would make every run's bytes differ."""
    import nbformat

    from stoffwechsel import config, notebooks

    assert notebooks.declared_output(config.EXECUTED_NOTEBOOKS_DIR / "07_verify.ipynb")
    assert not notebooks.declared_output(config.EXECUTED_NOTEBOOKS_DIR / "01_profile.ipynb")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="[page x] cell 1/1: 2.1 s (elapsed 5 s)\n"),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
    ]
    injected = nbformat.v4.new_code_cell("k = 1", metadata={"tags": ["injected-parameters"]})
    nb.cells = [cell, injected]
    nb.metadata.update(
        papermill={"duration": 3.2, "start_time": "t", "input_path": "/a", "parameters": {"k": 1}},
        language_info={"name": "python", "version": "3.11.9"},
    )
    kept, clean = tmp_path / "kept.ipynb", tmp_path / "clean.ipynb"
    nbformat.write(nb, kept)
    nbformat.write(nb, clean)
    notebooks.drop_run_metadata(kept)
    notebooks.drop_run_metadata(clean, run_record=False)
    assert nbformat.read(kept, as_version=4).metadata.papermill["duration"] == 3.2  # make bench reads it
    done = nbformat.read(clean, as_version=4)
    assert done.metadata.papermill == {"parameters": {"k": 1}}
    assert done.metadata.language_info == {"name": "python"}
    assert [o.name for o in done.cells[0].outputs] == ["stdout"]
    assert done.cells[1].id == "injected-parameters" and done.cells[0].id == cell.id
