"""Slim CI's pieces without Spark: the production state `lgs build` keeps, and the one
sentence when there is none or the target is a production one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lgs_analytics.devtools import slim_ci
from lgs_analytics.runtime.build import keep_production_state
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_testing import PROJECT_ROOT


def test_a_build_keeps_its_manifest_as_the_production_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    paths = ProjectPaths(root=tmp_path, state=tmp_path / "state")
    paths.target.mkdir(parents=True)
    (paths.target / "manifest.json").write_text('{"nodes": {"a": 1}}')
    kept = keep_production_state(paths)
    assert kept == paths.state / "prod-state" / "manifest.json"
    (paths.target / "manifest.json").write_text('{"nodes": {"b": 2}}')
    assert json.loads(keep_production_state(paths).read_text()) == {"nodes": {"b": 2}}
    assert sorted(path.name for path in kept.parent.iterdir()) == ["manifest.json"]
    assert slim_ci.production_state(paths, None) == kept.parent


def test_no_production_state_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LGS_PROD_STATE", raising=False)
    # slim_ci points dbt at the state folder (os.environ.setdefault): restored afterwards.
    names = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "LGS_RAW_PATH", "DO_NOT_TRACK")
    for name in (*names, "DBT_SEND_ANONYMOUS_USAGE_STATS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    assert slim_ci.main([]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: No production state in {tmp_path / 'state' / 'prod-state'}")
    assert error.count("\n") == 1 and "make build" in error
    assert slim_ci.main(["--target", "databricks"]) == 2
    assert "writes the production schemas" in capsys.readouterr().err


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str) -> Path:
    """A project folder with the given profiles.yml and a production state; cwd there."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dbt_project.yml", "profiles.yml.example"):
        (root / name).write_text((PROJECT_ROOT / name).read_text())
    (root / "profiles.yml").write_text(profile)
    state = root / ".lgs" / "prod-state"
    state.mkdir(parents=True)
    (state / "manifest.json").write_text("{}")
    monkeypatch.chdir(root)
    monkeypatch.delenv("LGS_PROD_STATE", raising=False)
    monkeypatch.setenv("LGS_STATE_DIR", str(root / ".lgs"))
    names = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "LGS_RAW_PATH", "DO_NOT_TRACK")
    for name in (*names, "DBT_SEND_ANONYMOUS_USAGE_STATS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return root


def test_a_profile_older_than_the_ci_target_is_told_to_copy_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    root = _project(tmp_path, monkeypatch, "lgs:\n  outputs:\n    local: {type: sparkplus}\n")
    assert slim_ci.main([]) == 2
    assert capsys.readouterr().err == (
        f"error: {root / 'profiles.yml'} has no target 'ci' (it was copied from an older "
        "profiles.yml.example): copy the 'ci' target from profiles.yml.example into it.\n"
    )


def test_schemas_are_dropped_only_on_a_session_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Databricks' CI schemas are not in a local Spark session.
    _project(tmp_path, monkeypatch, (PROJECT_ROOT / "profiles.yml.example").read_text())
    assert slim_ci.main(["--target", "databricks_ci", "--drop-schemas"]) == 2
    error = capsys.readouterr().err
    assert "target 'databricks_ci' does not use: drop its CI schemas with SQL" in error


def test_dropping_no_schema_starts_no_spark_session() -> None:
    """Slim CI with nothing modified built nothing: dropping its (no) schemas must not start
    a Spark session, which would listen on every interface with none of the target's
    settings. In a new process, so that no other test's session is active."""
    import subprocess
    import sys

    code = (
        "from pyspark import SparkContext\n"
        "from lgs_analytics.devtools.slim_ci import drop_schemas\n"
        "drop_schemas([])\n"
        "drop_schemas(['ci_lgs_marts'])\n"
        "assert SparkContext._active_spark_context is None, 'a Spark session was started'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Not dropped (no Spark session of the build in this process)" in result.stdout
