"""The docs exist and match the code."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT
from stoffwechsel.features import tabular
from stoffwechsel.features.store import FeatureStore

DOCS = (
    "architecture",
    "materials",
    "data-contract",
    "features",
    "feature-store",
    "feature-catalogue",
    "embeddings",
    "evaluation",
    "monitoring",
    "dashboard",
    "simulation",
    "discovery",
    "plan",
)


@pytest.mark.parametrize("name", DOCS)
def test_doc_exists_and_has_content(name):
    text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
    assert len(text) > 500


def test_readme_describes_every_stage_and_links_existing_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]:
        assert f"`{stage}`" in readme, f"README does not describe stage {stage}"
    for doc in re.findall(r"`(docs/[\w\-]+\.md)`", readme):
        assert (ROOT / doc).is_file(), doc


def test_monitoring_doc_has_an_alert_runbook():
    assert "runbook" in (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8").lower()


@pytest.mark.pipeline
def test_feature_catalogue_matches_the_registries(pipeline_clone):
    stores = [
        FeatureStore(pipeline_clone / "data" / "feature_store"),
        FeatureStore(pipeline_clone / "data" / "embedding_store"),
    ]
    assert (ROOT / "docs" / "feature-catalogue.md").read_text(encoding="utf-8") == tabular.catalogue_markdown(stores), (
        "docs/feature-catalogue.md is out of date: run `stoffwechsel feature-catalogue`"
    )
