"""The ``sparkplus`` adapter: dbt-spark's adapter with a ``session`` Python submission method."""

from __future__ import annotations

from typing import Any

from dbt.adapters.base import PythonJobHelper, available
from dbt.adapters.events.logging import AdapterLogger
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt.adapters.spark.impl import SparkAdapter
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus.connections import SparkplusConnectionManager
from dbt.adapters.sparkplus.landed_files import Layout, scan_landing_path
from dbt.adapters.sparkplus.python_submissions import (
    SESSION_METHOD,
    SessionPythonJobHelper,
    get_session,
)

logger = AdapterLogger("sparkplus")


def clear_orphaned_location(spark: Any, schema: str, identifier: str) -> str | None:
    """Delete the default location of a table the catalog does not know; return its path.

    A build killed while Spark wrote ``<name>__dbt_new`` leaves files in the table's
    default location without a catalog entry. ``drop table if exists`` cannot see them, and
    Spark refuses to create a managed table over a non-empty location
    (LOCATION_ALREADY_EXISTS), so the next build would fail until someone deleted the
    folder by hand. A registered table is never touched.
    """
    if not spark.catalog.databaseExists(schema):
        return None
    if spark.catalog.tableExists(f"`{schema}`.`{identifier}`"):
        return None
    location = spark.catalog.getDatabase(schema).locationUri
    context = spark.sparkContext
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path
    # Spark's default table path: the database location and the lower-cased name.
    path = hadoop_path(location.rstrip("/") + "/" + identifier.lower())
    filesystem = path.getFileSystem(context._jsc.hadoopConfiguration())
    if not filesystem.exists(path):
        return None
    filesystem.delete(path, True)
    return str(path.toString())


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

    @available
    def clear_orphaned_location(self, relation: Any) -> bool:
        """Remove files an interrupted build left where ``relation`` will be created.

        Only the ``session`` method can reach the warehouse file system from dbt's process;
        on other methods this is a no-op (a Thrift server that dies mid-write leaves the
        folder for its operator, and Spark's error names it).
        """
        credentials = self.config.credentials
        if credentials.method != SparkConnectionMethod.SESSION:
            return False
        spark = get_session(credentials.server_side_parameters)
        removed = clear_orphaned_location(spark, relation.schema, relation.identifier)
        if removed:
            logger.info(f"Removed files an interrupted build left at {removed}")
        return removed is not None

    @available
    def check_landed_files(
        self,
        location: str,
        contract: dict[str, Any],
        other_layouts: list[dict[str, Any]] | None = None,
        hint: str = "",
    ) -> list[str]:
        """Refuse, one sentence per file, landed files Spark would fail on or skip.

        ``contract`` and each of ``other_layouts`` are ``{"name": ..., "columns": [...]}``;
        ``hint`` says how to convert a file in another layout. Warnings (empty files,
        header-only files, identical files) are logged and returned. Only the ``session``
        method reaches the files from dbt's process; other methods skip the check, and
        Spark's own header check still fails a bad file there.
        """
        credentials = self.config.credentials
        if credentials.method != SparkConnectionMethod.SESSION:
            logger.info(f"Landed files in {location} not checked: needs the session method.")
            return []
        spark = get_session(credentials.server_side_parameters)
        findings = scan_landing_path(
            spark,
            location,
            _layout(contract),
            [_layout(layout) for layout in other_layouts or []],
            hint,
        )
        for warning in findings.warnings:
            logger.warning(warning)
        if findings.refusals:
            raise DbtRuntimeError("\n".join(findings.refusals))
        logger.info(f"Checked the header of {findings.files} landed file(s) in {location}.")
        return findings.warnings


def _layout(spec: dict[str, Any]) -> Layout:
    return Layout(name=str(spec["name"]), columns=tuple(str(c) for c in spec["columns"]))
