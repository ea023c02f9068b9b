"""Killing `dbt build` never leaves a consumer with a missing, empty or half-written table.

The sparkplus table materialization writes a new version folder `<name>__dbt_v<run id>`
and publishes it with one `alter table ... set location` (renames only when the schema or
the partitioning changed; see src/dbt/include/sparkplus/macros/swap_table.sql and
docs/RELIABILITY.md §2). Here a real build on real Spark is SIGKILLed at several points —
during SQL models and during a Python model — and after each kill a new process checks that
every table is there with all its rows; a final rerun completes normally (no stale Derby
lock, no leftovers).
"""

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

READ_TABLES = """
import json, sys
from pyspark.sql import SparkSession
state = sys.argv[1]
spark = (SparkSession.builder.master("local[1]").enableHiveSupport()
    .config("spark.sql.warehouse.dir", state + "/warehouse")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            "jdbc:derby:;databaseName=" + state + "/metastore_db;create=false")
    .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + state)
    .config("spark.ui.enabled", "false").getOrCreate())
if len(sys.argv) > 2:
    # A version a killed build registered and never published (its own folder).
    spark.range(1).write.format("parquet").saveAsTable("probe." + sys.argv[2])
tables = sorted(t.name for t in spark.catalog.listTables("probe"))
counts = {name: spark.table("probe." + name).count() for name in tables}
print("RESULT " + json.dumps(counts))
"""

# Kill when this line appears in dbt's output, after the given delay in seconds.
KILL_POINTS = [
    ("START sql table model probe.probe_orders", 1.5),
    ("START python table model probe.probe_category_totals", 1.0),
    ("OK created python table model probe.probe_category_totals", 0.0),
]
EXPECTED = {"probe_orders": 2, "probe_category_totals": 2}
STALE_VERSION = "probe_orders__dbt_v000000000000"


def _dbt(project: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            DBT,
            "build",
            "--exclude",
            "probe_failing",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _tables(state: Path, plant: str | None = None) -> dict[str, int]:
    import json

    result = subprocess.run(
        [sys.executable, "-c", READ_TABLES, str(state), *([plant] if plant else [])],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=dict(os.environ, PYSPARK_PYTHON=sys.executable),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.split("RESULT ", 1)[1])


def test_killed_builds_leave_every_table_whole(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    state = tmp_path / "state"
    state.mkdir()
    env = dict(
        os.environ,
        PROBE_STATE_DIR=str(state),
        PROBE_LOG4J=str(LOG4J),
        PYTHONUNBUFFERED="1",
        DO_NOT_TRACK="1",
    )
    first = _dbt(project, env)
    output, _ = first.communicate(timeout=900)
    assert first.returncode == 0, output[-3000:]
    assert _tables(state) == EXPECTED

    for index, (marker, delay) in enumerate(KILL_POINTS):
        last = index == len(KILL_POINTS) - 1
        build = _dbt(project, env)
        seen = []
        for line in build.stdout:
            seen.append(line)
            if marker in line:
                time.sleep(delay)
                os.killpg(build.pid, signal.SIGKILL)
                break
        build.wait(timeout=120)
        assert build.returncode == -signal.SIGKILL, f"{marker!r} never came:\n{''.join(seen)}"
        # After the last kill the reader also registers a version table, so that whatever
        # the kills left, the rerun has one to find in dbt's relation cache and drop.
        tables = _tables(state, plant=STALE_VERSION if last else None)
        # Leftovers of the interrupted swap may exist; the consumer tables are whole.
        assert {name: tables[name] for name in EXPECTED} == EXPECTED, (marker, delay, tables)
    assert STALE_VERSION in tables

    final = _dbt(project, env)
    output, _ = final.communicate(timeout=900)
    assert final.returncode == 0, output[-3000:]
    assert _tables(state) == EXPECTED, "a clean rerun leaves only the consumer tables"
