"""The generic tests `key_and_row_checks` and `named_checks` (tests/generic/) find every kind
of bad row.

The staging tables' checks run as this one test (one scan of a million rows instead of
three), so it must fail exactly where `unique`, `not_null`, `accepted_values` and
`expression_is_true` would. The probe project gets the project's generic test, a model of
crafted rows (a duplicated key, a null key, a null required column, a value outside the
accepted list, an expression that is false and one that is null, beside good rows, one
with a quote in an accepted value) and a model of good rows only; one `dbt build` on real
Spark runs the tests on both and their stored failures are read back. `named_checks` runs
on the same rows in the same build: each broken rule is named, with how many rows break it.
"""

from __future__ import annotations

import shutil

import pytest

from lgs_testing import PROJECT_ROOT, probe_project, run_probe_script

pytestmark = pytest.mark.e2e

GENERIC_TEST = PROJECT_ROOT / "tests" / "generic" / "key_and_row_checks.sql"
NAMED_CHECKS = PROJECT_ROOT / "tests" / "generic" / "named_checks.sql"

ROWS = """
select * from values
    ('k1', 1, 'ok', 2, 4),
    ('k2', 1, 'ok', 2, 4),
    ('k2', 1, 'ok', 2, 4),
    (null, 1, 'ok', 2, 4),
    ('k3', null, 'ok', 2, 4),
    ('k4', 1, 'bad', 2, 4),
    ('k5', 1, null, 2, 4),
    ('k6', 1, 'ok', 2, 5),
    ('k7', 1, 'ok', null, 4),
    ('k8', 1, 'it''s', 2, 4)
    as t(k, a, status, amount, doubled)
{% if var('good_only', false) %} where k in ('k1', 'k5', 'k8') {% endif %}
"""

SCHEMA = """
version: 2
models:
  - name: probe_checked
    data_tests:
      - key_and_row_checks:
          arguments:
            key: k
            not_null: [a]
            accepted_values:
              status: [ok, "it's"]
            expression: doubled = amount * 2
          config:
            alias: checked_failures
            store_failures: true
            schema: audit
            severity: warn
      - named_checks:
          arguments:
            checks:
              - name: doubled_is_twice_amount
                expression: doubled = amount * 2
              - name: status_is_not_bad
                expression: "status is null or status != 'bad'"
              - name: a_is_one
                expression: a = 1
          config:
            alias: named_failures
            store_failures: true
            schema: audit
            severity: warn
"""

BUILD = """
import json, sys
from dbt.cli.main import dbtRunner
from pyspark.sql import SparkSession

project = sys.argv[1]
runs = []
for good_only in (False, True):
    result = dbtRunner().invoke([
        "build", "--select", "probe_checked", "--vars", json.dumps({"good_only": good_only}),
        "--project-dir", project, "--profiles-dir", project,
    ])
    spark = SparkSession.builder.getOrCreate()
    stored = {
        name: [row.asDict() for row in spark.table(f"probe_audit.{name}").collect()]
        if spark.catalog.tableExists(f"probe_audit.{name}") else None
        for name in ("checked_failures", "named_failures")
    }
    runs.append({
        "success": result.success,
        "statuses": {node.node.resource_type: str(node.status) for node in result.result.results},
        "tests": sorted(
            str(node.status) for node in result.result.results
            if node.node.resource_type == "test"
        ),
        "failures": stored["checked_failures"],
        "named_failures": stored["named_failures"],
    })
print("RESULT " + json.dumps(runs))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    project, env = probe_project(tmp_path_factory.mktemp("key-and-row-checks"))
    (project / "tests" / "generic").mkdir(parents=True)
    for generic in (GENERIC_TEST, NAMED_CHECKS):
        shutil.copy(generic, project / "tests" / "generic" / generic.name)
    (project / "models" / "probe_checked.sql").write_text(ROWS)
    (project / "models" / "probe_checked.yml").write_text(SCHEMA)
    return run_probe_script(project, env, BUILD)


def test_each_kind_of_bad_row_fails_under_its_key(runs):
    bad = runs[0]
    assert bad["success"] and bad["statuses"]["test"] == "warn", bad
    by_key = {row["key_value"]: row for row in bad["failures"]}
    # k1, k5 (a null status is not checked) and k8 (a quoted accepted value) pass.
    assert set(by_key) == {"k2", None, "k3", "k4", "k6", "k7"}
    assert by_key["k2"]["key_rows"] == 2
    assert by_key[None]["key_rows"] == 1
    assert by_key["k3"]["null_a"] == 1
    assert by_key["k4"]["unaccepted_status"] == 1
    # false, and null (amount is null): both fail, as in expression_is_true.
    assert by_key["k6"]["expression_not_true"] == 1
    assert by_key["k7"]["expression_not_true"] == 1
    # Each row counts only the checks it breaks.
    checks = ("null_a", "unaccepted_status", "expression_not_true")
    assert sum(by_key["k2"][check] for check in checks) == 0
    assert sum(by_key["k4"][check] for check in checks) == 1


def test_named_checks_name_each_broken_rule(runs):
    bad = runs[0]
    assert bad["tests"] == ["warn", "warn"], bad
    broken = {row["check_name"]: row for row in bad["named_failures"]}
    # false (k6) and null (k7, amount is null) both fail, as in expression_is_true; a null
    # status is no 'bad' status; a null `a` (k3) fails a = 1.
    assert {name: row["failing_rows"] for name, row in broken.items()} == {
        "doubled_is_twice_amount": 2,
        "status_is_not_bad": 1,
        "a_is_one": 1,
    }
    # The rule as written, quotes included.
    assert broken["status_is_not_bad"]["expression"] == "status is null or status != 'bad'"


def test_good_rows_pass(runs):
    good = runs[1]
    assert good["success"] and good["tests"] == ["pass", "pass"], good
    assert good["failures"] is None, "a passing test left stored failures"
    assert good["named_failures"] is None, "a passing test left stored failures"
