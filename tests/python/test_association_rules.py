"""Association rules and recommendations (python_models/baskets) on a tiny basket set whose
support, confidence and lift are worked out by hand."""

from __future__ import annotations

import random
from decimal import Decimal
from operator import itemgetter

import pytest
from pyspark.sql import functions as sf

from lgs_testing import load_python_model

RULES = load_python_model("python_models/baskets/association_rules.py")
RECOMMENDATIONS = load_python_model("python_models/baskets/product_recommendations.py")

SALES_LINE_SCHEMA = "invoice_id string, stock_code string"
PRODUCT_SCHEMA = "stock_code string, description string, revenue_rank int, revenue decimal(20,3)"

# Ten baskets that count (and one too big to count, with max_basket_items = 4):
#   1-4: A B   5: A B C   6: A C   7-8: C D   9: D   10: B
# Item counts A 6, B 6, C 4, D 3; pairs AB 5, AC 2, CD 2, BC 1, ABC 1.
BASKETS = {
    "1": "AB",
    "2": "AB",
    "3": "AB",
    "4": "AB",
    "5": "ABC",
    "6": "AC",
    "7": "CD",
    "8": "CD",
    "9": "D",
    "10": "B",
    "11": "ABCDE",
}
# dim_products: descriptions (D has none on any line) and revenue ranks (B first).
PRODUCTS = [
    ("A", "APPLE", 2, Decimal("8.000")),
    ("B", "BANANA", 1, Decimal("9.000")),
    ("C", "CHERRY", 3, Decimal("5.000")),
    ("D", None, 4, Decimal("4.000")),
    ("E", "ELDERBERRY", 5, Decimal("1.000")),
]
# With min support 0.2 (2 of 10 baskets) the frequent sets are A, B, C, D, AB, AC, CD; with
# min confidence 0.3 the rules are (support, confidence, lift = confidence / support(rhs)):
EXPECTED = {
    ("A", "B"): (0.5, 5 / 6, (5 / 6) / 0.6),
    ("B", "A"): (0.5, 5 / 6, (5 / 6) / 0.6),
    ("A", "C"): (0.2, 2 / 6, (2 / 6) / 0.4),
    ("C", "A"): (0.2, 2 / 4, (2 / 4) / 0.6),
    ("C", "D"): (0.2, 2 / 4, (2 / 4) / 0.3),
    ("D", "C"): (0.2, 2 / 3, (2 / 3) / 0.4),
}
# Two baskets suffice here (min_rule_baskets 1): the hand computation is about support.
SETTINGS = RULES.RuleSettings(
    min_support=0.2, min_confidence=0.3, max_rules=100, max_basket_items=4, min_rule_baskets=1
)


def basket_lines(spark, baskets: dict[str, str] = BASKETS):
    rows = [(invoice, item) for invoice, items in baskets.items() for item in items]
    # A repeated line does not count twice in a basket.
    rows.append(("1", "A"))
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


def products(spark):
    return spark.createDataFrame(PRODUCTS, PRODUCT_SCHEMA)


@pytest.fixture(scope="module")
def rules(spark):
    return [
        row.asDict()
        for row in RULES.association_rules(basket_lines(spark), products(spark), SETTINGS).collect()
    ]


def test_rules_have_hand_computed_support_confidence_and_lift(rules):
    actual = {(row["antecedent"], row["consequent"]): row for row in rules}
    assert set(actual) == set(EXPECTED)
    for key, (support, confidence, lift) in EXPECTED.items():
        row = actual[key]
        assert row["support"] == pytest.approx(support), key
        assert row["confidence"] == pytest.approx(confidence), key
        assert row["lift"] == pytest.approx(lift), key
        assert row["rule_baskets"] == round(support * 10)
        assert row["total_baskets"] == 10
        assert row["antecedent_size"] == 1


def test_rules_are_ranked_by_lift_then_confidence(rules):
    ordered = sorted(rules, key=lambda row: row["rule_rank"])
    assert [row["rule_rank"] for row in ordered] == list(range(1, len(rules) + 1))
    keys = [
        (-row["lift"], -row["confidence"], -row["support"], row["antecedent"]) for row in ordered
    ]
    assert keys == sorted(keys)
    # C-D and D-C (lift 5/3, equal up to rounding) first; A-B and B-A (lift 25/18, exactly
    # equal) next, in antecedent order.
    pairs = [(row["antecedent"], row["consequent"]) for row in ordered]
    assert set(pairs[:2]) == {("C", "D"), ("D", "C")}
    assert pairs[2:4] == [("A", "B"), ("B", "A")]


def test_rules_carry_the_product_descriptions(rules):
    by_rule = {(row["antecedent"], row["consequent"]): row for row in rules}
    a_b = by_rule[("A", "B")]
    assert (a_b["antecedent_description"], a_b["consequent_description"]) == ("APPLE", "BANANA")
    # D has no description: its side of the rule is left undescribed, the rule kept.
    c_d, d_c = by_rule[("C", "D")], by_rule[("D", "C")]
    assert (c_d["antecedent_description"], c_d["consequent_description"]) == ("CHERRY", None)
    assert (d_c["antecedent_description"], d_c["consequent_description"]) == (None, "CHERRY")


def test_max_rules_keeps_the_best(spark):
    settings = SETTINGS._replace(max_rules=3)
    rows = RULES.association_rules(basket_lines(spark), products(spark), settings).collect()
    assert sorted(row["rule_rank"] for row in rows) == [1, 2, 3]
    assert {(row["antecedent"], row["consequent"]) for row in rows} >= {("C", "D"), ("D", "C")}


def test_larger_itemsets_become_multi_item_antecedents(spark):
    # Every basket holds A, B and C: rules AB -> C, AC -> B, BC -> A, all of lift 1.
    baskets = {str(index): "ABC" for index in range(1, 5)}
    settings = SETTINGS._replace(min_support=0.5, min_confidence=0.5)
    rows = RULES.association_rules(
        basket_lines(spark, baskets), products(spark), settings
    ).collect()
    pairs = {(row["antecedent"], row["consequent"]) for row in rows if row["antecedent_size"] == 2}
    assert pairs == {("A + B", "C"), ("A + C", "B"), ("B + C", "A")}
    multi = next(row for row in rows if row["antecedent"] == "A + B")
    assert multi["antecedent_description"] == "APPLE + BANANA"
    assert all(row["lift"] == pytest.approx(1.0) for row in rows)
    assert all(row["support"] == 1.0 for row in rows)


def test_no_baskets_no_rules(spark):
    empty = spark.createDataFrame([], SALES_LINE_SCHEMA)
    assert RULES.association_rules(empty, products(spark), SETTINGS).collect() == []


def test_pair_frequent_items_leave_out_products_frequent_only_alone(spark):
    # Two of ten baskets make an itemset frequent. F is in three baskets but never with
    # another product; E is in two, but with A once and B once; C is rare; A-B is the only
    # frequent pair.
    baskets = {"1": "AB", "2": "AB", "3": "AC", "4": "F", "5": "F", "6": "F", "7": "AE"}
    baskets.update({"8": "BE", "9": "D", "10": "G"})
    frame = RULES.invoice_baskets(basket_lines(spark, baskets), 100)
    assert RULES.pair_frequent_items(frame, 2) == ["A", "B"]
    assert RULES.pair_frequent_items(frame, 1) == ["A", "B", "C", "E"]
    assert RULES.pair_frequent_items(frame, 3) == []


def test_pruning_keeps_every_basket_and_only_the_given_codes(spark):
    frame = RULES.invoice_baskets(basket_lines(spark), 4)
    pruned = {
        row["invoice_id"]: row["items"] for row in RULES.prune_baskets(frame, ["B", "C"]).collect()
    }
    assert pruned == {
        "1": ["B"], "2": ["B"], "3": ["B"], "4": ["B"], "5": ["B", "C"], "6": ["C"],
        "7": ["C"], "8": ["C"], "9": [], "10": ["B"],
    }  # fmt: skip


def themed_basket_lines(spark, seed: int = 3):
    """300 baskets of 40 products in 5 themes: frequent pairs and triples inside a theme,
    popular products that sell alone, a long tail of rare ones."""
    rng = random.Random(seed)
    themes = [[f"T{theme}{item}" for item in range(5)] for theme in range(4)]
    rows = []
    for invoice in range(300):
        items = set(rng.sample(themes[rng.randrange(4)], rng.randint(0, 4)))
        if rng.random() < 0.5:
            items.add(f"P{rng.randrange(4)}")  # popular, bought with anything
        items.update(f"R{rng.randrange(16)}" for _ in range(rng.randint(0, 3)))
        rows.extend((str(invoice), item) for item in sorted(items))
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


@pytest.mark.parametrize(("support", "confidence"), [(0.04, 0.1), (0.03, 0.3), (0.02, 0.5)])
def test_rules_equal_fp_growth_on_the_whole_baskets(spark, support, confidence):
    lines = themed_basket_lines(spark)
    settings = RULES.RuleSettings(
        support, confidence, max_rules=10_000, max_basket_items=100, min_rule_baskets=1
    )
    catalogue = spark.createDataFrame([], PRODUCT_SCHEMA)
    pruned_rules = [
        row.asDict() for row in RULES.association_rules(lines, catalogue, settings).collect()
    ]

    baskets = RULES.invoice_baskets(lines, settings.max_basket_items).cache()
    # The pruning has work to do: some frequent products are in no frequent pair.
    min_count = RULES.minimum_count(support, baskets.count())
    item_counts = baskets.select(sf.explode("items").alias("item")).groupBy("item").count()
    frequent = {row["item"] for row in item_counts.where(f"count >= {min_count}").collect()}
    assert set(RULES.pair_frequent_items(baskets, min_count)) < frequent
    rules, itemsets = RULES.mine_rules(baskets, settings)
    whole = RULES.describe_and_rank(rules, catalogue, baskets.count(), settings.max_rules)
    whole_rules = [row.asDict() for row in whole.collect()]
    itemsets.unpersist()
    baskets.unpersist()

    assert pruned_rules, "the themes must give rules"
    assert any(row["antecedent_size"] == 2 for row in pruned_rules), "and some of three products"
    assert sorted(pruned_rules, key=itemgetter("rule_rank")) == sorted(
        whole_rules, key=itemgetter("rule_rank")
    )


@pytest.mark.parametrize(
    "values",
    [
        ("0", "0.2", "10", "100"),
        ("0.1", "1.5", "10", "100"),
        ("0.1", "0.2", "0", "100"),
        ("x", "0.2", "1", "9"),
    ],
)
def test_invalid_settings_are_rejected(values):
    with pytest.raises(ValueError):
        RULES.parse_settings(*values)


def test_recommendations_for_the_top_products(spark, rules):
    rule_frame = spark.createDataFrame(rules, RULES.OUTPUT_SCHEMA)
    catalogue = products(spark)
    rows = [
        row.asDict()
        for row in RECOMMENDATIONS.product_recommendations(rule_frame, catalogue, 2, 1).collect()
    ]
    # The two best sellers by revenue rank: B, then A.
    assert sorted((row["product_rank"], row["stock_code"]) for row in rows) == [(1, "B"), (2, "A")]
    by_product = {row["stock_code"]: row for row in rows}
    assert by_product["A"]["recommended_stock_code"] == "B"  # A -> B beats A -> C on lift
    assert by_product["B"]["recommended_stock_code"] == "A"
    assert by_product["B"]["product_revenue"] == Decimal("9.000")
    assert by_product["A"]["recommended_description"] == "BANANA"
    assert {row["recommendation_rank"] for row in rows} == {1}
    two_each = RECOMMENDATIONS.product_recommendations(rule_frame, catalogue, 2, 2).collect()
    assert sorted((row["stock_code"], row["recommendation_rank"]) for row in two_each) == [
        ("A", 1),
        ("A", 2),
        ("B", 1),
    ]
    # The top four: D (rank 4) has rules D -> C; E (rank 5) is not among them.
    four = RECOMMENDATIONS.product_recommendations(rule_frame, catalogue, 4, 5).collect()
    assert {row["stock_code"] for row in four} == {"A", "B", "C", "D"}
    assert {(row["stock_code"], row["recommended_stock_code"]) for row in four} == {
        ("A", "B"),
        ("A", "C"),
        ("B", "A"),
        ("C", "A"),
        ("C", "D"),
        ("D", "C"),
    }


# --- Small data: an itemset needs min_rule_baskets baskets besides the support -------------


def test_mining_threshold_is_the_support_unless_the_floor_is_higher():
    default = RULES.RuleSettings()
    # The default data (about 36,000 baskets mined): the support decides, unchanged.
    assert RULES.mining_threshold(default, 36_000) == (360, 0.01)
    assert RULES.mining_threshold(default, 1000) == (10, 0.01)
    count, support = RULES.mining_threshold(default, 300)
    assert count == 10 and RULES.minimum_count(support, 300) == 10
    for baskets in (11, 29, 333, 999):  # no rounding lifts the count MLlib asks for
        assert RULES.minimum_count(RULES.mining_threshold(default, baskets)[1], baskets) == 10
    assert RULES.mining_threshold(default, 3)[0] == 10
    assert RULES.mining_threshold(default, 0) == (0, 0.01)
    assert RULES.parse_settings("0.01", "0.2", "1000", "100") == default
    assert RULES.parse_settings("0.01", "0.2", "1000", "100", "3").min_rule_baskets == 3
    with pytest.raises(ValueError, match="fpgrowth_min_rule_baskets"):
        RULES.parse_settings("0.01", "0.2", "1000", "100", "0")


@pytest.mark.timeout(300)
def test_one_large_invoice_gives_no_rules_instead_of_every_subset(spark):
    # One basket of 40 products: at 1% support each of its 2^40 subsets would be frequent.
    lines = spark.createDataFrame([("1", f"P{item:02d}") for item in range(40)], SALES_LINE_SCHEMA)
    rules = RULES.association_rules(lines, products(spark), RULES.RuleSettings())
    assert rules.collect() == []
    assert rules.columns == [field.split()[0] for field in RULES.OUTPUT_SCHEMA.split(", ")]


def test_a_pair_needs_min_rule_baskets_baskets(spark):
    # 40 baskets; A and B together in 5 of them (12.5% support, far above 1%).
    baskets = {str(index): "AB" if index < 5 else "C" for index in range(40)}
    lines = basket_lines(spark, baskets)
    loose = RULES.RuleSettings(min_rule_baskets=5)
    found = RULES.association_rules(lines, products(spark), loose).collect()
    assert {(row["antecedent"], row["consequent"], row["rule_baskets"]) for row in found} == {
        ("A", "B", 5),
        ("B", "A", 5),
    }
    assert RULES.association_rules(lines, products(spark), RULES.RuleSettings()).collect() == []
