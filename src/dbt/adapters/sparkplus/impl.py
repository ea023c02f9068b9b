"""The ``sparkplus`` adapter: dbt-spark's adapter with a ``session`` Python submission method."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from dbt.adapters.base import BaseRelation, PythonJobHelper, available
from dbt.adapters.events.logging import AdapterLogger
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt.adapters.spark.impl import SparkAdapter
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus.catalog_stats import (
    FileCount,
    catalog_stats,
    count_parquet_table,
    statistics_line,
    with_stats,
)
from dbt.adapters.sparkplus.connections import SparkplusConnectionManager
from dbt.adapters.sparkplus.landed_files import Layout, scan_landing_path
from dbt.adapters.sparkplus.python_submissions import (
    SESSION_METHOD,
    SessionPythonJobHelper,
    get_session,
)
from dbt.adapters.sparkplus.table_versions import (
    VERSION_MARK,
    collect_versions,
    collect_write_leftovers,
    make_directory,
)
from dbt.adapters.sparkplus.writer_lock import INVOCATION

logger = AdapterLogger("sparkplus")


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

    def cleanup_connections(self) -> None:
        """At the end of an invocation: close its connections, give the writer lock back."""
        try:
            super().cleanup_connections()
        finally:
            INVOCATION.leave()

    def _session(self) -> Any | None:
        """This process's SparkSession on the session method, else None (no file access)."""
        credentials = self.config.credentials
        if credentials.method != SparkConnectionMethod.SESSION:
            return None
        return get_session(credentials.server_side_parameters)

    def _get_columns_for_catalog(self, relation: BaseRelation) -> Iterable[dict[str, Any]]:
        """dbt-spark's catalog rows of `relation` with true statistics (catalog_stats.py):
        the rows and bytes of a parquet table's files on the session method, else the
        metastore's bytes only; dbt-spark would show the metastore's row figure, 0 for
        every table Spark writes."""
        columns = list(super()._get_columns_for_catalog(relation))
        if not columns:
            return columns
        information = getattr(relation, "information", None) or ""
        return with_stats(
            columns, catalog_stats(statistics_line(information), self._count_files(relation))
        )

    def _count_files(self, relation: BaseRelation) -> FileCount | None:
        """Rows and bytes of a parquet table's files (session method), else None."""
        information = getattr(relation, "information", None) or ""
        if relation.is_view or "Provider: parquet" not in information:
            return None
        spark = self._session()
        if spark is None:
            return None
        name = f"{relation.schema}.{relation.identifier}"
        try:
            return count_parquet_table(spark, name)
        except Exception as error:  # a statistic must never fail `dbt docs generate`
            logger.debug(f"No row count for {name} in the catalog: {error}")
            return None

    @available
    def project_path(self, location: str) -> str:
        """`location` with a relative local path made absolute from the project root.

        A table's relative LOCATION would resolve against its schema's folder in the
        warehouse (an empty folder: a raw table reading no rows), while the project's docs
        promise paths relative to the project root. URIs (`file:`, `s3a://`, `dbfs:/`)
        and absolute paths are returned unchanged.
        """
        return absolute_from(location, self.config.project_root)

    @available
    def make_directory(self, location: str) -> bool:
        """Create an empty folder at `location` (session method only); True if done."""
        spark = self._session()
        if spark is None:
            return False
        make_directory(spark, location)
        return True

    @available
    def version_relations(self, relation: Any) -> list[Any]:
        """The catalog entries of `relation`'s versions (`<name>__dbt_v…`) an interrupted
        build left, from dbt's relation cache: it lists each schema once, when the run
        starts, so finding them costs no statement per model."""
        prefix = (relation.identifier + VERSION_MARK).lower()
        return [
            found
            for found in self.list_relations(relation.database, relation.schema)
            if (found.identifier or "").lower().startswith(prefix)
        ]

    @available
    def collect_table_versions(self, relation: Any, keep: list[str]) -> list[str]:
        """Delete folders of earlier versions of `relation` that nothing needs any more.

        Session method only: other methods cannot reach the warehouse file system from
        dbt's process, and their old versions stay until a session build collects them.
        Nothing written since this invocation became the catalog's only writer is touched
        (see collect_versions).
        """
        spark = self._session()
        if spark is None:
            return []
        deleted = collect_versions(
            spark, relation.schema, relation.identifier, keep, written_before=INVOCATION.since
        )
        for location in deleted:
            logger.debug(f"Deleted {location}: an earlier version of {relation}")
        return deleted

    @available
    def collect_write_leftovers(self, relation: Any) -> list[str]:
        """Delete what killed `insert overwrite` jobs left in `relation`'s folder (see
        collect_write_leftovers): one `describe` of the table, then a listing of its
        folder. Session method only, like collect_table_versions."""
        spark = self._session()
        if spark is None or relation is None:
            return []
        rows = spark.sql(f"describe table extended {relation.render()}").collect()
        location = next((row[1] for row in rows if (row[0] or "").strip() == "Location"), "")
        deleted = collect_write_leftovers(spark, (location or "").strip(), INVOCATION.since)
        for folder in deleted:
            logger.debug(f"Deleted {folder}: a killed write's staging folder in {relation}")
        return deleted

    @available
    def check_landed_files(
        self,
        location: str,
        contract: dict[str, Any],
        other_layouts: list[dict[str, Any]] | None = None,
        hint: str = "",
        may_be_empty: bool = False,
    ) -> list[str]:
        """Refuse, one sentence per file, landed files Spark would fail on or skip.

        ``contract`` and each of ``other_layouts`` are ``{"name": ..., "columns": [...]}``;
        ``hint`` says how to convert a file in another layout. Warnings (empty files,
        header-only files, identical files) are logged and returned. Only the ``session``
        method reaches the files from dbt's process; other methods skip the check, and
        Spark's own header check still fails a bad file there. ``may_be_empty``: a missing
        folder is created and an empty one accepted (a source that may have no file yet).
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
            may_be_empty,
        )
        for warning in findings.warnings:
            logger.warning(warning)
        if findings.refusals:
            raise DbtRuntimeError("\n".join(findings.refusals))
        logger.info(f"Checked the header of {findings.files} landed file(s) in {location}.")
        return findings.warnings


def absolute_from(location: str, root: str) -> str:
    """`location` resolved against `root` when it is a relative path without a scheme."""
    if not location or "://" in location or ":" in location.split("/", 1)[0]:
        return location
    if os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(root, location))


def _layout(spec: dict[str, Any]) -> Layout:
    return Layout(name=str(spec["name"]), columns=tuple(str(c) for c in spec["columns"]))
