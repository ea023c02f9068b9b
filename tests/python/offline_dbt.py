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


def _options(work: Path, target: str) -> list[str]:
    """The target, the example profile (copied into `work`) and artifacts in `work`."""
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "profiles.yml.example", profiles / "profiles.yml")
    return [
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
    ]


def run_dbt_offline(
    work: Path, *args: str, target: str, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """`dbt <args> --target <target>` with the example profile; artifacts in `work`."""
    result = subprocess.run(
        [DBT, *args, *_options(work, target)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def parsed_manifests(work: Path, targets: list[str], env: dict[str, str]) -> dict[str, dict]:
    """target/manifest.json of `dbt parse --target <target>` for each target, parsed one
    after the other by one process (artifacts in `work`/<target>)."""
    steps = [(["parse", "--no-partial-parse", *_options(work / t, t)], False) for t in targets]
    run_dbt_batch(steps, env)
    return {t: json.loads((work / t / "target" / "manifest.json").read_text()) for t in targets}


LIST_OPTIONS = [
    "--quiet",
    "--resource-type",
    "all",
    "--output",
    "json",
    "--output-keys",
    "unique_id resource_type name tags original_file_path",
]
# dbt's programmatic entry point in one process: each step's arguments in turn, a step
# marked "reuse" on the manifest of the last `parse` (no parse of its own); what each `ls`
# listed, printed after RESULTS.
BATCH = r"""
import json, sys
from dbt.cli.main import dbtRunner

manifest, listed = None, []
for step in json.load(sys.stdin):
    runner = dbtRunner(manifest=manifest) if step["reuse"] else dbtRunner()
    result = runner.invoke(step["args"])
    if not result.success:
        print("FAILED", step["args"], result.exception, flush=True)
        sys.exit(1)
    if step["args"][0] == "parse":
        manifest = result.result
    listed.append(list(result.result) if step["args"][0] == "ls" else None)
print("RESULTS" + json.dumps(listed), flush=True)
"""


def run_dbt_batch(
    steps: list[tuple[list[str], bool]], env: dict[str, str]
) -> list[list[str] | None]:
    """dbt commands (arguments, reuse the last parse's manifest) in ONE new process: the
    Python start, dbt's imports and the parse paid once. What each `ls` step listed."""
    plan = [{"args": args, "reuse": reuse} for args, reuse in steps]
    result = subprocess.run(
        [sys.executable, "-c", BATCH],
        cwd=PROJECT_ROOT,
        env=env,
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("RESULTS")]
    return json.loads(line.removeprefix("RESULTS"))


def listed_many(
    work: Path, selections: dict[str, tuple[str, ...]], target: str = "local"
) -> dict[str, dict[str, dict]]:
    """`dbt ls <selection> --output json` of every resource type for each named selection,
    by unique_id, on ONE parse of the project (its manifest in `work`/target)."""
    options = _options(work, target)
    steps = [(["parse", "--no-partial-parse", *options], False)]
    steps += [
        (["ls", *LIST_OPTIONS, *selection, *options], True) for selection in selections.values()
    ]
    outputs = run_dbt_batch(steps, offline_env(work))[1:]
    return {
        name: {node["unique_id"]: node for node in map(json.loads, lines)}
        for name, lines in zip(selections, outputs, strict=True)
    }
