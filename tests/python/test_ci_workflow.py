"""The GitHub Actions workflow: the fast lane and slim CI on pull requests, the whole suite
on main and every night, least-privilege permissions, and the artifacts the lanes share."""

from __future__ import annotations

import yaml

from lgs_analytics.runtime.build import PRODUCTION_STATE
from lgs_testing import PROJECT_ROOT

WORKFLOW = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text())
# PyYAML reads the key `on` as True.
TRIGGERS = WORKFLOW[True]


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uploads(job: dict) -> dict[str, dict]:
    return {
        step["with"]["name"]: step
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/upload-artifact@")
    }


def test_triggers_and_least_privilege() -> None:
    assert {"pull_request", "push", "schedule"} <= set(TRIGGERS)
    assert TRIGGERS["push"]["branches"] == ["main"]
    assert WORKFLOW["permissions"] == {"contents": "read"}
    for name, job in WORKFLOW["jobs"].items():
        granted = job.get("permissions", {})
        assert set(granted.values()) <= {"read"}, name


def test_pull_requests_run_the_fast_lane_and_slim_ci() -> None:
    job = WORKFLOW["jobs"]["fast-lane"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert "make test-fast" in _runs(job)
    assert "make test\n" not in _runs(job) + "\n"
    assert job["env"]["LGS_CI_SCHEMA"] == "ci_pr_${{ github.event.pull_request.number }}"
    assert "base.sha" in job["env"]["LINT_SQL_SINCE"]
    assert "--junitxml=reports/junit-unit.xml" in job["env"]["PYTEST_ARGS"]
    assert "scripts/junit_summary.py reports/junit-unit.xml" in _runs(job)
    # The production state of main, downloaded for slim CI.
    assert "--name production-state" in _runs(job) and "LGS_PROD_STATE" in _runs(job)
    assert job["permissions"] == {"contents": "read", "actions": "read"}
    assert "dbt docs generate --static" in _runs(job)
    assert _uploads(job)["docs-site"]["with"]["path"] == "docs-site/static_index.html"


def test_main_and_nightly_run_the_whole_suite_and_keep_the_production_state() -> None:
    job = WORKFLOW["jobs"]["whole-suite"]
    assert job["if"] == "github.event_name != 'pull_request'"
    assert "make test" in _runs(job).split("\n")
    assert "--junitxml=reports/junit.xml" in job["env"]["PYTEST_ADDOPTS"]
    state = _uploads(job)["production-state"]["with"]
    # Where `lgs build` keeps the manifest in the suite's default state folder.
    assert state["path"] == f".lgs-test/default/{PRODUCTION_STATE}/manifest.json"
    assert state["if-no-files-found"] == "error"
