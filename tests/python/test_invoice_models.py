"""Invoice models (python_models/invoices) against hand-computed values and the reference.

Percentiles in the comments are worked out from DEFINITIONS §5: exact, linear interpolation at
position (n-1)·p of the sorted amounts.
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

from lgs_analytics.reference import outliers as reference
from lgs_testing import PROJECT_ROOT, load_python_model

AMOUNTS = load_python_model("python_models/invoices/invoice_amounts.py")
DISTRIBUTION = load_python_model("python_models/invoices/invoice_amount_distribution.py")
HISTOGRAM = load_python_model("python_models/invoices/invoice_amount_histogram.py")

SALES_LINE_SCHEMA = (
    "invoice_id string, customer_id string, country string, line_amount decimal(18,3), "
    "invoice_date date, invoiced_at timestamp"
)

# A sales line for these tests: (invoice_id, customer_id, line amount).
Line = tuple[str, str | None, str]


def invoiced_at(invoice: str) -> dt.datetime:
    """A distinct, reproducible time per invoice."""
    return dt.datetime(2011, 3, 1, 9, 0) + dt.timedelta(minutes=int(invoice) % 10_000)


def spark_sales_lines(spark, lines: list[Line]):
    rows = [
        (
            invoice,
            customer,
            "United Kingdom",
            Decimal(amount),
            invoiced_at(invoice).date(),
            invoiced_at(invoice),
        )
        for invoice, customer, amount in lines
    ]
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


def reference_transactions(lines: list[Line]) -> pd.DataFrame:
    times = pd.to_datetime([invoiced_at(invoice) for invoice, _, _ in lines])
    return pd.DataFrame(
        {
            "invoice_id": [line[0] for line in lines],
            "customer_id": pd.Series([line[1] for line in lines], dtype=object),
            "country": "United Kingdom",
            "line_amount_milli": pd.Series(
                [int(Decimal(line[2]) * 1000) for line in lines], dtype="int64"
            ),
            "invoice_date": times.normalize(),
            "invoiced_at": times,
            "is_sales_line": True,
        }
    )


def one_line_invoices(amounts: list[str]) -> list[Line]:
    return [(str(540000 + number), "12347", amount) for number, amount in enumerate(amounts)]


def collect(frame, order_by: str) -> pd.DataFrame:
    rows = [row.asDict() for row in frame.collect()]
    return pd.DataFrame(rows, columns=frame.columns).sort_values(order_by, ignore_index=True)


def spark_invoice_amounts(spark, lines: list[Line], percentile: float = 0.85):
    return AMOUNTS.invoice_amounts(spark_sales_lines(spark, lines), percentile)


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and values; doubles to 1e-12 relative (Spark and numpy interpolate with
    algebraically equal but differently rounded formulas)."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:
        left, right = actual[column].tolist(), expected[column].tolist()
        if expected[column].dtype == "float64":
            np.testing.assert_allclose(
                np.array(left, dtype=float), np.array(right, dtype=float), rtol=1e-12
            )
        else:
            assert left == right, column


# --- invoice_amounts ---------------------------------------------------------------------------


def test_invoice_totals_sum_lines_exactly(spark):
    lines: list[Line] = [
        ("489434", "13085", "83.400"),
        ("489434", "13085", "0.335"),
        ("489434", "13085", "0.335"),
        ("489435", None, "12.750"),  # an invoice without a customer still has an amount
    ]
    actual = collect(AMOUNTS.invoice_totals(spark_sales_lines(spark, lines)), "invoice_id")
    assert actual[["invoice_id", "customer_id", "invoice_amount", "line_count"]].to_dict(
        "records"
    ) == [
        {
            "invoice_id": "489434",
            "customer_id": "13085",
            "invoice_amount": Decimal("84.070"),
            "line_count": 3,
        },
        {
            "invoice_id": "489435",
            "customer_id": None,
            "invoice_amount": Decimal("12.750"),
            "line_count": 1,
        },
    ]


def test_invoice_exactly_at_the_threshold_is_not_an_outlier(spark):
    # 21 invoices worth 1..21: position 20·0.85 = 17 is a data point, P85 = 18 exactly.
    lines = one_line_invoices([f"{amount}.000" for amount in range(1, 22)])
    actual = collect(spark_invoice_amounts(spark, lines), "invoice_amount")
    assert set(actual["outlier_threshold"]) == {18.0}
    flagged = dict(zip(actual["invoice_amount"], actual["is_outlier"], strict=True))
    assert flagged[Decimal("18.000")] is False
    assert [amount for amount, outlier in flagged.items() if outlier] == [
        Decimal("19.000"),
        Decimal("20.000"),
        Decimal("21.000"),
    ]
    expected = reference.invoice_amounts(reference_transactions(lines))
    assert_frames_match(actual, expected.sort_values("invoice_amount", ignore_index=True))


def test_interpolated_threshold_and_configured_percentile(spark):
    # 10, 20, 30, 40: P85 at position 3·0.85 = 2.55 → 30 + 0.55·10 = 35.5;
    # P50 at 1.5 → 25, so 30 and 40 are outliers.
    lines = one_line_invoices(["10.000", "20.000", "30.000", "40.000"])
    p85 = collect(spark_invoice_amounts(spark, lines), "invoice_amount")
    assert p85["outlier_threshold"].iloc[0] == pytest.approx(35.5, rel=1e-15)
    assert p85["is_outlier"].tolist() == [False, False, False, True]
    median = collect(spark_invoice_amounts(spark, lines, 0.5), "invoice_amount")
    assert median["outlier_threshold"].iloc[0] == pytest.approx(25.0, rel=1e-15)
    assert median["is_outlier"].tolist() == [False, False, True, True]
    expected = reference.invoice_amounts(reference_transactions(lines), percentile=0.5)
    assert_frames_match(median, expected.sort_values("invoice_amount", ignore_index=True))


@pytest.mark.parametrize(("value", "expected"), [(0.85, 0.85), ("0.9", 0.9), (1, 1.0), (0, 0.0)])
def test_parse_percentile(value, expected):
    assert AMOUNTS.parse_percentile(value) == expected
    assert DISTRIBUTION.parse_percentile(value) == expected


@pytest.mark.parametrize("value", [1.5, -0.1, "high", None])
def test_parse_percentile_rejects_nonsense(value):
    with pytest.raises(ValueError, match="outlier_percentile"):
        AMOUNTS.parse_percentile(value)


# --- invoice_amount_distribution ---------------------------------------------------------------


def test_distribution_of_both_populations(spark):
    # Amounts 5 5 7 7 9 100. All: P85 at 5·0.85 = 4.25 → 9 + 0.25·91 = 31.75, median at 2.5
    # → 7, mean 133/6, mode: 5 and 7 twice each → the smaller, 5. Only 100 is an outlier.
    # At or below: 5 5 7 7 9, P85 at 3.4 → 7 + 0.4·2 = 7.8, median 7, mean 6.6, mode 5.
    lines = one_line_invoices(["5.000", "5.000", "7.000", "7.000", "9.000", "100.000"])
    amounts = spark_invoice_amounts(spark, lines)
    actual = collect(DISTRIBUTION.amount_distribution(amounts, 0.85), "population")
    expected_by_hand = pd.DataFrame(
        [
            ("all_invoices", 6, 5.0, 100.0, 133 / 6, 7.0, 5.0, 31.75, 0.85),
            ("at_or_below_threshold", 5, 5.0, 9.0, 6.6, 7.0, 5.0, 7.8, 0.85),
        ],
        columns=list(reference.DISTRIBUTION_COLUMNS),
    )
    assert_frames_match(actual, expected_by_hand)
    reference_amounts = reference.invoice_amounts(reference_transactions(lines))
    assert_frames_match(actual, reference.invoice_amount_distribution(reference_amounts))


def test_mode_prefers_the_smallest_of_the_most_frequent_amounts(spark):
    # 3.5 and 2.25 appear three times, 1 once: mode 2.25 in both populations.
    lines = one_line_invoices(["3.500", "2.250", "3.500", "1.000", "2.250", "3.500", "2.250"])
    amounts = spark_invoice_amounts(spark, lines)
    actual = collect(DISTRIBUTION.amount_distribution(amounts, 0.85), "population")
    assert actual["mode_amount"].tolist() == [2.25, 2.25]


def test_distribution_of_a_single_invoice(spark):
    # One invoice: the threshold is its own amount, so it is not an outlier and both
    # populations are the same single value.
    lines = one_line_invoices(["42.420"])
    actual = collect(
        DISTRIBUTION.amount_distribution(spark_invoice_amounts(spark, lines), 0.85), "population"
    )
    assert actual["invoice_count"].tolist() == [1, 1]
    for column in ("min_amount", "max_amount", "mean_amount", "median_amount", "mode_amount"):
        assert actual[column].tolist() == [42.42, 42.42]
    assert actual["p85_amount"].tolist() == [42.42, 42.42]


# --- invoice_amount_histogram ------------------------------------------------------------------


def histogram_of(spark, amounts_text: list[str], bins: int) -> pd.DataFrame:
    lines = one_line_invoices(amounts_text)
    amounts = spark_invoice_amounts(spark, lines)
    return collect(HISTOGRAM.amount_histogram(amounts, bins), "bin_index")


def reference_histogram(amounts_text: list[str], bins: int) -> pd.DataFrame:
    transactions = reference_transactions(one_line_invoices(amounts_text))
    return reference.invoice_amount_histogram(reference.invoice_amounts(transactions), bins)


def test_histogram_keeps_empty_bins(spark):
    # 1 1 2 9 9 11 11 11 11 51 61: P85 at 10·0.85 = 8.5 → 11 + 0.5·40 = 31, so 51 and 61 are
    # outliers. Three bins over [1, 31], width 10: [1,11) holds 1 1 2 9 9, [11,21) the four
    # elevens and [21,31] nothing.
    amounts = ["1", "1", "2", "9", "9", "11", "11", "11", "11", "51", "61"]
    actual = histogram_of(spark, amounts, 3)
    assert actual.to_dict("list") == {
        "bin_index": [1, 2, 3],
        "bin_lower": [1.0, 11.0, 21.0],
        "bin_upper": [11.0, 21.0, 31.0],
        "invoice_count": [5, 4, 0],
        "share_pct": [5 / 9 * 100, 4 / 9 * 100, 0.0],
    }
    assert_frames_match(actual, reference_histogram(amounts, 3))


def test_histogram_last_bin_is_closed_on_the_right(spark):
    # 1..21: threshold 18 (see the outlier test); bins of width 1 over [1, 18]. 18 itself is
    # kept and falls in the last bin with 17.
    amounts = [str(value) for value in range(1, 22)]
    actual = histogram_of(spark, amounts, 17)
    assert actual["invoice_count"].tolist() == [1] * 16 + [2]
    assert actual["bin_upper"].iloc[-1] == 18.0
    assert actual["invoice_count"].sum() == 18
    assert_frames_match(actual, reference_histogram(amounts, 17))


def test_histogram_of_equal_amounts_puts_everything_in_the_first_bin(spark):
    actual = histogram_of(spark, ["15.000", "15.000", "15.000"], 4)
    assert actual["invoice_count"].tolist() == [3, 0, 0, 0]
    assert actual["bin_lower"].tolist() == [15.0] * 4
    assert actual["bin_upper"].tolist() == [15.0] * 4
    assert actual["share_pct"].tolist() == [100.0, 0.0, 0.0, 0.0]
    assert_frames_match(actual, reference_histogram(["15.000", "15.000", "15.000"], 4))


def test_histogram_of_no_invoices_is_empty(spark):
    empty = spark.createDataFrame([], SALES_LINE_SCHEMA)
    amounts = AMOUNTS.invoice_amounts(empty, 0.85)
    assert HISTOGRAM.amount_histogram(amounts, 5).count() == 0
    distribution = collect(DISTRIBUTION.amount_distribution(amounts, 0.85), "population")
    assert distribution["population"].tolist() == ["all_invoices", "at_or_below_threshold"]
    assert distribution["invoice_count"].tolist() == [0, 0]
    assert distribution["mean_amount"].isna().all()


@pytest.mark.parametrize(("value", "expected"), [(40, 40), ("12", 12), (" 3 ", 3)])
def test_parse_bins(value, expected):
    assert HISTOGRAM.parse_bins(value) == expected


@pytest.mark.parametrize("value", [0, -4, "many", 2.5])
def test_parse_bins_rejects_nonsense(value):
    with pytest.raises(ValueError, match="histogram_bins"):
        HISTOGRAM.parse_bins(value)


# --- all three models against the reference on random invoices ---------------------------------


def random_invoice_lines(seed: int, invoices: int = 300) -> list[Line]:
    """Right-skewed amounts with repeats (ties for the mode, values on bin edges)."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for number in range(invoices):
        invoice = str(560000 + number)
        customer = None if rng.random() < 0.2 else str(int(rng.integers(12346, 12400)))
        for _ in range(int(rng.geometric(0.3))):
            price = int(rng.choice([420, 850, 1250, 2950, 4950, 12750]))
            quantity = int(rng.choice([1, 2, 3, 6, 12, 24, 48, 480]))
            lines.append((invoice, customer, str(Decimal(price * quantity) / 1000)))
    return lines


@pytest.mark.parametrize("seed", [21, 22])
def test_spark_models_equal_the_reference_on_random_invoices(spark, seed):
    lines = random_invoice_lines(seed)
    amounts = spark_invoice_amounts(spark, lines)
    transactions = reference_transactions(lines)
    expected_amounts = reference.invoice_amounts(transactions)
    assert_frames_match(collect(amounts, "invoice_id"), expected_amounts)
    assert expected_amounts["is_outlier"].sum() > 0
    assert_frames_match(
        collect(DISTRIBUTION.amount_distribution(amounts, 0.85), "population"),
        reference.invoice_amount_distribution(expected_amounts),
    )
    histogram = collect(HISTOGRAM.amount_histogram(amounts, 40), "bin_index")
    expected_histogram = reference.invoice_amount_histogram(expected_amounts, 40)
    assert len(expected_histogram) == 40
    assert_frames_match(histogram, expected_histogram)


# --- the model yml documents exactly what the models return ----------------------------------


def documented_columns(model_name: str) -> list[tuple[str, str]]:
    properties = yaml.safe_load(
        (PROJECT_ROOT / "python_models" / "invoices" / "_invoices__models.yml").read_text()
    )
    (model,) = [entry for entry in properties["models"] if entry["name"] == model_name]
    assert model["description"].strip()
    assert all(column["description"].strip() for column in model["columns"])
    return [(column["name"], column["data_type"]) for column in model["columns"]]


def output_columns(frame) -> list[tuple[str, str]]:
    return [(field.name, field.dataType.simpleString()) for field in frame.schema.fields]


def test_yml_documents_every_column_with_its_type(spark):
    amounts = spark_invoice_amounts(spark, one_line_invoices(["1.000", "2.000"]))
    distribution = DISTRIBUTION.amount_distribution(amounts, 0.85)
    histogram = HISTOGRAM.amount_histogram(amounts, 3)
    for name, frame, reference_columns in [
        ("invoice_amounts", amounts, reference.INVOICE_AMOUNT_COLUMNS),
        ("invoice_amount_distribution", distribution, reference.DISTRIBUTION_COLUMNS),
        ("invoice_amount_histogram", histogram, reference.HISTOGRAM_COLUMNS),
    ]:
        assert output_columns(frame) == documented_columns(name)
        assert [column for column, _ in output_columns(frame)] == list(reference_columns)


# --- what dbt sees: the model() entry points ---------------------------------------------------


class FakeDbt:
    """The slice of dbt's Python model object the models use: ref() and config.meta_get()."""

    def __init__(self, refs: dict, config: dict) -> None:
        self._refs = refs
        self.config = self
        self._config = config

    def ref(self, name: str):
        return self._refs[name]

    def meta_get(self, key: str, default=None):
        return self._config.get(key, default)


@pytest.mark.parametrize(
    ("path", "calls"),
    [
        (
            "python_models/invoices/invoice_amounts.py",
            [("meta_get", ["outlier_percentile", 0.85]), ("ref", ["int_sales_lines_filtered"])],
        ),
        (
            "python_models/invoices/invoice_amount_distribution.py",
            [("meta_get", ["outlier_percentile", 0.85]), ("ref", ["invoice_amounts"])],
        ),
        (
            "python_models/invoices/invoice_amount_histogram.py",
            [("meta_get", ["histogram_bins", 40]), ("ref", ["invoice_amounts"])],
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
    assert set(parser.packages) <= {"pyspark"}


def test_model_entry_points_read_refs_and_config(spark):
    lines = one_line_invoices(["10.000", "20.000", "30.000", "40.000"])
    sales_lines = spark_sales_lines(spark, lines)
    amounts = AMOUNTS.model(
        FakeDbt({"int_sales_lines_filtered": sales_lines}, {"outlier_percentile": "0.5"}), spark
    )
    # P50 of 10, 20, 30, 40 is 25 (see above).
    assert {row["outlier_threshold"] for row in amounts.collect()} == {25.0}
    refs = {"invoice_amounts": amounts}
    distribution = DISTRIBUTION.model(FakeDbt(refs, {"outlier_percentile": "0.5"}), spark)
    assert {row["percentile"] for row in distribution.collect()} == {0.5}
    histogram = HISTOGRAM.model(FakeDbt(refs, {"histogram_bins": "2"}), spark)
    # Kept amounts 10 and 20 over [10, 25]: edges 10, 17.5, 25.
    assert [row["invoice_count"] for row in histogram.orderBy("bin_index").collect()] == [1, 1]
