"""The mart tables the report reads: for each, the columns it shows and their order.

The report's contract with the marts (tests/python/e2e/test_docs_and_report.py checks the
same tables, chart by chart).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """A mart table the report reads: the columns it shows, in display order.

    `limit` keeps only the first rows in `order_by` order (the top of a ranking); `latest`
    names a column whose greatest value the kept rows hold (the last month of a table that
    grows with the months).
    """

    table: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    limit: int | None = None
    latest: str | None = None


MONTHLY_SALES = TableSpec(
    "monthly_sales",
    (
        "year_month",
        "month_start",
        "sales_amount",
        "previous_sales_amount",
        "sales_growth_pct",
        "sales_lines",
        "is_partial_month",
    ),
    ("year_month",),
)
MONTHLY_ORDERS = TableSpec(
    "monthly_orders",
    (
        "year_month",
        "month_start",
        "placed_orders",
        "cancelled_orders",
        "cancellation_rate_pct",
        "is_partial_month",
    ),
    ("year_month",),
)
MONTHLY_NEW_EXISTING_USERS = TableSpec(
    "monthly_new_existing_users",
    (
        "year_month",
        "month_start",
        "new_users",
        "existing_users",
        "active_users",
        "new_user_share_pct",
        "is_partial_month",
    ),
    ("year_month",),
)
MONTHLY_ACTIVE_USERS = TableSpec(
    "monthly_active_users",
    ("year_month", "month_start", "active_users", "is_partial_month"),
    ("year_month",),
)
RFM_SEGMENT_SUMMARY = TableSpec(
    "rfm_segment_summary",
    (
        "segment_rank",
        "segment",
        "description",
        "customers",
        "customer_share_pct",
        "revenue",
        "revenue_share_pct",
        "avg_recency_days",
        "avg_frequency",
        "avg_monetary",
    ),
    ("segment_rank",),
)
INVOICE_AMOUNT_HISTOGRAM = TableSpec(
    "invoice_amount_histogram",
    ("bin_index", "bin_lower", "bin_upper", "invoice_count", "share_pct"),
    ("bin_index",),
)
INVOICE_AMOUNT_DISTRIBUTION = TableSpec(
    "invoice_amount_distribution",
    (
        "population",
        "invoice_count",
        "min_amount",
        "max_amount",
        "mean_amount",
        "median_amount",
        "mode_amount",
        "p85_amount",
        "percentile",
    ),
    ("population",),
)

CLV_TIER_SUMMARY = TableSpec(
    "clv_tier_summary",
    (
        "tier_order",
        "clv_tier",
        "customers",
        "customer_share_pct",
        "total_clv",
        "clv_share_pct",
        "avg_clv",
        "min_clv",
        "max_clv",
        "avg_predicted_purchases",
        "avg_probability_alive",
    ),
    ("tier_order",),
)
CLV_MODEL_EVALUATION = TableSpec(
    "clv_model_evaluation",
    (
        "bucket_order",
        "frequency_bucket",
        "customers",
        "predicted_purchases",
        "actual_purchases",
        "avg_predicted_purchases",
        "avg_actual_purchases",
        "mae_purchases",
        "error_pct",
        "holdout_days",
        "calibration_end_date",
        "observation_end_date",
    ),
    ("bucket_order",),
)
KMEANS_MODEL_SELECTION = TableSpec(
    "kmeans_model_selection",
    (
        "k",
        "silhouette",
        "within_cluster_sse",
        "smallest_cluster_customers",
        "iterations",
        "is_chosen",
    ),
    ("k",),
)
KMEANS_CLUSTER_PROFILES = TableSpec(
    "kmeans_cluster_profiles",
    (
        "cluster_id",
        "segment_rank",
        "segment",
        "customers",
        "share_of_cluster_pct",
        "cluster_customers",
        "cluster_share_pct",
        "avg_recency_days",
        "avg_frequency",
        "avg_monetary",
        "dominant_segment",
    ),
    ("cluster_id", "segment_rank"),
)
SKU_TREND_RANKINGS = TableSpec(
    "sku_trend_rankings",
    (
        "trend_direction",
        "trend_rank",
        "stock_code",
        "description",
        "previous_revenue",
        "recent_revenue",
        "revenue_change",
        "revenue_growth_pct",
        "window_months",
        "previous_window_start_date",
        "recent_window_end_date",
    ),
    ("trend_direction", "trend_rank"),
)
# The top of the ranking only: the table keeps up to `fpgrowth_max_rules` rules.
TOP_RULES = 15
ASSOCIATION_RULES = TableSpec(
    "association_rules",
    (
        "rule_rank",
        "antecedent",
        "consequent",
        "antecedent_description",
        "consequent_description",
        "support",
        "confidence",
        "lift",
        "rule_baskets",
        "total_baskets",
    ),
    ("rule_rank",),
    limit=TOP_RULES,
)
