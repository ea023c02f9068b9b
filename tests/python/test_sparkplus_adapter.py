"""Unit tests of the sparkplus adapter plugin on a real local SparkSession."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus import Plugin
from dbt.adapters.sparkplus.connections import (
    MetastoreAccessError,
    SparkplusConnectionManager,
    SparkplusCredentials,
    forget_cached_tables,
    sql_literal,
)
from dbt.adapters.sparkplus.impl import SparkplusAdapter, absolute_from
from dbt.adapters.sparkplus.python_submissions import (
    PythonModelError,
    SessionPythonJobHelper,
    run_compiled_model,
)
from dbt.adapters.sparkplus.table_versions import (
    collect_versions,
    collect_write_leftovers,
    make_directory,
    normalized,
)

MODEL_CODE = """
def model(dbt, session):
    return session.createDataFrame([(1, "gift")], "id int, category string")

df = model(None, spark)
df.createOrReplaceTempView("sparkplus_probe_output")
"""

FAILING_CODE = """
def ratio(total):
    return 1 / total

def model(dbt, session):
    return ratio(0)

model(None, spark)
"""


def test_plugin_extends_dbt_spark():
    assert Plugin.dependencies == ["spark"]
    assert SparkplusAdapter.type() == "sparkplus"
    assert Plugin.credentials is SparkplusCredentials


def test_session_is_the_default_python_submission_method():
    # The properties need no adapter state: an uninitialised instance is enough.
    adapter = SparkplusAdapter.__new__(SparkplusAdapter)
    helpers = adapter.python_submission_helpers
    assert helpers["session"] is SessionPythonJobHelper
    # dbt-spark's Databricks methods stay available for the same model files.
    assert {"job_cluster", "all_purpose_cluster"} <= set(helpers)
    assert adapter.default_python_submission_method == "session"


def test_compiled_model_runs_in_the_given_session(spark):
    run_compiled_model(MODEL_CODE, spark, "probe")
    rows = spark.table("sparkplus_probe_output").collect()
    assert [(row.id, row.category) for row in rows] == [(1, "gift")]


def test_failing_model_raises_with_its_own_traceback(spark):
    with pytest.raises(PythonModelError) as error:
        run_compiled_model(FAILING_CODE, spark, "broken_model", "model.project.broken_model")
    message = str(error.value)
    assert "Python model 'broken_model' failed" in message
    assert "ZeroDivisionError" in message
    assert "in ratio" in message and "return 1 / total" in message
    # Frames of the adapter itself are cut: the traceback starts in the model.
    assert "python_submissions.py" not in message


def test_non_session_targets_get_one_clear_sentence():
    credentials = SparkplusCredentials(
        method=SparkConnectionMethod.THRIFT, host="127.0.0.1", schema="lgs", port=10000
    )
    with pytest.raises(DbtRuntimeError) as error:
        SessionPythonJobHelper({"alias": "customer_rfm_scores"}, credentials)
    assert "--target shared" in str(error.value)
    assert "'thrift'" in str(error.value)


def test_a_metastore_error_passes_dbt_spark_exception_handler_as_it_is():
    """One sentence under one "Runtime Error" heading, not one heading per level."""
    manager = SparkplusConnectionManager.__new__(SparkplusConnectionManager)
    error = MetastoreAccessError("Another build is writing the shared catalog.")
    with pytest.raises(MetastoreAccessError) as raised, manager.exception_handler("select 1"):
        raise error
    assert raised.value is error
    assert str(raised.value).count("Runtime Error") == 1


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Can't Lose", "'Can\\'t Lose'"),
        ("back\\slash", "'back\\\\slash'"),
        (None, "null"),
        (3, 3.0),
        ("plain", "'plain'"),
    ],
)
def test_seed_bindings_are_escaped_sql_literals(value, literal):
    assert sql_literal(value) == literal


def test_escaped_literals_round_trip_through_spark(spark):
    values = ["Can't Lose", "back\\slash", "quote ' and \\' mix"]
    sql = "select " + ", ".join(f"{sql_literal(v)} as c{i}" for i, v in enumerate(values))
    assert list(spark.sql(sql).collect()[0]) == values


def _location(spark, table: str) -> str:
    rows = spark.sql(f"describe table extended {table}").collect()
    return next(row.data_type for row in rows if row.col_name == "Location")


def test_collect_versions_keeps_what_readers_use_and_registered_tables(spark):
    spark.sql("create database if not exists versions_probe")
    database = spark.catalog.getDatabase("versions_probe").locationUri.rstrip("/")
    # The table's default folder (its version before the first switch, now "previous"),
    # the current version, a version a killed build registered, and two leftovers of
    # killed builds that never registered their table.
    spark.range(3).write.parquet(database + "/sales")
    spark.range(4).write.parquet(database + "/sales__dbt_v000000000001")
    spark.range(5).write.saveAsTable("versions_probe.sales__dbt_v000000000002")
    spark.range(6).write.parquet(database + "/sales__dbt_v000000000003")
    spark.range(7).write.parquet(database + "/sales__dbt_v000000000004")
    spark.range(8).write.parquet(database + "/sales_other")
    keep = [database + "/sales__dbt_v000000000001", database + "/sales/"]

    deleted = collect_versions(spark, "versions_probe", "Sales", keep)

    assert sorted(normalized(path).rsplit("/", 1)[1] for path in deleted) == [
        "sales__dbt_v000000000003",
        "sales__dbt_v000000000004",
    ]
    assert spark.read.parquet(database + "/sales").count() == 3
    assert spark.read.parquet(database + "/sales__dbt_v000000000001").count() == 4
    assert spark.table("versions_probe.sales__dbt_v000000000002").count() == 5
    assert spark.read.parquet(database + "/sales_other").count() == 8
    # Without anything to keep, the default folder goes too (an orphan of a first build).
    assert [
        normalized(p).rsplit("/", 1)[1]
        for p in collect_versions(
            spark, "versions_probe", "sales", [database + "/sales__dbt_v000000000001"]
        )
    ] == ["sales"]
    assert collect_versions(spark, "no_such_schema", "x", []) == []


def _set_times(path: Path, when: float) -> None:
    """Modification time `when` for `path` and everything below it."""
    for child in sorted(path.rglob("*"), reverse=True):
        os.utime(child, (when, when))
    os.utime(path, (when, when))


def test_collect_versions_keeps_what_changed_since_this_build_became_the_writer(spark):
    """A folder changed at or after `written_before` (when this build got the writer lock)
    may be a version another process is still writing: kept, at any depth of change."""
    spark.sql("create database if not exists versions_age")
    database = spark.catalog.getDatabase("versions_age").locationUri.rstrip("/")
    folder = Path(database.removeprefix("file:"))
    for name in ("sales", "sales__dbt_v00000000000b", "sales__dbt_v00000000000c"):
        spark.range(3).write.parquet(f"{database}/{name}")
    spark.range(3).write.parquet(f"{database}/sales__dbt_v00000000000d")
    since = time.time()
    # Left by a build that ended before this one took the lock.
    _set_times(folder / "sales__dbt_v00000000000b", since - 600)
    # Being written by a process that took no lock: its folder is old, a task's file new.
    writing = folder / "sales__dbt_v00000000000c"
    _set_times(writing, since - 600)
    (writing / "_temporary" / "0").mkdir(parents=True)
    (writing / "_temporary" / "0" / "part-00000.parquet").write_bytes(b"")
    os.utime(writing / "_temporary" / "0" / "part-00000.parquet", (since + 1, since + 1))
    os.utime(writing, (since - 600, since - 600))
    # Written after this build took the lock, the default folder of a first build included.
    _set_times(folder / "sales__dbt_v00000000000d", since + 5)
    _set_times(folder / "sales", since + 5)

    deleted = collect_versions(spark, "versions_age", "sales", [], written_before=since)

    assert [normalized(p).rsplit("/", 1)[1] for p in deleted] == ["sales__dbt_v00000000000b"]
    # Without a start (no writer known), every unregistered version goes, as before.
    assert sorted(
        normalized(p).rsplit("/", 1)[1]
        for p in collect_versions(spark, "versions_age", "sales", [])
    ) == ["sales", "sales__dbt_v00000000000c", "sales__dbt_v00000000000d"]


def test_killed_insert_overwrite_staging_folders_are_collected(spark):
    """A dynamic `insert overwrite` killed before its commit leaves `.spark-staging-<job>`
    in the table's folder: the next run deletes it, unless it changed since that run became
    the only writer (a job running right now); partitions and other files stay."""
    spark.sql("create database if not exists leftovers_probe")
    spark.sql(
        "create table leftovers_probe.staged (id bigint, month string) "
        "using parquet partitioned by (month)"
    )
    spark.sql("insert into leftovers_probe.staged values (1, '2011-01'), (2, '2011-02')")
    location = _location(spark, "leftovers_probe.staged")
    folder = Path(location.removeprefix("file:"))
    since = time.time()
    killed = folder / ".spark-staging-0b0e5e0c-killed"
    (killed / "month=2011-01").mkdir(parents=True)
    (killed / "month=2011-01" / "part-00000.parquet").write_bytes(b"half a file")
    _set_times(killed, since - 600)
    running = folder / ".spark-staging-5f1e0d2a-running"
    (running / "_temporary" / "0").mkdir(parents=True)
    _set_times(running, since - 600)
    (running / "_temporary" / "0" / "part-00000.parquet").write_bytes(b"")  # written now

    deleted = collect_write_leftovers(spark, location, written_before=since)

    assert [normalized(p).rsplit("/", 1)[1] for p in deleted] == [killed.name]
    assert not killed.exists() and running.is_dir()
    assert spark.table("leftovers_probe.staged").count() == 2
    # Without the moment this run became the writer, nothing is known to be dead.
    assert collect_write_leftovers(spark, location, written_before=None) == []
    assert running.is_dir()


def test_a_temporary_view_does_not_pass_for_a_registered_version(spark):
    """Versions are looked up in the catalog by qualified name, never by listing it.

    Listing a database also lists (and describes) the session's temporary views, which the
    build's other threads create and drop meanwhile: a listing raced with them and failed
    a build (`PARSE_EMPTY_STATEMENT`), and a temporary view named like a version kept a
    killed build's folder.
    """
    spark.sql("create database if not exists versions_views")
    database = spark.catalog.getDatabase("versions_views").locationUri.rstrip("/")
    spark.range(3).write.parquet(database + "/sales__dbt_v00000000000a")
    spark.range(1).createOrReplaceTempView("sales__dbt_v00000000000a")
    try:
        deleted = collect_versions(spark, "versions_views", "sales", [])
    finally:
        spark.catalog.dropTempView("sales__dbt_v00000000000a")
    assert [normalized(p).rsplit("/", 1)[1] for p in deleted] == ["sales__dbt_v00000000000a"]


def test_a_new_invocation_reads_the_files_another_process_wrote_since(spark, tmp_path):
    """A long-lived process's session caches each table's file listing; on a shared
    catalog another build may replace the files meanwhile (a partitioned table's overwrite
    does so in place). Each invocation on a networked metastore forgets those listings."""
    spark.sql("create database if not exists forget_probe")
    spark.range(3).write.saveAsTable("forget_probe.sales")
    assert spark.table("forget_probe.sales").count() == 3
    folder = Path(_location(spark, "forget_probe.sales").removeprefix("file:"))
    spark.range(5).coalesce(1).write.parquet(str(tmp_path / "other"))
    # What another process's build does to the folder, unknown to this session.
    for old in folder.glob("part-*"):
        old.unlink()
    for new in (tmp_path / "other").glob("part-*"):
        new.rename(folder / new.name)
    with pytest.raises(Exception, match="FILE_NOT_EXIST"):
        spark.table("forget_probe.sales").count()

    forget_cached_tables()

    assert spark.table("forget_probe.sales").count() == 5


def test_a_table_points_at_a_new_folder_and_drops_without_its_files(spark, tmp_path):
    spark.sql("create database if not exists detach_probe")
    spark.range(5).write.saveAsTable("detach_probe.version")
    location = _location(spark, "detach_probe.version")
    make_directory(spark, location + "/_dbt_detached")
    spark.sql(f"alter table detach_probe.version set location '{location}/_dbt_detached'")
    spark.sql("drop table detach_probe.version")
    assert spark.read.parquet(location).count() == 5


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("file:///tmp/x/", "file:/tmp/x"),
        ("file:/tmp/x", "file:/tmp/x/"),
        ("s3a://b/x/", "s3a://b/x"),
    ],
)
def test_locations_compare_normalized(left, right):
    assert normalized(left) == normalized(right)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (".lgs/raw/online_retail_ii", "/repo/.lgs/raw/online_retail_ii"),
        ("data/../landing", "/repo/landing"),
        ("/srv/landing", "/srv/landing"),
        ("file:/srv/landing", "file:/srv/landing"),
        ("s3a://bucket/landing", "s3a://bucket/landing"),
        (
            "abfss://raw@account.dfs.core.windows.net/lgs",
            "abfss://raw@account.dfs.core.windows.net/lgs",
        ),
        ("dbfs:/mnt/landing", "dbfs:/mnt/landing"),
    ],
)
def test_a_relative_landing_path_resolves_from_the_project_root(location, expected):
    """Spark would resolve a relative table LOCATION against the schema's warehouse folder."""
    assert absolute_from(location, "/repo") == expected
