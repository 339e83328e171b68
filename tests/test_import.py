"""Import of a real invoice export (tests/fixtures/online-retail, the UCI "Online Retail" slice)
into our four files: counts that add up, returns matched to earlier purchases, quarantine with
reasons, ids as text, deterministic bytes, resolvable references, one-line CLI errors."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from stoffwechsel.cli import app
from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE, TRANSACTIONS_FILE
from stoffwechsel.data.invoice_import import (
    PROFILES,
    QUARANTINE_COLUMNS,
    QUARANTINE_FILE,
    REPORT_FILE,
    RULES,
    InvoiceImportError,
    import_invoice_export,
    load_profile,
    normalise_customer_id,
    normalise_stock_code,
    season_of,
)
from stoffwechsel.data.schema import SPECS

FIXTURE = Path(__file__).parent / "fixtures" / "online-retail" / "online-retail-2011-11-25_2011-12-09.csv.xz"
OUR_FILES = (PRODUCTS_FILE, CUSTOMERS_FILE, TRANSACTIONS_FILE, RECOMMENDATIONS_FILE)
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("import")
    report = import_invoice_export(FIXTURE, out, "online-retail")
    return out, report


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
    frame["line"] = range(2, len(frame) + 2)  # no quoted line breaks in this export
    return frame


@pytest.fixture(scope="module")
def tables(imported) -> dict[str, pd.DataFrame]:
    out, _ = imported
    return {name: _read(out, name) for name in (*OUR_FILES, QUARANTINE_FILE)}


# ---------------------------------------------------------------------------- counts


def test_counts_add_up(imported, tables, source):
    out, report = imported
    assert report == json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    outcomes = report["outcomes"]
    assert report["source"]["rows_read"] == len(source) == 41909
    assert outcomes["purchase"] + outcomes["return"] + outcomes["quarantined"] == len(source)
    by_rule = report["quarantined_by_rule"]
    assert list(by_rule) == list(RULES)
    assert sum(r["rows"] for r in by_rule.values()) == outcomes["quarantined"]
    q = tables[QUARANTINE_FILE]
    assert len(q) == outcomes["quarantined"] and q.row.is_unique
    assert q.reason.value_counts().to_dict() == {r["reason"]: r["rows"] for r in by_rule.values() if r["rows"]}
    tx = tables[TRANSACTIONS_FILE]
    assert tx.event_type.value_counts().to_dict() == {"purchase": outcomes["purchase"], "return": outcomes["return"]}
    assert report["outputs"] == {name: len(tables[name]) for name in OUR_FILES}
    assert by_rule["no_customer"]["rows"] > 10000 and by_rule["non_product"]["rows"] > 100


def test_cancellations_are_matched_returns_or_counted(imported, tables, source):
    _, report = imported
    c = report["cancellations"]
    assert c["read"] == source.InvoiceNo.str.startswith("C").sum() == 515
    assert c["matched_as_returns"] + c["unmatched"] + c["quarantined_by_other_rules"] == c["read"]
    assert c["matched_as_returns"] == report["outcomes"]["return"] > 0
    assert c["unmatched"] == report["quarantined_by_rule"]["unmatched_cancellation"]["rows"] > 0
    q = tables[QUARANTINE_FILE]
    unmatched = q[q.reason == RULES["unmatched_cancellation"][1]]
    assert (unmatched.column == "InvoiceNo").all() and unmatched.value.str.startswith("C").all()
    # the 80,995-unit order and its cancellation 12 minutes later
    tx = tables[TRANSACTIONS_FILE].set_index("event_id")
    assert tx.loc["C581484-1", ["event_type", "quantity", "return_of"]].tolist() == ["return", "80995", "581483-1"]


def test_returns_point_at_earlier_purchases_of_the_same_customer_and_version(tables):
    tx = tables[TRANSACTIONS_FILE]
    returns = tx[tx.event_type == "return"]
    assert (tx.return_of[tx.event_type == "purchase"] == "").all()
    assert returns.event_id.str.startswith("C").all()
    linked = returns.merge(tx, left_on="return_of", right_on="event_id", suffixes=("", "_p"), validate="m:1")
    assert len(linked) == len(returns)
    assert (linked.event_type_p == "purchase").all()
    assert (linked.customer_id == linked.customer_id_p).all()
    assert (linked.product_id == linked.product_id_p).all() and (linked.season == linked.season_p).all()
    assert (linked.event_time > linked.event_time_p).all()
    assert (returns.quantity.astype(int) > 0).all()
    returned = linked.groupby("return_of").quantity.apply(lambda s: s.astype(int).sum())
    bought = tx.set_index("event_id").quantity.astype(int)
    assert (returned <= bought[returned.index]).all()


def _cli(args: list[str]):
    return CliRunner().invoke(app, args)


def _write_export(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_return_matching_rules(tmp_path):
    """Latest earlier purchase line with enough open quantity; same minute is not earlier."""
    src = _write_export(
        tmp_path / "export.csv",
        [
            "100,22000,MUG,5,2011-12-01 10:00:00,1.00,1.0,United Kingdom",
            "101,22000,MUG,2,2011-12-02 10:00:00,1.00,1.0,United Kingdom",
            "C102,22000,MUG,-2,2011-12-03 10:00:00,1.00,1.0,United Kingdom",  # -> 101-1 (latest)
            "C103,22000,MUG,-4,2011-12-03 11:00:00,1.00,1.0,United Kingdom",  # -> 100-1 (101 used up)
            "C104,22000,MUG,-2,2011-12-03 12:00:00,1.00,1.0,United Kingdom",  # 1 left: unmatched
            "105,22001,CUP,1,2011-12-04 10:00:00,1.00,2.0,France",
            "C105,22001,CUP,-1,2011-12-04 10:00:00,1.00,2.0,France",  # same minute: unmatched
            "C106,22001,CUP,-1,2011-12-04 10:01:00,1.00,3.0,France",  # other customer: unmatched
        ],
    )
    report = import_invoice_export(src, tmp_path / "out")
    tx = _read(tmp_path / "out", TRANSACTIONS_FILE).set_index("event_id")
    assert tx.loc["C102-1", "return_of"] == "101-1" and tx.loc["C103-1", "return_of"] == "100-1"
    assert report["cancellations"] == {
        "read": 5,
        "matched_as_returns": 2,
        "unmatched": 3,
        "quarantined_by_other_rules": 0,
    }
    q = _read(tmp_path / "out", QUARANTINE_FILE)
    assert q.row.tolist() == ["6", "8", "9"] and set(q.reason) == {RULES["unmatched_cancellation"][1]}


def test_non_product_adjustment_and_no_customer_lines_are_quarantined_with_reasons(tables, source):
    q = tables[QUARANTINE_FILE].set_index("row")
    assert list(tables[QUARANTINE_FILE].columns) == list(QUARANTINE_COLUMNS)
    src = source.set_index(source.line.astype(str))
    codes = src.StockCode.str.strip().str.upper()
    non_product = codes.isin(PROFILES["online-retail"]["non_product_codes"]) | codes.str.fullmatch(r"GIFT_\d+_\d+")
    assert non_product.sum() > 100
    assert (q.loc[non_product[non_product].index, "reason"] == RULES["non_product"][1]).all()
    assert set(q.loc[non_product[non_product].index, "value"]) >= {
        "POST",
        "DOT",
        "M",
        "C2",
        "AMAZONFEE",
        "CRUK",
        "BANK CHARGES",
        "D",
        "gift_0001_10",
    }
    no_customer = (src.CustomerID == "") & ~non_product
    adjustment = q.reason == RULES["stock_adjustment"][1]
    assert (
        q.loc[no_customer[no_customer].index, "reason"].isin([RULES["no_customer"][1], RULES["stock_adjustment"][1]])
    ).all()
    assert q.loc["147", ["column", "value", "reason"]].tolist() == ["Quantity", "-9", RULES["stock_adjustment"][1]]
    assert src.loc["147", "Description"] == "damaged"
    assert adjustment.sum() > 50
    # price 0 with a product name and a customer: a purchase without a price
    assert q.loc["2124", ["column", "value", "reason"]].tolist() == ["UnitPrice", "0.0", RULES["price_not_positive"][1]]
    tx = tables[TRANSACTIONS_FILE]
    assert not tx.product_id.isin(PROFILES["online-retail"]["non_product_codes"]).any()
    assert (tx.customer_id != "").all() and (tx.unit_price_eur[tx.event_type == "purchase"].astype(float) > 0).all()


# ---------------------------------------------------------------------------- shape


def test_ids_are_text_and_normalised_by_the_documented_rules(tables, source):
    tx, customers, products = tables[TRANSACTIONS_FILE], tables[CUSTOMERS_FILE], tables[PRODUCTS_FILE]
    assert "17385" in set(customers.customer_id) and not customers.customer_id.str.contains(r"\.").any()
    assert (products.product_id == products.product_id.str.strip().str.upper()).all()
    assert "15056BL" in set(products.product_id) and "85123A" in set(products.product_id)
    assert source.StockCode.eq("15056bl").any()
    # event ids: <invoice>-<line within invoice>, unique
    assert tx.event_id.is_unique and tx.event_id.str.fullmatch(r"C?\d+-\d+").all()
    assert normalise_customer_id(" 17385.0 ") == "17385" and normalise_customer_id("A-17.5") == "A-17.5"
    assert normalise_stock_code(" 15056bl ") == "15056BL"


def test_files_have_our_columns_and_formats(tables):
    for name in OUR_FILES:
        assert list(tables[name].columns) == list(SPECS[name].columns), name
    assert tables[RECOMMENDATIONS_FILE].empty
    p, c, tx = tables[PRODUCTS_FILE], tables[CUSTOMERS_FILE], tables[TRANSACTIONS_FILE]
    assert not p.duplicated(["product_id", "season"]).any() and c.customer_id.is_unique
    assert set(p.season) == {"AW11"} and set(tx.season) == {"AW11"}
    assert p.price_eur.str.fullmatch(r"\d+\.\d\d").all() and (p.price_eur.astype(float) > 0).all()
    assert (p.sale_end >= p.sale_start).all() and p.sale_start.str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert (p.name != "").all() and (p.description == p.description.str.strip()).all()
    named = p[p.description != ""]
    assert (named.name.str.upper() == named.description.str.upper()).all()
    assert p.loc[p.product_id == "23843", "name"].tolist() == ["Paper Craft , Little Birdie"]
    assert {"christmas", "kitchen", "other"} <= set(p.category)
    assert (c[["age_band", "loyalty_tier", "sustainability_interest", "segment"]] == "unknown").all().all()
    assert set(c.preferred_channel) == {"web"} and {"United Kingdom", "France", "EIRE"} <= set(c.region)
    assert tx.event_time.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d").all()
    assert tx.unit_price_eur.str.fullmatch(r"\d+\.\d\d").all() and set(tx.channel) == {"web"}
    assert list(tx.sort_values(["event_time", "event_id"]).index) == list(tx.index)


def test_references_resolve(tables):
    p, c, tx = tables[PRODUCTS_FILE], tables[CUSTOMERS_FILE], tables[TRANSACTIONS_FILE]
    assert tx.customer_id.isin(c.customer_id).all()
    versions = set(zip(p.product_id, p.season))
    assert all(v in versions for v in zip(tx.product_id, tx.season))
    first = tx.groupby("customer_id").event_time.min().str[:10]
    assert (c.set_index("customer_id").signup_date == first[c.customer_id].to_numpy()).all()
    # every product version was bought; sale window = first and last purchase day
    bought = tx[tx.event_type == "purchase"].groupby(["product_id", "season"]).event_time
    window = p.set_index(["product_id", "season"])
    assert (window.sale_start == bought.min().str[:10][window.index]).all()
    assert (window.sale_end == bought.max().str[:10][window.index]).all()


def test_price_is_the_median_unit_price_in_eur(tables, source):
    rate = float(PROFILES["online-retail"]["rate_to_eur"])
    sold = source[(source.StockCode == "85123A") & (source.CustomerID != "") & ~source.InvoiceNo.str.startswith("C")]
    expected = sold.UnitPrice.astype(float).mul(rate).round(2).median()
    p = tables[PRODUCTS_FILE].set_index("product_id")
    assert p.loc["85123A", "price_eur"] == f"{expected:.2f}"


def test_rules_for_seasons():
    assert season_of(pd.Timestamp("2011-12-01")) == "AW11" and season_of(pd.Timestamp("2012-02-29")) == "AW11"
    assert season_of(pd.Timestamp("2012-03-01")) == "SS12" and season_of(pd.Timestamp("2012-09-01")) == "AW12"
    assert season_of(pd.Timestamp("2000-01-01")) == "AW99"


# ---------------------------------------------------------------------------- determinism, CLI, profiles


def test_cli_second_run_gives_identical_bytes(imported, tmp_path):
    out, _ = imported
    result = _cli(["import-export", str(FIXTURE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "41909 lines read: 28590 purchases, 116 returns, 13203 quarantined" in result.output
    for name in (*OUR_FILES, QUARANTINE_FILE, REPORT_FILE):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_cli_missing_file_is_one_line(tmp_path):
    result = _cli(["import-export", str(tmp_path / "nope.csv.xz"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.csv.xz'}: no such file"]
    assert not (tmp_path / "out").exists()


def test_cli_missing_source_column_is_one_line(tmp_path):
    src = _write_export(
        tmp_path / "export.csv",
        ["100,22000,MUG,5,2011-12-01 10:00:00,1.00,United Kingdom"],
        header="InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,Country",
    )
    result = _cli(["import-export", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing column(s) CustomerID (customer_id)" in lines[0] and str(src) in lines[0]


def test_another_shops_columns_are_a_new_profile_not_new_code(tmp_path):
    """The fixture's first 3,000 lines under other column names, imported with a YAML profile,
    give the same files as the built-in profile on the original columns."""
    with lzma.open(FIXTURE, "rt", encoding="utf-8", newline="") as fh:
        lines = [next(fh) for _ in range(3001)]
    original = tmp_path / "original.csv"
    original.write_text("".join(lines), encoding="utf-8")
    renamed = {
        "InvoiceNo": "order",
        "StockCode": "sku",
        "Description": "title",
        "Quantity": "qty",
        "InvoiceDate": "ordered_at",
        "UnitPrice": "price",
        "CustomerID": "client",
        "Country": "land",
    }
    other = tmp_path / "other-shop.csv"
    other.write_text(",".join(renamed[c] for c in HEADER.split(",")) + "\n" + "".join(lines[1:]), encoding="utf-8")
    profile = dict(
        PROFILES["online-retail"],
        columns={role: renamed[col] for role, col in PROFILES["online-retail"]["columns"].items()},
    )
    (tmp_path / "other-shop.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    import_invoice_export(original, tmp_path / "a", "online-retail")
    result = _cli(
        ["import-export", str(other), "--out", str(tmp_path / "b"), "--profile", str(tmp_path / "other-shop.yaml")]
    )
    assert result.exit_code == 0, result.output
    for name in OUR_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_profiles_are_one_line_errors(tmp_path):
    with pytest.raises(InvoiceImportError, match="neither a built-in profile"):
        load_profile("no-such-shop")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(dict(PROFILES["online-retail"], colour="blue")), encoding="utf-8")
    with pytest.raises(InvoiceImportError, match="unknown key"):
        load_profile(bad)
