"""Invoice amounts and the outlier flag (DEFINITIONS §5), one row per invoice with a sales line.

``invoice_amount`` is the exact sum of ``line_amount`` over the invoice's sales lines. The
threshold is the exact percentile (linear interpolation, Spark's ``percentile``, never
``percentile_approx``) of the amounts of all invoices; an invoice is an outlier when its
amount is strictly above it, so an invoice exactly at the threshold is not.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``outlier_percentile``: the percentile, between 0 and 1 (default 0.85).
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf


def parse_percentile(value: object) -> float:
    """The configured percentile as a float in [0, 1]."""
    try:
        percentile = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"outlier_percentile must be a number, got {value!r}") from error
    if not 0.0 <= percentile <= 1.0:
        raise ValueError(f"outlier_percentile must be between 0 and 1, got {value!r}")
    return percentile


def invoice_totals(sales_lines: DataFrame) -> DataFrame:
    """Amount, line count, customer, country and time of each invoice with a sales line.

    Customer, country and time are the same on every line of a real invoice; min() keeps
    the result deterministic if a file ever disagrees with itself.
    """
    return sales_lines.groupBy("invoice_id").agg(
        sf.min("customer_id").alias("customer_id"),
        sf.min("country").alias("country"),
        sf.sum("line_amount").cast("decimal(18,3)").alias("invoice_amount"),
        sf.count("*").alias("line_count"),
        sf.min("invoice_date").alias("invoice_date"),
        sf.min("invoiced_at").alias("invoiced_at"),
    )


def flag_outliers(invoices: DataFrame, percentile: float) -> DataFrame:
    """Add the exact ``percentile`` threshold of all amounts and ``is_outlier`` (> threshold)."""
    threshold = invoices.agg(
        sf.expr(f"percentile(invoice_amount, {percentile!r})").alias("outlier_threshold")
    )
    flagged = invoices.crossJoin(sf.broadcast(threshold))
    return flagged.select(
        "invoice_id",
        "customer_id",
        "country",
        "invoice_amount",
        sf.col("line_count").cast("bigint").alias("line_count"),
        (sf.col("invoice_amount") > sf.col("outlier_threshold")).alias("is_outlier"),
        sf.col("outlier_threshold").cast("double").alias("outlier_threshold"),
        "invoice_date",
        "invoiced_at",
    )


def invoice_amounts(sales_lines: DataFrame, percentile: float) -> DataFrame:
    """The whole model: totals per invoice, then the outlier flag."""
    return flag_outliers(invoice_totals(sales_lines), percentile)


def model(dbt, session):
    percentile = parse_percentile(dbt.config.meta_get("outlier_percentile", 0.85))
    sales_lines = dbt.ref("int_sales_lines_filtered")
    return invoice_amounts(sales_lines, percentile)
