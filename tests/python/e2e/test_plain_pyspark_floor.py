"""The benchmark's plain PySpark script computes exactly the marts of the dbt build.

The benchmark divides the `dbt build` by ``benchmarks/plain_pyspark_marts.py``: that ratio
is dbt's overhead only if the script computes the same marts. Here the script runs on the
raw files of the malformed-row dataset (every quarantine kind injected) and each of its
tables, DEFINITIONS §2–§6, is compared with the table the dbt build wrote, read back through the
metastore by a new process: keys, counts, decimals and strings exactly, doubles to 1e-6
relative (CLV's fit and the silhouettes sum in Spark's order, which may differ).
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from lgs_testing import PROJECT_ROOT

pytestmark = pytest.mark.e2e

# Mart -> the columns that identify a row (the dbt models' unique keys).
KEYS: dict[str, list[str]] = {
    "monthly_sales": ["year_month"],
    "monthly_orders": ["year_month"],
    "monthly_active_users": ["year_month"],
    "monthly_new_existing_users": ["year_month"],
    "customer_rfm_scores": ["customer_id"],
    "customer_rfm_month_end": ["month_end", "customer_id"],
    "rfm_segment_transitions": ["year_month", "from_segment", "to_segment"],
    "rfm_segment_summary": ["segment"],
    "invoice_amounts": ["invoice_id"],
    "invoice_amount_distribution": ["population"],
    "invoice_amount_histogram": ["bin_index"],
    "dim_products": ["stock_code"],
    "sku_monthly_sales": ["stock_code", "year_month"],
    "sku_seasonality": ["stock_code", "calendar_month"],
    "sku_trend_rankings": ["trend_direction", "trend_rank"],
    "customer_lifetime_value": ["customer_id"],
    "clv_model_evaluation": ["frequency_bucket"],
    "clv_tier_summary": ["clv_tier"],
    "kmeans_model_selection": ["k"],
    "customer_kmeans_clusters": ["customer_id"],
    "kmeans_cluster_profiles": ["cluster_id", "segment"],
    "association_rules": ["rule_rank"],
    "product_recommendations": ["stock_code", "recommendation_rank"],
    "campaign_ab_outcomes": ["campaign_id", "customer_id"],
    "campaign_ab_power": ["campaign_id", "metric"],
    "campaign_ab_results": ["campaign_id", "metric"],
}
RELATIVE_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def plain_tables(malformed_build, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every table of the plain script (``--marts all``) on the malformed dataset's raw files."""
    out = tmp_path_factory.mktemp("plain") / "out"
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "plain_pyspark_marts.py"),
            "--raw",
            str(malformed_build.raw),
            "--out",
            str(out),
            "--marts",
            "all",
        ],
        cwd=PROJECT_ROOT,
        env={**malformed_build.env, "LGS_STATE_DIR": str(out.parent / "state")},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    timings = json.loads((out / "_timings.json").read_text())
    return {
        "timings": timings,
        "tables": {name: pd.read_parquet(out / name) for name in timings["tables_s"]},
    }


ARRAYS = (list, tuple, np.ndarray)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, ARRAYS) and bool(pd.isna(value)))


def _same(ours: object, theirs: object) -> bool:
    """Equal values: floats to RELATIVE_TOLERANCE, arrays element-wise, the rest exactly."""
    if isinstance(ours, ARRAYS) and isinstance(theirs, ARRAYS):
        return len(ours) == len(theirs) and all(
            _same(a, b) for a, b in zip(ours, theirs, strict=True)
        )
    if _missing(ours) or _missing(theirs):
        return _missing(ours) and _missing(theirs)
    if isinstance(ours, (float, np.floating)) or isinstance(theirs, (float, np.floating)):
        return bool(np.isclose(float(ours), float(theirs), rtol=RELATIVE_TOLERANCE, atol=1e-12))
    if isinstance(ours, Decimal) or isinstance(theirs, Decimal):
        return Decimal(str(ours)) == Decimal(str(theirs))
    return ours == theirs


def test_the_script_writes_every_mart_of_the_build(plain_tables, malformed_tables):
    written = set(plain_tables["tables"]) - {"staging_counts"}
    built = {name.split(".", 1)[1] for name in malformed_tables if name.startswith("lgs_marts.")}
    assert written == set(KEYS)
    # Every mart of the build is computed by the floor, so the ratio compares like with like.
    assert built == written, (
        f"only in dbt: {built - written}; only in the script: {written - built}"
    )
    assert plain_tables["timings"]["marts"] == "all"


@pytest.mark.parametrize("table", sorted(KEYS))
def test_each_mart_equals_the_dbt_table(plain_tables, malformed_tables, table):
    keys = KEYS[table]
    ours = plain_tables["tables"][table].sort_values(keys).reset_index(drop=True)
    theirs = malformed_tables[f"lgs_marts.{table}"].sort_values(keys).reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    assert len(ours) == len(theirs)
    assert len(ours) > 0, f"{table} is empty on this dataset: nothing would be compared"
    for column in ours.columns:
        differing = [
            (index, a, b)
            for index, (a, b) in enumerate(zip(ours[column], theirs[column], strict=True))
            if not _same(a, b)
        ]
        assert not differing, (
            f"{table}.{column}: {len(differing)} rows differ, e.g. {differing[:3]}"
        )
