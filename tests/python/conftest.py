"""Shared pytest fixtures: a small local SparkSession and loading dbt Python model files."""

from __future__ import annotations

import os
import sys

import pytest

from lgs_testing import LOG4J, PROJECT_ROOT, load_python_model

__all__ = ["LOG4J", "PROJECT_ROOT", "load_python_model"]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
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
        # Keep any table a test creates out of the working directory.
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile={LOG4J} -Duser.timezone=UTC",
        )
        .getOrCreate()
    )
    yield session
    session.stop()
