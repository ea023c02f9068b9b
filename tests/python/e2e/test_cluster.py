"""The `cluster` target on a real Spark standalone cluster (1 master, 2 workers) from
`lgs cluster start`, with the shared PostgreSQL metastore from `lgs metastore start`.

The whole project build runs on the cluster while one worker is SIGKILLed mid-build: the
build must still succeed, and its marts (read back by a new Spark process through the shared
catalog) must equal those of a `local` build of the same data: the e2e suite's malformed-row
dataset, whose local build (`malformed_build`) other tests use too. Everything the services open
must listen on 127.0.0.1 only. Every server is stopped by the fixtures, even on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services import cluster, metastore
from lgs_analytics.services.process import (
    LOOPBACK,
    ServiceProcess,
    descendants,
    free_ports,
    listening_sockets,
    wait_until,
)
from lgs_testing import PROJECT_ROOT, environ_without_lgs

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
CLUSTER_STATE = TEST_STATE_ROOT / "cluster"
DBT = str(Path(sys.executable).with_name("dbt"))
# Everything a previous run of these tests generated, except the landed raw data.
GENERATED = (
    "cluster",
    "postgres",
    "metastore",
    "shared-warehouse",
    "warehouse",
    "metastore_db",
    "tmp",
    "export",
    "target",
    "dbt-logs",
)


@dataclass
class Services:
    """A running metastore and cluster on one state folder."""

    paths: ProjectPaths
    env: dict[str, str]
    webui_port: int
    sockets: list[tuple[int, str, int]] = field(default_factory=list)

    def record(self, name: str) -> ServiceProcess:
        found = ServiceProcess.read(cluster.ClusterLayout(self.paths.state).pid_file(name))
        assert found is not None, f"no pid file for {name}"
        return found

    def master_state(self) -> dict:
        return cluster.master_state(self.webui_port) or {}


def isolated_env(state: Path, **extra: str) -> dict[str, str]:
    """The state folder's environment; dbt's artifacts and logs stay inside it, so that
    builds of other tests (or engineers) in the same checkout never share `target/`."""
    env = environ_without_lgs()
    env.update(
        LGS_STATE_DIR=str(state),
        DO_NOT_TRACK="1",
        DBT_TARGET_PATH=str(state / "target"),
        DBT_LOG_PATH=str(state / "dbt-logs"),
        **extra,
    )
    return env


def run_lgs(
    args: list[str], env: dict[str, str], check: bool = True, timeout: float = 1800
) -> subprocess.CompletedProcess:
    """`lgs ...` in a new process; on failure the assertion shows its output."""
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"lgs {' '.join(args)} exited {result.returncode}\n--- stdout\n"
            f"{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def reset_state(paths: ProjectPaths) -> None:
    """Stop leftovers of an interrupted run and remove everything but the raw data."""
    cluster.stop(paths)
    metastore.stop(paths)
    metastore.remove_state(paths)
    for name in GENERATED:
        shutil.rmtree(paths.state / name, ignore_errors=True)


def land_raw(state: Path, source: Path) -> None:
    """Land a copy of another state's raw files (modification times kept): the sales files
    of ``source`` and the campaign assignments beside them."""
    for folder in ("online_retail_ii", "campaign_assignments"):
        raw = state / "raw" / folder
        shutil.rmtree(raw, ignore_errors=True)
        shutil.copytree(source.parent / folder, raw)


def export_tables(env: dict[str, str], out: Path, target: str) -> dict[str, pd.DataFrame]:
    """Read every table of the target's catalog through a NEW Spark process."""
    result = run_lgs(["export", "--out", str(out), "--target", target], env)
    frames = {}
    for line in result.stdout.splitlines():
        if "\t" in line:
            name, path = line.split("\t", 1)
            frames[name] = pd.read_parquet(path)
    return frames


def _is_nested(column: pd.Series) -> bool:
    return bool(column.map(lambda value: isinstance(value, (list, tuple, np.ndarray))).any())


def _leaves(value: object) -> list:
    """The scalars of a (nested) array value, in order: [[1, 2], [3]] → [1, 2, 3]."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _same_leaves(actual: object, expected: object) -> bool:
    """Array cells: numbers within 1e-9, anything else (strings, ids) exactly equal."""
    left, right = _leaves(actual), _leaves(expected)
    if len(left) != len(right):
        return False
    numeric = all(isinstance(leaf, (int, float, np.number)) for leaf in left + right)
    if numeric:
        return bool(np.allclose(left, right, rtol=1e-9, atol=1e-9, equal_nan=True))
    return left == right


def assert_frames_equal(name: str, actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and rows; floats within 1e-9 (in arrays too), everything else (money as
    Decimal) exact. Rows are matched after sorting, as table order means nothing."""
    assert list(actual.columns) == list(expected.columns), name
    assert len(actual) == len(expected), f"{name}: {len(actual)} rows vs {len(expected)}"
    nested = [
        c for c in expected.columns if expected[c].dtype == object and _is_nested(expected[c])
    ]
    floats = [c for c in expected.columns if pd.api.types.is_float_dtype(expected[c])]
    keys = [c for c in expected.columns if c not in floats and c not in nested]

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        # Rounded floats only break ties between rows with equal keys.
        tie_breakers = {f"__{c}": frame[c].round(6) for c in floats}
        return (
            frame.assign(**tie_breakers)
            .sort_values([*keys, *tie_breakers], ignore_index=True)
            .drop(columns=list(tie_breakers))
        )

    if keys or floats:
        actual, expected = ordered(actual), ordered(expected)
    for column in keys:
        mismatched = actual[column].ne(expected[column]) & ~(
            actual[column].isna() & expected[column].isna()
        )
        assert not mismatched.any(), f"{name}.{column}: {actual[column][mismatched].head()}"
    for column in floats:
        assert np.allclose(
            actual[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
        ), f"{name}.{column} differs beyond 1e-9"
    for column in nested:
        differing = [
            row
            for row, (left, right) in enumerate(zip(actual[column], expected[column], strict=True))
            if not _same_leaves(left, right)
        ]
        assert not differing, f"{name}.{column} differs in rows {differing[:5]}"


@pytest.fixture(scope="module")
def services(malformed_build) -> Iterator[Services]:
    """Metastore + standalone cluster (1 master, 2 workers) on free loopback ports."""
    paths = ProjectPaths(root=PROJECT_ROOT, state=CLUSTER_STATE)
    reset_state(paths)
    port, webui_port, metastore_port = free_ports(3)
    env = isolated_env(
        CLUSTER_STATE,
        LGS_SPARK_MASTER=f"spark://{LOOPBACK}:{port}",
        LGS_METASTORE_PORT=str(metastore_port),
    )
    land_raw(CLUSTER_STATE, malformed_build.raw)
    try:
        run_lgs(["metastore", "start"], env, timeout=600)
        started = time.monotonic()
        result = run_lgs(
            [
                "cluster",
                "start",
                "--workers",
                "2",
                "--port",
                str(port),
                "--webui-port",
                str(webui_port),
            ],
            env,
            timeout=600,
        )
        print(result.stdout, f"(cluster up in {time.monotonic() - started:.0f} s)")
        yield Services(paths=paths, env=env, webui_port=webui_port)
    finally:
        cluster.stop(paths)
        metastore.stop(paths)


@dataclass
class ClusterBuild:
    result: subprocess.CompletedProcess
    seconds: float
    killed_worker: ServiceProcess
    sockets: list[tuple[int, str, int]]
    executor_commands: list[list[str]]


def _executor_commands(pids: list[int]) -> list[list[str]]:
    """The command lines of the Spark executor JVMs among ``pids``."""
    commands = []
    for pid in pids:
        try:
            command = psutil.Process(pid).cmdline()
        except psutil.Error:
            continue
        if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in command:
            commands.append(command)
    return commands


def _watch(stream, lines: list[str], started: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        # "START sql table model ..." or "... incremental model ...": any materialization.
        if "START sql " in line and "stg_online_retail__" in line:
            started.set()


@pytest.fixture(scope="module")
def cluster_build(services: Services) -> ClusterBuild:
    """`lgs build --target cluster`; SIGKILL worker-2 once staging runs on its executor.

    Models and data tests: `lgs build` leaves dbt's unit tests out (they run on fixed
    inputs and say nothing about the cluster; the malformed-dataset build runs them)."""
    stderr_path = services.paths.state / "build.stderr"
    started_at = time.monotonic()
    with stderr_path.open("w") as stderr:
        build = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lgs_analytics.cli",
                "build",
                "--target",
                "cluster",
                "--skip-docs",
                "--skip-report",
                "--force",
            ],
            cwd=PROJECT_ROOT,
            env=services.env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            # Its own process group: a failing test kills the build's Spark JVM with it.
            start_new_session=True,
        )
        lines: list[str] = []
        staging_started = threading.Event()
        reader = threading.Thread(
            target=_watch, args=(build.stdout, lines, staging_started), daemon=True
        )
        reader.start()
        try:
            victim = services.record("worker-2")
            while not staging_started.wait(1):
                if build.poll() is not None or time.monotonic() - started_at > 900:
                    raise AssertionError(
                        "dbt never started a staging model:\n" + "".join(lines[-40:])
                    )

            def executor_on_every_worker() -> bool:
                workers = services.master_state().get("workers", [])
                alive = [worker for worker in workers if worker.get("state") == "ALIVE"]
                return len(alive) == 2 and all(worker.get("coresused", 0) > 0 for worker in alive)

            wait_until(
                executor_on_every_worker,
                timeout=120,
                failure="the application never had an executor on every worker",
            )
            # Every process of the services, executors and the dbt driver included.
            pids = [
                pid
                for name in ("master", "worker-1", "worker-2")
                for pid in descendants(services.record(name).pid)
            ]
            pids += descendants(build.pid)
            pids.append(metastore.server_pid(metastore.MetastoreLayout(services.paths.state)))
            sockets = listening_sockets(pids)
            executor_commands = _executor_commands(pids)
            os.kill(victim.pid, signal.SIGKILL)
            returncode = build.wait(timeout=1800)
        finally:
            if build.poll() is None:
                os.killpg(build.pid, signal.SIGKILL)
                build.wait()
        reader.join(timeout=10)
    result = subprocess.CompletedProcess(
        build.args, returncode, "".join(lines), stderr_path.read_text(errors="replace")
    )
    return ClusterBuild(result, time.monotonic() - started_at, victim, sockets, executor_commands)


def test_cluster_daemons_listen_on_loopback_only(services: Services) -> None:
    pids = [services.record(name).pid for name in ("master", "worker-1", "worker-2")]
    pids.append(metastore.server_pid(metastore.MetastoreLayout(services.paths.state)))
    sockets = listening_sockets(pids)
    assert len(sockets) >= 1 + 2 * 3, sockets  # postgres; RPC and web UI of every daemon
    assert {address for _, address, _ in sockets} == {LOOPBACK}, sockets


def test_cluster_status_reports_registered_workers(services: Services) -> None:
    result = run_lgs(["cluster", "status"], services.env)
    assert '"alive_workers": 2' in result.stdout, result.stdout
    assert services.master_state().get("aliveworkers") == 2


def test_executors_run_python_with_the_project_interpreter(services: Services) -> None:
    """A driver without PYSPARK_PYTHON asks for `python3`: the workers resolve it to the venv."""
    probe = (
        "import sys\n"
        "from pyspark.sql import SparkSession\n"
        f"spark = (SparkSession.builder.master({services.env['LGS_SPARK_MASTER']!r})\n"
        "    .config('spark.driver.host', '127.0.0.1')\n"
        "    .config('spark.driver.bindAddress', '127.0.0.1')\n"
        "    .config('spark.ui.enabled', 'false').config('spark.executor.memory', '512m')\n"
        "    .getOrCreate())\n"
        "rdd = spark.sparkContext.parallelize(range(4), 4)\n"
        "print('PREFIXES', sorted(set(rdd.map(lambda _: sys.prefix).collect())))\n"
        "spark.stop()\n"
    )
    env = {k: v for k, v in services.env.items() if k != "PYSPARK_PYTHON"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"PREFIXES [{sys.prefix!r}]" in result.stdout, result.stdout


def test_executors_take_the_executor_java_options(cluster_build: ClusterBuild) -> None:
    """`LGS_EXECUTOR_JAVA_OPTIONS` reaches the JVM of every executor of the build (the suite
    sets the C1-only JIT, tests/python/conftest.py)."""
    options = os.environ["LGS_EXECUTOR_JAVA_OPTIONS"].split()
    assert options
    assert len(cluster_build.executor_commands) == 2, cluster_build.executor_commands
    for command in cluster_build.executor_commands:
        assert set(options) <= set(command), command


def test_build_survives_losing_a_worker(services: Services, cluster_build: ClusterBuild) -> None:
    result = cluster_build.result
    print(f"cluster build: {cluster_build.seconds:.0f} s")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "Completed successfully" in result.stdout
    assert not cluster_build.killed_worker.is_running()
    # The killed worker's executor exits with it (it watches its worker): nothing is left.
    wait_until(
        lambda: not cluster_build.killed_worker.group_members(),
        timeout=60,
        failure="the killed worker's executor outlived it",
    )
    # Spark noticed: the driver lost that executor mid-build and rescheduled its tasks.
    assert "Lost executor" in result.stderr, result.stderr[-3000:]


def test_everything_listened_on_loopback_only_during_the_build(
    cluster_build: ClusterBuild,
) -> None:
    sockets = cluster_build.sockets
    # Master, 2 workers, 2 executors, the dbt driver and PostgreSQL at least.
    assert len({pid for pid, _, _ in sockets}) >= 6, sockets
    assert {address for _, address, _ in sockets} == {LOOPBACK}, sockets


def test_cluster_marts_equal_the_local_build(
    services: Services, cluster_build: ClusterBuild, malformed_tables: dict[str, pd.DataFrame]
) -> None:
    # malformed_tables: the same data built on the `local` target, read in a new process.
    assert cluster_build.result.returncode == 0
    built = export_tables(services.env, services.paths.state / "export", "shared")
    marts = sorted(name for name in malformed_tables if name.startswith("lgs_marts."))
    assert len(marts) >= 9, marts
    assert sorted(name for name in built if name.startswith("lgs_marts.")) == marts
    for name in marts:
        assert_frames_equal(name, built[name], malformed_tables[name])
    # Money is exact: compare a Decimal total as well, not only row by row.
    assert (
        built["lgs_marts.monthly_sales"]["sales_amount"].sum()
        == malformed_tables["lgs_marts.monthly_sales"]["sales_amount"].sum()
    )
    assert isinstance(built["lgs_marts.monthly_sales"]["sales_amount"].iloc[0], Decimal)


def test_cluster_stop_leaves_no_process(services: Services) -> None:
    records = [services.record(name) for name in ("master", "worker-1", "worker-2")]
    result = run_lgs(["cluster", "stop"], services.env)
    assert "Stopped" in result.stdout
    assert not any(record.group_members() for record in records)
    status = run_lgs(["cluster", "status"], services.env, check=False)
    assert status.returncode == 3, status.stdout
