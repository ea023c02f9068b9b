"""Invoice amounts, their outlier threshold, distribution and histogram with numpy (DEFINITIONS §5).

Percentiles are exact with linear interpolation (``np.quantile(..., method="linear")``), the
definition Spark's ``percentile`` implements. Amounts are compared as doubles, as Spark
compares a decimal with a double; sums stay exact.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from lgs_analytics.reference.money import milli_series_to_decimal, milli_to_float

POPULATIONS: tuple[str, ...] = ("all_invoices", "at_or_below_threshold")

INVOICE_AMOUNT_COLUMNS: tuple[str, ...] = (
    "invoice_id",
    "customer_id",
    "country",
    "invoice_amount",
    "line_count",
    "is_outlier",
    "outlier_threshold",
    "invoice_date",
    "invoiced_at",
)
DISTRIBUTION_COLUMNS: tuple[str, ...] = (
    "population",
    "invoice_count",
    "min_amount",
    "max_amount",
    "mean_amount",
    "median_amount",
    "mode_amount",
    "p85_amount",
    "percentile",
)
HISTOGRAM_COLUMNS: tuple[str, ...] = (
    "bin_index",
    "bin_lower",
    "bin_upper",
    "invoice_count",
    "share_pct",
)


def exact_percentile(values: np.ndarray, percentile: float) -> float | None:
    """Exact percentile with linear interpolation; None for no values (Spark: null)."""
    if len(values) == 0:
        return None
    return float(np.quantile(values, percentile, method="linear"))


def _sorted_codes(values: pd.Series) -> np.ndarray:
    """Rank of each distinct non-null value in sorted order; nulls get +inf (min skips them)."""
    codes, _ = pd.factorize(values, sort=True, use_na_sentinel=True)
    return np.where(codes < 0, np.inf, codes)


def _decode(codes: pd.Series, values: pd.Series) -> list[str | None]:
    """Inverse of :func:`_sorted_codes` (inf → None)."""
    _, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    labels = [str(value) for value in uniques]
    return [None if np.isinf(code) else labels[int(code)] for code in codes]


def invoice_amounts(transactions: pd.DataFrame, percentile: float = 0.85) -> pd.DataFrame:
    """One row per invoice with a sales line; outliers lie strictly above the percentile."""
    lines = transactions.loc[transactions["is_sales_line"]]
    # min() of a string per invoice via sorted integer codes: pandas' own string min per group
    # is a Python loop. The attributes are constant per invoice; min makes any tie-break exact.
    lines = lines.assign(
        customer_code=_sorted_codes(lines["customer_id"]),
        country_code=_sorted_codes(lines["country"]),
    )
    invoices = lines.groupby("invoice_id", sort=True).agg(
        customer_code=("customer_code", "min"),
        country_code=("country_code", "min"),
        amount_milli=("line_amount_milli", "sum"),
        line_count=("invoice_id", "size"),
        invoice_date=("invoice_date", "min"),
        invoiced_at=("invoiced_at", "min"),
    )
    invoices["customer_id"] = _decode(invoices["customer_code"], lines["customer_id"])
    invoices["country"] = _decode(invoices["country_code"], lines["country"])
    amounts = milli_to_float(invoices["amount_milli"])
    threshold = exact_percentile(amounts.to_numpy(), percentile)
    frame = pd.DataFrame(
        {
            "invoice_id": invoices.index.astype(str),
            "customer_id": invoices["customer_id"].to_numpy(dtype=object),
            "country": invoices["country"].to_numpy(dtype=object),
            "invoice_amount": milli_series_to_decimal(invoices["amount_milli"]).to_numpy(),
            "line_count": invoices["line_count"].astype("int64").to_numpy(),
            "is_outlier": (amounts > threshold).to_numpy() if threshold is not None else False,
            "outlier_threshold": threshold,
            "invoice_date": invoices["invoice_date"].dt.date.to_numpy(),
            "invoiced_at": invoices["invoiced_at"].to_numpy(),
        },
        columns=list(INVOICE_AMOUNT_COLUMNS),
    )
    frame["outlier_threshold"] = frame["outlier_threshold"].astype("float64")
    return frame


def _mode(amounts: pd.Series) -> float | None:
    """Most frequent exact amount, the smallest on ties."""
    if amounts.empty:
        return None
    counts = amounts.value_counts()
    return float(min(counts.index[counts == counts.max()]))


def _population_row(name: str, amounts: pd.Series, percentile: float) -> dict[str, object]:
    values = np.array([float(amount) for amount in amounts], dtype="float64")
    count = len(values)
    total = sum(amounts, start=Decimal(0))
    return {
        "population": name,
        "invoice_count": count,
        "min_amount": float(values.min()) if count else None,
        "max_amount": float(values.max()) if count else None,
        # Exact sum, rounded once to a double, then divided: what the Spark model computes.
        "mean_amount": float(total) / count if count else None,
        "median_amount": exact_percentile(values, 0.5),
        "mode_amount": _mode(amounts),
        "p85_amount": exact_percentile(values, percentile),
        "percentile": percentile,
    }


def invoice_amount_distribution(amounts: pd.DataFrame, percentile: float = 0.85) -> pd.DataFrame:
    """Count, min, max, mean, median, mode and percentile for all invoices and non-outliers."""
    everything = amounts["invoice_amount"]
    kept = amounts.loc[~amounts["is_outlier"].astype(bool), "invoice_amount"]
    rows = [
        _population_row(POPULATIONS[0], everything, percentile),
        _population_row(POPULATIONS[1], kept, percentile),
    ]
    frame = pd.DataFrame(rows, columns=list(DISTRIBUTION_COLUMNS))
    return frame.astype({column: "float64" for column in DISTRIBUTION_COLUMNS[2:]}).astype(
        {"invoice_count": "int64"}
    )


def invoice_amount_histogram(amounts: pd.DataFrame, bins: int = 40) -> pd.DataFrame:
    """Equal-width bins of the non-outlier amounts over [min, threshold], empty bins included.

    Bins are numbered 1..bins, ``[lower, upper)`` except the last, ``[lower, upper]``; edges
    are ``np.linspace(min, threshold, bins + 1)``. When every non-outlier amount is the same
    (zero width), all of them fall in bin 1. No invoices, no bins.
    """
    kept = amounts.loc[~amounts["is_outlier"].astype(bool), "invoice_amount"]
    if kept.empty:
        return pd.DataFrame({column: [] for column in HISTOGRAM_COLUMNS}).astype(
            {"bin_index": "int32", "invoice_count": "int64"}
        )
    values = np.array([float(amount) for amount in kept], dtype="float64")
    lower = float(values.min())
    upper = float(amounts["outlier_threshold"].iloc[0])
    if upper > lower:
        counts, edges = np.histogram(values, bins=bins, range=(lower, upper))
    else:
        edges = np.full(bins + 1, lower)
        counts = np.zeros(bins, dtype="int64")
        counts[0] = len(values)
    return pd.DataFrame(
        {
            "bin_index": np.arange(1, bins + 1, dtype="int32"),
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "invoice_count": counts.astype("int64"),
            "share_pct": counts / len(values) * 100,
        }
    )
