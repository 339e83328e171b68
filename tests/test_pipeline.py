"""The pipeline runs headless with `dvc repro`, and a second run does nothing."""

from __future__ import annotations

import json

import pytest

from conftest import run

pytestmark = pytest.mark.pipeline


def test_repro_runs_the_profiling_stage_headless(pipeline_clone):
    assert (pipeline_clone / "reports" / "notebooks" / "01_profile.ipynb").is_file()
    figures = json.loads((pipeline_clone / "reports" / "profile" / "profile.json").read_text())
    assert figures["rows"]["transactions.csv"]["read"] == 15000
    assert figures["products"]["recycled_ids"] > 0


def test_second_repro_does_nothing(pipeline_clone):
    lock_before = (pipeline_clone / "dvc.lock").read_bytes()
    out = run(["dvc", "repro"], pipeline_clone).stdout
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out
    assert (pipeline_clone / "dvc.lock").read_bytes() == lock_before
