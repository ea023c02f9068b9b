"""Unit tests of the sparkplus adapter plugin on a real local SparkSession."""

from __future__ import annotations

import pytest
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus import Plugin
from dbt.adapters.sparkplus.connections import SparkplusCredentials, sql_literal
from dbt.adapters.sparkplus.impl import SparkplusAdapter, absolute_from
from dbt.adapters.sparkplus.python_submissions import (
    PythonModelError,
    SessionPythonJobHelper,
    run_compiled_model,
)
from dbt.adapters.sparkplus.table_versions import collect_versions, make_directory, normalized

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
