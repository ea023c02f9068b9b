"""The report's RFM flow chart: customers moving between states from the previous month end
to the last one, from `rfm_segment_transitions` (frames in, drawing out: no Spark here)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lgs_analytics.report.tables import TableSpec
from lgs_analytics.report.values import json_value, month_label

# The last month only: the table has a row per month and pair of states.
RFM_SEGMENT_TRANSITIONS = TableSpec(
    "rfm_segment_transitions",
    (
        "year_month",
        "month_end",
        "from_segment",
        "to_segment",
        "from_segment_rank",
        "to_segment_rank",
        "customers",
    ),
    ("from_segment_rank", "to_segment_rank"),
    latest="year_month",
)


def state_order(transitions: pd.DataFrame) -> list[str]:
    """The month's states in rank order: not yet a customer, the segments best first, lapsed."""
    ranks = {
        str(state): int(json_value(rank))
        for side in ("from", "to")
        for state, rank in zip(
            transitions[f"{side}_segment"], transitions[f"{side}_segment_rank"], strict=True
        )
    }
    return sorted(ranks, key=lambda state: (ranks[state], state))


def transition_matrix(transitions: pd.DataFrame, states: list[str]) -> pd.DataFrame:
    """Customers per (from state, to state) of one month: rows from, columns to, 0 if none."""
    counts = pd.DataFrame(
        {
            "from_segment": transitions["from_segment"].astype(str),
            "to_segment": transitions["to_segment"].astype(str),
            "customers": [int(json_value(value)) for value in transitions["customers"]],
        }
    )
    matrix = counts.pivot_table(
        index="from_segment", columns="to_segment", values="customers", aggfunc="sum"
    )
    return matrix.reindex(index=states, columns=states).fillna(0).astype(int)


def draw_segment_transitions(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Heatmap of the last month's moves: colour the share of the row, text the customers."""
    transitions = frames["rfm_segment_transitions"]
    if transitions.empty:
        raise ValueError("rfm_segment_transitions has no rows: there is no month to show.")
    states = state_order(transitions)
    matrix = transition_matrix(transitions, states)
    counts = matrix.to_numpy()
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)

    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for row, column in zip(*np.nonzero(counts), strict=True):
        ax.annotate(
            f"{counts[row, column]:,}",
            (column, row),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if shares[row, column] > 0.6 else "#1d3557",
        )
    positions = np.arange(len(states))
    ax.set_xticks(positions)
    ax.set_xticklabels(states, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(positions)
    ax.set_yticklabels(
        [f"{state} ({total:,})" for state, total in zip(states, totals[:, 0], strict=True)],
        fontsize=8,
    )
    month = month_label(transitions["year_month"].iloc[0])
    previous = pd.Period(month, "M") - 1
    ax.set_ylabel(f"State at the end of {previous} (customers)")
    ax.set_xlabel(f"State at the end of {month}")
    moved = int(counts.sum() - np.trace(counts))
    ax.set_title(
        f"Customers moving between RFM segments into {month}: {moved:,} of "
        f"{int(counts.sum()):,} changed state"
    )
    colorbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    colorbar.set_label("Share of the row's customers", fontsize=8)
