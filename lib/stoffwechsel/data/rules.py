"""Pass 2 of the data contract (:mod:`stoffwechsel.data.contract`): one pandera
``DataFrameSchema`` per file over the typed frame, validated with ``lazy=True``: closed sets,
ranges, times that exist in Europe/Berlin, and rules between the columns of one row (the
recommendation outcomes against their statuses and attribution windows). Every check's
``error=`` is its reason; a row rule's error is ``"<column>: <reason>"``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from stoffwechsel.config import (
    CUSTOMERS_FILE,
    PRODUCTS_FILE,
    RECOMMENDATIONS_FILE,
    TRANSACTIONS_FILE,
)
from stoffwechsel.data.quarantine import problems
from stoffwechsel.data.schema import (
    DST_GAP,
    EVENT_TYPES,
    OUTCOME_STATUSES,
    OUTCOMES,
    POSITION_RANGE,
    RETURN_STATUSES,
    SCORE_RANGE,
    SINGLE_UNIT_EVENTS,
    TIMEZONE,
    UNKNOWN_VALUE,
    ContractSettings,
)

# --------------------------------------------------------------------------------------------
# Pass 2: values (one pandera schema per file)
# --------------------------------------------------------------------------------------------


def _one_of(allowed: tuple[str, ...]) -> pa.Check:
    return pa.Check.isin(allowed, error=UNKNOWN_VALUE.format(allowed=", ".join(allowed)))


def _row_rule(column: str, reason: str, bad: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A check across the columns of a row; ``bad`` marks failing rows, ``column`` is reported."""
    return pa.Check(lambda df: ~bad(df).fillna(False).astype(bool), error=f"{column}: {reason}", ignore_na=False)


def _exists_in_berlin(s: pd.Series) -> pd.Series:
    """False for wall-clock times skipped by the spring DST change (02:00-03:00)."""
    ambiguous = np.zeros(len(s), dtype=bool)
    return s.dt.tz_localize(TIMEZONE, nonexistent="NaT", ambiguous=ambiguous).notna()


def _has_cents_only(s: pd.Series) -> pd.Series:
    cents = s * 100
    return pd.Series(np.isclose(cents, cents.round(), rtol=0, atol=1e-6), index=s.index)


def _timestamp_column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=[*checks, pa.Check(_exists_in_berlin, error=DST_GAP)])


def _column(*checks: pa.Check) -> pa.Column:
    return pa.Column(nullable=True, checks=list(checks))


def _between(low, high, low_strict: bool = False) -> list[pa.Check]:
    first = pa.Check.gt(low, error=f"must be > {low}") if low_strict else pa.Check.ge(low, error=f"must be >= {low}")
    return [first, pa.Check.le(high, error=f"must be <= {high:g}")]


def _outcome_rules() -> list[pa.Check]:
    """Recommendation outcomes: timestamps vs. statuses vs. attribution windows (OUTCOMES)."""
    rules = [
        _row_rule("served_at", "served_at after export_time", lambda d: d.served_at > d.export_time),
        _row_rule(
            "export_time",
            "export_time differs from the rest of the file",
            lambda d: d.export_time.notna() & (d.export_time != d.export_time.mode().max()),
        ),
        _row_rule(
            "returned_at",
            "returned_at without purchased_at",
            lambda d: d.returned_at.notna() & d.purchased_at.isna(),
        ),
        _row_rule(
            "return_status",
            "return_status 'not_purchased' but purchase_status 'yes'",
            lambda d: (d.return_status == "not_purchased") & (d.purchase_status == "yes"),
        ),
        _row_rule(
            "return_status",
            "return outcome (yes/no) without a purchase",
            lambda d: d.return_status.isin(("yes", "no")) & d.purchase_status.isin(("no", "pending")),
        ),
        # A pending purchase may have return_status 'pending' (not yet known) or 'not_purchased'.
        _row_rule(
            "return_status",
            "return_status 'pending' but purchase_status 'no'",
            lambda d: (d.return_status == "pending") & (d.purchase_status == "no"),
        ),
    ]
    for ts, status, anchor, days in OUTCOMES:
        span = "1 day" if days == 1 else f"{days} days"

        def window_end(d, anchor=anchor, window=pd.Timedelta(days=days)):
            return d[anchor] + window

        rules += [
            _row_rule(ts, f"{ts} before {anchor}", lambda d, ts=ts, a=anchor: d[ts] < d[a]),
            _row_rule(ts, f"{ts} more than {span} after {anchor}", lambda d, ts=ts, end=window_end: d[ts] > end(d)),
            _row_rule(ts, f"{ts} after export_time", lambda d, ts=ts: d[ts] > d.export_time),
            _row_rule(
                status,
                "status 'yes' without timestamp",
                lambda d, ts=ts, st=status: (d[st] == "yes") & d[ts].isna(),
            ),
            _row_rule(
                status,
                "status other than 'yes' with a timestamp",
                lambda d, ts=ts, st=status: d[st].notna() & (d[st] != "yes") & d[ts].notna(),
            ),
            _row_rule(
                status,
                "status 'pending' after its window closed",
                lambda d, st=status, end=window_end: (d[st] == "pending") & (d.export_time >= end(d)),
            ),
            _row_rule(
                status,
                "status 'no' while its window is open",
                lambda d, st=status, end=window_end: (d[st] == "no") & (d.export_time < end(d)),
            ),
        ]
    return rules


def schemas(settings: ContractSettings) -> dict[str, pa.DataFrameSchema]:
    max_price, max_quantity = settings.max_price_eur, settings.max_quantity
    return {
        PRODUCTS_FILE: pa.DataFrameSchema(
            {
                "price_eur": _column(
                    *_between(0, max_price, low_strict=True),
                    pa.Check(_has_cents_only, error="more than two decimals"),
                ),
            },
            checks=[
                _row_rule("sale_end", "sale_end before sale_start", lambda d: d.sale_end < d.sale_start),
            ],
            name=PRODUCTS_FILE,
        ),
        CUSTOMERS_FILE: pa.DataFrameSchema({}, name=CUSTOMERS_FILE),
        TRANSACTIONS_FILE: pa.DataFrameSchema(
            {
                "event_type": _column(_one_of(EVENT_TYPES)),
                "event_time": _timestamp_column(),
                "quantity": _column(*_between(1, max_quantity)),
                "unit_price_eur": _column(*_between(0, max_price)),
            },
            checks=[
                _row_rule(
                    "quantity",
                    f"must be 1 for {' and '.join(SINGLE_UNIT_EVENTS)}",
                    lambda d: d.event_type.isin(SINGLE_UNIT_EVENTS) & (d.quantity > 1),
                ),
                _row_rule(
                    "return_of",
                    "return_of given on a non-return event",
                    lambda d: d.return_of.notna() & d.event_type.notna() & (d.event_type != "return"),
                ),
                _row_rule(
                    "return_of",
                    "return without return_of",
                    lambda d: (d.event_type == "return") & d.return_of.isna(),
                ),
            ],
            name=TRANSACTIONS_FILE,
        ),
        RECOMMENDATIONS_FILE: pa.DataFrameSchema(
            {
                "served_at": _timestamp_column(),
                "position": _column(*_between(*POSITION_RANGE)),
                "score": _column(*_between(*SCORE_RANGE)),
                "clicked_at": _timestamp_column(),
                "purchased_at": _timestamp_column(),
                "returned_at": _timestamp_column(),
                "click_status": _column(_one_of(OUTCOME_STATUSES)),
                "purchase_status": _column(_one_of(OUTCOME_STATUSES)),
                "return_status": _column(_one_of(RETURN_STATUSES)),
                "export_time": _timestamp_column(),
            },
            checks=_outcome_rules(),
            name=RECOMMENDATIONS_FILE,
        ),
    }


def validate(typed: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Problems found by ``schema`` (lazy): failure cases mapped back to line and column."""
    if typed.empty:
        return problems(pd.Series(False, index=typed.index), "", "")
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return problems(pd.Series(False, index=typed.index), "", "")
    if cases["index"].isna().any():  # pragma: no cover - a schema-level failure is a bug here
        unexpected = cases[cases["index"].isna()].to_dict("records")
        raise RuntimeError(f"{schema.name}: unexpected schema failure: {unexpected}")
    column = cases["column"].astype(str)
    reason = cases["check"].astype(str)
    is_row_rule = cases["schema_context"] == "DataFrameSchema"
    split = reason[is_row_rule].str.split(": ", n=1, expand=True)
    if not split.empty:
        column[is_row_rule], reason[is_row_rule] = split[0], split[1]
    found = pd.DataFrame({"row": cases["index"].astype("int64"), "column": column, "reason": reason})
    return found.drop_duplicates(ignore_index=True)
