"""dbt adapter plugin ``sparkplus``: dbt-spark plus Python models on the ``session`` method.

Stock dbt-spark submits Python models only to Databricks clusters. This plugin subclasses
dbt-spark's adapter, credentials and connection manager and adds a ``session`` submission
method that runs the compiled Python model inside the same SparkSession the SQL models use
(local ``local[*]`` or a standalone cluster through ``spark.master``). Every other method
(thrift, http, odbc) behaves exactly like dbt-spark.
"""

from dbt.adapters.base import AdapterPlugin

from dbt.adapters.sparkplus.connections import (
    SparkplusConnectionManager,
    SparkplusCredentials,
)
from dbt.adapters.sparkplus.impl import SparkplusAdapter
from dbt.include import sparkplus

Plugin = AdapterPlugin(
    adapter=SparkplusAdapter,  # type: ignore[arg-type]
    credentials=SparkplusCredentials,
    include_path=sparkplus.PACKAGE_PATH,
    dependencies=["spark"],
)

__all__ = ["Plugin", "SparkplusAdapter", "SparkplusConnectionManager", "SparkplusCredentials"]
