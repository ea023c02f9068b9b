"""A second dbt run on the same embedded Derby metastore fails fast and clearly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lgs_testing import LOG4J, PROJECT_ROOT

pytestmark = pytest.mark.e2e

FIXTURE = PROJECT_ROOT / "tests" / "python" / "fixtures" / "python_model_project"
DBT = str(Path(sys.executable).with_name("dbt"))

HOLD_METASTORE = """
import sys, time
from pyspark.sql import SparkSession
state = sys.argv[1]
spark = (SparkSession.builder.master("local[1]").enableHiveSupport()
    .config("spark.sql.warehouse.dir", state + "/warehouse")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            "jdbc:derby:;databaseName=" + state + "/metastore_db;create=true")
    .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + state)
    .config("spark.ui.enabled", "false").getOrCreate())
spark.sql("show databases").collect()
print("HOLDING", flush=True)
time.sleep(300)
"""


def test_second_build_on_a_busy_metastore_fails_fast_with_one_sentence(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    state = tmp_path / "state"
    state.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_METASTORE, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable),
        # Its own process group: killing it must also end the JVM it started.
        start_new_session=True,
    )
    try:
        lines = [holder.stdout.readline()]
        while lines[-1] and lines[-1].strip() != "HOLDING":
            lines.append(holder.stdout.readline())
        assert lines[-1].strip() == "HOLDING", "".join(lines)
        env = dict(os.environ, PROBE_STATE_DIR=str(state), PROBE_LOG4J=str(LOG4J))
        started = time.monotonic()
        result = subprocess.run(
            [DBT, "run", "--project-dir", str(project), "--profiles-dir", str(project)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        elapsed = time.monotonic() - started
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is in use by another process" in output, output[-3000:]
    assert "SessionHiveMetaStoreClient" not in output
    # Fails before starting Spark: no hang on a busy metastore (a generous guard for a
    # loaded 2-core CI machine; without the check Hive retries for minutes under load).
    assert elapsed < 180, f"took {elapsed:.0f} s"
