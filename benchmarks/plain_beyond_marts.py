"""The marts beyond DEFINITIONS §2–§5 (DEFINITIONS §6) in plain PySpark, for the benchmark's floor.

Used by ``plain_pyspark_marts.py`` (``--marts all``, the default): products and SKU trends
as DataFrame code that follows the SQL of ``models/marts/products/`` step by step, and
customer lifetime value, K-Means segments and association rules by calling the functions
of the dbt Python models themselves (``python_models/``), with the settings of
``dbt_project.yml``'s vars. No result is changed to be cheaper; what the dbt build pays
and this does not is the writing of every layer, the catalog and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_vars(project_root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The vars of ``dbt_project.yml`` (their defaults: the benchmark passes no --vars)."""
    project = yaml.safe_load((project_root / "dbt_project.yml").read_text(encoding="utf-8"))
    return dict(project.get("vars") or {})


def growth_pct(current: Column, previous: Column) -> Column:
    """``macros/growth_pct.sql``: null when there is no previous value or it is 0."""
    prior = previous.cast("double")
    return sf.when(previous.isNull() | (previous == 0), sf.lit(None)).otherwise(
        (current.cast("double") - prior) / prior * 100
    )


def dim_products(sales_lines: DataFrame) -> DataFrame:
    """``dim_products``: one row per product, its most frequent description and totals."""
    described = sales_lines.groupBy("stock_code", "description").agg(
        sf.count(sf.lit(1)).alias("sales_lines"),
        sf.sum("quantity").alias("quantity"),
        sf.sum("line_amount").alias("revenue"),
        sf.min("invoice_date").alias("first_sale_date"),
        sf.max("invoice_date").alias("last_sale_date"),
    )
    most_frequent = Window.partitionBy("stock_code").orderBy(
        sf.col("description").isNull().asc(),
        sf.col("sales_lines").desc(),
        sf.col("description").asc(),
    )
    products = (
        described.withColumn("description_rank", sf.row_number().over(most_frequent))
        .groupBy("stock_code")
        .agg(
            sf.max(sf.when(sf.col("description_rank") == 1, sf.col("description"))).alias(
                "description"
            ),
            sf.sum("sales_lines").alias("sales_lines"),
            sf.sum("quantity").alias("quantity"),
            sf.sum("revenue").alias("revenue"),
            sf.min("first_sale_date").alias("first_sale_date"),
            sf.max("last_sale_date").alias("last_sale_date"),
        )
    )
    by_revenue = Window.orderBy(sf.col("revenue").desc(), sf.col("stock_code").asc())
    return products.select(
        sf.col("stock_code").cast("string"),
        "description",
        sf.row_number().over(by_revenue).cast("int").alias("revenue_rank"),
        sf.col("sales_lines").cast("bigint"),
        sf.col("quantity").cast("bigint"),
        sf.col("revenue").cast("decimal(20,3)"),
        "first_sale_date",
        "last_sale_date",
    )


def sku_monthly_sales(spine: DataFrame, sales_lines: DataFrame) -> DataFrame:
    """``sku_monthly_sales``: every month from a product's first sale, zeros included."""
    product_months = sales_lines.groupBy("stock_code", "year_month").agg(
        sf.sum("quantity").alias("quantity"),
        sf.sum("line_amount").alias("revenue"),
        sf.count_distinct("invoice_id").alias("invoices"),
    )
    first_months = product_months.groupBy("stock_code").agg(
        sf.min("year_month").alias("first_year_month")
    )
    months = sf.broadcast(spine).alias("months")
    spined = (
        first_months.alias("first")
        .join(months, sf.col("first.first_year_month") <= sf.col("months.year_month"))
        .select("first.stock_code", "months.year_month", "is_partial_month", "month_start")
        .join(product_months, on=["stock_code", "year_month"], how="left")
        .select(
            "stock_code",
            "year_month",
            sf.coalesce("quantity", sf.lit(0)).alias("quantity"),
            sf.coalesce("revenue", sf.lit(0)).alias("revenue"),
            sf.coalesce("invoices", sf.lit(0)).alias("invoices"),
            "is_partial_month",
            "month_start",
        )
    )
    in_product = Window.partitionBy("stock_code").orderBy("year_month")
    with_previous = spined.select(
        "*",
        sf.lag("quantity").over(in_product).alias("previous_quantity"),
        sf.lag("revenue").over(in_product).alias("previous_revenue"),
    )
    return with_previous.select(
        sf.col("stock_code").cast("string"),
        sf.col("year_month").cast("int"),
        sf.col("quantity").cast("bigint"),
        sf.col("previous_quantity").cast("bigint"),
        growth_pct(sf.col("quantity"), sf.col("previous_quantity"))
        .cast("double")
        .alias("quantity_growth_pct"),
        sf.col("revenue").cast("decimal(20,3)"),
        sf.col("previous_revenue").cast("decimal(20,3)"),
        growth_pct(sf.col("revenue"), sf.col("previous_revenue"))
        .cast("double")
        .alias("revenue_growth_pct"),
        sf.col("invoices").cast("bigint"),
        "is_partial_month",
        "month_start",
    )


def sku_seasonality(monthly: DataFrame) -> DataFrame:
    """``sku_seasonality``: revenue share and index per product and calendar month."""
    complete = monthly.where(~sf.col("is_partial_month")).select(
        "stock_code", "revenue", sf.month("month_start").alias("calendar_month")
    )
    per_month = complete.groupBy("stock_code", "calendar_month").agg(
        sf.count(sf.lit(1)).alias("months_observed"), sf.sum("revenue").alias("revenue")
    )
    totals = complete.groupBy("stock_code").agg(
        sf.count(sf.lit(1)).alias("total_months"), sf.sum("revenue").alias("total_revenue")
    )
    calendar = monthly.sparkSession.range(1, 13).select(
        sf.col("id").cast("int").alias("calendar_month")
    )
    grid = (
        totals.crossJoin(sf.broadcast(calendar))
        .join(per_month, on=["stock_code", "calendar_month"], how="left")
        .select(
            "stock_code",
            "calendar_month",
            sf.coalesce("months_observed", sf.lit(0)).alias("months_observed"),
            sf.coalesce("revenue", sf.lit(0)).alias("revenue"),
            "total_months",
            "total_revenue",
        )
    )
    revenue_share = sf.col("revenue").cast("double") / sf.col("total_revenue").cast("double")
    month_share = sf.col("months_observed").cast("double") / sf.col("total_months")
    indexed = grid.select(
        "stock_code",
        "calendar_month",
        "months_observed",
        "revenue",
        sf.when(sf.col("total_revenue") > 0, revenue_share * 100).alias("revenue_share_pct"),
        (month_share * 100).alias("expected_share_pct"),
        sf.when(
            (sf.col("total_revenue") > 0) & (sf.col("months_observed") > 0),
            revenue_share / month_share,
        ).alias("seasonality_index"),
    )
    peak_first = Window.partitionBy("stock_code").orderBy(
        sf.col("seasonality_index").desc_nulls_last(), sf.col("calendar_month").asc()
    )
    return indexed.withColumn("index_rank", sf.row_number().over(peak_first)).select(
        sf.col("stock_code").cast("string"),
        sf.date_format(sf.make_date(sf.lit(2000), "calendar_month", sf.lit(1)), "MMMM").alias(
            "month_name"
        ),
        sf.col("calendar_month").cast("int"),
        sf.col("months_observed").cast("int"),
        sf.col("revenue").cast("decimal(20,3)"),
        sf.col("revenue_share_pct").cast("double"),
        sf.col("expected_share_pct").cast("double"),
        sf.col("seasonality_index").cast("double"),
        sf.coalesce(
            (sf.col("index_rank") == 1) & sf.col("seasonality_index").isNotNull(), sf.lit(False)
        ).alias("is_peak_month"),
    )


def _window_sum(column: str, recent: bool) -> Column:
    in_window = sf.col("is_recent_window") if recent else ~sf.col("is_recent_window")
    return sf.sum(sf.when(in_window, sf.col(column)))


def sku_trend_rankings(
    spine: DataFrame,
    monthly: DataFrame,
    products: DataFrame,
    window_months: int,
    min_revenue: float | int,
    top_n: int,
) -> DataFrame:
    """``sku_trend_rankings``: top growers and decliners, last window against the one before."""
    latest_first = Window.orderBy(sf.col("year_month").desc())
    trend_months = (
        spine.where(~sf.col("is_partial_month"))
        .select("year_month", "month_start", sf.row_number().over(latest_first).alias("back"))
        .where(sf.col("back") <= 2 * window_months)
        .select(
            "year_month",
            (sf.col("back") <= window_months).alias("is_recent_window"),
            "month_start",
        )
    )
    recent_start = sf.when(sf.col("is_recent_window"), sf.col("month_start"))
    previous_start = sf.when(~sf.col("is_recent_window"), sf.col("month_start"))
    windows = trend_months.agg(
        sf.count(sf.lit(1)).alias("window_months_found"),
        sf.min(recent_start).alias("recent_window_start_date"),
        sf.last_day(sf.max(recent_start)).alias("recent_window_end_date"),
        sf.min(previous_start).alias("previous_window_start_date"),
        sf.last_day(sf.max(previous_start)).alias("previous_window_end_date"),
    )
    product_windows = (
        monthly.join(sf.broadcast(trend_months.drop("month_start")), on="year_month")
        .groupBy("stock_code")
        .agg(
            _window_sum("revenue", recent=True).alias("recent_revenue"),
            _window_sum("revenue", recent=False).alias("previous_revenue"),
            _window_sum("quantity", recent=True).alias("recent_quantity"),
            _window_sum("quantity", recent=False).alias("previous_quantity"),
        )
    )
    recent = sf.coalesce("recent_revenue", sf.lit(0))
    previous = sf.col("previous_revenue")
    qualified = (
        product_windows.crossJoin(sf.broadcast(windows))
        .where(
            (sf.col("window_months_found") == 2 * window_months)
            & (previous >= min_revenue)
            & (previous > 0)
            & (recent != previous)
        )
        .select(
            "stock_code",
            sf.when(sf.col("recent_revenue") > previous, sf.lit("grower"))
            .otherwise(sf.lit("decliner"))
            .alias("trend_direction"),
            recent.alias("recent_revenue"),
            "previous_revenue",
            (recent - previous).alias("revenue_change"),
            growth_pct(recent, previous).alias("revenue_growth_pct"),
            sf.coalesce("recent_quantity", sf.lit(0)).alias("recent_quantity"),
            "previous_quantity",
            "recent_window_start_date",
            "recent_window_end_date",
            "previous_window_start_date",
            "previous_window_end_date",
        )
    )
    by_size = Window.partitionBy("trend_direction").orderBy(
        sf.abs("revenue_growth_pct").desc(),
        sf.abs("revenue_change").desc(),
        sf.col("stock_code").asc(),
    )
    ranked = qualified.withColumn("trend_rank", sf.row_number().over(by_size)).where(
        sf.col("trend_rank") <= top_n
    )
    return ranked.join(
        products.select("stock_code", "description"), on="stock_code", how="left"
    ).select(
        sf.col("stock_code").cast("string"),
        "trend_direction",
        "description",
        sf.col("trend_rank").cast("int"),
        sf.col("recent_revenue").cast("decimal(20,3)"),
        sf.col("previous_revenue").cast("decimal(20,3)"),
        sf.col("revenue_change").cast("decimal(20,3)"),
        sf.col("revenue_growth_pct").cast("double"),
        sf.col("recent_quantity").cast("bigint"),
        sf.col("previous_quantity").cast("bigint"),
        sf.lit(window_months).cast("int").alias("window_months"),
        "recent_window_start_date",
        "recent_window_end_date",
        "previous_window_start_date",
        "previous_window_end_date",
    )


def beyond_marts(
    spine: DataFrame,
    sales_lines: DataFrame,
    scores: DataFrame,
    segments: DataFrame,
    load_model: Callable[[str], ModuleType],
    variables: dict[str, Any],
) -> dict[str, Callable[[], DataFrame]]:
    """Each DEFINITIONS §6 mart as a builder, in an order where every input is built before.

    Builders, not frames: the Python models collect to the driver when called (CLV's fit,
    K-Means' selection, FP-Growth's rules), so the caller times each as it builds and
    writes it. Frames read by later marts are persisted once built.
    """
    clv = load_model("python_models/clv/customer_lifetime_value.py")
    evaluation = load_model("python_models/clv/clv_model_evaluation.py")
    tiers = load_model("python_models/clv/clv_tier_summary.py")
    selection = load_model("python_models/kmeans/kmeans_model_selection.py")
    clusters = load_model("python_models/kmeans/customer_kmeans_clusters.py")
    profiles = load_model("python_models/kmeans/kmeans_cluster_profiles.py")
    rules = load_model("python_models/baskets/association_rules.py")
    recommendations = load_model("python_models/baskets/product_recommendations.py")
    built: dict[str, DataFrame] = {}

    def kept(name: str, build: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
        def get() -> DataFrame:
            if name not in built:
                built[name] = build().persist()
            return built[name]

        return get

    products = kept("dim_products", lambda: dim_products(sales_lines))
    monthly = kept("sku_monthly_sales", lambda: sku_monthly_sales(spine, sales_lines))
    lifetime = kept(
        "customer_lifetime_value",
        lambda: clv.customer_lifetime_value(
            scores,
            sales_lines,
            clv.parse_settings(
                variables["clv_horizon_months"],
                variables["clv_discount_rate_monthly"],
                variables["clv_holdout_days"],
            ),
        ),
    )
    chosen = kept(
        "kmeans_model_selection",
        lambda: selection.kmeans_model_selection(
            scores,
            selection.parse_k_range(variables["kmeans_k_min"], variables["kmeans_k_max"]),
            selection.parse_seed(variables["kmeans_seed"]),
        ),
    )
    assigned = kept(
        "customer_kmeans_clusters",
        lambda: clusters.assign_clusters(scores, clusters.chosen_centers(chosen())),
    )
    mined = kept(
        "association_rules",
        lambda: rules.association_rules(
            sales_lines,
            products(),
            rules.parse_settings(
                variables["fpgrowth_min_support"],
                variables["fpgrowth_min_confidence"],
                variables["fpgrowth_max_rules"],
                variables["fpgrowth_max_basket_items"],
            ),
        ),
    )
    return {
        "dim_products": products,
        "sku_monthly_sales": monthly,
        "sku_seasonality": lambda: sku_seasonality(monthly()),
        "sku_trend_rankings": lambda: sku_trend_rankings(
            spine,
            monthly(),
            products(),
            int(variables["sku_trend_window_months"]),
            variables["sku_trend_min_revenue"],
            int(variables["sku_trend_top_n"]),
        ),
        "customer_lifetime_value": lifetime,
        "clv_model_evaluation": lambda: evaluation.clv_model_evaluation(lifetime()),
        "clv_tier_summary": lambda: tiers.clv_tier_summary(lifetime()),
        "kmeans_model_selection": chosen,
        "customer_kmeans_clusters": assigned,
        "kmeans_cluster_profiles": lambda: profiles.cluster_profiles(assigned(), segments),
        "association_rules": mined,
        "product_recommendations": lambda: recommendations.product_recommendations(
            mined(),
            products(),
            recommendations.parse_positive_int(
                "recommendation_top_products", variables["recommendation_top_products"]
            ),
            recommendations.parse_positive_int(
                "recommendations_per_product", variables["recommendations_per_product"]
            ),
        ),
    }


# The campaign A/B marts (models/marts/campaigns/, python_models/campaigns/), DEFINITIONS §7.
ASSIGNMENT_SCHEMA = (
    "campaign_id string, customer_id string, variant string, assigned_at string, "
    "_corrupt_record string"
)
Z_SUM = 1.959963984540054 + 0.8416212335729143  # z_0.975 + z_0.80, as campaign_ab_power


def campaign_assignments(spark: Any, folder: Path) -> DataFrame:
    """``stg_crm__campaign_assignments``: the readable CRM lines, one per campaign and
    customer (a customer with two variants, and second copies, are quarantined)."""
    options = {
        "header": "true",
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": "_corrupt_record",
        "quote": '"',
        "escape": '"',
        "nullValue": "",
        "emptyValue": "",
    }
    if not folder.is_dir() or not any(
        path.is_file() and not path.name.startswith(("_", ".")) for path in folder.rglob("*")
    ):
        return spark.createDataFrame(
            [], "campaign_id string, customer_id string, variant string, assigned_at timestamp"
        )
    raw = (
        spark.read.schema(ASSIGNMENT_SCHEMA)
        .options(**options)
        .csv(str(folder))
        .withColumn("source_file", sf.col("_metadata.file_path"))
    )
    parsed = raw.select(
        "source_file",
        sf.col("variant").alias("raw_variant"),
        sf.col("assigned_at").alias("raw_assigned_at"),
        sf.col("_corrupt_record").alias("raw_record"),
        sf.trim("campaign_id").alias("campaign_id"),
        sf.regexp_extract(sf.trim("customer_id"), r"^([0-9]+)(\.0+)?$", 1).alias("customer_id"),
        sf.lower(sf.trim("variant")).alias("variant"),
        sf.expr("try_to_timestamp(trim(assigned_at), 'yyyy-MM-dd HH:mm:ss')").alias("assigned_at"),
    )
    readable = parsed.where(
        sf.col("raw_record").isNull()
        & (sf.coalesce(sf.col("campaign_id"), sf.lit("")) != "")
        & (sf.coalesce(sf.col("customer_id"), sf.lit("")) != "")
        & sf.col("variant").isin("treatment", "control")
        & sf.col("assigned_at").isNotNull()
    )
    key = Window.partitionBy("campaign_id", "customer_id")
    ordered = key.orderBy("source_file", "raw_variant", "raw_assigned_at")
    return (
        readable.withColumn("copy_number", sf.row_number().over(ordered))
        .withColumn("is_conflicting", sf.min("variant").over(key) != sf.max("variant").over(key))
        .where((sf.col("copy_number") == 1) & ~sf.col("is_conflicting"))
        .select("campaign_id", "customer_id", "variant", "assigned_at")
    )


def campaign_ab_outcomes(
    assignments: DataFrame, sales_lines: DataFrame, window_days: int
) -> DataFrame:
    """``campaign_ab_outcomes``: window and pre-period of each assigned customer."""
    periods = assignments.select(
        "campaign_id",
        "customer_id",
        "variant",
        sf.to_date("assigned_at").alias("window_start_date"),
        sf.date_add(sf.to_date("assigned_at"), window_days).alias("window_end_date"),
        sf.date_sub(sf.to_date("assigned_at"), window_days).alias("pre_period_start_date"),
    )
    lines = sales_lines.select("customer_id", "invoice_id", "invoice_date", "line_amount").alias(
        "lines"
    )
    joined = periods.alias("p").join(
        lines,
        (sf.col("p.customer_id") == sf.col("lines.customer_id"))
        & (sf.col("lines.invoice_date") >= sf.col("p.pre_period_start_date"))
        & (sf.col("lines.invoice_date") < sf.col("p.window_end_date")),
        "inner",
    )
    in_window = sf.col("lines.invoice_date") >= sf.col("p.window_start_date")
    per_customer = joined.groupBy(
        sf.col("p.campaign_id").alias("campaign_id"), sf.col("p.customer_id").alias("customer_id")
    ).agg(
        sf.count_distinct(sf.when(in_window, sf.col("lines.invoice_id"))).alias("window_orders"),
        sf.sum(sf.when(in_window, sf.col("line_amount")).otherwise(0)).alias("revenue"),
        sf.sum(sf.when(~in_window, sf.col("line_amount")).otherwise(0)).alias("pre_revenue"),
    )
    orders = sf.coalesce(sf.col("window_orders"), sf.lit(0).cast("bigint"))
    return periods.join(per_customer, ["campaign_id", "customer_id"], "left").select(
        "campaign_id",
        "customer_id",
        "variant",
        orders.alias("window_orders"),
        sf.coalesce("revenue", sf.lit(0)).cast("decimal(18,3)").alias("revenue"),
        sf.coalesce("pre_revenue", sf.lit(0)).cast("decimal(18,3)").alias("pre_period_revenue"),
        (orders > 0).alias("converted"),
        "window_start_date",
        "window_end_date",
        "pre_period_start_date",
    )


def campaign_ab_power(outcomes: DataFrame) -> DataFrame:
    """``campaign_ab_power``: the minimum detectable effect of each campaign's arm sizes."""
    control = sf.col("variant") == "control"
    converted = sf.col("converted").cast("int")
    revenue = sf.col("revenue").cast("double")
    arms = outcomes.groupBy("campaign_id").agg(
        sf.count_if(sf.col("variant") == "treatment").alias("n_treatment"),
        sf.count_if(control).alias("n_control"),
        sf.avg(sf.when(control, converted)).alias("control_conversion"),
        sf.avg(converted).alias("conversion_rate"),
        sf.avg(sf.when(control, revenue)).alias("control_revenue"),
        sf.stddev_samp(revenue).alias("revenue_sd"),
    )
    per_metric = arms.select(
        "campaign_id",
        sf.lit("conversion").alias("metric"),
        "n_treatment",
        "n_control",
        sf.col("control_conversion").alias("control_mean"),
        sf.sqrt(sf.col("conversion_rate") * (1 - sf.col("conversion_rate"))).alias("pooled_sd"),
    ).unionByName(
        arms.select(
            "campaign_id",
            sf.lit("revenue").alias("metric"),
            "n_treatment",
            "n_control",
            sf.col("control_revenue").alias("control_mean"),
            sf.col("revenue_sd").alias("pooled_sd"),
        )
    )
    sized = (sf.col("n_treatment") > 0) & (sf.col("n_control") > 0) & (sf.col("pooled_sd") > 0)
    mde = (
        sf.lit(Z_SUM)
        * sf.col("pooled_sd")
        * sf.sqrt(1.0 / sf.col("n_treatment") + 1.0 / sf.col("n_control"))
    )
    return per_metric.select(
        "campaign_id",
        "metric",
        "n_treatment",
        "n_control",
        "control_mean",
        "pooled_sd",
        sf.lit(0.05).cast("double").alias("alpha"),
        sf.lit(0.8).cast("double").alias("target_power"),
        sf.when(sized, mde).alias("minimum_detectable_effect"),
        sf.when(sized & (sf.col("control_mean") > 0), mde / sf.col("control_mean")).alias(
            "minimum_detectable_relative_effect"
        ),
    )


def campaign_marts(
    spark: Any,
    assignments_dir: Path,
    sales_lines: DataFrame,
    load_model: Callable[[str], ModuleType],
    variables: dict[str, Any],
) -> dict[str, Callable[[], DataFrame]]:
    """The three campaign marts as builders (outcomes first, the other two read it)."""
    results = load_model("python_models/campaigns/campaign_ab_results.py")
    built: dict[str, DataFrame] = {}

    def outcomes() -> DataFrame:
        if "outcomes" not in built:
            assignments = campaign_assignments(spark, assignments_dir)
            window = int(variables["campaign_window_days"])
            built["outcomes"] = campaign_ab_outcomes(assignments, sales_lines, window).persist()
        return built["outcomes"]

    def ab_results() -> DataFrame:
        moments = [row.asDict() for row in results.arm_moments_frame(outcomes()).collect()]
        rows = results.results_from_moments(moments, float(variables["campaign_treatment_share"]))
        schema = ", ".join(f"{name} {kind}" for name, kind in results.RESULT_COLUMNS)
        return spark.createDataFrame(
            [tuple(row[name] for name, _ in results.RESULT_COLUMNS) for row in rows], schema
        )

    return {
        "campaign_ab_outcomes": outcomes,
        "campaign_ab_power": lambda: campaign_ab_power(outcomes()),
        "campaign_ab_results": ab_results,
    }
