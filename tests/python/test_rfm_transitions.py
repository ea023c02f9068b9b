"""RFM segment transitions (DEFINITIONS §6) on hand-made lines and month-end scores.

customer_rfm_month_end is the file of customer_rfm_scores (a symbolic link), so its
scoring is that model's; checked here are the month-end part (the rows per customer and
month, the running metrics, each month end scored exactly as customer_rfm_scores scores the
lines up to it), the transitions between the month ends' states (rfm_segment_transitions)
and the report's flow chart of them.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pandas as pd
import pytest
from matplotlib.figure import Figure

from lgs_analytics.reference import rfm as reference
from lgs_analytics.report import transitions_chart
from lgs_analytics.report.loading import load_frame
from lgs_testing import PROJECT_ROOT, load_python_model

RFM = load_python_model("python_models/rfm/customer_rfm_scores.py")
TRANSITIONS_MODEL = load_python_model("python_models/rfm/rfm_segment_transitions.py")
SALES_LINE_SCHEMA = (
    "customer_id string, invoice_id string, line_amount decimal(18,3), invoice_date date"
)
# (customer_id, invoice_id, invoice date, line amount) over four months, the third without
# any purchase: customers who start late, an invoice whose lines span two months, a line
# without a customer, and enough customers that the quintiles differ between month ends.
LINES = [
    ("1", "a1", "2010-01-05", "10.000"),
    ("1", "a2", "2010-01-20", "30.000"),
    ("2", "b1", "2010-01-31", "5.000"),
    ("2", "b1", "2010-02-01", "7.500"),  # the same invoice: counted once, from January
    ("3", "c1", "2010-01-10", "100.000"),
    ("3", "c2", "2010-04-03", "20.000"),
    ("4", "d1", "2010-02-14", "12.000"),
    ("4", "d2", "2010-02-15", "12.000"),
    ("4", "d3", "2010-02-28", "1.000"),
    ("5", "e1", "2010-04-30", "300.000"),
    ("6", "f1", "2010-01-02", "2.000"),
    ("7", "g1", "2010-02-02", "45.000"),
    ("7", "g2", "2010-04-01", "45.000"),
    (None, "h1", "2010-03-15", "99.000"),  # no customer: not scored
]
MONTH_ENDS = [
    dt.date(2010, 1, 31),
    dt.date(2010, 2, 28),
    dt.date(2010, 3, 31),
    dt.date(2010, 4, 30),
]


def sales_lines(spark, lines):
    rows = [
        (customer, invoice, Decimal(amount), dt.date.fromisoformat(day))
        for customer, invoice, day, amount in lines
    ]
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


@pytest.fixture(scope="module")
def segment_map(spark):
    seed = reference.load_segment_map()
    return spark.createDataFrame(
        [tuple(row) for row in seed[["r_score", "f_score", "segment"]].itertuples(index=False)],
        "r_score int, f_score int, segment string",
    )


@pytest.fixture(scope="module")
def month_end_rows(spark, segment_map) -> list[dict]:
    frame = RFM.customer_rfm_month_end(sales_lines(spark, LINES), segment_map)
    return [row.asDict() for row in frame.orderBy("month_end", "customer_id").collect()]


def test_the_month_end_model_is_the_scores_file() -> None:
    link = PROJECT_ROOT / "python_models" / "rfm" / "customer_rfm_month_end.py"
    assert link.is_symlink() and os.readlink(link) == "customer_rfm_scores.py"


def test_one_row_per_customer_from_their_first_month_to_the_last(month_end_rows) -> None:
    months = {}
    for row in month_end_rows:
        months.setdefault(row["customer_id"], []).append(row["month_end"])
    # March has no purchase at all and is still a month end of every customer by then.
    assert months == {
        "1": MONTH_ENDS,
        "2": MONTH_ENDS,
        "3": MONTH_ENDS,
        "4": MONTH_ENDS[1:],
        "5": MONTH_ENDS[3:],
        "6": MONTH_ENDS,
        "7": MONTH_ENDS[1:],
    }
    assert {row["year_month"] for row in month_end_rows} == {201001, 201002, 201003, 201004}
    assert all(
        row["year_month"] == int(row["month_end"].strftime("%Y%m")) for row in month_end_rows
    )


def test_running_metrics_count_lines_up_to_the_month_end(month_end_rows) -> None:
    customer_2 = [row for row in month_end_rows if row["customer_id"] == "2"]
    assert [(row["frequency"], row["monetary"]) for row in customer_2] == [
        (1, Decimal("5.000")),
        (1, Decimal("12.500")),
        (1, Decimal("12.500")),
        (1, Decimal("12.500")),
    ]
    customer_3 = [row for row in month_end_rows if row["customer_id"] == "3"]
    assert [row["last_purchase_date"] for row in customer_3] == [dt.date(2010, 1, 10)] * 3 + [
        dt.date(2010, 4, 3)
    ]
    # Recency to the day after the month end: 31 - 10 + 1 = 22 days in January, 50 in February.
    assert [row["recency_days"] for row in customer_3][:2] == [22, 50]
    assert {row["reference_date"] - row["month_end"] for row in month_end_rows} == {
        dt.timedelta(days=1)
    }


@pytest.mark.parametrize("month_end", MONTH_ENDS, ids=str)
def test_each_month_end_scores_as_customer_rfm_scores_on_the_lines_up_to_it(
    spark, segment_map, month_end_rows, month_end
) -> None:
    lines_to_date = [line for line in LINES if dt.date.fromisoformat(line[2]) <= month_end]
    alone = RFM.customer_rfm_scores(
        sales_lines(spark, lines_to_date), segment_map, month_end + dt.timedelta(days=1)
    )
    expected = [row.asDict() for row in alone.orderBy("customer_id").collect()]
    actual = [
        {key: value for key, value in row.items() if key not in ("year_month", "month_end")}
        for row in month_end_rows
        if row["month_end"] == month_end
    ]
    assert actual == expected
    assert len({row["segment"] for row in actual}) > 1 or month_end == MONTH_ENDS[0]


def test_last_month_end_has_the_scores_of_customer_rfm_scores(
    spark, segment_map, month_end_rows
) -> None:
    # customer_rfm_scores measures recency to the day after the last purchase (2010-05-01
    # here, the same as the month end's), so every column is equal.
    latest = RFM.customer_rfm_scores(sales_lines(spark, LINES), segment_map)
    expected = [row.asDict() for row in latest.orderBy("customer_id").collect()]
    last = [
        {key: value for key, value in row.items() if key not in ("year_month", "month_end")}
        for row in month_end_rows
        if row["month_end"] == MONTH_ENDS[-1]
    ]
    assert last == expected


# --- transitions between the month ends' states ------------------------------------------

MONTH_END_SCHEMA = (
    "year_month int, month_end date, customer_id string, segment string, last_purchase_date date"
)
SEGMENTS_SCHEMA = "segment string, segment_rank int"
SEGMENTS = [
    ("Champions", 1),
    ("Loyal Customers", 2),
    ("New Customers", 4),
    ("Promising", 5),
    ("Hibernating", 10),
]


def month_end_scores(spark, rows):
    return spark.createDataFrame(
        [
            (
                int(month_end[:7].replace("-", "")),
                dt.date.fromisoformat(month_end),
                customer,
                segment,
                dt.date.fromisoformat(last_purchase),
            )
            for month_end, customer, segment, last_purchase in rows
        ],
        MONTH_END_SCHEMA,
    )


def transitions(spark, rows, lapsed_months):
    frame = TRANSITIONS_MODEL.segment_transitions(
        month_end_scores(spark, rows),
        spark.createDataFrame(SEGMENTS, SEGMENTS_SCHEMA),
        lapsed_months,
    )
    return [
        (
            row.year_month,
            row.from_segment,
            row.to_segment,
            row.from_segment_rank,
            row.to_segment_rank,
            row.customers,
        )
        for row in frame.orderBy("year_month", "from_segment", "to_segment").collect()
    ]


def test_transitions_into_and_out_of_lapsed_and_not_yet(spark) -> None:
    # Customer 1 is a Champion in January, bought nothing in February and March: with
    # lapsed_months 2 lapsed at the end of March (last purchase on or before 31 January),
    # whatever March's scoring says, and back in a segment after buying in April. Customer
    # 2 is not a customer yet until March.
    rows = [
        ("2010-01-31", "1", "Champions", "2010-01-10"),
        ("2010-02-28", "1", "Champions", "2010-01-10"),
        ("2010-03-31", "1", "Hibernating", "2010-01-10"),
        ("2010-04-30", "1", "Loyal Customers", "2010-04-02"),
        ("2010-03-31", "2", "New Customers", "2010-03-31"),
        ("2010-04-30", "2", "Promising", "2010-03-31"),
    ]
    assert transitions(spark, rows, lapsed_months=2) == [
        (201001, "not a customer yet", "Champions", 0, 1, 1),
        (201001, "not a customer yet", "not a customer yet", 0, 0, 1),
        (201002, "Champions", "Champions", 1, 1, 1),
        (201002, "not a customer yet", "not a customer yet", 0, 0, 1),
        (201003, "Champions", "lapsed", 1, 11, 1),
        (201003, "not a customer yet", "New Customers", 0, 4, 1),
        (201004, "New Customers", "Promising", 4, 5, 1),
        (201004, "lapsed", "Loyal Customers", 11, 2, 1),
    ]
    # With three months, customer 1 is not lapsed at the end of March: March's segment.
    assert (201003, "Champions", "Hibernating", 1, 10, 1) in transitions(spark, rows, 3)


def test_every_customer_is_counted_every_month(spark, segment_map) -> None:
    scores = RFM.customer_rfm_month_end(sales_lines(spark, LINES), segment_map)
    segments = spark.createDataFrame(
        [
            tuple(row)
            for row in reference.load_segment_map()[["segment"]]
            .drop_duplicates()
            .assign(segment_rank=lambda frame: range(1, len(frame) + 1))
            .itertuples(index=False)
        ],
        SEGMENTS_SCHEMA,
    )
    moves = TRANSITIONS_MODEL.segment_transitions(scores, segments, 1).collect()
    per_month = {}
    for move in moves:
        per_month[move.year_month] = per_month.get(move.year_month, 0) + move.customers
    assert per_month == {201001: 7, 201002: 7, 201003: 7, 201004: 7}
    # March has no purchase: with one month, every customer by then is lapsed at its end;
    # customer 5 buys first in April.
    into_march = {
        (move.from_segment == "not a customer yet", move.to_segment): move.customers
        for move in moves
        if move.year_month == 201003
    }
    assert into_march[True, "not a customer yet"] == 1
    assert {to for _, to in into_march} == {"lapsed", "not a customer yet"}


def test_model_entry_point_reads_refs_and_the_lapsed_months(spark) -> None:
    class FakeDbt:
        def __init__(self) -> None:
            self.config = self

        def ref(self, name: str):
            return {
                "customer_rfm_month_end": month_end_scores(
                    spark,
                    [
                        ("2010-01-31", "1", "Champions", "2010-01-10"),
                        ("2010-02-28", "1", "Champions", "2010-01-10"),
                    ],
                ),
                "rfm_segments": spark.createDataFrame(SEGMENTS, SEGMENTS_SCHEMA),
            }[name]

        def meta_get(self, key: str, default=None):
            return {"rfm_lapsed_months": "1"}[key]

    moves = TRANSITIONS_MODEL.model(FakeDbt(), spark).orderBy("year_month").collect()
    # One month without a purchase: lapsed at the end of February.
    assert [(move.year_month, move.to_segment) for move in moves] == [
        (201001, "Champions"),
        (201002, "lapsed"),
    ]


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "six", ""])
def test_lapsed_months_must_be_a_whole_number_of_at_least_one(value) -> None:
    with pytest.raises(ValueError, match="rfm_lapsed_months must be a whole number"):
        TRANSITIONS_MODEL.parse_lapsed_months(value)
    assert TRANSITIONS_MODEL.parse_lapsed_months(6) == 6


# --- the report's flow chart (frames in, no Spark but the loading test) ---------------------

TRANSITIONS = pd.DataFrame(
    {
        "year_month": [201112] * 5,
        "month_end": [dt.date(2011, 12, 31)] * 5,
        "from_segment": ["Champions", "Champions", "At Risk", "lapsed", "Mystery"],
        "to_segment": ["Champions", "At Risk", "lapsed", "Champions", "Mystery"],
        "from_segment_rank": [1, 1, 9, 11, 11],
        "to_segment_rank": [1, 9, 11, 1, 11],
        "customers": [10, 2, 7, 1, 4],
    },
    dtype=object,
)


def test_matrix_orders_the_states_and_counts_every_customer() -> None:
    states = transitions_chart.state_order(TRANSITIONS)
    # By rank, then name for equal ranks; a state of the matrix is on both axes.
    assert states == ["Champions", "At Risk", "Mystery", "lapsed"]
    matrix = transitions_chart.transition_matrix(TRANSITIONS, states)
    assert matrix.loc["Champions"].tolist() == [10, 2, 0, 0]
    assert matrix.loc["At Risk", "lapsed"] == 7 and matrix.loc["lapsed", "Champions"] == 1
    assert matrix.loc["Mystery", "Mystery"] == 4
    assert int(matrix.to_numpy().sum()) == 24


def test_chart_draws_the_last_month_and_names_the_moves() -> None:
    figure = Figure(figsize=(11, 6.4))
    transitions_chart.draw_segment_transitions(figure, {"rfm_segment_transitions": TRANSITIONS})
    [ax] = [ax for ax in figure.axes if ax.get_title()]
    # 24 customers, 14 on the diagonal (10 stayed Champions, 4 Mystery): 10 moved.
    assert ax.get_title() == (
        "Customers moving between RFM segments into 2011-12: 10 of 24 changed state"
    )
    assert ax.get_ylabel().startswith("State at the end of 2011-11")
    # Row by row: Champions → Champions, At Risk; At Risk → lapsed; Mystery; lapsed → Champions.
    assert [text.get_text() for text in ax.texts] == ["10", "2", "7", "4", "1"]
    assert [label.get_text() for label in ax.get_yticklabels()] == [
        "Champions (12)",
        "At Risk (7)",
        "Mystery (4)",
        "lapsed (1)",
    ]


def test_chart_refuses_an_empty_table() -> None:
    with pytest.raises(ValueError, match="no month to show"):
        transitions_chart.draw_segment_transitions(
            Figure(),
            {"rfm_segment_transitions": TRANSITIONS.iloc[0:0]},
        )


def test_report_loads_only_the_last_month(spark) -> None:
    rows = [
        (201111, dt.date(2011, 11, 30), "not a customer yet", "Champions", 0, 1, 3),
        (201112, dt.date(2011, 12, 31), "Champions", "At Risk", 1, 9, 1),
        (201112, dt.date(2011, 12, 31), "Champions", "Champions", 1, 1, 2),
    ]
    spark.createDataFrame(
        rows,
        "year_month int, month_end date, from_segment string, to_segment string, "
        "from_segment_rank int, to_segment_rank int, customers bigint",
    ).createOrReplaceGlobalTempView("report_transitions")

    frame = load_frame(
        spark, "global_temp.report_transitions", transitions_chart.RFM_SEGMENT_TRANSITIONS
    )

    assert frame.to_dict("records") == [
        {
            "year_month": 201112,
            "month_end": dt.date(2011, 12, 31),
            "from_segment": "Champions",
            "to_segment": "Champions",
            "from_segment_rank": 1,
            "to_segment_rank": 1,
            "customers": 2,
        },
        {
            "year_month": 201112,
            "month_end": dt.date(2011, 12, 31),
            "from_segment": "Champions",
            "to_segment": "At Risk",
            "from_segment_rank": 1,
            "to_segment_rank": 9,
            "customers": 1,
        },
    ]
