"""The CLV tiers of ``customer_lifetime_value`` side by side (DEFINITIONS §6), one row per tier.

Always five rows, Platinum, Gold, Silver, Bronze and ``not_scored`` (an empty tier has 0
customers and null averages): how many customers each tier holds, how much of the
predicted 12-month value (``clv``) it carries, the range and mean of its customers' CLV,
and the model quantities behind it (expected purchases, probability alive, expected spend
per purchase day). ``not_scored`` customers have a CLV too (from the population mean spend)
except those without any purchase day, whose null CLV is left out of the sums and means.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

# Display order: the best tier first, the customers without a tier last.
TIER_ORDER = ("Platinum", "Gold", "Silver", "Bronze", "not_scored")


def _share_pct(part: Column, total: Column) -> Column:
    """part / total * 100 as a double; null when the total is zero or null."""
    return sf.when(total > 0, part.cast("double") / total.cast("double") * 100)


def clv_tier_summary(customers: DataFrame) -> DataFrame:
    """Customers, CLV share and CLV range per tier of ``customer_lifetime_value``."""
    per_tier = customers.groupBy("clv_tier").agg(
        sf.count("*").alias("customers"),
        sf.sum("clv").alias("total_clv"),
        sf.avg("clv").alias("avg_clv"),
        sf.min("clv").alias("min_clv"),
        sf.max("clv").alias("max_clv"),
        sf.avg("predicted_purchases").alias("avg_predicted_purchases"),
        sf.avg("probability_alive").alias("avg_probability_alive"),
        sf.avg("expected_avg_spend").alias("avg_expected_spend"),
    )
    totals = customers.agg(sf.count("*").alias("all_customers"), sf.sum("clv").alias("all_clv"))
    tiers = customers.sparkSession.createDataFrame(
        list(enumerate(TIER_ORDER, start=1)), "tier_order int, clv_tier string"
    )
    joined = tiers.join(per_tier, on="clv_tier", how="left").crossJoin(sf.broadcast(totals))
    customer_count = sf.coalesce(sf.col("customers"), sf.lit(0)).cast("bigint")
    total_clv = sf.coalesce(sf.col("total_clv"), sf.lit(0.0)).cast("double")
    return joined.select(
        "clv_tier",
        "tier_order",
        customer_count.alias("customers"),
        _share_pct(customer_count, sf.col("all_customers")).alias("customer_share_pct"),
        total_clv.alias("total_clv"),
        _share_pct(total_clv, sf.col("all_clv")).alias("clv_share_pct"),
        *[
            sf.col(name).cast("double").alias(name)
            for name in (
                "avg_clv",
                "min_clv",
                "max_clv",
                "avg_predicted_purchases",
                "avg_probability_alive",
                "avg_expected_spend",
            )
        ],
    ).orderBy("tier_order")


def model(dbt, session):
    return clv_tier_summary(dbt.ref("customer_lifetime_value"))
