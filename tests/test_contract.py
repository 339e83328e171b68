"""The data contract (stoffwechsel.data.contract): each test breaks one thing in a copy of the tiny
valid dataset in tests/fixtures/valid/ and asserts the exact outcome: the ContractError message
for file-level problems, the exact quarantine rows (file, row, column, value, reason) for
row-level ones, including the rows that are quarantined because they refer to a bad row.

The tiny fixture has 4-10 rows per file, so one bad row is far above the default share limit
(materials.max_quarantine_share); row-level tests load with the limit lifted (``load``); the
limit itself is tested in tests/test_contract_input.py."""

from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from stoffwechsel.config import (
    CUSTOMERS_FILE,
    MATERIAL_FILES,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data.contract import (
    load_materials,
    quarantine_report,
    write_quarantine,
)
from stoffwechsel.data.schema import QUARANTINE_COLUMNS, ContractError

ROOT = Path(__file__).resolve().parents[1]
VALID = Path(__file__).parent / "fixtures" / "valid"
REAL_MATERIALS = ROOT / "materials"

P, C, T, R = PRODUCTS_FILE, CUSTOMERS_FILE, TRANSACTIONS_FILE, RECOMMENDATIONS_FILE


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A fresh copy of the valid dataset."""
    return Path(shutil.copytree(VALID, tmp_path / "materials"))


def edit(folder: Path, file: str, line: int, column: str, value: str) -> None:
    """Set one cell, addressed by line number in the file (header = line 1)."""
    path = folder / file
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[line - 2, column] = value
    df.to_csv(path, index=False, lineterminator="\n")


def load(folder: Path):
    """load_materials without the share limit (one bad row of the tiny fixture is 10-25%)."""
    return load_materials(folder, max_quarantine_share=1.0)


def quarantine_rows(folder: Path) -> list[tuple]:
    q = load(folder).quarantine
    return [tuple(r) for r in q.itertuples(index=False)]


# --------------------------------------------------------------------------------------------
# The valid dataset
# --------------------------------------------------------------------------------------------


def test_valid_fixture_loads_without_quarantine(folder):
    m = load_materials(folder)
    assert m.quarantine.empty
    assert list(m.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert m.counts == {
        P: {"read": 5, "accepted": 5, "quarantined": 0},
        C: {"read": 4, "accepted": 4, "quarantined": 0},
        T: {"read": 10, "accepted": 10, "quarantined": 0},
        R: {"read": 6, "accepted": 6, "quarantined": 0},
    }
    assert quarantine_report(m).empty
    assert m.findings.empty and m.missing == {} and m.has_recommendation_log


def test_accepted_frames_are_typed(folder):
    m = load_materials(folder)
    kinds = {
        "products": (m.products, {"price_eur": "f", "sale_start": "M", "sale_end": "M"}),
        "customers": (m.customers, {"signup_date": "M"}),
        "transactions": (m.transactions, {"event_time": "M", "quantity": "i", "unit_price_eur": "f"}),
        "recommendations": (
            m.recommendations,
            {
                "served_at": "M",
                "position": "i",
                "score": "f",
                "clicked_at": "M",
                "purchased_at": "M",
                "returned_at": "M",
                "export_time": "M",
            },
        ),
    }
    for name, (frame, typed) in kinds.items():
        for column in frame.columns:
            dtype = frame[column].dtype
            if column in typed:
                assert dtype.kind == typed[column], (name, column, dtype)
            else:
                assert pd.api.types.is_string_dtype(dtype), (name, column, dtype)
        assert isinstance(frame.index, pd.RangeIndex)
    # Empty optional text is "" (never NaN), an empty timestamp NaT; '|' cells keep their text.
    for frame in (m.products, m.customers, m.transactions, m.recommendations):
        text = frame.select_dtypes(include="str")
        assert not text.isna().any().any()
    assert (m.transactions["season"] == "").sum() == 3
    assert (m.transactions["return_of"] != "").sum() == 2
    assert m.products["certifications"].tolist() == ["GOTS|Fair Trade", "GOTS", "", "GRS|bluesign", "OEKO-TEX"]
    assert m.recommendations["clicked_at"].isna().sum() == 2
    assert m.products.loc[0, "price_eur"] == 49.90
    assert m.transactions.loc[5, "event_time"] == pd.Timestamp("2024-03-20T15:00:00")
    for frame in (m.products, m.customers, m.transactions, m.recommendations):
        for column in frame.select_dtypes(include="datetime").columns:
            assert str(frame[column].dtype) == "datetime64[us]", column


def test_bom_and_crlf_are_tolerated(folder):
    path = folder / C
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    m = load_materials(folder)
    assert m.quarantine.empty
    assert m.customers["segment"].iloc[-1] == "Bargain Hunters"


def test_line_numbers_count_physical_lines(folder):
    """A quoted cell spanning two lines shifts the line numbers of the rows after it."""
    path = folder / P
    path.write_text(path.read_text().replace("cut straight with", "cut straight\nwith"))
    edit(folder, P, 6, "price_eur", "-1")  # edit() addresses records; the row now starts at line 7
    assert quarantine_rows(folder) == [(P, 7, "price_eur", "-1", "must be > 0")]


# --------------------------------------------------------------------------------------------
# File-level problems: ContractError with one exact line
# --------------------------------------------------------------------------------------------


def _remove(folder):
    (folder / C).unlink()


def _zero_bytes(folder):
    (folder / P).write_bytes(b"")


def _header_only(folder):
    path = folder / T
    path.write_text(path.read_text().split("\n")[0] + "\n")


def _drop_columns(folder):
    df = pd.read_csv(folder / P, dtype=str, keep_default_na=False)
    df.drop(columns=["price_eur", "tags"]).to_csv(folder / P, index=False, lineterminator="\n")


def _extra_field(folder):
    path = folder / T
    lines = path.read_text().split("\n")
    lines[3] += ",surplus"
    path.write_text("\n".join(lines))


def _missing_field(folder):
    path = folder / T
    lines = path.read_text().split("\n")
    lines[4] = lines[4].rsplit(",", 1)[0]
    path.write_text("\n".join(lines))


def _unclosed_quote(folder):
    path = folder / P
    path.write_text(path.read_text().replace('season after season.",', "season after season.,", 1))


def _broken_utf8(folder):
    """One broken byte in a UTF-8 file whose other non-ASCII text (München) is valid UTF-8: an
    error naming the byte, never a guess of Windows-1252 (tests/test_dialects.py reads real ones)."""
    path = folder / C
    path.write_bytes(path.read_bytes().replace(b"Berlin", b"Berl\xfcn", 1))


def _duplicate_product(folder):
    edit(folder, P, 4, "season", "SS24")  # SW-1001 AW24 -> SW-1001 SS24, as on line 2


def _duplicate_event(folder):
    edit(folder, T, 5, "event_id", "T0000002")
    edit(folder, T, 8, "event_id", "T0000002")


def _duplicate_column(folder):
    path = folder / C
    path.write_text(path.read_text().replace("region,", "segment,", 1))


def _directory(folder):
    (folder / P).unlink()
    (folder / P).mkdir()


def _binary(folder):
    (folder / T).write_bytes(bytes(range(256)) * 4)


def _utf16(folder):
    path = folder / C
    path.write_bytes(path.read_text().encode("utf-16"))


def _huge_header_field(folder):
    path = folder / C
    path.write_text(path.read_text().replace("segment", "segment," + "x" * 140_000, 1))


def _header_only_products(folder):
    path = folder / P
    path.write_text(path.read_text().split("\n")[0] + "\n")


FILE_LEVEL = [
    pytest.param(_remove, "customers.csv: file not found in {folder}", id="missing-file"),
    pytest.param(_zero_bytes, "products.csv: file is empty (0 bytes)", id="empty-file"),
    pytest.param(_header_only, "transactions.csv: file has a header but no data rows", id="header-only"),
    pytest.param(_drop_columns, "products.csv: missing required column(s): price_eur", id="missing-columns"),
    pytest.param(
        _extra_field, "transactions.csv: cannot parse CSV: line 4 has 11 fields, expected 10", id="extra-field"
    ),
    pytest.param(
        _missing_field, "transactions.csv: cannot parse CSV: line 5 has 9 fields, expected 10", id="missing-field"
    ),
    pytest.param(
        _unclosed_quote,
        "products.csv: cannot parse CSV: unclosed quote in the record starting at line 3",
        id="unclosed-quote",
    ),
    pytest.param(
        _broken_utf8,
        "customers.csv: not valid UTF-8: byte 0xFC at offset {offset} (line 2); not read as Windows-1252 either: "
        "2 of its 3 non-ASCII bytes are valid UTF-8: a UTF-8 file with broken bytes",
        id="broken-utf-8",
    ),
    pytest.param(
        _duplicate_product,
        "products.csv: duplicate key product_id=SW-1001, season=SS24 on lines 2, 4",
        id="duplicate-product-version",
    ),
    pytest.param(
        _duplicate_event,
        "transactions.csv: duplicate key event_id=T0000002 on lines 3, 5, 8",
        id="duplicate-event-id",
    ),
    pytest.param(_duplicate_column, "customers.csv: duplicate column name(s): segment", id="duplicate-column"),
    pytest.param(_directory, "products.csv: is a directory, not a file (in {folder})", id="directory"),
    pytest.param(
        _binary, "transactions.csv: contains NUL bytes: a binary file or not UTF-8 (e.g. UTF-16)", id="binary-file"
    ),
    pytest.param(_utf16, "customers.csv: contains NUL bytes: a binary file or not UTF-8 (e.g. UTF-16)", id="utf-16"),
    pytest.param(
        _huge_header_field,
        "customers.csv: cannot parse CSV header (line 1): field larger than field limit (131072)",
        id="header-field-over-128-kib",
    ),
    pytest.param(_header_only_products, "products.csv: file has a header but no data rows", id="header-only-products"),
]


@pytest.mark.parametrize("breakage, message", FILE_LEVEL)
def test_file_level_problem_raises_one_line(folder, breakage, message):
    breakage(folder)
    offset = (folder / C).read_bytes().find(b"\xfc") if (folder / C).exists() else -1
    with pytest.raises(ContractError) as info:
        load_materials(folder)
    assert str(info.value) == message.format(folder=folder, offset=offset)
    assert "\n" not in str(info.value)
    err = info.value  # no chained traceback from a parser or decoder
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_contract_error_survives_pickling():
    err = pickle.loads(pickle.dumps(ContractError("products.csv", "file is empty (0 bytes)")))
    assert str(err) == "products.csv: file is empty (0 bytes)" and err.file == "products.csv"


# --------------------------------------------------------------------------------------------
# Row-level problems: exact quarantine rows (file, row, column, value, reason)
# --------------------------------------------------------------------------------------------

# Cascades in the fixture: customer C0000004 (customers line 5) is referenced by transactions
# lines 9-10 and recommendations line 5; product version SW-1001/SS24 (products line 2) by
# transactions lines 2, 3, 7 (a return of line 3) and recommendations line 2. SW-4004 (line 6)
# is referenced by nothing, so product checks are shown on it.
ROW_LEVEL = [
    # products
    pytest.param([(P, 6, "price_eur", "-24.50")], [(P, 6, "price_eur", "-24.50", "must be > 0")], id="negative-price"),
    pytest.param([(P, 6, "price_eur", "0")], [(P, 6, "price_eur", "0", "must be > 0")], id="zero-price"),
    pytest.param(
        [(P, 6, "price_eur", "24,50")], [(P, 6, "price_eur", "24,50", "not a number")], id="non-numeric-price"
    ),
    pytest.param(
        [(P, 6, "price_eur", "24.505")], [(P, 6, "price_eur", "24.505", "more than two decimals")], id="price-decimals"
    ),
    # (an unknown category or certification and a short description are findings now:
    # tests/test_contract_input.py)
    pytest.param(
        [(P, 6, "sale_end", "2025-02-28")],
        [(P, 6, "sale_end", "2025-02-28", "sale_end before sale_start")],
        id="sale-end-before-start",
    ),
    pytest.param(
        [(P, 6, "sale_start", "2025-02-30")], [(P, 6, "sale_start", "2025-02-30", "not a date")], id="bad-date"
    ),
    pytest.param(
        [(P, 6, "product_id", "SW-\x0712")],
        [(P, 6, "product_id", "SW-\x0712", "contains a control character")],
        id="product-id-with-control-character",
    ),
    pytest.param(
        [(P, 6, "product_id", "SW-４００４")],
        [(P, 6, "product_id", "SW-４００４", "contains non-ASCII digits")],
        id="product-id-with-full-width-digits",
    ),
    pytest.param([(P, 6, "name", "")], [(P, 6, "name", "", "required value is empty")], id="empty-name"),
    pytest.param(
        [(P, 2, "price_eur", "-1")],
        [
            (R, 2, "season", "SS24", "product version (product_id, season) is quarantined"),
            (P, 2, "price_eur", "-1", "must be > 0"),
            (T, 2, "season", "SS24", "product version (product_id, season) is quarantined"),
            (T, 3, "season", "SS24", "product version (product_id, season) is quarantined"),
            (T, 7, "return_of", "T0000002", "return_of refers to a quarantined purchase"),
            (T, 7, "season", "SS24", "product version (product_id, season) is quarantined"),
        ],
        id="quarantined-product-cascades",
    ),
    pytest.param(
        [(P, 3, "price_eur", "abc")],
        [
            (R, 3, "season", "SS24", "product version (product_id, season) is quarantined"),
            (R, 6, "season", "SS24", "product version (product_id, season) is quarantined"),
            (P, 3, "price_eur", "abc", "not a number"),
            (T, 4, "product_id", "SW-20002", "product_id refers to a quarantined product"),
            (T, 5, "season", "SS24", "product version (product_id, season) is quarantined"),
            (T, 6, "product_id", "SW-20002", "product_id refers to a quarantined product"),
            (T, 11, "product_id", "SW-20002", "product_id refers to a quarantined product"),
            (T, 11, "return_of", "T0000005", "return_of refers to a quarantined purchase"),
        ],
        id="quarantined-product-cascades-to-seasonless-rows",
    ),
    # customers
    pytest.param(
        [(C, 5, "signup_date", "")],
        [
            (C, 5, "signup_date", "", "required value is empty"),
            (R, 5, "customer_id", "C0000004", "customer_id refers to a quarantined customer"),
            (T, 9, "customer_id", "C0000004", "customer_id refers to a quarantined customer"),
            (T, 10, "customer_id", "C0000004", "customer_id refers to a quarantined customer"),
        ],
        id="empty-signup-date-cascades",
    ),
    # transactions
    pytest.param(
        [(T, 9, "event_type", "view")],
        [(T, 9, "event_type", "view", "unknown value (allowed: browse, wishlist, purchase, return)")],
        id="unknown-event-type",
    ),
    pytest.param(
        [(T, 9, "event_time", "20.09.2024 18:00")],
        [(T, 9, "event_time", "20.09.2024 18:00", "not a timestamp")],
        id="bad-timestamp",
    ),
    pytest.param(
        [(T, 9, "event_time", "2024-03-31T02:30:00")],
        [(T, 9, "event_time", "2024-03-31T02:30:00", "time does not exist in Europe/Berlin (DST gap)")],
        id="dst-gap-timestamp",
    ),
    pytest.param([(T, 8, "quantity", "0")], [(T, 8, "quantity", "0", "must be >= 1")], id="quantity-0"),
    pytest.param([(T, 8, "quantity", "1.5")], [(T, 8, "quantity", "1.5", "not an integer")], id="quantity-fraction"),
    pytest.param(
        [(T, 9, "quantity", "2")], [(T, 9, "quantity", "2", "must be 1 for browse and wishlist")], id="browse-quantity"
    ),
    pytest.param(
        [(T, 9, "unit_price_eur", "-1.00")],
        [(T, 9, "unit_price_eur", "-1.00", "must be >= 0")],
        id="negative-unit-price",
    ),
    pytest.param(
        [(T, 9, "customer_id", "C99999")],
        [(T, 9, "customer_id", "C99999", "unknown customer_id")],
        id="unknown-customer",
    ),
    pytest.param(
        [(T, 9, "product_id", "SW-9999")],
        [(T, 9, "product_id", "SW-9999", "unknown product_id")],
        id="unknown-product-id",
    ),
    pytest.param(
        [(T, 9, "season", "SS24")],
        [(T, 9, "season", "SS24", "unknown product version (product_id, season)")],
        id="unknown-product-version",
    ),
    pytest.param(
        [(T, 7, "return_of", "T0000099")],
        [(T, 7, "return_of", "T0000099", "return_of refers to no purchase")],
        id="orphan-return",
    ),
    pytest.param(
        [(T, 7, "return_of", "T0000001")],
        [(T, 7, "return_of", "T0000001", "return_of refers to no purchase")],
        id="return-of-a-browse",
    ),
    pytest.param(
        [(T, 7, "event_time", "2024-03-05T09:00:00")],
        [(T, 7, "return_of", "T0000002", "return before its purchase")],
        id="return-before-purchase",
    ),
    pytest.param(
        [(T, 7, "event_time", "2024-03-05T10:05:00")],
        [(T, 7, "return_of", "T0000002", "return at the same time as its purchase")],
        id="return-at-purchase-time",
    ),
    pytest.param(
        [(T, 11, "return_of", "T0000002")],
        [
            (T, 11, "return_of", "T0000002", "return_of refers to a purchase by another customer"),
            (T, 11, "return_of", "T0000002", "return_of refers to a purchase of another product"),
        ],
        id="return-of-someone-elses-purchase",
    ),
    pytest.param(
        [(T, 7, "return_of", "")], [(T, 7, "return_of", "", "return without return_of")], id="return-without-return-of"
    ),
    pytest.param(
        [(T, 3, "return_of", "T0000001")],
        [
            (T, 3, "return_of", "T0000001", "return_of given on a non-return event"),
            (T, 7, "return_of", "T0000002", "return_of refers to a quarantined purchase"),
        ],
        id="return-of-on-purchase-cascades",
    ),
    # recommendations
    pytest.param(
        [(R, 2, "clicked_at", "2024-03-04T08:00:00")],
        [(R, 2, "clicked_at", "2024-03-04T08:00:00", "clicked_at before served_at")],
        id="clicked-before-served",
    ),
    pytest.param(
        [(R, 2, "clicked_at", "2024-03-06T09:05:00")],
        [(R, 2, "clicked_at", "2024-03-06T09:05:00", "clicked_at more than 1 day after served_at")],
        id="click-outside-window",
    ),
    pytest.param(
        [(R, 2, "clicked_at", "")],
        [(R, 2, "click_status", "yes", "status 'yes' without timestamp")],
        id="status-yes-without-timestamp",
    ),
    pytest.param(
        [(R, 4, "click_status", "pending"), (R, 4, "clicked_at", "")],
        [(R, 4, "click_status", "pending", "status 'pending' after its window closed")],
        id="pending-after-window",
    ),
    pytest.param(
        [(R, 7, "click_status", "no")],
        [(R, 7, "click_status", "no", "status 'no' while its window is open")],
        id="no-while-window-open",
    ),
    pytest.param(
        [(R, 3, "return_status", "no")],
        [(R, 3, "return_status", "no", "return outcome (yes/no) without a purchase")],
        id="return-status-without-purchase",
    ),
    pytest.param(
        [(R, 3, "return_status", "pending")],
        [(R, 3, "return_status", "pending", "return_status 'pending' but purchase_status 'no'")],
        id="return-pending-without-purchase",
    ),
    pytest.param(
        [(R, 4, "return_status", "not_purchased")],
        [(R, 4, "return_status", "not_purchased", "return_status 'not_purchased' but purchase_status 'yes'")],
        id="not-purchased-but-purchased",
    ),
    pytest.param(
        [(R, 3, "clicked_at", "2024-03-06T11:30:00")],
        [(R, 3, "click_status", "no", "status other than 'yes' with a timestamp")],
        id="status-no-with-timestamp",
    ),
    pytest.param(
        [(R, 2, "purchased_at", "")],
        [
            (R, 2, "purchase_status", "yes", "status 'yes' without timestamp"),
            (R, 2, "returned_at", "2024-03-20T15:00:00", "returned_at without purchased_at"),
        ],
        id="returned-without-purchase",
    ),
    pytest.param(
        [(R, 4, "purchased_at", "2024-09-24T11:00:00")],
        [(R, 4, "purchased_at", "2024-09-24T11:00:00", "purchased_at more than 14 days after served_at")],
        id="purchase-outside-window",
    ),
    pytest.param(
        [(R, 7, "served_at", "2024-10-01T20:00:00")],
        [(R, 7, "served_at", "2024-10-01T20:00:00", "served_at after export_time")],
        id="served-after-export",
    ),
    pytest.param(
        [(R, 3, "customer_id", "C12345")],
        [(R, 3, "customer_id", "C12345", "unknown customer_id")],
        id="rec-unknown-customer",
    ),
    pytest.param(
        [(R, 3, "season", "AW24")],
        [(R, 3, "season", "AW24", "unknown product version (product_id, season)")],
        id="rec-unknown-product-version",
    ),
    pytest.param([(R, 3, "position", "11")], [(R, 3, "position", "11", "must be <= 10")], id="position-11"),
    pytest.param([(R, 3, "score", "1.5")], [(R, 3, "score", "1.5", "must be <= 1")], id="score-above-1"),
    pytest.param(
        [(R, 3, "click_status", "maybe")],
        [(R, 3, "click_status", "maybe", "unknown value (allowed: yes, no, pending)")],
        id="unknown-status",
    ),
    pytest.param(
        [(R, 6, "export_time", "2024-10-02T00:00:00")],
        [(R, 6, "export_time", "2024-10-02T00:00:00", "export_time differs from the rest of the file")],
        id="export-time-differs",
    ),
]


@pytest.mark.parametrize("edits, expected", ROW_LEVEL)
def test_row_level_problem_is_quarantined(folder, edits, expected):
    for file, line, column, value in edits:
        edit(folder, file, line, column, value)
    m = load(folder)
    assert [tuple(r) for r in m.quarantine.itertuples(index=False)] == expected
    for file in MATERIAL_FILES:
        bad = {row for f, row, *_ in expected if f == file}
        assert m.counts[file]["quarantined"] == len(bad)
        assert m.counts[file]["accepted"] == len(m.frame(file)) == m.counts[file]["read"] - len(bad)


def test_counts_invariant_with_several_bad_rows(folder):
    edit(folder, P, 6, "price_eur", "abc")
    edit(folder, P, 6, "name", "")  # two problems, one row
    edit(folder, C, 5, "signup_date", "")  # cascades to transactions 9-10, recommendations 5
    edit(folder, T, 2, "quantity", "0")
    edit(folder, T, 4, "event_time", "yesterday")
    edit(folder, R, 3, "score", "-0.1")
    edit(folder, R, 3, "position", "0")
    m = load(folder)
    q = m.quarantine
    for file in MATERIAL_FILES:
        c = m.counts[file]
        assert c["read"] == c["accepted"] + c["quarantined"]
        assert c["accepted"] == len(m.frame(file))
        assert c["quarantined"] == q.loc[q["file"] == file, "row"].nunique()
    assert m.counts[P] == {"read": 5, "accepted": 4, "quarantined": 1}
    assert m.counts[T] == {"read": 10, "accepted": 6, "quarantined": 4}
    assert m.counts[R] == {"read": 6, "accepted": 4, "quarantined": 2}
    assert len(q) == 10
    assert list(q.columns) == list(QUARANTINE_COLUMNS)
    assert q.equals(q.sort_values(["file", "row", "column", "reason"]).reset_index(drop=True))


def test_quarantine_report_and_csv(folder, tmp_path):
    edit(folder, T, 8, "quantity", "0")
    edit(folder, T, 9, "quantity", "0")
    edit(folder, R, 3, "position", "0")
    m = load(folder)
    summary = quarantine_report(m)
    assert summary.to_dict("records") == [
        {"file": R, "column": "position", "reason": "must be >= 1", "problems": 1, "first_row": 3},
        {"file": T, "column": "quantity", "reason": "must be >= 1", "problems": 2, "first_row": 8},
    ]
    first = write_quarantine(m, tmp_path / "out" / "quarantine.csv").read_bytes()
    second = write_quarantine(m, tmp_path / "again.csv").read_bytes()
    assert first == second
    assert first.decode() == (
        "file,row,column,value,reason\n"
        f"{R},3,position,0,must be >= 1\n"
        f"{T},8,quantity,0,must be >= 1\n"
        f"{T},9,quantity,0,must be >= 1\n"
    )


# --------------------------------------------------------------------------------------------
# The real (simulated) materials, when someone has generated them
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (REAL_MATERIALS / PRODUCTS_FILE).exists(), reason="materials/ not generated")
def test_real_materials_load_and_counts_add_up():
    started = time.perf_counter()
    m = load_materials(REAL_MATERIALS)
    seconds = time.perf_counter() - started
    for file in MATERIAL_FILES:
        c = m.counts[file]
        assert c["read"] == c["accepted"] + c["quarantined"], file
        assert c["accepted"] == len(m.frame(file)) > 0, file
    # The committed materials (simulator, seed 42) pass whole, with nothing to report.
    assert {f: c["accepted"] for f, c in m.counts.items()} == {P: 800, C: 2000, T: 15000, R: 3000}
    assert m.quarantine.empty and m.findings.empty and m.missing == {}
    print(f"load_materials: {seconds:.2f}s, counts {m.counts}")
    print(quarantine_report(m).to_string())
