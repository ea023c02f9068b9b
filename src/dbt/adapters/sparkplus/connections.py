"""Credentials and connection manager: dbt-spark's, registered under the ``sparkplus`` type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbt.adapters.spark.connections import SparkConnectionManager, SparkCredentials
from dbt.adapters.spark.session import SessionConnectionWrapper


@dataclass
class SparkplusCredentials(SparkCredentials):
    """dbt-spark credentials; ``host`` defaults so that the session method needs none."""

    host: str | None = "localhost"

    @property
    def type(self) -> str:
        return "sparkplus"


def sql_literal(value: Any) -> Any:
    """A binding rendered as a Spark SQL literal.

    dbt-spark's session wrapper renders every non-number as ``'value'`` without escaping,
    so a seed value such as ``Can't Lose`` breaks the insert and a null becomes ``'None'``.
    """
    if value is None:
        return "null"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    return SessionConnectionWrapper._fix_binding(value)


class QuotingSessionConnectionWrapper(SessionConnectionWrapper):
    """dbt-spark's session connection with bindings escaped as proper SQL literals."""

    @classmethod
    def _fix_binding(cls, value: Any) -> Any:
        return sql_literal(value)


class SparkplusConnectionManager(SparkConnectionManager):
    TYPE = "sparkplus"

    @classmethod
    def open(cls, connection: Any) -> Any:
        connection = super().open(connection)
        handle = connection.handle
        if type(handle) is SessionConnectionWrapper:
            # Same object and state, only the binding rendering changes.
            handle.__class__ = QuotingSessionConnectionWrapper
        return connection
