"""dbt Python models on the session method, through the stock `dbt` command.

A tiny dbt project (tests/python/fixtures/python_model_project) with a SQL model, a healthy
Python model and a failing one runs on real Spark with a real Derby metastore. A *new*
process then reads the tables from the metastore: they are persisted Hive tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lgs_testing import probe_project

pytestmark = pytest.mark.e2e

DBT = str(Path(sys.executable).with_name("dbt"))

READ_BACK = """
import json, sys
from pyspark.sql import SparkSession
state = sys.argv[1]
spark = (SparkSession.builder.master("local[1]").enableHiveSupport()
    .config("spark.sql.warehouse.dir", state + "/warehouse")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            "jdbc:derby:;databaseName=" + state + "/metastore_db;create=false")
    .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + state)
    .config("spark.ui.enabled", "false").getOrCreate())
tables = {t.name: t.tableType for t in spark.catalog.listTables("probe")}
locations = {
    name: next(r.data_type for r in spark.sql("describe table extended probe." + name).collect()
               if r.col_name == "Location")
    for name in tables
}
rows = {r["category"]: float(r["total_amount"])
        for r in spark.table("probe.probe_category_totals").collect()}
print("RESULT " + json.dumps({"tables": tables, "locations": locations, "rows": rows}))
"""


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    project, env = probe_project(tmp_path_factory.mktemp("probe"))
    state = Path(env["PROBE_STATE_DIR"])
    result = subprocess.run(
        [DBT, "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return result, state


def test_failing_python_model_fails_the_build_with_its_traceback(probe_run):
    result, _ = probe_run
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Python model 'probe_failing' failed" in output
    assert "ZeroDivisionError" in output
    # The model's own frames, with its source lines, not the adapter's internals.
    assert "in share_of" in output
    assert "return part / total" in output


def test_healthy_python_and_sql_models_are_persisted_hive_tables(probe_run):
    result, state = probe_run
    output = result.stdout + result.stderr
    assert "OK created python table model probe.probe_category_totals" in output, output[-4000:]
    read = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(state)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable),
    )
    assert read.returncode == 0, read.stderr[-4000:]
    payload = json.loads(read.stdout.split("RESULT ", 1)[1])
    # Persistent catalog tables (not temporary views), each over its published version's
    # folder in the warehouse (sparkplus publishes tables by switching locations).
    assert payload["tables"] == {"probe_orders": "EXTERNAL", "probe_category_totals": "EXTERNAL"}
    for name, location in payload["locations"].items():
        assert f"/warehouse/probe.db/{name}__dbt_v" in location, (name, location)
    assert payload["rows"] == {"gift": 10.5, "card": 2.25}


def test_derby_log_stays_out_of_the_working_directory(probe_run):
    result, state = probe_run
    project = Path(result.args[result.args.index("--project-dir") + 1])
    assert not (project / "derby.log").exists()
    assert (state / "derby.log").exists()
