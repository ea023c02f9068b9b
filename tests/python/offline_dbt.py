"""dbt commands that only parse the project (no Spark, no workspace, no network), on the
profile as profiles.yml.example writes it: what a fresh clone's `make build` copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lgs_testing import PROJECT_ROOT

DBT = str(Path(sys.executable).with_name("dbt"))
DUMMY_DATABRICKS = {
    "DATABRICKS_HOST": "adb-1234567890123456.7.azuredatabricks.net",
    "DATABRICKS_HTTP_PATH": "sql/protocolv1/o/1234567890123456/0123-456789-offline0",
    "DATABRICKS_TOKEN": "offline-dummy-token",
}


def offline_env(work: Path, **settings: str) -> dict[str, str]:
    """This process's environment without the developer's LGS_/DATABRICKS_/DBT_ settings,
    with dummy Databricks credentials, a dead proxy and `settings` on top."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LGS_", "DATABRICKS_", "DBT_"))
    }
    env.update(DUMMY_DATABRICKS)
    env.update(
        DO_NOT_TRACK="1",
        LGS_STATE_DIR=str(work / "state"),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    env.update(settings)
    return env


def run_dbt_offline(
    work: Path, *args: str, target: str, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """`dbt <args> --target <target>` with the example profile; artifacts in `work`."""
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "profiles.yml.example", profiles / "profiles.yml")
    result = subprocess.run(
        [
            DBT,
            *args,
            "--target",
            target,
            "--project-dir",
            str(PROJECT_ROOT),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def parsed_manifest(work: Path, target: str, env: dict[str, str]) -> dict:
    """target/manifest.json of `dbt parse --target <target>`."""
    run_dbt_offline(work, "parse", "--no-partial-parse", target=target, env=env)
    return json.loads((work / "target" / "manifest.json").read_text())


def listed(work: Path, *selection: str, target: str = "local") -> dict[str, dict]:
    """`dbt ls <selection> --output json` of every resource type, by unique_id."""
    result = run_dbt_offline(
        work,
        "ls",
        "--quiet",
        "--resource-type",
        "all",
        *selection,
        "--output",
        "json",
        "--output-keys",
        "unique_id resource_type name tags original_file_path",
        target=target,
        env=offline_env(work),
    )
    nodes = (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{"))
    return {node["unique_id"]: node for node in nodes}
