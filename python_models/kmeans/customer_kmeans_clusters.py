"""K-Means cluster of every customer (DEFINITIONS §6), k chosen in ``kmeans_model_selection``.

Features: standardised log1p(RFM recency, frequency, monetary) from ``customer_rfm_scores``,
computed exactly as in ``kmeans_model_selection``. The clusters are those the selection
fitted (Spark MLlib KMeans) and scored for the chosen k: its recorded centres, numbered
1..k by value (frequency + monetary - recency in standard units, 1 = the best customers).
Each customer goes to the nearest centre in Euclidean distance, which is what MLlib's
``KMeansModel`` predicts; KMeans is not fitted a second time, so the table cannot drift
from the scored model. An exact tie (a customer equidistant from two centres) goes to the
lower cluster id.

When ``kmeans_model_selection`` has no rows (too few customers or distinct customers to
cluster, see there), no customer is clustered: ``cluster_id``, ``distance_to_centroid`` and
``cluster_count`` are null and ``not_scored_reason`` is ``too_few_customers``.
"""

# The package first: dbt runs models on several threads, and two threads importing
# different pyspark.ml submodules at once deadlock on pyspark.ml's __init__ (Python then
# hands out half-initialised modules). Importing the package takes only its lock.
import pyspark.ml  # noqa: F401
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

FEATURES = ("recency_days", "frequency", "monetary")
SCALED = tuple(f"scaled_{name}" for name in FEATURES)
TOO_FEW_CUSTOMERS = "too_few_customers"


def scaled_features(scores: DataFrame) -> DataFrame:
    """Standardised log1p(R, F, M) per customer, as columns and as the ``features`` vector.

    Kept identical to ``kmeans_model_selection.py`` (a Python model cannot import another
    model); a unit test checks that both give the same features.
    """
    logged = scores.select(
        sf.col("customer_id").cast("string").alias("customer_id"),
        *[sf.log1p(sf.col(name).cast("double")).alias(name) for name in FEATURES],
    )
    moments = logged.agg(
        *[sf.avg(name).alias(f"{name}_mean") for name in FEATURES],
        *[sf.stddev_samp(name).alias(f"{name}_std") for name in FEATURES],
    )
    # A constant feature (std 0, or null for a single customer) carries no information: 0.
    scaled = logged.crossJoin(sf.broadcast(moments)).select(
        "customer_id",
        *[
            sf.when(
                sf.col(f"{name}_std") > 0,
                (sf.col(name) - sf.col(f"{name}_mean")) / sf.col(f"{name}_std"),
            )
            .otherwise(sf.lit(0.0))
            .alias(f"scaled_{name}")
            for name in FEATURES
        ],
    )
    assembler = VectorAssembler(
        inputCols=[f"scaled_{name}" for name in FEATURES], outputCol="features"
    )
    return assembler.transform(scaled)


def chosen_centers(selection: DataFrame) -> list[list[float]]:
    """The centres of the k marked ``is_chosen`` (exactly one row must be), by cluster id;
    no centres when the selection has no rows (no k could be fitted)."""
    chosen = selection.where(sf.col("is_chosen")).select("k", "cluster_centers").collect()
    if not chosen and selection.isEmpty():
        return []
    if len(chosen) != 1:
        raise ValueError(f"kmeans_model_selection must mark exactly one k, found {len(chosen)}")
    k, centers = int(chosen[0]["k"]), chosen[0]["cluster_centers"]
    if centers is None or len(centers) != k or any(len(c) != len(FEATURES) for c in centers):
        raise ValueError(f"kmeans_model_selection has no {k} centres of {len(FEATURES)} features")
    return [[float(value) for value in center] for center in centers]


def nearest_center(centers: list[list[float]]) -> Column:
    """struct(squared_distance, cluster_id) of the nearest centre (lower id on a tie)."""
    candidates = [
        sf.struct(
            sum(
                (sf.col(scaled) - sf.lit(value)) ** 2
                for scaled, value in zip(SCALED, center, strict=True)
            ).alias("squared_distance"),
            sf.lit(cluster_id).alias("cluster_id"),
        )
        for cluster_id, center in enumerate(centers, start=1)
    ]
    # Structs compare field by field: the smallest distance, then the smallest id.
    return sf.array_min(sf.array(*candidates))


def assign_clusters(scores: DataFrame, centers: list[list[float]]) -> DataFrame:
    """The whole model: each customer of ``scores`` with its cluster and centre distance;
    with no centres, every customer not scored (``too_few_customers``)."""
    nothing = sf.lit(None).cast("struct<squared_distance:double,cluster_id:int>")
    nearest = scaled_features(scores).select(
        "customer_id",
        *SCALED,
        (nearest_center(centers) if centers else nothing).alias("nearest"),
    )
    customers = scores.select(
        sf.col("customer_id").cast("string").alias("customer_id"),
        "segment",
        "recency_days",
        "frequency",
        "monetary",
    )
    return customers.join(nearest, on="customer_id", how="inner").select(
        "customer_id",
        sf.col("nearest.cluster_id").cast("int").alias("cluster_id"),
        "segment",
        sf.col("recency_days").cast("int").alias("recency_days"),
        sf.col("frequency").cast("bigint").alias("frequency"),
        sf.col("monetary").cast("decimal(18,3)").alias("monetary"),
        *SCALED,
        sf.sqrt("nearest.squared_distance").alias("distance_to_centroid"),
        sf.lit(len(centers) if centers else None).cast("int").alias("cluster_count"),
        sf.lit(None if centers else TOO_FEW_CUSTOMERS).cast("string").alias("not_scored_reason"),
    )


def model(dbt, session):
    centers = chosen_centers(dbt.ref("kmeans_model_selection"))
    return assign_clusters(dbt.ref("customer_rfm_scores"), centers)
