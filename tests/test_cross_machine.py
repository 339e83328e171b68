"""Everything downstream of the embeddings is machine-independent too: the whole pipeline, run in
a clone under another machine's settings (no AVX in torch, numpy and OpenBLAS, one thread), writes
every data output with the md5 that the committed dvc.lock records (issue #22, point 2)."""

from __future__ import annotations

import pytest

from conftest import ROOT, copy_without_reports, run
from stoffwechsel.studies.machine_settings import OTHER_MACHINES
from test_pipeline import lock_outputs

pytestmark = pytest.mark.pipeline

SETTING = "no AVX (x86-64 baseline kernels), 1 thread"


def test_pipeline_outputs_are_the_same_bytes_on_another_machine(tmp_path):
    clone = copy_without_reports(tmp_path / "elsewhere")
    # the site's bytes are not in dvc.lock (its manifest is): the Python renderer spares a Quarto render
    run(["dvc", "repro"], clone, **OTHER_MACHINES[SETTING], STOFFWECHSEL_SITE_RENDERER="python")
    committed = lock_outputs((ROOT / "dvc.lock").read_text())
    there = lock_outputs((clone / "dvc.lock").read_text())
    assert {"data/embedding_store", "data/embeddings/artifacts", "data/models"} <= set(committed)
    differing = sorted(k for k in committed if there.get(k) != committed[k])
    assert not differing, f"under {SETTING!r} these outputs differ from dvc.lock: {differing}"
