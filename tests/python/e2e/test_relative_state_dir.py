"""A plain `dbt build` with relative paths (the documented default `.lgs`) reads the raw files.

`var('raw_path')` defaults to `$LGS_STATE_DIR/raw/online_retail_ii`, relative when the state
folder is (`.lgs`, the default, is). Spark resolves a relative table LOCATION against the
schema's warehouse folder, where there are no files: the raw source read zero rows and a
build that mixed `lgs build` (absolute paths) with `dbt` (relative ones) failed its
conservation test. Here a state folder under the project root is named by a relative path
only, the raw source is registered by dbt itself, and every generated row must be read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from lgs_testing import PROJECT_ROOT

pytestmark = pytest.mark.e2e

RELATIVE_STATE = ".lgs-test/relative-state"
ROWS = 2_000


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_raw_source_reads_every_row_from_a_relative_state_folder():
    state = PROJECT_ROOT / RELATIVE_STATE
    shutil.rmtree(state, ignore_errors=True)
    env = dict(os.environ, LGS_STATE_DIR=RELATIVE_STATE, DO_NOT_TRACK="1")
    env.pop("LGS_RAW_PATH", None)
    dbt = [str(PROJECT_ROOT / ".venv" / "bin" / "dbt")]
    if not os.path.exists(dbt[0]):
        dbt = [sys.executable, "-m", "dbt.cli.main"]
    try:
        raw = f"{RELATIVE_STATE}/raw/online_retail_ii"
        _run(
            [
                sys.executable,
                "-m",
                "lgs_analytics.cli",
                "generate",
                "--rows",
                str(ROWS),
                "--out",
                raw,
            ],
            env,
        )
        _run(
            [
                *dbt,
                "run-operation",
                "register_raw_source",
                "--target-path",
                f"{RELATIVE_STATE}/target",
                "--log-path",
                f"{RELATIVE_STATE}/logs",
            ],
            env,
        )
        shown = _run(
            [
                *dbt,
                "show",
                "--output",
                "json",
                "--log-format",
                "json",
                "--target-path",
                f"{RELATIVE_STATE}/target",
                "--log-path",
                f"{RELATIVE_STATE}/logs",
                "--inline",
                "select count(*) as n, count(distinct source_file) as files, "
                "min(source_file) as source_file from raw.online_retail_ii",
            ],
            env,
        )
        preview = next(
            json.loads(json.loads(line)["data"]["preview"])
            for line in shown.stdout.splitlines()
            if line.startswith("{") and '"preview"' in line
        )
        [row] = preview
        assert row["n"] == ROWS
        assert row["files"] == 1
        # The file under the project root, not under the warehouse's schema folder.
        assert row["source_file"].endswith(f"/{raw}/part-00000.csv")
        assert str(state / "warehouse") not in row["source_file"]
    finally:
        shutil.rmtree(state, ignore_errors=True)
