"""The whole reference pipeline, raw files to published tables, in one call."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from lgs_analytics.reference import marts, outliers, rfm
from lgs_analytics.reference.cleansing import cleanse, load_raw_lines

STAGING_TABLES = ("stg_transactions", "stg_quarantine")
"""Keys of ``run_reference``'s result that hold staged rows rather than a published table."""


def run_reference(
    raw_dir: str | Path,
    deduplicate: bool = True,
    rfm_reference_date: dt.date | str | None = None,
    outlier_percentile: float = 0.85,
    histogram_bins: int = 40,
) -> dict[str, pd.DataFrame]:
    """Read ``raw_dir`` and compute every table the project publishes, named like the models.

    The keyword arguments mirror the dbt project variables ``deduplicate_exact_rows``,
    ``rfm_reference_date``, ``outlier_percentile`` and ``histogram_bins``. Besides the marts,
    ``stg_transactions`` and ``stg_quarantine`` hold the cleansed and quarantined rows.
    """
    cleansed = cleanse(load_raw_lines(raw_dir), deduplicate=deduplicate)
    transactions = cleansed.transactions
    scores = rfm.rfm_scores(transactions, reference_date=rfm_reference_date)
    amounts = outliers.invoice_amounts(transactions, percentile=outlier_percentile)
    return {
        "stg_transactions": transactions,
        "stg_quarantine": cleansed.quarantine,
        "monthly_sales": marts.monthly_sales(transactions),
        "monthly_orders": marts.monthly_orders(transactions),
        "monthly_active_users": marts.monthly_active_users(transactions),
        "monthly_new_existing_users": marts.monthly_new_existing_users(transactions),
        "customer_rfm_scores": scores,
        "rfm_segment_summary": rfm.segment_summary(scores, rfm.load_segments()),
        "invoice_amounts": amounts,
        "invoice_amount_distribution": outliers.invoice_amount_distribution(
            amounts, percentile=outlier_percentile
        ),
        "invoice_amount_histogram": outliers.invoice_amount_histogram(amounts, bins=histogram_bins),
    }
