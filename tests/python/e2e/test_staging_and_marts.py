"""The SQL layers on the default dataset, read back from the metastore by a new process.

- staging and the raw source agree with the generator's ground-truth manifest;
- every mart equals an independent pandas implementation of DEFINITIONS §2–§3 to the cent;
- the main command runs the data tests, not the unit tests.

Malformed rows: test_malformed_rows.py.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from lgs_testing import closing_line

pytestmark = pytest.mark.e2e

MARTS = ("monthly_sales", "monthly_orders", "monthly_active_users", "monthly_new_existing_users")
MONEY_COLUMNS = {"sales_amount", "previous_sales_amount"}
RATIO_COLUMNS = {"sales_growth_pct", "cancellation_rate_pct", "new_user_share_pct"}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("year_month").reset_index(drop=True)


def _cents(values: pd.Series) -> list:
    return [None if pd.isna(v) else Decimal(str(v)).quantize(Decimal("0.01")) for v in values]


@pytest.fixture(scope="module")
def staged_counts(default_build) -> dict:
    """Counts of the raw source and of staging on the default build, in one new process."""
    [row] = default_build.sql(
        """
        select
            (select count(*) from raw.online_retail_ii) as raw_lines,
            (select count(distinct `Invoice`) from raw.online_retail_ii) as raw_invoices,
            count(*) as rows,
            sum(removed_duplicates) as removed_duplicates,
            count(distinct invoice_id) as invoices,
            count(distinct customer_id) as customers,
            count(distinct stock_code) as stock_codes,
            count_if(is_cancellation) as cancellation_rows,
            count(distinct case when is_cancellation then invoice_id end)
                as cancellation_invoices,
            count_if(is_adjustment) as adjustment_rows,
            count_if(is_service_code) as service_code_rows,
            count_if(not has_customer) as null_customer_rows,
            count_if(description is null) as null_description_rows,
            count_if(unit_price = 0) as zero_price_rows,
            count_if(is_sales_line) as sales_lines,
            cast(sum(case when is_sales_line then line_amount end) as string) as sales_amount,
            (select count(*) from lgs_staging.stg_online_retail__quarantined_rows)
                as quarantined_rows
        from lgs_staging.stg_online_retail__transactions
        """
    )
    return row


def test_raw_source_counts_equal_the_manifest(default_build, staged_counts):
    manifest = default_build.manifest
    assert staged_counts["raw_lines"] == manifest["lines"]
    # Removing exact duplicate lines never removes an invoice's last line.
    assert staged_counts["raw_invoices"] == manifest["deduplicated"]["invoices"]


def test_staging_equals_the_manifest(default_build, staged_counts):
    manifest = default_build.manifest
    expected = manifest["deduplicated"]
    row = staged_counts
    assert row["removed_duplicates"] == manifest["exact_duplicate_rows"]
    for key in (
        "rows",
        "invoices",
        "customers",
        "stock_codes",
        "cancellation_rows",
        "cancellation_invoices",
        "adjustment_rows",
        "service_code_rows",
        "null_customer_rows",
        "null_description_rows",
        "zero_price_rows",
        "sales_lines",
    ):
        assert row[key] == expected[key], key
    assert Decimal(row["sales_amount"]) == Decimal(expected["sales_amount"])
    assert row["quarantined_rows"] == manifest["malformed_total"] == 0


@pytest.mark.parametrize("mart", MARTS)
def test_mart_equals_the_pandas_reference(mart, default_tables, reference):
    spark_frame = _sorted(default_tables[f"lgs_marts.{mart}"])
    pandas_frame = _sorted(reference[mart])
    assert list(spark_frame["year_month"]) == list(pandas_frame["year_month"])
    months = spark_frame["year_month"]
    assert (
        np.diff(pd.to_datetime(months.astype(str), format="%Y%m").dt.to_period("M").astype("int64"))
        == 1
    ).all(), "month spine has gaps"
    for column in pandas_frame.columns:
        if column not in spark_frame.columns:
            continue
        ours, theirs = spark_frame[column], pandas_frame[column]
        if column in MONEY_COLUMNS:
            assert _cents(ours) == _cents(theirs), column
        elif column in RATIO_COLUMNS:
            assert ours.isna().tolist() == theirs.isna().tolist(), column
            assert np.allclose(
                ours.dropna().astype(float), theirs.dropna().astype(float), rtol=1e-9, atol=1e-9
            ), column
        elif column == "month_start":
            assert pd.to_datetime(ours).tolist() == pd.to_datetime(theirs).tolist()
        else:
            assert ours.astype(object).tolist() == theirs.astype(object).tolist(), column


def test_only_the_last_month_is_partial(default_tables):
    sales = _sorted(default_tables["lgs_marts.monthly_sales"])
    assert sales["is_partial_month"].tolist() == [False] * (len(sales) - 1) + [True]
    assert sales["year_month"].iloc[-1] == 201112


def test_the_main_command_leaves_the_unit_tests_out(default_build):
    # The main command (`lgs build`) is a production run: models, seeds and data tests.
    closing = closing_line(default_build.state)
    assert "data tests" in closing and "unit test" not in closing, closing


def test_campaign_marts_equal_the_reference_and_the_manifest(default_build, default_tables):
    """campaign_ab_outcomes equals the pandas reference on the landed files; the results
    have each campaign's arm sizes of the manifest, and the win-back campaign's treated
    conversion (its lapsed customers buy only because of it) is the manifest's true uplift."""
    from lgs_analytics.reference.campaigns import campaign_outcomes, load_sales_lines

    crm = default_build.state / "raw" / "campaign_assignments"
    assignments = pd.read_csv(crm / "part-00000.csv", dtype=str)
    keys = ["campaign_id", "customer_id"]
    expected = campaign_outcomes(load_sales_lines(default_build.raw), assignments, 30)
    expected = expected.sort_values(keys, ignore_index=True)
    outcomes = default_tables["lgs_marts.campaign_ab_outcomes"]
    outcomes = outcomes.sort_values(keys, ignore_index=True)
    columns = [*keys, "variant"]
    assert outcomes[columns].values.tolist() == expected[columns].values.tolist()
    assert outcomes["converted"].tolist() == expected["converted"].tolist()
    for column in ("revenue", "pre_period_revenue"):
        ours, theirs = outcomes[column].astype(float), expected[column].astype(float)
        assert np.allclose(ours, theirs, rtol=0, atol=1e-6), column
    results = default_tables["lgs_marts.campaign_ab_results"]
    campaigns = default_build.manifest["campaigns"]
    assert len(results) == 2 * len(campaigns) == 6
    for campaign in campaigns:
        rows = results[results["campaign_id"] == campaign["campaign_id"]]
        assert set(rows["n_treatment"]) == {campaign["n_treatment"]}
        assert set(rows["n_control"]) == {campaign["n_control"]}
        if campaign["segment"] == "at_risk":
            conversion = rows[rows["metric"] == "conversion"].iloc[0]
            truth = campaign["true_uplift"]["conversion"]
            assert conversion["treatment_mean"] == pytest.approx(truth)
