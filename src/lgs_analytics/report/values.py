"""How the report shows a mart's values: one conversion for JSON, HTML and display.

`report_data.json`, the HTML tables' `data-value` attributes and their visible text all come
from `json_value`, so the page can never show a number other than the one in the data file.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd


def json_value(value: Any) -> Any:
    """A table value as plain JSON: numbers stay numbers, nulls (None, NaN, NaT) become null.

    Decimals become floats (JSON has one number type); dates and timestamps ISO strings.
    """
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, Decimal):
        return None if value.is_nan() else float(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    return str(value)


def display_value(value: Any) -> str:
    """A table value as shown in the HTML tables: thousands separators, 2 decimals."""
    plain = json_value(value)
    if plain is None:
        return "–"
    if isinstance(plain, bool):
        return "yes" if plain else "no"
    if isinstance(plain, int):
        return f"{plain:,}"
    if isinstance(plain, float):
        return f"{plain:,.2f}"
    return plain


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready dicts, in the frame's row and column order."""
    columns = list(frame.columns)
    return [
        {column: json_value(value) for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def month_label(year_month: Any) -> str:
    """`201012` → `2010-12`."""
    number = int(year_month)
    return f"{number // 100}-{number % 100:02d}"


def partial_mask(frame: pd.DataFrame) -> np.ndarray:
    """Whether each row is a partial month (the data ends before the month does)."""
    return np.array([bool(json_value(v)) for v in frame["is_partial_month"]], bool)
