"""Credentials and connection manager: dbt-spark's, registered under the ``sparkplus`` type."""

from dataclasses import dataclass

from dbt.adapters.spark.connections import SparkConnectionManager, SparkCredentials


@dataclass
class SparkplusCredentials(SparkCredentials):
    """dbt-spark credentials; ``host`` defaults so that the session method needs none."""

    host: str | None = "localhost"

    @property
    def type(self) -> str:
        return "sparkplus"


class SparkplusConnectionManager(SparkConnectionManager):
    TYPE = "sparkplus"
