"""The data contract's problems and findings (:mod:`stoffwechsel.data.contract`): pass 3, the
references between files and between transactions (a row that refers to a quarantined row is
quarantined too: the cascade); the findings on the rows kept; and the assembly of the result:
problem rows, the quarantine report's rows with each cell's text as in the file, the accepted
rows with their final dtypes, the counts per file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stoffwechsel.config import CUSTOMERS_FILE, PRODUCTS_FILE
from stoffwechsel.data.io import sort_frame
from stoffwechsel.data.schema import (
    ATTRIBUTE_ABSENT,
    ATTRIBUTE_BLANK,
    CERTIFICATIONS,
    CHARACTERS_PER_WORD_UNSPACED,
    CODE,
    DECIMAL,
    DECIMAL_ID,
    DESCRIPTION_EMPTY,
    DESCRIPTION_SHORT,
    EXAMPLE_CHARACTERS,
    FINDING_COLUMNS,
    ID,
    INTEGER,
    KNOWN_VALUES,
    LIST_ABSENT,
    MULTI,
    MULTI_SEPARATOR,
    NO_RECOMMENDATION_LOG,
    OUTSIDE_KNOWN,
    QUARANTINE_COLUMNS,
    QUARANTINED_CUSTOMER,
    QUARANTINED_PRODUCT,
    QUARANTINED_PURCHASE,
    QUARANTINED_VERSION,
    SEASON_CONVENTION,
    SEASON_UNCONVENTIONAL,
    SPECS,
    STRING_KINDS,
    TIMESTAMP_UNIT,
    UNKNOWN,
    UNKNOWN_CERTIFICATION,
    VOCAB,
    WITHHELD,
    ContractSettings,
    FileSpec,
)

# Description length in words (findings): scripts written without spaces and their punctuation.
_UNSPACED_SCRIPTS = (
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"  # Thai, Lao, Myanmar, Khmer
)
_CJK_PUNCTUATION = "[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"


# --------------------------------------------------------------------------------------------
# Pass 3: references between files and between transactions (pandas)
# --------------------------------------------------------------------------------------------


def _keys_in(frame: pd.DataFrame, columns: list[str], keys: pd.DataFrame) -> pd.Series:
    """Whether each row's ``columns`` occur as a row of ``keys`` (same column names)."""
    values, known = _joined(frame, columns), _joined(keys, columns).dropna().unique()
    # A hash lookup; Series.isin on Arrow-backed text loops over ``known`` in Python.
    return pd.Series(pd.Index(known).get_indexer(values) >= 0, index=frame.index)


def _joined(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text key per row from ``columns`` (NaN if a part is missing), for fast ``isin``."""
    key = frame[columns[0]].astype(str).where(frame[columns[0]].notna())
    for column in columns[1:]:
        key = key + "\x1f" + frame[column].where(frame[column].notna())
    return key


def reference_problems(
    child: pd.DataFrame, text: dict[str, pd.DataFrame], products: pd.DataFrame, customers: pd.DataFrame
) -> list[pd.DataFrame]:
    """Customer and product references of transactions or recommendations.

    A reference to a row that exists in the file (``text``: all rows, trimmed) but was
    quarantined is a problem too (with its own reason), so that the accepted frames join
    without loss.
    """
    customer = child["customer_id"].notna()
    product = child["product_id"].notna()
    season = child["season"].notna()
    all_products = text[PRODUCTS_FILE]
    known_id = _keys_in(child, ["product_id"], all_products)
    version = ["product_id", "season"]
    known_version = _keys_in(child, version, all_products)
    accepted_version = _keys_in(child, version, products)
    known_customer = _keys_in(child, ["customer_id"], text[CUSTOMERS_FILE])
    return [
        problems(customer & ~known_customer, "customer_id", "unknown customer_id"),
        problems(
            customer & known_customer & ~_keys_in(child, ["customer_id"], customers),
            "customer_id",
            QUARANTINED_CUSTOMER,
        ),
        problems(product & ~known_id, "product_id", "unknown product_id"),
        problems(
            product & known_id & ~season & ~_keys_in(child, ["product_id"], products),
            "product_id",
            QUARANTINED_PRODUCT,
        ),
        problems(
            product & known_id & season & ~known_version, "season", "unknown product version (product_id, season)"
        ),
        problems(
            product & season & known_version & ~accepted_version,
            "season",
            QUARANTINED_VERSION,
        ),
    ]


def return_problems(tx: pd.DataFrame, quarantined_rows: pd.Index) -> pd.DataFrame:
    """Each return must point (``return_of``) at an accepted purchase of the same customer and
    product version that happened earlier."""
    returns = tx[(tx["event_type"] == "return") & tx["return_of"].notna()]
    targets = tx[tx["event_id"].notna()].reset_index().set_index("event_id")
    linked = returns.join(targets.add_prefix("p_"), on="return_of")
    found = linked["p_event_type"].eq("purchase")
    both_seasons = linked["season"].notna() & linked["p_season"].notna()
    other_product = (linked["product_id"] != linked["p_product_id"]) | (
        both_seasons & (linked["season"] != linked["p_season"])
    )
    return pd.concat(
        [
            problems(~found, "return_of", "return_of refers to no purchase"),
            problems(
                found & linked["customer_id"].notna() & (linked["customer_id"] != linked["p_customer_id"]),
                "return_of",
                "return_of refers to a purchase by another customer",
            ),
            problems(found & other_product, "return_of", "return_of refers to a purchase of another product"),
            problems(
                found & (linked["event_time"] < linked["p_event_time"]), "return_of", "return before its purchase"
            ),
            problems(
                found & (linked["event_time"] == linked["p_event_time"]),
                "return_of",
                "return at the same time as its purchase",
            ),
            problems(
                found & linked["p_row"].isin(quarantined_rows),
                "return_of",
                QUARANTINED_PURCHASE,
            ),
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------------------------
# Findings: rows kept with something worth knowing
# --------------------------------------------------------------------------------------------


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "rows" else "str") for c in FINDING_COLUMNS})


def description_words(s: pd.Series) -> pd.Series:
    """Length of each text in words, any script: runs of non-space, where characters of scripts
    written without spaces (Chinese, Japanese, Thai, ...) count
    :data:`CHARACTERS_PER_WORD_UNSPACED` to a word and their punctuation not at all."""
    s = s.fillna("").str.replace(_CJK_PUNCTUATION, " ", regex=True)
    unspaced = s.str.count(_UNSPACED_SCRIPTS)
    words = s.str.replace(_UNSPACED_SCRIPTS, " ", regex=True).str.count(r"\S+")
    return words + unspaced / CHARACTERS_PER_WORD_UNSPACED


def findings(
    kept: dict[str, pd.DataFrame],
    missing: dict[str, str],
    settings: ContractSettings,
    attributes: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per (file, column, finding) over the accepted rows: how many rows, one example
    (the most frequent value, ties by first occurrence; a customer id is withheld).
    ``attributes``: per file, attribute column -> mask of blank rows (None: column absent)."""
    found: list[tuple[str, str, str, pd.Series]] = []  # file, column, finding, values of the rows
    absent: list[tuple[str, str, str]] = []  # file, column, finding: about a whole column
    for name, frame in kept.items():
        for column, blank in (attributes or {}).get(name, {}).items():
            is_list = SPECS[name].columns[column][0] == MULTI
            if blank is None:
                absent.append((name, column, LIST_ABSENT if is_list else ATTRIBUTE_ABSENT))
            elif not is_list:  # a blank list is "none", as always
                rows = blank.reindex(frame.index, fill_value=False).to_numpy(dtype=bool)
                found.append((name, column, ATTRIBUTE_BLANK, frame.loc[rows, column]))
        for column, (kind, _) in SPECS[name].columns.items():
            s = frame[column]
            if kind == ID:
                found.append((name, column, DECIMAL_ID, s[s.str.fullmatch(r"[0-9]+\.[0-9]+").fillna(False)]))
            elif kind == CODE:
                found.append(
                    (
                        name,
                        column,
                        SEASON_UNCONVENTIONAL,
                        s[s.notna() & ~s.str.fullmatch(SEASON_CONVENTION).fillna(False)],
                    )
                )
            elif kind == VOCAB:
                outside = (
                    s.notna() & ~s.isin(KNOWN_VALUES[column]) & ~((s == UNKNOWN) & (column in SPECS[name].attributes))
                )
                found.append((name, column, OUTSIDE_KNOWN, s[outside]))
            elif column == "certifications":
                tokens = s[s.fillna("") != ""].str.split(MULTI_SEPARATOR).explode().str.strip()
                unknown = tokens[~tokens.isin(CERTIFICATIONS)]
                found.append((name, column, UNKNOWN_CERTIFICATION, unknown.groupby(level=0).first()))
            elif column == "description":
                text = s.fillna("")
                empty = text == ""
                short = ~empty & (description_words(text) < settings.description_min_words)
                found.append((name, column, DESCRIPTION_EMPTY, text[empty]))
                found.append((name, column, DESCRIPTION_SHORT.format(n=settings.description_min_words), text[short]))
    customer_ids = pd.Index(kept[CUSTOMERS_FILE]["customer_id"].dropna().unique())
    rows = []
    for name, column, finding, values in found:
        if len(values):
            counts = values.groupby(values, sort=False).size()
            example = str(counts.idxmax())
            if example in customer_ids:
                example = WITHHELD
            elif len(example) > EXAMPLE_CHARACTERS:
                example = example[: EXAMPLE_CHARACTERS - 1] + "…"
            rows.append((name, column, finding, len(values), example))
    for name, why in missing.items():
        rows.append((name, "", NO_RECOMMENDATION_LOG.format(why=why), 0, ""))
    for name, column, finding in absent:
        if name not in missing:
            rows.append((name, column, finding, len(kept[name]), ""))
    if not rows:
        return empty_findings()
    out = pd.DataFrame(rows, columns=list(FINDING_COLUMNS)).astype({"rows": "int64"})
    for c in ("file", "column", "finding", "example"):
        out[c] = out[c].astype("str")
    return sort_frame(out, ("file", "column", "finding"))


# --------------------------------------------------------------------------------------------
# Assembling the result
# --------------------------------------------------------------------------------------------


def problems(mask: pd.Series, column: str, reason: str) -> pd.DataFrame:
    """Problem rows (row, column, reason) for the lines where ``mask`` is True."""
    rows = mask.index.to_numpy()[mask.to_numpy(dtype=bool, na_value=False)]
    # Text stays object here (cheap); render gives the report its final dtypes.
    return pd.DataFrame(
        {
            "row": rows.astype("int64"),
            "column": np.full(len(rows), column, dtype=object),
            "reason": np.full(len(rows), reason, dtype=object),
        }
    )


def problem_rows(found: list[pd.DataFrame]) -> pd.Index:
    return pd.Index(pd.concat(found, ignore_index=True)["row"].unique())


def render(found: pd.DataFrame, raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """Quarantine rows of one file: add the file name and the cell's text as in the file."""
    found = found.drop_duplicates(ignore_index=True)
    value = pd.Series("", index=found.index, dtype=str)
    for column in found["column"].unique():
        at = found["column"] == column
        value[at] = raw[column].reindex(found.loc[at, "row"]).to_numpy()
    return pd.DataFrame(
        {"file": name, "row": found["row"], "column": found["column"], "value": value, "reason": found["reason"]},
        columns=list(QUARANTINE_COLUMNS),
    ).astype({"file": str, "row": "int64", "column": str, "value": str, "reason": str})


def finish(accepted: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Accepted rows with their final dtypes and a fresh index: integers ``int64``, decimals
    ``float64``, dates and timestamps ``datetime64[us]``, text ``str`` with ``""`` for an empty
    cell (NaN only stood in for it during the checks). Also right for a frame without rows."""
    frame = accepted.copy()
    for column, (kind, _) in spec.columns.items():
        if kind in STRING_KINDS:
            frame[column] = frame[column].fillna("").astype("str")
        elif kind == INTEGER:
            frame[column] = frame[column].astype("int64")
        elif kind == DECIMAL:
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype(TIMESTAMP_UNIT)
    return frame.reset_index(drop=True)


def count(name: str, read: int, accepted: int, quarantined: int) -> dict[str, int]:
    """Row counts of one file; every row read is either accepted or quarantined."""
    if read != accepted + quarantined:  # pragma: no cover - would be a bug in this module
        raise RuntimeError(f"{name}: {read} rows read but {accepted} accepted + {quarantined} quarantined")
    return {"read": read, "accepted": accepted, "quarantined": quarantined}
