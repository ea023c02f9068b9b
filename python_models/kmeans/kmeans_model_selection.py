"""Choice of k for the K-Means customer clusters (DEFINITIONS §6), one row per k tried.

Features: log1p of RFM recency, frequency and monetary from ``customer_rfm_scores``,
standardised to mean 0 and sample standard deviation 1 (what Spark's ``StandardScaler``
with mean and std does). The logarithm tames the heavy right tails of frequency and
monetary, which would otherwise decide the clusters on their own; standardising gives the
three features equal weight.

For every k from ``kmeans_k_min`` to ``kmeans_k_max``, Spark MLlib ``KMeans`` (k-means||
initialisation, fixed ``kmeans_seed``, MLlib's default ``maxIter`` 20 and ``tol`` 1e-4) is
fitted and scored with the silhouette (``ClusteringEvaluator``, squared Euclidean distance)
and the within-cluster sum of squared distances (SSE, the "elbow" measure). The chosen k
has the highest silhouette, the smaller k on a tie: SSE always falls as k grows, so it
cannot choose k by itself, while the silhouette rewards clusters that are both tight and
well apart. Every customer is scored, no sample: for squared Euclidean distance MLlib
computes the silhouette from per-cluster sums in two passes over the data, linear in the
number of customers.

Each k's cluster centres are recorded, numbered 1..k by their value (frequency + monetary -
recency in standard units, 1 = the best customers), so that ``customer_kmeans_clusters``
assigns customers to the chosen k's centres without fitting KMeans again.

Cost: the data is a few thousand customers, so a fit is a chain of small Spark jobs (the
k-means|| initialisation, one per Lloyd iteration, the scoring: about 30 per k, 214 for k =
2..8 on the default data) whose cost is Spark's fixed cost per job, not computation; inside
a dbt build each of those jobs also waits for a free task slot behind the other models'
tasks. So the features are computed once and cached in one partition (one task per job),
KMeans is fitted once per k (the chosen k's centres are recorded rather than fitted again),
and all k values are fitted at once, each on its own thread: Spark runs their one-task jobs
as slots free up, so the wait is that of the longest chain (about 30 jobs), not of all of
them. Each fit is seeded and independent of the others, so the threads change the wall
time, never the results.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``kmeans_k_min``, ``kmeans_k_max``: the range of k (defaults 2 and 8), 2 <= min <= max.
- ``kmeans_seed``: the KMeans seed (default 42).

Too few customers to cluster: k is tried only below the number of customers and up to the
number of distinct feature vectors; when no k of the range qualifies (fewer than three
customers, or fewer than two distinct customers), the table has no rows and
``customer_kmeans_clusters`` marks every customer not scored (``too_few_customers``).
"""

from concurrent.futures import ThreadPoolExecutor

# NamedTuple rather than dataclasses: the session adapter exec()s the model outside any
# module, and dataclasses fail there when annotations are strings (PEP 563).
from typing import NamedTuple

# The package first: dbt runs models on several threads, and two threads importing
# different pyspark.ml submodules at once deadlock on pyspark.ml's __init__ (Python then
# hands out half-initialised modules). Importing the package takes only its lock.
import pyspark.ml  # noqa: F401
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as sf

FEATURES = ("recency_days", "frequency", "monetary")
OUTPUT_SCHEMA = (
    "k int, silhouette double, within_cluster_sse double, smallest_cluster_customers bigint, "
    "iterations int, cluster_centers array<array<double>>, is_chosen boolean"
)


class KScore(NamedTuple):
    """How well KMeans with ``k`` clusters fits the features, and its centres."""

    k: int
    silhouette: float
    within_cluster_sse: float
    smallest_cluster_customers: int
    iterations: int
    # [recency, frequency, monetary] in standard units, ordered by cluster_id 1..k.
    cluster_centers: list[list[float]]


def parse_k_range(k_min: object, k_max: object) -> range:
    """The k values to try, from the config values (strings when they come from ``var()``)."""
    try:
        low, high = int(str(k_min).strip()), int(str(k_max).strip())
    except ValueError as error:
        raise ValueError(
            f"kmeans_k_min and kmeans_k_max must be integers, got {k_min!r}, {k_max!r}"
        ) from error
    if not 2 <= low <= high:
        raise ValueError(f"need 2 <= kmeans_k_min <= kmeans_k_max, got {low} and {high}")
    return range(low, high + 1)


def parse_seed(value: object) -> int:
    """The KMeans seed as an integer."""
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise ValueError(f"kmeans_seed must be an integer, got {value!r}") from error


def scaled_features(scores: DataFrame) -> DataFrame:
    """Standardised log1p(R, F, M) per customer, as columns and as the ``features`` vector.

    Kept identical in ``customer_kmeans_clusters.py`` (a Python model cannot import another
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


def kmeans(k: int, seed: int) -> KMeans:
    """The estimator used for every k (MLlib defaults apart from k and the seed)."""
    return KMeans(k=k, seed=seed, featuresCol="features", predictionCol="prediction")


def center_order(centers: list[list[float]]) -> list[int]:
    """The KMeans indexes of ``centers`` by value F + M - R, best first (index on a tie)."""
    values = [center[1] + center[2] - center[0] for center in centers]
    return sorted(range(len(centers)), key=lambda index: (-values[index], index))


def score_k(features: DataFrame, k: int, seed: int) -> KScore:
    """Fit KMeans with ``k`` clusters on the (cached) ``features`` and score it."""
    fitted = kmeans(k, seed).fit(features)
    summary = fitted.summary
    evaluator = ClusteringEvaluator(
        featuresCol="features", predictionCol="prediction", metricName="silhouette"
    )
    silhouette = evaluator.evaluate(summary.predictions)
    centers = [[float(value) for value in center] for center in fitted.clusterCenters()]
    return KScore(
        k=k,
        silhouette=float(silhouette),
        within_cluster_sse=float(summary.trainingCost),
        smallest_cluster_customers=int(min(summary.clusterSizes)),
        iterations=int(summary.numIter),
        cluster_centers=[centers[index] for index in center_order(centers)],
    )


def score_k_values(features: DataFrame, k_values: range, seed: int) -> list[KScore]:
    """Every k scored, in k order; ``features`` should be cached by the caller.

    All k values are fitted at once, one thread each (their Spark jobs interleave); each
    fit is seeded, so the results are those of fitting the k values one after the other.
    """
    if len(k_values) <= 1:
        return [score_k(features, k, seed) for k in k_values]
    with ThreadPoolExecutor(max_workers=len(k_values), thread_name_prefix="kmeans-k") as pool:
        return list(pool.map(lambda k: score_k(features, k, seed), k_values))


def choose_k(scores: list[KScore]) -> int:
    """The k with the highest silhouette; the smallest such k on a tie."""
    if not scores:
        raise ValueError("no k was scored")
    return max(scores, key=lambda score: (score.silhouette, -score.k)).k


def kmeans_model_selection(scores: DataFrame, k_values: range, seed: int) -> DataFrame:
    """The whole model: one row per k with silhouette, SSE, centres and whether chosen."""
    # A few thousand rows: one partition makes each of the many small KMeans and
    # silhouette jobs a single task instead of one per input file.
    features = scaled_features(scores).coalesce(1).cache()
    try:
        counts = features.agg(
            sf.count("*").alias("customers"),
            sf.count_distinct(*[f"scaled_{name}" for name in FEATURES]).alias("points"),
        ).first()
        usable = usable_k_values(k_values, counts["customers"], counts["points"])
        results = score_k_values(features, usable, seed) if usable else []
    finally:
        features.unpersist()
    rows = []
    if results:
        chosen = choose_k(results)
        rows = [(*result, result.k == chosen) for result in results]
    return scores.sparkSession.createDataFrame(rows, OUTPUT_SCHEMA)


def usable_k_values(k_values: range, customers: int, points: int) -> range:
    """The k of ``k_values`` that can be fitted and scored; empty when none can.

    A silhouette needs two clusters and a customer outside a singleton cluster (k below the
    number of customers), and KMeans cannot make more clusters than there are distinct
    feature vectors (``points``): it would leave clusters empty.
    """
    return range(k_values.start, max(k_values.start, min(k_values.stop, customers, points + 1)))


def model(dbt, session):
    k_values = parse_k_range(
        dbt.config.meta_get("kmeans_k_min", 2), dbt.config.meta_get("kmeans_k_max", 8)
    )
    seed = parse_seed(dbt.config.meta_get("kmeans_seed", 42))
    return kmeans_model_selection(dbt.ref("customer_rfm_scores"), k_values, seed)
