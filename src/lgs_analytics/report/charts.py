"""The report's charts: each a pure function that draws mart frames on a matplotlib Figure.

`CHARTS` lists them in page order, each with its title, description and the tables it
needs (`table_specs` collects those, once each). Frames in, drawing out: no Spark here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lgs_analytics.report.campaign_chart import CAMPAIGN_AB_RESULTS, draw_campaign_uplift
from lgs_analytics.report.tables import (
    ASSOCIATION_RULES,
    CLV_MODEL_EVALUATION,
    CLV_TIER_SUMMARY,
    INVOICE_AMOUNT_DISTRIBUTION,
    INVOICE_AMOUNT_HISTOGRAM,
    KMEANS_CLUSTER_PROFILES,
    KMEANS_MODEL_SELECTION,
    MONTHLY_ACTIVE_USERS,
    MONTHLY_NEW_EXISTING_USERS,
    MONTHLY_ORDERS,
    MONTHLY_SALES,
    RFM_SEGMENT_SUMMARY,
    SKU_TREND_RANKINGS,
    TableSpec,
)
from lgs_analytics.report.transitions_chart import (
    RFM_SEGMENT_TRANSITIONS,
    draw_segment_transitions,
)
from lgs_analytics.report.values import display_value, json_value, month_label, partial_mask

SALES_COLOR = "#1f6f8b"
GROWTH_COLOR = "#e07a1f"
PLACED_COLOR = "#2a9d8f"
CANCELLED_COLOR = "#d1495b"
EXISTING_COLOR = "#457b9d"
NEW_COLOR = "#f4a261"
MAU_COLOR = "#1d3557"
PARTIAL_HATCH = "///"
PARTIAL_ALPHA = 0.45


@dataclass(frozen=True)
class ChartSpec:
    """One chart of the report and the tables it needs (all of them, or it is skipped)."""

    chart_id: str
    title: str
    description: str
    tables: tuple[TableSpec, ...]
    draw: Callable[[Figure, Mapping[str, pd.DataFrame]], None]
    height: float = 4.8


def _floats(series: pd.Series) -> np.ndarray:
    """Numbers for plotting (Decimals, ints, nulls) as floats with NaN for null."""
    return np.array([math.nan if json_value(v) is None else float(v) for v in series], float)


def _month_axis(ax, frame: pd.DataFrame) -> np.ndarray:
    """Month positions and labels; a partial month's label gets an asterisk."""
    positions = np.arange(len(frame))
    labels = [
        month_label(ym) + ("*" if partial else "")
        for ym, partial in zip(frame["year_month"], partial_mask(frame), strict=True)
    ]
    ax.set_xticks(positions)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.7, len(frame) - 0.3)
    return positions


def _flag_partial_bars(bars, partial: np.ndarray) -> None:
    """Hatch and fade the partial month's bars: its totals are not comparable."""
    for patch, is_partial in zip(bars, partial, strict=True):
        if is_partial:
            patch.set_hatch(PARTIAL_HATCH)
            patch.set_alpha(PARTIAL_ALPHA)
            patch.set_edgecolor("#333333")


def _partial_legend_handle() -> Patch:
    return Patch(
        facecolor="white",
        edgecolor="#333333",
        hatch=PARTIAL_HATCH,
        label="* partial month (data ends before the month does)",
    )


def draw_monthly_sales(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Monthly sales as bars, growth % on a twin axis."""
    frame = frames["monthly_sales"]
    ax = fig.add_subplot()
    positions = _month_axis(ax, frame)
    partial = partial_mask(frame)
    bars = ax.bar(positions, _floats(frame["sales_amount"]), color=SALES_COLOR, label="Sales")
    _flag_partial_bars(bars, partial)
    ax.set_ylabel("Sales (GBP)")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")

    growth_ax = ax.twinx()
    growth = _floats(frame["sales_growth_pct"])
    (line,) = growth_ax.plot(
        positions, growth, color=GROWTH_COLOR, marker="o", linewidth=1.8, label="Growth %"
    )
    # A partial month's growth compares part of a month with a whole one: hollow marker.
    growth_ax.plot(
        positions[partial],
        growth[partial],
        linestyle="none",
        marker="o",
        markersize=9,
        markerfacecolor="white",
        markeredgecolor=GROWTH_COLOR,
    )
    growth_ax.axhline(0, color=GROWTH_COLOR, linewidth=0.8, linestyle=":")
    growth_ax.set_ylabel("Growth vs previous month (%)")
    ax.legend(
        handles=[bars, line, _partial_legend_handle()],
        labels=["Sales", "Growth %", "* partial month (data ends before the month does)"],
        loc="upper left",
        fontsize=8,
    )
    ax.set_title("Monthly sales and month-over-month growth")


def draw_monthly_orders(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Placed and cancelled orders per month, side by side."""
    frame = frames["monthly_orders"]
    ax = fig.add_subplot()
    positions = _month_axis(ax, frame)
    partial = partial_mask(frame)
    width = 0.4
    placed = ax.bar(
        positions - width / 2,
        _floats(frame["placed_orders"]),
        width,
        color=PLACED_COLOR,
        label="Placed orders",
    )
    cancelled = ax.bar(
        positions + width / 2,
        _floats(frame["cancelled_orders"]),
        width,
        color=CANCELLED_COLOR,
        label="Cancelled orders",
    )
    _flag_partial_bars(placed, partial)
    _flag_partial_bars(cancelled, partial)
    ax.set_ylabel("Distinct invoices")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.legend(handles=[placed, cancelled, _partial_legend_handle()], loc="upper left", fontsize=8)
    ax.set_title("Placed vs cancelled orders per month")


def draw_monthly_active_users(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """MAU stacked as existing + new users, with the MAU mart's own count as markers."""
    split = frames["monthly_new_existing_users"]
    active = frames["monthly_active_users"]
    ax = fig.add_subplot()
    positions = _month_axis(ax, split)
    partial = partial_mask(split)
    existing = _floats(split["existing_users"])
    new = _floats(split["new_users"])
    existing_bars = ax.bar(positions, existing, color=EXISTING_COLOR, label="Existing users")
    new_bars = ax.bar(positions, new, bottom=existing, color=NEW_COLOR, label="New users")
    _flag_partial_bars(existing_bars, partial)
    _flag_partial_bars(new_bars, partial)
    # Both marts are plotted so that a break of new + existing = MAU shows on the chart.
    mau_by_month = dict(
        zip(active["year_month"].map(int), _floats(active["active_users"]), strict=True)
    )
    mau = np.array([mau_by_month.get(int(ym), math.nan) for ym in split["year_month"]])
    (mau_marker,) = ax.plot(
        positions,
        mau,
        linestyle="none",
        marker="_",
        markersize=14,
        markeredgewidth=2.5,
        color=MAU_COLOR,
        label="Monthly active users",
    )
    ax.set_ylabel("Customers")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.legend(
        handles=[existing_bars, new_bars, mau_marker, _partial_legend_handle()],
        loc="upper left",
        fontsize=8,
    )
    ax.set_title("Monthly active users: new and existing (first month left-censored)")


def draw_rfm_segments(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Customers and revenue per RFM segment, in segment order, with their shares."""
    frame = frames["rfm_segment_summary"]
    segments = [str(segment) for segment in frame["segment"]]
    positions = np.arange(len(frame))
    panels = (
        ("customers", "customer_share_pct", "Customers", "#3a86ff"),
        ("revenue", "revenue_share_pct", "Revenue (GBP)", "#8338ec"),
    )
    for index, (column, share_column, label, color) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, index)
        values = _floats(frame[column])
        ax.barh(positions, values, color=color)
        ax.set_yticks(positions)
        ax.set_yticklabels(segments if index == 1 else [""] * len(segments), fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.xaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
        ax.set_title(f"{label} per segment")
        for position, value, share in zip(
            positions, values, _floats(frame[share_column]), strict=True
        ):
            ax.annotate(
                f" {share:.1f}%",
                (value, position),
                va="center",
                fontsize=8,
            )
        ax.margins(x=0.18)


def distribution_row(distribution: pd.DataFrame, population: str) -> dict[str, Any]:
    """The distribution mart's row for one population (`all_invoices`, ...)."""
    rows = distribution[distribution["population"] == population]
    if len(rows) != 1:
        raise ValueError(
            f"invoice_amount_distribution has {len(rows)} rows for population "
            f"'{population}', expected 1."
        )
    return rows.iloc[0].to_dict()


def draw_invoice_amounts(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Histogram of the non-outlier invoice amounts with the outlier threshold (P85)."""
    histogram = frames["invoice_amount_histogram"]
    everything = distribution_row(frames["invoice_amount_distribution"], "all_invoices")
    ax = fig.add_subplot()
    lower = _floats(histogram["bin_lower"])
    upper = _floats(histogram["bin_upper"])
    ax.bar(
        lower,
        _floats(histogram["invoice_count"]),
        width=upper - lower,
        align="edge",
        color=SALES_COLOR,
        edgecolor="white",
        linewidth=0.5,
        label="Invoices per amount bin",
    )
    percentile = float(json_value(everything["percentile"]))
    threshold = float(json_value(everything["p85_amount"]))
    median = float(json_value(everything["median_amount"]))
    name = f"P{percentile * 100:g}"
    ax.axvline(threshold, color=CANCELLED_COLOR, linewidth=2, label=f"{name} = {threshold:,.2f}")
    ax.axvline(
        median, color=GROWTH_COLOR, linewidth=1.5, linestyle="--", label=f"median = {median:,.2f}"
    )
    ax.set_xlabel("Invoice amount (GBP)")
    ax.set_ylabel("Invoices")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Invoice amounts at or below {name} (invoices above it are outliers)")


# Beyond the original analysis (DEFINITIONS §6): CLV, K-Means, SKU trends, association rules.

TIER_COLORS = {
    "Platinum": "#5e548e",
    "Gold": "#e9c46a",
    "Silver": "#a8b2bd",
    "Bronze": "#b5651d",
    "not_scored": "#d9d9d9",
}
PREDICTED_COLOR = "#1f6f8b"
ACTUAL_COLOR = "#e07a1f"
GROWER_COLOR = "#2a9d8f"
DECLINER_COLOR = "#d1495b"
# Lowest CLV drawn on the log axis of the tier chart (GBP).
CLV_AXIS_FLOOR = 1.0


def shorten(text: Any, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis; '' for null."""
    plain = json_value(text)
    if plain is None:
        return ""
    value = str(plain).strip()
    return value if len(value) <= width else value[: width - 1].rstrip() + "…"


def evaluation_row(evaluation: pd.DataFrame, bucket: str) -> dict[str, Any]:
    """The CLV evaluation mart's row for one frequency bucket (`all`, `0`, ...)."""
    rows = evaluation[evaluation["frequency_bucket"] == bucket]
    if len(rows) != 1:
        raise ValueError(
            f"clv_model_evaluation has {len(rows)} rows for frequency_bucket '{bucket}', "
            "expected 1."
        )
    return rows.iloc[0].to_dict()


def draw_clv_tiers(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Share of customers vs share of CLV per tier, and each tier's CLV range."""
    frame = frames["clv_tier_summary"]
    tiers = [str(tier) for tier in frame["clv_tier"]]
    colors = [TIER_COLORS.get(tier, "#888888") for tier in tiers]
    positions = np.arange(len(frame))

    shares = fig.add_subplot(1, 2, 1)
    width = 0.4
    customer_share = _floats(frame["customer_share_pct"])
    clv_share = _floats(frame["clv_share_pct"])
    customer_bars = shares.bar(
        positions - width / 2, customer_share, width, color=colors, alpha=0.45, hatch="//"
    )
    clv_bars = shares.bar(positions + width / 2, clv_share, width, color=colors)
    for bars, values in ((customer_bars, customer_share), (clv_bars, clv_share)):
        for bar, value in zip(bars, values, strict=True):
            if not math.isnan(value):
                shares.annotate(
                    f"{value:.0f}%",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    shares.set_xticks(positions)
    shares.set_xticklabels(tiers)
    shares.set_ylabel("% of all customers / of all CLV")
    shares.legend(
        handles=[
            Patch(facecolor="#888888", alpha=0.45, hatch="//", label="customers"),
            Patch(facecolor="#888888", label="12-month CLV"),
        ],
        fontsize=8,
        loc="upper right",
    )
    shares.set_title("Share of customers and of predicted value per tier")

    ranges = fig.add_subplot(1, 2, 2)
    # CLV is heavily right-skewed: a log axis. Customers the model gives up on have a CLV
    # of a fraction of a penny, which would stretch that axis over dozens of decades:
    # values below CLV_AXIS_FLOOR are drawn at it (a tier's table row keeps the true value).
    low, mean, high = (
        np.where(np.isnan(values), np.nan, np.maximum(values, CLV_AXIS_FLOOR))
        for values in (
            _floats(frame["min_clv"]),
            _floats(frame["avg_clv"]),
            _floats(frame["max_clv"]),
        )
    )
    for position, color, lo, mid, hi in zip(positions, colors, low, mean, high, strict=True):
        if not math.isnan(lo) and not math.isnan(hi):
            ranges.vlines(position, lo, hi, color=color, linewidth=6, alpha=0.6)
        if not math.isnan(mid):
            ranges.plot(position, mid, marker="D", color="#1d2730")
            ranges.annotate(f" £{mid:,.0f}", (position, mid), va="center", fontsize=8, ha="left")
    ranges.set_yscale("log")
    ranges.set_ylim(bottom=CLV_AXIS_FLOOR / 1.5)
    ranges.set_xticks(positions)
    ranges.set_xticklabels(tiers)
    ranges.set_xlim(-0.6, len(frame) - 0.2)
    ranges.set_ylabel("12-month CLV per customer (GBP, log scale)")
    ranges.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ranges.set_title(f"CLV range (bar, from £{CLV_AXIS_FLOOR:,.0f} up) and mean (◆) per tier")


def draw_clv_holdout(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Predicted vs actual holdout purchase days per customer, by calibration frequency."""
    frame = frames["clv_model_evaluation"]
    overall = evaluation_row(frame, "all")
    buckets = frame[frame["frequency_bucket"] != "all"]
    positions = np.arange(len(buckets))
    width = 0.4
    ax = fig.add_subplot()
    predicted = ax.bar(
        positions - width / 2,
        _floats(buckets["avg_predicted_purchases"]),
        width,
        color=PREDICTED_COLOR,
        label="predicted (BG/NBD fitted on the calibration period)",
    )
    actual = ax.bar(
        positions + width / 2,
        _floats(buckets["avg_actual_purchases"]),
        width,
        color=ACTUAL_COLOR,
        label="actual",
    )
    ax.set_xticks(positions)
    ax.set_xticklabels(
        [
            f"{bucket}\n({display_value(customers)} customers)"
            for bucket, customers in zip(
                buckets["frequency_bucket"], buckets["customers"], strict=True
            )
        ],
        fontsize=8,
    )
    ax.set_xlabel("Repeat purchase days in the calibration period")
    ax.set_ylabel("Purchase days in the holdout, per customer")
    ax.legend(handles=[predicted, actual], loc="upper left", fontsize=8)
    error = json_value(overall["error_pct"])
    mae = json_value(overall["mae_purchases"])
    summary = (
        f"all {display_value(overall['customers'])} customers: predicted "
        f"{display_value(overall['predicted_purchases'])} vs actual "
        f"{display_value(overall['actual_purchases'])} purchase days"
        + (f" ({error:+.1f}%)" if error is not None else "")
        + (f", mean absolute error {mae:.2f} per customer" if mae is not None else "")
    )
    ax.set_title(
        f"Holdout check: the {display_value(overall['holdout_days'])} days after "
        f"{json_value(overall['calibration_end_date'])}\n{summary}",
        fontsize=10,
    )


def draw_kmeans_clusters(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Silhouette by k (the choice), and each cluster's mix of RFM segments."""
    selection = frames["kmeans_model_selection"]
    profiles = frames["kmeans_cluster_profiles"]
    grid = fig.add_gridspec(1, 3)

    choice = fig.add_subplot(grid[0, 0])
    ks = _floats(selection["k"])
    silhouette = _floats(selection["silhouette"])
    chosen = np.array([bool(json_value(value)) for value in selection["is_chosen"]], bool)
    choice.plot(ks, silhouette, marker="o", color=SALES_COLOR, label="silhouette")
    choice.plot(
        ks[chosen],
        silhouette[chosen],
        linestyle="none",
        marker="*",
        markersize=16,
        color=GROWTH_COLOR,
        label="chosen k",
    )
    choice.set_xlabel("k (clusters)")
    choice.set_ylabel("Silhouette (higher = better separated)")
    sse_axis = choice.twinx()
    sse_axis.plot(ks, _floats(selection["within_cluster_sse"]), color="#888888", linestyle="--")
    sse_axis.set_ylabel("Within-cluster SSE (dashed)", color="#666666")
    sse_axis.tick_params(axis="y", labelcolor="#666666", labelsize=8)
    choice.legend(loc="upper right", fontsize=8)
    choice.set_title("Choice of k")

    mix = fig.add_subplot(grid[0, 1:])
    clusters = sorted({int(value) for value in profiles["cluster_id"]})
    positions = {cluster: index for index, cluster in enumerate(clusters)}
    segments = (
        profiles[["segment_rank", "segment"]]
        .drop_duplicates()
        .sort_values("segment_rank", key=lambda column: column.map(int))
    )
    palette = [
        "#1b9e77", "#66a61e", "#a6d854", "#e6ab02", "#ffd92f",
        "#80b1d3", "#e7298a", "#d95f02", "#7570b3", "#666666",
    ]  # fmt: skip
    left = np.zeros(len(clusters))
    for index, segment in enumerate(segments["segment"]):
        rows = profiles[profiles["segment"] == segment]
        widths = np.zeros(len(clusters))
        for cluster, share in zip(rows["cluster_id"], rows["share_of_cluster_pct"], strict=True):
            widths[positions[int(cluster)]] = 0.0 if json_value(share) is None else float(share)
        mix.barh(
            np.arange(len(clusters)),
            widths,
            left=left,
            color=palette[index % len(palette)],
            label=str(segment),
        )
        left += widths
    labels = []
    for cluster in clusters:
        row = profiles[profiles["cluster_id"].map(int) == cluster].iloc[0]
        labels.append(
            f"Cluster {cluster}: {display_value(row['cluster_customers'])} customers\n"
            f"R {float(row['avg_recency_days']):,.0f} d · F {float(row['avg_frequency']):,.1f}"
            f" · M £{float(row['avg_monetary']):,.0f}"
        )
    mix.set_yticks(np.arange(len(clusters)))
    mix.set_yticklabels(labels, fontsize=8)
    mix.invert_yaxis()
    mix.set_xlim(0, 100)
    mix.set_xlabel("RFM segments within the cluster (% of its customers)")
    mix.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    mix.set_title("K-Means clusters compared with the RFM segments")


def draw_sku_trends(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Top growing and declining products: revenue growth % over the trend window."""
    frame = frames["sku_trend_rankings"]
    first = frame.iloc[0]
    panels = (
        ("grower", "Top growers", GROWER_COLOR),
        ("decliner", "Top decliners", DECLINER_COLOR),
    )
    for index, (direction, title, color) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, index)
        rows = frame[frame["trend_direction"] == direction]
        positions = np.arange(len(rows))
        growth = _floats(rows["revenue_growth_pct"])
        ax.barh(positions, growth, color=color)
        ax.set_yticks(positions)
        ax.set_yticklabels(
            [
                f"{code} {shorten(description, 26)}"
                for code, description in zip(rows["stock_code"], rows["description"], strict=True)
            ],
            fontsize=7,
        )
        ax.invert_yaxis()
        for position, value, previous, recent in zip(
            positions,
            growth,
            _floats(rows["previous_revenue"]),
            _floats(rows["recent_revenue"]),
            strict=True,
        ):
            ax.annotate(
                f" £{previous:,.0f} → £{recent:,.0f} ",
                (value, position),
                va="center",
                ha="left" if value >= 0 else "right",
                fontsize=7,
            )
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.margins(x=0.35)
        ax.set_xlabel("Revenue growth, recent vs previous window (%)")
        ax.set_title(title if len(rows) else f"{title}: none")
    fig.suptitle(
        f"Last {display_value(first['window_months'])} complete months to "
        f"{json_value(first['recent_window_end_date'])} vs the "
        f"{display_value(first['window_months'])} before (from "
        f"{json_value(first['previous_window_start_date'])})",
        fontsize=10,
    )


def rule_label(row: Mapping[str, Any], width: int = 70) -> str:
    """`antecedent → consequent`, by description where there is one, else by code."""
    antecedent = shorten(row["antecedent_description"], width) or str(row["antecedent"])
    consequent = shorten(row["consequent_description"], width) or str(row["consequent"])
    return shorten(f"{antecedent} → {consequent}", width)


def draw_association_rules(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """The top rules by lift, with their confidence and support."""
    frame = frames["association_rules"]
    ax = fig.add_subplot()
    positions = np.arange(len(frame))
    lift = _floats(frame["lift"])
    ax.barh(positions, lift, color="#8338ec")
    ax.set_yticks(positions)
    ax.set_yticklabels(
        [f"#{int(row['rule_rank'])} {rule_label(row)}" for _, row in frame.iterrows()],
        fontsize=7,
    )
    ax.invert_yaxis()
    for position, value, confidence, support in zip(
        positions,
        lift,
        _floats(frame["confidence"]),
        _floats(frame["support"]),
        strict=True,
    ):
        ax.annotate(
            f" confidence {confidence:.0%}, support {support:.1%}",
            (value, position),
            va="center",
            fontsize=7,
        )
    ax.axvline(1, color="#333333", linewidth=0.8, linestyle=":")
    ax.margins(x=0.3)
    ax.set_xlabel("Lift (1 = bought together as often as by chance)")
    total = display_value(frame["total_baskets"].iloc[0])
    ax.set_title(f"Top {len(frame)} cross-selling rules by lift ({total} baskets mined)")


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "monthly_sales",
        "Monthly sales",
        "Sum of line amounts over sales lines per calendar month; growth is the change "
        "against the previous month in percent (none for the first month).",
        (MONTHLY_SALES,),
        draw_monthly_sales,
    ),
    ChartSpec(
        "monthly_orders",
        "Placed and cancelled orders",
        "Placed orders are distinct invoices that are neither cancellations nor "
        "adjustments; cancelled orders are distinct cancellation (C) invoices.",
        (MONTHLY_ORDERS,),
        draw_monthly_orders,
    ),
    ChartSpec(
        "monthly_active_users",
        "Monthly active users, new and existing",
        "Distinct customers with a sales line in the month, split into new (first purchase "
        "month) and existing customers. The first month of data is left-censored: every "
        "customer looks new in it.",
        (MONTHLY_NEW_EXISTING_USERS, MONTHLY_ACTIVE_USERS),
        draw_monthly_active_users,
    ),
    ChartSpec(
        "rfm_segments",
        "RFM segments",
        "Customers and revenue per RFM segment (recency, frequency and monetary scores "
        "1–5, segment from the R and F scores).",
        (RFM_SEGMENT_SUMMARY,),
        draw_rfm_segments,
    ),
    ChartSpec(
        "rfm_segment_transitions",
        "Customers moving between RFM segments",
        "Each customer's state at the previous month end (row) against the last month end "
        "(column): their RFM segment scored on the data up to that month end, lapsed "
        "without a purchase in the last rfm_lapsed_months months (6 unless the project "
        "variable says otherwise), or not a customer yet. Numbers are customers, the "
        "colour their share of the row; the diagonal stayed.",
        (RFM_SEGMENT_TRANSITIONS,),
        draw_segment_transitions,
        height=6.4,
    ),
    ChartSpec(
        "invoice_amounts",
        "Invoice amount distribution",
        "Invoice amounts (sum of line amounts per invoice) at or below the outlier "
        "threshold, an exact percentile of all invoice amounts (P85 unless the project "
        "variable outlier_percentile says otherwise); invoices above it are outliers.",
        (INVOICE_AMOUNT_HISTOGRAM, INVOICE_AMOUNT_DISTRIBUTION),
        draw_invoice_amounts,
    ),
    ChartSpec(
        "clv_tiers",
        "Customer lifetime value tiers",
        "12-month customer lifetime value from BG/NBD (purchase days) and Gamma-Gamma "
        "(spend per purchase day), discounted monthly. Scored customers are cut into CLV "
        "quartiles (Platinum = top 25%); customers with a single purchase day cannot be "
        "scored reliably and are shown apart (not_scored), never dropped.",
        (CLV_TIER_SUMMARY,),
        draw_clv_tiers,
    ),
    ChartSpec(
        "clv_holdout",
        "CLV model holdout check",
        "BG/NBD refitted on the purchase days before the holdout period predicts each "
        "customer's purchase days in it; the bars compare the mean prediction with what "
        "the customers did, by their repeat purchase days before the holdout.",
        (CLV_MODEL_EVALUATION,),
        draw_clv_holdout,
    ),
    ChartSpec(
        "kmeans_clusters",
        "K-Means customer clusters vs RFM segments",
        "Spark MLlib K-Means on standardised log recency, frequency and monetary value; k "
        "is the one with the highest silhouette over the range tried. Each cluster's bar "
        "shows which RFM segments its customers belong to.",
        (KMEANS_MODEL_SELECTION, KMEANS_CLUSTER_PROFILES),
        draw_kmeans_clusters,
        height=5.6,
    ),
    ChartSpec(
        "sku_trends",
        "Top growing and declining products",
        "Revenue of each product in the last complete months against the same number of "
        "months before (products with enough revenue in the earlier window), ranked by "
        "growth in percent.",
        (SKU_TREND_RANKINGS,),
        draw_sku_trends,
        height=6.4,
    ),
    ChartSpec(
        "association_rules",
        "Cross-selling rules (FP-Growth)",
        "Association rules mined with Spark MLlib FP-Growth over invoice baskets: lift is "
        "how many times likelier the right-hand product is in a basket with the left-hand "
        "ones than in any basket; confidence the share of such baskets holding it; support "
        "the share of all baskets holding both.",
        (ASSOCIATION_RULES,),
        draw_association_rules,
        height=5.6,
    ),
    ChartSpec(
        "campaign_uplift",
        "Campaign A/B tests: uplift with its 95% interval",
        "Each targeted campaign's uplift (treatment minus control) in the customers' "
        "conversion within the campaign window and their revenue there, with the 95% "
        "interval (two-proportion z-test for conversion, Welch's t-test for revenue) and "
        "the CUPED estimate, which adjusts for the pre-period revenue; p is the test's "
        "p-value, SRM! flags a sample-ratio mismatch of the assignment.",
        (CAMPAIGN_AB_RESULTS,),
        draw_campaign_uplift,
    ),
)


def table_specs(charts: Sequence[ChartSpec] = CHARTS) -> list[TableSpec]:
    """Every table the charts read, once, in chart order."""
    seen: dict[str, TableSpec] = {}
    for chart in charts:
        for spec in chart.tables:
            seen.setdefault(spec.table, spec)
    return list(seen.values())
