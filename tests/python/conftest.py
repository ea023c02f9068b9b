"""Shared pytest fixtures: a small local SparkSession and loading dbt Python model files."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG4J = PROJECT_ROOT / "conf" / "log4j2.properties"


@pytest.fixture(scope="session")
def spark():
    """A plain local SparkSession (no Hive) for unit tests of pure DataFrame functions."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lgs-unit-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.ansi.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile={LOG4J} -Duser.timezone=UTC",
        )
        .getOrCreate()
    )
    yield session
    session.stop()


def load_python_model(relative_path: str) -> ModuleType:
    """Import a dbt Python model file (python_models/...) as a module for unit tests."""
    path = PROJECT_ROOT / relative_path
    name = "dbt_model_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
