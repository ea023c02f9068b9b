"""The shared PostgreSQL metastore and the Spark Thrift Server, as real processes.

`lgs metastore start` and `lgs thrift start` run on their own state folder. dbt builds the
SQL models through the Thrift server (`--target thrift`, PyHive) and the Python models
through its own Spark session on the same catalog (`--target shared`) while the server
runs; PyHive and the bundled beeline then query the marts as a BI tool would, and a
separate PySpark process (a "notebook") reads them at the same time: one catalog, several
processes, which embedded Derby cannot do. Servers are stopped by the fixture even on
failure.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services import metastore, thrift
from lgs_analytics.services.process import (
    LOOPBACK,
    ServiceProcess,
    descendants,
    free_ports,
    listening_sockets,
    spark_home,
    start_ticks,
)
from lgs_testing import PROJECT_ROOT, environ_without_lgs

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
STATE = TEST_STATE_ROOT / "cluster-thrift"
GENERATE = ["--rows", "60000", "--seed", "3"]
DBT = str(Path(sys.executable).with_name("dbt"))
SQL_MARTS = ("monthly_sales", "monthly_orders", "monthly_active_users")
PYTHON_MODELS = ("customer_rfm_scores", "rfm_segment_summary")
GENERATED = ("thrift", "postgres", "metastore", "shared-warehouse", "tmp", "target", "dbt-logs")

NOTEBOOK = """
import sys
from lgs_analytics.services.metastore import notebook_session
spark = notebook_session(app_name="lgs-test-notebook", master="local[1]")
tables = sorted(t.name for t in spark.catalog.listTables("lgs_marts"))
rows = spark.table("lgs_marts.monthly_sales").count()
rfm = spark.table("lgs_marts.customer_rfm_scores").count()
print("READY", rows, rfm, ",".join(tables), flush=True)
sys.stdin.readline()  # the test queries the Thrift server meanwhile
print("AGAIN", spark.table("lgs_marts.monthly_sales").count(), flush=True)
spark.stop()
"""


@dataclass
class SharedServices:
    paths: ProjectPaths
    env: dict[str, str]
    thrift_port: int


def run(
    command: list[str], env: dict[str, str], timeout: float = 1800
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lgs(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = run([sys.executable, "-m", "lgs_analytics.cli", *args], env, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(
            f"lgs {' '.join(args)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-6000:]}"
        )
    return result


def dbt(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The stock `dbt` command from the project root, as a user runs it."""
    return run(
        [DBT, *args, "--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)],
        env,
    )


def hive_query(port: int, sql: str) -> list[tuple]:
    """Rows of one query through PyHive, the way a BI tool's driver asks."""
    from pyhive import hive

    connection = hive.connect(host=LOOPBACK, port=port, username="analyst", auth="NONE")
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def services() -> Iterator[SharedServices]:
    """A running shared metastore and Thrift server on free loopback ports."""
    paths = ProjectPaths(root=PROJECT_ROOT, state=STATE)
    thrift.stop(paths)
    metastore.stop(paths)
    metastore.remove_state(paths)
    for name in GENERATED:
        shutil.rmtree(STATE / name, ignore_errors=True)
    metastore_port, thrift_port = free_ports(2)
    env = environ_without_lgs()
    env.update(
        LGS_STATE_DIR=str(STATE),
        LGS_METASTORE_PORT=str(metastore_port),
        LGS_THRIFT_PORT=str(thrift_port),
        DO_NOT_TRACK="1",
        # dbt's artifacts and logs stay in the state folder: other builds share the checkout.
        DBT_TARGET_PATH=str(STATE / "target"),
        DBT_LOG_PATH=str(STATE / "dbt-logs"),
    )
    raw = STATE / "raw" / "online_retail_ii"
    if not (raw / "_manifest.json").exists():
        lgs("generate", *GENERATE, "--out", str(raw), env=env)
    try:
        lgs("metastore", "start", env=env)
        started = time.monotonic()
        print(lgs("thrift", "start", env=env).stdout, f"({time.monotonic() - started:.0f} s)")
        yield SharedServices(paths=paths, env=env, thrift_port=thrift_port)
    finally:
        thrift.stop(paths)
        metastore.stop(paths)


@pytest.fixture(scope="module")
def thrift_build(services: SharedServices) -> subprocess.CompletedProcess:
    """The SQL models, seeds and their data tests, built through the Thrift server (the
    unit tests run on fixed inputs: the malformed-dataset build runs them)."""
    started = time.monotonic()
    result = dbt(
        "build",
        "--target",
        "thrift",
        "--exclude",
        "tag:python",
        "--exclude-resource-type",
        "unit_test",
        env=services.env,
    )
    print(f"dbt build --target thrift: {time.monotonic() - started:.0f} s")
    return result


@pytest.fixture(scope="module")
def python_build(
    services: SharedServices, thrift_build: subprocess.CompletedProcess
) -> subprocess.CompletedProcess:
    """Python models, by dbt's own Spark session on the same catalog, server running.

    The RFM models are enough to prove the point; the cluster test builds all of them.
    """
    assert thrift_build.returncode == 0, thrift_build.stdout[-6000:]
    started = time.monotonic()
    # cautious: only the tests of these models, not those that also read unbuilt models.
    result = dbt(
        "build",
        "--target",
        "shared",
        "--select",
        *PYTHON_MODELS,
        "--indirect-selection",
        "cautious",
        env=services.env,
    )
    print(f"dbt build --target shared (Python models): {time.monotonic() - started:.0f} s")
    return result


def test_services_listen_on_loopback_only(services: SharedServices) -> None:
    record = ServiceProcess.read(thrift.ThriftLayout(STATE).pid_file)
    assert record is not None and record.is_running()
    postgres = metastore.server_pid(metastore.MetastoreLayout(STATE))
    assert postgres is not None
    sockets = listening_sockets([*descendants(record.pid), postgres])
    ports = {port for _, _, port in sockets}
    assert services.thrift_port in ports, sockets
    assert int(services.env["LGS_METASTORE_PORT"]) in ports, sockets
    assert {address for _, address, _ in sockets} == {LOOPBACK}, sockets


def test_metastore_password_stays_off_command_lines(services: SharedServices) -> None:
    layout = metastore.MetastoreLayout(STATE)
    password = layout.password_file.read_text().strip()
    assert len(password) >= 24
    for secret_file in (layout.password_file, layout.hive_site):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600, secret_file
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert password not in text, f"password visible in {cmdline}"


def test_status_commands_report_running(services: SharedServices) -> None:
    for service in ("metastore", "thrift"):
        result = lgs(service, "status", env=services.env)
        assert '"running": true' in result.stdout, result.stdout


def test_sql_models_build_through_the_thrift_server(
    thrift_build: subprocess.CompletedProcess,
) -> None:
    assert thrift_build.returncode == 0, thrift_build.stdout[-8000:] + thrift_build.stderr[-2000:]
    assert "Completed successfully" in thrift_build.stdout
    assert "python model" not in thrift_build.stdout


def test_python_models_build_into_the_shared_catalog_while_thrift_runs(
    python_build: subprocess.CompletedProcess,
) -> None:
    assert python_build.returncode == 0, python_build.stdout[-8000:] + python_build.stderr[-2000:]
    assert "python table model" in python_build.stdout


def test_pyhive_queries_sql_and_python_marts(
    services: SharedServices, python_build: subprocess.CompletedProcess
) -> None:
    tables = {row[1] for row in hive_query(services.thrift_port, "show tables in lgs_marts")}
    assert {*SQL_MARTS, "customer_rfm_scores", "rfm_segment_summary"} <= tables, tables
    months = hive_query(
        services.thrift_port,
        "select count(*), sum(sales_amount), sum(sales_lines) from lgs_marts.monthly_sales",
    )[0]
    assert months[0] >= 12 and months[2] > 0, months
    customers = hive_query(
        services.thrift_port,
        "select count(*), count(distinct customer_id) from lgs_marts.customer_rfm_scores",
    )[0]
    assert customers[0] == customers[1] > 0, customers


def test_beeline_queries_a_mart(
    services: SharedServices, python_build: subprocess.CompletedProcess
) -> None:
    result = run(
        [
            str(spark_home() / "bin" / "beeline"),
            "-u",
            f"jdbc:hive2://{LOOPBACK}:{services.thrift_port}",
            "-n",
            "analyst",
            "--silent=true",
            "--outputformat=csv2",
            "-e",
            "select count(*) as months from lgs_marts.monthly_sales",
        ],
        {**services.env, "SPARK_HOME": str(spark_home())},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # csv2: a header line (after beeline's prompt) and the value.
    *_, header, value = [line for line in result.stdout.splitlines() if line.strip()]
    assert header.endswith("months"), result.stdout
    expected = hive_query(services.thrift_port, "select count(*) from lgs_marts.monthly_sales")
    assert value == str(expected[0][0]), result.stdout


def test_notebook_process_reads_while_the_thrift_server_serves(
    services: SharedServices, python_build: subprocess.CompletedProcess
) -> None:
    notebook = subprocess.Popen(
        [sys.executable, "-c", NOTEBOOK],
        cwd=PROJECT_ROOT,
        env=services.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert notebook.stdout is not None and notebook.stdin is not None
        ready = notebook.stdout.readline().split()
        assert ready[:1] == ["READY"], [*ready, notebook.stderr.read()[-4000:]]
        # Both processes hold the catalog open now: the server answers at the same time.
        months = hive_query(services.thrift_port, "select count(*) from lgs_marts.monthly_sales")
        assert int(ready[1]) == months[0][0] >= 12
        assert int(ready[2]) > 0
        assert {*SQL_MARTS, "customer_rfm_scores"} <= set(ready[3].split(","))
        notebook.stdin.write("go\n")
        notebook.stdin.flush()
        again = notebook.stdout.readline().split()
        assert again == ["AGAIN", ready[1]], again
        assert notebook.wait(timeout=120) == 0
    finally:
        if notebook.poll() is None:
            notebook.kill()
            notebook.wait()


def test_python_model_on_thrift_fails_with_one_sentence(
    services: SharedServices, python_build: subprocess.CompletedProcess
) -> None:
    result = dbt("run", "--target", "thrift", "-s", "customer_rfm_scores", env=services.env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    sentence = next(
        (line.strip() for line in output.splitlines() if "connection method:" in line), ""
    )
    assert sentence.startswith(
        "Python model 'customer_rfm_scores' cannot run through the 'thrift' connection method: "
        "run it with a session target"
    ), output[-4000:]
    assert "--target cluster" in sentence and sentence.endswith("."), sentence
    for stack_trace_marker in ("Traceback", "\tat org.", "java.lang.", "Py4JJavaError"):
        assert stack_trace_marker not in output, output[-4000:]


def test_stop_commands_leave_nothing_running(services: SharedServices) -> None:
    record = ServiceProcess.read(thrift.ThriftLayout(STATE).pid_file)
    postgres = metastore.server_pid(metastore.MetastoreLayout(STATE))
    assert record is not None and postgres is not None
    assert "Stopped" in lgs("thrift", "stop", env=services.env).stdout
    assert "Stopped" in lgs("metastore", "stop", env=services.env).stdout
    assert not record.group_members()
    assert start_ticks(postgres) is None
    for service in ("thrift", "metastore"):
        assert lgs(service, "status", env=services.env, check=False).returncode == 3
