"""What the K-Means clusters are, compared with the RFM segments (DEFINITIONS §6).

Grain: one row per cluster and RFM segment of the ``rfm_segments`` seed, all segments for
every cluster (a cross-tabulation with zeros, so each cluster's segment mix is complete).
Each row repeats its cluster's profile: size, share of customers, mean recency, frequency
and monetary value, and the dominant segment (the segment with most of the cluster's
customers; the better-ranked segment on a tie) with its share of the cluster. Customers
that ``customer_kmeans_clusters`` could not cluster are left out (no rows when none was).
"""

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf


def _share_pct(part: Column, total: Column) -> Column:
    """part / total * 100 as a double; null when the total is zero or null."""
    return sf.when(total > 0, part.cast("double") / total.cast("double") * 100)


def cluster_profiles(clusters: DataFrame, segments: DataFrame) -> DataFrame:
    """Cross-tabulate ``customer_kmeans_clusters`` by segment and profile each cluster.

    Customers without a cluster (not scored) are left out: no clusters, no rows.
    """
    clusters = clusters.where(sf.col("cluster_id").isNotNull())
    per_cluster = clusters.groupBy("cluster_id").agg(
        sf.count("*").alias("cluster_customers"),
        sf.avg("recency_days").cast("double").alias("avg_recency_days"),
        sf.avg("frequency").cast("double").alias("avg_frequency"),
        sf.avg(sf.col("monetary").cast("double")).alias("avg_monetary"),
    )
    per_cell = clusters.groupBy("cluster_id", "segment").agg(sf.count("*").alias("customers"))
    per_segment = clusters.groupBy("segment").agg(sf.count("*").alias("segment_customers"))
    total = clusters.agg(sf.count("*").alias("total_customers"))
    catalogue = segments.select(
        sf.col("segment").cast("string").alias("segment"),
        sf.col("segment_rank").cast("int").alias("segment_rank"),
    )
    grid = (
        per_cluster.crossJoin(catalogue)
        .join(per_cell, on=["cluster_id", "segment"], how="left")
        .join(per_segment, on="segment", how="left")
        .crossJoin(sf.broadcast(total))
        .withColumn("customers", sf.coalesce(sf.col("customers"), sf.lit(0)).cast("bigint"))
    )
    dominance = Window.partitionBy("cluster_id").orderBy(
        sf.col("customers").desc(), sf.col("segment_rank").asc()
    )
    ranked = grid.withColumn("is_dominant_segment", sf.row_number().over(dominance) == 1)
    dominant = ranked.where(sf.col("is_dominant_segment")).select(
        "cluster_id",
        sf.col("segment").alias("dominant_segment"),
        _share_pct(sf.col("customers"), sf.col("cluster_customers")).alias(
            "dominant_segment_share_pct"
        ),
    )
    return ranked.join(dominant, on="cluster_id", how="inner").select(
        sf.col("cluster_id").cast("int").alias("cluster_id"),
        "segment",
        "dominant_segment",
        "segment_rank",
        sf.col("cluster_customers").cast("bigint").alias("cluster_customers"),
        _share_pct(sf.col("cluster_customers"), sf.col("total_customers")).alias(
            "cluster_share_pct"
        ),
        "avg_recency_days",
        "avg_frequency",
        "avg_monetary",
        "dominant_segment_share_pct",
        "customers",
        _share_pct(sf.col("customers"), sf.col("cluster_customers")).alias("share_of_cluster_pct"),
        _share_pct(sf.col("customers"), sf.col("segment_customers")).alias("share_of_segment_pct"),
        "is_dominant_segment",
    )


def model(dbt, session):
    return cluster_profiles(dbt.ref("customer_kmeans_clusters"), dbt.ref("rfm_segments"))
