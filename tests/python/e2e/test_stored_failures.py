"""Stored test failures: written only by a test that finds rows, a view replaced in place.

The probe project (tests/python/fixtures/python_model_project) gets one singular test whose
failing rows are stored (`store_failures`), and one process runs five `dbt build`s of it
on real Spark and a real Derby metastore, reading the audit relation after each:

1. failures stored as a table (the first build: nothing to drop);
2. stored as a view: the table from build 1 must be dropped before the view is created;
3. stored as a view again, with a lower limit: the view must be replaced by `create or
   replace view` alone (no drop: a metastore transaction per test on every rebuild), and
   list the new failing rows;
4. a limit no row exceeds: the test passes, the view of build 3 is dropped (the audit
   schema holds the tests that found rows) and nothing is created;
5. the same passing build again: the test runs its count and nothing else — no create, no
   drop (dbt-core would write, and first drop, an empty relation for every passing test).

Every SQL statement dbt ran is taken from its `SQLQuery` events.
"""

from __future__ import annotations

import json

import pytest

from lgs_testing import probe_project, run_probe_script

pytestmark = pytest.mark.e2e

AUDIT = "probe_audit.probe_amount_over_limit"

SINGULAR_TEST = """
{{ config(store_failures=true, store_failures_as=var('store_as'), schema='audit',
          severity='warn') }}
select order_id, amount from {{ ref('probe_orders') }} where amount > {{ var('limit') }}
"""

BUILDS = """
import json, sys
from dbt.cli.main import dbtRunner
from pyspark.sql import SparkSession

project, audit, builds = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
statements = []

def on_event(event):
    if event.info.name == "SQLQuery":
        statements.append(event.data.sql)

runner = dbtRunner(callbacks=[on_event])
results = []
for variables in builds:
    statements.clear()
    result = runner.invoke([
        "build", "--select", "probe_orders", "probe_amount_over_limit",
        "--vars", json.dumps(variables), "--project-dir", project, "--profiles-dir", project,
    ])
    spark = SparkSession.builder.getOrCreate()
    name = audit.split(".")[1]
    results.append({
        "success": result.success,
        "statuses": sorted(str(node.status) for node in result.result.results),
        "drops": [s for s in statements if "drop " in s.lower() and name in s],
        "creates": [s for s in statements if "create " in s.lower() and name in s],
        "test_statements": [s for s in statements if name in s],
        "stored": spark.catalog.tableExists(audit),
    })
    if results[-1]["stored"]:
        results[-1]["type"] = spark.catalog.getTable(audit).tableType
        results[-1]["failing_orders"] = sorted(row.order_id for row in spark.table(audit).collect())
print("RESULT " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> list[dict]:
    project, env = probe_project(tmp_path_factory.mktemp("stored-failures"))
    (project / "tests").mkdir()
    (project / "tests" / "probe_amount_over_limit.sql").write_text(SINGULAR_TEST)
    plan = [
        {"store_as": "table", "limit": 5},
        {"store_as": "view", "limit": 5},
        {"store_as": "view", "limit": 2},
        {"store_as": "view", "limit": 100},
        {"store_as": "view", "limit": 100},
    ]
    return run_probe_script(project, env, BUILDS, AUDIT, json.dumps(plan))


def test_every_failing_build_stores_the_failing_rows(builds):
    failing = builds[:3]
    for build in failing:
        assert build["success"], build
        assert build["statuses"] == ["success", "warn"], build
    # Orders of 10.50 and 2.25: one is over 5, both are over 2.
    assert [build["failing_orders"] for build in failing] == [[1], [1], [1, 2]]
    assert [build["type"] == "VIEW" for build in failing] == [False, True, True]


def test_a_table_is_dropped_before_its_view_is_created(builds):
    first, second = builds[:2]
    assert first["drops"] == []
    assert len(second["drops"]) == 1 and "drop table" in second["drops"][0].lower()
    assert "view" in second["creates"][0].lower()


def test_a_view_is_replaced_in_place(builds):
    third = builds[2]
    assert third["drops"] == [], third["drops"]
    [create] = third["creates"]
    assert "create or replace view" in " ".join(create.lower().split())


def test_a_passing_test_drops_the_stored_failures_of_an_earlier_run(builds):
    fourth = builds[3]
    assert fourth["success"] and fourth["statuses"] == ["pass", "success"], fourth
    assert not fourth["stored"], "a passing test left its old failures in the audit schema"
    assert fourth["creates"] == []
    assert len(fourth["drops"]) == 1 and "drop view" in fourth["drops"][0].lower()


def test_a_passing_test_runs_one_statement(builds):
    fifth = builds[4]
    assert fifth["success"] and fifth["statuses"] == ["pass", "success"], fifth
    assert not fifth["stored"]
    [count] = fifth["test_statements"]
    assert "as failures" in count.lower() and "create " not in count.lower(), count
