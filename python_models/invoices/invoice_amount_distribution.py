"""Distribution of invoice amounts for all invoices and for those at or below the threshold.

Two rows, ``population`` = ``all_invoices`` and ``at_or_below_threshold`` (``is_outlier`` is
false): count, min, max, mean, median, mode (the most frequent amount, the smallest on
ties) and the exact percentile of that population at ``outlier_percentile``. Both rows are
always present; the statistics of an empty population are null.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``outlier_percentile``: the percentile, between 0 and 1 (default 0.85); the same value
  ``invoice_amounts`` used for its threshold.
"""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf

POPULATIONS = ("all_invoices", "at_or_below_threshold")


def parse_percentile(value: object) -> float:
    """The configured percentile as a float in [0, 1]."""
    try:
        percentile = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"outlier_percentile must be a number, got {value!r}") from error
    if not 0.0 <= percentile <= 1.0:
        raise ValueError(f"outlier_percentile must be between 0 and 1, got {value!r}")
    return percentile


def populations(invoice_amounts: DataFrame) -> DataFrame:
    """(population, invoice_amount): every invoice once per population it belongs to."""
    everything = invoice_amounts.select(
        sf.lit(POPULATIONS[0]).alias("population"), "invoice_amount"
    )
    kept = invoice_amounts.where(~sf.col("is_outlier")).select(
        sf.lit(POPULATIONS[1]).alias("population"), "invoice_amount"
    )
    return everything.unionByName(kept)


def mode_amounts(amounts: DataFrame) -> DataFrame:
    """(population, mode_amount): most frequent amount per population, smallest on ties."""
    counts = amounts.groupBy("population", "invoice_amount").count()
    most_frequent_first = Window.partitionBy("population").orderBy(
        sf.desc("count"), sf.asc("invoice_amount")
    )
    return (
        counts.withColumn("position", sf.row_number().over(most_frequent_first))
        .where(sf.col("position") == 1)
        .select("population", sf.col("invoice_amount").cast("double").alias("mode_amount"))
    )


def amount_distribution(invoice_amounts: DataFrame, percentile: float) -> DataFrame:
    """The two population rows of the model."""
    amounts = populations(invoice_amounts)
    statistics = amounts.groupBy("population").agg(
        sf.count("*").alias("invoice_count"),
        sf.min("invoice_amount").cast("double").alias("min_amount"),
        sf.max("invoice_amount").cast("double").alias("max_amount"),
        # The exact sum rounded once to a double, then divided: no decimal rounding of avg().
        (sf.sum("invoice_amount").cast("double") / sf.count("*")).alias("mean_amount"),
        sf.expr("percentile(invoice_amount, 0.5)").alias("median_amount"),
        sf.expr(f"percentile(invoice_amount, {percentile!r})").alias("p85_amount"),
    )
    names = invoice_amounts.sparkSession.createDataFrame(
        [(name,) for name in POPULATIONS], "population string"
    )
    rows = names.join(statistics, on="population", how="left").join(
        mode_amounts(amounts), on="population", how="left"
    )
    return rows.select(
        "population",
        sf.coalesce(sf.col("invoice_count"), sf.lit(0)).cast("bigint").alias("invoice_count"),
        "min_amount",
        "max_amount",
        "mean_amount",
        sf.col("median_amount").cast("double").alias("median_amount"),
        "mode_amount",
        sf.col("p85_amount").cast("double").alias("p85_amount"),
        sf.lit(percentile).cast("double").alias("percentile"),
    )


def model(dbt, session):
    percentile = parse_percentile(dbt.config.meta_get("outlier_percentile", 0.85))
    return amount_distribution(dbt.ref("invoice_amounts"), percentile)
