"""Cross-selling association rules mined with FP-Growth over invoice baskets (DEFINITIONS §6).

A basket is the set of distinct stock codes of an invoice's sales lines (with or without a
customer id). Baskets with more than ``fpgrowth_max_basket_items`` distinct products are
left out: they are wholesale-style orders of a whole catalogue page, which say little about
what sells together and make the frequent itemsets explode. Spark MLlib ``FPGrowth`` finds
the itemsets in at least ``fpgrowth_min_support`` of the baskets and the rules
``antecedent -> consequent`` with confidence at least ``fpgrowth_min_confidence``:

- support = share of baskets holding antecedent and consequent;
- confidence = support(antecedent + consequent) / support(antecedent);
- lift = confidence / support(consequent): how many times likelier the consequent is in a
  basket with the antecedent than in any basket (> 1: bought together more than by chance).

Rules are ranked by lift, then confidence, then support (ties by the codes), and the best
``fpgrowth_max_rules`` are kept. Descriptions come from ``dim_products``: each stock code's
most frequent description over the sales lines (the alphabetically first on a tie), since a
code's description varies slightly between lines.

Cost, and an exact pruning in front of FP-Growth: FP-Growth's work grows with the FP-tree
of the baskets' frequent products (on the default data 484 products, 414,000 basket
entries), yet only products in at least one frequent *pair* can belong to a rule: every
pair inside a frequent itemset is itself frequent (support is anti-monotone), and a rule
needs an itemset of two or more products. So the products of each basket that are in no
frequent pair are dropped before FP-Growth runs (50 of the 484 products stay on the default
data), while every basket is kept, so that the number of baskets, the supports, confidences
and lifts, and therefore the rules, are exactly those of FP-Growth on the whole baskets (a
unit test compares both). The frequent pairs are counted in Spark SQL on integer keys (a
product's index among the frequent ones), one pass over the basket entries. On the default
data this pass plus FP-Growth on the pruned baskets cost between a third and a half of the
task CPU of FP-Growth on the whole baskets (2.4-4.0 s against 7.4-7.9 s, in two runs). The
baskets are built in one pass over the sales lines and cached in one partition; FP-Growth
builds one tree (``numPartitions=1``), since every extra partition builds its own tree out
of copies of the baskets' prefixes (about twice the CPU with two partitions, four times
with eight); the frequent itemsets are cached so that the rules, which join them with
themselves, do not mine the tree twice.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``fpgrowth_min_support`` (default 0.01), ``fpgrowth_min_confidence`` (default 0.2);
- ``fpgrowth_max_rules`` (default 1000), ``fpgrowth_max_basket_items`` (default 100);
- ``fpgrowth_min_rule_baskets`` (default 10): besides the minimum support, an itemset needs
  at least this many baskets. On a few hundred baskets 1% is one or two baskets: a product
  pair seen once would be a "rule", and a single invoice of n products would make every
  one of its 2^n subsets frequent, which FP-Growth would enumerate for hours. On the
  default data the support already asks for hundreds of baskets, so this changes nothing
  there; on small data it leaves fewer rules, or none (an empty table, a valid answer:
  nothing sells together often enough to tell).
"""

import math

# NamedTuple rather than dataclasses: the session adapter exec()s the model outside any
# module, and dataclasses fail there when annotations are strings (PEP 563).
from typing import NamedTuple

# The package first: dbt runs models on several threads, and two threads importing
# different pyspark.ml submodules at once deadlock on pyspark.ml's __init__ (Python then
# hands out half-initialised modules). Importing the package takes only its lock.
import pyspark.ml  # noqa: F401
from pyspark.ml.fpm import FPGrowth
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf

ITEM_SEPARATOR = " + "
OUTPUT_SCHEMA = (
    "rule_rank int, antecedent string, consequent string, antecedent_size int, "
    "antecedent_description string, consequent_description string, support double, "
    "confidence double, lift double, rule_baskets bigint, total_baskets bigint"
)


class RuleSettings(NamedTuple):
    """The mining thresholds and limits, validated."""

    min_support: float = 0.01
    min_confidence: float = 0.2
    max_rules: int = 1000
    max_basket_items: int = 100
    min_rule_baskets: int = 10


def parse_settings(
    min_support: object,
    min_confidence: object,
    max_rules: object,
    max_basket_items: object,
    min_rule_baskets: object = 10,
) -> RuleSettings:
    """Settings from the config values (strings when they come from ``var()``)."""
    try:
        settings = RuleSettings(
            min_support=float(str(min_support).strip()),
            min_confidence=float(str(min_confidence).strip()),
            max_rules=int(str(max_rules).strip()),
            max_basket_items=int(str(max_basket_items).strip()),
            min_rule_baskets=int(str(min_rule_baskets).strip()),
        )
    except ValueError as error:
        raise ValueError(
            "fpgrowth_min_support and fpgrowth_min_confidence must be numbers, "
            "fpgrowth_max_rules, fpgrowth_max_basket_items and fpgrowth_min_rule_baskets "
            f"integers, got {min_support!r}, {min_confidence!r}, {max_rules!r}, "
            f"{max_basket_items!r}, {min_rule_baskets!r}"
        ) from error
    if settings.min_rule_baskets < 1:
        raise ValueError(f"fpgrowth_min_rule_baskets must be >= 1, got {min_rule_baskets!r}")
    if not 0 < settings.min_support <= 1:
        raise ValueError(f"fpgrowth_min_support must be in (0, 1], got {min_support!r}")
    if not 0 <= settings.min_confidence <= 1:
        raise ValueError(f"fpgrowth_min_confidence must be in [0, 1], got {min_confidence!r}")
    if settings.max_rules < 1 or settings.max_basket_items < 2:
        raise ValueError(
            "fpgrowth_max_rules must be >= 1 and fpgrowth_max_basket_items >= 2, got "
            f"{max_rules!r} and {max_basket_items!r}"
        )
    return settings


def invoice_baskets(sales_lines: DataFrame, max_basket_items: int) -> DataFrame:
    """One row per invoice with at most ``max_basket_items`` products: its sorted codes."""
    baskets = sales_lines.groupBy("invoice_id").agg(
        sf.array_sort(sf.collect_set("stock_code")).alias("items")
    )
    return baskets.where(sf.size("items") <= max_basket_items)


def minimum_count(min_support: float, total_baskets: int) -> int:
    """Baskets an itemset needs: ceil(min_support * baskets), computed as MLlib does."""
    return math.ceil(min_support * total_baskets)


def mining_threshold(settings: RuleSettings, total_baskets: int) -> tuple[int, float]:
    """(baskets an itemset needs, the minSupport that makes MLlib ask exactly that many).

    The larger of the support's count and ``min_rule_baskets``; when the support's count is
    the larger, the configured support itself, so the default data is mined as before.
    """
    by_support = minimum_count(settings.min_support, total_baskets)
    if by_support >= settings.min_rule_baskets or total_baskets == 0:
        return by_support, settings.min_support
    # MLlib asks for ceil(minSupport * baskets): half a basket below the count, so that no
    # rounding of the division lifts it to the next count.
    count = settings.min_rule_baskets
    return count, min((count - 0.5) / total_baskets, 1.0)


def pair_frequent_items(baskets: DataFrame, min_count: int) -> list[str]:
    """The stock codes held, with some other code, by at least ``min_count`` baskets.

    Only these can be part of an itemset of two or more products. Pairs are counted on
    integer keys (first index * number of frequent codes + second index) so that the
    several million pairs of a large data set are plain numbers, not arrays. Returns the
    codes sorted; the frequent codes and the codes of frequent pairs are bounded by the
    catalogue, so both are collected.
    """
    entries = baskets.select("invoice_id", sf.explode("items").alias("stock_code"))
    frequent = sorted(
        row["stock_code"]
        for row in entries.groupBy("stock_code")
        .count()
        .where(sf.col("count") >= min_count)
        .collect()
    )
    if len(frequent) < 2:
        return []
    width = len(frequent)
    index = baskets.sparkSession.createDataFrame(
        list(enumerate(frequent)), "item_index int, stock_code string"
    )
    indexes = (
        entries.join(sf.broadcast(index), on="stock_code", how="inner")
        .groupBy("invoice_id")
        .agg(sf.array_sort(sf.collect_list("item_index")).alias("indexes"))
        .where(sf.size("indexes") >= 2)
    )
    # Every pair (i, j), i < j, of a basket's sorted indexes as the key i * width + j.
    pair_keys = sf.flatten(
        sf.transform(
            sf.sequence(sf.lit(1), sf.size("indexes") - 1),
            lambda position: sf.transform(
                sf.slice("indexes", position + 1, sf.size("indexes")),
                lambda other: sf.element_at("indexes", position).cast("bigint") * width + other,
            ),
        )
    )
    frequent_pairs = (
        indexes.select(sf.explode(pair_keys).alias("pair_key"))
        .groupBy("pair_key")
        .count()
        .where(sf.col("count") >= min_count)
    )
    members = frequent_pairs.select(
        sf.explode(
            sf.array(
                (sf.col("pair_key") / width).cast("int"), (sf.col("pair_key") % width).cast("int")
            )
        ).alias("item_index")
    ).distinct()
    return sorted(frequent[row["item_index"]] for row in members.collect())


def prune_baskets(baskets: DataFrame, keep: list[str]) -> DataFrame:
    """Every basket, holding only the codes of ``keep`` (possibly none)."""
    return baskets.select(
        "invoice_id", sf.filter("items", lambda code: code.isin(keep)).alias("items")
    )


def mine_rules(
    baskets: DataFrame, settings: RuleSettings, min_support: float | None = None
) -> tuple[DataFrame, DataFrame]:
    """FP-Growth rules: antecedent (sorted array), consequent (one code), support, …, lift.

    ``min_support`` (default ``settings.min_support``) is the minSupport given to MLlib.
    Returns the rules and the cached frequent itemsets they are computed from, for the
    caller to unpersist once the rules are collected.
    """
    # One FP-tree: its conditional transactions are copied once per partition, and mining
    # a few hundred frequent items needs no parallelism.
    fitted = FPGrowth(
        itemsCol="items",
        minSupport=settings.min_support if min_support is None else min_support,
        minConfidence=settings.min_confidence,
        numPartitions=1,
    ).fit(baskets)
    # The rules join the itemsets with themselves: cached, the FP-tree is mined once, not
    # once per side of the join.
    itemsets = fitted.freqItemsets.cache()
    rules = fitted.associationRules.select(
        sf.array_sort("antecedent").alias("antecedent"),
        sf.col("consequent")[0].alias("consequent"),
        sf.col("support").cast("double").alias("support"),
        sf.col("confidence").cast("double").alias("confidence"),
        sf.col("lift").cast("double").alias("lift"),
    )
    return rules, itemsets


def describe_and_rank(
    rules: DataFrame, descriptions: DataFrame, total_baskets: int, max_rules: int
) -> DataFrame:
    """The best ``max_rules`` rules ranked, codes joined as text and described.

    ``descriptions`` has one row per stock code (``dim_products``). A code without a
    description (all its lines lack one) leaves its side of the rule undescribed (null),
    rather than a list whose descriptions no longer line up with the codes.
    """
    catalogue = descriptions.where(sf.col("description").isNotNull()).agg(
        sf.map_from_entries(sf.collect_list(sf.struct("stock_code", "description"))).alias(
            "descriptions"
        )
    )
    antecedent_text = sf.array_join("antecedent", ITEM_SEPARATOR)
    ranking = Window.orderBy(
        sf.col("lift").desc(),
        sf.col("confidence").desc(),
        sf.col("support").desc(),
        antecedent_text.asc(),
        sf.col("consequent").asc(),
    )
    antecedent_descriptions = sf.transform(
        "antecedent", lambda code: sf.element_at("descriptions", code)
    )
    described = rules.crossJoin(sf.broadcast(catalogue)).select(
        sf.row_number().over(ranking).alias("rule_rank"),
        antecedent_text.alias("antecedent"),
        "consequent",
        sf.size("antecedent").alias("antecedent_size"),
        sf.when(
            sf.forall(antecedent_descriptions, lambda text: text.isNotNull()),
            sf.array_join(antecedent_descriptions, ITEM_SEPARATOR),
        ).alias("antecedent_description"),
        sf.element_at("descriptions", sf.col("consequent")).alias("consequent_description"),
        "support",
        "confidence",
        "lift",
        sf.round(sf.col("support") * total_baskets).cast("bigint").alias("rule_baskets"),
        sf.lit(total_baskets).cast("bigint").alias("total_baskets"),
    )
    return described.where(sf.col("rule_rank") <= max_rules)


def association_rules(
    sales_lines: DataFrame, products: DataFrame, settings: RuleSettings
) -> DataFrame:
    """The whole model: ranked, described rules over the invoice baskets of ``sales_lines``.

    ``products`` holds each stock code's description (``dim_products``).
    """
    # One partition (tens of thousands of baskets): FP-Growth builds one FP-tree per input
    # partition and ships it to be merged, so fewer partitions mean less to build, serialise
    # and merge.
    baskets = invoice_baskets(sales_lines, settings.max_basket_items).coalesce(1).cache()
    pruned = None
    itemsets = None
    try:
        total_baskets = baskets.count()
        min_count, min_support = mining_threshold(settings, total_baskets)
        keep = pair_frequent_items(baskets, min_count)
        rows = []
        if keep:
            pruned = prune_baskets(baskets, keep).cache()
            rules, itemsets = mine_rules(pruned, settings, min_support)
            ranked = describe_and_rank(rules, products, total_baskets, settings.max_rules)
            # At most max_rules rows: collected so that the cached baskets (which FP-Growth
            # reads several times) and itemsets can be released before dbt writes the table.
            rows = ranked.collect()
    finally:
        for cached in (baskets, pruned, itemsets):
            if cached is not None:
                cached.unpersist()
    return sales_lines.sparkSession.createDataFrame(rows, OUTPUT_SCHEMA)


def model(dbt, session):
    settings = parse_settings(
        dbt.config.meta_get("fpgrowth_min_support", 0.01),
        dbt.config.meta_get("fpgrowth_min_confidence", 0.2),
        dbt.config.meta_get("fpgrowth_max_rules", 1000),
        dbt.config.meta_get("fpgrowth_max_basket_items", 100),
        dbt.config.meta_get("fpgrowth_min_rule_baskets", 10),
    )
    return association_rules(dbt.ref("int_sales_lines_filtered"), dbt.ref("dim_products"), settings)
