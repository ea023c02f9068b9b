"""Cross-selling recommendations for the best-selling products (DEFINITIONS §6).

"Customers who bought X also bought Y": for each of the ``recommendation_top_products``
products with the highest revenue over the sales lines (``revenue_rank`` of
``dim_products``), the best ``recommendations_per_product`` rules of ``association_rules``
whose antecedent is that product alone, in the rules' own order (lift, then confidence,
then support). A top product without such a rule (too rare in baskets for FP-Growth's
minimum support, or no consequent confident enough) has no rows.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``recommendation_top_products``: how many best-selling products (default 50);
- ``recommendations_per_product``: how many recommendations each at most (default 5).
"""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf


def parse_positive_int(name: str, value: object) -> int:
    """A config value (a string when it comes from ``var()``) as a positive integer."""
    try:
        number = int(str(value).strip())
    except ValueError as error:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from error
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def top_products(products: DataFrame, count: int) -> DataFrame:
    """The ``count`` best sellers of ``dim_products`` (revenue rank 1 = highest revenue)."""
    return products.where(sf.col("revenue_rank") <= count).select(
        "stock_code",
        sf.col("revenue_rank").alias("product_rank"),
        sf.col("revenue").cast("decimal(20,3)").alias("product_revenue"),
    )


def product_recommendations(
    rules: DataFrame, products: DataFrame, top_count: int, per_product: int
) -> DataFrame:
    """The whole model: the top products' single-product rules, best first."""
    single = rules.where(sf.col("antecedent_size") == 1).select(
        sf.col("antecedent").alias("stock_code"),
        sf.col("antecedent_description").alias("description"),
        sf.col("consequent").alias("recommended_stock_code"),
        sf.col("consequent_description").alias("recommended_description"),
        "support",
        "confidence",
        "lift",
        "rule_rank",
    )
    per_product_order = Window.partitionBy("stock_code").orderBy("rule_rank")
    joined = (
        top_products(products, top_count)
        .join(single, on="stock_code", how="inner")
        .withColumn("recommendation_rank", sf.row_number().over(per_product_order))
        .where(sf.col("recommendation_rank") <= per_product)
    )
    return joined.select(
        sf.col("product_rank").cast("int").alias("product_rank"),
        sf.col("recommendation_rank").cast("int").alias("recommendation_rank"),
        "stock_code",
        "description",
        "recommended_stock_code",
        "recommended_description",
        "product_revenue",
        "support",
        "confidence",
        "lift",
        sf.col("rule_rank").cast("int").alias("rule_rank"),
    )


def model(dbt, session):
    top_count = parse_positive_int(
        "recommendation_top_products", dbt.config.meta_get("recommendation_top_products", 50)
    )
    per_product = parse_positive_int(
        "recommendations_per_product", dbt.config.meta_get("recommendations_per_product", 5)
    )
    return product_recommendations(
        dbt.ref("association_rules"),
        dbt.ref("dim_products"),
        top_count,
        per_product,
    )
