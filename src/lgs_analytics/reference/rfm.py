"""RFM scores and segments with pandas, in the style of the public LGS analysis (DEFINITIONS §4).

The public analysis scores with ``pd.qcut(..., 5, labels=...)``, which raises as soon as two
quintile edges coincide (many customers share a recency or a monetary value on small data).
The project uses the formula behind qcut instead, ``bin = 1 + #{k : value > e_k}`` with qcut's
own edges: identical to ``pd.qcut`` whenever qcut works (tested), and defined when it does not.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from lgs_analytics.reference.cleansing import PROJECT_ROOT
from lgs_analytics.reference.money import milli_series_to_decimal, milli_to_float

SEGMENT_MAP_SEED = PROJECT_ROOT / "seeds" / "rfm_segment_map.csv"
SEGMENTS_SEED = PROJECT_ROOT / "seeds" / "rfm_segments.csv"

QUINTILES = np.linspace(0, 1, 6)
"""The probabilities ``pd.qcut(x, 5)`` asks ``Series.quantile`` for."""

RFM_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "segment",
    "rfm_score",
    "recency_days",
    "frequency",
    "monetary",
    "frequency_rank",
    "r_score",
    "f_score",
    "m_score",
    "last_purchase_date",
    "reference_date",
)
"""Columns of :func:`rfm_scores`, as in the ``customer_rfm_scores`` model."""

SEGMENT_SUMMARY_COLUMNS: tuple[str, ...] = (
    "segment",
    "segment_rank",
    "description",
    "customers",
    "customer_share_pct",
    "revenue",
    "revenue_share_pct",
    "avg_recency_days",
    "avg_frequency",
    "avg_monetary",
)
"""Columns of :func:`segment_summary`, as in the ``rfm_segment_summary`` model."""


def quintile_edges(values: pd.Series) -> np.ndarray:
    """Inner quintile edges e1..e4, computed exactly as ``pd.qcut(values, 5)`` computes them."""
    return values.astype("float64").quantile(QUINTILES).to_numpy()[1:5]


def quintile_bins(values: pd.Series) -> pd.Series:
    """1–5 per value: ``1 + #{k : value > e_k}`` (right-inclusive bins, minimum in bin 1)."""
    edges = quintile_edges(values)
    # searchsorted(side="left") counts the edges strictly below each value.
    counts = np.searchsorted(edges, values.astype("float64").to_numpy(), side="left")
    return pd.Series(1 + counts, index=values.index, dtype="int32")


def load_segment_map(path: str = str(SEGMENT_MAP_SEED)) -> pd.DataFrame:
    """The ``rfm_segment_map`` seed: one segment per (r_score, f_score)."""
    return pd.read_csv(path, dtype={"r_score": "int32", "f_score": "int32", "segment": str})


def load_segments(path: str = str(SEGMENTS_SEED)) -> pd.DataFrame:
    """The ``rfm_segments`` seed: segment, segment_rank, description, recommended_action."""
    return pd.read_csv(path, dtype={"segment_rank": "int32"}, keep_default_na=False)


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def rfm_scores(
    transactions: pd.DataFrame,
    reference_date: dt.date | str | None = None,
    segment_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with a sales line: recency, frequency, monetary, scores, segment.

    ``transactions`` are :attr:`Cleansed.transactions`. ``reference_date`` None (or "") means
    the day after the last purchase date of the scored customers, so the latest buyers get
    recency 1.
    """
    lines = transactions.loc[transactions["is_sales_line"] & transactions["customer_id"].notna()]
    # groupby sorts by customer_id as a string: the order rank(method="first") breaks ties by.
    customers = lines.groupby("customer_id", sort=True).agg(
        last_purchase_date=("invoice_date", "max"),
        frequency=("invoice_id", "nunique"),
        monetary_milli=("line_amount_milli", "sum"),
    )
    last_date = customers["last_purchase_date"].max()
    if reference_date in (None, ""):
        reference = (last_date + pd.Timedelta(days=1)) if len(customers) else pd.NaT
    else:
        reference = pd.Timestamp(_as_date(reference_date))

    recency = (reference - customers["last_purchase_date"]).dt.days
    frequency_rank = customers["frequency"].rank(method="first").astype("int64")
    r_score = (6 - quintile_bins(recency)).astype("int32")
    f_score = quintile_bins(frequency_rank)
    m_score = quintile_bins(milli_to_float(customers["monetary_milli"]))

    scores = pd.DataFrame(
        {
            "customer_id": customers.index.astype(str),
            "rfm_score": (
                r_score.astype(str) + f_score.astype(str) + m_score.astype(str)
            ).to_numpy(),
            "recency_days": recency.astype("int32").to_numpy(),
            "frequency": customers["frequency"].astype("int64").to_numpy(),
            "monetary": milli_series_to_decimal(customers["monetary_milli"]).to_numpy(),
            "frequency_rank": frequency_rank.to_numpy(),
            "r_score": r_score.to_numpy(),
            "f_score": f_score.to_numpy(),
            "m_score": m_score.to_numpy(),
            "last_purchase_date": customers["last_purchase_date"].dt.date.to_numpy(),
            "reference_date": reference.date() if len(customers) else None,
        }
    )
    segments = segment_map if segment_map is not None else load_segment_map()
    scored = scores.merge(
        segments[["r_score", "f_score", "segment"]].astype(
            {"r_score": "int32", "f_score": "int32"}
        ),
        on=["r_score", "f_score"],
        how="left",
        validate="many_to_one",
    )
    return scored[list(RFM_COLUMNS)].sort_values("customer_id", ignore_index=True)


def segment_summary(scores: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """One row per segment of the ``rfm_segments`` seed, as in ``rfm_segment_summary``.

    Counts, revenue and shares are 0 for a segment without customers; its averages are null
    (an average over nobody is undefined). Shares are null when there are no customers.
    """
    zero = Decimal("0.000")
    total_customers = len(scores)
    total_revenue = sum(scores["monetary"], start=zero)
    rows = []
    for segment in segments.itertuples(index=False):
        members = scores.loc[scores["segment"] == segment.segment]
        count = len(members)
        revenue = sum(members["monetary"], start=zero)
        rows.append(
            {
                "segment": segment.segment,
                "segment_rank": segment.segment_rank,
                "description": segment.description,
                "customers": count,
                "customer_share_pct": count / total_customers * 100 if total_customers else None,
                "revenue": revenue,
                "revenue_share_pct": (
                    float(revenue) / float(total_revenue) * 100 if total_revenue else None
                ),
                "avg_recency_days": members["recency_days"].mean() if count else None,
                "avg_frequency": members["frequency"].mean() if count else None,
                "avg_monetary": float(revenue) / count if count else None,
            }
        )
    summary = pd.DataFrame(rows, columns=list(SEGMENT_SUMMARY_COLUMNS))
    summary = summary.astype(
        {
            "segment_rank": "int32",
            "customers": "int64",
            "customer_share_pct": "float64",
            "revenue_share_pct": "float64",
            "avg_recency_days": "float64",
            "avg_frequency": "float64",
            "avg_monetary": "float64",
        }
    )
    return summary.sort_values("segment_rank", ignore_index=True)
