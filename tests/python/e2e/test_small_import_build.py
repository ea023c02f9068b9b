"""A small real-layout import builds (issue 24 point 5): warnings and reasons, no failed build.

A shop with little history imports the UCI workbook layout (sheets `Year 2009-2010` and
`Year 2010-2011`) with its first 3,000 rows: two days, 108 customers, one with a repeat
purchase day and 50 whose only purchase is on the last day (tenure 0). The build used to
fail in customer_lifetime_value (Gamma-Gamma needs two repeat buyers; with a few more, as
in the issue's 7,861 rows, NaN predicted purchases and CLV). Now it passes: the
CLV rows are not scored with the reason `too_few_repeat_customers`, the build warns with a
test named after the model and the reason, and no NaN is published.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reliability_testing import derby_catalog, lgs, local_path, state_env

pytestmark = pytest.mark.e2e

ROWS = 3_000  # 1-2 December 2009 of the default data
SHEETS = ("Year 2009-2010", "Year 2010-2011")


def small_workbook(folder: Path) -> tuple[Path, pd.DataFrame]:
    """The first ROWS generated rows as the UCI workbook: typed cells, the two year sheets."""
    from lgs_analytics.synthetic.generator import generate

    generate(folder / "generated", rows=1_067_371, seed=42, progress=False)
    text = pd.read_csv(
        folder / "generated" / "part-00000.csv", dtype=str, nrows=ROWS, keep_default_na=False
    )

    def number_or_text(value: str) -> object:
        return int(value) if value.isdigit() else value

    typed = pd.DataFrame(
        {
            "Invoice": text["Invoice"].map(number_or_text).astype(object),
            "StockCode": text["StockCode"].map(number_or_text).astype(object),
            "Description": text["Description"].where(text["Description"] != "", None),
            "Quantity": text["Quantity"].astype(int),
            "InvoiceDate": pd.to_datetime(text["InvoiceDate"]),
            "Price": text["Price"].astype(float),
            "Customer ID": pd.to_numeric(text["Customer ID"], errors="coerce"),
            "Country": text["Country"],
        }
    )
    book = folder / "online_retail_II.xlsx"
    split = ROWS * 2 // 3
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        typed.iloc[:split].to_excel(writer, sheet_name=SHEETS[0], index=False)
        typed.iloc[split:].to_excel(writer, sheet_name=SHEETS[1], index=False)
    return book, typed


def test_a_small_import_builds_with_warnings_and_reasons(tmp_path):
    book, rows = small_workbook(tmp_path)
    sales = rows[(rows["Quantity"] > 0) & (rows["Price"] > 0) & rows["Customer ID"].notna()]
    days = sales.groupby("Customer ID")["InvoiceDate"].agg(
        lambda moments: moments.dt.normalize().nunique()
    )
    first_day = sales.groupby("Customer ID")["InvoiceDate"].min().dt.normalize()
    # The data is what the test is about: a few repeat buyers, some customers of one day
    # on the last day (tenure 0).
    assert 1 <= (days > 1).sum() < 50
    assert (first_day == first_day.max()).sum() > 0

    env = state_env(tmp_path / "state")
    lgs("import", str(book), env=env).assert_ok()
    build = lgs("build", "--skip-docs", "--skip-report", env=env).assert_ok()
    print(f"small import build: {build.seconds:.0f} s")

    # The warning names the model and the reason; no model of the project warns otherwise
    # (108 customers are enough for K-Means; too few baskets simply give no rules).
    warned = [line for line in build.output.splitlines() if "Warning in test" in line]
    assert any(
        "customer_lifetime_value_not_scored_too_few_repeat_customers" in line for line in warned
    ), warned
    assert not [
        line for line in warned if "python_models/" in line and "too_few_repeat" not in line
    ]
    assert "ERROR=0" in build.output

    # Read as a new reader would, without starting another Spark JVM: the catalog's
    # location of the table (Derby, free once the build ended) and its parquet files.
    entry = derby_catalog(tmp_path / "state")["lgs_marts.customer_lifetime_value"]
    table = pq.read_table(local_path(entry.location))
    reasons = Counter(
        zip(
            table["score_reason"].to_pylist(),
            table["holdout_score_reason"].to_pylist(),
            strict=True,
        )
    )
    assert table.num_rows >= 100
    assert reasons == {("too_few_repeat_customers", "first_purchase_in_holdout"): table.num_rows}
    # Not scored: no CLV at all (null), and no NaN anywhere (a NaN is a value, not a null).
    assert table["clv"].null_count == table.num_rows
    for column in ("clv", "predicted_purchases"):
        assert not pc.any(pc.is_nan(table[column].cast("double"))).as_py(), column
