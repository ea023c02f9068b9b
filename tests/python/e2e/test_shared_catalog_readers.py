"""Writers and readers on the shared catalog: one writer at a time, and readers see a whole
mart, before or after a rebuild, while builds come and go.

On the shared metastore (PostgreSQL, `lgs metastore start`), a reader process — a PySpark
"notebook" on the same catalog — queries `monthly_sales` in a loop while:

1. a first build (a clean one: the catalog is empty) has run in a paused dbt process
   (as a long-lived orchestrator runs builds), which takes the checksum of every table;
2. a plain `dbt build` is SIGKILLed while it holds the shared catalog's writer lock (see
   src/dbt/adapters/sparkplus/writer_lock.py): its lock goes with it, no step needed;
3. two `dbt build --full-refresh` processes start together, as two users would start
   them: one takes the writer lock, the other waits (saying for whom) and builds after
   it; a third, started meanwhile with `LGS_WRITER_LOCK_WAIT=0`, fails at once with one
   sentence naming the holder's pid. Both builds succeed, and every table then equals the
   clean build's (row hashes: the paused process takes the checksums again);
4. the paused process builds again after a new file landed (the changed months are
   rebuilt incrementally).

Every read must succeed and return the table as it was before a rebuild or as it is after
it: never an error, never a mix. Without the writer lock the two builds of step 3 replace
each other's seeds and delete each other's version folders (issue 24).

The reader resolves the table in the catalog and lists its files anew for every query
(relation cache off), like a consumer that expects the latest data; each read is the
months, the total sales and the total sales lines of the mart. Every read, the rebuild
times and the Java causes of failed reads are written to `reads.jsonl` in the state folder.

The rebuilds publish a new version of the mart by one metastore call (`alter table ...
set location`, src/dbt/include/sparkplus/macros/swap_table.sql): a full refresh through
the table swap, an incremental run through the `copy_on_write` strategy of the marts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pg8000.native
import pytest

from dbt.adapters.sparkplus.writer_lock import current_holder, metastore_database
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services import metastore
from lgs_analytics.services.process import free_ports
from lgs_testing import PROJECT_ROOT
from reliability_testing import DBT, STACK_TRACE_MARKERS, Steps, lgs, state_env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
STATE = TEST_STATE_ROOT / "shared-catalog-readers"
RAW = STATE / "raw" / "online_retail_ii"
MART = "lgs_marts.monthly_sales"
MODELS = ["--resource-type", "model", "--resource-type", "seed"]
BUILD = ["build", "--select", "+monthly_sales", *MODELS]
# Every table and view the builds write; `loaded_at` says when a row was written.
CHECKSUMS = {
    "kind": "read",
    "schemas": ["lgs_staging", "lgs_intermediate", "lgs_marts", "lgs_reference"],
    "exclude": ["loaded_at"],
}

READER = r"""
import json, sys, threading, time
from pyspark.sql import SparkSession
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services.metastore import require_running

layout = require_running(ProjectPaths.discover())
spark = (
    SparkSession.builder.master("local[1]").appName("lgs-test-reader")
    .config("spark.driver.extraClassPath", layout.classpath())
    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
    # No cached relation or file listing: every query asks the catalog and lists files.
    .config("spark.sql.filesourceTableRelationCacheSize", "0")
    .enableHiveSupport().getOrCreate()
)
spark.sparkContext.setLogLevel("OFF")
stopped = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stopped.set()), daemon=True).start()
query = (
    "select count(*) as months, cast(sum(sales_amount) as string) as sales, "
    f"sum(sales_lines) as lines from {sys.argv[1]}"
)
while not stopped.is_set():
    started = time.time()
    try:
        row = spark.sql(query).first()
        record = {"at": started, "read": [row["months"], row["sales"], row["lines"]]}
    except Exception as error:  # the test reports every failed read, with its Java causes
        causes, java = [], getattr(error, "java_exception", None)
        while java is not None and len(causes) < 4:
            causes.append(str(java.toString()).splitlines()[0][:240])
            java = java.getCause()
        text = " <- ".join(causes) or str(error).strip().splitlines()[0][:400]
        record = {"at": started, "error": text}
    print(json.dumps(record), flush=True)
    # A read takes ~0.15 s: a pause as long leaves a core to the build being read during
    # (2 cores), and still reads several times a second through every rebuild.
    stopped.wait(0.15)
"""


class Reader:
    """The reader process and the reads it printed, with their start times."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", READER, MART],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.records: list[dict] = []
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.records.append(json.loads(line))

    def wait_for_reads(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            assert self.process.poll() is None, "the reader died"
            assert time.monotonic() < deadline, "the reader never read"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self._thread.join(timeout=10)


def _late_sales(last_month_rows: int = 40) -> bytes:
    """A new landed file: sales in the last month of the generated data."""
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
    lines = [
        f"{990000 + n},85123A,WHITE HANGING HEART T-LIGHT HOLDER,{n % 12 + 1},"
        f"2011-12-08 1{n % 10}:00:00,2.95,17850.0,United Kingdom"
        for n in range(last_month_rows)
    ]
    return ("\n".join([header, *lines]) + "\n").encode()


@pytest.fixture(scope="module")
def shared_env():
    paths = ProjectPaths(root=PROJECT_ROOT, state=STATE)
    metastore.stop(paths)
    shutil.rmtree(STATE, ignore_errors=True)
    [port] = free_ports(1)
    env = state_env(STATE, LGS_METASTORE_PORT=str(port), LGS_TARGET="shared")
    lgs("generate", "--rows", "3000", "--seed", "11", "--out", str(RAW), env=env).assert_ok()
    try:
        lgs("metastore", "start", env=env).assert_ok()
        yield env
    finally:
        metastore.stop(paths)


class Writer:
    """A plain `dbt build` process, as a user starts it, with its own log and dbt folders."""

    def __init__(self, env: dict[str, str], name: str, *args: str, **extra: str) -> None:
        folder = STATE / "writers" / name
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "dbt.out"
        self.started = time.time()
        self.ended: float | None = None
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    DBT,
                    *args,
                    "--project-dir",
                    str(PROJECT_ROOT),
                    "--profiles-dir",
                    str(PROJECT_ROOT),
                ],
                cwd=PROJECT_ROOT,
                env={
                    **env,
                    # Concurrent dbt processes must not share dbt's artifacts or logs.
                    "DBT_TARGET_PATH": str(folder / "target"),
                    "DBT_LOG_PATH": str(folder / "logs"),
                    **extra,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        # Its end time as it happens, whichever process the test is waiting for then.
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        self.process.wait()
        self.ended = time.time()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 1200) -> int:
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.kill()
        self._watcher.join(timeout=10)
        return self.process.returncode

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


class WriterLockView:
    """Who holds the shared catalog's writer lock, asked of its PostgreSQL as a build does."""

    def __init__(self) -> None:
        layout = metastore.MetastoreLayout.for_paths(ProjectPaths(root=PROJECT_ROOT, state=STATE))
        database = metastore_database({"spark.driver.extraClassPath": layout.classpath()}, {})
        assert database is not None
        self.database = database

    def holder_pid(self) -> int | None:
        target = self.database
        with pg8000.native.Connection(
            target.user,
            host=target.host,
            port=target.port,
            database=target.database,
            password=target.password,
        ) as connection:
            holder = current_holder(connection)
        return None if holder is None else holder.pid

    def wait_for(
        self,
        wanted: Callable[[int | None], bool],
        what: str,
        timeout: float,
        writers: tuple[Writer, ...] = (),
    ) -> int | None:
        """The holder's pid once `wanted` says yes; fails if one of `writers` ends first."""
        deadline = time.monotonic() + timeout
        while True:
            pid = self.holder_pid()
            if wanted(pid):
                return pid
            for writer in writers:
                assert writer.running(), f"{what}: {writer.output[-4000:]}"
            assert time.monotonic() < deadline, f"{what}: the holder is still {pid}"
            time.sleep(0.2)


def _concurrent_builds(env: dict[str, str], lock: WriterLockView) -> dict:
    """Steps 2 and 3 of the module's docstring; the two builds' start and end times."""
    full_refresh = [*BUILD, "--full-refresh"]
    killed = Writer(env, "killed", *full_refresh)
    try:
        lock.wait_for(
            lambda pid: pid == killed.pid, "the build to kill never took the lock", 900, (killed,)
        )
        killed.kill()
        started = time.monotonic()
        lock.wait_for(lambda pid: pid is None, "a killed build's lock stayed", 10)
        print(f"lock of the killed build gone after {time.monotonic() - started:.1f} s")
    finally:
        killed.kill()
    writers = [
        Writer(env, f"writer-{n}", *full_refresh, LGS_WRITER_LOCK_WAIT="900") for n in (1, 2)
    ]
    impatient = None
    try:
        holder_pid = lock.wait_for(
            lambda pid: pid in {writer.pid for writer in writers},
            "no build took the lock",
            900,
            tuple(writers),
        )
        [holder] = [writer for writer in writers if writer.pid == holder_pid]
        [waiter] = [writer for writer in writers if writer is not holder]
        impatient = Writer(env, "impatient", *full_refresh, LGS_WRITER_LOCK_WAIT="0")
        assert impatient.wait() != 0, impatient.output[-3000:]
        holder_still_running = holder.running()
        for writer in writers:
            assert writer.wait() == 0, writer.output[-6000:]
    finally:
        for writer in [*writers, *([impatient] if impatient else [])]:
            writer.kill()
    refused = impatient.output
    where, host = lock.database.where, socket.gethostname()
    sentence = f"writing the shared catalog ({where}; pid {holder.pid} on {host}, started "
    assert sentence in refused, refused[-3000:]
    assert "LGS_WRITER_LOCK_WAIT" in refused
    assert not any(marker in refused for marker in STACK_TRACE_MARKERS), refused[-3000:]
    assert holder_still_running, "the build refused at once ended after the holder"
    waited = waiter.output
    wait_line = f"Waiting up to 900 s for the writer lock of the shared catalog ({where}), "
    assert f"{wait_line}held by pid {holder.pid} on {host}" in waited, waited[-3000:]
    print(
        f"builds together: the holder {holder.ended - holder.started:.0f} s, the waiter "
        f"{waiter.ended - waiter.started:.0f} s (its build after the holder's "
        f"{waiter.ended - holder.ended:.0f} s), the refused one "
        f"{impatient.ended - impatient.started:.0f} s"
    )
    return {
        "held first": (holder.started, holder.ended),
        "waited": (holder.ended, waiter.ended),
    }


def test_writers_one_at_a_time_and_readers_see_the_whole_table(shared_env) -> None:
    # The first and last builds in one dbt process, paused while the reader starts and
    # the concurrent builds run (it holds no lock between builds).
    steps = Steps(shared_env, STATE / "steps", target="shared")
    late_sales = STATE / "late_sales.csv"
    late_sales.write_bytes(_late_sales())
    steps.start(
        [
            {"kind": "dbt", "args": BUILD},
            CHECKSUMS,
            steps.pause("built"),
            CHECKSUMS,
            {
                "kind": "land",
                "files": [[str(late_sales), str(RAW / "late_sales.csv"), time.time()]],
            },
            {"kind": "dbt", "args": BUILD},
        ]
    )
    reader = None
    try:
        steps.reached("built")
        reader = Reader(shared_env)
        reader.wait_for_reads(3)
        rebuilds = _concurrent_builds(shared_env, WriterLockView())
        reader.wait_for_reads(len(reader.records) + 3)
        steps.resume("built")
        results = steps.results()
        reader.wait_for_reads(len(reader.records) + 3)
    finally:
        steps.stop()
        if reader is not None:
            reader.stop()
    first, clean, _, again, _, incremental = results
    rebuilds["incremental"] = (incremental["started"], incremental["ended"])
    print(
        f"builds: first {first['ended'] - first['started']:.0f} s, "
        f"incremental {incremental['ended'] - incremental['started']:.0f} s; "
        f"{len(reader.records)} reads"
    )
    assert clean["checksums"], "the clean build wrote no table"
    changed = {
        name: (checksum, again["checksums"].get(name))
        for name, checksum in clean["checksums"].items()
        if again["checksums"].get(name) != checksum
    }
    assert not changed, f"after the builds together, tables differ from a clean build: {changed}"
    assert set(again["checksums"]) == set(clean["checksums"]), "tables added or lost"

    rebuild_times = json.dumps(rebuilds)
    lines = [json.dumps(record) for record in reader.records]
    (STATE / "reads.jsonl").write_text("\n".join([rebuild_times, *lines]) + "\n")
    outcomes = Counter(
        str(record.get("read") or record["error"][:160]) for record in reader.records
    )
    print("\n".join(f"{count:5d} × {outcome}" for outcome, count in outcomes.items()))
    reads = [tuple(record["read"]) for record in reader.records if "read" in record]
    before, after = reads[0], reads[-1]
    assert after[2] == before[2] + 40, ("the late sales are not in the mart", before, after)
    for name, (start, end) in rebuilds.items():
        overlapping = [r for r in reader.records if start <= r["at"] <= end]
        assert overlapping, f"no read ran during the {name} rebuild"
    bad = [
        record
        for record in reader.records
        if "error" in record or tuple(record["read"]) not in {before, after}
    ]
    assert not bad, (
        f"{len(bad)} of {len(reader.records)} reads saw no whole table (before: {before}, "
        f"after: {after}): {bad[:6]}"
    )
