"""Slim CI end to end: in a copy of the project with one mart edited, `make slim-ci`'s
command builds and tests exactly that mart, its descendants and their tests, in the CI
schemas, deferring every unchanged parent to the production tables of the malformed
dataset's build (its production state: $LGS_STATE_DIR/prod-state/manifest.json)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lgs_testing import PROJECT_ROOT

pytestmark = pytest.mark.e2e

# A mart with marts downstream of it (sku_seasonality, sku_trend_rankings).
CHANGED = "model.lgs_analytics.sku_monthly_sales"
CHILD = "model.lgs_analytics.sku_trend_rankings"
CI_SCHEMA = "ci_pr_e2e"
# Generated or local-only: not part of a clone.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".lgs*",
    "target",
    "logs",
    "dbt_packages",
    "__pycache__",
    "profiles.yml",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
)


NODE_TYPES = ("model", "seed", "snapshot", "test", "unit_test")


def _compiled(target: Path, unique_id: str) -> str:
    name = unique_id.rsplit(".", maxsplit=1)[-1]
    return next(
        path for path in (target / "compiled").rglob(f"{name}.sql") if "models" in path.parts
    ).read_text()


def _relation(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def _downstream(manifest: dict, unique_id: str) -> set[str]:
    found, todo = set(), [unique_id]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def test_slim_ci_builds_the_edited_mart_and_its_descendants_only(malformed_build, tmp_path):
    state = malformed_build.state
    production = json.loads((state / "prod-state" / "manifest.json").read_text())
    # The production build checked the freshness of both raw sources first and kept it.
    results = json.loads((state / "target" / "sources.json").read_text())["results"]
    freshness = {result["unique_id"]: result["status"] for result in results}
    assert set(freshness) == {
        "source.lgs_analytics.online_retail.online_retail_ii",
        "source.lgs_analytics.crm.campaign_assignments",
    }, freshness
    assert set(freshness.values()) <= {"pass", "warn"}, freshness
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    mart = project / "models" / "marts" / "products" / "sku_monthly_sales.sql"
    mart.write_text(mart.read_text() + "\n-- a pull request's edit\n")

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.devtools.slim_ci", "--drop-schemas"],
        cwd=project,
        env={**malformed_build.env, "LGS_CI_SCHEMA": CI_SCHEMA},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    print(f"slim CI: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]

    ci_target = state / "ci-target"
    results = json.loads((ci_target / "run_results.json").read_text())["results"]
    # Not the hooks, nor the exposures (dbt lists those as no-op).
    ran = {r["unique_id"] for r in results if r["unique_id"].split(".")[0] in NODE_TYPES}
    assert {r["status"] for r in results if r["unique_id"] in ran} <= {"success", "pass"}
    # Exactly the edited mart, what depends on it, and the tests (unit tests too) of those.
    expected = {CHANGED, *_downstream(production, CHANGED)}
    expected |= {
        uid
        for uid, node in production["unit_tests"].items()
        if set(node["depends_on"]["nodes"]) & expected
    }
    expected = {uid for uid in expected if uid.split(".")[0] in NODE_TYPES}
    assert ran == expected
    assert {CHANGED, CHILD} <= ran and any(uid.startswith("test.") for uid in ran)
    assert len(ran) < 60

    # Built in the CI schemas; its unchanged parents read from production (--defer).
    ci = json.loads((ci_target / "manifest.json").read_text())
    assert ci["nodes"][CHANGED]["schema"] == f"{CI_SCHEMA}_marts"
    assert ci["nodes"][CHILD]["schema"] == f"{CI_SCHEMA}_marts"
    # The child reads the edited mart from the CI schema, its unchanged parents (the
    # products dimension among them) from production.
    sql = _compiled(ci_target, CHILD)
    assert _relation(f"{CI_SCHEMA}_marts", "sku_monthly_sales") in sql, sql
    unchanged = set(production["nodes"][CHILD]["depends_on"]["nodes"]) - {CHANGED}
    assert "model.lgs_analytics.dim_products" in unchanged
    for parent in unchanged:
        node = production["nodes"][parent]
        assert node["schema"].startswith("lgs_")
        assert _relation(node["schema"], node["alias"]) in sql, (parent, sql)
    assert f"Dropped schema {CI_SCHEMA}_marts." in result.stdout
