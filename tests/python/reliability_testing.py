"""Helpers of the reliability tests: run dbt as a user does, read tables in a new process.

Importable from every test folder (tests/python is on pytest's path), like lgs_testing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lgs_analytics.services.process import descendants, listening_sockets
from lgs_testing import PROJECT_ROOT, environ_without_lgs

DBT = str(Path(sys.executable).with_name("dbt"))
STACK_TRACE_MARKERS = ("Traceback (most recent call last)", "\tat org.", "Py4JJavaError")

# Runs a list of steps in ONE new Spark process on the state's catalog and prints one JSON
# document: `dbt` steps run dbt in this process (as `lgs build` does: dbt's SparkSession is
# the one get_session returns), `read` steps return the rows of named queries and a
# checksum of every table and view of the given schemas (rows: None for a view).
STEPS = r"""
import json, os, shutil, sys, time
from lgs_analytics.paths import ProjectPaths
from lgs_analytics.spark_session import get_session

request = json.loads(sys.argv[1])
paths = ProjectPaths.discover()
spark = get_session(paths, request.get("target", "local"), app_name="lgs-read")
spark.sparkContext.setLogLevel("ERROR")

def row_hashes(table, exclude):
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType
    frame = spark.table(table)
    columns = []
    for column in frame.schema.fields:
        if column.name in exclude:
            continue
        value = F.col(f"`{column.name}`")
        if isinstance(column.dataType, (DoubleType, FloatType)):
            # Doubles are compared to 12 significant digits: a sum of doubles may differ
            # in its last bit between runs (summation order), which is not a change.
            value = F.format_string("%.12g", value)
        columns.append(value.alias(column.name))
    return frame.select(
        F.lit(table).alias("table_name"),
        F.sha2(F.to_json(F.struct(*columns)), 256).alias("row_hash"),
    )

def checksums(schemas, exclude):
    # Tables: the sorted row hashes of each, hashed again, all in one Spark job. Persistent
    # views (the audit schema's stored test failures, view models): the hash of their
    # definition, as the rows a view lists follow from its text and the tables it reads,
    # which are checksummed too. Not this session's temporary views (dbt's `__dbt_tmp`).
    import hashlib
    import re
    from functools import reduce
    from pyspark.sql import functions as F
    objects = {
        f"{schema}.{table.name}": table.tableType
        for schema in schemas
        if spark.catalog.databaseExists(schema)
        for table in spark.catalog.listTables(schema)
        if table.tableType != "TEMPORARY" and not table.isTemporary
    }
    found = {}
    for name, kind in objects.items():
        if kind == "VIEW":
            text = spark.sql(f"show create table {name}").collect()[0][0]
            # The metastore's time of the last DDL changes whenever a view is replaced.
            text = re.sub(r"'transient_lastDdlTime' = '[0-9]+'", "", text)
            found[name] = {"rows": None, "hash": hashlib.sha256(text.encode()).hexdigest()}
    tables = [name for name, kind in objects.items() if kind != "VIEW"]
    for name in tables:
        # Another process may have rebuilt it since this session last read it (shared
        # catalog): this session's cached file listing would name files gone since.
        spark.catalog.refreshTable(name)
    if tables:
        hashes = reduce(lambda a, b: a.unionByName(b), [row_hashes(n, exclude) for n in tables])
        rows = hashes.groupBy("table_name").agg(
            F.count(F.lit(1)).alias("rows"),
            F.sha2(F.concat_ws(",", F.sort_array(F.collect_list("row_hash"))), 256).alias("hash"),
        ).collect()
        for row in rows:
            found[row["table_name"]] = {"rows": row["rows"], "hash": row["hash"]}
    return {name: found.get(name, {"rows": 0, "hash": None}) for name in objects}

results = []
for step in request["steps"]:
    if step["kind"] == "dbt":
        from dbt.cli.main import dbtRunner
        started = time.time()
        result = dbtRunner().invoke(
            [*step["args"], "--project-dir", str(paths.root), "--profiles-dir", str(paths.root)]
        )
        # A step that may fail (a test meant to catch something) records its outcome.
        if not result.success and not step.get("may_fail"):
            sys.exit(f"dbt {step['args']} failed: {result.exception}")
        nodes = getattr(result.result, "results", None) or []
        results.append({
            "dbt": step["args"],
            "success": result.success,
            "started": started,
            "ended": time.time(),
            "statuses": {
                str(getattr(getattr(node, "node", None), "unique_id", None)):
                str(getattr(node.status, "value", node.status))
                for node in nodes
            },
        })
    elif step["kind"] == "land":
        # Files land between builds: copied in, with the modification time given (a
        # source of None deletes the landed file).
        for source, target, mtime in step["files"]:
            if source is None:
                os.remove(target)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            os.utime(target, (mtime, mtime))
        results.append({"landed": [target for _, target, _ in step["files"]]})
    elif step["kind"] == "pause":
        # Tell the test this point is reached (a file appears); go on when it says so.
        open(step["reached"], "w").close()
        deadline = time.monotonic() + step.get("timeout", 600)
        while not os.path.exists(step["resume"]):
            if time.monotonic() > deadline:
                sys.exit(f"no go-ahead at {step['reached']}")
            time.sleep(0.2)
        results.append({"paused": step["reached"]})
    else:
        queries = {
            name: [row.asDict(recursive=True) for row in spark.sql(sql).collect()]
            for name, sql in step.get("queries", {}).items()
        }
        results.append({
            "queries": queries,
            "checksums": checksums(step.get("schemas", []), set(step.get("exclude", []))),
        })
print("RESULT " + json.dumps(results, default=str))
"""


def state_env(state: Path, **extra: str) -> dict[str, str]:
    """Environment of a run on its own state folder (dbt artifacts and logs inside it)."""
    env = environ_without_lgs()
    env.update(
        LGS_STATE_DIR=str(state),
        DBT_TARGET_PATH=str(state / "target"),
        DBT_LOG_PATH=str(state / "logs"),
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        PYSPARK_PYTHON=sys.executable,
    )
    env.update(extra)
    return env


@dataclass
class Run:
    """A finished command: exit code, output, duration and the sockets its processes held."""

    returncode: int
    output: str
    seconds: float
    sockets: set[tuple[str, int]] = field(default_factory=set)

    def assert_ok(self) -> Run:
        assert self.returncode == 0, self.output[-8000:]
        return self


def run_watched(command: list[str], env: dict[str, str], timeout: float = 1800) -> Run:
    """Run a command from the project root, recording every TCP socket its process tree
    listened on while it ran (sampled each second)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sockets: set[tuple[str, int]] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            sockets.update((address, port) for _, address, port in _tree_sockets(process.pid))
            done.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        done.set()
        watcher.join(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()
    return Run(process.returncode, output, time.monotonic() - started, sockets)


def _tree_sockets(pid: int) -> list[tuple[int, str, int]]:
    try:
        return listening_sockets(descendants(pid))
    except OSError:  # a process ended while it was being looked at
        return []


def dbt(*args: str, env: dict[str, str], timeout: float = 1800) -> Run:
    """The stock `dbt` command from the project root, as a user runs it."""
    command = [DBT, *args, "--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)]
    return run_watched(command, env, timeout)


def lgs(*args: str, env: dict[str, str], timeout: float = 1800) -> Run:
    return run_watched([sys.executable, "-m", "lgs_analytics.cli", *args], env, timeout)


def _steps_command(steps: list[dict], target: str) -> list[str]:
    return [sys.executable, "-c", STEPS, json.dumps({"steps": steps, "target": target})]


def _step_results(returncode: int, output: str) -> list[dict]:
    """The results of a finished steps process; its output's tail if it failed."""
    assert returncode == 0 and "RESULT " in output, output[-6000:]
    # One line of JSON; the JVM may write to a merged stderr after it.
    return json.loads(output.split("RESULT ", 1)[1].splitlines()[0])


def run_steps(env: dict[str, str], steps: list[dict], target: str = "local") -> list[dict]:
    """Run dbt and read steps in one new Spark process; the results of each step, in order.

    A step is ``{"kind": "dbt", "args": [...]}``, ``{"kind": "read", "queries": {name:
    sql}, "schemas": [...], "exclude": [column names left out of the checksums]}`` or
    ``{"kind": "land", "files": [[source, target, mtime], ...]}`` (files copied in between
    builds, with that modification time; a source of None deletes the target). A dbt step
    with ``"may_fail": True`` records ``success`` instead of ending the process. A dbt
    step's result has its start and end (``time.time()``); ``{"kind": "pause", "reached":
    path, "resume": path}`` creates the first file and waits for the second (see
    ``Steps``, which runs steps in the background).
    """
    return run_steps_watched(env, steps, target)[1]


def run_steps_watched(
    env: dict[str, str], steps: list[dict], target: str = "local"
) -> tuple[Run, list[dict]]:
    """`run_steps`, watched like `dbt()`: the process's output (dbt's console output
    included) and the sockets it listened on, with the results of each step."""
    run = run_watched(_steps_command(steps, target), env, timeout=3600)
    return run, _step_results(run.returncode, run.output)


class Steps:
    """Steps run in the background by one new Spark process, paused where the test acts.

    ``pause(name)`` is a step: the process says it got there (`reached(name)` waits for
    that) and waits for `resume(name)`. The output goes to ``log``, not a pipe that a busy
    build could fill; `results()` waits for the end and returns each step's result.
    """

    def __init__(self, env: dict[str, str], folder: Path, target: str = "local") -> None:
        self.env, self.folder, self.target = env, folder, target
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "steps.log"
        self.process: subprocess.Popen | None = None

    def pause(self, name: str) -> dict:
        reached, resume = self.folder / f"{name}.reached", self.folder / f"{name}.resume"
        for path in (reached, resume):
            path.unlink(missing_ok=True)
        return {"kind": "pause", "reached": str(reached), "resume": str(resume)}

    def start(self, steps: list[dict]) -> Steps:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                _steps_command(steps, self.target),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        return self

    def reached(self, name: str, timeout: float = 900) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not (self.folder / f"{name}.reached").exists():
            assert self.process.poll() is None, self.log.read_text()[-6000:]
            assert time.monotonic() < deadline, f"steps never reached {name}"
            time.sleep(0.2)

    def resume(self, name: str) -> None:
        (self.folder / f"{name}.resume").touch()

    def results(self, timeout: float = 1800) -> list[dict]:
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.stop()
        return _step_results(self.process.returncode, self.log.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def read_state(
    env: dict[str, str], queries: dict[str, str] | None = None, target: str = "local"
) -> dict[str, list[dict]]:
    """The rows of named queries, read by a new Spark process on the state's catalog."""
    [read] = run_steps(env, [{"kind": "read", "queries": queries or {}}], target)
    return read["queries"]
