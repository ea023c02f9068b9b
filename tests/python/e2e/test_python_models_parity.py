"""The dbt Python models on the default dataset equal an independent pandas computation.

Spark tables are read back by a new process from the metastore; the pandas reference
(`lgs_analytics.reference`) implements DEFINITIONS §4–§5 from the raw files with pandas `qcut`
semantics and numpy percentiles.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

SCORE_COLUMNS = [
    "segment",
    "rfm_score",
    "recency_days",
    "frequency",
    "frequency_rank",
    "r_score",
    "f_score",
    "m_score",
]


def _cents(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _table(tables: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    return tables[f"lgs_marts.{name}"]


def test_every_customer_scores_and_segment_equal_pandas(default_tables, reference):
    ours = _table(default_tables, "customer_rfm_scores").set_index("customer_id").sort_index()
    theirs = reference["customer_rfm_scores"].set_index("customer_id").sort_index()
    assert ours.index.astype(str).tolist() == theirs.index.astype(str).tolist()
    assert len(ours) == default_tables["lgs_marts.customer_rfm_scores"].shape[0] > 5000
    for column in SCORE_COLUMNS:
        mismatched = (ours[column].astype(str).values != theirs[column].astype(str).values).sum()
        assert mismatched == 0, f"{column}: {mismatched} customers differ"
    assert [_cents(v) for v in ours["monetary"]] == [_cents(v) for v in theirs["monetary"]]
    # Every score is used, and the segments cover the whole map.
    for column in ("r_score", "f_score", "m_score"):
        assert set(ours[column]) == {1, 2, 3, 4, 5}


def test_segment_summary_equals_pandas(default_tables, reference):
    ours = _table(default_tables, "rfm_segment_summary").set_index("segment").sort_index()
    theirs = reference["rfm_segment_summary"].set_index("segment").sort_index()
    assert ours.index.tolist() == theirs.index.tolist()
    assert len(ours) == 10
    assert ours["customers"].tolist() == theirs["customers"].tolist()
    assert [_cents(v) for v in ours["revenue"]] == [_cents(v) for v in theirs["revenue"]]
    assert np.allclose(ours["customer_share_pct"], theirs["customer_share_pct"].astype(float))
    assert ours["customers"].sum() == len(_table(default_tables, "customer_rfm_scores"))


def test_invoice_amounts_and_outliers_equal_pandas(default_tables, reference):
    ours = _table(default_tables, "invoice_amounts").set_index("invoice_id").sort_index()
    theirs = reference["invoice_amounts"].set_index("invoice_id").sort_index()
    assert ours.index.tolist() == theirs.index.tolist()
    assert [_cents(v) for v in ours["invoice_amount"]] == [
        _cents(v) for v in theirs["invoice_amount"]
    ]
    assert ours["is_outlier"].tolist() == theirs["is_outlier"].astype(bool).tolist()
    share = ours["is_outlier"].mean()
    assert 0.14 < share < 0.16, "P85 should flag about 15% of invoices"


def test_distribution_summary_equals_pandas_to_the_cent(default_tables, reference):
    ours = _table(default_tables, "invoice_amount_distribution").set_index("population")
    theirs = reference["invoice_amount_distribution"].set_index("population")
    assert sorted(ours.index) == ["all_invoices", "at_or_below_threshold"]
    for population in ours.index:
        assert ours.loc[population, "invoice_count"] == theirs.loc[population, "invoice_count"]
        for column in (
            "min_amount",
            "max_amount",
            "mean_amount",
            "median_amount",
            "mode_amount",
            "p85_amount",
        ):
            assert _cents(ours.loc[population, column]) == _cents(theirs.loc[population, column]), (
                population,
                column,
            )
    amounts = _table(default_tables, "invoice_amounts")["invoice_amount"].astype(float)
    # Independent of both implementations: numpy on the published invoice amounts.
    assert _cents(ours.loc["all_invoices", "p85_amount"]) == _cents(np.percentile(amounts, 85))
    assert _cents(ours.loc["all_invoices", "median_amount"]) == _cents(np.median(amounts))


def test_histogram_equals_pandas(default_tables, reference):
    ours = _table(default_tables, "invoice_amount_histogram").sort_values("bin_index")
    theirs = reference["invoice_amount_histogram"].sort_values("bin_index")
    assert ours["invoice_count"].tolist() == theirs["invoice_count"].tolist()
    assert np.allclose(ours["bin_lower"], theirs["bin_lower"].astype(float))
    distribution = _table(default_tables, "invoice_amount_distribution").set_index("population")
    assert ours["invoice_count"].sum() == distribution.loc["at_or_below_threshold", "invoice_count"]
