"""Exact money helpers: amounts are held as integer thousandths of a pound ("milli")."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

SCALE = 3
"""Decimal places of every money column (Spark ``decimal(_, 3)``)."""


def milli_to_decimal(milli: int) -> Decimal:
    """An exact amount with three decimals, e.g. ``6950`` → ``Decimal('6.950')``."""
    return Decimal(int(milli)).scaleb(-SCALE)


def milli_series_to_decimal(milli: pd.Series) -> pd.Series:
    """Element-wise :func:`milli_to_decimal` (object dtype, as Spark's decimals in pandas)."""
    return pd.Series([milli_to_decimal(value) for value in milli], index=milli.index, dtype=object)


def milli_to_float(milli: pd.Series) -> pd.Series:
    """The double nearest to each exact amount, which is what Spark compares with a double.

    Dividing an exactly representable integer by 1000 is correctly rounded in IEEE 754, so
    this equals ``float(Decimal)``; larger values (> 2**53 thousandths) go through Decimal.
    """
    if len(milli) == 0 or milli.abs().max() < 2**53:
        return milli.astype("float64") / 1000.0
    exact = [float(milli_to_decimal(value)) for value in milli]
    return pd.Series(exact, index=milli.index, dtype="float64")
