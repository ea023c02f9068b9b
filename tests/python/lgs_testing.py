"""Helpers shared by the unit and end-to-end tests (importable: tests/python is on the path)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG4J = PROJECT_ROOT / "conf" / "log4j2.properties"
# What the suite sets for the Spark JVMs it starts (tests/python/conftest.py): the C1-only
# JIT of drivers and executors, and the class archive. Kept when a test clears the LGS_
# variables of the engineer's own environment.
SUITE_SETTINGS = ("LGS_DRIVER_JAVA_OPTIONS", "LGS_EXECUTOR_JAVA_OPTIONS", "LGS_JVM_ARCHIVE")


def environ_without_lgs() -> dict[str, str]:
    """This process's environment without LGS_ variables, except the suite's own settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LGS_") or key in SUITE_SETTINGS
    }


def load_python_model(relative_path: str) -> ModuleType:
    """Import a dbt Python model file (python_models/...) as a module for unit tests."""
    path = PROJECT_ROOT / relative_path
    spec = importlib.util.spec_from_file_location("dbt_model_" + path.stem, path)
    assert spec and spec.loader, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def closing_line(state: Path) -> str:
    """dbt's summary of the state's last build with data tests ("Finished running ...")."""
    log = (state / "logs" / "dbt.log").read_text(errors="replace")
    lines = [
        line for line in log.splitlines() if "Finished running" in line and "data test" in line
    ]
    assert lines, f"no build with data tests in {state / 'logs' / 'dbt.log'}"
    return lines[-1]
