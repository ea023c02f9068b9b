"""Monthly marts with pandas (DEFINITIONS §3) on a continuous month spine.

The spine runs from the first to the last month of ``invoiced_at`` over all staged
transactions (every readable, deduplicated row, not only sales lines), so months without
sales still appear with zeros. The last month is partial when the data stops before its
last day.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from lgs_analytics.reference.money import milli_series_to_decimal


def month_spine(transactions: pd.DataFrame) -> pd.DataFrame:
    """``year_month``, ``month_start`` (datetime.date) and ``is_partial_month`` per month."""
    if transactions.empty:
        return pd.DataFrame(
            {
                "year_month": pd.Series(dtype="int32"),
                "month_start": pd.Series(dtype=object),
                "is_partial_month": pd.Series(dtype=bool),
            }
        )
    first = transactions["invoiced_at"].min().to_period("M")
    last = transactions["invoiced_at"].max().to_period("M")
    months = pd.period_range(first, last, freq="M")
    last_date = transactions["invoice_date"].max()
    is_partial = last_date < last.to_timestamp(how="end").normalize()
    spine = pd.DataFrame(
        {
            "year_month": (months.year * 100 + months.month).astype("int32"),
            "month_start": [month.start_time.date() for month in months],
            "is_partial_month": np.arange(len(months)) == len(months) - 1,
        }
    )
    spine["is_partial_month"] &= bool(is_partial)
    return spine


def _per_month(spine: pd.DataFrame, values: pd.Series, fill: object = 0) -> pd.Series:
    """Align a Series indexed by year_month on the spine, filling empty months."""
    aligned = values.reindex(spine["year_month"].to_numpy())
    return aligned.fillna(fill).reset_index(drop=True)


def _pct(part: pd.Series, whole: pd.Series) -> pd.Series:
    """part / whole * 100 as doubles; null where whole is 0, as in the SQL marts."""
    return (part / whole * 100).where(whole > 0).astype("float64")


def _sales_lines(transactions: pd.DataFrame) -> pd.DataFrame:
    return transactions.loc[transactions["is_sales_line"]]


def growth_pct(current: Decimal | None, previous: Decimal | None) -> float | None:
    """``(current - previous) / previous * 100`` on doubles, as the ``growth_pct`` macro does.

    Null when there is no previous month or it is zero (growth from nothing is undefined).
    """
    if previous is None or current is None or previous == 0:
        return None
    return (float(current) - float(previous)) / float(previous) * 100


def monthly_sales(transactions: pd.DataFrame) -> pd.DataFrame:
    """Sales amount (exact Decimal), previous month, growth % and sales lines per month."""
    spine = month_spine(transactions)
    lines = _sales_lines(transactions)
    by_month = lines.groupby("year_month")
    amount_milli = _per_month(spine, by_month["line_amount_milli"].sum()).astype("int64")
    sales_amount = milli_series_to_decimal(amount_milli)
    previous = [None, *sales_amount.iloc[:-1]]
    frame = spine[["year_month", "month_start"]].copy()
    frame["sales_amount"] = sales_amount.to_numpy()
    frame["previous_sales_amount"] = pd.Series(previous[: len(frame)], dtype=object).to_numpy()
    pairs = zip(frame["sales_amount"], frame["previous_sales_amount"], strict=True)
    growth = [growth_pct(current, prior) for current, prior in pairs]
    frame["sales_growth_pct"] = pd.Series(growth, dtype="float64").to_numpy()
    frame["sales_lines"] = _per_month(spine, by_month.size()).astype("int64").to_numpy()
    frame["is_partial_month"] = spine["is_partial_month"].to_numpy()
    return frame


def monthly_orders(transactions: pd.DataFrame) -> pd.DataFrame:
    """Placed orders (distinct invoices neither C nor A), cancelled (distinct C) per month.

    ``cancellation_rate_pct`` = cancelled / placed * 100, null without placed orders.
    """
    spine = month_spine(transactions)
    placed = transactions.loc[~transactions["is_cancellation"] & ~transactions["is_adjustment"]]
    cancelled = transactions.loc[transactions["is_cancellation"]]
    frame = spine[["year_month", "month_start"]].copy()
    frame["placed_orders"] = _per_month(
        spine, placed.groupby("year_month")["invoice_id"].nunique()
    ).astype("int64")
    frame["cancelled_orders"] = _per_month(
        spine, cancelled.groupby("year_month")["invoice_id"].nunique()
    ).astype("int64")
    frame["cancellation_rate_pct"] = _pct(frame["cancelled_orders"], frame["placed_orders"])
    frame["is_partial_month"] = spine["is_partial_month"].to_numpy()
    return frame


def _customer_sales_lines(transactions: pd.DataFrame) -> pd.DataFrame:
    lines = _sales_lines(transactions)
    return lines.loc[lines["customer_id"].notna()]


def monthly_active_users(transactions: pd.DataFrame) -> pd.DataFrame:
    """Distinct customers with a sales line per month."""
    spine = month_spine(transactions)
    lines = _customer_sales_lines(transactions)
    frame = spine[["year_month", "month_start"]].copy()
    frame["active_users"] = _per_month(
        spine, lines.groupby("year_month")["customer_id"].nunique()
    ).astype("int64")
    frame["is_partial_month"] = spine["is_partial_month"].to_numpy()
    return frame


def monthly_new_existing_users(transactions: pd.DataFrame) -> pd.DataFrame:
    """New (first sales-line month) and existing customers per month; new + existing = MAU.

    The first month of data is left-censored: every customer in it counts as new.
    ``new_user_share_pct`` = new / active * 100, null without active users.
    """
    spine = month_spine(transactions)
    lines = _customer_sales_lines(transactions)
    active = lines[["customer_id", "year_month"]].drop_duplicates()
    first_month = active.groupby("customer_id")["year_month"].transform("min")
    is_new = active["year_month"] == first_month
    frame = spine[["year_month", "month_start"]].copy()
    frame["new_users"] = _per_month(spine, active.loc[is_new].groupby("year_month").size()).astype(
        "int64"
    )
    frame["existing_users"] = _per_month(
        spine, active.loc[~is_new].groupby("year_month").size()
    ).astype("int64")
    frame["active_users"] = frame["new_users"] + frame["existing_users"]
    frame["new_user_share_pct"] = _pct(frame["new_users"], frame["active_users"])
    frame["is_partial_month"] = spine["is_partial_month"].to_numpy()
    return frame
