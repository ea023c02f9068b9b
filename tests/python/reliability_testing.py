"""Helpers of the reliability tests: run dbt as a user does, read tables in a new process.

Importable from every test folder (tests/python is on pytest's path), like lgs_testing.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import get_session

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


# --- A killed build's state, read without Spark ---------------------------------------
#
# After a SIGKILL the embedded Derby metastore is free again (its lock died with the JVM).
# Reading it with Derby's own `ij` tool (a 2 s JVM, in pyspark's jars) and the tables'
# parquet folders with pyarrow checks a killed build in seconds, where a Spark reader
# takes half a minute. The catalog entry is what every reader resolves first; the folder
# it names is what a Spark reader lists and reads (files starting with `_` or `.`
# ignored, as Spark ignores them).

DERBY_JARS = ("derby", "derbytools", "derbyshared")
CATALOG_QUERIES = """
select 'ROW|T|' || d.NAME || '|' || t.TBL_NAME || '|' || t.TBL_TYPE || '|'
    || coalesce(s.LOCATION, '')
from TBLS t join DBS d on t.DB_ID = d.DB_ID left join SDS s on t.SD_ID = s.SD_ID;
select 'ROW|P|' || d.NAME || '|' || t.TBL_NAME || '|' || p.PARAM_KEY || '|'
    || cast(p.PARAM_VALUE as varchar(32000))
from TABLE_PARAMS p join TBLS t on p.TBL_ID = t.TBL_ID join DBS d on t.DB_ID = d.DB_ID
where p.PARAM_KEY like 'lgs.%';
select 'ROW|R|' || d.NAME || '|' || t.TBL_NAME || '|' || a.PART_NAME || '|' || s.LOCATION
from PARTITIONS a join TBLS t on a.TBL_ID = t.TBL_ID join DBS d on t.DB_ID = d.DB_ID
    join SDS s on a.SD_ID = s.SD_ID;
"""


@dataclass
class CatalogEntry:
    """One table or view of the metastore: kind (`MANAGED_TABLE`, `EXTERNAL_TABLE`,
    `VIRTUAL_VIEW`), location, `lgs.*` properties, and partition locations by name."""

    name: str
    kind: str
    location: str
    properties: dict[str, str] = field(default_factory=dict)
    partitions: dict[str, str] = field(default_factory=dict)


def _derby_classpath() -> str:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    return os.pathsep.join(str(next(jars.glob(f"{name}-[0-9]*.jar"))) for name in DERBY_JARS)


def derby_catalog(state: Path) -> dict[str, CatalogEntry]:
    """Every table and view of the state's embedded Derby metastore, by `schema.name`.

    Only while no other process has the metastore open (Derby admits one)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else "java"
    database = state / "metastore_db"
    assert database.is_dir(), f"no metastore in {state}"
    script = f"connect 'jdbc:derby:{database}';\n{CATALOG_QUERIES}\n"
    script += f"connect 'jdbc:derby:{database};shutdown=true';\n"
    result = subprocess.run(
        [
            java,
            "-Dij.maximumDisplayWidth=100000",
            f"-Dderby.stream.error.file={os.devnull}",
            "-cp",
            _derby_classpath(),
            "org.apache.derby.tools.ij",
        ],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("ERROR") and "shutdown" not in line
    ]
    assert result.returncode == 0 and not errors, result.stdout[-3000:] + result.stderr[-3000:]
    entries: dict[str, CatalogEntry] = {}
    later = []
    for line in result.stdout.splitlines():
        if not line.startswith("ROW|"):
            continue
        kind, schema, table, key, value = line.rstrip().split("|", 5)[1:]
        name = f"{schema}.{table}"
        if kind == "T":
            entries[name] = CatalogEntry(name, key, value)
        else:
            later.append((kind, name, key, value))
    for kind, name, key, value in later:
        target = entries[name].properties if kind == "P" else entries[name].partitions
        target[key] = value
    return entries


def local_path(location: str) -> Path:
    return Path(location.removeprefix("file:").replace("///", "/", 1))


def _comparable(value: object) -> object:
    """A value as it compares across builds: doubles to 12 significant digits (a sum's
    last bit may depend on summation order), everything else as its text."""
    if isinstance(value, float):
        return format(value, ".12g")
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


@dataclass
class FolderContent:
    """The rows of one parquet folder: how many, a hash of them (sorted, so independent of
    file and row order), and the latest `loaded_at` among them."""

    rows: int
    hash: str
    loaded_at: str | None


_CONTENTS: dict[tuple, FolderContent] = {}


def folder_content(
    location: str, exclude: frozenset[str] = frozenset(), file_columns: frozenset[str] = frozenset()
) -> FolderContent:
    """Read a table's (or partition's) parquet folder as Spark would, and hash its rows.

    `exclude`: columns left out (where and when a row was loaded); `file_columns`: columns
    holding a landed file's path, compared by file name (two state folders land the same
    files under different paths). Raises if the folder is missing or a file unreadable."""
    import hashlib

    import pyarrow.parquet as pq

    folder = local_path(location)
    if not folder.is_dir():
        raise FileNotFoundError(f"{location} does not exist")
    # The files a reader lists. Written files are never changed in place, so the same
    # listing has the same rows: read once per listing.
    listing = tuple(
        sorted(
            (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
            for entry in os.scandir(folder)
            if entry.is_file() and not entry.name.startswith(("_", "."))
        )
    )
    key = (str(folder), listing, exclude, file_columns)
    if key in _CONTENTS:
        return _CONTENTS[key]
    table = pq.read_table(folder, partitioning=None)
    columns = sorted(name for name in table.column_names if name not in exclude)
    loaded = None
    if "loaded_at" in table.column_names and table.num_rows:
        import pyarrow.compute as pc

        loaded = str(pc.max(table.column("loaded_at")).as_py())
    lines = []
    for row in table.select(columns).to_pylist():
        for column in file_columns & row.keys():
            if row[column] is not None:
                row[column] = row[column].rsplit("/", 1)[-1]
        lines.append(json.dumps({key: _comparable(value) for key, value in row.items()}))
    digest = hashlib.sha256("\x1f".join(columns).encode())
    for line in sorted(lines):
        digest.update(b"\n" + line.encode())
    _CONTENTS[key] = FolderContent(table.num_rows, digest.hexdigest(), loaded)
    return _CONTENTS[key]


@dataclass
class EventRun:
    """A `dbt` run followed through its JSON log events: killed by the test or ended."""

    returncode: int
    events: list[dict]
    killed: bool
    seconds: float
    other_output: list[str] = field(default_factory=list)

    def tail(self, lines: int = 60) -> str:
        texts = [event["info"]["msg"] for event in self.events[-lines:]]
        return "\n".join(self.other_output[-20:] + texts)


def dbt_events(
    *args: str,
    env: dict[str, str],
    stop: Callable[[dict | None], bool] | None = None,
    timeout: float = 1800,
) -> EventRun:
    """Run the stock `dbt` command with debug-level JSON log events on its output, and
    SIGKILL it and its Spark JVM as soon as ``stop(event)`` returns true.

    ``stop`` sees every event (dbt's structured log: NodeStart, SQLQuery with the
    statement, SQLQueryStatus, NodeFinished, ...) and, every 10 ms while none comes,
    ``None``, so that it can also watch files. The events a killed run logged before it
    died are all returned (a statement is logged before it is run)."""
    command = [
        DBT,
        *args,
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--project-dir",
        str(PROJECT_ROOT),
        "--profiles-dir",
        str(PROJECT_ROOT),
    ]
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
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    events: list[dict] = []
    other: list[str] = []
    killed = False

    def take(line: str) -> dict | None:
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                other.append(line)
                return None
            events.append(event)
            return event
        other.append(line)
        return None

    try:
        while True:
            assert time.monotonic() - started < timeout, f"dbt {args} ran over {timeout} s"
            try:
                line = lines.get(timeout=0.01)
            except queue.Empty:
                line = ""
            if line is None:
                break
            event = take(line) if line else None
            if stop is not None and (event is not None or not line) and stop(event):
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        if process.poll() is None and not killed:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_for_group_end(process.pid)
        reader.join(timeout=60)
        while not lines.empty():
            line = lines.get()
            if line:
                take(line)
    return EventRun(process.returncode, events, killed, time.monotonic() - started, other)


def _wait_for_group_end(group: int, timeout: float = 60) -> None:
    """Wait until no process of the group is left (the Spark JVM holds the metastore)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {group} still alive {timeout} s after the kill")
