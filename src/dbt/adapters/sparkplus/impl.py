"""The ``sparkplus`` adapter: dbt-spark's adapter with a ``session`` Python submission method."""

from __future__ import annotations

from typing import Any

from dbt.adapters.base import PythonJobHelper
from dbt.adapters.spark.impl import SparkAdapter

from dbt.adapters.sparkplus.connections import SparkplusConnectionManager
from dbt.adapters.sparkplus.python_submissions import SESSION_METHOD, SessionPythonJobHelper


class SparkplusAdapter(SparkAdapter):
    ConnectionManager = SparkplusConnectionManager  # type: ignore[assignment]

    @property
    def default_python_submission_method(self) -> str:
        return SESSION_METHOD

    @property
    def python_submission_helpers(self) -> dict[str, type[PythonJobHelper]]:
        helpers: dict[str, Any] = dict(super().python_submission_helpers)
        helpers[SESSION_METHOD] = SessionPythonJobHelper
        return helpers
