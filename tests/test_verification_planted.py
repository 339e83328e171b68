"""Targets 5 and 6 on the client's own data (issue 24, point 5): a shift planted in a copy of the
recommendation log of a real-style export without drift (``stoffwechsel simulate --style real
--no-drift``), monitored as the monitor stage does. Monitoring only, no pipeline."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from conftest import ROOT, tool_env
from stoffwechsel import config, verification
from stoffwechsel.data.contract import load_materials
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.planted import PlantSettings, planted_check
from stoffwechsel.monitoring.results import write_outputs
from stoffwechsel.monitoring.run import run_monitoring

PLANT = PlantSettings.from_params(config.load_params("verify"))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A real-style export without drift, monitored as the monitor stage does (its outputs under
    ``<root>/reports/monitoring``)."""
    root = tmp_path_factory.mktemp("real")
    out = root / "materials"
    argv = [sys.executable, "-m", "stoffwechsel", "simulate", "--style", "real", "--no-drift", "--out", str(out)]
    subprocess.run(argv, cwd=ROOT, env=tool_env(), check=True, capture_output=True)
    materials = load_materials(out)
    params = MonitorParams.from_dict(config.load_params("monitor"))
    result = run_monitoring(materials, params)
    write_outputs(result, root / "reports" / "monitoring")
    return SimpleNamespace(root=root, materials=materials, params=params, result=result)


def test_quiet_real_export_passes_targets_5_and_6_through_the_planted_copy(real):
    assert real.result.alerts == []  # the shop as it is: quiet
    check = verification.planted_check(real.root, real.materials, config.load_params("verify"))
    ev = check.evidence
    assert (ev["column"], ev["alerts_on_unplanted_data"]) == ("segment", 0)
    assert check.alert_fired and ev["alert"]["severity"] in ("critical", "warning")
    assert ev["group"] in ev["alert"]["message"]
    t5 = verification.target_visible_alert(real.root, None, None, check)
    assert t5.status == verification.PASS, t5.evidence
    assert t5.evidence["on_your_data"] == "no alert fired on your data"
    assert t5.evidence["planted_alert_in_first_screen"]["visible_in_first_screen"]
    assert t5.evidence["planted_alert_in_first_screen"]["alert_segment"] == ev["group"]
    t6 = verification.target_segments_differ(real.root, planted=check)
    assert t6.status == verification.PASS, t6.evidence
    assert t6.evidence["planted_group_moved"] and not t6.evidence["other_groups_not"]
    # deterministic: the same evidence again (verification.json is in dvc.lock)
    again = verification.planted_check(real.root, real.materials, config.load_params("verify"))
    assert again.evidence == ev


def test_without_a_planted_change_target_5_fails(real):
    """The control: nothing planted (effect 0), no alert for the group, target 5 fails."""
    check = planted_check(real.materials, real.params, replace(PLANT, effect=0.0), unplanted_alerts=0)
    assert check.planted and not check.alert_fired
    t5 = verification.target_visible_alert(real.root, None, None, check)
    assert t5.status == verification.FAIL
    assert not t5.evidence["planted_alert_in_first_screen"]["alert_found"]
    t6 = verification.target_segments_differ(real.root, planted=check)
    assert t6.status == verification.FAIL and not t6.evidence["planted_group_moved"]


def test_one_segment_plants_in_another_customer_column(real):
    customers = real.materials.customers.assign(segment="Everyone")
    one = SimpleNamespace(
        recommendations=real.materials.recommendations, customers=customers, products=real.materials.products
    )
    check = planted_check(one, real.params, PLANT, unplanted_alerts=0)
    ev = check.evidence
    assert ev["column"] == "age_band" and "segment has fewer than two groups" in ev["chosen"]
    assert check.alert_fired
    t6 = verification.target_segments_differ(real.root, planted=check)
    assert t6.status == verification.PASS, t6.evidence
    assert t6.evidence["column"] == "age_band"


def test_no_column_with_two_large_groups_says_what_it_needs(real):
    """Nothing large enough: targets 5 and 6 not checked, target 6 names what it needs (no monitoring run)."""
    check = planted_check(real.materials, real.params, replace(PLANT, min_recommendations=5000), unplanted_alerts=0)
    assert not check.planted
    t6 = verification.target_segments_differ(real.root, planted=check)
    assert t6.status == verification.NOT_CHECKED
    assert "needs a customer column with at least two groups of 5000 recommendations" in t6.evidence["why"]
    assert verification.target_visible_alert(real.root, None, None, check).status == verification.NOT_CHECKED
