"""`campaign_ab_outcomes` recomputed with pandas from landed files, without Spark or dbt.

For generated data without malformed lines (every line readable): the sales lines are the
order lines (invoice without a letter) of a known customer whose stock code is not a
service code and whose quantity and price are positive, exact duplicate rows counted once
(DEFINITIONS §2). A customer's window is the ``window_days`` days from the date of
``assigned_at``; the pre-period the same number of days before it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lgs_analytics.landing.raw_layout import RAW_COLUMNS, is_service_code


def load_sales_lines(raw_dir: str | Path) -> pd.DataFrame:
    """customer_id (text), invoice_date (datetime64[D]) and line_amount of every sales line."""
    files = sorted(Path(raw_dir).glob("part-*.csv"))
    types = dict.fromkeys(RAW_COLUMNS, "string")
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    frames = []
    for path in files:
        table = pacsv.read_csv(path, convert_options=convert)
        # Only lines of known customers can be theirs: filter before pandas (cheaper).
        frames.append(table.filter(pc.is_valid(table["Customer ID"])).to_pandas())
    raw = pd.concat(frames, ignore_index=True).drop_duplicates()
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    price = pd.to_numeric(raw["Price"], errors="coerce")
    codes = raw["StockCode"].fillna("")
    service = np.array([is_service_code(code) for code in codes.unique()])
    is_service = codes.map(dict(zip(codes.unique(), service, strict=True)))
    sales = (
        raw["Invoice"].str.fullmatch(r"\d+").fillna(False)
        & raw["Customer ID"].notna()
        & ~is_service.astype(bool)
        & (quantity > 0)
        & (price > 0)
    )
    lines = raw[sales]
    return pd.DataFrame(
        {
            "customer_id": lines["Customer ID"].str.extract(r"^(\d+)", expand=False),
            "invoice_date": pd.to_datetime(lines["InvoiceDate"].str.slice(0, 10)),
            "line_amount": quantity[sales] * price[sales],
        }
    )


def campaign_outcomes(
    sales_lines: pd.DataFrame, assignments: pd.DataFrame, window_days: int
) -> pd.DataFrame:
    """One row per campaign and customer: converted, revenue, pre_period_revenue."""
    assigned = assignments.assign(
        customer_id=assignments["customer_id"].astype(str),
        send_date=pd.to_datetime(assignments["assigned_at"].astype(str).str.slice(0, 10)),
    )
    joined = assigned.merge(sales_lines, on="customer_id", how="left")
    days = (joined["invoice_date"] - joined["send_date"]).dt.days
    in_window = (days >= 0) & (days < window_days)
    in_pre = (days < 0) & (days >= -window_days)
    joined["revenue"] = joined["line_amount"].where(in_window, 0.0)
    joined["pre_period_revenue"] = joined["line_amount"].where(in_pre, 0.0)
    joined["converted"] = in_window
    keys = ["campaign_id", "customer_id", "variant"]
    return (
        joined.groupby(keys, as_index=False)
        .agg(
            converted=("converted", "any"),
            revenue=("revenue", "sum"),
            pre_period_revenue=("pre_period_revenue", "sum"),
        )
        .sort_values(keys, ignore_index=True)
    )
