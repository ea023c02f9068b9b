"""RFM scores and segment per customer (DEFINITIONS §4), one row per customer with a sales line.

This file is two models: ``customer_rfm_scores`` and, through the symbolic link
``customer_rfm_month_end.py`` next to it, ``customer_rfm_month_end`` (every customer's scores
and segment as of every month end, DEFINITIONS §6). A dbt Python model cannot import
another model or the project's code, so the month-end model is this file, and ``model()``
picks the table by the model's name: both tables are scored by the same functions.

Scores follow pandas ``qcut(q=5)`` semantics: the inner quintile edges e1..e4 are exact
percentiles with linear interpolation (Spark's ``percentile``, not ``percentile_approx``),
bins are right-inclusive and the minimum falls in bin 1, i.e. ``bin = 1 + #{k : value > e_k}``.
When edges coincide (many equal values), pandas' ``qcut`` with labels raises; the formula is
still defined and is what this model uses (some scores are then simply never given).

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``rfm_reference_date``: "" (default) for the day after the last purchase date of the scored
  customers, so the latest buyers have recency 1; otherwise a ``yyyy-mm-dd`` date. Not used
  by ``customer_rfm_month_end``, whose reference date is the day after each month end.
"""

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf

QUINTILE_PERCENTAGES = "array(0.2, 0.4, 0.6, 0.8)"
MONTH_END_MODEL = "customer_rfm_month_end"


def parse_reference_date(value: object) -> dt.date | None:
    """The configured reference date, or None for the default (day after the last purchase)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as error:
        raise ValueError(
            f"rfm_reference_date must be empty or a yyyy-mm-dd date, got {value!r}"
        ) from error


def quintile_edges(column: str) -> Column:
    """Exact inner quintile edges e1..e4 of ``column`` (array of 4 doubles), an aggregate."""
    return sf.expr(f"percentile(`{column}`, {QUINTILE_PERCENTAGES})")


def quintile_bin(value: Column, edges: Column) -> Column:
    """1–5: one plus the number of edges strictly below ``value`` (qcut's right-closed bins)."""
    return (sf.lit(1) + sf.size(sf.filter(edges, lambda edge: value > edge))).cast("int")


def customer_metrics(sales_lines: DataFrame, reference_date: dt.date | None) -> DataFrame:
    """Recency, frequency, monetary and frequency rank per customer with a sales line.

    ``sales_lines`` has the columns of ``int_sales_lines_filtered`` (sales lines only);
    lines without a customer id are ignored.
    """
    customers = (
        sales_lines.where(sf.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            sf.max("invoice_date").alias("last_purchase_date"),
            sf.countDistinct("invoice_id").alias("frequency"),
            sf.sum("line_amount").cast("decimal(18,3)").alias("monetary"),
        )
    )
    if reference_date is None:
        reference = customers.agg(
            sf.date_add(sf.max("last_purchase_date"), 1).alias("reference_date")
        )
        customers = customers.crossJoin(sf.broadcast(reference))
    else:
        customers = customers.withColumn("reference_date", sf.lit(reference_date))
    # One row per customer (thousands of rows): a single global ordering is cheap, and it is
    # exactly pandas' rank(method="first") on data sorted by customer_id.
    by_frequency_then_id = Window.orderBy("frequency", "customer_id")
    return customers.select(
        "customer_id",
        sf.datediff("reference_date", "last_purchase_date").alias("recency_days"),
        "frequency",
        "monetary",
        sf.row_number().over(by_frequency_then_id).cast("bigint").alias("frequency_rank"),
        "last_purchase_date",
        "reference_date",
    )


def score_customers(metrics: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Add r_score (most recent = 5), f_score (on frequency_rank), m_score and rfm_score.

    The quintile edges are computed over all rows, or per group of the ``by`` columns (one
    month end of ``customer_rfm_month_end``): each group is scored as if it were alone.
    """
    edges = {
        "recency_edges": quintile_edges("recency_days"),
        "frequency_rank_edges": quintile_edges("frequency_rank"),
        "monetary_edges": quintile_edges("monetary"),
    }
    if by:
        # Window aggregates: the metrics are computed once, not once more for a join.
        group = Window.partitionBy(*by)
        with_edges = metrics.select(
            *metrics.columns, *[edge.over(group).alias(name) for name, edge in edges.items()]
        )
    else:
        aggregated = metrics.agg(*[edge.alias(name) for name, edge in edges.items()])
        with_edges = metrics.crossJoin(sf.broadcast(aggregated))
    scored = with_edges.select(
        *metrics.columns,
        (6 - quintile_bin(sf.col("recency_days"), sf.col("recency_edges")))
        .cast("int")
        .alias("r_score"),
        quintile_bin(sf.col("frequency_rank"), sf.col("frequency_rank_edges")).alias("f_score"),
        quintile_bin(sf.col("monetary"), sf.col("monetary_edges")).alias("m_score"),
    )
    return scored.withColumn(
        "rfm_score",
        sf.concat(
            sf.col("r_score").cast("string"),
            sf.col("f_score").cast("string"),
            sf.col("m_score").cast("string"),
        ),
    )


def assign_segments(
    scores: DataFrame, segment_map: DataFrame, by: tuple[str, ...] = ()
) -> DataFrame:
    """Segment from the (r_score, f_score) map seed; a left join keeps unmapped customers.

    The ``by`` columns (as given to ``score_customers``) come first in the result.
    """
    segments = segment_map.select(
        sf.col("r_score").cast("int").alias("r_score"),
        sf.col("f_score").cast("int").alias("f_score"),
        sf.col("segment").cast("string").alias("segment"),
    )
    joined = scores.join(sf.broadcast(segments), on=["r_score", "f_score"], how="left")
    return joined.select(
        *by,
        sf.col("customer_id").cast("string").alias("customer_id"),
        "segment",
        "rfm_score",
        sf.col("recency_days").cast("int").alias("recency_days"),
        sf.col("frequency").cast("bigint").alias("frequency"),
        "monetary",
        "frequency_rank",
        "r_score",
        "f_score",
        "m_score",
        "last_purchase_date",
        "reference_date",
    )


def customer_rfm_scores(
    sales_lines: DataFrame, segment_map: DataFrame, reference_date: dt.date | None = None
) -> DataFrame:
    """The whole model: metrics, scores, segment."""
    metrics = customer_metrics(sales_lines, reference_date)
    return assign_segments(score_customers(metrics), segment_map)


def month_end_metrics(sales_lines: DataFrame) -> DataFrame:
    """``customer_metrics`` as of every month end, from the customer's first month on.

    One row per customer and calendar month end from the customer's first purchase month to
    the last month of the lines (months without any purchase included), computed on the
    lines dated up to that month end; the reference date is the day after the month end.
    One pass: per customer and month, then running totals per customer, so the cost grows
    with customers × months, not with the lines × months.
    """
    lines = sales_lines.where(sf.col("customer_id").isNotNull()).withColumn(
        "month_end", sf.last_day("invoice_date")
    )
    months = lines.groupBy("customer_id", "month_end").agg(
        sf.max("invoice_date").alias("month_last_purchase_date"),
        sf.sum("line_amount").alias("month_amount"),
    )
    # An invoice counts from the month of its first line on (countDistinct up to a date).
    invoices = (
        lines.groupBy("customer_id", "invoice_id")
        .agg(sf.last_day(sf.min("invoice_date")).alias("month_end"))
        .groupBy("customer_id", "month_end")
        .agg(sf.count(sf.lit(1)).alias("month_invoices"))
    )
    bounds = months.agg(
        sf.trunc(sf.min("month_end"), "MM").alias("first_month"),
        sf.trunc(sf.max("month_end"), "MM").alias("last_month"),
    )
    month_ends = bounds.select(
        sf.explode(
            sf.expr(
                "transform(sequence(first_month, last_month, interval 1 month), m -> last_day(m))"
            )
        ).alias("month_end")
    )
    first_months = months.groupBy("customer_id").agg(sf.min("month_end").alias("first_month_end"))
    grid = (
        first_months.crossJoin(sf.broadcast(month_ends))
        .where(sf.col("month_end") >= sf.col("first_month_end"))
        .join(months, on=["customer_id", "month_end"], how="left")
        .join(invoices, on=["customer_id", "month_end"], how="left")
    )
    to_date = (
        Window.partitionBy("customer_id")
        .orderBy("month_end")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    running = grid.select(
        "month_end",
        "customer_id",
        sf.max("month_last_purchase_date").over(to_date).alias("last_purchase_date"),
        sf.sum(sf.coalesce("month_invoices", sf.lit(0))).over(to_date).alias("frequency"),
        sf.sum(sf.coalesce("month_amount", sf.lit(0))).over(to_date).alias("monetary"),
        sf.date_add("month_end", 1).alias("reference_date"),
    )
    by_frequency_then_id = Window.partitionBy("month_end").orderBy("frequency", "customer_id")
    return running.select(
        "month_end",
        "customer_id",
        sf.datediff("reference_date", "last_purchase_date").alias("recency_days"),
        sf.col("frequency").cast("bigint").alias("frequency"),
        sf.col("monetary").cast("decimal(18,3)").alias("monetary"),
        sf.row_number().over(by_frequency_then_id).cast("bigint").alias("frequency_rank"),
        "last_purchase_date",
        "reference_date",
    )


def customer_rfm_month_end(sales_lines: DataFrame, segment_map: DataFrame) -> DataFrame:
    """The month-end model: the scores and segment of ``customer_rfm_scores`` per month end."""
    by_month_end = ("month_end",)
    metrics = month_end_metrics(sales_lines)
    segments = assign_segments(score_customers(metrics, by_month_end), segment_map, by_month_end)
    year_month = sf.date_format("month_end", "yyyyMM").cast("int").alias("year_month")
    return segments.select(year_month, *segments.columns)


def model(dbt, session):
    reference_date = parse_reference_date(dbt.config.meta_get("rfm_reference_date", ""))
    sales_lines = dbt.ref("int_sales_lines_filtered")
    segment_map = dbt.ref("rfm_segment_map")
    if dbt.this.identifier == MONTH_END_MODEL:
        return customer_rfm_month_end(sales_lines, segment_map)
    return customer_rfm_scores(sales_lines, segment_map, reference_date)
