"""Unit tests of the sparkplus adapter plugin on a real local SparkSession."""

from __future__ import annotations

import pytest
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt_common.exceptions import DbtRuntimeError

from dbt.adapters.sparkplus import Plugin
from dbt.adapters.sparkplus.connections import SparkplusCredentials, sql_literal
from dbt.adapters.sparkplus.impl import SparkplusAdapter, clear_orphaned_location
from dbt.adapters.sparkplus.python_submissions import (
    PythonModelError,
    SessionPythonJobHelper,
    run_compiled_model,
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


def test_orphaned_table_files_are_cleared_and_registered_tables_kept(spark):
    spark.sql("create database if not exists orphan_probe")
    spark.range(3).write.mode("overwrite").saveAsTable("orphan_probe.kept__dbt_new")
    location = spark.catalog.getDatabase("orphan_probe").locationUri
    # What a build killed mid-write leaves: files at the default path, no catalog entry.
    spark.range(5).write.mode("overwrite").parquet(location + "/gone__dbt_new")
    with pytest.raises(Exception, match="LOCATION_ALREADY_EXISTS"):
        spark.range(1).write.saveAsTable("orphan_probe.Gone__dbt_new")

    removed = clear_orphaned_location(spark, "orphan_probe", "Gone__dbt_new")

    assert removed is not None and removed.endswith("/gone__dbt_new")
    spark.range(2).write.saveAsTable("orphan_probe.gone__dbt_new")
    assert spark.table("orphan_probe.gone__dbt_new").count() == 2
    assert clear_orphaned_location(spark, "orphan_probe", "kept__dbt_new") is None
    assert spark.table("orphan_probe.kept__dbt_new").count() == 3
    assert clear_orphaned_location(spark, "no_such_schema", "x") is None
