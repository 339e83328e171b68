"""Quarto's post-render script of this project (``project: post-render:`` in _quarto.yml): makes
the rendered site small, offline and openable from file:// (stoffwechsel.site.postrender).
Quarto runs it with its Python (QUARTO_PYTHON) in the project folder after every render."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))  # this checkout's package

from stoffwechsel.site.postrender import main  # noqa: E402

sys.exit(main())
