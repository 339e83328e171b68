"""Import of a shop's invoice-line export into our four material files.

Many shops can export one thing: every invoice line (invoice number, stock code, short name,
quantity, time, unit price, customer, country), with cancellations as negative lines. This
module turns such an export into ``products.csv``, ``customers.csv``, ``transactions.csv`` and a
header-only ``production-recommendations-sample.csv`` (such a shop has no recommendation log),
plus ``import-report.json`` (counts per outcome and the rules applied) and
``import-quarantine.csv`` (every line left out, with its source line number and reason).

What differs between shops (column names, codes of non-product lines, currency, category
words) is an :class:`ImportProfile`, a small mapping: a built-in one by name
(:data:`PROFILES`, e.g. ``online-retail``) or a YAML file with the same keys. Another shop's
export is a new profile, not new code. ``docs/import.md`` documents every rule.

Every source line ends in exactly one outcome: an imported purchase, an imported return, or one
quarantine reason (the first rule of :data:`RULES` that applies), so ``rows read == purchases +
returns + quarantined``. Output is deterministic: same source and profile, same bytes.

Why one module of over 600 lines: one import with its profile, rules and report; each rule is
a short function, and the report counts every rule's outcome in one table.
"""

from __future__ import annotations

import csv
import io
import lzma
import re
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from stoffwechsel import domain
from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE, RECOMMENDATIONS_FILE, TRANSACTIONS_FILE
from stoffwechsel.data.schema import SPECS
from stoffwechsel.data.io import sha256_file, write_csv, write_json

__all__ = [
    "ImportProfile",
    "InvoiceImportError",
    "PROFILES",
    "RULES",
    "REPORT_FILE",
    "QUARANTINE_FILE",
    "QUARANTINE_COLUMNS",
    "load_profile",
    "import_invoice_export",
    "season_of",
    "normalise_customer_id",
    "normalise_stock_code",
]

REPORT_FILE = "import-report.json"
QUARANTINE_FILE = "import-quarantine.csv"
QUARANTINE_COLUMNS = ("file", "row", "column", "value", "reason")

#: The roles an export's columns play; a profile maps each to the source's column name.
ROLES = ("invoice", "stock_code", "description", "quantity", "invoice_time", "unit_price", "customer_id", "country")

#: Value written for customer attributes an invoice export does not hold (the contract's too).
UNKNOWN = domain.UNKNOWN

#: The outcome of a source line: rule id -> (role whose cell is reported, reason). The first rule
#: that applies wins (dict order), so each line is counted once. ``purchase`` and ``return`` are
#: the imported outcomes.
RULES: dict[str, tuple[str, str]] = {
    "wrong_field_count": ("invoice", "line has another number of fields than the header"),
    "empty_invoice": ("invoice", "empty invoice number"),
    "empty_stock_code": ("stock_code", "empty stock code"),
    "bad_quantity": ("quantity", "quantity is not a whole number"),
    "bad_unit_price": ("unit_price", "unit price is not a number"),
    "bad_invoice_time": ("invoice_time", "invoice time not in the profile's time format"),
    "non_product": ("stock_code", "non-product line (postage, fee, manual entry, discount, voucher or sample)"),
    "stock_adjustment": (
        "quantity",
        "stock adjustment (negative quantity outside a cancellation, or price 0 with a note instead of a product name)",
    ),
    "no_customer": ("customer_id", "no customer id"),
    "zero_quantity": ("quantity", "quantity 0"),
    "cancellation_not_negative": ("quantity", "cancellation with a positive quantity"),
    "price_not_positive": ("unit_price", "purchase with a unit price not above 0 (in EUR, rounded to cents)"),
    "unmatched_cancellation": (
        "invoice",
        "cancellation without an earlier purchase of the same customer and stock code of at least its quantity",
    ),
}
IMPORTED = ("purchase", "return")

_CENT = Decimal("0.01")


class InvoiceImportError(Exception):
    """A problem with the source or the profile as a whole; ``str(e)`` is one line naming it."""


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProfile:
    """What one shop's export looks like (see ``docs/import.md`` for each key)."""

    name: str
    columns: dict[str, str]
    time_format: str
    cancellation_prefix: str
    non_product_codes: tuple[str, ...]
    non_product_patterns: tuple[str, ...]
    adjustment_note_pattern: str
    currency: str
    rate_to_eur: str
    rate_note: str
    channel: str
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    default_category: str = "other"
    encoding: str = "utf-8"

    @classmethod
    def from_mapping(cls, name: str, mapping: Mapping[str, Any]) -> ImportProfile:
        """A profile from a mapping with this class's keys (as in a YAML profile file)."""
        known = {f for f in cls.__dataclass_fields__ if f != "name"}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise InvoiceImportError(
                f"profile {name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        values = dict(mapping)
        missing = [role for role in ROLES if role not in (values.get("columns") or {})]
        if missing:
            raise InvoiceImportError(f"profile {name}: columns lacks the role(s) {', '.join(missing)}")
        try:
            Decimal(str(values.get("rate_to_eur")))
        except InvalidOperation:
            raise InvoiceImportError(
                f"profile {name}: rate_to_eur {values.get('rate_to_eur')!r} is not a number"
            ) from None
        values["rate_to_eur"] = str(values["rate_to_eur"])
        values["columns"] = {role: str(values["columns"][role]) for role in ROLES}
        values["non_product_codes"] = tuple(str(c).strip().upper() for c in values.get("non_product_codes", ()))
        values["non_product_patterns"] = tuple(values.get("non_product_patterns", ()))
        try:
            values["categories"] = tuple(
                (str(c["category"]), tuple(str(w).upper() for w in c["keywords"]))
                for c in values.get("categories") or ()
            )
        except (KeyError, TypeError):
            raise InvoiceImportError(
                f"profile {name}: categories must be a list of {{category, keywords}} entries"
            ) from None
        try:
            return cls(name=name, **values)
        except TypeError as exc:
            raise InvoiceImportError(f"profile {name}: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["non_product_codes"] = list(self.non_product_codes)
        out["non_product_patterns"] = list(self.non_product_patterns)
        out["categories"] = [{"category": c, "keywords": list(words)} for c, words in self.categories]
        return out


#: Built-in profiles by name. The values are exactly what a YAML profile file would hold.
PROFILES: dict[str, dict[str, Any]] = {
    "online-retail": {
        # The UCI "Online Retail" export (a UK online giftware shop, https://doi.org/10.24432/C5BW33).
        "columns": {
            "invoice": "InvoiceNo",
            "stock_code": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "invoice_time": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer_id": "CustomerID",
            "country": "Country",
        },
        "time_format": "%Y-%m-%d %H:%M:%S",
        "cancellation_prefix": "C",
        # Postage, manual entries, discounts, dotcom postage, bank charges, Amazon fees, charity
        # commission, carriage, cushion pads, bad-debt adjustments, samples.
        "non_product_codes": ["POST", "M", "D", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "C2", "PADS", "B", "S"],
        # Gift vouchers (gift_0001_10 = a 10 GBP voucher).
        "non_product_patterns": ["GIFT_\\d+_\\d+"],
        # On price-0 lines: a note ("damaged", "check", "wet?") instead of an upper-case name.
        "adjustment_note_pattern": "^$|[a-z?]",
        "currency": "GBP",
        "rate_to_eur": "1.17",
        "rate_note": "assumption: about the ECB reference rate of late 2011 (1 GBP = 1.17 EUR), one rate for the "
        "whole export; not a measured conversion of each day",
        "channel": "web",
        # First match wins (whole words of the upper-cased name); else default_category.
        "categories": [
            {
                "category": "christmas",
                "keywords": ["CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "NATIVITY", "BAUBLE"],
            },
            {
                "category": "jewellery",
                "keywords": ["NECKLACE", "EARRINGS", "BRACELET", "RING", "BEAD", "CHARM", "DIAMANTE", "BROOCH", "HAIR"],
            },
            {"category": "bags", "keywords": ["BAG", "BAGS", "PURSE", "TOTE", "HANDBAG", "SHOPPER"]},
            {
                "category": "candles and lights",
                "keywords": ["CANDLE", "CANDLES", "T-LIGHT", "T-LIGHTS", "LANTERN", "LIGHT", "LIGHTS", "TEALIGHT"],
            },
            {
                "category": "kitchen",
                "keywords": [
                    "MUG",
                    "MUGS",
                    "CUP",
                    "CUPS",
                    "PLATE",
                    "PLATES",
                    "BOWL",
                    "JAR",
                    "TEA",
                    "TEAPOT",
                    "CAKE",
                    "BAKING",
                    "CUTLERY",
                    "LUNCH",
                    "BOTTLE",
                    "APRON",
                    "NAPKINS",
                    "KITCHEN",
                    "PANTRY",
                    "COFFEE",
                    "JAM",
                    "TRAY",
                    "SPOON",
                    "JUG",
                    "EGG",
                ],
            },
            {
                "category": "stationery",
                "keywords": [
                    "CARD",
                    "CARDS",
                    "PAPER",
                    "WRAP",
                    "PENCIL",
                    "PENCILS",
                    "PEN",
                    "NOTEBOOK",
                    "STICKERS",
                    "RIBBON",
                    "RIBBONS",
                    "TAPE",
                    "ENVELOPE",
                    "BOOK",
                    "CALENDAR",
                    "TISSUES",
                ],
            },
            {
                "category": "toys and party",
                "keywords": [
                    "TOY",
                    "TOYS",
                    "GAME",
                    "PARTY",
                    "BALLOON",
                    "BALLOONS",
                    "DOLLY",
                    "DOLL",
                    "JIGSAW",
                    "BUNTING",
                    "SPACEBOY",
                    "PLAYING",
                    "CHILDRENS",
                    "CRAYONS",
                    "SKIPPING",
                ],
            },
            {
                "category": "home decor",
                "keywords": [
                    "FRAME",
                    "CLOCK",
                    "CUSHION",
                    "MIRROR",
                    "SIGN",
                    "DOORMAT",
                    "DECORATION",
                    "GARLAND",
                    "HOOK",
                    "DRAWER",
                    "KNOB",
                    "VASE",
                    "ORNAMENT",
                    "WREATH",
                    "TILE",
                    "STORAGE",
                    "HOLDER",
                    "WALL",
                ],
            },
        ],
        "default_category": "other",
        "encoding": "utf-8",
    },
}


def load_profile(name_or_path: str | Path) -> ImportProfile:
    """A built-in profile by name (:data:`PROFILES`) or a YAML profile file."""
    key = str(name_or_path)
    if key in PROFILES:
        return ImportProfile.from_mapping(key, PROFILES[key])
    path = Path(key)
    if not path.is_file():
        raise InvoiceImportError(f"profile {key}: neither a built-in profile ({', '.join(PROFILES)}) nor a file")
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvoiceImportError(f"profile {path}: not readable YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(mapping, dict):
        raise InvoiceImportError(f"profile {path}: expected a mapping of keys to values")
    return ImportProfile.from_mapping(path.stem, mapping)


# --------------------------------------------------------------------------------------------
# Normalisation rules (docs/import.md)
# --------------------------------------------------------------------------------------------


def normalise_stock_code(code: str) -> str:
    """Trimmed and upper-cased: ``15056bl`` and ``15056BL`` are one product."""
    return code.strip().upper()


_FLOAT_INTEGER = re.compile(r"(\d+)\.0+")


def normalise_customer_id(value: str) -> str:
    """Trimmed; a whole number written as a float (``17385.0``) loses its ``.0``; otherwise as is."""
    value = value.strip()
    m = _FLOAT_INTEGER.fullmatch(value)
    return m.group(1) if m else value


def season_of(day: pd.Timestamp) -> str:
    """``SS`` + year for March-August, ``AW`` + the autumn's year for September-February
    (2011-12-01 and 2012-01-15 are both ``AW11``)."""
    if 3 <= day.month <= 8:
        return f"SS{day.year % 100:02d}"
    autumn = day.year if day.month >= 9 else day.year - 1
    return f"AW{autumn % 100:02d}"


def _product_name(description: str, fallback: str) -> str:
    """Title case word by word (``DOLLY GIRL'S BAG`` -> ``Dolly Girl's Bag``); the stock code if empty."""
    return string.capwords(description) if description else fallback


def _category(description: str, profile: ImportProfile) -> str:
    words = description.upper()
    for category, keywords in profile.categories:
        for keyword in keywords:
            if re.search(rf"(?<![A-Z0-9]){re.escape(keyword)}(?![A-Z0-9])", words):
                return category
    return profile.default_category


# --------------------------------------------------------------------------------------------
# Reading the source
# --------------------------------------------------------------------------------------------


def _open_text(src: Path, encoding: str) -> io.TextIOBase:
    if src.suffix == ".xz":
        return lzma.open(src, "rt", encoding=encoding, newline="")
    return open(src, encoding=encoding, newline="")


def _read_source(src: Path, profile: ImportProfile) -> tuple[pd.DataFrame, list[str]]:
    """All source rows as text, plus ``line`` (the line the row starts on; header = 1) and
    ``fields`` (the row's number of fields). Raises :class:`InvoiceImportError` for a missing or
    unreadable file or a missing column."""
    if not src.is_file():
        raise InvoiceImportError(f"{src}: no such file")
    try:
        with _open_text(src, profile.encoding) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InvoiceImportError(f"{src}: empty file (no header row)")
            header = [h.strip() for h in header]
            rows, lines, widths = [], [], []
            previous = reader.line_num
            for row in reader:
                lines.append(previous + 1)
                previous = reader.line_num
                widths.append(len(row))
                rows.append((row + [""] * len(header))[: len(header)])
    except (UnicodeDecodeError, lzma.LZMAError, csv.Error, EOFError) as exc:
        raise InvoiceImportError(
            f"{src}: not readable as {profile.encoding} CSV ({' '.join(str(exc).split())})"
        ) from None
    missing = [f"{profile.columns[role]} ({role})" for role in ROLES if profile.columns[role] not in header]
    if missing:
        raise InvoiceImportError(
            f"{src}: missing column(s) {', '.join(missing)} that profile {profile.name} "
            f"expects (header: {', '.join(header)})"
        )
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame[[profile.columns[role] for role in ROLES]].set_axis(list(ROLES), axis=1)
    frame["line"] = lines
    frame["fields"] = widths
    return frame, header


# --------------------------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------------------------


def _to_cents(price: str, rate: Decimal) -> int | None:
    try:
        value = Decimal(price.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int((value * rate).quantize(_CENT, rounding=ROUND_HALF_UP) / _CENT)


def _classify(src: pd.DataFrame, n_fields: int, profile: ImportProfile) -> pd.DataFrame:
    """Normalised columns and each line's first applicable rule (``outcome``; NaN = not decided)."""
    d = src.copy()
    d["invoice_no"] = d["invoice"].str.strip()
    d["code"] = d["stock_code"].map(normalise_stock_code)
    d["name_text"] = d["description"].map(lambda s: " ".join(s.split()))
    d["customer"] = d["customer_id"].map(normalise_customer_id)
    qty_text = d["quantity"].str.strip()
    qty_ok = qty_text.str.fullmatch(r"[+-]?\d+")
    d["qty"] = pd.to_numeric(qty_text.where(qty_ok), errors="coerce")
    rate = Decimal(profile.rate_to_eur)
    d["cents"] = pd.Series([_to_cents(p, rate) for p in d["unit_price"]], index=d.index, dtype="Int64")
    d["time"] = pd.to_datetime(d["invoice_time"].str.strip(), format=profile.time_format, errors="coerce").dt.floor(
        "min"
    )
    prefix = profile.cancellation_prefix
    d["cancel"] = d["invoice_no"].str.startswith(prefix) if prefix else pd.Series(False, index=d.index)
    non_product = d["code"].isin(profile.non_product_codes)
    for pattern in profile.non_product_patterns:
        non_product |= d["code"].str.fullmatch(pattern)
    note = d["name_text"].str.contains(profile.adjustment_note_pattern, regex=True)
    checks = {
        "wrong_field_count": d["fields"] != n_fields,
        "empty_invoice": d["invoice_no"] == "",
        "empty_stock_code": d["code"] == "",
        "bad_quantity": d["qty"].isna(),
        "bad_unit_price": d["cents"].isna(),
        "bad_invoice_time": d["time"].isna(),
        "non_product": non_product,
        "stock_adjustment": ~d["cancel"] & ((d["qty"] < 0) | ((d["cents"] == 0) & note)),
        "no_customer": d["customer"] == "",
        "zero_quantity": d["qty"] == 0,
        "cancellation_not_negative": d["cancel"] & (d["qty"] > 0),
        "price_not_positive": ~d["cancel"] & (d["cents"] <= 0),
    }
    outcome = pd.Series(pd.NA, index=d.index, dtype=object)
    for rule, hit in checks.items():
        outcome = outcome.mask(outcome.isna() & hit.fillna(False).astype(bool), rule)
    undecided = outcome.isna()
    outcome = outcome.mask(undecided & ~d["cancel"], "purchase")
    d["outcome"] = outcome
    return d


def _match_returns(d: pd.DataFrame) -> pd.DataFrame:
    """Cancellations -> returns of the latest earlier purchase line of the same customer and
    stock code whose not-yet-returned quantity covers the cancelled quantity; else unmatched."""
    d = d.copy()
    d["purchase_row"] = pd.Series(pd.NA, index=d.index, dtype="Int64")
    purchases = d[d["outcome"] == "purchase"].sort_values(["time", "line"], kind="mergesort")
    open_qty: dict[tuple[str, str], list[list]] = {}
    for idx, row in zip(purchases.index, purchases[["customer", "code", "time", "qty"]].itertuples(index=False)):
        open_qty.setdefault((row.customer, row.code), []).append([row.time, int(row.qty), idx])
    cancels = d[d["outcome"].isna() & d["cancel"]].sort_values(["time", "line"], kind="mergesort")
    for idx, row in zip(cancels.index, cancels[["customer", "code", "time", "qty"]].itertuples(index=False)):
        wanted = -int(row.qty)
        chosen = None
        for candidate in open_qty.get((row.customer, row.code), ()):
            if candidate[0] >= row.time:  # strictly earlier (minutes, as written)
                break
            if candidate[1] >= wanted:
                chosen = candidate  # keep the latest that fits
        if chosen is None:
            d.at[idx, "outcome"] = "unmatched_cancellation"
        else:
            chosen[1] -= wanted
            d.at[idx, "outcome"] = "return"
            d.at[idx, "purchase_row"] = chosen[2]
    return d


def import_invoice_export(
    src: str | Path, out_dir: str | Path, profile: ImportProfile | str = "online-retail"
) -> dict[str, Any]:
    """Import the export ``src`` (``.csv`` or ``.csv.xz``) into ``out_dir``; returns the report
    (also written to ``out_dir/import-report.json``). Raises :class:`InvoiceImportError`."""
    src, out_dir = Path(src), Path(out_dir)
    if not isinstance(profile, ImportProfile):
        profile = load_profile(profile)
    raw, header = _read_source(src, profile)
    d = _match_returns(_classify(raw, len(header), profile))
    d["line_in_invoice"] = d.groupby("invoice_no", sort=False).cumcount() + 1
    d["event_id"] = d["invoice_no"] + "-" + d["line_in_invoice"].astype(str)
    d["season"] = d["time"].map(lambda t: season_of(t) if pd.notna(t) else "")

    imported = d[d["outcome"].isin(IMPORTED)].copy()
    purchases = imported[imported["outcome"] == "purchase"]
    # A return is a return of its purchase's product version.
    returns = imported["outcome"] == "return"
    target = imported.loc[returns, "purchase_row"].astype(int).tolist()
    imported.loc[returns, "season"] = d.loc[target, "season"].to_numpy()
    imported["return_of"] = ""
    imported.loc[returns, "return_of"] = d.loc[target, "event_id"].to_numpy()

    tables = {
        PRODUCTS_FILE: _products(purchases, profile),
        CUSTOMERS_FILE: _customers(imported, profile),
        TRANSACTIONS_FILE: _transactions(imported, profile),
        RECOMMENDATIONS_FILE: pd.DataFrame(columns=list(SPECS[RECOMMENDATIONS_FILE].columns), dtype=object),
    }
    sort_keys = {
        PRODUCTS_FILE: ["product_id", "season"],
        CUSTOMERS_FILE: ["customer_id"],
        TRANSACTIONS_FILE: ["event_time", "event_id"],
        RECOMMENDATIONS_FILE: ["rec_id"],
    }
    for name, table in tables.items():
        write_csv(table[list(SPECS[name].columns)], out_dir / name, sort_by=sort_keys[name])

    quarantine = _quarantine(d, src.name, profile)
    write_csv(quarantine, out_dir / QUARANTINE_FILE, sort_by=["file", "row", "column"])
    report = _report(d, src, profile, {name: len(t) for name, t in tables.items()})
    write_json(report, out_dir / REPORT_FILE)
    return report


def _products(purchases: pd.DataFrame, profile: ImportProfile) -> pd.DataFrame:
    """One row per product version (stock code, season) sold in the export."""
    rows = []
    for (code, season), g in purchases.groupby(["code", "season"], sort=True):
        names = g.loc[g["name_text"] != "", "name_text"]
        description = ""
        if not names.empty:
            counts = names.value_counts()
            description = sorted(counts[counts == counts.max()].index)[0]
        rows.append(
            {
                "product_id": code,
                "season": season,
                "name": _product_name(description, code),
                "description": description,
                "category": _category(description, profile),
                "price_eur": _median_price(g["cents"]),
                "certifications": "",
                "tags": "",
                "sale_start": g["time"].min().strftime("%Y-%m-%d"),
                "sale_end": g["time"].max().strftime("%Y-%m-%d"),
            }
        )
    return pd.DataFrame(rows, columns=list(SPECS[PRODUCTS_FILE].columns), dtype=object)


def _median_price(cents: pd.Series) -> str:
    """The median unit price in EUR, rounded half up to cents (of two middle values: their mean)."""
    values = sorted(int(c) for c in cents)
    mid = len(values) // 2
    median = Decimal(values[mid]) if len(values) % 2 else (Decimal(values[mid - 1]) + Decimal(values[mid])) / 2
    return f"{(median * _CENT).quantize(_CENT, rounding=ROUND_HALF_UP):.2f}"


def _customers(imported: pd.DataFrame, profile: ImportProfile) -> pd.DataFrame:
    """One row per customer with an imported event: signup = first event day, region = the
    country of the first event, the attributes an invoice export lacks ``unknown``."""
    first = imported.sort_values(["time", "line"], kind="mergesort").drop_duplicates("customer")
    return pd.DataFrame(
        {
            "customer_id": first["customer"].to_numpy(),
            "signup_date": first["time"].dt.strftime("%Y-%m-%d").to_numpy(),
            "age_band": UNKNOWN,
            "region": first["country"].str.strip().replace("", UNKNOWN).to_numpy(),
            "preferred_channel": profile.channel,
            "loyalty_tier": UNKNOWN,
            "sustainability_interest": UNKNOWN,
            "segment": UNKNOWN,
        },
        dtype=object,
    )


def _transactions(imported: pd.DataFrame, profile: ImportProfile) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": imported["event_id"].to_numpy(),
            "customer_id": imported["customer"].to_numpy(),
            "product_id": imported["code"].to_numpy(),
            "season": imported["season"].to_numpy(),
            "event_type": imported["outcome"].to_numpy(),
            "event_time": imported["time"].dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
            "quantity": imported["qty"].abs().astype(int).astype(str).to_numpy(),
            "unit_price_eur": [f"{(Decimal(abs(int(c))) * _CENT):.2f}" for c in imported["cents"]],
            "channel": profile.channel,
            "return_of": imported["return_of"].to_numpy(),
        },
        dtype=object,
    )


def _quarantine(d: pd.DataFrame, file: str, profile: ImportProfile) -> pd.DataFrame:
    q = d[~d["outcome"].isin(IMPORTED)]
    roles = q["outcome"].map(lambda rule: RULES[rule][0])
    values = pd.Series("", index=q.index, dtype=object)
    for role in roles.unique():
        values[roles == role] = q.loc[roles == role, role]  # the source cell as read
    return pd.DataFrame(
        {
            "file": file,
            "row": q["line"].to_numpy(),
            "column": roles.map(profile.columns).to_numpy(),
            "value": values.to_numpy(),
            "reason": q["outcome"].map(lambda rule: RULES[rule][1]).to_numpy(),
        },
        columns=list(QUARANTINE_COLUMNS),
    )


def _report(d: pd.DataFrame, src: Path, profile: ImportProfile, outputs: dict[str, int]) -> dict[str, Any]:
    counts = d["outcome"].value_counts()
    quarantined = {rule: {"reason": reason, "rows": int(counts.get(rule, 0))} for rule, (_, reason) in RULES.items()}
    cancel = d["cancel"]
    return {
        "source": {"file": src.name, "sha256": sha256_file(src), "rows_read": int(len(d))},
        "profile": profile.as_dict(),
        "outcomes": {
            "purchase": int(counts.get("purchase", 0)),
            "return": int(counts.get("return", 0)),
            "quarantined": int(sum(v["rows"] for v in quarantined.values())),
        },
        "quarantined_by_rule": quarantined,
        "cancellations": {
            "read": int(cancel.sum()),
            "matched_as_returns": int((cancel & (d["outcome"] == "return")).sum()),
            "unmatched": int((d["outcome"] == "unmatched_cancellation").sum()),
            "quarantined_by_other_rules": int(
                (cancel & ~d["outcome"].isin(["return", "unmatched_cancellation"])).sum()
            ),
        },
        "rules": [
            "each line gets the first quarantine rule that applies (quarantined_by_rule, in order), else it is "
            "a purchase, or a cancellation that becomes a return if matched",
            "stock codes trimmed and upper-cased (15056bl = 15056BL); customer ids trimmed, 17385.0 -> 17385",
            f"cancellation = invoice number starting with {profile.cancellation_prefix!r}; matched to the latest "
            "earlier (strictly, in minutes) purchase line of the same customer and stock code whose not yet "
            "returned quantity covers it; return_of = that line's event_id, quantity made positive",
            f"prices: {profile.currency} x {profile.rate_to_eur} = EUR, rounded half up to cents ({profile.rate_note})",
            "event_id = <invoice>-<line number within the invoice, in file order, counting every line>",
            "season from the sale date: SS<yy> March-August, AW<yy> September-February named by the autumn's year",
            "product version = (stock code, season): name = description in title case, description = the most "
            "frequent trimmed short name, category by keyword, price = median unit price in EUR, "
            "sale_start/sale_end = first/last sale day",
            f"customers: signup_date = first imported event day, region = country of that event, preferred_channel "
            f"= {profile.channel!r}, age_band, loyalty_tier, sustainability_interest, segment = {UNKNOWN!r}",
            "recommendations file header-only: the export holds no recommendation log",
        ],
        "outputs": outputs,
    }
