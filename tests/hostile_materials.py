"""Hostile materials for the script-injection tests (issue 18): simulated client files whose
text columns carry HTML, JavaScript and Markdown payloads. One payload list for the static scan
(tests/test_injection.py) and the browser run of both renderers (tests/test_injection_browser.py).

* Open-vocabulary columns (names, descriptions, categories, customer groups, channels, model
  versions, ...): every distinct value gets a payload in front of it, so the groups stay the same
  size and the payloads reach the group tables, alerts and charts.
* Closed columns (ids, seasons, event types, statuses): a few rows get a payload; the contract
  sets them aside, so the payloads reach the quarantine figures of the Data-quality page.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stoffwechsel.simulation.simulate import simulate

PAYLOADS = (
    "<img src=x onerror=alert(1)> null",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "[x](javascript:alert(1))",
    "{{< include /etc/passwd >}}",
    "`code` ``x``",
)

#: per file: the columns whose every value gets a payload (open vocabularies, free text)
OPEN_TEXT = {
    "products.csv": ("category", "name", "tags", "certifications"),
    "customers.csv": ("segment", "age_band", "region", "preferred_channel", "loyalty_tier", "sustainability_interest"),
    "transactions.csv": ("channel",),
}
#: per file: the columns of which a few rows get a payload (the contract quarantines those rows)
CLOSED_TEXT = {
    "products.csv": ("product_id", "price_eur", "sale_start"),  # an unconventional season is kept: a finding
    # not customers.csv's customer_id: an accepted id is withheld wherever it occurs (privacy), so
    # a payload as a customer id would hide the payloads from every group name
    "customers.csv": ("signup_date",),
    "transactions.csv": ("event_id", "customer_id", "product_id", "season", "event_type", "event_time", "quantity"),
    "production-recommendations-sample.csv": (
        "rec_id",
        "customer_id",
        "product_id",
        "season",
        "served_at",
        "click_status",
        "purchase_status",
        "return_status",
    ),
}


def _inject(frame: pd.DataFrame, column: str, every: int = 1) -> None:
    """Put a payload in front of each distinct value of ``column`` (a value becomes the same text
    everywhere it occurs, so groups keep their members; ``|``-lists get it in front of each item)."""
    distinct = sorted(frame[column].dropna().unique())
    mapping = {v: f"{PAYLOADS[i % len(PAYLOADS)]} {v}" for i, v in enumerate(distinct) if i % every == 0 and v != ""}
    frame[column] = frame[column].map(lambda v: mapping.get(v, v))


def _taint_rows(frame: pd.DataFrame, column: str, start: int) -> None:
    """Replace ``column`` in three rows (spread over the file) by payloads."""
    rows = [(start * 7 + k * len(frame) // 3) % len(frame) for k in range(3)]
    for k, row in enumerate(rows):
        frame.loc[frame.index[row], column] = PAYLOADS[(start + k) % len(PAYLOADS)]


def hostile_frames(folder: Path, scale: float = 0.5) -> dict[str, pd.DataFrame]:
    """Simulate materials into ``folder`` and return them with the payloads put in (not written)."""
    simulate(folder, scale=scale)
    read = lambda name: pd.read_csv(folder / name, dtype=str, keep_default_na=False)  # noqa: E731
    frames = {
        name: read(name)
        for name in ("products.csv", "customers.csv", "transactions.csv", "production-recommendations-sample.csv")
    }
    for name, columns in OPEN_TEXT.items():
        for column in columns:
            _inject(frames[name], column)
    products = frames["products.csv"]
    products["description"] = PAYLOADS[0] + " " + products["description"]
    recs = frames["production-recommendations-sample.csv"]
    versions = sorted(recs["model_version"].unique())
    recs["model_version"] = recs["model_version"].map(
        {v: f"{v} CTR fix {PAYLOADS[i % len(PAYLOADS)]}" for i, v in enumerate(versions)}
    )
    for name, columns in CLOSED_TEXT.items():
        for i, column in enumerate(columns):
            _taint_rows(frames[name], column, i)
    return frames


def write_hostile_materials(folder: Path, scale: float = 0.5) -> Path:
    """Write the four client files with payloads in every text column into ``folder``; returns it."""
    folder = Path(folder)
    for name, frame in hostile_frames(folder, scale).items():
        frame.to_csv(folder / name, index=False, lineterminator="\n")
    return folder
