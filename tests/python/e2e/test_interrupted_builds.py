"""Killing `dbt build` of the real pipeline never publishes a missing, half-written or mixed
table, never advances a watermark past an unfinished load, and the rerun heals.

The scenario is an incremental load, where the version before a run and the version after
it differ. A state folder is built on the generated rows up to day D; one more file lands
(the last days and one old day: staging rewrites three months, the monthly marts rebuild
from the old month on, every Python model changes). Then builds are SIGKILLed in turn at
points chosen from the nodes' own events (dbt's JSON log: the statement a node starts,
its status; and the files a write creates), each kill during the rerun of the last:

- staging's incremental `insert overwrite` while its month partitions are being written,
  and after they were replaced but before the watermark was recorded;
- a table's new version folder, an incremental mart's copy-on-write version and two
  Python models' tables while they are being written;
- the swap: right after `alter table … set location` published a version, while another
  is published, and while a published version's own catalog entry is detached;
- while a staging model records its watermark.

Each killed build selects only the models its kill point needs that are not yet rebuilt
(the point's model and its ancestors): a rerun is the next build. Every build of the test,
the clean one included, builds the kill points' models and their ancestors only
(BUILD_SELECTION). After each kill, with the embedded Derby metastore free again, the
catalog is read with Derby's `ij` and every table's folder (every partition's for
staging) with pyarrow, in seconds instead of a Spark reader's half minute. Every table
must be readable and equal to its version before the killed build or to the new one
(staging: partition by partition); a watermark may move only if the killed build issued
its statement, and only onto a complete load. A final plain build of the selection must
complete and leave every table equal to a clean build of the same files
(built alongside in its own state folder), and no version the killed builds left behind.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from lgs_analytics.runtime.build import ensure_profile
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_testing import PROJECT_ROOT
from reliability_testing import (
    DBT,
    CatalogEntry,
    EventRun,
    dbt_events,
    derby_catalog,
    folder_content,
    state_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Enough rows for every model to have output (17 customers, 25 months), few enough that a
# build is mostly Spark's fixed costs.
GENERATE = ["--rows", "3000", "--seed", "7"]
MODELS_AND_SEEDS = ["--resource-type", "model", "--resource-type", "seed"]
PROJECT_OPTIONS = ["--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)]
# Where and when a row was loaded, not what it says: the run's stamp, and an id hashed
# from the landed file's path (the clean build lands the same files in another folder).
LOAD_COLUMNS = frozenset({"loaded_at", "parsed_row_id"})
FILE_COLUMNS = frozenset({"source_file"})
STAGING = "lgs_staging.stg_online_retail__"
# Each incremental model and the table whose `loaded_at` stamps its watermark is compared
# with (rows_parsed's watermark is the landed files' modification time).
INCREMENTAL = {
    f"{STAGING}rows_parsed": None,
    f"{STAGING}transactions": f"{STAGING}rows_parsed",
    "lgs_marts.monthly_sales": f"{STAGING}transactions",
    "lgs_marts.monthly_orders": f"{STAGING}transactions",
    "lgs_marts.monthly_active_users": f"{STAGING}transactions",
    "lgs_marts.monthly_new_existing_users": f"{STAGING}transactions",
}
WATERMARK = "lgs.watermark"
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class KillPoint:
    """Where a build is killed: in `model`, `moment` `writing` (its write job has created
    its staging or version folder and not committed it), `at` (the statement holding
    `statement` has been logged: dbt logs a statement just before it runs it) or `after`
    (that statement's status came back)."""

    model: str
    moment: str
    statement: str
    what: str


# In the order of the build, so that each killed build also completes what the next one
# needs (its kill point's ancestors), and rarely one that a later build must redo.
KILL_POINTS = [
    KillPoint(
        "stg_online_retail__rows_parsed",
        "writing",
        "insert overwrite",
        "staging's incremental write, month partitions being written",
    ),
    KillPoint(
        "stg_online_retail__rows_parsed",
        "after",
        "insert overwrite",
        "staging's partitions replaced, its watermark not yet recorded",
    ),
    KillPoint(
        "stg_online_retail__transactions",
        "writing",
        "insert overwrite",
        "the staged transactions' incremental write",
    ),
    KillPoint(
        "int_customers_summarized",
        "writing",
        "create table",
        "a table's new version folder being written",
    ),
    KillPoint(
        "monthly_sales",
        "writing",
        "create table",
        "an incremental mart's copy-on-write version being written",
    ),
    KillPoint(
        "monthly_orders",
        "after",
        "set location",
        "an incremental mart just published, its watermark not yet recorded",
    ),
    KillPoint(
        "customer_rfm_scores",
        "writing",
        "",
        "a Python model's table being written",
    ),
    KillPoint(
        "customer_lifetime_value",
        "at",
        "set location",
        "a Python model's version being published",
    ),
    KillPoint(
        "monthly_active_users",
        "at",
        "_dbt_detached",
        "a published version's own catalog entry being detached",
    ),
    KillPoint(
        "monthly_new_existing_users",
        "at",
        f"'{WATERMARK}'",
        "an incremental mart's watermark being recorded",
    ),
]


# What every build of the test builds: the kill points' models and their ancestors, 12 of
# the project's 28 models (two staging models, the intermediate models, the four monthly
# marts, RFM and CLV; their seeds). The others (quarantine, products, SKU trends, invoice
# amounts, K-Means, FP-Growth, the summaries) write through the same table, incremental
# and Python-model paths as the killed ones, add no kind of write to kill, and would more
# than double the time of each full build.
BUILD_SELECTION = ["--select", *sorted({f"+{point.model}" for point in KILL_POINTS})]


@dataclass
class TableState:
    """A published table as a reader finds it: the hash of its rows per partition (one
    entry, "", when not partitioned), its watermark and newest `loaded_at`."""

    parts: dict[str, str]
    watermark: str | None
    loaded_at: str | None
    location: str
    previous_location: str | None


@dataclass
class Snapshot:
    tables: dict[str, TableState]
    views: set[str]
    version_entries: set[str] = field(default_factory=set)


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value if "." in value else value + ".0", WATERMARK_FORMAT)


def _snapshot(state: Path) -> Snapshot:
    """Every table and view of the lgs schemas, read as a new reader would."""
    catalog = derby_catalog(state)
    tables: dict[str, TableState] = {}
    views: set[str] = set()
    versions: set[str] = set()
    for name, entry in sorted(catalog.items()):
        if not name.startswith("lgs_"):
            continue
        if "__dbt_" in name:
            versions.add(name)
        elif entry.kind == "VIRTUAL_VIEW":
            views.add(name)
        else:
            tables[name] = _table_state(entry)
    return Snapshot(tables, views, versions)


def _table_state(entry: CatalogEntry) -> TableState:
    folders = entry.partitions or {"": entry.location}
    parts, stamps = {}, []
    for part, location in folders.items():
        try:
            content = folder_content(location, LOAD_COLUMNS, FILE_COLUMNS)
        except Exception as error:  # any failure to read is the finding
            raise AssertionError(f"{entry.name} ({part or 'table'}) unreadable: {error}") from error
        parts[part] = content.hash
        if content.loaded_at:
            stamps.append(content.loaded_at)
    return TableState(
        parts,
        entry.properties.get(WATERMARK),
        max(stamps, key=_timestamp) if stamps else None,
        entry.location,
        entry.properties.get("lgs.previous_location"),
    )


def _split(generated: Path, folder: Path) -> tuple[Path, Path]:
    """The generated rows as two landings: up to day D, then the last days of the data
    and one old day (a late file: it changes an old month and every month after it)."""
    [source] = sorted(generated.glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    date = header.index("InvoiceDate")
    days = sorted({row[date][:10] for row in rows})
    late = set(days[-6:]) | {days[len(days) // 3]}
    files = []
    for name, part in (
        ("part-00000.csv", [row for row in rows if row[date][:10] not in late]),
        ("part-00001.csv", [row for row in rows if row[date][:10] in late]),
    ):
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(part)
        files.append(path)
    return files[0], files[1]


def _land(source: Path, state: Path, mtime: float) -> None:
    target = state / "raw" / "online_retail_ii" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    os.utime(target, (mtime, mtime))


class Trigger:
    """The `stop` of `dbt_events` for one kill point: true once the build got there."""

    def __init__(self, point: KillPoint, state: Path, schema: str) -> None:
        self.point = point
        self.schema_folder = state / "warehouse" / f"{schema}.db"
        self.table_folder = self.schema_folder / point.model
        self.staging_before = self._staging_folders()
        self.run_id: str | None = None
        self.started = self.armed = False
        self.evidence = ""
        self._last_look = 0.0

    def _staging_folders(self) -> set[str]:
        if not self.table_folder.is_dir():
            return set()
        return {p.name for p in self.table_folder.iterdir() if p.name.startswith(".spark-staging")}

    def write_folders(self) -> list[Path]:
        """The uncommitted write folders of this run: a new `.spark-staging-<job>` of an
        `insert overwrite`, or the `_temporary` folder of the run's version folder."""
        found = [self.table_folder / name for name in self._staging_folders() - self.staging_before]
        if self.run_id:
            version = self.schema_folder / f"{self.point.model}__dbt_v{self.run_id}" / "_temporary"
            if version.is_dir():
                found.append(version)
        return found

    def __call__(self, event: dict | None) -> bool:
        point = self.point
        if event is not None:
            self.run_id = self.run_id or event["info"]["invocation_id"].replace("-", "")[:12]
            node = (event["data"].get("node_info") or {}).get("node_name")
            name = event["info"]["name"]
            if node == point.model:
                if name == "NodeStart":
                    self.started = True
                elif name == "SQLQuery" and point.statement in event["data"]["sql"]:
                    if point.moment == "at":
                        self.evidence = " ".join(event["data"]["sql"].split("*/")[-1].split())
                        return True
                    self.armed = True
                elif name == "SQLQueryStatus" and self.armed and point.moment == "after":
                    self.evidence = event["info"]["msg"]
                    return True
        if point.moment == "writing" and self.started:
            now = time.monotonic()
            if now - self._last_look >= 0.005:
                self._last_look = now
                folders = self.write_folders()
                if folders:
                    self.evidence = ", ".join(str(folder) for folder in folders)
                    return True
        return False


def _finished(run: EventRun) -> set[str]:
    """Models the run completed (their node finished with success)."""
    return {
        event["data"]["node_info"]["node_name"]
        for event in run.events
        if event["info"]["name"] == "NodeFinished"
        and event["data"].get("run_result", {}).get("status") == "success"
    }


def _watermark_statements(run: EventRun) -> set[str]:
    """Models whose watermark statement the run logged (and so may have run)."""
    return {
        event["data"]["node_info"]["node_name"]
        for event in run.events
        if event["info"]["name"] == "SQLQuery"
        and f"'{WATERMARK}'" in event["data"].get("sql", "")
        and event["data"].get("node_info")
    }


def _ancestors(manifest: dict, model: str) -> set[str]:
    """The model and the models it reads, directly or not (seeds and sources left out)."""
    found, pending = set(), [f"model.lgs_analytics.{model}"]
    while pending:
        node = pending.pop()
        if node in found:
            continue
        found.add(node)
        pending.extend(p for p in manifest["parent_map"][node] if p.startswith("model."))
    return {node.split(".")[-1] for node in found}


def _check_kill(
    label: str,
    before: Snapshot,
    after: Snapshot,
    reference: Snapshot,
    run: EventRun,
) -> None:
    """Every table is readable and equal to its version before the killed build or to
    the new one; a watermark moved only by its own statement, and only onto a complete
    load; nothing consumer-facing went missing."""
    assert set(after.tables) == set(before.tables), (label, set(before.tables) ^ set(after.tables))
    assert after.views == before.views, label
    for name, table in after.tables.items():
        old, new = before.tables[name], reference.tables[name]
        for part in set(old.parts) | set(new.parts) | set(table.parts):
            assert table.parts.get(part) in {old.parts.get(part), new.parts.get(part)}, (
                f"{label}: {name}{f' partition {part}' if part else ''} is neither its "
                "version before the build nor the new one"
            )
    issued = _watermark_statements(run)
    for name, upstream in INCREMENTAL.items():
        table, old, new = after.tables[name], before.tables[name], reference.tables[name]
        short = name.split(".")[-1]
        if table.watermark != old.watermark:
            assert short in issued, f"{label}: {name}'s watermark moved without its statement"
            assert _timestamp(table.watermark) > _timestamp(old.watermark), (label, name)
            assert table.parts == new.parts, (
                f"{label}: {name}'s watermark moved to {table.watermark}, "
                "but its new version is not (completely) published"
            )
        # A model that has consumed every row its upstream holds must show them.
        if upstream is None:
            continue
        source = after.tables[upstream]
        caught_up = _timestamp(table.watermark) >= _timestamp(source.loaded_at)
        if caught_up and source.parts == reference.tables[upstream].parts:
            assert table.parts == new.parts, (
                f"{label}: {name}'s watermark {table.watermark} is past every row of "
                f"{upstream}, whose new version it does not have"
            )


def test_killed_incremental_builds_publish_whole_versions_and_converge(tmp_path):
    timings: list[tuple[str, float]] = []
    clock = time.monotonic()

    def lap(what: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings.append((what, round(now - clock, 1)))
        print(f"{now - clock:7.1f} s  {what}", flush=True)
        clock = now

    ensure_profile(ProjectPaths.discover(PROJECT_ROOT))
    generated = tmp_path / "generated"
    subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", "generate", *GENERATE, "--out", generated],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    base, late = _split(generated, tmp_path)
    landed_at = datetime(2011, 12, 12, 6, 0).timestamp()
    state, clean = tmp_path / "state", tmp_path / "clean"

    # The clean build of both files, in its own state folder, alongside the builds below.
    for source, mtime in ((base, landed_at), (late, landed_at + 86_400)):
        _land(source, clean, mtime)
    clean_log = (tmp_path / "clean-build.log").open("w")
    clean_build = subprocess.Popen(
        [DBT, "build", *BUILD_SELECTION, *MODELS_AND_SEEDS, *PROJECT_OPTIONS],
        cwd=PROJECT_ROOT,
        env=state_env(clean),
        stdout=clean_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        env = state_env(state)
        _land(base, state, landed_at)
        first = dbt_events("build", *BUILD_SELECTION, *MODELS_AND_SEEDS, env=env)
        assert first.returncode == 0, first.tail()
        lap("first build (day D)")
        manifest = json.loads((state / "target" / "manifest.json").read_text())
        schemas = {
            node["name"]: node["schema"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
        }
        before = _snapshot(state)
        assert set(INCREMENTAL) <= set(before.tables)
        lap("snapshot")

        _land(late, state, landed_at + 86_400)
        rebuilt: set[str] = set()
        kills = []
        for index, point in enumerate(KILL_POINTS):
            label = f"kill {index + 1} ({point.model}, {point.moment}: {point.what})"
            selection = sorted(_ancestors(manifest, point.model) - rebuilt)
            trigger = Trigger(point, state, schemas[point.model])
            run = dbt_events(
                "build", "--resource-type", "model", "--select", *selection, env=env, stop=trigger
            )
            assert run.killed, f"{label}: the build ended before the point\n{run.tail()}"
            assert point.model not in _finished(run), f"{label}: the kill came too late"
            if point.moment == "writing":
                assert trigger.write_folders(), f"{label}: the write was committed before the kill"
            rebuilt |= _finished(run)
            after = _snapshot(state)
            kills.append((label, before, after, run))
            if point.model == "monthly_active_users":
                # Killed between publishing and dropping its version's catalog entry: the
                # next build must find the entry in its relation cache and drop it.
                assert any(
                    name.startswith("lgs_marts.monthly_active_users__dbt_v")
                    for name in after.version_entries
                ), f"{label}: {after.version_entries}"
            before = after
            lap(f"kill {index + 1}: {point.model} {point.moment} ({trigger.evidence[:80]})")

        final = dbt_events("build", *BUILD_SELECTION, "--resource-type", "model", env=env)
        assert final.returncode == 0, final.tail()
        lap("final build")
        converged = _snapshot(state)

        clean_output = tmp_path / "clean-build.log"
        assert clean_build.wait(timeout=1800) == 0, clean_output.read_text()[-6000:]
        reference = _snapshot(clean)
        lap("clean build's end and snapshots")
    finally:
        if clean_build.poll() is None:
            os.killpg(clean_build.pid, signal.SIGKILL)  # dbt and its Spark JVM
            clean_build.wait()
        clean_log.close()

    # The incremental load changed the tables: a previous and a new version differ.
    changed = [
        name
        for name in INCREMENTAL
        if kills[0][1].tables[name].parts != reference.tables[name].parts
    ]
    assert changed == list(INCREMENTAL), changed

    for label, old, new, run in kills:
        _check_kill(label, old, new, reference, run)

    # The rerun converges: every table equal to the clean build's, no version left.
    assert set(converged.tables) == set(reference.tables)
    different = sorted(
        name
        for name, table in converged.tables.items()
        if table.parts != reference.tables[name].parts
    )
    assert not different, f"after the reruns, differ from a clean build: {different}"
    assert not converged.version_entries, converged.version_entries
    # Nor the staging folders of the killed `insert overwrite` jobs (kills 1 and 3): the
    # next run of the same model deletes them.
    leftovers = sorted(str(p) for p in (state / "warehouse").glob("*.db/*/.spark-staging-*"))
    assert not leftovers, f"killed writes' staging folders left behind: {leftovers}"
    # On disk, a table's versions are its current and previous ones, and the previous one
    # of the final build's start (a build keeps both, the next one collects the older).
    last_kill = kills[-1][2]
    for name, table in converged.tables.items():
        schema, identifier = name.split(".")
        folders = {
            folder.name
            for folder in (state / "warehouse" / f"{schema}.db").glob(f"{identifier}__dbt_v*")
        }
        earlier = last_kill.tables[name]
        kept = {
            location.rstrip("/").rsplit("/", 1)[-1]
            for location in (
                table.location,
                table.previous_location,
                earlier.location,
                earlier.previous_location,
            )
            if location
        }
        assert folders <= kept, f"{name}: versions left behind {sorted(folders - kept)}"
    print("\n".join(f"{seconds:7.1f} s  {what}" for what, seconds in timings))
