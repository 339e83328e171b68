"""The feature repository (lib/stoffwechsel/features/feature_repo.py): every declaration resolves, the
descriptions follow the parameters, the services decide the model inputs."""

from __future__ import annotations

import ast
import inspect

import pandas as pd
import pytest

from conftest import ROOT
from stoffwechsel.config import load_params
from stoffwechsel.features import embeddings, feature_repo, tabular
from stoffwechsel.features.store import FeatureStore

PARAMS = {"recent_weeks": 2, "popularity_weeks": 4, "price_band_thresholds_eur": [40, 90]}
VOCAB = feature_repo.Vocabulary(
    ("tops", "other"), ("web", "app"), ("gots", "other"), {"tops": "tops", "web": "web", "app": "app", "gots": "GOTS"}
)


#: The module that computes each stage's views (lib/stoffwechsel/features/).
STAGE_MODULE = {"features": "features.tabular", "embeddings": "features.embeddings"}


@pytest.mark.parametrize("decl", feature_repo.VIEWS.values(), ids=lambda d: d.name)
def test_every_view_names_existing_sources_and_parameters(decl):
    section = load_params(decl.stage, ROOT / "params.yaml")
    for ref in (decl.source, *decl.code):
        module, _, name = ref.partition(":")
        assert module == STAGE_MODULE[decl.stage], f"{decl.name}: {ref} is not in the module of its stage {decl.stage}"
        assert hasattr(__import__(f"stoffwechsel.{module}", fromlist=[name]), name), (
            f"{decl.name}: {ref} does not exist"
        )
    assert set(decl.params) <= set(section), (
        f"{decl.name}: parameters {set(decl.params) - set(section)} not in params.yaml"
    )
    fields = decl.fields(section, VOCAB)
    assert all("{" not in f.description for f in fields), f"{decl.name}: unfilled description"
    assert set(decl.not_model_inputs) <= {f.name for f in fields}


def test_descriptions_are_built_from_the_parameters():
    fields = {
        f.name: f.description for f in feature_repo.CUSTOMER_ACTIVITY.fields({**PARAMS, "recent_weeks": 8}, VOCAB)
    }
    assert fields["purchases_recent"] == "Purchases in the last 8 weeks."
    assert fields["affinity_tops"] == "Share of the customer's interest that went to the category tops."
    assert fields["affinity_cert_gots"] == "Share of the customer's interest that went to GOTS-certified products."
    product = {f.name: f.description for f in feature_repo.PRODUCT_ACTIVITY.fields({**PARAMS, "popularity_weeks": 6})}
    assert product["product_purchases_recent"] == "Purchases in the last 6 weeks (popularity)."
    taste = {f.name: f.description for f in feature_repo.CUSTOMER_TASTE.fields({"taste_recent_weeks": 9})}
    assert taste["taste_recent"] == "The same, for the last 9 weeks only."
    catalog = {f.name: f.description for f in feature_repo.PRODUCT_CATALOG.fields(PARAMS, VOCAB)}
    assert catalog["cert_other"] == "1 if the product carries a certification without a column of its own."


def test_descriptions_are_not_part_of_the_version():
    decl = feature_repo.PRODUCT_ACTIVITY
    a = decl.feature_view(PARAMS)
    reworded = feature_repo.ViewDecl(
        **{
            **decl.__dict__,
            "description": "other words",
            "schema": tuple(type(f)(f.name, f.dtype, "x") for f in decl.schema),
        }
    )
    assert reworded.feature_view(PARAMS).version == a.version
    assert decl.feature_view({**PARAMS, "popularity_weeks": 5}).version != a.version


def test_the_stages_write_the_declared_views(tmp_path):
    products = pd.DataFrame(
        {
            "product_id": ["SW-1"],
            "season": ["SS24"],
            "category": ["tops"],
            "price_eur": [50.0],
            "certifications": ["GOTS"],
            "sale_start": pd.to_datetime(["2024-03-01"]),
            "sale_end": pd.to_datetime(["2024-08-31"]),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C00001"],
            "signup_date": pd.to_datetime(["2024-01-10"]),
            "age_band": ["25-34"],
            "region": ["Berlin"],
            "preferred_channel": ["app"],
            "loyalty_tier": ["none"],
            "sustainability_interest": ["high"],
            "segment": ["Eco Enthusiasts"],
        }
    )
    events = pd.DataFrame(
        {
            "event_id": ["T1"],
            "customer_id": ["C00001"],
            "product_key": ["SW-1@SS24"],
            "event_type": ["purchase"],
            "event_time": pd.to_datetime(["2024-03-05 10:00"]),
            "quantity": [1],
            "unit_price_eur": [50.0],
            "channel": ["web"],
        }
    )
    store = FeatureStore(tmp_path / "fs")
    tabular.build_tabular_store(store, events, products, customers, PARAMS)
    assert store.list_views() == sorted(d.name for d in feature_repo.views_of_stage("features"))
    for name in store.list_views():
        view = store.get_view(name)
        decl = feature_repo.VIEWS[name]
        assert view.entities == (decl.entity,) and view.description == decl.description
        assert all(decl.holds(f) for f in view.feature_names), name
    assert {d.name for d in feature_repo.views_of_stage("embeddings")} == {"product_embedding", "customer_taste"}
    assert embeddings.EMBEDDING_STAGE == "embeddings"


def test_services_decide_the_model_inputs():
    columns = [
        "customer_id",
        "product_key",
        "event_timestamp",
        "label",
        "source",
        "signup_date",
        "segment",
        "affinity_tops",
        "share_web",
        "last_event_time",
        "cert_gots",
        "product_id",
        "sale_start",
        "category",
        "product_purchases_recent",
        "recency_days",
        "taste_all",
        "embedding_reduced",
        "style_cluster",
        "taste_similarity",
        "unknown_column",
    ]
    tab = feature_repo.TABULAR.model_inputs(columns)
    comb = feature_repo.COMBINED.model_inputs(columns)
    assert tab == sorted(
        ["segment", "affinity_tops", "share_web", "cert_gots", "category", "product_purchases_recent", "recency_days"]
    )
    assert comb == sorted([*tab, "style_cluster", "taste_similarity"])
    assert set(feature_repo.TABULAR.features) <= set(feature_repo.COMBINED.features)
    assert feature_repo.COMBINED.views == (
        "customer_profile",
        "customer_activity",
        "product_catalog",
        "product_activity",
        "customer_taste",
        "product_embedding",
    )
    with pytest.raises(ValueError, match="unknown feature service 'text'"):
        feature_repo.service("text")
    with pytest.raises(ValueError, match="unknown views or on-demand features"):
        feature_repo.FeatureService("x", "", ("no_such_view",), ())


def test_every_on_demand_feature_reads_declared_features():
    for f in feature_repo.ON_DEMAND_FEATURES.values():
        for ref in f.sources:
            view, _, feature = ref.partition(":")
            assert feature_repo.VIEWS[view].holds(feature.replace("<category>", "tops")), (f.name, ref)


def test_the_train_notebook_names_no_feature_view():
    """05_train reads its features through the declared services, never by writing views out."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "05_train.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    strings = {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & set(feature_repo.VIEWS), strings & set(feature_repo.VIEWS)


def test_features_repeats_no_domain_vocabulary():
    source = inspect.getsource(tabular)
    for value in ("tops", "GOTS", "OEKO-TEX", '"web"', '"medium"'):
        assert value not in source, value


def test_services_say_which_model_inputs_are_labels():
    columns = [
        "segment",
        "season",
        "product_id",
        "price_eur",
        "usual_price_band",
        "style_cluster",
        "share_web",
        "label",
    ]
    assert feature_repo.TABULAR.categorical(columns) == {
        "season": "string",
        "segment": "string",
        "usual_price_band": "string",
    }
    assert feature_repo.COMBINED.categorical(columns) == {
        "season": "string",
        "segment": "string",
        "style_cluster": "int64",
        "usual_price_band": "string",
    }
