"""Shared pytest fixtures: a small local SparkSession and loading dbt Python model files."""

from __future__ import annotations

import os
import sys

import pytest

from lgs_testing import LOG4J, PROJECT_ROOT, load_python_model

__all__ = ["LOG4J", "PROJECT_ROOT", "load_python_model"]

# The tests' Spark JVMs (dbt builds, readers, this file's session) live for a minute or two
# on small data: most of their CPU went to the C2 JIT compiler, whose code they never run
# long enough to pay back. C1 alone makes a 30k-row build about 20% faster and changes no
# result (docs/PERFORMANCE.md); a user's own setting wins.
C1_ONLY = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m"
os.environ.setdefault("LGS_DRIVER_JAVA_OPTIONS", C1_ONLY)
# The executors of the `cluster` target live as briefly as the build that starts them.
os.environ.setdefault("LGS_EXECUTOR_JAVA_OPTIONS", C1_ONLY)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every Spark driver JVM of the suite maps the class archive (written once, ~1 min):
    each starts about 5 s sooner, and the suite starts dozens of them."""
    from dbt.adapters.sparkplus.class_sharing import share_classes
    from lgs_analytics.jvm_archive import ensure

    if ensure(quiet=True) is not None:
        share_classes(os.environ)


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
            f"-Dlog4j2.configurationFile={LOG4J} -Duser.timezone=UTC "
            + os.environ["LGS_DRIVER_JAVA_OPTIONS"],
        )
        .getOrCreate()
    )
    yield session
    session.stop()


# Fixtures that own a state folder (a Derby metastore only one process may open): every
# test that needs one runs on the same pytest-xdist worker, so the state is built once.
STATE_FIXTURES = ("malformed_build", "default_build")


def xdist_group(item: pytest.Item) -> str:
    """The group of tests one pytest-xdist worker runs (`make test` runs two workers with
    `--dist loadgroup`): the tests of one built state folder, else those of one module, whose
    module fixtures (services, builds) then start once."""
    for name in STATE_FIXTURES:
        if name in item.fixturenames:
            return name
    return item.nodeid.split("::", 1)[0]


# tryfirst: pytest-xdist reads the mark in its own hook of the same name.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
