"""RFM models (python_models/rfm) against hand-computed scores and the pandas reference.

Expected values in the hand-made cases are worked out in the comments from DEFINITIONS §4:
edges e_k are the exact linear-interpolation percentiles at 0.2/0.4/0.6/0.8 (position
(n-1)·q in the sorted values) and bin = 1 + #{k : value > e_k}.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import yaml

from lgs_analytics.reference import rfm as reference
from lgs_testing import PROJECT_ROOT, load_python_model

RFM = load_python_model("python_models/rfm/customer_rfm_scores.py")
SUMMARY = load_python_model("python_models/rfm/rfm_segment_summary.py")

SALES_LINE_SCHEMA = (
    "customer_id string, invoice_id string, country string, line_amount decimal(18,3), "
    "invoice_date date, invoiced_at timestamp"
)
SCORE_COLUMNS = list(reference.RFM_COLUMNS)

# A sales line for these tests: (customer_id, invoice_id, invoice date, line amount).
Line = tuple[str | None, str, str, str]


def spark_sales_lines(spark, lines: list[Line]):
    """The lines as a Spark frame shaped like ``int_sales_lines_filtered``."""
    rows = [
        (
            customer,
            invoice,
            "United Kingdom",
            Decimal(amount),
            dt.date.fromisoformat(day),
            dt.datetime.fromisoformat(day + " 10:00:00"),
        )
        for customer, invoice, day, amount in lines
    ]
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


def reference_transactions(lines: list[Line]) -> pd.DataFrame:
    """The same lines as cleansed reference transactions (all of them sales lines)."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([line[0] for line in lines], dtype=object),
            "invoice_id": [line[1] for line in lines],
            "country": "United Kingdom",
            "line_amount_milli": pd.Series(
                [int(Decimal(line[3]) * 1000) for line in lines], dtype="int64"
            ),
            "invoice_date": pd.to_datetime([line[2] for line in lines]),
            "invoiced_at": pd.to_datetime([line[2] + " 10:00:00" for line in lines]),
            "is_sales_line": True,
        }
    )


@pytest.fixture(scope="module")
def segment_map(spark):
    seed = reference.load_segment_map()
    return spark.createDataFrame(
        [tuple(row) for row in seed[["r_score", "f_score", "segment"]].itertuples(index=False)],
        "r_score int, f_score int, segment string",
    )


def spark_scores(spark, segment_map, lines: list[Line], reference_date=None) -> pd.DataFrame:
    frame = RFM.customer_rfm_scores(spark_sales_lines(spark, lines), segment_map, reference_date)
    rows = [row.asDict() for row in frame.collect()]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS).sort_values("customer_id", ignore_index=True)


def reference_scores(lines: list[Line], reference_date=None) -> pd.DataFrame:
    return reference.rfm_scores(reference_transactions(lines), reference_date=reference_date)


def assert_same_scores(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.columns) == SCORE_COLUMNS
    assert actual.to_dict("records") == expected.to_dict("records")


def by_customer(scores: pd.DataFrame, column: str) -> dict[str, object]:
    return dict(zip(scores["customer_id"], scores[column], strict=True))


# --- the qcut-equivalent binning of the reference --------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reference_bins_equal_pd_qcut_when_edges_are_unique(seed):
    rng = np.random.default_rng(seed)
    samples = [
        pd.Series(rng.lognormal(5, 1.5, size=203)),
        pd.Series(rng.integers(1, 400, size=57)).astype(float),
        pd.Series(np.arange(1, 12, dtype=float)),  # ranks: edges at interpolated positions
        pd.Series(np.arange(1, 7, dtype=float)),  # n-1 = 5: edges fall exactly on values
    ]
    for values in samples:
        edges = np.quantile(values, [0.2, 0.4, 0.6, 0.8])
        assert len(np.unique(edges)) == 4, "the sample must have unique edges"
        expected = pd.qcut(values, 5, labels=[1, 2, 3, 4, 5]).astype(int)
        assert reference.quintile_bins(values).tolist() == expected.tolist()


def test_reference_bins_follow_the_formula_where_qcut_raises():
    # 10 values, sorted: 1 1 1 1 1 1 2 2 3 9. Positions 1.8, 3.6, 5.4, 7.2 give
    # e1 = 1, e2 = 1, e3 = 1 + 0.4·(2-1) = 1.4, e4 = 2 + 0.2·(3-2) = 2.2.
    values = pd.Series([1, 1, 1, 1, 1, 1, 2, 2, 3, 9], dtype=float)
    with pytest.raises(ValueError, match="Bin edges must be unique"):
        pd.qcut(values, 5, labels=[1, 2, 3, 4, 5])
    # 1 exceeds no edge; 2 exceeds e1, e2, e3; 3 and 9 exceed all four.
    assert reference.quintile_bins(values).tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_reference_puts_the_minimum_in_bin_one():
    values = pd.Series([5.0, 5.0, 5.0])  # every edge is 5: nothing is above any edge
    assert reference.quintile_bins(values).tolist() == [1, 1, 1]


# --- hand-made cases on Spark, against hand-computed values and the reference ----------------


def test_single_customer(spark, segment_map):
    lines: list[Line] = [
        ("13085", "489434", "2011-12-09", "83.400"),
        ("13085", "489434", "2011-12-09", "81.000"),
        ("13085", "489500", "2011-11-01", "10.000"),
    ]
    actual = spark_scores(spark, segment_map, lines)
    # One customer: every edge equals its own value, so each bin is 1 and r = 6 - 1 = 5.
    assert actual.to_dict("records") == [
        {
            "customer_id": "13085",
            "segment": "New Customers",
            "rfm_score": "511",
            "recency_days": 1,
            "frequency": 2,
            "monetary": Decimal("174.400"),
            "frequency_rank": 1,
            "r_score": 5,
            "f_score": 1,
            "m_score": 1,
            "last_purchase_date": dt.date(2011, 12, 9),
            "reference_date": dt.date(2011, 12, 10),
        }
    ]
    assert_same_scores(actual, reference_scores(lines))


def test_all_customers_equal_except_their_rank(spark, segment_map):
    # Five one-invoice customers, same day, same amount. Recency and monetary edges all equal
    # the common value (bins 1: r = 5, m = 1); ranks 1..5 have edges 1.8, 2.6, 3.4, 4.2.
    lines: list[Line] = [(f"1234{i}", f"50000{i}", "2011-06-30", "20.000") for i in range(5)]
    actual = spark_scores(spark, segment_map, lines)
    assert actual["frequency_rank"].tolist() == [1, 2, 3, 4, 5]
    assert actual["r_score"].tolist() == [5] * 5
    assert actual["f_score"].tolist() == [1, 2, 3, 4, 5]
    assert actual["m_score"].tolist() == [1] * 5
    assert actual["segment"].tolist() == [
        "New Customers",
        "Potential Loyalists",
        "Potential Loyalists",
        "Champions",
        "Champions",
    ]
    assert_same_scores(actual, reference_scores(lines))


def ties_on_every_score() -> list[Line]:
    """Ten customers with tied recency, tied frequency and tied monetary values."""
    # customer: (days before 2011-12-09 of the last purchase, invoices, amount per invoice)
    plan = {
        "101": (0, 1, "10.000"),
        "102": (0, 1, "10.000"),
        "103": (0, 2, "5.000"),
        "104": (0, 1, "10.000"),
        "105": (1, 3, "10.000"),
        "106": (1, 1, "30.000"),
        "107": (2, 2, "15.000"),
        "108": (2, 1, "40.000"),
        "109": (3, 3, "20.000"),
        "110": (9, 1, "60.000"),
    }
    lines: list[Line] = []
    for customer, (days_ago, invoices, amount) in plan.items():
        last = dt.date(2011, 12, 9) - dt.timedelta(days=days_ago)
        for number in range(invoices):
            day = last - dt.timedelta(days=30 * number)
            lines.append((customer, f"{customer}{number}", day.isoformat(), amount))
    return lines


def test_ties_on_every_score(spark, segment_map):
    actual = spark_scores(spark, segment_map, ties_on_every_score())
    # Recency (reference 2011-12-10): 1 1 1 1 2 2 3 3 4 10 sorted; positions 1.8, 3.6, 5.4,
    # 7.2 give edges 1, 1.6, 2.4, 3.2 → bins 1 / 3 / 4 / 5 / 5, r = 6 - bin.
    assert by_customer(actual, "recency_days") == {
        "101": 1, "102": 1, "103": 1, "104": 1, "105": 2,
        "106": 2, "107": 3, "108": 3, "109": 4, "110": 10,
    }  # fmt: skip
    assert by_customer(actual, "r_score") == {
        "101": 5, "102": 5, "103": 5, "104": 5, "105": 3,
        "106": 3, "107": 2, "108": 2, "109": 1, "110": 1,
    }  # fmt: skip
    # Frequency 1 (101 102 104 106 108 110), 2 (103 107), 3 (105 109): rank by frequency then
    # id; ranks 1..10 have edges 2.8, 4.6, 6.4, 8.2.
    assert by_customer(actual, "frequency_rank") == {
        "101": 1, "102": 2, "104": 3, "106": 4, "108": 5,
        "110": 6, "103": 7, "107": 8, "105": 9, "109": 10,
    }  # fmt: skip
    assert by_customer(actual, "f_score") == {
        "101": 1, "102": 1, "104": 2, "106": 2, "108": 3,
        "110": 3, "103": 4, "107": 4, "105": 5, "109": 5,
    }  # fmt: skip
    # Monetary 10 10 10 10 30 30 30 40 60 60 sorted; edges 10, 10 + 0.6·20 = 22, 30 (both
    # neighbours are 30) and 40 + 0.2·20 = 44. 30 is not above e3 = 30: right-inclusive bins.
    assert by_customer(actual, "monetary") == {
        "101": Decimal("10.000"), "102": Decimal("10.000"), "103": Decimal("10.000"),
        "104": Decimal("10.000"), "105": Decimal("30.000"), "106": Decimal("30.000"),
        "107": Decimal("30.000"), "108": Decimal("40.000"), "109": Decimal("60.000"),
        "110": Decimal("60.000"),
    }  # fmt: skip
    assert by_customer(actual, "m_score") == {
        "101": 1, "102": 1, "103": 1, "104": 1, "105": 3,
        "106": 3, "107": 3, "108": 4, "109": 5, "110": 5,
    }  # fmt: skip
    # Segments from the (r, f) digits of the DEFINITIONS §4 table.
    assert by_customer(actual, "segment") == {
        "101": "New Customers", "102": "New Customers", "103": "Champions",
        "104": "Potential Loyalists", "105": "Loyal Customers", "106": "About to Sleep",
        "107": "At Risk", "108": "At Risk", "109": "Can't Lose", "110": "At Risk",
    }  # fmt: skip
    assert by_customer(actual, "rfm_score")["108"] == "234"
    assert_same_scores(actual, reference_scores(ties_on_every_score()))


def test_frequency_rank_breaks_ties_by_customer_id_as_text(spark, segment_map):
    # Same frequency for all three: as strings "10" < "100" < "9".
    lines: list[Line] = [
        ("9", "500001", "2011-01-10", "1.000"),
        ("10", "500002", "2011-01-10", "1.000"),
        ("100", "500003", "2011-01-10", "1.000"),
    ]
    actual = spark_scores(spark, segment_map, lines)
    assert by_customer(actual, "frequency_rank") == {"10": 1, "100": 2, "9": 3}
    assert_same_scores(actual, reference_scores(lines))


def test_frequency_counts_invoices_and_ignores_lines_without_customer(spark, segment_map):
    lines: list[Line] = [
        ("12347", "537626", "2010-12-07", "15.300"),
        ("12347", "537626", "2010-12-07", "0.850"),  # same invoice: still one purchase
        ("12347", "542237", "2011-01-26", "4.250"),
        ("12348", "539318", "2010-12-16", "100.000"),
        (None, "539318", "2011-12-09", "999.000"),  # no customer: not scored, no effect
    ]
    actual = spark_scores(spark, segment_map, lines)
    assert actual["customer_id"].tolist() == ["12347", "12348"]
    assert by_customer(actual, "frequency") == {"12347": 2, "12348": 1}
    assert by_customer(actual, "monetary") == {
        "12347": Decimal("20.400"),
        "12348": Decimal("100.000"),
    }
    # Default reference: the day after the last purchase of a scored customer (2011-01-26).
    assert set(actual["reference_date"]) == {dt.date(2011, 1, 27)}
    assert by_customer(actual, "recency_days") == {"12347": 1, "12348": 42}
    assert_same_scores(actual, reference_scores(lines))


def test_configured_reference_date(spark, segment_map):
    lines: list[Line] = [
        ("12346", "541431", "2011-01-18", "77183.600"),
        ("12350", "543037", "2011-02-02", "334.400"),
    ]
    reference_date = RFM.parse_reference_date("2012-01-01")
    actual = spark_scores(spark, segment_map, lines, reference_date)
    # 2011-01-18 + 365 days = 2012-01-18, 17 days after 2012-01-01: 348. Likewise
    # 2011-02-02 + 365 days = 2012-02-02, 32 days after: 333.
    assert by_customer(actual, "recency_days") == {"12346": 348, "12350": 333}
    assert set(actual["reference_date"]) == {dt.date(2012, 1, 1)}
    assert_same_scores(actual, reference_scores(lines, reference_date="2012-01-01"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        ("  ", None),
        ("2012-01-01", dt.date(2012, 1, 1)),
        (dt.date(2011, 12, 10), dt.date(2011, 12, 10)),
    ],
)
def test_parse_reference_date(value, expected):
    assert RFM.parse_reference_date(value) == expected


def test_parse_reference_date_rejects_other_text():
    with pytest.raises(ValueError, match="rfm_reference_date"):
        RFM.parse_reference_date("01/01/2012")


# --- Spark against the reference on random data ----------------------------------------------


def random_sales_lines(seed: int, customers: int = 200) -> list[Line]:
    """Skewed invoice counts, coarse amounts and a short date range: many ties everywhere."""
    rng = np.random.default_rng(seed)
    first_day = dt.date(2011, 9, 1)
    lines: list[Line] = []
    invoice = 600000
    ids = rng.choice(np.arange(12346, 18288), size=customers, replace=False)
    for customer in (str(value) for value in ids):
        for _ in range(int(rng.geometric(0.45)) + int(rng.random() < 0.3)):
            invoice += 1
            day = first_day + dt.timedelta(days=int(rng.integers(0, 100)))
            for _ in range(int(rng.integers(1, 4))):
                price = Decimal(int(rng.choice([850, 1250, 2500, 4950, 15000, 17850]))) / 1000
                quantity = int(rng.choice([1, 2, 6, 12, 24]))
                lines.append((customer, str(invoice), day.isoformat(), str(price * quantity)))
    return lines


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_spark_scores_equal_reference_scores_on_random_customers(spark, segment_map, seed):
    lines = random_sales_lines(seed)
    actual = spark_scores(spark, segment_map, lines)
    expected = reference_scores(lines)
    assert len(expected) >= 190
    assert actual["r_score"].nunique() > 1 and actual["m_score"].nunique() > 1
    assert_same_scores(actual, expected)


def test_quintile_edges_match_the_reference_for_every_small_size(spark):
    # The risky case for exactness is (n-1)·q landing on an integer: the edge is then a data
    # value and must not move by one ulp. Check every n from 1 to 80, ranks and tied values.
    rows = []
    for size in range(1, 81):
        rows += [(size, "rank", float(rank)) for rank in range(1, size + 1)]
        rows += [(size, "tied", float(value // 3)) for value in range(size)]
    frame = spark.createDataFrame(rows, "size int, kind string, value double")
    edges = frame.groupBy("size", "kind").agg(RFM.quintile_edges("value").alias("edges")).collect()
    assert len(edges) == 160
    by_group = pd.DataFrame(rows, columns=["size", "kind", "value"]).groupby(["size", "kind"])
    for row in edges:
        values = by_group.get_group((row["size"], row["kind"]))["value"].reset_index(drop=True)
        expected_edges = reference.quintile_edges(values)
        np.testing.assert_allclose(row["edges"], expected_edges, rtol=0, atol=1e-9)
        spark_bins = [1 + sum(value > edge for edge in row["edges"]) for value in values]
        assert spark_bins == reference.quintile_bins(values).tolist()


# --- the segment map seed ---------------------------------------------------------------------

REFERENCE_SEGMENTS = {
    "[1-2][1-2]": "Hibernating",
    "[1-2][3-4]": "At Risk",
    "[1-2]5": "Can't Lose",
    "3[1-2]": "About to Sleep",
    "33": "Need Attention",
    "[3-4][4-5]": "Loyal Customers",
    "41": "Promising",
    "51": "New Customers",
    "[4-5][2-3]": "Potential Loyalists",
    "5[4-5]": "Champions",
}
"""The DEFINITIONS §4 table, transcribed as the public reference writes it (regex on "RF")."""


def test_segment_map_seed_is_the_spec_table():
    seed = reference.load_segment_map()
    assert len(seed) == 25
    assert not seed.duplicated(["r_score", "f_score"]).any()
    for row in seed.itertuples(index=False):
        digits = f"{row.r_score}{row.f_score}"
        matches = [
            name for pattern, name in REFERENCE_SEGMENTS.items() if re.fullmatch(pattern, digits)
        ]
        assert matches == [row.segment], digits


def test_segments_seed_lists_every_mapped_segment_once():
    segments = reference.load_segments()
    assert sorted(segments["segment"]) == sorted(set(REFERENCE_SEGMENTS.values()))
    assert sorted(segments["segment_rank"]) == list(range(1, 11))
    assert (segments["description"].str.len() > 0).all()
    assert (segments["recommended_action"].str.len() > 0).all()


# --- rfm_segment_summary ----------------------------------------------------------------------


def test_segment_summary_keeps_every_segment(spark, segment_map):
    lines = ties_on_every_score()
    scores = RFM.customer_rfm_scores(spark_sales_lines(spark, lines), segment_map)
    seed = reference.load_segments()
    segments = spark.createDataFrame(seed[["segment", "segment_rank", "description"]])
    actual = pd.DataFrame(
        [row.asDict() for row in SUMMARY.segment_summary(scores, segments).collect()]
    )
    actual = actual.sort_values("segment_rank", ignore_index=True)
    rows = actual.set_index("segment")

    # Revenue 4·10 + 3·30 + 40 + 2·60 = 290; At Risk is 107 (30), 108 (40) and 110 (60).
    assert len(actual) == 10
    assert rows.loc["At Risk", "customers"] == 3
    assert rows.loc["At Risk", "revenue"] == Decimal("130.000")
    assert rows.loc["At Risk", "customer_share_pct"] == pytest.approx(30.0)
    assert rows.loc["At Risk", "revenue_share_pct"] == pytest.approx(130 / 290 * 100)
    assert rows.loc["At Risk", "avg_recency_days"] == pytest.approx((3 + 3 + 10) / 3)
    assert rows.loc["At Risk", "avg_frequency"] == pytest.approx((2 + 1 + 1) / 3)
    assert rows.loc["At Risk", "avg_monetary"] == pytest.approx(130 / 3)
    # Promising, Need Attention and Hibernating have nobody: zeros, and undefined averages.
    for empty in ("Promising", "Need Attention", "Hibernating"):
        assert rows.loc[empty, "customers"] == 0
        assert rows.loc[empty, "revenue"] == Decimal("0.000")
        assert rows.loc[empty, "customer_share_pct"] == 0.0
        assert rows.loc[empty, "revenue_share_pct"] == 0.0
        assert pd.isna(rows.loc[empty, "avg_recency_days"])
        assert pd.isna(rows.loc[empty, "avg_monetary"])
    assert actual["customers"].sum() == 10
    assert actual["revenue"].sum() == Decimal("290.000")

    expected = reference.segment_summary(reference_scores(lines), seed)
    pd.testing.assert_frame_equal(
        actual.astype({"segment_rank": "int32"}), expected, check_exact=False, rtol=1e-12
    )


# --- the model yml documents exactly what the models return ----------------------------------


def documented_columns(model_name: str) -> list[tuple[str, str]]:
    properties = yaml.safe_load(
        (PROJECT_ROOT / "python_models" / "rfm" / "_rfm__models.yml").read_text()
    )
    (model,) = [entry for entry in properties["models"] if entry["name"] == model_name]
    assert model["description"].strip()
    assert all(column["description"].strip() for column in model["columns"])
    return [(column["name"], column["data_type"]) for column in model["columns"]]


def output_columns(frame) -> list[tuple[str, str]]:
    return [(field.name, field.dataType.simpleString()) for field in frame.schema.fields]


def test_yml_documents_every_column_with_its_type(spark, segment_map):
    scores = RFM.customer_rfm_scores(spark_sales_lines(spark, ties_on_every_score()), segment_map)
    assert output_columns(scores) == documented_columns("customer_rfm_scores")
    segments = spark.createDataFrame(reference.load_segments())
    summary = SUMMARY.segment_summary(scores, segments)
    assert output_columns(summary) == documented_columns("rfm_segment_summary")
    assert [name for name, _ in output_columns(summary)] == list(reference.SEGMENT_SUMMARY_COLUMNS)


# --- what dbt sees: the model() entry points ---------------------------------------------------


class FakeDbt:
    """The slice of dbt's Python model object the models use: ref(), config.meta_get() and
    this.identifier (the model's table name)."""

    def __init__(self, refs: dict, config: dict, identifier: str = "customer_rfm_scores") -> None:
        self._refs = refs
        self.config = self
        self._config = config
        self.this = type("this", (), {"identifier": identifier})

    def ref(self, name: str):
        return self._refs[name]

    def meta_get(self, key: str, default=None):
        return self._config.get(key, default)


@pytest.mark.parametrize(
    ("path", "calls"),
    [
        (
            "python_models/rfm/customer_rfm_scores.py",
            [
                ("meta_get", ["rfm_reference_date", ""]),
                ("ref", ["int_sales_lines_filtered"]),
                ("ref", ["rfm_segment_map"]),
            ],
        ),
        (
            "python_models/rfm/rfm_segment_summary.py",
            [("ref", ["customer_rfm_scores"]), ("ref", ["rfm_segments"])],
        ),
        (
            "python_models/rfm/rfm_segment_transitions.py",
            [
                ("meta_get", ["rfm_lapsed_months", 6]),
                ("ref", ["customer_rfm_month_end"]),
                ("ref", ["rfm_segments"]),
            ],
        ),
    ],
)
def test_dbt_parses_the_model_file(path, calls):
    # dbt's own parser: one model(dbt, session) returning a frame, literal refs and config keys.
    from dbt.parser.models import PythonParseVisitor, PythonValidationVisitor

    source = (PROJECT_ROOT / path).read_text()
    assert not re.search(r"\{[{%#]", source), "dbt refuses Jinja in Python models"
    assert "lgs_analytics" not in source, "a model cannot import project code on Databricks"
    tree = ast.parse(source)
    validator = PythonValidationVisitor()
    validator.visit(tree)
    validator.check_error(None)
    parser = PythonParseVisitor(None)
    parser.visit(tree)
    assert [(name, args) for name, args, _ in parser.dbt_function_calls] == calls
    assert set(parser.packages) <= {"datetime", "pyspark"}


def test_model_entry_point_reads_refs_and_config(spark, segment_map):
    lines: list[Line] = [("12346", "541431", "2011-01-18", "77183.600")]
    dbt = FakeDbt(
        {
            "int_sales_lines_filtered": spark_sales_lines(spark, lines),
            "rfm_segment_map": segment_map,
        },
        {"rfm_reference_date": "2012-01-01"},
    )
    [scored] = RFM.model(dbt, spark).collect()
    assert scored["recency_days"] == 348
    assert scored["reference_date"] == dt.date(2012, 1, 1)

    # The same file is customer_rfm_month_end (a link): that table, by the model's name.
    month_end = FakeDbt(dbt._refs, dbt._config, identifier="customer_rfm_month_end")
    [row] = RFM.model(month_end, spark).collect()
    assert (row["month_end"], row["year_month"]) == (dt.date(2011, 1, 31), 201101)
    assert row["reference_date"] == dt.date(2011, 2, 1)
