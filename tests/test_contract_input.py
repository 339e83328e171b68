"""The data contract on input that is not our simulator's (issues 13 and 18): ids, timestamps
and vocabularies the way real exports write them, findings, the column mapping, the share limit
that stops a run, strict numbers, plausible dates and file-level problems of any CSV dialect.
Every test asserts the exact outcome."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE, TRANSACTIONS_FILE
from stoffwechsel.data.contract import QuarantineLimitError, load_materials
from stoffwechsel.data.schema import FINDING_COLUMNS, ContractError, ContractSettings

ROOT = Path(__file__).resolve().parents[1]
P, C, T, R = PRODUCTS_FILE, CUSTOMERS_FILE, TRANSACTIONS_FILE, RECOMMENDATIONS_FILE


from test_contract import edit, folder  # noqa: E402,F401  (the valid dataset's copy and its cell editor)


def load(folder: Path, **overrides):
    return load_materials(folder, **{"max_quarantine_share": 1.0, **overrides})


def rows(m) -> list[tuple]:
    return [tuple(r) for r in m.quarantine.itertuples(index=False)]


def findings(m) -> list[tuple]:
    return [tuple(r) for r in m.findings.itertuples(index=False)]


# --------------------------------------------------------------------------------------------
# A real-style export: numeric ids, minute timestamps with a space, free vocabularies
# --------------------------------------------------------------------------------------------

REAL_STYLE = {
    P: (
        "product_id,season,name,description,category,price_eur,certifications,tags,sale_start,sale_end\n"
        "85123A,2011,WHITE HANGING HEART T-LIGHT HOLDER,WHITE HANGING HEART T-LIGHT HOLDER,"
        "giftware,2.55,,,2011-11-25,2011-12-09\n"
        "22457,2011,NATURAL SLATE HEART CHALKBOARD,,giftware,2.95,,,2011-11-25,2011-12-09\n"
        "20868,2011,SILVER FABRIC MIRROR,SILVER FABRIC MIRROR,home,0.39,,,2011-11-25,2011-12-09\n"
    ),
    C: (
        "customer_id,signup_date,age_band,region,preferred_channel,loyalty_tier,sustainability_interest,segment\n"
        "17385,2011-11-25,unknown,United Kingdom,web,none,unknown,unknown\n"
        "12680.0,2011-11-25,unknown,France,web,none,unknown,unknown\n"
    ),
    T: (
        "event_id,customer_id,product_id,season,event_type,event_time,quantity,unit_price_eur,channel,return_of\n"
        "536365-1,17385,85123A,,purchase,2011-11-25 11:02,6,2.55,web,\n"
        "536365-2,17385,22457,2011,purchase,2011-11-25 11:02,80995,2.95,web,\n"
        "536366-1,12680.0,20868,,purchase,2011-12-09 12:50,12,0.39,web,\n"
        "C536379-1,12680.0,20868,,return,2011-12-09 13:01,1,0.39,web,536366-1\n"
    ),
    R: (
        "rec_id,served_at,customer_id,product_id,season,position,score,model_version,clicked_at,purchased_at,"
        "returned_at,click_status,purchase_status,return_status,export_time\n"
    ),
}


@pytest.fixture
def real_style(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in REAL_STYLE.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_real_style_export_passes_whole_with_findings(real_style):
    m = load_materials(real_style)  # default settings from params.yaml, share limit included
    assert rows(m) == []
    assert {f: (c["read"], c["accepted"]) for f, c in m.counts.items()} == {P: (3, 3), C: (2, 2), T: (4, 4), R: (0, 0)}
    # Ids are text exactly as written: never parsed as numbers, "12680.0" stays "12680.0".
    assert m.customers["customer_id"].tolist() == ["17385", "12680.0"]
    assert m.transactions["event_id"].tolist() == ["536365-1", "536365-2", "536366-1", "C536379-1"]
    assert m.transactions["event_time"].tolist() == [
        pd.Timestamp("2011-11-25 11:02"),
        pd.Timestamp("2011-11-25 11:02"),
        pd.Timestamp("2011-12-09 12:50"),
        pd.Timestamp("2011-12-09 13:01"),
    ]
    assert m.products["description"].tolist() == ["WHITE HANGING HEART T-LIGHT HOLDER", "", "SILVER FABRIC MIRROR"]
    assert m.missing == {R: "file has a header but no data rows"} and not m.has_recommendation_log
    assert findings(m) == [
        (C, "customer_id", "id written as a decimal number (kept as text)", 1, "(withheld: a customer id)"),
        (C, "region", "value outside the known list", 2, "United Kingdom"),
        (R, "", "no recommendation log: file has a header but no data rows", 0, ""),
        (P, "category", "value outside the known list", 3, "giftware"),
        (P, "description", "description is empty", 1, ""),
        (P, "description", "description shorter than 25 words", 2, "WHITE HANGING HEART T-LIGHT HOLDER"),
        (P, "season", "season not in the SS26/AW25 form", 3, "2011"),
        (T, "customer_id", "id written as a decimal number (kept as text)", 2, "(withheld: a customer id)"),
        (T, "season", "season not in the SS26/AW25 form", 1, "2011"),
    ]
    assert list(m.findings.columns) == list(FINDING_COLUMNS)
    assert m.findings["rows"].dtype == "int64"


def test_header_only_and_absent_recommendations_give_an_empty_typed_frame(real_style, folder):
    with_log = load_materials(folder).recommendations
    for why, prepare in (
        ("file has a header but no data rows", lambda: None),
        ("file absent", lambda: (real_style / R).unlink()),
        ("file is empty", lambda: (real_style / R).write_bytes(b"")),
    ):
        prepare()
        m = load_materials(real_style)
        assert m.missing == {R: why}
        assert m.counts[R] == {"read": 0, "accepted": 0, "quarantined": 0}
        empty = m.recommendations
        assert len(empty) == 0 and list(empty.columns) == list(with_log.columns)
        assert empty.dtypes.astype(str).tolist() == with_log.dtypes.astype(str).tolist()
        assert (R, "", f"no recommendation log: {why}", 0, "") in findings(m)


def test_cli_validate_prints_counts_and_findings(real_style):
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "validate", str(real_style)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == [
        f"{P}: 3 read, 3 accepted, 0 quarantined",
        f"{C}: 2 read, 2 accepted, 0 quarantined",
        f"{T}: 4 read, 4 accepted, 0 quarantined",
        f"{R}: 0 read, 0 accepted, 0 quarantined (no rows: file has a header but no data rows)",
    ]
    assert lines[4].startswith("files read as")
    assert lines[5:8] == [
        f"  {P}: comma-separated, decimal point, UTF-8, LF line ends",
        f"  {C}: comma-separated, UTF-8, LF line ends",
        f"  {T}: comma-separated, decimal point, UTF-8, LF line ends",
    ]
    assert lines[8] == "findings (rows kept):"
    assert f"  {P}: category: value outside the known list: 3 rows (e.g. 'giftware')" in lines
    assert f"  {R}: no recommendation log: file has a header but no data rows" in lines
    assert len(lines) == 9 + 9


# --------------------------------------------------------------------------------------------
# Ids and seasons
# --------------------------------------------------------------------------------------------


def test_ids_are_trimmed_text(folder):
    edit(folder, T, 9, "customer_id", "  C0000004 ")
    edit(folder, T, 9, "event_id", " T0000008b")
    m = load(folder)
    assert rows(m) == []
    assert m.transactions.loc[7, ["event_id", "customer_id"]].tolist() == ["T0000008b", "C0000004"]


@pytest.mark.parametrize(
    "file, line, column, value, reason",
    [
        (C, 3, "customer_id", "C９９９９９", "contains non-ASCII digits"),  # full-width
        (C, 3, "customer_id", "C٩٩٩٩٩", "contains non-ASCII digits"),  # Arabic-Indic
        (C, 3, "customer_id", "C0\x1b0002", "contains a control character"),
        (C, 3, "customer_id", "C00\t002", "contains a control character"),
        (P, 6, "season", "SS٢٦", "contains non-ASCII digits"),
        (P, 6, "season", "SS２６", "contains non-ASCII digits"),
        (P, 6, "season", "AW²⁵", "contains non-ASCII digits"),  # superscripts are digits too
    ],
)
def test_ids_and_seasons_with_unicode_digits_or_control_characters_are_quarantined(
    folder, file, line, column, value, reason
):
    edit(folder, file, line, column, value)
    q = load(folder).quarantine
    assert [tuple(r) for r in q[q["file"] == file].itertuples(index=False)] == [(file, line, column, value, reason)]


def test_season_outside_the_convention_is_a_finding_not_a_quarantine(folder):
    edit(folder, P, 6, "season", "Sommer 2025")
    m = load(folder)
    assert rows(m) == []
    assert findings(m) == [(P, "season", "season not in the SS26/AW25 form", 1, "Sommer 2025")]


# --------------------------------------------------------------------------------------------
# Timestamps and dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, wall_time",
    [
        ("2024-09-20T18:00:00", "2024-09-20 18:00:00"),
        ("2024-09-20 18:00:00", "2024-09-20 18:00:00"),
        ("2024-09-20 18:00", "2024-09-20 18:00:00"),
        ("2024-09-20T18:00", "2024-09-20 18:00:00"),
        ("2024-09-20", "2024-09-20 00:00:00"),  # a date only: midnight, local
        ("2024-09-20T18:00:00.25", "2024-09-20 18:00:00.250000"),
        ("2024-09-20 18:00:00,123456789", "2024-09-20 18:00:00.123456"),  # beyond microseconds: cut
        ("2024-09-20T16:00:00Z", "2024-09-20 18:00:00"),  # UTC -> Berlin summer time
        ("2024-09-20T18:00:00+02:00", "2024-09-20 18:00:00"),
        ("2024-09-20T12:00-0400", "2024-09-20 18:00:00"),
        ("2024-09-20 17:00 +01", "2024-09-20 18:00:00"),
        ("2024-03-31T01:30:00Z", "2024-03-31 03:30:00"),  # an instant in the DST gap's hour exists
    ],
)
def test_timestamp_forms(folder, text, wall_time):
    edit(folder, T, 9, "event_time", text)
    m = load(folder)
    assert rows(m) == []
    assert m.transactions.loc[7, "event_time"] == pd.Timestamp(wall_time)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("20.09.2024 18:00", "not a timestamp"),
        ("2024-09-20T24:00", "not a timestamp"),
        ("2024-09-20T18:60", "not a timestamp"),
        ("2024-02-30 10:00", "not a timestamp"),
        ("2024-09-20T18", "not a timestamp"),
        ("2024-09-20T18:00+19:00", "not a timestamp"),
        ("2024-09-20T18:00 CEST", "not a timestamp"),
        ("٢٠٢٤-09-20 18:00", "contains non-ASCII digits"),
        ("2024-03-31 02:30", "time does not exist in Europe/Berlin (DST gap)"),
        ("2300-01-01T12:00:00", "after the plausible range (to 2099-12-31)"),  # issue 18
        ("1900-01-01 12:00", "before the plausible range (from 1990-01-01)"),
    ],
)
def test_bad_timestamps_are_quarantined(folder, text, reason):
    edit(folder, T, 9, "event_time", text)
    assert rows(load(folder)) == [(T, 9, "event_time", text, reason)]


def test_served_at_in_1900_is_quarantined(folder):
    """Issue 18: one served_at of 1900 made the monitor grow to 20 GB."""
    edit(folder, R, 7, "served_at", "1900-01-01T12:00:00")
    assert rows(load(folder)) == [
        (R, 7, "served_at", "1900-01-01T12:00:00", "before the plausible range (from 1990-01-01)")
    ]


def test_date_ranges_per_column(folder):
    edit(folder, C, 3, "signup_date", "1985-05-10")  # C00002: transactions 4-6, 11; recommendations 3, 6
    bad = (C, 3, "signup_date", "1985-05-10", "before the plausible range (from 1990-01-01)")
    assert [r for r in rows(load(folder)) if r[0] == C] == [bad]
    m = load(folder, date_ranges={"signup_date": ["1970-01-01", None]})
    assert rows(m) == [] and m.customers.loc[1, "signup_date"] == pd.Timestamp("1985-05-10")
    m = load(folder, date_ranges={"signup_date": ["1970-01-01", "2023-12-31"]})
    assert [r for r in rows(m) if r[0] == C] == [
        (C, 4, "signup_date", "2024-01-20", "after the plausible range (to 2023-12-31)"),
        (C, 5, "signup_date", "2024-02-14", "after the plausible range (to 2023-12-31)"),
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-03-01", None),
        ("2025-03-01 00:00", None),
        ("2025-03-01T00:00:00", None),
        ("2025-03-01T10:00", "not a date"),
        ("2025-03-01Z", "not a date"),
        ("01/03/2025", "not a date"),
    ],
)
def test_date_forms(folder, text, expected):
    edit(folder, P, 6, "sale_start", text)
    m = load(folder)
    if expected is None:
        assert rows(m) == [] and m.products.loc[4, "sale_start"] == pd.Timestamp("2025-03-01")
    else:
        assert rows(m) == [(P, 6, "sale_start", text, expected)]


# --------------------------------------------------------------------------------------------
# Strict numbers (issue 18)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file, line, column, text, reason",
    [
        (T, 8, "quantity", "100000000000000000000", "integer outside the 64-bit range"),
        (T, 8, "quantity", "9223372036854775808", "integer outside the 64-bit range"),
        (T, 8, "quantity", "9223372036854775807", "must be <= 100000"),
        (T, 8, "quantity", "-9223372036854775808", "must be >= 1"),
        (T, 8, "quantity", "100001", "must be <= 100000"),
        (T, 8, "quantity", "２", "contains non-ASCII digits"),
        (T, 8, "quantity", "٤٩", "contains non-ASCII digits"),
        (T, 8, "quantity", "1e3", "not a number"),
        (T, 8, "quantity", "3.0", "not an integer"),
        (P, 6, "price_eur", "9" * 401, "number too large (not finite)"),
        (P, 6, "price_eur", "٤٩", "contains non-ASCII digits"),
        (P, 6, "price_eur", "49.９0", "contains non-ASCII digits"),
        (P, 6, "price_eur", "inf", "not a number"),
        (P, 6, "price_eur", "NaN", "not a number"),
        (P, 6, "price_eur", "1e2", "not a number"),
        (P, 6, "price_eur", "100000.01", "must be <= 100000"),
        (T, 9, "unit_price_eur", "1" + "0" * 30, "must be <= 100000"),
        (R, 3, "position", "９", "contains non-ASCII digits"),
        (R, 3, "score", "0.5e0", "not a number"),
    ],
)
def test_numbers_are_parsed_strictly(folder, file, line, column, text, reason):
    edit(folder, file, line, column, text)
    q = load(folder).quarantine
    assert [tuple(r) for r in q[q["file"] == file].itertuples(index=False)] == [(file, line, column, text, reason)]


def test_largest_plausible_numbers_pass_exactly(folder):
    edit(folder, T, 8, "quantity", "0100000")  # leading zeros are fine
    edit(folder, P, 6, "price_eur", "100000.00")
    m = load(folder)
    assert rows(m) == []
    assert m.transactions.loc[6, "quantity"] == 100000 and m.products.loc[4, "price_eur"] == 100000.0


def test_quantity_and_price_limits_are_params(folder):
    edit(folder, T, 8, "quantity", "80995")
    assert rows(load(folder, max_quantity=1000)) == [(T, 8, "quantity", "80995", "must be <= 1000")]
    assert rows(load(folder)) == []
    assert rows(load(folder, max_price_eur=100)) == [  # SW-300003 AW24 and its events
        (R, 5, "season", "AW24", "product version (product_id, season) is quarantined"),
        (R, 7, "season", "AW24", "product version (product_id, season) is quarantined"),
        (P, 5, "price_eur", "199.00", "must be <= 100"),
        (T, 9, "season", "AW24", "product version (product_id, season) is quarantined"),
        (T, 9, "unit_price_eur", "199.00", "must be <= 100"),
        (T, 10, "season", "AW24", "product version (product_id, season) is quarantined"),
        (T, 10, "unit_price_eur", "179.10", "must be <= 100"),
    ]


# --------------------------------------------------------------------------------------------
# Open vocabularies, descriptions, grouped reasons
# --------------------------------------------------------------------------------------------


def test_open_vocabularies_are_findings(folder):
    edit(folder, P, 6, "category", "swimwear")
    edit(folder, P, 5, "category", "underwear")
    edit(folder, P, 4, "category", "underwear")
    edit(folder, P, 6, "certifications", "OEKO-TEX|Vegan")
    edit(folder, C, 2, "age_band", "under 18")
    edit(folder, C, 3, "region", "Zürich")
    edit(folder, C, 4, "preferred_channel", "phone")
    edit(folder, C, 5, "loyalty_tier", "platinum")
    edit(folder, C, 5, "sustainability_interest", "n/a")
    edit(folder, C, 5, "segment", "C00002")  # a customer id typed into a segment cell
    edit(folder, T, 4, "channel", "marketplace")
    m = load_materials(folder)  # with the default share limit: nothing is quarantined
    assert rows(m) == []
    assert findings(m) == [
        (C, "age_band", "value outside the known list", 1, "under 18"),
        (C, "loyalty_tier", "value outside the known list", 1, "platinum"),
        (C, "preferred_channel", "value outside the known list", 1, "phone"),
        (C, "region", "value outside the known list", 1, "Zürich"),
        (C, "segment", "value outside the known list", 1, "(withheld: a customer id)"),
        (C, "sustainability_interest", "value outside the known list", 1, "n/a"),
        (P, "category", "value outside the known list", 3, "underwear"),
        (P, "certifications", "certification outside the known list", 1, "Vegan"),
        (T, "channel", "value outside the known list", 1, "marketplace"),
    ]


CHINESE = (
    "这款连衣裙采用有机棉面料，手感柔软，透气舒适。经典圆领设计，腰部收褶，修饰身形。"
    "适合日常通勤和周末出游，可机洗，不易变形。"
)


@pytest.mark.parametrize(
    "text, finding",
    [
        (CHINESE, None),  # issue 18: a valid Chinese description (52 characters) is kept, not short
        (CHINESE[:20], "description shorter than 25 words"),
        ("Just a bag.", "description shorter than 25 words"),
        ("", "description is empty"),
        ("   ", "description is empty"),
    ],
)
def test_descriptions_are_never_a_reason_to_drop_a_product(folder, text, finding):
    edit(folder, P, 2, "description", text)
    m = load_materials(folder)
    assert rows(m) == [] and len(m.products) == 5
    expected = [] if finding is None else [(P, "description", finding, 1, text.strip()[:80])]
    assert findings(m) == expected


def test_description_length_counts_any_script():
    from stoffwechsel.data.quarantine import description_words

    words = description_words(pd.Series(["one two three", CHINESE, "東京 tote bag", "", "— ok —"], dtype="str"))
    assert words.tolist() == pytest.approx([3, 52 / 1.5, 2 / 1.5 + 2, 0, 3])


def test_reasons_are_grouped_stable_texts(folder):
    edit(folder, T, 8, "event_type", "view")
    edit(folder, T, 9, "event_type", "click")
    m = load(folder)
    assert sorted(set(m.quarantine["reason"])) == ["unknown value (allowed: browse, wishlist, purchase, return)"]
    assert m.quarantine["value"].tolist() == ["view", "click"]


# --------------------------------------------------------------------------------------------
# Column mapping
# --------------------------------------------------------------------------------------------

THEIR_TRANSACTIONS = (
    "InvoiceLine,CustomerID,StockCode,season,Type,InvoiceDate,Qty,unit_price_eur,channel,return_of\n"
    "T1,C00001,SW-1001,SS24,B,2024-03-05 10:00,1,49.90,web,\n"
    "T2,C00001,SW-1001,SS24,P,2024-03-05 10:05,1,49.90,web,\n"
    "T3,C00001,SW-1001,SS24,R,2024-03-20 15:00,1,49.90,web,T2\n"
)
MAPPING = {
    T: {
        "columns": {
            "event_id": "InvoiceLine",
            "customer_id": "CustomerID",
            "product_id": "StockCode",
            "event_type": "Type",
            "event_time": "InvoiceDate",
            "quantity": "Qty",
        },
        "values": {"event_type": {"B": "browse", "P": "purchase", "R": "return"}},
    }
}


def test_mapping_renames_columns_and_codes(folder):
    (folder / T).write_text(THEIR_TRANSACTIONS)
    m = load_materials(folder, mapping=MAPPING)
    assert rows(m) == []
    assert m.transactions[["event_id", "event_type", "quantity"]].values.tolist() == [
        ["T1", "browse", 1],
        ["T2", "purchase", 1],
        ["T3", "return", 1],
    ]


def test_mapping_errors_name_the_file_and_the_mapped_column(folder):
    (folder / T).write_text(THEIR_TRANSACTIONS.replace("InvoiceDate", "Date"))
    with pytest.raises(ContractError) as info:
        load_materials(folder, mapping=MAPPING)
    assert str(info.value) == "transactions.csv: missing required column(s): event_time (mapped from InvoiceDate)"
    with pytest.raises(ContractError) as info:
        load_materials(folder, mapping={T: {"columns": {"when": "InvoiceDate"}}})
    assert str(info.value) == (
        "transactions.csv: params.yaml materials.mapping: no contract column 'when' (columns: event_id, "
        "customer_id, product_id, season, event_type, event_time, quantity, unit_price_eur, channel, return_of)"
    )
    with pytest.raises(ContractError) as info:
        load_materials(folder, mapping={"orders.csv": {}})
    assert str(info.value).startswith("orders.csv: params.yaml materials.mapping names an unknown file")


def test_unmapped_codes_stay_and_closed_sets_quarantine_them(folder):
    (folder / T).write_text(THEIR_TRANSACTIONS)
    mapping = {T: {**MAPPING[T], "values": {"event_type": {"P": "purchase"}}}}
    assert [(r[1], r[3], r[4]) for r in rows(load(folder, mapping=mapping))] == [
        (2, "B", "unknown value (allowed: browse, wishlist, purchase, return)"),
        (4, "R", "unknown value (allowed: browse, wishlist, purchase, return)"),
        (4, "T2", "return_of given on a non-return event"),
    ]


# --------------------------------------------------------------------------------------------
# Fail loudly at scale: the share limit
# --------------------------------------------------------------------------------------------


def test_more_than_the_share_quarantined_stops_with_one_line(folder):
    edit(folder, T, 4, "event_time", "yesterday")
    edit(folder, T, 5, "quantity", "0")
    with pytest.raises(QuarantineLimitError) as info:
        load_materials(folder, max_quarantine_share=0.1)
    assert str(info.value) == (
        "transactions.csv: 20.0% of rows quarantined (2 of 10), more than the limit of 10.0% "
        "(materials.max_quarantine_share); top reasons: event_time: not a timestamp (1), quantity: must be >= 1 (1)"
    )
    assert info.value.materials.counts[T] == {"read": 10, "accepted": 8, "quarantined": 2}
    assert load_materials(folder, max_quarantine_share=0.2).counts[T]["accepted"] == 8  # at the limit: passes


def test_top_three_reasons_by_count(folder):
    for line in (2, 3, 4):
        edit(folder, T, line, "product_id", "")
    for line in (5, 6):
        edit(folder, T, line, "unit_price_eur", "x")
    edit(folder, T, 8, "quantity", "0")
    edit(folder, T, 9, "event_type", "view")
    with pytest.raises(QuarantineLimitError) as info:
        load_materials(folder)
    assert str(info.value).endswith(
        "top reasons: product_id: required value is empty (3), "
        "return_of: return_of refers to a quarantined purchase (2), "
        "unit_price_eur: not a number (2)"
    )


def test_a_file_with_no_accepted_row_always_stops(folder):
    path = folder / C
    path.write_text(re.sub(r"^(C[0-9]+),[0-9-]+,", r"\1,,", path.read_text(), flags=re.M))
    with pytest.raises(QuarantineLimitError) as info:
        load_materials(folder, max_quarantine_share=1.0)
    assert str(info.value) == (
        "customers.csv: no row accepted (all 4 quarantined); top reasons: signup_date: required value is empty (4)"
    )
    assert "\n" not in str(info.value)


def test_cli_validate_stops_on_the_share_limit_after_the_report(folder):
    edit(folder, T, 4, "event_time", "2024-13-01 10:00")
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "validate", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: transactions.csv: 10.0% of rows quarantined (1 of 10), more than the limit of 5.0% "
        "(materials.max_quarantine_share); top reasons: event_time: not a timestamp (1)"
    ]
    assert "quarantined problems by reason:\n  transactions.csv: event_time: not a timestamp: 1\n" in proc.stdout


# --------------------------------------------------------------------------------------------
# File-level problems of any CSV dialect: one line, never a traceback
# --------------------------------------------------------------------------------------------


def test_cr_only_line_ends_are_read(folder):
    for name in (P, C, T, R):
        path = folder / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    m = load_materials(folder)
    assert rows(m) == [] and m.counts[T]["accepted"] == 10
    assert m.products.loc[0, "description"].startswith("A light shirt")


def test_stray_carriage_return_in_a_cell_is_a_control_character(folder):
    edit(folder, C, 2, "region", "Ber\rlin")
    assert rows(load(folder))[0] == (C, 2, "region", "Ber\rlin", "contains a control character")


def test_a_data_field_over_128_kib_is_read(folder):
    long = " ".join(["organic"] * 30_000)  # 240,000 characters
    edit(folder, P, 6, "description", long)
    m = load_materials(folder)
    assert rows(m) == [] and m.products.loc[4, "description"] == long


def test_header_names_are_trimmed(folder):
    path = folder / C
    path.write_text(path.read_text().replace("region,", " region ,", 1))
    assert load_materials(folder).customers.loc[0, "region"] == "Berlin"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_not_read(folder):
    (folder / C).unlink()
    os.mkfifo(folder / C)
    with pytest.raises(ContractError) as info:
        load_materials(folder)
    assert str(info.value) == "customers.csv: not a regular file"


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def test_settings_come_from_params_yaml():
    import yaml

    section = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["materials"]
    s = ContractSettings.from_params(section)
    assert (s.max_quarantine_share, s.earliest_date, s.latest_date, s.max_quantity, s.mapping) == (
        section["max_quarantine_share"],
        section["earliest_date"],
        section["latest_date"],
        section["max_quantity"],
        {},
    )
    assert s.date_range("served_at") == (section["earliest_date"], section["latest_date"])


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "max_quarantine_share",
            1.5,
            "params.yaml materials.max_quarantine_share: must be a number in [0, 1], got 1.5",
        ),
        ("earliest_date", "1.1.1990", "params.yaml materials.earliest_date: must be a day YYYY-MM-DD, got '1.1.1990'"),
        (
            "date_ranges",
            {"birthday": ["1900-01-01", None]},
            "params.yaml materials.date_ranges.birthday: no date or timestamp column 'birthday'",
        ),
    ],
)
def test_bad_settings_say_which_param(key, value, message):
    section = {**ContractSettings.from_params().__dict__, key: value}
    with pytest.raises(ValueError) as info:
        ContractSettings.from_params(section)
    assert str(info.value).startswith(message)


def test_blank_lines_are_skipped_but_counted(folder):
    path = folder / C
    path.write_text("\n\n" + path.read_text())
    lines = (folder / P).read_text().split("\n")
    (folder / P).write_text("\n".join(lines[:3] + [""] + lines[3:]))
    edit_line = 7  # SW-4004 was on line 6; the blank line moved it down
    m = load_materials(folder)
    assert rows(m) == [] and m.counts[C]["accepted"] == 4
    assert m.customers["customer_id"].tolist() == ["C00001", "C00002", "C000003", "C0000004"]
    text = (folder / P).read_text().replace("24.50", "-1")
    (folder / P).write_text(text)
    assert rows(load(folder)) == [(P, edit_line, "price_eur", "-1", "must be > 0")]


def test_the_int64_limit_beside_a_blank_cell_is_read_exactly():
    """An integer column holding the largest 64-bit integer and a blank cell: pandas' own cast to
    Int64 went through Python ints and overflowed (found splitting the contract, issue 23)."""
    import pyarrow

    from stoffwechsel.data import parsing

    s = pd.Series(["9223372036854775807", "1", None, "-9223372036854775808"])
    got = parsing._cast(s, pyarrow.int64(), "Int64")
    assert str(got.dtype) == "Int64"
    assert got.tolist() == [9223372036854775807, 1, pd.NA, -9223372036854775808]
