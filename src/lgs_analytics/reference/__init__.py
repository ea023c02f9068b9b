"""Pandas reference implementation of the LGS pipeline, independent of Spark and dbt.

It re-implements DEFINITIONS §2–§5 with pandas and numpy the way the public London Gift Shop
analysis does, so that parity tests can compare the dbt/Spark tables against a second,
independent computation and the benchmark can time pandas on the same raw files.

Money is exact everywhere: integer thousandths of a pound (``*_milli`` columns) inside the
pipeline and :class:`decimal.Decimal` in the published frames, never floats.
"""

from lgs_analytics.reference.cleansing import Cleansed, cleanse, load_raw_lines
from lgs_analytics.reference.pipeline import run_reference

__all__ = ["Cleansed", "cleanse", "load_raw_lines", "run_reference"]
