"""Each stage loads only the materials files it declares in ``dvc.yaml``.

:func:`stoffwechsel.data.contract.load_materials` reads all four files. A stage whose ``deps`` omit the
production-recommendations file (``resolve``, ``features``, ``embeddings``) must not read it either:
otherwise replacing that file alone could change or stop a stage DVC considers up to date. The
contract treats that file as optional (absent = no rows), so :func:`load_materials_without` hands
the contract a folder that holds links to the other files only. The other three files are
required by the contract, so they cannot be left out this way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from stoffwechsel.config import MATERIAL_FILES
from stoffwechsel.data.contract import Materials, load_materials
from stoffwechsel.data.schema import OPTIONAL_FILES

__all__ = ["load_materials_without"]


def load_materials_without(folder: Path | str, skip: tuple[str, ...], **overrides) -> Materials:
    """:func:`load_materials` on ``folder`` as if the optional files in ``skip`` were absent (their
    frames empty, ``Materials.missing`` says so). The checks of the other files do not depend on
    the skipped ones (the contract checks references from recommendations to products and
    customers, never the other way), so their accepted rows are the same as with every file read."""
    folder = Path(folder)
    bad = [name for name in skip if name not in OPTIONAL_FILES]
    if bad:
        raise ValueError(f"only optional materials files can be skipped ({', '.join(OPTIONAL_FILES)}), not {bad}")
    kept = [name for name in MATERIAL_FILES if name not in skip]
    if not all((folder / name).is_file() for name in kept):
        return load_materials(folder, **overrides)  # the contract's own message names the real folder
    with tempfile.TemporaryDirectory(prefix="stoffwechsel-materials-") as tmp:
        for name in kept:
            try:
                os.symlink((folder / name).resolve(), Path(tmp) / name)
            except OSError:  # no symlinks on this file system
                shutil.copyfile(folder / name, Path(tmp) / name)
        return load_materials(Path(tmp), **overrides)
