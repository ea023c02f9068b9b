"""The report's campaign A/B chart: each campaign's uplift with its 95% interval, per
metric, from `campaign_ab_results` (frames in, drawing out: no Spark here)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lgs_analytics.report.tables import TableSpec

UPLIFT_COLOR = "#1f6f8b"
CUPED_COLOR = "#e07a1f"
METRIC_AXES = (
    ("conversion", "Conversion uplift (percentage points)", 100.0),
    ("revenue", "Revenue uplift per assigned customer (GBP)", 1.0),
)

CAMPAIGN_AB_RESULTS = TableSpec(
    "campaign_ab_results",
    (
        "campaign_id",
        "metric",
        "n_treatment",
        "n_control",
        "treatment_mean",
        "control_mean",
        "absolute_uplift",
        "relative_uplift",
        "ci_lower",
        "ci_upper",
        "p_value",
        "cuped_uplift",
        "cuped_ci_lower",
        "cuped_ci_upper",
        "srm_p_value",
        "has_sample_ratio_mismatch",
    ),
    ("campaign_id", "metric"),
)


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").astype(float).to_numpy()


def _p_text(value) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "p –" if pd.isna(number) else f"p={float(number):.3g}"


def draw_campaign_uplift(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Per metric, each campaign's uplift (dot) with its 95% interval, and CUPED's."""
    frame = frames["campaign_ab_results"]
    campaigns = sorted(frame["campaign_id"].unique())
    positions = np.arange(len(campaigns))
    for index, (metric, label, scale) in enumerate(METRIC_AXES, start=1):
        ax = fig.add_subplot(1, 2, index)
        rows = frame[frame["metric"] == metric].set_index("campaign_id").reindex(campaigns)
        for offset, (point, low, high, color, name) in enumerate(
            (
                ("absolute_uplift", "ci_lower", "ci_upper", UPLIFT_COLOR, "difference in means"),
                ("cuped_uplift", "cuped_ci_lower", "cuped_ci_upper", CUPED_COLOR, "CUPED"),
            )
        ):
            value = _floats(rows[point]) * scale
            lower = _floats(rows[low]) * scale
            upper = _floats(rows[high]) * scale
            ax.errorbar(
                value,
                positions + 0.18 * offset,
                xerr=[value - lower, upper - value],
                fmt="o",
                color=color,
                capsize=4,
                label=f"{name}, 95% interval",
            )
        for position, (_, row) in zip(positions, rows.iterrows(), strict=True):
            flag = " SRM!" if row["has_sample_ratio_mismatch"] else ""
            ax.annotate(
                f"{_p_text(row['p_value'])}{flag}",
                (float(row["ci_upper"]) * scale, position),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.set_yticks(positions)
        ax.set_yticklabels(campaigns if index == 1 else [], fontsize=7)
        ax.invert_yaxis()
        ax.margins(x=0.3, y=0.2)
        ax.set_xlabel(label)
        if index == 2:
            ax.legend(fontsize=7, loc="lower right")
