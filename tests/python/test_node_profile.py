"""benchmarks/node_profile.py: per-node CPU from a sampled CPU curve and dbt's JSON events."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from lgs_testing import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import node_profile

T0 = 1_800_000_000.0  # an epoch second: the build's start


def _ts(second: float) -> str:
    moment = dt.datetime.fromtimestamp(T0 + second, tz=dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _event(second: float, name: str, data: dict, thread: str = "Thread-1") -> str:
    return json.dumps({"info": {"ts": _ts(second), "name": name, "thread": thread}, "data": data})


def _node(second: float, name: str, unique_id: str) -> str:
    return _event(second, name, {"node_info": {"unique_id": unique_id}})


def _statement(second: float, elapsed: float, node: str, sql: str) -> list[str]:
    comment = '/* {"app": "dbt", "node_id": "' + node + '"} */\n'
    return [
        _event(second, "SQLQuery", {"conn_name": node, "sql": comment + sql}),
        _event(second + elapsed, "SQLQueryStatus", {"elapsed": elapsed, "status": "OK"}),
    ]


STAGING = "model.lgs_analytics.stg_online_retail__transactions"
QUARANTINE = "model.lgs_analytics.stg_online_retail__quarantined_rows"
PYTHON = "model.lgs_analytics.customer_rfm_scores"
TEST = "test.lgs_analytics.unique_monthly_sales_year_month.abc"
MANIFEST = {PYTHON: {"language": "python"}, STAGING: {"language": "sql"}}


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    lines = [
        _event(2, "MainReportVersion", {}),
        _event(4, "LogHookStartLine", {}),
        _event(4, "LogHookEndLine", {"execution_time": 1.0}),
        _node(5, "NodeStart", STAGING),
        *_statement(5, 0.5, STAGING, "describe table extended lgs_staging.x"),
        *_statement(6, 3.0, STAGING, "create table lgs_staging.x__dbt_v1 as select 1"),
        *_statement(9, 1.0, STAGING, "alter table lgs_staging.x set location 'file:/w'"),
        _node(10, "NodeFinished", STAGING),
        _node(11, "NodeStart", QUARANTINE),
        _node(12, "NodeFinished", QUARANTINE),
        _node(12, "NodeStart", PYTHON),
        *_statement(12, 2.0, PYTHON, "show tblproperties lgs_marts.y"),
        _node(20, "NodeFinished", PYTHON),
        _node(20, "NodeStart", TEST),
        *_statement(20, 1.0, TEST, "select count(*) from (select 1) t"),
        _node(21, "NodeFinished", TEST),
    ]
    path = tmp_path / "dbt.log"
    path.write_text("\n".join(["not json", *lines]) + "\n")
    return path


def _profile(log_file: Path, rate: float = 2.0):
    # Two CPU seconds per wall second, sampled once a second (exact under interpolation).
    samples = [(T0 + second, rate * second) for second in range(0, 24)]
    return node_profile.profile_nodes(
        node_profile.harness.read_dbt_log(log_file), samples, MANIFEST, T0, T0 + 23
    )


def test_each_node_gets_the_cpu_between_its_start_and_end(log_file: Path) -> None:
    nodes, _ = _profile(log_file)
    by_id = {node.unique_id: node for node in nodes}
    assert set(by_id) == {"operation.hook.1", STAGING, QUARANTINE, PYTHON, TEST}
    assert by_id[STAGING].wall_s == pytest.approx(5.0)
    assert by_id[STAGING].cpu_s == pytest.approx(10.0)
    assert by_id[PYTHON].cpu_s == pytest.approx(16.0)
    assert nodes[0].unique_id == "operation.hook.1"


def test_statements_are_split_into_work_and_metadata(log_file: Path) -> None:
    nodes, _ = _profile(log_file)
    by_id = {node.unique_id: node for node in nodes}
    staging = by_id[STAGING]
    assert staging.statements == 3
    assert staging.work_s == pytest.approx(3.0)  # the create … as select
    assert staging.metadata_s == pytest.approx(1.5)  # describe + alter … set location
    # A Python model's code runs between its statements: its work is the rest of its wall.
    assert by_id[PYTHON].metadata_s == pytest.approx(2.0)
    assert by_id[PYTHON].work_s == pytest.approx(6.0)
    assert by_id[TEST].work_s == pytest.approx(1.0) and by_id[TEST].metadata_s == 0


def test_groups_add_up_to_the_whole_run(log_file: Path) -> None:
    _, totals = _profile(log_file)
    assert totals["staging"]["nodes"] == 1 and totals["quarantine"]["nodes"] == 1
    assert totals["Python models"]["cpu_s"] == pytest.approx(16.0)
    assert totals["data tests"]["cpu_s"] == pytest.approx(2.0)
    assert totals["hooks"]["cpu_s"] == pytest.approx(2.0)
    # Before the first node (hook at 3 s) and after the last (21 s) to the end (23 s).
    assert totals["start-up and end"]["wall_s"] == pytest.approx(5.0)
    assert totals["start-up and end"]["cpu_s"] == pytest.approx(10.0)
    # 4–5 s and 10–11 s: between nodes.
    assert totals["between nodes"]["wall_s"] == pytest.approx(2.0)
    assert sum(group["cpu_s"] for group in totals.values()) == pytest.approx(46.0)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("create table a.b__dbt_v1 using parquet location 'x' as select 1", "work"),
        ("insert overwrite table a.b partition (m) select 1", "work"),
        ("create table a.b like a.b__dbt_v1", "metadata"),
        ("create or replace temporary view v as select 1", "metadata"),
        ("alter table a.b set tblproperties ('k' = 'v')", "metadata"),
        ("drop table if exists a.b__dbt_v0", "metadata"),
        ("select count(*) from a.b", "work"),
    ],
)
def test_statement_kinds(sql: str, kind: str) -> None:
    assert node_profile.Statement("n", f"/* {{}} */\n  {sql}", 1.0).kind == kind


def test_cpu_between_samples_is_interpolated() -> None:
    samples = [(0.0, 0.0), (1.0, 2.0), (3.0, 2.0)]
    assert node_profile.cpu_at(samples, 0.5) == pytest.approx(1.0)
    assert node_profile.cpu_at(samples, 2.0) == pytest.approx(2.0)
    assert node_profile.cpu_at(samples, 9.0) == pytest.approx(2.0)
    assert node_profile.cpu_at([], 1.0) == 0.0


def test_the_harness_phases_read_the_same_log(log_file: Path) -> None:
    """The harness's start-up phases come from the same reader of dbt's log: the first
    line 2 s after the start, the first statement's 0.5 s, 2 s from the last line to the
    end; no "Found N models" line, so no parse phase."""
    measurement = node_profile.harness.Measurement(
        command=["dbt"],
        status="ok",
        returncode=0,
        wall_s=23.0,
        cpu_s=46.0,
        cpu_sampled_s=46.0,
        cpu_exact=True,
        peak_rss_bytes=0,
        peak_processes=1,
        samples=23,
        started_at_epoch=T0,
    )
    phases = node_profile.harness.dbt_phases(log_file, measurement)
    assert phases == {
        "startup_s": 2.0,
        "parse_s": None,
        "first_query_s": 0.5,
        "after_last_log_s": 2.0,
    }
    assert node_profile.harness.dbt_phases(log_file.with_name("missing.log"), measurement) == {}
