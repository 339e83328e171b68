"""The data contract's definition (``docs/materials.md``, ``docs/data-contract.md``): its constants
(the shop's vocabulary, cell kinds, text shapes, reason and finding texts), the four files' specs
(:data:`SPECS`), its settings (:class:`ContractSettings`: params.yaml's ``materials`` section) and
:class:`ContractError`, the file-level problem. The loader that applies them:
:mod:`stoffwechsel.data.contract`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from stoffwechsel import config, domain
from stoffwechsel.config import (
    CUSTOMERS_FILE,
    MATERIAL_FILES,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data import dialect

__all__ = [
    "ContractError",
    "ContractSettings",
    "FileSpec",
    "SPECS",
    "QUARANTINE_COLUMNS",
    "FINDING_COLUMNS",
    "CASCADE_REASONS",
]

# --------------------------------------------------------------------------------------------
# The contract's constants (docs/materials.md), in one place.
# --------------------------------------------------------------------------------------------

# The shop's vocabulary (known values, closed sets, attribution windows): stoffwechsel.domain.
KNOWN_VALUES = domain.KNOWN_VALUES
CATEGORIES = domain.CATEGORIES
CERTIFICATIONS = domain.CERTIFICATIONS
SEGMENTS = domain.SEGMENTS
EVENT_TYPES = domain.EVENT_TYPES
SINGLE_UNIT_EVENTS = domain.SINGLE_UNIT_EVENTS
OUTCOME_STATUSES = domain.OUTCOME_STATUSES
RETURN_STATUSES = domain.RETURN_STATUSES
OUTCOMES = domain.OUTCOMES

SEASON_CONVENTION = domain.SEASON_CODE  # a finding when not followed, never a quarantine
POSITION_RANGE = (1, 10)
SCORE_RANGE = (0, 1)
#: A description shorter than ``materials.description_min_words`` words is a finding. Scripts
#: written without spaces (Chinese, Japanese, Thai, ...) count this many characters as one word.
CHARACTERS_PER_WORD_UNSPACED = 1.5
EXAMPLE_CHARACTERS = 80  # longer example values in findings are cut

TIMEZONE = "Europe/Berlin"
TIMESTAMP_UNIT = "datetime64[us]"
MULTI_SEPARATOR = "|"
ENCODING = "utf-8"  # of the text handed to the CSV readers (files: stoffwechsel.data.dialect)
UNKNOWN = domain.UNKNOWN  # a blank attribute cell, or every cell of an absent attribute column
PARAMS_SECTION = "materials"
#: The one file that may be absent or header-only ("no recommendation log").
OPTIONAL_FILES = (RECOMMENDATIONS_FILE,)

# Cell kinds.
ID = "id"  # identifiers: any text; no control character, no non-ASCII digit
CODE = "code"  # season: like an id
VOCAB = "vocabulary"  # open vocabulary: any text; outside KNOWN_VALUES = a finding
CLOSED = "closed"  # closed set, checked by the schema
TEXT = "text"  # free text (name, description, model_version)
MULTI = "multi"  # '|'-separated free list (certifications, tags)
DATE, TIMESTAMP, DECIMAL, INTEGER = "date", "timestamp", "decimal", "integer"
STRING_KINDS = (ID, CODE, VOCAB, CLOSED, TEXT, MULTI)

# Text shapes (ASCII digits only: Python's \d would accept any script's digits).
YMD = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
CANONICAL_TIMESTAMP = YMD + r"T[0-9]{2}:[0-9]{2}:[0-9]{2}"
TIMESTAMP_PATTERN = (
    rf"^(?P<d>{YMD})(?:[T ](?P<h>[0-9]{{2}}):(?P<m>[0-9]{{2}})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)? ?(?P<z>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
DATE_PATTERN = rf"^(?P<d>{YMD})(?:[T ]00:00(?::00(?:[.,]0{{1,9}})?)?)?$"
DECIMAL_SHAPE = dialect.DECIMAL_SHAPES["."]
INTEGER_SHAPE = r"-?[0-9]+"
INT64_DIGITS = {False: "9223372036854775807", True: "9223372036854775808"}  # by sign (negative?)

QUARANTINE_COLUMNS = ("file", "row", "column", "value", "reason")
QUARANTINE_SORT = ("file", "row", "column", "reason")
FINDING_COLUMNS = ("file", "column", "finding", "rows", "example")

# Reasons (stable texts: the offending value is in the report's ``value`` column).
EMPTY = "required value is empty"
CONTROL_CHARACTER = "contains a control character"
NON_ASCII_DIGITS = "contains non-ASCII digits"
NOT_A_NUMBER = "not a number"
NOT_AN_INTEGER = "not an integer"
OUTSIDE_INT64 = "integer outside the 64-bit range"
NOT_FINITE = "number too large (not finite)"
NOT_A_DATE = "not a date"
NOT_A_TIMESTAMP = "not a timestamp"
DST_GAP = f"time does not exist in {TIMEZONE} (DST gap)"
UNKNOWN_VALUE = "unknown value (allowed: {allowed})"
THOUSANDS_SEPARATOR = "number with a thousands separator (write it without)"
#: Reasons that quarantine a row only because a row it refers to was quarantined: the cascade,
#: counted apart from the rows with a problem of their own (``Materials.cascaded``).
QUARANTINED_CUSTOMER = "customer_id refers to a quarantined customer"
QUARANTINED_PRODUCT = "product_id refers to a quarantined product"
QUARANTINED_VERSION = "product version (product_id, season) is quarantined"
QUARANTINED_PURCHASE = "return_of refers to a quarantined purchase"
CASCADE_REASONS = (QUARANTINED_CUSTOMER, QUARANTINED_PRODUCT, QUARANTINED_VERSION, QUARANTINED_PURCHASE)

# Findings.
OUTSIDE_KNOWN = "value outside the known list"
UNKNOWN_CERTIFICATION = "certification outside the known list"
SEASON_UNCONVENTIONAL = "season not in the SS26/AW25 form"
DECIMAL_ID = "id written as a decimal number (kept as text)"
DESCRIPTION_EMPTY = "description is empty"
DESCRIPTION_SHORT = "description shorter than {n} words"
NO_RECOMMENDATION_LOG = "no recommendation log: {why}"
ATTRIBUTE_BLANK = f"attribute is blank (read as '{UNKNOWN}')"
ATTRIBUTE_ABSENT = f"attribute column absent from the file (every row '{UNKNOWN}')"
LIST_ABSENT = "attribute column absent from the file (every row: none)"
WITHHELD = "(withheld: a customer id)"


@dataclass(frozen=True)
class FileSpec:
    """One file of the contract: its columns ``name -> (kind, required)``, its key, and its
    *attributes*: optional describing columns (never needed to use a row) that may be blank or
    absent from the file altogether; a blank vocabulary attribute reads as :data:`UNKNOWN`, a
    blank list as none. Both are findings, never a quarantine."""

    name: str
    columns: dict[str, tuple[str, bool]]
    key: tuple[str, ...]
    attributes: tuple[str, ...] = ()


SPECS = {
    PRODUCTS_FILE: FileSpec(
        PRODUCTS_FILE,
        {
            "product_id": (ID, True),
            "season": (CODE, True),
            "name": (TEXT, True),
            "description": (TEXT, False),
            "category": (VOCAB, True),
            "price_eur": (DECIMAL, True),
            "certifications": (MULTI, False),
            "tags": (MULTI, False),
            "sale_start": (DATE, True),
            "sale_end": (DATE, True),
        },
        ("product_id", "season"),
        ("certifications", "tags"),
    ),
    CUSTOMERS_FILE: FileSpec(
        CUSTOMERS_FILE,
        {
            "customer_id": (ID, True),
            "signup_date": (DATE, True),
            "age_band": (VOCAB, False),
            "region": (VOCAB, False),
            "preferred_channel": (VOCAB, False),
            "loyalty_tier": (VOCAB, False),
            "sustainability_interest": (VOCAB, False),
            "segment": (VOCAB, False),
        },
        ("customer_id",),
        ("age_band", "region", "preferred_channel", "loyalty_tier", "sustainability_interest", "segment"),
    ),
    TRANSACTIONS_FILE: FileSpec(
        TRANSACTIONS_FILE,
        {
            "event_id": (ID, True),
            "customer_id": (ID, True),
            "product_id": (ID, True),
            "season": (CODE, False),
            "event_type": (CLOSED, True),
            "event_time": (TIMESTAMP, True),
            "quantity": (INTEGER, True),
            "unit_price_eur": (DECIMAL, True),
            "channel": (VOCAB, False),
            "return_of": (ID, False),
        },
        ("event_id",),
        ("channel",),
    ),
    RECOMMENDATIONS_FILE: FileSpec(
        RECOMMENDATIONS_FILE,
        {
            "rec_id": (ID, True),
            "served_at": (TIMESTAMP, True),
            "customer_id": (ID, True),
            "product_id": (ID, True),
            "season": (CODE, True),
            "position": (INTEGER, True),
            "score": (DECIMAL, True),
            "model_version": (TEXT, True),
            "clicked_at": (TIMESTAMP, False),
            "purchased_at": (TIMESTAMP, False),
            "returned_at": (TIMESTAMP, False),
            "click_status": (CLOSED, True),
            "purchase_status": (CLOSED, True),
            "return_status": (CLOSED, True),
            "export_time": (TIMESTAMP, True),
        },
        ("rec_id",),
    ),
}


# --------------------------------------------------------------------------------------------
# The file-level error and the settings
# --------------------------------------------------------------------------------------------


class ContractError(Exception):
    """File-level problem; ``str(e)`` is ONE line naming the file and the problem."""

    def __init__(self, file: str, problem: str):
        self.file = file
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause said
        super().__init__(f"{file}: {self.problem}")

    def __reduce__(self):
        return (type(self), (self.file, self.problem))


@dataclass(frozen=True)
class ContractSettings:
    """The contract's settings: params.yaml's ``materials`` section (``docs/data-contract.md``).

    The defaults are defined once, in params.yaml; :meth:`from_params` reads them.
    """

    mapping: Mapping  # file -> {"columns": {ours: theirs}, "values": {our column: {theirs: ours}}}
    max_quarantine_share: float  # a file with more quarantined rows than this share stops
    earliest_date: str  # no date or timestamp before this day ...
    latest_date: str  # ... or after it (recommendations: nothing after their export_time either)
    date_ranges: Mapping  # column -> [earliest, latest] overriding the two above (null = keep)
    max_quantity: int  # transactions.quantity is 1..max_quantity
    max_price_eur: float  # prices above this are quarantined
    description_min_words: int  # shorter descriptions are a finding
    dialects: Mapping  # file -> {encoding, delimiter, decimal, line_ends} fixed where detection is wrong

    @classmethod
    def from_params(cls, section: Mapping | None = None) -> ContractSettings:
        """Settings from params.yaml's ``materials`` section (or the given dict)."""
        if section is None:
            section = params_section()
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in section]
        if missing:
            raise ValueError(f"params.yaml {PARAMS_SECTION}: missing setting(s) {', '.join(missing)}")
        return cls(**{f.name: section[f.name] for f in dataclasses.fields(cls)})

    def __post_init__(self):
        def fail(key: str, problem: str):
            raise ValueError(f"params.yaml {PARAMS_SECTION}.{key}: {problem}")

        share = self.max_quarantine_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            fail("max_quarantine_share", f"must be a number in [0, 1], got {share!r}")
        for key in ("max_quantity", "max_price_eur", "description_min_words"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                fail(key, f"must be a number >= 0, got {value!r}")
        for key in ("earliest_date", "latest_date"):
            object.__setattr__(self, key, _iso_day(getattr(self, key), lambda p, k=key: fail(k, p)))
        ranges = {}
        date_columns = {c for s in SPECS.values() for c, (k, _) in s.columns.items() if k in (DATE, TIMESTAMP)}
        for column, bounds in dict(self.date_ranges or {}).items():
            key = f"date_ranges.{column}"
            if column not in date_columns:
                fail(key, f"no date or timestamp column '{column}' (have: {', '.join(sorted(date_columns))})")
            if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
                fail(key, f"must be [earliest, latest], got {bounds!r}")
            ranges[column] = tuple(
                default if b is None else _iso_day(b, lambda p, k=key: fail(k, p))
                for b, default in zip(bounds, (self.earliest_date, self.latest_date))
            )
        object.__setattr__(self, "date_ranges", ranges)
        object.__setattr__(self, "mapping", _normalise_mapping(self.mapping))
        object.__setattr__(self, "dialects", dialect.normalise_dialects(self.dialects, MATERIAL_FILES))

    def date_range(self, column: str) -> tuple[str, str]:
        """(earliest, latest) plausible day of a date or timestamp column, as ``YYYY-MM-DD``."""
        return self.date_ranges.get(column, (self.earliest_date, self.latest_date))


# --------------------------------------------------------------------------------------------
# Settings helpers
# --------------------------------------------------------------------------------------------


def params_section() -> Mapping:
    """params.yaml's ``materials`` section, or ValueError saying where it was looked for."""
    try:
        return config.load_params(PARAMS_SECTION)
    except FileNotFoundError:
        raise ValueError(
            f"no params.yaml at {config.PARAMS_FILE}: run from the project folder or set STOFFWECHSEL_ROOT"
        ) from None
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None


def _iso_day(value, fail: Callable[[str], None]) -> str:
    """A setting's day as ``YYYY-MM-DD`` (YAML reads an unquoted 1990-01-01 as a date)."""
    text = str(value)
    if re.fullmatch(YMD, text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    fail(f"must be a day YYYY-MM-DD, got {value!r}")


def _normalise_mapping(mapping) -> dict[str, dict[str, dict]]:
    """Check ``materials.mapping``; codes and names become text (YAML may read ``1`` as a number)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ValueError(f"params.yaml {PARAMS_SECTION}.mapping: must be a mapping of file names, got {mapping!r}")
    out = {}
    for file, spec in mapping.items():
        if file not in SPECS:
            raise ContractError(
                str(file),
                f"params.yaml {PARAMS_SECTION}.mapping names an unknown file "
                f"(the files are: {', '.join(MATERIAL_FILES)})",
            )
        spec = spec or {}
        extra = set(spec) - {"columns", "values"}
        if extra:
            raise ContractError(
                file,
                f"params.yaml {PARAMS_SECTION}.mapping: unknown key(s) {', '.join(map(str, extra))} "
                "(allowed: columns, values)",
            )
        columns = {str(k): str(v).strip() for k, v in (spec.get("columns") or {}).items()}
        values = {
            str(k): {str(a).strip(): str(b) for a, b in (v or {}).items()}
            for k, v in (spec.get("values") or {}).items()
        }
        for column in [*columns, *values]:
            if column not in SPECS[file].columns:
                raise ContractError(
                    file,
                    f"params.yaml {PARAMS_SECTION}.mapping: no contract column '{column}' "
                    f"(columns: {', '.join(SPECS[file].columns)})",
                )
        theirs = list(columns.values())
        doubled = sorted({t for t in theirs if theirs.count(t) > 1})
        if doubled:
            raise ContractError(
                file,
                f"params.yaml {PARAMS_SECTION}.mapping: column(s) {', '.join(doubled)} "
                "mapped onto more than one contract column",
            )
        out[file] = {"columns": columns, "values": values}
    return out
