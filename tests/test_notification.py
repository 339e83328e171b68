"""The owner hears of a new incident without opening the site (issue 26): a message when a run opens
an incident the previous run did not have, none otherwise, and a command only when one is set."""

from __future__ import annotations

import shlex

import pytest

from conftest import ROOT
from stoffwechsel.data.contract import load_materials
from stoffwechsel.monitoring.notify import INCIDENTS_SEEN, NOTIFICATION, new_incidents, notify
from stoffwechsel.monitoring.params import MonitorParams
from stoffwechsel.monitoring.run import run_monitoring


@pytest.fixture(scope="module")
def runs():
    materials = load_materials(ROOT / "materials")
    return run_monitoring(materials, {}), run_monitoring(materials, {"inject_enabled": True})


def test_a_new_incident_is_told_once_and_a_known_one_not_again(runs, tmp_path):
    default, injected = runs
    first = notify(default, tmp_path)  # no previous run: its incident is new
    assert first["new"] == [i["headline"] for i in default.incidents] and first["message"] == NOTIFICATION
    assert (tmp_path / INCIDENTS_SEEN).is_file()
    again = notify(default, tmp_path)  # the same incident again: no message, the old one removed
    assert again == {"new": [], "message": None, "command_status": None}
    assert not (tmp_path / NOTIFICATION).exists()
    shifted = notify(injected, tmp_path)  # the planted Bargain Hunters drop opens a new incident
    (headline,) = shifted["new"]
    assert headline.startswith("Bargain Hunters click") and shifted["command_status"] is None
    text = (tmp_path / NOTIFICATION).read_text(encoding="utf-8")
    assert text.startswith("# Recommendations: 1 new incident\n") and f"## {headline}" in text
    for part in (
        "- When: since about",
        "- How much: the true change is probably",
        "- Check first:",
        "_site/index.html#",
    ):
        assert part in text, part
    # the built-in drift, already told, is not told again (its lead may differ: its groups overlap)
    assert "All customers" not in text and "Returning customers" not in text


def test_the_command_runs_only_when_set_and_gets_the_message(runs, tmp_path):
    default, injected = runs
    sent = tmp_path / "sent.md"
    params = MonitorParams(notify_command=f'cp "$NOTIFICATION" {shlex.quote(str(sent))}')
    out = tmp_path / "monitoring"
    notify(default, out, MonitorParams())  # the default: no command, nothing sent
    assert not sent.exists()
    report = notify(injected, out, params)
    assert report["command_status"] == 0 and sent.read_text(encoding="utf-8").startswith("# Recommendations")
    failing = MonitorParams(notify_command="exit 3")
    assert notify(default, tmp_path / "other", failing)["command_status"] == 3  # reported, not hidden


def test_an_incident_is_new_unless_a_group_of_it_was_in_the_last_run():
    def inc(col, seg, metric, onset, change=-0.5):
        return {"groups": [dict(segment_column=col, segment=seg, metric_id=metric, onset=onset, change=change)]}

    old = [inc("segment", "Trend Seekers", "ctr", "2026-03-02")]
    assert new_incidents([inc("segment", "Trend Seekers", "ctr", "2026-03-06")], old) == []
    for other in (
        inc("segment", "Trend Seekers", "ctr", "2026-03-20"),  # a later change
        inc("segment", "Trend Seekers", "ctr", "2026-03-02", 0.5),  # the other way
        inc("segment", "Trend Seekers", "purchases_per_100", "2026-03-02"),  # another metric
        inc("segment", "Eco Enthusiasts", "ctr", "2026-03-02"),  # another group
    ):
        assert new_incidents([other], old) == [other]
    assert new_incidents(old, None) == old
