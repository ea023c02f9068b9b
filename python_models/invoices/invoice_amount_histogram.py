"""Histogram of the non-outlier invoice amounts, for plotting (DEFINITIONS §5).

``histogram_bins`` equal-width bins over [min amount, threshold], numbered from 1. Edges are
``lower + k * width`` (the last edge is the threshold itself), exactly as
``numpy.histogram(amounts, bins, range=(min, threshold))`` computes them; a bin holds
``lower <= amount < upper`` except the last, which is closed on the right. Empty bins are
kept with a count of 0. If every non-outlier amount is equal (zero width), all of them are
in bin 1; with no invoices at all the histogram has no rows.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``histogram_bins``: number of bins, a positive integer (default 40).
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf


def parse_bins(value: object) -> int:
    """The configured number of bins as a positive integer."""
    try:
        bins = int(str(value).strip())
    except ValueError as error:
        raise ValueError(f"histogram_bins must be a positive integer, got {value!r}") from error
    if bins < 1:
        raise ValueError(f"histogram_bins must be a positive integer, got {value!r}")
    return bins


def _edge(index: Column) -> Column:
    """Left edge of 0-based bin ``index``: k * width + lower, numpy's linspace arithmetic."""
    return index.cast("double") * sf.col("width") + sf.col("lower")


def amount_histogram(invoice_amounts: DataFrame, bins: int) -> DataFrame:
    """``bins`` rows: bin_index, bin_lower, bin_upper, invoice_count, share_pct."""
    kept = invoice_amounts.where(~sf.col("is_outlier")).select(
        sf.col("invoice_amount").cast("double").alias("amount"), "outlier_threshold"
    )
    bounds = kept.agg(
        sf.min("amount").alias("lower"),
        sf.max("outlier_threshold").alias("upper"),
        sf.count("*").alias("total"),
    ).select(
        "lower",
        "upper",
        "total",
        ((sf.col("upper") - sf.col("lower")) / sf.lit(float(bins))).alias("width"),
    )
    last = sf.lit(bins - 1)

    # A first guess by division, corrected by comparing with the edges themselves (as numpy
    # does), so that every amount lands in the bin whose published edges contain it.
    quotient = sf.floor((sf.col("amount") - sf.col("lower")) / sf.col("width"))
    guess = sf.least(sf.greatest(quotient, sf.lit(0)), last).cast("int")
    below = sf.when(sf.col("amount") < _edge(sf.col("guess")), sf.col("guess") - 1).otherwise(
        sf.col("guess")
    )
    above = sf.when(
        (sf.col("below") < last) & (sf.col("amount") >= _edge(sf.col("below") + 1)),
        sf.col("below") + 1,
    ).otherwise(sf.col("below"))
    located = (
        kept.crossJoin(sf.broadcast(bounds))
        .withColumn("guess", sf.when(sf.col("width") > 0, guess).otherwise(sf.lit(0)))
        .withColumn("below", below)
        .withColumn("bin", sf.when(sf.col("width") > 0, above).otherwise(sf.lit(0)))
    )
    counts = located.groupBy("bin").agg(sf.count("*").alias("invoice_count"))

    all_bins = bounds.where(sf.col("total") > 0).select(
        "*", sf.explode(sf.sequence(sf.lit(0), last)).alias("bin")
    )
    histogram = all_bins.join(counts, on="bin", how="left")
    invoice_count = sf.coalesce(sf.col("invoice_count"), sf.lit(0)).cast("bigint")
    return histogram.select(
        (sf.col("bin") + 1).cast("int").alias("bin_index"),
        _edge(sf.col("bin")).alias("bin_lower"),
        sf.when(sf.col("bin") == last, sf.col("upper"))
        .otherwise(_edge(sf.col("bin") + 1))
        .cast("double")
        .alias("bin_upper"),
        invoice_count.alias("invoice_count"),
        (invoice_count.cast("double") / sf.col("total") * 100).alias("share_pct"),
    )


def model(dbt, session):
    bins = parse_bins(dbt.config.meta_get("histogram_bins", 40))
    return amount_histogram(dbt.ref("invoice_amounts"), bins)
