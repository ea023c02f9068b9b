"""The project's marts in one plain PySpark script: the floor for Spark in the benchmark.

    .venv/bin/python benchmarks/plain_pyspark_marts.py --raw RAW_DIR --out OUT_DIR
        [--marts all|spec]

Reads the raw CSV landing zone with the options of the raw table
(``macros/register_raw_source.sql``), applies the staging rules of
``stg_online_retail__rows_parsed`` and ``stg_online_retail__transactions`` (parse, quarantine
reason, exact-duplicate removal, flags), computes every mart of the dbt project (``all``,
the default: DEFINITIONS §2–§6, the §6 ones in ``plain_beyond_marts.py``) or those of
DEFINITIONS §2–§5 (``spec``, what the build computes without its models tagged
``beyond``), and writes each as parquet under OUT_DIR, with ``_timings.json`` (session
start, compute, per table).

The Spark session has the settings of the profile's ``local`` target
(``session_parameters``) minus the Hive metastore: no catalog, no tables, no tests, no
intermediate tables written. That is the least any Spark job computing these marts pays,
so ``dbt build`` divided by this is dbt's (and the catalog's) overhead.

Where this differs from the dbt models, it is to be cheaper, never to change a result:
- exact duplicates are removed by grouping the raw fields once (with their count), and the
  row is parsed afterwards, instead of a window over a SHA-256 of the fields;
- staged rows stay in Spark's cache, projected to the columns the marts use, instead of a
  parquet table read back by every downstream model;
- the quarantine is counted, not written (only its count matters to the marts' balance).
The Python-model marts (RFM, invoice outliers, CLV, K-Means, association rules) call the
pure functions of the dbt Python models themselves (``python_models/``), with the vars of
``dbt_project.yml``, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as sf
from pyspark.storagelevel import StorageLevel

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEEDS = PROJECT_ROOT / "seeds"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # plain_beyond_marts.py
from plain_beyond_marts import beyond_marts, campaign_marts, growth_pct, project_vars  # noqa: E402
from plain_rfm_transitions import rfm_transition_marts  # noqa: E402

# What the script computes: every mart of the dbt build, or those of DEFINITIONS §2–§5 (the
# build without the models tagged `beyond`).
MART_SETS = ("all", "spec")

try:
    from lgs_analytics.devtools.python_models import load_python_model
    from lgs_analytics.landing.raw_layout import RAW_CSV_OPTIONS
    from lgs_analytics.runtime.paths import ProjectPaths
    from lgs_analytics.runtime.spark_session import session_parameters
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from lgs_analytics.devtools.python_models import load_python_model
    from lgs_analytics.landing.raw_layout import RAW_CSV_OPTIONS
    from lgs_analytics.runtime.paths import ProjectPaths
    from lgs_analytics.runtime.spark_session import session_parameters

RAW_SCHEMA = (
    "`Invoice` string, `StockCode` string, `Description` string, `Quantity` string, "
    "`InvoiceDate` string, `Price` string, `Customer ID` string, `Country` string, "
    "`_corrupt_record` string"
)
# Raw field -> name in staging: Spark resolves names case-insensitively, so the raw
# `Quantity` must be renamed before the parsed `quantity` exists (as the staging SQL does).
RAW_FIELDS = {
    "Invoice": "raw_invoice",
    "StockCode": "raw_stock_code",
    "Description": "raw_description",
    "Quantity": "raw_quantity",
    "InvoiceDate": "raw_invoice_date",
    "Price": "raw_price",
    "Customer ID": "raw_customer_id",
    "Country": "raw_country",
    "_corrupt_record": "raw_record",
}
# The options of the raw table (macros/register_raw_source.sql), so rows split identically.
# Metastore settings make no sense without Hive; everything else is the local target's.
HIVE_ONLY_PREFIXES = ("spark.hadoop.javax.jdo.", "spark.hadoop.hive.", "spark.hadoop.datanucleus.")

# SQL expressions copied from models/staging/online_retail/stg_online_retail__rows_parsed.sql:
# the same text, so the same parse and the same first quarantine reason for every row.
TRIMMED = {
    "invoice_id": "upper(trim(raw_invoice))",
    "stock_code": "trim(raw_stock_code)",
    "quantity_text": "trim(raw_quantity)",
    "invoice_date_text": "trim(raw_invoice_date)",
    "price_text": "trim(raw_price)",
    "customer_id_text": "nullif(trim(raw_customer_id), '')",
    "country": "nullif(trim(raw_country), '')",
    "description": "nullif(trim(raw_description), '')",
}
PARSED = {
    "quantity": "case when quantity_text rlike '^[+-]?[0-9]+$' "
    "then try_cast(quantity_text as int) end",
    "unit_price": "case when price_text rlike '^[+-]?[0-9]+([.][0-9]{1,3}0*)?$' "
    "then try_cast(price_text as decimal(12, 3)) end",
    "invoiced_at": "case when invoice_date_text "
    "rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' "
    "then to_timestamp(invoice_date_text, 'yyyy-MM-dd HH:mm:ss') end",
}
QUARANTINE_REASON = """
    case
        when raw_record is not null then 'wrong_column_count'
        when instr(
            concat_ws('', raw_invoice, raw_stock_code, raw_description, raw_quantity,
                raw_invoice_date, raw_price, raw_customer_id, raw_country),
            decode(unhex('EFBFBD'), 'UTF-8')
        ) > 0 then 'invalid_encoding'
        when coalesce(invoice_id, '') = '' then 'missing_invoice'
        when coalesce(stock_code, '') = '' then 'missing_stock_code'
        when not invoice_id rlike '^[A-Z]?[0-9]+$' then 'invalid_invoice_id'
        when quantity is null then 'unparseable_quantity'
        when invoiced_at is null then 'unparseable_invoice_date'
        when invoiced_at < timestamp '2000-01-01 00:00:00'
            or invoiced_at >= timestamp '2100-01-01 00:00:00' then 'invoice_date_out_of_range'
        when unit_price is null then 'unparseable_price'
        when abs(cast(quantity as decimal(10, 0)) * unit_price) >= 1e15
            then 'line_amount_out_of_range'
        when customer_id_text is not null
            and not customer_id_text rlike '^[0-9]+([.]0+)?$' then 'unparseable_customer_id'
    end
"""


def spark_settings(target: str = "local") -> dict[str, str]:
    """The target's Spark settings from the profile, without the Hive metastore ones."""
    parameters = session_parameters(ProjectPaths.discover(PROJECT_ROOT), target)
    return {
        key: value
        for key, value in parameters.items()
        if not key.startswith(HIVE_ONLY_PREFIXES) and key != "spark.sql.catalogImplementation"
    }


def start_session(target: str = "local") -> SparkSession:
    """A SparkSession (in-memory catalog) configured like the dbt target."""
    from dbt.adapters.sparkplus.class_sharing import share_classes

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    share_classes(os.environ)  # as dbt's session and the project's tools do
    # The profile's relative paths (log4j configuration) are relative to the project root.
    os.chdir(PROJECT_ROOT)
    builder = SparkSession.builder
    for key, value in spark_settings(target).items():
        builder = builder.config(key, value)
    return builder.appName("lgs-plain-pyspark").getOrCreate()


def _seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def service_code_filter(stock_code: str = "stock_code") -> Any:
    """``is_service_code``: an exact code of the seed, or a code starting with a prefix."""
    rows = _seed_rows("service_stock_codes")
    exact = [row["stock_code"] for row in rows if row["match_type"] == "exact"]
    prefixes = [row["stock_code"] for row in rows if row["match_type"] == "prefix"]
    condition = sf.col(stock_code).isin(exact)
    for prefix in prefixes:
        condition = condition | sf.col(stock_code).startswith(prefix)
    return sf.coalesce(condition, sf.lit(False))


def read_raw(spark: SparkSession, raw_dir: Path) -> DataFrame:
    """The landing zone as the raw table reads it: eight strings and the corrupt record."""
    return spark.read.schema(RAW_SCHEMA).options(**RAW_CSV_OPTIONS).csv(str(raw_dir))


def staged_rows(raw: DataFrame) -> DataFrame:
    """One row per distinct raw row with its copy count, parse, reason and staging columns.

    Rows with a quarantine reason keep their reason and count; readable rows carry the
    typed columns of ``stg_online_retail__transactions`` that the marts use.
    """
    renamed = raw.select(*[sf.col(f"`{name}`").alias(alias) for name, alias in RAW_FIELDS.items()])
    distinct = renamed.groupBy(*RAW_FIELDS.values()).agg(sf.count(sf.lit(1)).alias("copies"))
    trimmed = distinct.select("*", *[sf.expr(sql).alias(name) for name, sql in TRIMMED.items()])
    parsed = trimmed.select("*", *[sf.expr(sql).alias(name) for name, sql in PARSED.items()])
    classified = parsed.withColumn("quarantine_reason", sf.expr(QUARANTINE_REASON))
    is_cancellation = sf.col("invoice_id").startswith("C")
    is_adjustment = sf.col("invoice_id").startswith("A")
    is_service_code = service_code_filter()
    return classified.select(
        "quarantine_reason",
        sf.col("copies").cast("bigint").alias("copies"),
        "invoice_id",
        "stock_code",
        "description",
        "quantity",
        sf.regexp_extract("customer_id_text", "^([0-9]+)", 1).alias("customer_id"),
        "country",
        sf.expr("cast(quantity * unit_price as decimal(18, 3))").alias("line_amount"),
        is_cancellation.alias("is_cancellation"),
        is_adjustment.alias("is_adjustment"),
        sf.col("customer_id_text").isNotNull().alias("has_customer"),
        (
            ~is_cancellation
            & ~is_adjustment
            & ~is_service_code
            & (sf.col("quantity") > 0)
            & (sf.col("unit_price") > 0)
        ).alias("is_sales_line"),
        sf.to_date("invoiced_at").alias("invoice_date"),
        sf.expr("cast(date_format(invoiced_at, 'yyyyMM') as int)").alias("year_month"),
        "invoiced_at",
    )


def staging_counts(rows: DataFrame) -> DataFrame:
    """raw rows = staged rows + removed duplicates + quarantined rows (DEFINITIONS §2)."""
    readable = sf.col("quarantine_reason").isNull()
    return rows.agg(
        sf.sum("copies").alias("raw_rows"),
        sf.count_if(readable).cast("bigint").alias("staged_rows"),
        sf.coalesce(sf.sum(sf.when(readable, sf.col("copies") - 1)), sf.lit(0))
        .cast("bigint")
        .alias("removed_duplicates"),
        sf.coalesce(sf.sum(sf.when(~readable, sf.col("copies"))), sf.lit(0))
        .cast("bigint")
        .alias("quarantined_rows"),
    )


def month_spine(transactions: DataFrame) -> DataFrame:
    """``int_months_spined``: every month from the first to the last, the last maybe partial."""
    bounds = transactions.agg(
        sf.min("invoice_date").alias("first_date"), sf.max("invoice_date").alias("last_date")
    )
    months = bounds.select(
        "last_date",
        sf.explode(
            sf.expr(
                "sequence(cast(trunc(first_date, 'MM') as date), "
                "cast(trunc(last_date, 'MM') as date), interval 1 month)"
            )
        ).alias("month_start"),
    )
    return months.select(
        sf.expr("cast(date_format(month_start, 'yyyyMM') as int)").alias("year_month"),
        (
            (sf.col("month_start") == sf.trunc("last_date", "MM"))
            & (sf.col("last_date") < sf.last_day("month_start"))
        ).alias("is_partial_month"),
        "month_start",
    )


def _on_spine(spine: DataFrame, monthly: DataFrame) -> DataFrame:
    return sf.broadcast(spine).join(monthly, on="year_month", how="left")


def _zero(column: str) -> Any:
    return sf.coalesce(sf.col(column), sf.lit(0)).cast("bigint")


def _share_pct(part: str, whole: str) -> Any:
    return sf.when(sf.col(whole) > 0, sf.col(part) / sf.col(whole) * 100).cast("double")


def monthly_sales(spine: DataFrame, sales_lines: DataFrame) -> DataFrame:
    """Sales, previous month's sales and growth %, sales lines per month."""
    monthly = sales_lines.groupBy("year_month").agg(
        sf.sum("line_amount").alias("sales_amount"), sf.count(sf.lit(1)).alias("sales_lines")
    )
    spined = _on_spine(spine, monthly).select(
        "year_month",
        sf.coalesce("sales_amount", sf.lit(0)).cast("decimal(20,3)").alias("sales_amount"),
        _zero("sales_lines").alias("sales_lines"),
        "is_partial_month",
        "month_start",
    )
    # One row per month: a single-partition window is the natural way to see the last month.
    previous = sf.lag("sales_amount").over(Window.orderBy("year_month"))
    with_previous = spined.withColumn("previous_sales_amount", previous)
    growth = growth_pct(sf.col("sales_amount"), sf.col("previous_sales_amount"))
    return with_previous.select(
        sf.col("year_month").cast("int"),
        "sales_amount",
        sf.col("previous_sales_amount").cast("decimal(20,3)"),
        growth.cast("double").alias("sales_growth_pct"),
        "sales_lines",
        "is_partial_month",
        "month_start",
    )


def monthly_orders(spine: DataFrame, transactions: DataFrame) -> DataFrame:
    """Placed (neither C nor A) and cancelled (C) distinct invoices per month."""
    placed = sf.when(~sf.col("is_cancellation") & ~sf.col("is_adjustment"), sf.col("invoice_id"))
    cancelled = sf.when(sf.col("is_cancellation"), sf.col("invoice_id"))
    monthly = transactions.groupBy("year_month").agg(
        sf.count_distinct(placed).alias("placed_orders"),
        sf.count_distinct(cancelled).alias("cancelled_orders"),
    )
    return _on_spine(spine, monthly).select(
        sf.col("year_month").cast("int"),
        _zero("placed_orders").alias("placed_orders"),
        _zero("cancelled_orders").alias("cancelled_orders"),
        _share_pct("cancelled_orders", "placed_orders").alias("cancellation_rate_pct"),
        "is_partial_month",
        "month_start",
    )


def customer_months(sales_lines: DataFrame) -> DataFrame:
    """(customer_id, year_month, is_first_purchase_month) for months with a sales line."""
    active = sales_lines.where("has_customer").select("customer_id", "year_month").distinct()
    first = sf.min("year_month").over(Window.partitionBy("customer_id"))
    return active.select(
        "customer_id", "year_month", (sf.col("year_month") == first).alias("is_first_month")
    )


def monthly_active_users(spine: DataFrame, months: DataFrame) -> DataFrame:
    """Distinct customers with a sales line per month."""
    monthly = months.groupBy("year_month").agg(sf.count(sf.lit(1)).alias("active_users"))
    return _on_spine(spine, monthly).select(
        sf.col("year_month").cast("int"),
        _zero("active_users").alias("active_users"),
        "is_partial_month",
        "month_start",
    )


def monthly_new_existing_users(spine: DataFrame, months: DataFrame) -> DataFrame:
    """New (first purchase month) and existing customers per month; new + existing = MAU."""
    monthly = months.groupBy("year_month").agg(
        sf.count_if("is_first_month").alias("new_users"),
        sf.count_if(~sf.col("is_first_month")).alias("existing_users"),
        sf.count(sf.lit(1)).alias("active_users"),
    )
    return _on_spine(spine, monthly).select(
        sf.col("year_month").cast("int"),
        _zero("new_users").alias("new_users"),
        _zero("existing_users").alias("existing_users"),
        _zero("active_users").alias("active_users"),
        _share_pct("new_users", "active_users").alias("new_user_share_pct"),
        "is_partial_month",
        "month_start",
    )


def seed_frames(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    """The RFM segment map and segment seeds (tiny: read with the csv module)."""
    segment_map = spark.createDataFrame(
        [
            (int(r["r_score"]), int(r["f_score"]), r["segment"])
            for r in _seed_rows("rfm_segment_map")
        ],
        "r_score int, f_score int, segment string",
    )
    segments = spark.createDataFrame(
        [
            (r["segment"], int(r["segment_rank"]), r["description"], r["recommended_action"])
            for r in _seed_rows("rfm_segments")
        ],
        "segment string, segment_rank int, description string, recommended_action string",
    )
    return segment_map, segments


def compute_marts(
    spark: SparkSession, raw_dir: Path, marts: str = "all"
) -> dict[str, Callable[[], DataFrame]]:
    """Every mart of the dbt project (``all``) or those of DEFINITIONS §2–§5 (``spec``), plus the
    staging balance, as builders in dependency order (see ``plain_beyond_marts``).

    Frames reused by several marts are persisted: the staged rows (the only large one), the
    customer months, RFM scores and invoice amounts (one row per customer or invoice).
    """
    if marts not in MART_SETS:
        raise ValueError(f"marts must be one of {', '.join(MART_SETS)}, got {marts!r}")
    variables = project_vars(PROJECT_ROOT)
    rows = staged_rows(read_raw(spark, raw_dir)).persist(StorageLevel.MEMORY_AND_DISK)
    transactions = rows.where(sf.col("quarantine_reason").isNull())
    sales_lines = transactions.where("is_sales_line")
    spine = month_spine(transactions).persist()
    months = customer_months(sales_lines).persist()

    rfm = load_python_model("python_models/rfm/customer_rfm_scores.py")
    summary = load_python_model("python_models/rfm/rfm_segment_summary.py")
    amounts_model = load_python_model("python_models/invoices/invoice_amounts.py")
    distribution = load_python_model("python_models/invoices/invoice_amount_distribution.py")
    histogram = load_python_model("python_models/invoices/invoice_amount_histogram.py")
    segment_map, segments = seed_frames(spark)
    percentile = amounts_model.parse_percentile(variables["outlier_percentile"])
    reference_date = rfm.parse_reference_date(variables["rfm_reference_date"])

    scores = rfm.customer_rfm_scores(sales_lines, segment_map, reference_date).persist()
    amounts = amounts_model.invoice_amounts(sales_lines, percentile).persist()
    frames = {
        "staging_counts": staging_counts(rows),
        "monthly_sales": monthly_sales(spine, sales_lines),
        "monthly_orders": monthly_orders(spine, transactions),
        "monthly_active_users": monthly_active_users(spine, months),
        "monthly_new_existing_users": monthly_new_existing_users(spine, months),
        "customer_rfm_scores": scores,
        "rfm_segment_summary": summary.segment_summary(scores, segments),
        "invoice_amounts": amounts,
        "invoice_amount_distribution": distribution.amount_distribution(amounts, percentile),
        "invoice_amount_histogram": histogram.amount_histogram(
            amounts, histogram.parse_bins(variables["histogram_bins"])
        ),
    }
    builders: dict[str, Callable[[], DataFrame]] = {
        name: (lambda frame=frame: frame) for name, frame in frames.items()
    }
    if marts == "all":
        builders.update(
            beyond_marts(spine, sales_lines, scores, segments, load_python_model, variables)
        )
        builders.update(
            rfm_transition_marts(sales_lines, segment_map, segments, load_python_model, variables)
        )
        # The CRM exports land beside the raw folder (lgs build, lgs generate), or where
        # LGS_CAMPAIGN_RAW_PATH says.
        crm = Path(
            os.environ.get("LGS_CAMPAIGN_RAW_PATH") or raw_dir.parent / "campaign_assignments"
        )
        builders.update(campaign_marts(spark, crm, sales_lines, load_python_model, variables))
    return builders


def run(raw_dir: Path, out_dir: Path, target: str = "local", marts: str = "all") -> dict[str, Any]:
    """Start Spark, compute and write every mart; returns the timings written to the output."""
    started = time.perf_counter()
    spark = start_session(target)
    session_s = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, float] = {}
    compute_started = time.perf_counter()
    for name, build in compute_marts(spark, raw_dir, marts).items():
        table_started = time.perf_counter()
        build().write.mode("overwrite").parquet(str(out_dir / name))
        tables[name] = round(time.perf_counter() - table_started, 3)
    timings = {
        "marts": marts,
        "session_start_s": round(session_s, 3),
        "compute_s": round(time.perf_counter() - compute_started, 3),
        "tables_s": tables,
    }
    spark.stop()
    timings["total_s"] = round(time.perf_counter() - started, 3)
    (out_dir / "_timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    return timings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="raw landing folder (part-*.csv)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for parquet")
    parser.add_argument("--target", default="local", help="profile target to copy settings from")
    parser.add_argument(
        "--marts",
        choices=MART_SETS,
        default="all",
        help="all: every mart of the dbt build; spec: those of DEFINITIONS §2–§5 only",
    )
    args = parser.parse_args(argv)
    timings = run(args.raw.resolve(), args.out.resolve(), args.target, args.marts)
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
