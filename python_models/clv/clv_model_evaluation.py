"""Calibration/holdout check of the BG/NBD purchase predictions behind the CLV (DEFINITIONS §6).

``customer_lifetime_value`` fits BG/NBD a second time on the purchase days up to its
``calibration_end_date`` and predicts, per customer who had bought by then, the purchase
days of the holdout that follows; this model compares the predictions with what happened.
One row for all those customers (``frequency_bucket = 'all'``) and one per calibration
frequency (repeat purchase days before the holdout: 0, 1, …, 6, and 7 or more), as in the
usual "calibration purchases vs holdout purchases" plot. Every bucket has a row; an empty
bucket has 0 customers and null averages.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

# Calibration frequencies 0..6 get a bucket each; 7 and more share the last one.
OPEN_BUCKET_FROM = 7


def frequency_bucket(frequency: Column) -> Column:
    """'0' … '6', or '7+' for OPEN_BUCKET_FROM and more repeat purchase days."""
    return sf.when(frequency >= OPEN_BUCKET_FROM, sf.lit(f"{OPEN_BUCKET_FROM}+")).otherwise(
        frequency.cast("string")
    )


def _comparison(grouped_rows: DataFrame, keys: list[str]) -> DataFrame:
    """Predicted vs actual holdout purchases per group of ``keys``."""
    error = sf.abs(sf.col("holdout_predicted_purchases") - sf.col("holdout_actual_purchases"))
    return grouped_rows.groupBy(*keys).agg(
        sf.count("*").alias("customers"),
        sf.sum("holdout_predicted_purchases").alias("predicted_purchases"),
        sf.sum("holdout_actual_purchases").alias("actual_purchases"),
        sf.avg(error).alias("mae_purchases"),
    )


def clv_model_evaluation(customers: DataFrame) -> DataFrame:
    """Overall and per-bucket comparison over the customers with a holdout prediction."""
    evaluated = customers.where(sf.col("holdout_predicted_purchases").isNotNull()).select(
        frequency_bucket(sf.col("calibration_frequency")).alias("frequency_bucket"),
        "holdout_predicted_purchases",
        "holdout_actual_purchases",
    )
    overall = _comparison(evaluated, []).select(sf.lit("all").alias("frequency_bucket"), "*")
    per_bucket = _comparison(evaluated, ["frequency_bucket"])
    comparisons = overall.unionByName(per_bucket)

    spark = customers.sparkSession
    buckets = spark.createDataFrame(
        [("all", 0)]
        + [(str(value), value + 1) for value in range(OPEN_BUCKET_FROM)]
        + [(f"{OPEN_BUCKET_FROM}+", OPEN_BUCKET_FROM + 1)],
        "frequency_bucket string, bucket_order int",
    )
    # The dates are the same on every customer row; max() over an empty table is null.
    period = customers.agg(
        sf.max("calibration_end_date").alias("calibration_end_date"),
        sf.max("observation_end_date").alias("observation_end_date"),
    )
    joined = buckets.join(comparisons, on="frequency_bucket", how="left").crossJoin(period)
    customer_count = sf.coalesce(sf.col("customers"), sf.lit(0)).cast("bigint")
    predicted = sf.coalesce(sf.col("predicted_purchases"), sf.lit(0.0)).cast("double")
    actual = sf.coalesce(sf.col("actual_purchases"), sf.lit(0)).cast("bigint")
    return joined.select(
        "frequency_bucket",
        "bucket_order",
        customer_count.alias("customers"),
        predicted.alias("predicted_purchases"),
        actual.alias("actual_purchases"),
        sf.when(customer_count > 0, predicted / customer_count).alias("avg_predicted_purchases"),
        sf.when(customer_count > 0, actual / customer_count).alias("avg_actual_purchases"),
        sf.col("mae_purchases").cast("double").alias("mae_purchases"),
        sf.when(actual > 0, (predicted - actual) / actual * 100).alias("error_pct"),
        sf.datediff("observation_end_date", "calibration_end_date")
        .cast("int")
        .alias("holdout_days"),
        "calibration_end_date",
        "observation_end_date",
    ).orderBy("bucket_order")


def model(dbt, session):
    return clv_model_evaluation(dbt.ref("customer_lifetime_value"))
