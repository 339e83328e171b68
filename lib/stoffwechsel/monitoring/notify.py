"""The owner hears of a new incident without opening the site (issue 26).

After each run, :func:`notify` compares the run's incidents with the ones the previous run on this
machine had (``INCIDENTS_SEEN``, written next to the outputs). An incident is *new* when no group of
it (group x metric, same direction, onset at most ``INCIDENT_ONSET_DAYS`` apart) was in an incident
of the previous run. For new incidents it writes ``NOTIFICATION``, a short message in plain
language (headline, when, how much, what to check first, the link to the Overview), and, when
params.yaml's ``monitor.notify_command`` is set, runs that command with the message's path in the
environment variable ``NOTIFICATION`` (mail, chat: the shop's choice). Without it nothing leaves
the machine. A run without a new incident removes an old message, so the file always means "this
run opened an incident".

Both files are side effects of this machine's history, not pipeline outputs: DVC does not track
them (a rerun of the same data must give the same outputs; whether the owner was told already is
not one of them), and git ignores them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd

from stoffwechsel.monitoring.incidents import INCIDENT_ONSET_DAYS
from stoffwechsel.monitoring.params import MonitorParams

__all__ = ["NOTIFICATION", "INCIDENTS_SEEN", "OVERVIEW_LINK", "new_incidents", "notification_text", "notify"]

#: the message, in the monitoring's output folder
NOTIFICATION = "notification.md"
#: the incidents of the last run, in the same folder (what the next run compares with)
INCIDENTS_SEEN = "incidents_seen.json"
#: the Overview page of the built site, relative to the project (an incident's id is its anchor)
OVERVIEW_LINK = "_site/index.html"
#: seconds the notification command may take
COMMAND_TIMEOUT_S = 120


def _members(incident: dict) -> list[tuple[str, str, str, int, pd.Timestamp]]:
    return [
        (
            g["segment_column"],
            str(g["segment"]),
            g["metric_id"],
            1 if (g["change"] or 0) > 0 else -1,
            pd.Timestamp(g["onset"]),
        )
        for g in incident["groups"]
    ]


def _same(a: tuple, b: tuple) -> bool:
    return a[:4] == b[:4] and abs((a[4] - b[4]).days) <= INCIDENT_ONSET_DAYS


def new_incidents(incidents: list[dict], previous: list[dict] | None) -> list[dict]:
    """The incidents none of whose groups (group x metric, direction, onset within a week) was in an
    incident of ``previous`` (``None``: no previous run, every incident is new)."""
    seen = [m for inc in previous or [] for m in _members(inc)]
    return [inc for inc in incidents if not any(_same(m, s) for m in _members(inc) for s in seen)]


def notification_text(incidents: list[dict], link: str = OVERVIEW_LINK) -> str:
    """The message for new ``incidents``, most urgent first, in the Overview's words."""
    n = len(incidents)
    lines = [f"# Recommendations: {n} new incident{'s' if n != 1 else ''}", ""]
    for inc in incidents:
        check = inc["cause_evidence"] if inc.get("cause") else inc["check_first"]
        lines += [
            f"## {inc['headline']}",
            "",
            f"- When: {inc['when']}.",
            f"- How much: {inc['size']}.",
            f"- {'Likely cause' if inc.get('cause') else 'Check first'}: {check}.",
            f"- Details: {link}#{inc['id']}",
            "",
        ]
    return "\n".join(lines)


def notify(result, out_dir: Path | str, params: MonitorParams | None = None) -> dict:
    """Compare ``result``'s incidents with the previous run's (module docstring), write or remove the
    message, run the command; remember this run's incidents. Returns ``{"new": [headlines],
    "message": its file name or None, "command_status": exit status or None}``."""
    params = params or MonitorParams.from_dict(result.params)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen_file, message = out / INCIDENTS_SEEN, out / NOTIFICATION
    previous = json.loads(seen_file.read_text(encoding="utf-8")) if seen_file.is_file() else None
    new = new_incidents(result.incidents, previous)
    seen_file.write_text(json.dumps(result.incidents, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    report = {"new": [i["headline"] for i in new], "message": None, "command_status": None}
    if not new:
        message.unlink(missing_ok=True)
        return report
    message.write_text(notification_text(new), encoding="utf-8")
    report["message"] = NOTIFICATION
    if params.notify_command.strip():
        done = subprocess.run(
            params.notify_command,
            shell=True,
            env={**os.environ, "NOTIFICATION": str(message.resolve())},
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        report["command_status"] = done.returncode
    return report
