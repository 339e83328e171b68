"""Values a real export brings that our simulator never wrote must not crash the features
(issue 13: the real invoice fixture's customers have sustainability interest "unknown", and a
product without a category can reach retrieval)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stoffwechsel import notebooks
from stoffwechsel.features import tabular


def test_unknown_sustainability_interest_is_missing_not_a_crash():
    customers = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "signup_date": pd.to_datetime(["2011-01-01"] * 3),
            "age_band": ["unknown"] * 3,
            "region": ["United Kingdom", "EIRE", "France"],
            "preferred_channel": ["web"] * 3,
            "loyalty_tier": ["unknown"] * 3,
            "sustainability_interest": ["high", "unknown", "low"],
            "segment": ["unknown"] * 3,
        }
    )
    profile = tabular.compute_customer_profile(customers)
    levels = profile.set_index("customer_id")["sustainability_interest_level"]
    assert levels["1"] == 2 and levels["3"] == 0 and np.isnan(levels["2"])


def test_a_missing_category_maps_to_no_column():
    vocab = tabular.Vocabulary(["giftware", "other"], ["web"], [], {})
    column = tabular.category_column(pd.Series(["giftware", None, "", "candles"], dtype="str"), vocab)
    assert column.iloc[0] == "giftware" and column.iloc[3] == "other"
    assert column.iloc[1:3].isna().all()


def test_runner_passes_no_contract_settings_to_the_notebooks():
    """load_materials reads them itself; passing them made Papermill warn "Passed unknown
    parameter" eight times per stage."""
    assert set(notebooks.stage_parameters("profile")) == {
        "materials_dir",
        "cutoff",
        "test_weeks",
        "train_start",
        "min_history_weeks",
        "quarantine_rows_shown",
    }
