"""Readers on the shared catalog see a whole, consistent mart while dbt rebuilds it.

On the shared metastore (PostgreSQL, `lgs metastore start`), a reader process — a PySpark
"notebook" on the same catalog — queries `monthly_sales` in a loop while dbt, another
process, rebuilds it twice: a `--full-refresh` on the same data, then an incremental
build after a new file landed (the changed months are rebuilt). The first build and both
rebuilds run in one dbt process (as a long-lived orchestrator runs them), paused while
the reader starts and between the rebuilds. Every read must succeed
and return the table as it was before a rebuild or as it is after it: never an error,
never a mix.

The reader resolves the table in the catalog and lists its files anew for every query
(relation cache off), like a consumer that expects the latest data; each read is the
months, the total sales and the total sales lines of the mart. Every read, the rebuild
times and the Java causes of failed reads are written to `reads.jsonl` in the state folder.

Both rebuilds publish a new version of the mart by one metastore call (`alter table ...
set location`, src/dbt/include/sparkplus/macros/swap_table.sql): a full refresh through
the table swap, an incremental run through the `copy_on_write` strategy of the marts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lgs_analytics.paths import ProjectPaths
from lgs_analytics.services import metastore
from lgs_analytics.services.process import free_ports
from lgs_testing import PROJECT_ROOT
from reliability_testing import Steps, lgs, state_env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
STATE = TEST_STATE_ROOT / "shared-catalog-readers"
RAW = STATE / "raw" / "online_retail_ii"
MART = "lgs_marts.monthly_sales"
MODELS = ["--resource-type", "model", "--resource-type", "seed"]

READER = r"""
import json, sys, threading, time
from pyspark.sql import SparkSession
from lgs_analytics.paths import ProjectPaths
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
    lgs("generate", "--rows", "20000", "--seed", "11", "--out", str(RAW), env=env).assert_ok()
    try:
        lgs("metastore", "start", env=env).assert_ok()
        yield env
    finally:
        metastore.stop(paths)


def test_reads_during_rebuilds_see_the_whole_table_before_or_after(shared_env) -> None:
    # The three builds in one dbt process, as a long-lived orchestrator runs them, paused
    # while the reader starts and between the rebuilds (each then has reads before it).
    steps = Steps(shared_env, STATE / "steps", target="shared")
    late_sales = STATE / "late_sales.csv"
    late_sales.write_bytes(_late_sales())
    steps.start(
        [
            {"kind": "dbt", "args": ["build", "--select", "+monthly_sales", *MODELS]},
            steps.pause("built"),
            {
                "kind": "dbt",
                "args": ["build", "--select", "monthly_sales", "--full-refresh", *MODELS],
            },
            steps.pause("swapped"),
            {
                "kind": "land",
                "files": [[str(late_sales), str(RAW / "late_sales.csv"), time.time()]],
            },
            {"kind": "dbt", "args": ["build", "--select", "+monthly_sales", *MODELS]},
        ]
    )
    reader = None
    try:
        steps.reached("built")
        reader = Reader(shared_env)
        reader.wait_for_reads(3)
        steps.resume("built")
        steps.reached("swapped")
        reader.wait_for_reads(len(reader.records) + 3)
        steps.resume("swapped")
        results = steps.results()
        reader.wait_for_reads(len(reader.records) + 3)
    finally:
        steps.stop()
        if reader is not None:
            reader.stop()
    first, swap, incremental = (result for result in results if "dbt" in result)
    rebuilds = {
        "full refresh": (swap["started"], swap["ended"]),
        "incremental": (incremental["started"], incremental["ended"]),
    }
    print(
        f"builds: first {first['ended'] - first['started']:.0f} s, "
        f"full refresh {swap['ended'] - swap['started']:.0f} s, "
        f"incremental {incremental['ended'] - incremental['started']:.0f} s; "
        f"{len(reader.records)} reads"
    )
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
