"""Helpers shared by the unit and end-to-end tests (importable: tests/python is on the path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The tests import load_python_model from here.
from lgs_analytics.devtools.python_models import load_python_model  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG4J = PROJECT_ROOT / "conf" / "log4j2.properties"
# A minimal dbt project on the sparkplus adapter (one SQL model, two Python models) that
# end-to-end tests copy and extend.
PROBE_PROJECT = PROJECT_ROOT / "tests" / "python" / "fixtures" / "python_model_project"
# What the suite sets for the Spark JVMs it starts (tests/python/conftest.py): the C1-only
# JIT of drivers and executors, the class archive; and its schema prefix. Kept when a test
# clears the LGS_ variables of the engineer's own environment.
SUITE_SETTINGS = (
    "LGS_DRIVER_JAVA_OPTIONS",
    "LGS_EXECUTOR_JAVA_OPTIONS",
    "LGS_JVM_ARCHIVE",
    "LGS_SCHEMA",
)


def environ_without_lgs() -> dict[str, str]:
    """This process's environment without LGS_ variables, except the suite's own settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LGS_") or key in SUITE_SETTINGS
    }


def closing_line(state: Path) -> str:
    """dbt's summary of the state's last build with data tests ("Finished running ...")."""
    log = (state / "logs" / "dbt.log").read_text(errors="replace")
    lines = [
        line for line in log.splitlines() if "Finished running" in line and "data test" in line
    ]
    assert lines, f"no build with data tests in {state / 'logs' / 'dbt.log'}"
    return lines[-1]


def probe_project(work: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the probe dbt project in `work`/project, and the environment of its runs:
    its own state folder (`work`/state: warehouse and Derby metastore) and the log setup."""
    project = work / "project"
    shutil.copytree(PROBE_PROJECT, project)
    state = work / "state"
    state.mkdir()
    env = dict(os.environ, PROBE_STATE_DIR=str(state), PROBE_LOG4J=str(LOG4J), DO_NOT_TRACK="1")
    return project, env


def run_probe_script(project: Path, env: dict[str, str], script: str, *args: str) -> object:
    """Run `script` (Python source) in a new process in `project`, with `project` and
    `args` as its arguments, and return the JSON it printed after "RESULT "."""
    result = subprocess.run(
        [sys.executable, "-c", script, str(project), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0 and "RESULT " in result.stdout, (
        result.stdout[-6000:] + result.stderr[-4000:]
    )
    return json.loads(result.stdout.split("RESULT ", 1)[1])
