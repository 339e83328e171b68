"""The committed materials rewritten as other programs save CSV (tests of stoffwechsel.data.dialect):
same content, other delimiter, decimal mark, encoding and line ends."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stoffwechsel.config import MATERIAL_FILES
from stoffwechsel.data.schema import DECIMAL, SPECS

#: name -> (delimiter, decimal mark, Python codec, line end)
DIALECTS = {
    "german-spreadsheet": (";", ",", "cp1252", "\r\n"),
    "tab-utf8-bom": ("\t", ".", "utf-8-sig", "\n"),
}


def rewrite(source: Path, dest: Path, dialect: str, files=MATERIAL_FILES) -> Path:
    """Write ``files`` of ``source`` into ``dest`` in ``dialect`` (every cell's text kept, only
    decimal marks of the number columns change); other files are copied as they are."""
    delimiter, decimal, codec, line_end = DIALECTS[dialect]
    dest.mkdir(parents=True, exist_ok=True)
    for name in MATERIAL_FILES:
        path = source / name
        if not path.exists():
            continue
        if name not in files:
            (dest / name).write_bytes(path.read_bytes())
            continue
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        numbers = [i for i, h in enumerate(header) if SPECS[name].columns.get(h, ("", False))[0] == DECIMAL]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end)
        writer.writerow(header)
        for row in rows[1:]:
            writer.writerow([cell.replace(".", decimal) if i in numbers else cell for i, cell in enumerate(row)])
        (dest / name).write_bytes(out.getvalue().encode(codec))
    return dest
