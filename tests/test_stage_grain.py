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
    code = ("import sys, stoffwechsel.monitoring; "
            "print(sorted(m for m in sys.modules if m in ('stoffwechsel.simulate', 'stoffwechsel.backtest')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"stoffwechsel.monitoring imports {out.strip()}"


def test_backtest_stage_declares_exactly_the_estimation_keys():
    from stoffwechsel import backtest

    (entry,) = [p for p in DVC["backtest"]["params"] if isinstance(p, dict)]
    assert entry["params.yaml"] == [f"monitor.{k}" for k in backtest.METHOD_PARAMS]
    assert not any(d.startswith("${materials") or d.startswith("materials/") for d in DVC["backtest"]["deps"])
    assert "reports/monitoring/delay_evaluation.json" not in str(DVC["monitor"].get("metrics", []))


def test_method_params_name_a_missing_key():
    from stoffwechsel import backtest

    with pytest.raises(KeyError, match="interval"):
        backtest.method_params({k: 1 for k in backtest.METHOD_PARAMS if k != "interval"})
