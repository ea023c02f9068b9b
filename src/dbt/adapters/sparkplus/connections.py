"""Credentials and connection manager: dbt-spark's, registered under the ``sparkplus`` type."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dbt.adapters.events.logging import AdapterLogger
from dbt.adapters.spark.connections import (
    SparkConnectionManager,
    SparkConnectionMethod,
    SparkCredentials,
)
from dbt.adapters.spark.session import SessionConnectionWrapper
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus.class_sharing import share_classes
from dbt.adapters.sparkplus.metastore_lock import (
    MetastoreInUseError,
    MetastoreUnreachableError,
    check_derby_free,
    check_metastore_reachable,
    derby_database_dir,
    metastore_address,
)
from dbt.adapters.sparkplus.writer_lock import INVOCATION, WriterLockError, current_command

logger = AdapterLogger("sparkplus")


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
        if connection.credentials.method == SparkConnectionMethod.SESSION:
            _check_metastore_available(connection.credentials.server_side_parameters)
            _take_writer_lock(connection.credentials.server_side_parameters)
            bind_web_ui_like_the_driver(connection.credentials.server_side_parameters)
            share_classes(os.environ)
        connection = super().open(connection)
        handle = connection.handle
        if type(handle) is SessionConnectionWrapper:
            # Same object and state, only the binding rendering changes.
            handle.__class__ = QuotingSessionConnectionWrapper
        return connection


class MetastoreAccessError(DbtRuntimeError):
    """One sentence, before any statement ran: the metastore is busy, unreachable or held.

    dbt-spark's `exception_handler` wraps an exception that has arguments in a new
    `DbtRuntimeError` of its text, once per level it passes (a "Runtime Error" heading
    each time), and re-raises one without arguments as it is: so this one has none.
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.args = ()


def _check_metastore_available(parameters: dict[str, str]) -> None:
    """Before this process starts Spark: embedded Derby is free, a networked one is up."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        return  # our own JVM is up: it holds the lock (see check_derby_free)
    address = metastore_address(parameters)
    if address is not None:
        try:
            check_metastore_reachable(address)
        except MetastoreUnreachableError as exc:
            raise MetastoreAccessError(str(exc)) from None
        return
    database = derby_database_dir(parameters)
    if database is None:
        return
    try:
        check_derby_free(database)
    except MetastoreInUseError as exc:
        raise MetastoreAccessError(str(exc)) from None


def _take_writer_lock(parameters: dict[str, str]) -> None:
    """Before this invocation's first statement: the shared catalog's writer lock, when it
    writes on a metastore in PostgreSQL (see writer_lock); released by cleanup_connections."""
    first = INVOCATION.since is None
    try:
        INVOCATION.enter(parameters, current_command(), on_wait=logger.info)
    except WriterLockError as exc:
        raise MetastoreAccessError(str(exc)) from None
    if first and metastore_address(parameters) is not None:
        forget_cached_tables()


def forget_cached_tables() -> None:
    """Drop what this process's SparkSession remembers of tables (their file listings).

    A process that runs several dbt invocations (an orchestrator, `lgs`, a notebook) keeps
    one SparkSession, which caches each table it resolved with its files. On a shared
    catalog other processes rebuild tables between two invocations (a partitioned table's
    files are replaced in place), and a cached listing then names files that are gone:
    `FAILED_READ_FILE.FILE_NOT_EXIST`. Each invocation therefore starts from the catalog.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession._instantiatedSession
    if SparkContext._active_spark_context is None or session is None:
        return  # no session yet: nothing cached
    session._jsparkSession.sessionState().catalog().invalidateAllCachedTables()


def bind_web_ui_like_the_driver(parameters: dict[str, str]) -> None:
    """Make Spark's web UI listen where the driver does, before this process starts Spark.

    `spark.driver.bindAddress` covers the driver's RPC and block manager, but the web UI
    (when `spark.ui.enabled`) binds to $SPARK_LOCAL_IP, else to every interface; a profile
    cannot set an environment variable, so the session target's bind address is exported
    for the JVM that pyspark is about to launch. An explicit SPARK_LOCAL_IP wins.
    """
    address = parameters.get("spark.driver.bindAddress")
    if address and not os.environ.get("SPARK_LOCAL_IP"):
        os.environ["SPARK_LOCAL_IP"] = address
