"""How a material file is written: its *dialect* (encoding, delimiter, decimal mark, line ends).

Shops save CSV the way their spreadsheet program does: a German Excel writes semicolons, decimal
commas (``49,90``), Windows-1252 and CRLF line ends; other tools write tabs or a UTF-8 byte-order
mark. The data contract (:mod:`stoffwechsel.data.contract`) reads every file through a
:class:`Dialect` detected here, per file, before any value is checked, so that the same content
in any dialect gives the same typed rows (and the same resolved data and feature store).

Detection is deterministic and never changes a value:

* **Encoding** (decided by the standard library's codecs): UTF-8 when the bytes are valid UTF-8
  (with a byte-order mark: "UTF-8 with BOM"). Otherwise Windows-1252 only when the bytes decode
  strictly as Windows-1252 *and* read as plausible text (:func:`implausible_windows_1252`):
  Latin-1 decodes any bytes, so decoding alone proves nothing. A UTF-8 file with one broken byte
  (its other non-ASCII characters are valid UTF-8) stays an error naming the byte and line. Hand
  written because no codec answers "is this plausible text"; the rules are two and documented.
* **Delimiter** (``,`` ``;`` tab) from the header line only: descriptions hold semicolons and
  the multi-value cells hold ``|``, so data lines prove nothing. The delimiter under which the
  most header names are expected column names wins (ties: comma, semicolon, tab);
  ``csv.Sniffer`` guesses from character frequencies and is not used.
* **Decimal mark** of the number columns (``price_eur``, ``unit_price_eur``, ``score``): a decimal
  comma when the file is semicolon- or tab-separated and more of those cells are written
  ``49,90`` than ``49.90``; a comma-separated file has a decimal point unless params.yaml says
  otherwise. Thousands separators (``1.234,56``, ``1,234.56``) are refused per cell with their
  own reason, never guessed.
* **Line ends**: LF, CRLF, or CR alone (more carriage returns than line feeds).

``params.yaml`` ``materials.dialects`` fixes any of them per file where detection is wrong, e.g.
``{products.csv: {encoding: windows-1252, delimiter: ";", decimal: ",", line_ends: CRLF}}``.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Dialect",
    "DIALECT_KEYS",
    "ENCODINGS",
    "DELIMITERS",
    "DECIMALS",
    "LINE_ENDS",
    "normalise_dialects",
    "decode",
    "detect_line_ends",
    "to_lf",
    "detect_delimiter",
    "detect_decimal",
    "implausible_windows_1252",
]

PARAMS_KEY = "materials.dialects"
#: Encodings: setting value -> (Python codec, what ``validate`` prints).
ENCODINGS = {
    "utf-8": ("utf-8", "UTF-8"),
    "utf-8-sig": ("utf-8-sig", "UTF-8 with BOM"),
    "windows-1252": ("cp1252", "Windows-1252"),
}
#: Delimiters: character -> its name (``"semicolon"`` -> "semicolon-separated").
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
#: Decimal marks of number columns: character -> its name.
DECIMALS = {".": "decimal point", ",": "decimal comma"}
#: Line ends: setting value -> the characters that end a line.
LINE_ENDS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}
DIALECT_KEYS = ("encoding", "delimiter", "decimal", "line_ends")
_SETTING_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}

#: Non-ASCII characters a Windows-1252 text plausibly holds outside words: typographic quotes and
#: dashes, the euro and other currency signs, units and marks (no-break space included).
TYPOGRAPHIC = "€£¥¢„“”‘’‚‹›«»–—…•·°§¶²³¹µ×÷±¼½¾©®™\xa0"
_UTF8_SEQUENCE = rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"


@dataclass(frozen=True)
class Dialect:
    """One file's dialect; ``fixed`` names the parts params.yaml set (the rest were detected).
    ``decimal`` is ``None`` for a file without decimal number columns."""

    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str | None = "."
    line_ends: str = "LF"
    fixed: tuple[str, ...] = ()

    def describe(self) -> str:
        """E.g. ``semicolon-separated, decimal comma, Windows-1252, CRLF line ends``; parts set in
        params.yaml are marked ``(set)``."""

        def part(key: str, text: str) -> str:
            return f"{text} (set)" if key in self.fixed else text

        parts = [part("delimiter", f"{DELIMITERS[self.delimiter]}-separated")]
        if self.decimal is not None:
            parts.append(part("decimal", DECIMALS[self.decimal]))
        parts.append(part("encoding", ENCODINGS[self.encoding][1]))
        parts.append(part("line_ends", f"{self.line_ends} line ends"))
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "delimiter": DELIMITERS[self.delimiter],
            "decimal": None if self.decimal is None else DECIMALS[self.decimal],
            "line_ends": self.line_ends,
            "set_in_params": list(self.fixed),
        }


class DialectError(ValueError):
    """A file cannot be read in any dialect: ``str(e)`` is one line (the caller adds the file)."""


def normalise_dialects(dialects, files: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Check params.yaml ``materials.dialects``: ``{file: {key: value}}`` with the keys of
    :data:`DIALECT_KEYS`; delimiters may be written as names (``tab``, ``semicolon``)."""
    if not dialects:
        return {}
    if not isinstance(dialects, Mapping):
        raise ValueError(f"params.yaml {PARAMS_KEY}: must be a mapping of file names, got {dialects!r}")
    out: dict[str, dict[str, str]] = {}
    for file, spec in dialects.items():
        where = f"params.yaml {PARAMS_KEY}.{file}"
        if file not in files:
            raise ValueError(f"{where}: unknown file (the files are: {', '.join(files)})")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: must be a mapping of {', '.join(DIALECT_KEYS)}, got {spec!r}")
        fixed: dict[str, str] = {}
        for key, value in spec.items():
            allowed = {
                "encoding": list(ENCODINGS),
                "delimiter": [*DELIMITERS, *_SETTING_NAMES],
                "decimal": list(DECIMALS),
                "line_ends": list(LINE_ENDS),
            }.get(key)
            if allowed is None:
                raise ValueError(f"{where}: unknown key {key!r} (allowed: {', '.join(DIALECT_KEYS)})")
            text = str(value)
            if key == "encoding":
                text = text.lower().replace("_", "-").replace("cp1252", "windows-1252")
            if key == "line_ends":
                text = text.upper()
            if text not in allowed:
                shown = ", ".join(repr(a) for a in allowed)
                raise ValueError(f"{where}.{key}: {value!r} is not one of {shown}")
            fixed[key] = _SETTING_NAMES.get(text, text) if key == "delimiter" else text
        out[str(file)] = fixed
    return out


# --- encoding -------------------------------------------------------------------------------


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def implausible_windows_1252(data: bytes, text: str) -> str | None:
    """Why ``text`` (``data`` decoded as Windows-1252) is not plausible Windows-1252 text, or
    None. Plausible: (1) fewer of the non-ASCII bytes form valid UTF-8 sequences than not (a
    UTF-8 file with a broken byte has nearly all of them valid; a Windows-1252 text has them only
    by coincidence, such as ``ß“``), and (2) every non-ASCII character is a letter next to a
    letter (``München``) or a typographic character (:data:`TYPOGRAPHIC`)."""
    non_ascii = len(data) - len(data.translate(None, bytes(range(0x80, 0x100))))
    in_utf8 = sum(map(len, re.findall(_UTF8_SEQUENCE, data)))
    if in_utf8 * 2 >= non_ascii:
        return f"{in_utf8} of its {non_ascii} non-ASCII bytes are valid UTF-8: a UTF-8 file with broken bytes"
    for m in re.finditer(f"[^\\x00-\\x7f{TYPOGRAPHIC}]", text):
        i, c = m.start(), m.group()
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if c.isalpha() and (before.isalpha() or after.isalpha()):
            continue
        line = text.count("\n", 0, i) + 1
        return f"{c!r} (line {line}) is neither a letter in a word nor a typographic character"
    return None


def decode(data: bytes, fixed: str | None = None) -> tuple[str, str]:
    """``(text, encoding)``: the text without a byte-order mark and its encoding's setting value.
    Raises :class:`DialectError` naming the byte and line where the bytes are not text."""
    if fixed is not None:
        codec, label = ENCODINGS[fixed]
        try:
            return data.decode(codec).removeprefix("\ufeff"), fixed
        except UnicodeDecodeError as err:
            raise DialectError(
                f"not valid {label} ({PARAMS_KEY} says so): byte 0x{data[err.start]:02X} at offset {err.start} "
                f"(line {_line_of(data, err.start)})"
            ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        broken = (
            f"not valid UTF-8: byte 0x{data[err.start]:02X} at offset {err.start} (line {_line_of(data, err.start)})"
        )
        try:
            latin = codecs.decode(data, "cp1252")
        except UnicodeDecodeError as err1252:
            why = f"byte 0x{data[err1252.start]:02X} does not exist in Windows-1252"
        else:
            why = implausible_windows_1252(data, latin)
            if why is None:
                return latin, "windows-1252"
        raise DialectError(f"{broken}; not read as Windows-1252 either: {why}") from None
    if text.startswith("\ufeff"):
        return text[1:], "utf-8-sig"
    return text, "utf-8"


# --- line ends ------------------------------------------------------------------------------


def detect_line_ends(text: str) -> str:
    """``CRLF`` where most lines end in ``\\r\\n``, ``CR`` where carriage returns alone
    outnumber line feeds, else ``LF``."""
    crlf = text.count("\r\n")
    lf, cr = text.count("\n") - crlf, text.count("\r") - crlf
    if cr > lf + crlf:
        return "CR"
    return "CRLF" if crlf and crlf >= lf else "LF"


def to_lf(text: str, line_ends: str, fixed: bool = False) -> str:
    """``\\n`` line ends. Detected: ``\\r\\n`` always becomes ``\\n`` and, for ``CR``, every
    ``\\r`` does (a stray ``\\r`` elsewhere stays a character of its cell). Fixed in params.yaml:
    exactly the given line end is replaced."""
    if fixed:
        return text.replace(LINE_ENDS[line_ends], "\n") if line_ends != "LF" else text
    text = text.replace("\r\n", "\n")
    return text.replace("\r", "\n") if line_ends == "CR" else text


# --- delimiter ------------------------------------------------------------------------------


def split_header(line: str, delimiter: str) -> list[str]:
    """The header's names (trimmed) under ``delimiter``; ``csv.Error`` propagates."""
    return [h.strip() for h in next(csv.reader([line], delimiter=delimiter))]


def detect_delimiter(line: str, expected: set[str]) -> str:
    """The delimiter under which most names of the header ``line`` are in ``expected`` (ties and
    no match at all: the first of comma, semicolon, tab that splits the line, else comma)."""
    best, best_score = ",", -1
    for delimiter in DELIMITERS:
        try:
            names = split_header(line, delimiter)
        except csv.Error:
            continue
        score = sum(n in expected for n in names) if len(names) > 1 or delimiter == "," else -1
        if score > best_score:
            best, best_score = delimiter, score
    if best_score == 0:  # nothing matched: the delimiter the line holds, in order
        return next((d for d in DELIMITERS if d in line), ",")
    return best


# --- decimal mark ---------------------------------------------------------------------------

DECIMAL_SHAPES = {".": r"-?[0-9]+(\.[0-9]+)?", ",": r"-?[0-9]+(,[0-9]+)?"}
#: A number with thousands separators, per decimal mark: refused with its own reason.
THOUSANDS_SHAPES = {".": r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", ",": r"-?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?"}


def detect_decimal(cells, delimiter: str) -> str:
    """The decimal mark of a file's number cells (a pandas Series of trimmed text): a comma only
    in a semicolon- or tab-separated file with more ``49,90`` cells than ``49.90`` cells."""
    if delimiter == ",":
        return "."
    comma = int(cells.str.fullmatch(r"-?[0-9]+,[0-9]+").fillna(False).sum())
    point = int(cells.str.fullmatch(r"-?[0-9]+\.[0-9]+").fillna(False).sum())
    return "," if comma > point else "."
