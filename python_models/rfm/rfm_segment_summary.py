"""Customers, revenue and averages per RFM segment: one row for each segment of the seed.

Segments without customers keep their row with zero customers, zero revenue and zero shares;
their averages are null, since an average over no customers is undefined.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf


def _share_pct(part: Column, total: Column) -> Column:
    """part / total * 100 as a double; null when the total is zero or null."""
    return sf.when(total > 0, part.cast("double") / total.cast("double") * 100)


def segment_summary(scores: DataFrame, segments: DataFrame) -> DataFrame:
    """Aggregate ``customer_rfm_scores`` by segment onto the ``rfm_segments`` seed."""
    per_segment = scores.groupBy("segment").agg(
        sf.count("*").alias("customers"),
        sf.sum("monetary").alias("revenue"),
        sf.avg("recency_days").alias("avg_recency_days"),
        sf.avg("frequency").alias("avg_frequency"),
        (sf.sum("monetary").cast("double") / sf.count("*")).alias("avg_monetary"),
    )
    totals = scores.agg(
        sf.count("*").alias("total_customers"),
        sf.sum("monetary").alias("total_revenue"),
    )
    catalogue = segments.select(
        sf.col("segment").cast("string").alias("segment"),
        sf.col("segment_rank").cast("int").alias("segment_rank"),
        sf.col("description").cast("string").alias("description"),
    )
    joined = catalogue.join(per_segment, on="segment", how="left").crossJoin(sf.broadcast(totals))
    customers = sf.coalesce(sf.col("customers"), sf.lit(0)).cast("bigint")
    revenue = sf.coalesce(sf.col("revenue"), sf.lit(0)).cast("decimal(18,3)")
    return joined.select(
        "segment",
        "segment_rank",
        "description",
        customers.alias("customers"),
        _share_pct(customers, sf.col("total_customers")).alias("customer_share_pct"),
        revenue.alias("revenue"),
        _share_pct(revenue, sf.col("total_revenue")).alias("revenue_share_pct"),
        sf.col("avg_recency_days").cast("double").alias("avg_recency_days"),
        sf.col("avg_frequency").cast("double").alias("avg_frequency"),
        sf.col("avg_monetary").cast("double").alias("avg_monetary"),
    )


def model(dbt, session):
    scores = dbt.ref("customer_rfm_scores")
    segments = dbt.ref("rfm_segments")
    return segment_summary(scores, segments)
