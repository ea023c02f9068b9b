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
