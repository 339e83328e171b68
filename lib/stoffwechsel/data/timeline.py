"""The pipeline's calendar, derived from the data's own dates (or fixed in params.yaml).

Three dates decide what every model-side stage sees:

- **cutoff**: training sees only events before it; the offline test window starts at it.
- **test end**: the end of the test window (``cutoff + split.test_weeks`` weeks, or less where the
  data ends earlier).
- **train start**: the first training moment (spine); later spines follow every
  ``train.spine_every_weeks`` weeks up to ``cutoff - train.horizon_weeks``.

Rules with ``split.cutoff: auto`` and ``split.train_start: auto`` (weeks run Monday 00:00 to
Monday 00:00, as in the feature store):

1. The data ends at the end of its last complete week: the Monday on or before the day after the
   last event (the last event's day counts as complete; a week with only some of its days is left
   out, so that the test window holds whole weeks).
2. ``cutoff`` = that Monday minus ``split.test_weeks`` weeks (a Monday, since both are).
3. Where the data is shorter than that, the cutoff moves to the first Monday after the first
   event's day, so that the feature and embedding stages still have a training side; the test
   window is then shorter and the calendar says so (training stops with its one-line reason).
4. ``train_start`` = the first Monday on or after the first event's day plus
   ``split.min_history_weeks`` weeks: the first moment with a full window of customer history
   behind it (the customer features' longest window is ``features.recent_weeks``, 13 weeks).

Stray dates do not move the calendar: the rules above use the *bulk* of the event times
(:func:`stray_events`). Events after the recommendation log's ``export_time`` (they cannot have
happened yet when the shop exported), and events beyond a gap of more than
:data:`STRAY_GAP_WEEKS` weeks without any event at either end of the data, when such an outlying
group holds at most :data:`STRAY_MAX_SHARE` of the events (a clock error, test rows), are left
out of the calendar's dates; the calendar lists them (``left_out``: count, dates, why) and
``stoffwechsel validate`` prints them. The rows stay in the data: they are not bad rows, only no
evidence of where the shop's history begins or ends.

The weeks of history (:attr:`Calendar.history_weeks_shown`) are one number, rounded down to a
tenth of a week (never more history than there is), in ``calendar.json`` and in the stop message.

A date in params.yaml (``"2025-12-01"``) overrides its rule; the test window then ends
``test_weeks`` after the cutoff. The profile stage computes the calendar once, from the event
times the data contract accepted, and writes it to ``reports/profile/calendar.json``; every later
stage reads that file (:func:`read_calendar`), so all of them use the same dates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stoffwechsel.errors import StageStop

AUTO = "auto"
WEEK = pd.Timedelta(weeks=1)
DAY = pd.Timedelta(days=1)
CALENDAR_FILE = Path("reports") / "profile" / "calendar.json"  # relative to the project root
DERIVED, FIXED = "derived from the data", "fixed in params.yaml"
#: A gap of more than this many weeks without any event separates an outlying group of events ...
STRAY_GAP_WEEKS = 8
#: ... which is left out of the calendar when it lies at either end and holds at most this share
#: of the events (a shop closed for a season keeps both sides: each holds more).
STRAY_MAX_SHARE = 0.01
AFTER_EXPORT = "after the recommendation log's export_time {export}"
BEYOND_GAP = "beyond a gap of {weeks:.0f} weeks without events, {share:.2%} of the events"


def monday_on_or_before(ts: pd.Timestamp) -> pd.Timestamp:
    """00:00 of the Monday of ts's week."""
    day = pd.Timestamp(ts).normalize()
    return day - pd.Timedelta(days=day.weekday())


def monday_on_or_after(ts: pd.Timestamp) -> pd.Timestamp:
    """The first Monday 00:00 at or after ts."""
    monday = monday_on_or_before(ts)
    return monday if monday == pd.Timestamp(ts) else monday + WEEK


def _day(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def _fixed_date(value, key: str) -> pd.Timestamp | None:
    """None for ``auto``; else the date, or a ValueError naming the parameter and value."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"params.yaml: split.{key} = {value!r}: expected 'auto' or a date like 2025-12-01") from None


@dataclass(frozen=True)
class Calendar:
    first_event: pd.Timestamp
    last_event: pd.Timestamp
    cutoff: pd.Timestamp
    test_end: pd.Timestamp
    train_start: pd.Timestamp
    cutoff_source: str = DERIVED
    train_start_source: str = DERIVED
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Event groups left out of the dates: ({"rows", "first", "last", "why"}, ...) (stray_events).
    left_out: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def test_weeks(self) -> float:
        """Weeks in the test window (can be fewer than asked for where the data is short)."""
        return (self.test_end - self.cutoff) / WEEK

    @property
    def history_weeks(self) -> float:
        """Weeks of data before the cutoff."""
        return max(0.0, (self.cutoff - self.first_event) / WEEK)

    @property
    def history_weeks_shown(self) -> float:
        """:attr:`history_weeks` rounded down to a tenth: the one figure reports and messages show."""
        return math.floor(round(self.history_weeks * 10, 6)) / 10

    def as_dict(self) -> dict:
        return {
            "data": {"first_event": self.first_event.isoformat(), "last_event": self.last_event.isoformat()},
            "cutoff": _day(self.cutoff),
            "cutoff_source": self.cutoff_source,
            "test_end": _day(self.test_end),
            "test_weeks": round(self.test_weeks, 4),
            "train_start": _day(self.train_start),
            "train_start_source": self.train_start_source,
            "history_weeks_before_cutoff": self.history_weeks_shown,
            "notes": list(self.notes),
            "left_out": [dict(group) for group in self.left_out],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calendar:
        return cls(
            pd.Timestamp(d["data"]["first_event"]),
            pd.Timestamp(d["data"]["last_event"]),
            pd.Timestamp(d["cutoff"]),
            pd.Timestamp(d["test_end"]),
            pd.Timestamp(d["train_start"]),
            d["cutoff_source"],
            d["train_start_source"],
            tuple(d.get("notes", ())),
            tuple(d.get("left_out", ())),
        )


def stray_events(event_times: pd.Series, export_time: pd.Timestamp | None = None) -> tuple[pd.Series, list[dict]]:
    """Which events make up the bulk of the data (a boolean Series on ``event_times``' index) and
    the groups left out: ``[{"rows", "first", "last", "why"}]`` (rules: module doc)."""
    times = pd.to_datetime(pd.Series(event_times))
    bulk = times.notna()
    groups: list[dict] = []

    def leave_out(mask: pd.Series, why: str) -> None:
        left = times[mask & bulk]
        if len(left):
            groups.append({"rows": int(len(left)), "first": _day(left.min()), "last": _day(left.max()), "why": why})
            bulk[mask] = False

    if export_time is not None and not pd.isna(export_time):
        leave_out(times > export_time, AFTER_EXPORT.format(export=pd.Timestamp(export_time).isoformat()))
    ordered = times[bulk].sort_values(kind="mergesort")
    if len(ordered) < 2:
        return bulk, groups
    gap = ordered.diff() > STRAY_GAP_WEEKS * WEEK
    cluster = gap.cumsum()
    share = cluster.value_counts(normalize=True, sort=False).sort_index()
    big = share[share > STRAY_MAX_SHARE].index
    if len(big) == 0:
        return bulk, groups
    weeks = ordered.diff().where(gap) / WEEK
    for c in share.index:
        if big.min() <= c <= big.max():
            continue
        # the gap that separates this group from the bulk: before it (late groups) or after it
        separating = weeks[cluster == c].iloc[0] if c > big.max() else weeks[cluster == c + 1].iloc[0]
        leave_out(
            times.index.isin(cluster[cluster == c].index), BEYOND_GAP.format(weeks=separating, share=float(share[c]))
        )
    groups.sort(key=lambda g: (g["first"], g["why"]))
    return bulk, groups


def derive_calendar(event_times: pd.Series, split: dict, export_time: pd.Timestamp | None = None) -> Calendar:
    """The calendar from the event times and params.yaml's ``split`` section (rules: module doc);
    ``export_time``: the recommendation log's, where there is one (later events are stray)."""
    times = pd.to_datetime(pd.Series(event_times)).dropna()
    if times.empty:
        raise StageStop(
            "no events: the calendar (cutoff, test window, first training moment) is derived from the event "
            "times in transactions.csv, and the file has no accepted rows"
        )
    bulk, left_out = stray_events(times, export_time)
    if bulk.any():
        times = times[bulk]
    first, last = times.min(), times.max()
    test_weeks = int(split["test_weeks"])
    notes: list[str] = []
    cutoff = _fixed_date(split.get("cutoff"), "cutoff")
    if cutoff is not None:
        cutoff_source, test_end = FIXED, cutoff + test_weeks * WEEK
        if cutoff > last or cutoff <= first:
            notes.append(f"the fixed cutoff {_day(cutoff)} lies outside the data ({_day(first)} to {_day(last)})")
    else:
        cutoff_source = DERIVED
        data_end = monday_on_or_before(last.normalize() + DAY)
        cutoff = data_end - test_weeks * WEEK
        earliest = monday_on_or_before(first) + WEEK
        if cutoff < earliest:
            notes.append(
                f"the data ({_day(first)} to {_day(last)}) is shorter than the {test_weeks} test weeks plus a "
                f"training side: the cutoff is the first Monday after the first event, {_day(earliest)}"
            )
            cutoff = earliest
        test_end = max(data_end, cutoff)
        if test_end - cutoff < test_weeks * WEEK:
            notes.append(f"the test window has {(test_end - cutoff) / WEEK:g} of the {test_weeks} weeks asked for")
    train_start = _fixed_date(split.get("train_start"), "train_start")
    if train_start is not None:
        train_start_source = FIXED
    else:
        train_start_source = DERIVED
        train_start = monday_on_or_after(first.normalize() + int(split["min_history_weeks"]) * WEEK)
    if train_start >= cutoff:
        notes.append(
            f"the first training moment {_day(train_start)} is not before the cutoff {_day(cutoff)}: "
            f"too little history for training"
        )
    for group in left_out:
        span = group["first"] if group["first"] == group["last"] else f"{group['first']} to {group['last']}"
        notes.append(f"{group['rows']} events ({span}) left out of the calendar: {group['why']}")
    return Calendar(
        first, last, cutoff, test_end, train_start, cutoff_source, train_start_source, tuple(notes), tuple(left_out)
    )


def calendar_path(root: Path | None = None) -> Path:
    from stoffwechsel import config

    return (root or config.ROOT) / CALENDAR_FILE


def write_calendar(calendar: Calendar, root: Path | None = None) -> Path:
    from stoffwechsel.data import io

    path = calendar_path(root)
    io.write_json(calendar.as_dict(), path)
    return path


def read_calendar(root: Path | None = None) -> Calendar:
    """The calendar the profile stage wrote (every later stage reads it from there)."""
    path = calendar_path(root)
    if not path.is_file():
        raise StageStop(f"no calendar: {path} is missing; the profile stage writes it (dvc repro profile)")
    return Calendar.from_dict(json.loads(path.read_text(encoding="utf-8")))


def require_training_history(calendar: Calendar, horizon_weeks: int) -> None:
    """Stop with a one-line reason unless at least one training moment, with its whole label
    window, fits between the first training moment and the cutoff."""
    horizon = int(horizon_weeks) * WEEK
    if calendar.train_start + horizon <= calendar.cutoff:
        return
    needed = math.ceil(round((calendar.train_start + horizon - calendar.first_event) / WEEK, 6))
    has = calendar.history_weeks_shown
    raise StageStop(
        f"too little history: training needs at least {needed} weeks before the cutoff, the data has {has:g} "
        f"(events {_day(calendar.first_event)} to {_day(calendar.last_event)}, cutoff {_day(calendar.cutoff)}: "
        "the first "
        f"training moment, {_day(calendar.train_start)}, and the {horizon_weeks} weeks in which its purchases are seen "
        f"must all lie before the cutoff)"
    )
