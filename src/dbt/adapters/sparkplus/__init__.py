"""dbt adapter plugin ``sparkplus``: dbt-spark plus Python models on the ``session`` method.

Stock dbt-spark submits Python models only to Databricks clusters. This plugin subclasses
dbt-spark's adapter, credentials and connection manager and adds a ``session`` submission
method that runs the compiled Python model inside the same SparkSession the SQL models use
(local ``local[*]`` or a standalone cluster through ``spark.master``). Every other method
(thrift, http, odbc) connects as dbt-spark does and refuses Python models in one sentence.
On every method the plugin's own table, incremental and test materializations
(``dbt/include/sparkplus/macros``) replace dbt-spark's and dbt-core's (docs/ARCHITECTURE.md).
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
