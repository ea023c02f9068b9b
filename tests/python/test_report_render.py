"""The report's rendering half on small hand-made frames (no Spark)."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from lgs_analytics.report import charts, loading, tables
from lgs_analytics.report.charts import CHARTS, table_specs
from lgs_analytics.report.loading import load_frame, load_frames
from lgs_analytics.report.page import DATA_FILE, render_report
from lgs_analytics.report.tables import MONTHLY_SALES, TableSpec
from lgs_analytics.report.values import display_value, frame_rows, json_value

MONTHS = [202309, 202310, 202311, 202312]
MONTH_STARTS = [
    dt.date(2023, 9, 1),
    dt.date(2023, 10, 1),
    dt.date(2023, 11, 1),
    dt.date(2023, 12, 1),
]
PARTIAL = [False, False, False, True]


def _frames(partial: list[bool] = PARTIAL) -> dict[str, pd.DataFrame]:
    """One small frame per mart, typed like the marts (Decimal money, date months)."""
    return {
        "monthly_sales": pd.DataFrame(
            {
                "year_month": MONTHS,
                "month_start": MONTH_STARTS,
                "sales_amount": [
                    Decimal("1000.000"),
                    Decimal("1500.500"),
                    Decimal("1234567.891"),
                    Decimal("800.250"),
                ],
                "previous_sales_amount": [
                    None,
                    Decimal("1000.000"),
                    Decimal("1500.500"),
                    Decimal("1234567.891"),
                ],
                "sales_growth_pct": [math.nan, 50.05, 82176.304, -99.935],
                "sales_lines": [10, 12, 4321, 3],
                "is_partial_month": partial,
            }
        ),
        "monthly_orders": pd.DataFrame(
            {
                "year_month": MONTHS,
                "month_start": MONTH_STARTS,
                "placed_orders": [100, 120, 1_310, 20],
                "cancelled_orders": [5, 7, 33, 1],
                "cancellation_rate_pct": [5.0, 5.833, 2.519, 5.0],
                "is_partial_month": partial,
            }
        ),
        "monthly_new_existing_users": pd.DataFrame(
            {
                "year_month": MONTHS,
                "month_start": MONTH_STARTS,
                "new_users": [50, 20, 17, 2],
                "existing_users": [0, 35, 60, 9],
                "active_users": [50, 55, 77, 11],
                "new_user_share_pct": [100.0, 36.364, 22.078, 18.182],
                "is_partial_month": partial,
            }
        ),
        "monthly_active_users": pd.DataFrame(
            {
                "year_month": MONTHS,
                "month_start": MONTH_STARTS,
                "active_users": [50, 55, 77, 11],
                "is_partial_month": partial,
            }
        ),
        "rfm_segment_summary": pd.DataFrame(
            {
                "segment_rank": [1, 2, 3],
                "segment": ["Champions", "At Risk", "Hibernating"],
                "description": ["Bought recently, often", "Used to buy often", "Lapsed"],
                "customers": [12, 30, 58],
                "customer_share_pct": [12.0, 30.0, 58.0],
                "revenue": [Decimal("9000.500"), Decimal("4000.000"), Decimal("999.125")],
                "revenue_share_pct": [64.284, 28.57, 7.136],
                "avg_recency_days": [3.5, 120.0, 300.25],
                "avg_frequency": [9.0, 4.2, 1.1],
                "avg_monetary": [750.04, 133.33, 17.23],
            }
        ),
        "invoice_amount_histogram": pd.DataFrame(
            {
                "bin_index": [0, 1, 2, 3],
                "bin_lower": [0.0, 50.0, 100.0, 150.0],
                "bin_upper": [50.0, 100.0, 150.0, 200.0],
                "invoice_count": [40, 25, 10, 5],
                "share_pct": [50.0, 31.25, 12.5, 6.25],
            }
        ),
        "invoice_amount_distribution": pd.DataFrame(
            {
                "population": ["all_invoices", "at_or_below_threshold"],
                "invoice_count": [100, 80],
                "min_amount": [Decimal("0.550"), Decimal("0.550")],
                "max_amount": [Decimal("16847.000"), Decimal("199.990")],
                "mean_amount": [523.25, 61.5],
                "median_amount": [Decimal("61.000"), Decimal("45.125")],
                "mode_amount": [Decimal("15.000"), Decimal("15.000")],
                "p85_amount": [199.991, 199.991],
                "percentile": [0.85, 0.85],
            }
        ),
        **_beyond_frames(),
    }


def _beyond_frames() -> dict[str, pd.DataFrame]:
    """The CLV, K-Means, SKU trend and association rule marts, small and hand-made."""
    return {
        "rfm_segment_transitions": pd.DataFrame(
            {
                "year_month": [202312] * 4,
                "month_end": [dt.date(2023, 12, 31)] * 4,
                "from_segment": ["Champions", "Champions", "Hibernating", "not a customer yet"],
                "to_segment": ["Champions", "At Risk", "lapsed", "Champions"],
                "from_segment_rank": [1, 1, 10, 0],
                "to_segment_rank": [1, 9, 11, 1],
                "customers": [10, 2, 7, 3],
            }
        ),
        "clv_tier_summary": pd.DataFrame(
            {
                "tier_order": [1, 2, 3, 4, 5],
                "clv_tier": ["Platinum", "Gold", "Silver", "Bronze", "not_scored"],
                "customers": [25, 0, 25, 25, 30],
                "customer_share_pct": [23.81, 0.0, 23.81, 23.81, 28.57],
                "total_clv": [75000.5, 0.0, 5000.25, 1250.0, 3000.0],
                "clv_share_pct": [88.98, 0.0, 5.93, 1.48, 3.56],
                "avg_clv": [3000.02, None, 200.01, 50.0, 100.0],
                "min_clv": [900.0, None, 120.0, 0.5, 60.0],
                "max_clv": [25000.0, None, 300.0, 119.9, 140.0],
                "avg_predicted_purchases": [9.5, None, 2.1, 0.6, 0.8],
                "avg_probability_alive": [0.93, None, 0.71, 0.35, 1.0],
            }
        ),
        "clv_model_evaluation": pd.DataFrame(
            {
                "bucket_order": list(range(9)),
                "frequency_bucket": ["all", "0", "1", "2", "3", "4", "5", "6", "7+"],
                "customers": [105, 40, 20, 12, 9, 8, 0, 6, 10],
                "predicted_purchases": [150.5, 12.0, 15.5, 14.0, 13.0, 16.0, 0.0, 20.0, 60.0],
                "actual_purchases": [160, 10, 18, 15, 12, 17, 0, 22, 66],
                "avg_predicted_purchases": [1.433, 0.3, 0.775, 1.167, 1.444, 2.0, None, 3.333, 6.0],
                "avg_actual_purchases": [1.524, 0.25, 0.9, 1.25, 1.333, 2.125, None, 3.667, 6.6],
                "mae_purchases": [0.81, 0.4, 0.7, 0.9, 1.0, 1.1, None, 1.5, 2.2],
                "error_pct": [-5.94, 20.0, -13.89, -6.67, 8.33, -5.88, None, -9.09, -9.09],
                "holdout_days": [180] * 9,
                "calibration_end_date": [dt.date(2011, 6, 12)] * 9,
                "observation_end_date": [dt.date(2011, 12, 9)] * 9,
            }
        ),
        "kmeans_model_selection": pd.DataFrame(
            {
                "k": [2, 3, 4, 5],
                "silhouette": [0.624, 0.517, 0.525, 0.5],
                "within_cluster_sse": [8950.3, 6965.8, 5187.1, 4488.8],
                "smallest_cluster_customers": [2223, 1455, 1120, 711],
                "iterations": [14, 19, 20, 20],
                "is_chosen": [True, False, False, False],
            }
        ),
        "kmeans_cluster_profiles": pd.DataFrame(
            {
                "cluster_id": [1, 1, 1, 2, 2, 2],
                "segment_rank": [1, 2, 10, 1, 2, 10],
                "segment": ["Champions", "Loyal Customers", "Hibernating"] * 2,
                "customers": [1500, 600, 123, 20, 180, 3519],
                "share_of_cluster_pct": [67.48, 26.99, 5.53, 0.54, 4.84, 94.62],
                "cluster_customers": [2223, 2223, 2223, 3719, 3719, 3719],
                "cluster_share_pct": [37.41, 37.41, 37.41, 62.59, 62.59, 62.59],
                "avg_recency_days": [30.5, 30.5, 30.5, 250.25, 250.25, 250.25],
                "avg_frequency": [12.3, 12.3, 12.3, 1.8, 1.8, 1.8],
                "avg_monetary": [4500.75, 4500.75, 4500.75, 350.4, 350.4, 350.4],
                "dominant_segment": ["Champions"] * 3 + ["Hibernating"] * 3,
            }
        ),
        "sku_trend_rankings": pd.DataFrame(
            {
                "trend_direction": ["decliner", "decliner", "grower", "grower"],
                "trend_rank": [1, 2, 1, 2],
                "stock_code": ["22423", "85123A", "84879", "21212"],
                "description": [
                    "REGENCY CAKESTAND 3 TIER",
                    "WHITE HANGING HEART T-LIGHT HOLDER",
                    "ASSORTED COLOUR BIRD ORNAMENT",
                    None,
                ],
                "previous_revenue": [
                    Decimal("9000.000"),
                    Decimal("5000.500"),
                    Decimal("800.000"),
                    Decimal("650.000"),
                ],
                "recent_revenue": [
                    Decimal("900.000"),
                    Decimal("2500.250"),
                    Decimal("4000.000"),
                    Decimal("1300.000"),
                ],
                "revenue_change": [
                    Decimal("-8100.000"),
                    Decimal("-2500.250"),
                    Decimal("3200.000"),
                    Decimal("650.000"),
                ],
                "revenue_growth_pct": [-90.0, -50.0, 400.0, 100.0],
                "window_months": [3] * 4,
                "previous_window_start_date": [dt.date(2011, 5, 1)] * 4,
                "recent_window_end_date": [dt.date(2011, 11, 30)] * 4,
            }
        ),
        "association_rules": pd.DataFrame(
            {
                "rule_rank": [1, 2, 3],
                "antecedent": ["22697", "22697 + 22699", "20725"],
                "consequent": ["22698", "22698", "20727"],
                "antecedent_description": [
                    "GREEN REGENCY TEACUP AND SAUCER",
                    "GREEN REGENCY TEACUP AND SAUCER + ROSES REGENCY TEACUP AND SAUCER",
                    None,
                ],
                "consequent_description": [
                    "PINK REGENCY TEACUP AND SAUCER",
                    "PINK REGENCY TEACUP AND SAUCER",
                    "LUNCH BAG BLACK SKULL",
                ],
                "support": [0.0131, 0.0104, 0.0212],
                "confidence": [0.7221, 0.8125, 0.4533],
                "lift": [31.52, 35.47, 8.91],
                "rule_baskets": [526, 417, 851],
                "total_baskets": [40129] * 3,
            }
        ),
        "campaign_ab_results": pd.DataFrame(
            {
                "campaign_id": ["CMP-A", "CMP-A", "CMP-B", "CMP-B"],
                "metric": ["conversion", "revenue", "conversion", "revenue"],
                "n_treatment": [250, 250, 80, 80],
                "n_control": [245, 245, 85, 85],
                "treatment_mean": [0.31, 182.5, 0.2, 90.0],
                "control_mean": [0.12, 64.0, 0.21, 95.5],
                "absolute_uplift": [0.19, 118.5, -0.01, -5.5],
                "relative_uplift": [1.583, 1.852, -0.048, -0.058],
                "ci_lower": [0.119, 61.2, -0.133, -80.1],
                "ci_upper": [0.261, 175.8, 0.113, 69.1],
                "p_value": [1.2e-7, 0.00005, 0.874, 0.885],
                "cuped_uplift": [0.188, 116.0, -0.012, -3.0],
                "cuped_ci_lower": [0.12, 63.0, -0.13, -70.0],
                "cuped_ci_upper": [0.256, 169.0, 0.106, 64.0],
                "srm_p_value": [0.823, 0.823, 0.0004, 0.0004],
                "has_sample_ratio_mismatch": [False, False, True, True],
            }
        ),
    }


RELATIONS = {spec.table: f"lgs_marts.{spec.table}" for spec in table_specs()}


class _Page(HTMLParser):
    """Collects the report's sections, images and table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: list[dict[str, str]] = []
        self.cells: dict[str, list[dict[str, str]]] = {}
        self.partial_rows = 0
        self.external: list[str] = []
        self._relation: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "section":
            self.sections[attributes["id"]] = attributes["data-status"]
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "table":
            self._relation = attributes["data-relation"]
            self.cells.setdefault(self._relation, [])
        elif tag == "tr" and attributes.get("data-partial") == "true":
            self.partial_rows += 1
        elif tag == "td" and self._relation:
            self.cells[self._relation].append(attributes)
        if tag in ("script", "link") or attributes.get("src", "").startswith("http"):
            self.external.append(tag)


def _parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    return render_report(_frames(), tmp_path / "report", relations=RELATIONS, target="local")


def test_every_chart_is_a_valid_png_embedded_in_a_self_contained_page(rendered: Path) -> None:
    out = rendered.parent
    page = _parse(rendered)

    assert page.sections == {chart.chart_id: "rendered" for chart in CHARTS}
    for chart in CHARTS:
        with Image.open(out / f"{chart.chart_id}.png") as image:
            image.verify()
        with Image.open(out / f"{chart.chart_id}.png") as image:
            assert image.format == "PNG"
            assert image.width > 600 and image.height > 300
    assert len(page.images) == len(CHARTS)
    assert all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert page.external == []


def test_data_file_holds_the_rows_as_given(rendered: Path) -> None:
    data = json.loads((rendered.parent / DATA_FILE).read_text())
    frames = _frames()

    for chart in CHARTS:
        entry = data["charts"][chart.chart_id]
        assert entry["status"] == "rendered"
        for spec in chart.tables:
            table = entry["tables"][spec.table]
            frame = frames[spec.table]
            assert table["relation"] == f"lgs_marts.{spec.table}"
            assert table["columns"] == list(frame.columns)
            assert len(table["rows"]) == len(frame)
    sales = data["charts"]["monthly_sales"]["tables"]["monthly_sales"]["rows"]
    assert sales[2]["sales_amount"] == 1234567.891
    assert sales[0]["sales_growth_pct"] is None
    assert sales[0]["previous_sales_amount"] is None
    assert sales[3]["month_start"] == "2023-12-01"
    assert sales[3]["is_partial_month"] is True
    rfm = data["charts"]["rfm_segments"]["tables"]["rfm_segment_summary"]["rows"]
    assert [row["segment"] for row in rfm] == ["Champions", "At Risk", "Hibernating"]
    assert rfm[2]["revenue"] == 999.125


def test_page_tables_show_every_number_read(rendered: Path) -> None:
    page = _parse(rendered)
    text = rendered.read_text(encoding="utf-8")
    frames = _frames()

    for name, frame in frames.items():
        cells = page.cells[f"lgs_marts.{name}"]
        assert len(cells) == frame.size
        values = [json.loads(cell["data-value"]) for cell in cells]
        expected = [json_value(value) for row in frame.itertuples(index=False) for value in row]
        assert values == expected
    # Formatted for people, too.
    assert "1,234,567.89" in text
    assert "1,310" in text
    assert "Hibernating" in text
    assert display_value(Decimal("16847.000")) in text


def test_partial_month_is_flagged_in_page_and_chart(tmp_path: Path) -> None:
    flagged = render_report(_frames(), tmp_path / "flagged", relations=RELATIONS)
    unflagged = render_report(_frames([False] * 4), tmp_path / "unflagged", relations=RELATIONS)

    flagged_page = _parse(flagged)
    text = flagged.read_text(encoding="utf-8")
    assert 'id="partial-month"' in text
    assert "Partial month: 2023-12." in text
    # One row in each of the four monthly tables.
    assert flagged_page.partial_rows == 4
    assert 'id="partial-month"' not in unflagged.read_text(encoding="utf-8")
    assert _parse(unflagged).partial_rows == 0
    # The hatching and asterisk change the monthly charts, and only those.
    for chart_id in ("monthly_sales", "monthly_orders", "monthly_active_users"):
        assert (flagged.parent / f"{chart_id}.png").read_bytes() != (
            unflagged.parent / f"{chart_id}.png"
        ).read_bytes()
    assert (flagged.parent / "rfm_segments.png").read_bytes() == (
        unflagged.parent / "rfm_segments.png"
    ).read_bytes()


def test_missing_table_skips_its_chart_with_a_visible_note(tmp_path: Path) -> None:
    out = tmp_path / "report"
    # A chart from an earlier run must not survive as if it were current.
    render_report(_frames(), out, relations=RELATIONS)
    assert (out / "rfm_segments.png").exists()
    frames: dict[str, pd.DataFrame | None] = dict(_frames())
    frames["rfm_segment_summary"] = None
    del frames["invoice_amount_distribution"]
    frames["invoice_amount_histogram"] = frames["invoice_amount_histogram"].iloc[0:0]

    index = render_report(frames, out, relations=RELATIONS)

    page = _parse(index)
    text = index.read_text(encoding="utf-8")
    assert page.sections["rfm_segments"] == "skipped"
    assert page.sections["invoice_amounts"] == "skipped"
    assert page.sections["monthly_sales"] == "rendered"
    assert "Chart skipped: table lgs_marts.rfm_segment_summary does not exist" in text
    assert "table lgs_marts.invoice_amount_histogram is empty" in text
    assert "table lgs_marts.invoice_amount_distribution does not exist" in text
    assert not (out / "rfm_segments.png").exists()
    assert not (out / "invoice_amounts.png").exists()
    assert len(page.images) == len(CHARTS) - 2
    data = json.loads((out / DATA_FILE).read_text())
    assert data["charts"]["rfm_segments"]["status"] == "skipped"
    assert data["charts"]["rfm_segments"]["missing"] == [
        "table lgs_marts.rfm_segment_summary does not exist"
    ]
    assert "rows" not in data["charts"]["rfm_segments"]["tables"]["rfm_segment_summary"]


def test_distribution_without_the_all_invoices_row_is_an_error(tmp_path: Path) -> None:
    frames = _frames()
    distribution = frames["invoice_amount_distribution"]
    frames["invoice_amount_distribution"] = distribution[
        distribution["population"] != "all_invoices"
    ]

    with pytest.raises(ValueError, match="all_invoices"):
        render_report(frames, tmp_path / "report", relations=RELATIONS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.340"), 12.34),
        (None, None),
        (math.nan, None),
        (pd.NaT, None),
        (True, True),
        (dt.date(2011, 12, 1), "2011-12-01"),
        (pd.Series([7], dtype="int64").iloc[0], 7),
    ],
)
def test_json_value_keeps_numbers_and_nulls(value: Any, expected: Any) -> None:
    assert json_value(value) == expected
    assert type(json_value(value)) is type(expected)


# ---------------------------------------------------------------------------------------
# Loading: a real local SparkSession, tables as global temporary views
# ---------------------------------------------------------------------------------------


def test_load_frames_reads_columns_in_order_and_none_for_missing(spark) -> None:
    sales = _frames()["monthly_sales"].iloc[::-1]
    spark.createDataFrame(
        [
            tuple(None if value is None or pd.isna(value) else value for value in row)
            for row in sales.astype(object).itertuples(index=False)
        ],
        "year_month int, month_start date, sales_amount decimal(20,3), "
        "previous_sales_amount decimal(20,3), sales_growth_pct double, sales_lines bigint, "
        "is_partial_month boolean",
    ).selectExpr("*", "1 as unplotted").createOrReplaceGlobalTempView("report_sales")
    specs = [spec for spec in table_specs() if spec.table in ("monthly_sales", "monthly_orders")]
    relations = {
        "monthly_sales": "global_temp.report_sales",
        "monthly_orders": "global_temp.report_no_such_table",
    }

    frames = load_frames(spark, relations, specs)

    assert frames["monthly_orders"] is None
    loaded = frames["monthly_sales"]
    assert list(loaded.columns) == list(MONTHLY_SALES.columns)
    assert list(loaded["year_month"]) == MONTHS
    assert loaded["sales_amount"][2] == Decimal("1234567.891")
    assert loaded["month_start"][3] == dt.date(2023, 12, 1)
    assert loaded["previous_sales_amount"][0] is None
    assert frame_rows(loaded)[0]["sales_growth_pct"] is None


def test_load_frame_refuses_tables_that_are_not_small(
    spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark.range(11).selectExpr("cast(id as int) as bin_index").createOrReplaceGlobalTempView(
        "report_bins"
    )
    spec = TableSpec("bins", ("bin_index",), ("bin_index",))
    monkeypatch.setattr(loading, "MAX_COLLECT_ROWS", 10)

    with pytest.raises(ValueError, match="only collects small aggregated marts"):
        load_frame(spark, "global_temp.report_bins", spec)
    monkeypatch.setattr(loading, "MAX_COLLECT_ROWS", 11)
    assert len(load_frame(spark, "global_temp.report_bins", spec)) == 11


# ---------------------------------------------------------------------------------------
# Beyond the original analysis: CLV, K-Means, SKU trends, association rules
# ---------------------------------------------------------------------------------------


def test_new_charts_show_the_numbers_of_their_marts(rendered: Path) -> None:
    data = json.loads((rendered.parent / DATA_FILE).read_text())
    charts = data["charts"]
    tiers = charts["clv_tiers"]["tables"]["clv_tier_summary"]["rows"]
    assert [row["clv_tier"] for row in tiers] == [
        "Platinum",
        "Gold",
        "Silver",
        "Bronze",
        "not_scored",
    ]
    assert tiers[0]["total_clv"] == 75000.5
    # An empty tier is shown with its nulls, not dropped.
    assert tiers[1]["customers"] == 0 and tiers[1]["avg_clv"] is None
    holdout = charts["clv_holdout"]["tables"]["clv_model_evaluation"]["rows"]
    assert holdout[0]["frequency_bucket"] == "all" and holdout[0]["actual_purchases"] == 160
    profiles = charts["kmeans_clusters"]["tables"]["kmeans_cluster_profiles"]["rows"]
    assert {row["cluster_id"] for row in profiles} == {1, 2}
    selection = charts["kmeans_clusters"]["tables"]["kmeans_model_selection"]["rows"]
    assert [row["k"] for row in selection if row["is_chosen"]] == [2]
    trends = charts["sku_trends"]["tables"]["sku_trend_rankings"]["rows"]
    assert trends[2]["stock_code"] == "84879" and trends[2]["revenue_growth_pct"] == 400.0
    rules = charts["association_rules"]["tables"]["association_rules"]["rows"]
    assert [row["lift"] for row in rules] == [31.52, 35.47, 8.91]
    campaigns = charts["campaign_uplift"]["tables"]["campaign_ab_results"]["rows"]
    assert [(row["campaign_id"], row["metric"]) for row in campaigns][:2] == [
        ("CMP-A", "conversion"),
        ("CMP-A", "revenue"),
    ]
    assert campaigns[1]["ci_lower"] == 61.2 and campaigns[3]["has_sample_ratio_mismatch"]
    text = rendered.read_text(encoding="utf-8")
    assert "WHITE HANGING HEART T-LIGHT HOLDER" in text
    assert "40,129" in text


def test_holdout_chart_needs_the_all_row(tmp_path: Path) -> None:
    frames = _frames()
    evaluation = frames["clv_model_evaluation"]
    frames["clv_model_evaluation"] = evaluation[evaluation["frequency_bucket"] != "all"]

    with pytest.raises(ValueError, match="frequency_bucket 'all'"):
        render_report(frames, tmp_path / "report", relations=RELATIONS)


def test_trend_chart_without_decliners_still_renders(tmp_path: Path) -> None:
    frames = _frames()
    trends = frames["sku_trend_rankings"]
    frames["sku_trend_rankings"] = trends[trends["trend_direction"] == "grower"]

    index = render_report(frames, tmp_path / "report", relations=RELATIONS)

    assert _parse(index).sections["sku_trends"] == "rendered"
    with Image.open(tmp_path / "report" / "sku_trends.png") as image:
        assert image.format == "PNG"


def test_rule_labels_prefer_descriptions_and_stay_short() -> None:
    described = {
        "antecedent": "22697",
        "consequent": "22698",
        "antecedent_description": "GREEN REGENCY TEACUP AND SAUCER",
        "consequent_description": "PINK REGENCY TEACUP AND SAUCER",
    }
    assert charts.rule_label(described) == (
        "GREEN REGENCY TEACUP AND SAUCER → PINK REGENCY TEACUP AND SAUCER"
    )
    # Without a description the codes stand in.
    assert charts.rule_label({**described, "antecedent_description": None}) == (
        "22697 → PINK REGENCY TEACUP AND SAUCER"
    )
    short = charts.rule_label(described, width=20)
    assert len(short) == 20 and short.endswith("…")
    assert charts.shorten(None, 5) == ""


def test_load_frame_keeps_the_top_rows_of_a_limited_spec(
    spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark.range(30).selectExpr(
        "cast(30 - id as int) as rule_rank", "cast(id as double) as lift"
    ).createOrReplaceGlobalTempView("report_rules")
    spec = TableSpec("rules", ("rule_rank", "lift"), ("rule_rank",), limit=5)
    # The limit applies before the size guard: a big ranking is fine, its top is small.
    monkeypatch.setattr(loading, "MAX_COLLECT_ROWS", 10)

    frame = load_frame(spark, "global_temp.report_rules", spec)

    assert list(frame["rule_rank"]) == [1, 2, 3, 4, 5]
    assert list(frame["lift"]) == [29.0, 28.0, 27.0, 26.0, 25.0]
    assert tables.ASSOCIATION_RULES.limit == tables.TOP_RULES
