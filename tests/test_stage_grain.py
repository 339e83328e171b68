"""Stages cut by job, inputs at the right grain (issue 15).

The delayed-label backtest is its own stage: production monitoring does not import the simulator,
and the backtest stage reads only the estimation keys of ``monitor``. Changing one materials file
puts out of date exactly the stages that read it (pipeline-marked: one ``dvc status`` per file in
the session's clone, no re-run).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, run

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_production_monitoring_does_not_import_the_simulator():
    code = (
        "import sys, stoffwechsel.monitoring; "
        "print(sorted(m for m in sys.modules if m.startswith(('stoffwechsel.simulation', 'stoffwechsel.studies'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"stoffwechsel.monitoring imports {out.strip()}"


def test_backtest_stage_declares_exactly_the_estimation_keys():
    from stoffwechsel.studies import backtest

    (entry,) = [p for p in DVC["backtest"]["params"] if isinstance(p, dict)]
    assert entry["params.yaml"] == [f"monitor.{k}" for k in backtest.METHOD_PARAMS]
    assert not any(d.startswith("${materials") or d.startswith("materials/") for d in DVC["backtest"]["deps"])
    assert "reports/monitoring/delay_evaluation.json" not in str(DVC["monitor"].get("metrics", []))


def test_method_params_name_a_missing_key():
    from stoffwechsel.studies import backtest

    with pytest.raises(KeyError, match="interval"):
        backtest.method_params({k: 1 for k in backtest.METHOD_PARAMS if k != "interval"})


#: materials file -> the stages whose own inputs it is (dvc.yaml deps). The production
#: recommendations reach only the monitor and the profile (a report of all four files); the
#: backtest reads no materials at all.
DIRECT = {
    "products.csv": {"profile", "resolve", "features", "embeddings", "monitor"},
    "customers.csv": {"profile", "resolve", "features", "monitor"},
    "transactions.csv": {"profile", "resolve"},
    "production-recommendations-sample.csv": {"profile", "monitor"},
}
#: a small, valid change per file: (line number, old text, new text); transactions get a new row
CHANGES = {
    "products.csv": (1, "Ilse Organic Cotton Tea Dress,", "Ilse Organic Cotton Tea Frock,"),
    "customers.csv": (1, "2019-08-02", "2019-08-03"),
    "production-recommendations-sample.csv": (1, ",0.7152,", ",0.7153,"),
}
NEW_TRANSACTION = "T9999999,C01414,SW-0018,SS24,browse,2024-03-01T12:00:00,1,133.90,store,\n"


def _changed(name: str, original: bytes) -> bytes:
    if name == "transactions.csv":
        return original + NEW_TRANSACTION.encode()
    line, old, new = CHANGES[name]
    lines = original.decode("utf-8").split("\n")
    assert old in lines[line], f"{name} line {line + 1}: {old!r} not found (materials changed?)"
    lines[line] = lines[line].replace(old, new, 1)
    return "\n".join(lines).encode("utf-8")


def _out_of_date(clone) -> set[str]:
    status = json.loads(run(["dvc", "status", "--json"], clone).stdout)
    return {name.split(":")[-1] for name in status}


@pytest.mark.pipeline
def test_each_materials_file_puts_out_of_date_only_the_stages_that_read_it(pipeline_clone):
    """One materials file changed at a time: `dvc status` names exactly the stages that read it.
    Replacing the production recommendations used to re-run all 8 stages (resolve read them, so
    the resolved data changed and features, embeddings and training followed)."""
    assert _out_of_date(pipeline_clone) == set()
    for name, expected in DIRECT.items():
        path = pipeline_clone / "materials" / name
        original = path.read_bytes()
        try:
            path.write_bytes(_changed(name, original))
            assert _out_of_date(pipeline_clone) == expected, name
        finally:
            path.write_bytes(original)
    assert _out_of_date(pipeline_clone) == set()


@pytest.mark.pipeline
def test_new_recommendations_do_not_reach_features_embeddings_or_training(pipeline_clone):
    """After the profile (a report of all four files) re-ran on changed recommendations, its
    calendar is byte-identical, so only the monitor side is left to run."""
    path = pipeline_clone / "materials" / "production-recommendations-sample.csv"
    original = path.read_bytes()
    try:
        path.write_bytes(_changed(path.name, original))
        run(["dvc", "repro", "--single-item", "profile"], pipeline_clone)
        left = _out_of_date(pipeline_clone)
        assert "monitor" in left and left <= {"monitor", "verify", "site"}, left
    finally:
        path.write_bytes(original)
        run(["dvc", "repro", "--single-item", "profile"], pipeline_clone)
    assert _out_of_date(pipeline_clone) == set()


SITE_PAGES = ("_site/reports/notebooks/pages/model.html", "_site/reports/notebooks/07_verify.html")


@pytest.mark.pipeline
def test_what_dvc_restores_is_what_the_site_shows(pipeline_clone, tmp_path):
    """The issue's sequence: an experiment, back to the commit with `git checkout -- . && dvc
    checkout`, then `dvc repro`. The site's model and verification pages are again the ones that
    go with evaluation.json and verification.json (byte-identical to before the experiment), and
    dvc.lock is clean. The experiment must have changed both pages, or the test proves nothing.
    It trains 100 trees, not 400: any other count changes the model, hence both pages and
    evaluation.json (checked below), and 400 trees cost the most of the test's training time."""
    import shutil

    clone = tmp_path / "clone"
    shutil.copytree(pipeline_clone, clone, symlinks=True)
    # recommend re-fits for every train change (about 50 s): frozen in this copy, as it changes
    # neither page (the Model page reads its serving.json, which says which model serves, not
    # how well); the other stages go through the experiment and back
    run(["dvc", "freeze", "recommend"], clone)
    # one renderer throughout, the Python one: the pages' bytes depend on the renderer, and the
    # test is about what DVC restores (a Quarto render costs 30 s, and this test renders three times)
    python = {"STOFFWECHSEL_SITE_RENDERER": "python"}
    run(["stoffwechsel", "build-site", "--no-pages"], clone, **python)
    run(["git", "add", "-A"], clone)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "after repro"], clone)
    before = {p: (clone / p).read_bytes() for p in (*SITE_PAGES, "reports/metrics/evaluation.json")}

    run(["dvc", "exp", "run", "-S", "train.max_iter=100"], clone, **python)  # params.yaml: 200
    during = {p: (clone / p).read_bytes() for p in before}
    assert all(during[p] != before[p] for p in before), "the experiment did not change the pages"

    run(["git", "checkout", "--", "."], clone)
    run(["dvc", "checkout"], clone)
    run(["dvc", "repro"], clone, **python)
    run(["stoffwechsel", "build-site", "--if-stale"], clone, **python)  # as `make run` does: _site is not in dvc.lock
    after = {p: (clone / p).read_bytes() for p in before}
    assert after == before, [p for p in before if after[p] != before[p]]
    assert run(["git", "status", "--porcelain", "--", "dvc.lock"], clone).stdout == "", run(
        ["git", "diff", "--", "dvc.lock"], clone
    ).stdout
    assert _out_of_date(clone) == set()


@pytest.mark.pipeline
def test_the_site_renders_the_pages_verify_ran_and_runs_them_again_after_a_change(pipeline_clone, tmp_path):
    """`verify` executes the page notebooks (targets 5 and 7 are checked on them) and records the
    inputs they ran from; `site`, right after it in `dvc repro`, renders them as they are: one run
    of each page per repro, not two (issue 27). Once an input of the pages has changed (here a
    page's own notebook), `build-site` executes them again, and the new text is on the page."""
    import shutil

    from stoffwechsel.site import build
    from stoffwechsel.site.project import import_nbformat

    nbformat = import_nbformat()
    clone = tmp_path / "clone"
    shutil.copytree(pipeline_clone, clone, symlinks=True)
    python = {"STOFFWECHSEL_SITE_RENDERER": "python"}
    assert build.pages_are_current(clone), "dvc repro ran verify, then site: the pages should be current"
    executed = clone / "reports" / "notebooks" / "pages" / "glossary.ipynb"
    before = executed.read_bytes()
    out = run(["stoffwechsel", "build-site"], clone, **python).stdout
    assert "already executed from these inputs" in out, out
    assert executed.read_bytes() == before  # rendered, not executed again

    source = clone / "notebooks" / "pages" / "glossary.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A sentence added after verify ran (issue 27)."))
    nbformat.write(nb, source)
    assert not build.pages_are_current(clone)
    out = run(["stoffwechsel", "build-site"], clone, **python).stdout
    assert "already executed" not in out, out
    assert "A sentence added after verify ran" in executed.read_text(encoding="utf-8")
    assert "A sentence added after verify ran" in (clone / "_site/reports/notebooks/pages/glossary.html").read_text(
        encoding="utf-8"
    )
    assert build.pages_are_current(clone)
