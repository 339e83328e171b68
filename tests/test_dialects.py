"""Real exports as shops save them (issue 24): file dialects, optional attributes that are blank
or absent, and quarantine cascades counted apart.

The committed materials rewritten the way a German spreadsheet saves CSV (semicolons, decimal
commas, Windows-1252, CRLF) and as tab-separated UTF-8 with a byte-order mark read into the same
typed rows; the pipeline test compares the resolve and features stages' output md5s with the
committed ``dvc.lock``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_working_tree, run
from dialect_materials import DIALECTS, rewrite
from stoffwechsel.config import CUSTOMERS_FILE as C
from stoffwechsel.config import MATERIAL_FILES
from stoffwechsel.config import PRODUCTS_FILE as P
from stoffwechsel.config import RECOMMENDATIONS_FILE as R
from stoffwechsel.config import TRANSACTIONS_FILE as T
from stoffwechsel.data import dialect
from stoffwechsel.data.contract import QuarantineLimitError, load_materials
from stoffwechsel.data.schema import (
    ATTRIBUTE_ABSENT,
    ATTRIBUTE_BLANK,
    SPECS,
    THOUSANDS_SEPARATOR,
    UNKNOWN,
    ContractError,
)

MATERIALS = ROOT / "materials"
VALID = ROOT / "tests" / "fixtures" / "valid"
FRAMES = ("products", "customers", "transactions", "recommendations")


@pytest.fixture(scope="module")
def committed():
    return load_materials(MATERIALS)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_committed_materials_in_another_dialect_read_into_the_same_rows(name, committed, tmp_path):
    m = load_materials(rewrite(MATERIALS, tmp_path / name, name))
    for frame in FRAMES:
        pd.testing.assert_frame_equal(getattr(m, frame), getattr(committed, frame))
    assert m.counts == committed.counts and m.quarantine.empty and m.findings.equals(committed.findings)
    delimiter, decimal, codec, line_end = DIALECTS[name]
    for file in MATERIAL_FILES:
        found = m.dialects[file]
        assert (found.delimiter, found.line_ends) == (delimiter, "CRLF" if line_end == "\r\n" else "LF")
        assert found.decimal == (None if file == C else decimal)
    # customers.csv holds München and Köln: the only file whose bytes differ between the encodings
    assert m.dialects[C].encoding == {"cp1252": "windows-1252", "utf-8-sig": "utf-8-sig"}[codec]


def test_validate_prints_the_dialect_of_each_file(tmp_path):
    folder = rewrite(MATERIALS, tmp_path / "de", "german-spreadsheet")
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "validate", str(folder)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert f"  {C}: semicolon-separated, Windows-1252, CRLF line ends" in proc.stdout.splitlines()
    assert f"  {T}: semicolon-separated, decimal comma, UTF-8, CRLF line ends" in proc.stdout.splitlines()
    assert f"{T}: 15000 read, 15000 accepted, 0 quarantined" in proc.stdout


def test_windows_1252_only_when_plausible():
    text = "Grüße aus Köln: „Fußball“ – 49,90 €\n"
    assert dialect.decode(text.encode("cp1252")) == (text, "windows-1252")
    assert dialect.decode(text.encode("utf-8")) == (text, "utf-8")
    assert dialect.decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8-sig")
    # a UTF-8 file with one broken byte stays an error naming the byte and line
    broken = text.encode("utf-8") + b"line two \xfc\n"
    with pytest.raises(dialect.DialectError, match=r"not valid UTF-8: byte 0xFC at offset \d+ \(line 2\)"):
        dialect.decode(broken)
    # Latin-1 decodes anything: bytes that are no text are not read as Windows-1252
    for noise in (b"id,name\n1,\xa4\xa6\xac\n", b"id,name\n1,\xe9\n", b"id,name\n1,\x81\n"):
        with pytest.raises(dialect.DialectError, match=r"not read as Windows-1252 either"):
            dialect.decode(noise)


def test_the_delimiter_comes_from_the_header_line():
    expected = set(SPECS[P].columns)
    assert dialect.detect_delimiter("product_id;season;name;description", expected) == ";"
    assert dialect.detect_delimiter("product_id\tseason\tname", expected) == "\t"
    assert dialect.detect_delimiter('product_id,season,"name;x"', expected) == ","


def test_a_header_that_matches_nothing_names_the_dialect_and_the_header(tmp_path):
    for file in MATERIAL_FILES:
        (tmp_path / file).write_bytes((VALID / file).read_bytes())
    (tmp_path / P).write_text("Artikel;Saison;Bezeichnung\nA;B;C\n", encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_materials(tmp_path)
    message = str(info.value)
    assert message.startswith(
        "products.csv: no expected column in the header, read as semicolon-separated, decimal point, UTF-8, "
        "LF line ends: 'Artikel;Saison;Bezeichnung'"
    ), message
    assert "price_eur" not in message


def test_params_fix_the_dialect_and_thousands_separators_are_refused(tmp_path):
    for file in MATERIAL_FILES:
        (tmp_path / file).write_bytes((VALID / file).read_bytes())
    path = tmp_path / P
    lines = path.read_text(encoding="utf-8").split("\n")
    # a comma-separated file with quoted decimal commas: detection keeps the point, params fix it
    prices = [next(csv.reader([line]))[5] for line in lines[1:] if line]
    assert any("." in p for p in prices)
    path.write_text("\n".join([lines[0]] + [_quote_price(line) for line in lines[1:] if line]) + "\n", encoding="utf-8")
    with pytest.raises(QuarantineLimitError) as info:
        load_materials(tmp_path, max_quarantine_share=1.0)
    assert info.value.materials.dialects[P].decimal == "." and "price_eur: not a number (5)" in str(info.value)
    fixed = load_materials(tmp_path, dialects={P: {"decimal": ","}})
    assert fixed.quarantine.empty and fixed.dialects[P].describe().startswith("comma-separated, decimal comma (set)")
    assert fixed.products["price_eur"].tolist() == [float(p) for p in prices]
    # a thousands separator is refused with its own reason
    text = path.read_text(encoding="utf-8")
    first = prices[0].replace(".", ",")
    path.write_text(text.replace(f'"{first}"', '"1.234,50"', 1), encoding="utf-8")
    m = load_materials(tmp_path, dialects={P: {"decimal": ","}}, max_quarantine_share=1.0)
    own = m.quarantine[m.quarantine["file"] == P]
    assert own[["column", "value", "reason"]].values.tolist() == [["price_eur", "1.234,50", THOUSANDS_SEPARATOR]]
    with pytest.raises(ValueError, match=r"materials.dialects.products.csv.delimiter: '\|' is not one of"):
        load_materials(tmp_path, dialects={P: {"delimiter": "|"}})


def _quote_price(line: str) -> str:
    """Line of the valid products fixture with its price written ``"24,50"``."""
    cells = next(csv.reader([line]))
    cells[5] = cells[5].replace(".", ",")
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


# --- optional attributes ----------------------------------------------------------------------


def _attribute_blanks(source: Path, dest: Path, share: float, seed: int = 24) -> dict[str, int]:
    """Copy ``source`` into ``dest`` with blanks in every attribute column of about ``share`` of
    the rows (each column its own rows); returns the blanked rows per file:column."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    blanked = {}
    for file in MATERIAL_FILES:
        frame = pd.read_csv(source / file, dtype=str, keep_default_na=False)
        for column in SPECS[file].attributes:
            rows = rng.random(len(frame)) < share
            blanked[f"{file}:{column}"] = int((rows & (frame[column] != "")).sum())
            frame.loc[rows, column] = ""
        frame.to_csv(dest / file, index=False, lineterminator="\n")
    return blanked


def test_blank_attributes_quarantine_nothing(committed, tmp_path):
    blanked = _attribute_blanks(MATERIALS, tmp_path / "blank", share=0.035)
    m = load_materials(tmp_path / "blank")  # the default share limit
    assert m.quarantine.empty
    assert m.counts == committed.counts
    found = m.findings.set_index(["file", "column", "finding"])["rows"]
    for key, n in blanked.items():
        file, column = key.split(":")
        if SPECS[file].columns[column][0] == "multi":  # a blank list is "none", as it always was
            continue
        assert n > 0 and found[(file, column, ATTRIBUTE_BLANK)] == n, key
        assert (m.frame(file)[column] == UNKNOWN).sum() == n
    # every other column is read as before
    same = [c for c in committed.customers.columns if c not in SPECS[C].attributes]
    pd.testing.assert_frame_equal(m.customers[same], committed.customers[same])


def test_an_absent_attribute_column_is_a_finding_and_every_row_unknown(tmp_path):
    for file in MATERIAL_FILES:
        (tmp_path / file).write_bytes((VALID / file).read_bytes())
    frame = pd.read_csv(tmp_path / C, dtype=str, keep_default_na=False)
    frame.drop(columns=["age_band", "loyalty_tier"]).to_csv(tmp_path / C, index=False, lineterminator="\n")
    frame = pd.read_csv(tmp_path / P, dtype=str, keep_default_na=False)
    frame.drop(columns=["tags"]).to_csv(tmp_path / P, index=False, lineterminator="\n")
    m = load_materials(tmp_path)
    assert m.quarantine.empty
    assert (m.customers["age_band"] == UNKNOWN).all() and (m.customers["loyalty_tier"] == UNKNOWN).all()
    assert (m.products["tags"] == "").all()
    rows = m.findings[m.findings["finding"].str.startswith("attribute column absent")]
    assert rows[["file", "column", "rows"]].values.tolist() == [
        [C, "age_band", len(m.customers)],
        [C, "loyalty_tier", len(m.customers)],
        [P, "tags", len(m.products)],
    ]
    assert rows["finding"].iloc[0] == ATTRIBUTE_ABSENT


# --- cascades ---------------------------------------------------------------------------------


def test_cascaded_rows_are_counted_apart_and_the_stop_rule_uses_the_total(committed, tmp_path):
    """Five customers with a broken signup date (0.25% of customers, under the limit) take their
    transactions and recommendations with them: counted as the cascade, and the stop rule
    applies to own problems and cascade together."""
    tx = committed.transactions
    busiest = tx["customer_id"].value_counts().sort_index().sort_values(ascending=False, kind="stable").index[:5]
    for file in MATERIAL_FILES:
        (tmp_path / file).write_bytes((MATERIALS / file).read_bytes())
    frame = pd.read_csv(tmp_path / C, dtype=str, keep_default_na=False)
    frame.loc[frame["customer_id"].isin(busiest), "signup_date"] = "someday"
    frame.to_csv(tmp_path / C, index=False, lineterminator="\n")
    m = load_materials(tmp_path, max_quarantine_share=1.0)
    lost = int(tx["customer_id"].isin(busiest).sum())
    assert m.counts[C]["quarantined"] == 5 and m.cascaded[C] == 0
    assert m.counts[T]["quarantined"] == m.cascaded[T] == lost
    assert m.counts[R]["quarantined"] == m.cascaded[R] > 0
    share = lost / m.counts[T]["read"]
    assert share > 5 / m.counts[C]["read"]
    with pytest.raises(ContractError, match=r"^transactions.csv: .* quarantined .*customer_id refers to a quarantined"):
        load_materials(tmp_path, max_quarantine_share=share - 0.001)  # the cascade counts to the limit
    proc = subprocess.run(
        [sys.executable, "-m", "stoffwechsel", "validate", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    line = f"{T}: 15000 read, {15000 - lost} accepted, {lost} quarantined (0 with a problem of their own, {lost} only"
    assert line in proc.stdout, proc.stdout


# --- the runner -------------------------------------------------------------------------------


def test_the_runner_does_not_interrupt_a_kernel_it_shuts_down(monkeypatch):
    """jupyter_client sends SIGINT before every shutdown: the kernel then logs
    ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` into a successful stage's log."""
    from jupyter_client.manager import AsyncKernelManager

    from stoffwechsel import notebooks

    sent = []

    async def interrupt(self):
        sent.append(self.shutting_down)

    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", interrupt)
    km = notebooks.kernel_manager_class()()
    km.shutting_down = True
    asyncio.run(km._async_interrupt_kernel())
    km.shutting_down = False
    asyncio.run(km._async_interrupt_kernel())
    assert sent == [False]


# --- the pipeline -----------------------------------------------------------------------------


@pytest.mark.pipeline
def test_resolve_and_features_give_the_committed_md5s_in_every_dialect(tmp_path):
    """Same content in another dialect: the resolved data and the feature store have the md5s
    of the committed dvc.lock; and no stage's log holds a traceback or a kernel error line."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    wanted = {o["path"]: o["md5"] for stage in ("resolve", "features") for o in lock[stage]["outs"]}
    clone = copy_working_tree(tmp_path / "clone")
    params = clone / "params.yaml"
    original = params.read_text(encoding="utf-8")
    for name in sorted(DIALECTS):
        rewrite(clone / "materials", clone / name, name)
        params.write_text(original.replace("materials_dir: materials ", f"materials_dir: {name} "), encoding="utf-8")
        proc = run(["dvc", "repro", "features"], clone)
        log = proc.stdout + proc.stderr
        assert "Traceback" not in log and "[IPKernelApp] ERROR" not in log and "KeyboardInterrupt" not in log, log
        got = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))["stages"]
        md5 = {o["path"]: o["md5"] for stage in ("resolve", "features") for o in got[stage]["outs"]}
        assert md5["data/resolved"] == wanted["data/resolved"], name
        assert md5["data/feature_store"] == wanted["data/feature_store"], name
