"""Customers moving between RFM segments month over month (DEFINITIONS §6).

A customer's state at a month end is "not a customer yet" before their first purchase,
"lapsed" when they bought nothing in the last ``rfm_lapsed_months`` calendar months up to
that month end (last purchase on or before the end of the month that many months
earlier), and otherwise their segment in ``customer_rfm_month_end`` (scored like
``customer_rfm_scores`` on the lines up to the month end). Every customer with a sales line
is counted in every month, so each month's customers add up to all customers, staying ones
included; the state before the first month of data is "not a customer yet". The states'
ranks order them for display: 0 for not a customer yet, the segment's rank in
``rfm_segments``, one after the last segment for lapsed.

A Python model, not SQL, although it only counts: its parent is a Python model, and the
SQL models are what a Thrift server builds (selector ``sql_only``).

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``rfm_lapsed_months``: months without a purchase after which a customer is lapsed (6).
"""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf

NOT_YET = "not a customer yet"
LAPSED = "lapsed"


def parse_lapsed_months(value: object) -> int:
    """The configured months, a whole number of at least 1."""
    try:
        months = int(str(value).strip())
    except ValueError:
        months = 0
    if months < 1 or str(months) != str(value).strip():
        raise ValueError(f"rfm_lapsed_months must be a whole number of at least 1, got {value!r}")
    return months


def state_ranks(segments: DataFrame) -> DataFrame:
    """Display order of every state: not yet 0, the segments' ranks, lapsed after them."""
    ranked = segments.select(
        sf.col("segment").cast("string").alias("segment"),
        sf.col("segment_rank").cast("int").alias("segment_rank"),
    )
    not_yet = segments.sparkSession.createDataFrame(
        [(NOT_YET, 0)], "segment string, segment_rank int"
    )
    lapsed = ranked.agg(
        sf.lit(LAPSED).alias("segment"),
        (sf.max("segment_rank") + 1).cast("int").alias("segment_rank"),
    )
    return ranked.unionByName(not_yet).unionByName(lapsed)


def customer_states(month_end_scores: DataFrame, lapsed_months: int) -> DataFrame:
    """Every customer's state at every month end of the data (customers × month ends)."""
    month_ends = month_end_scores.select("year_month", "month_end").distinct()
    customers = month_end_scores.select("customer_id").distinct()
    scored = month_end_scores.select(
        "month_end", "customer_id", sf.col("segment").alias("scored_segment"), "last_purchase_date"
    )
    lapsed_on_or_before = sf.last_day(sf.add_months("month_end", -lapsed_months))
    return (
        month_ends.crossJoin(customers)
        .join(scored, on=["month_end", "customer_id"], how="left")
        .select(
            "year_month",
            "month_end",
            "customer_id",
            sf.when(sf.col("last_purchase_date").isNull(), sf.lit(NOT_YET))
            .when(sf.col("last_purchase_date") <= lapsed_on_or_before, sf.lit(LAPSED))
            .otherwise(sf.col("scored_segment"))
            .alias("segment"),
        )
    )


def segment_transitions(
    month_end_scores: DataFrame, segments: DataFrame, lapsed_months: int
) -> DataFrame:
    """Customers per month and (state at the previous month end, state at this one)."""
    states = customer_states(month_end_scores, lapsed_months)
    previous = Window.partitionBy("customer_id").orderBy("month_end")
    counted = (
        states.select(
            "year_month",
            "month_end",
            sf.coalesce(sf.lag("segment").over(previous), sf.lit(NOT_YET)).alias("from_segment"),
            sf.col("segment").alias("to_segment"),
        )
        .groupBy("year_month", "month_end", "from_segment", "to_segment")
        .agg(sf.count(sf.lit(1)).alias("customers"))
    )
    ranks = state_ranks(segments)
    from_ranks = ranks.select(
        sf.col("segment").alias("from_segment"), sf.col("segment_rank").alias("from_segment_rank")
    )
    to_ranks = ranks.select(
        sf.col("segment").alias("to_segment"), sf.col("segment_rank").alias("to_segment_rank")
    )
    return (
        counted.join(sf.broadcast(from_ranks), on="from_segment", how="left")
        .join(sf.broadcast(to_ranks), on="to_segment", how="left")
        .select(
            "year_month",
            "month_end",
            "from_segment",
            "to_segment",
            "from_segment_rank",
            "to_segment_rank",
            "customers",
        )
    )


def model(dbt, session):
    lapsed_months = parse_lapsed_months(dbt.config.meta_get("rfm_lapsed_months", 6))
    return segment_transitions(
        dbt.ref("customer_rfm_month_end"), dbt.ref("rfm_segments"), lapsed_months
    )
