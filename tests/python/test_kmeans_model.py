"""K-Means models (kmeans_model_selection, customer_kmeans_clusters, kmeans_cluster_profiles)
on hand-made frames: well-separated blobs must give their own k back."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from pyspark.sql import functions as sf

from lgs_testing import load_python_model

SELECTION = load_python_model("python_models/kmeans/kmeans_model_selection.py")
CLUSTERS = load_python_model("python_models/kmeans/customer_kmeans_clusters.py")
PROFILES = load_python_model("python_models/kmeans/kmeans_cluster_profiles.py")

SCORES_SCHEMA = (
    "customer_id string, segment string, recency_days int, frequency bigint, monetary decimal(18,3)"
)
# Three groups of customers far apart in log1p(R, F, M): best (recent, frequent, big
# spenders), lapsed one-timers, and a middle group; 25 customers each.
BLOB_CENTRES = {
    "Champions": (1.0, 4.0, 9.0),
    "Hibernating": (6.0, 0.7, 4.0),
    "Need Attention": (3.5, 2.0, 6.5),
}


def blob_scores(spark, per_blob: int = 25, seed: int = 5):
    rng = np.random.default_rng(seed)
    rows = []
    for segment, centre in BLOB_CENTRES.items():
        for _ in range(per_blob):
            recency, frequency, monetary = np.expm1(np.asarray(centre) + rng.normal(0, 0.05, 3))
            rows.append(
                (
                    f"{len(rows):05d}",
                    segment,
                    round(recency),
                    max(round(frequency), 1),
                    Decimal(f"{monetary:.3f}"),
                )
            )
    return spark.createDataFrame(rows, SCORES_SCHEMA)


@pytest.fixture(scope="module")
def blobs(spark):
    return blob_scores(spark).cache()


@pytest.fixture(scope="module")
def selection(blobs):
    return {
        row["k"]: row.asDict()
        for row in SELECTION.kmeans_model_selection(blobs, range(2, 6), 42).collect()
    }


def test_selection_picks_the_number_of_blobs(selection):
    assert sorted(selection) == [2, 3, 4, 5]
    chosen = [k for k, row in selection.items() if row["is_chosen"]]
    assert chosen == [3]
    assert selection[3]["silhouette"] == max(row["silhouette"] for row in selection.values())
    assert selection[3]["silhouette"] > 0.8
    assert selection[3]["smallest_cluster_customers"] == 25
    # SSE falls as k grows, which is why it cannot choose k alone.
    sse = [selection[k]["within_cluster_sse"] for k in sorted(selection)]
    assert sse == sorted(sse, reverse=True)
    assert all(1 <= row["iterations"] <= 20 for row in selection.values())


def test_selection_records_each_k_centres_best_first(selection, blobs):
    for k, row in selection.items():
        centres = row["cluster_centers"]
        assert len(centres) == k and all(len(centre) == 3 for centre in centres)
        values = [centre[1] + centre[2] - centre[0] for centre in centres]
        assert values == sorted(values, reverse=True)
    # k = 3: the centres are the blobs' means in standard units, best blob first.
    features = SELECTION.scaled_features(blobs).collect()
    by_id = {row["customer_id"]: row for row in blobs.collect()}
    means = {}
    for segment in BLOB_CENTRES:
        members = [row for row in features if by_id[row["customer_id"]]["segment"] == segment]
        means[segment] = [
            np.mean([row[f"scaled_{name}"] for row in members]) for name in SELECTION.FEATURES
        ]
    expected = [means["Champions"], means["Need Attention"], means["Hibernating"]]
    assert np.allclose(selection[3]["cluster_centers"], expected)


def test_concurrent_fits_equal_fits_one_after_the_other(blobs):
    features = SELECTION.scaled_features(blobs).coalesce(1).cache()
    try:
        concurrent = SELECTION.score_k_values(features, range(2, 6), 7)
        one_by_one = [SELECTION.score_k(features, k, 7) for k in range(2, 6)]
    finally:
        features.unpersist()
    assert concurrent == one_by_one


def test_center_order_ranks_centres_by_value():
    # value = F + M - R: -1, 5, 0 → indexes 1, 2, 0.
    centres = [[1.0, 0.0, 0.0], [-1.0, 2.0, 2.0], [0.0, 0.0, 0.0]]
    assert SELECTION.center_order(centres) == [1, 2, 0]


def test_choose_k_prefers_the_smaller_k_on_a_tie():
    def score(k: int, silhouette: float):
        return SELECTION.KScore(k, silhouette, 1.0 / k, 3, 5, [[0.0, 0.0, 0.0]] * k)

    assert SELECTION.choose_k([score(4, 0.5), score(2, 0.5), score(3, 0.4)]) == 2
    assert SELECTION.choose_k([score(4, 0.51), score(2, 0.5), score(3, 0.4)]) == 4


def test_k_range_stops_below_the_number_of_customers(spark):
    few = blob_scores(spark, per_blob=1)  # three customers: only k = 2 is possible
    rows = SELECTION.kmeans_model_selection(few, range(2, 9), 42).collect()
    assert [row["k"] for row in rows] == [2]
    assert rows[0]["is_chosen"]


@pytest.mark.parametrize(("low", "high"), [("1", "4"), ("5", "4"), ("two", "4")])
def test_invalid_k_ranges_are_rejected(low, high):
    with pytest.raises(ValueError):
        SELECTION.parse_k_range(low, high)


def test_k_range_from_config_strings():
    assert SELECTION.parse_k_range("2", "8") == range(2, 9)


def test_both_models_compute_the_same_features(blobs):
    selection = SELECTION.scaled_features(blobs).drop("features").orderBy("customer_id").collect()
    clusters = CLUSTERS.scaled_features(blobs).drop("features").orderBy("customer_id").collect()
    assert selection == clusters
    # Standardised: mean 0 and sample standard deviation 1 per feature.
    for index in (1, 2, 3):
        values = np.array([row[index] for row in selection])
        assert values.mean() == pytest.approx(0.0, abs=1e-9)
        assert values.std(ddof=1) == pytest.approx(1.0)


def test_constant_features_scale_to_zero(spark):
    same = spark.createDataFrame(
        [("1", "X", 5, 2, Decimal("10.000")), ("2", "X", 5, 3, Decimal("10.000"))], SCORES_SCHEMA
    )
    rows = CLUSTERS.scaled_features(same).orderBy("customer_id").collect()
    assert [row["scaled_recency_days"] for row in rows] == [0.0, 0.0]
    assert [row["scaled_monetary"] for row in rows] == [0.0, 0.0]
    assert rows[0]["scaled_frequency"] < 0 < rows[1]["scaled_frequency"]


@pytest.fixture(scope="module")
def clusters(blobs, selection):
    return CLUSTERS.assign_clusters(blobs, selection[3]["cluster_centers"]).cache()


def test_each_customer_gets_one_cluster_matching_its_blob(blobs, clusters):
    rows = clusters.collect()
    assert len(rows) == blobs.count() == len({row["customer_id"] for row in rows})
    by_segment: dict[str, set[int]] = {}
    for row in rows:
        by_segment.setdefault(row["segment"], set()).add(row["cluster_id"])
    assert by_segment == {"Champions": {1}, "Need Attention": {2}, "Hibernating": {3}}
    assert {row["cluster_count"] for row in rows} == {3}
    # Tight blobs: every customer is close to its centre.
    assert max(row["distance_to_centroid"] for row in rows) < 0.5


def test_assignment_is_mllib_prediction_with_recorded_centres(spark):
    # Overlapping customers (no clear clusters), where the nearest centre really matters.
    rng = np.random.default_rng(3)
    rows = [
        (
            f"{index:05d}",
            "Champions",
            int(rng.integers(1, 400)),
            int(rng.integers(1, 60)),
            Decimal(f"{rng.lognormal(6, 1.2):.3f}"),
        )
        for index in range(300)
    ]
    scores = spark.createDataFrame(rows, SCORES_SCHEMA)
    features = SELECTION.scaled_features(scores).cache()
    fitted = SELECTION.kmeans(5, 42).fit(features)
    centres = [list(map(float, centre)) for centre in fitted.clusterCenters()]
    order = SELECTION.center_order(centres)
    ordered = [centres[index] for index in order]
    cluster_of_prediction = {index: position for position, index in enumerate(order, start=1)}
    expected = {
        row["customer_id"]: cluster_of_prediction[row["prediction"]]
        for row in fitted.transform(features).collect()
    }
    assigned = CLUSTERS.assign_clusters(scores, ordered).collect()
    assert {row["customer_id"]: row["cluster_id"] for row in assigned} == expected
    for row in assigned:
        point = [row[name] for name in CLUSTERS.SCALED]
        distances = [math.dist(point, centre) for centre in ordered]
        assert row["distance_to_centroid"] == pytest.approx(min(distances))
    features.unpersist()


def test_nearest_centre_tie_goes_to_the_lower_cluster_id(spark):
    # Two customers; the features are ±0.7071 on R and F (standardised), 0 on M. Both
    # centres are equidistant from both customers.
    same = spark.createDataFrame(
        [("1", "X", 1, 1, Decimal("10.000")), ("2", "X", 9, 9, Decimal("10.000"))],
        SCORES_SCHEMA,
    )
    rows = CLUSTERS.assign_clusters(same, [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]).collect()
    assert [row["cluster_id"] for row in rows] == [1, 1]


def test_chosen_centres_need_exactly_one_chosen_row(spark):
    schema = "k int, cluster_centers array<array<double>>, is_chosen boolean"
    table = spark.createDataFrame(
        [(2, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], False), (1, [[0.5, 0.5, 0.5]], True)], schema
    )
    assert CLUSTERS.chosen_centers(table) == [[0.5, 0.5, 0.5]]
    with pytest.raises(ValueError, match="exactly one"):
        CLUSTERS.chosen_centers(table.withColumn("is_chosen", sf.lit(False)))
    with pytest.raises(ValueError, match="no 2 centres"):
        CLUSTERS.chosen_centers(spark.createDataFrame([(2, [[0.0, 0.0, 1.0]], True)], schema))


def test_profiles_cross_tabulate_clusters_and_segments(spark):
    clusters = spark.createDataFrame(
        [
            ("1", 1, "Champions", 2, 10, Decimal("100.000")),
            ("2", 1, "Champions", 4, 8, Decimal("300.000")),
            ("3", 1, "Loyal Customers", 6, 6, Decimal("200.000")),
            # Cluster 2: a tie between two segments goes to the better-ranked one.
            ("4", 2, "Hibernating", 300, 1, Decimal("10.000")),
            ("5", 2, "At Risk", 200, 2, Decimal("20.000")),
        ],
        "customer_id string, cluster_id int, segment string, recency_days int, "
        "frequency bigint, monetary decimal(18,3)",
    )
    segments = spark.createDataFrame(
        [
            ("Champions", 1),
            ("Loyal Customers", 2),
            ("At Risk", 6),
            ("Hibernating", 10),
            ("Promising", 5),
        ],
        "segment string, segment_rank int",
    )
    rows = {
        (row["cluster_id"], row["segment"]): row.asDict()
        for row in PROFILES.cluster_profiles(clusters, segments).collect()
    }
    assert len(rows) == 2 * 5
    champions = rows[(1, "Champions")]
    assert champions["cluster_customers"] == 3
    assert champions["cluster_share_pct"] == pytest.approx(60.0)
    assert champions["avg_recency_days"] == pytest.approx(4.0)
    assert champions["avg_frequency"] == pytest.approx(8.0)
    assert champions["avg_monetary"] == pytest.approx(200.0)
    assert champions["customers"] == 2
    assert champions["share_of_cluster_pct"] == pytest.approx(200 / 3)
    assert champions["share_of_segment_pct"] == pytest.approx(100.0)
    assert champions["is_dominant_segment"]
    assert rows[(1, "Loyal Customers")]["dominant_segment"] == "Champions"
    assert rows[(1, "Loyal Customers")]["dominant_segment_share_pct"] == pytest.approx(200 / 3)
    empty = rows[(1, "Promising")]
    assert (empty["customers"], empty["share_of_cluster_pct"]) == (0, 0.0)
    assert empty["share_of_segment_pct"] is None
    assert not empty["is_dominant_segment"]
    assert rows[(2, "Hibernating")]["dominant_segment"] == "At Risk"
    assert rows[(2, "At Risk")]["is_dominant_segment"]
    assert rows[(2, "At Risk")]["dominant_segment_share_pct"] == pytest.approx(50.0)
    assert sum(row["is_dominant_segment"] for row in rows.values()) == 2
    assert math.isclose(sum(row["share_of_cluster_pct"] for row in rows.values()), 200.0)


# --- Too few customers to cluster ------------------------------------------------------------


def _customers(spark, rows: list[tuple[int, int, str]]):
    return spark.createDataFrame(
        [
            (f"{index:05d}", "Champions", recency, frequency, Decimal(monetary))
            for index, (recency, frequency, monetary) in enumerate(rows)
        ],
        SCORES_SCHEMA,
    )


@pytest.mark.parametrize(
    "rows",
    [
        [(3, 2, "10.000")],  # one customer
        [(3, 2, "10.000"), (9, 1, "5.000")],  # two: k = 2 would leave no silhouette
        [(3, 2, "10.000")] * 5,  # five customers, one distinct feature vector
    ],
    ids=["one", "two", "identical"],
)
def test_too_few_customers_are_marked_not_scored_not_failed(spark, rows):
    scores = _customers(spark, rows)
    selection = SELECTION.kmeans_model_selection(scores, range(2, 9), 42)
    assert selection.collect() == []
    assert selection.schema.simpleString() == (
        "struct<" + SELECTION.OUTPUT_SCHEMA.replace(", ", ",").replace(" ", ":") + ">"
    )
    centres = CLUSTERS.chosen_centers(selection)
    assert centres == []
    clusters = CLUSTERS.assign_clusters(scores, centres).collect()
    assert len(clusters) == len(rows)
    for row in clusters:
        assert row["not_scored_reason"] == "too_few_customers"
        assert (row["cluster_id"], row["cluster_count"], row["distance_to_centroid"]) == (
            None,
            None,
            None,
        )
        if len(set(rows)) == 1:  # one feature vector: every feature is constant, 0
            assert [row[name] for name in CLUSTERS.SCALED] == [0.0, 0.0, 0.0]
    segments = scores.sparkSession.createDataFrame(
        [("Champions", 1)], "segment string, segment_rank int"
    )
    profiles = PROFILES.cluster_profiles(CLUSTERS.assign_clusters(scores, centres), segments)
    assert profiles.collect() == []


def test_k_stops_at_the_number_of_distinct_customers(spark):
    # Six customers, two distinct feature vectors: only k = 2 can give non-empty clusters.
    scores = _customers(spark, [(3, 2, "10.000")] * 3 + [(90, 1, "2.000")] * 3)
    rows = SELECTION.kmeans_model_selection(scores, range(2, 9), 42).collect()
    assert [(row["k"], row["is_chosen"], row["smallest_cluster_customers"]) for row in rows] == [
        (2, True, 3)
    ]
    clusters = CLUSTERS.assign_clusters(
        scores, CLUSTERS.chosen_centers(spark.createDataFrame(rows, SELECTION.OUTPUT_SCHEMA))
    ).collect()
    assert sorted(row["cluster_id"] for row in clusters) == [1, 1, 1, 2, 2, 2]
    assert all(row["not_scored_reason"] is None for row in clusters)


def test_usable_k_values():
    assert SELECTION.usable_k_values(range(2, 9), 5942, 5900) == range(2, 9)
    assert SELECTION.usable_k_values(range(2, 9), 5, 5) == range(2, 5)
    assert SELECTION.usable_k_values(range(2, 9), 10, 3) == range(2, 4)
    assert len(SELECTION.usable_k_values(range(2, 9), 2, 2)) == 0
    assert len(SELECTION.usable_k_values(range(3, 9), 10, 2)) == 0
