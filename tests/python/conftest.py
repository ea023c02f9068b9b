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
# The suite is one developer whose schemas are `lgs_*` on every development target (the
# tests read lgs_marts on the shared catalog too): neither a developer's own LGS_SCHEMA nor
# the user-name default of the shared-catalog targets (profiles.yml.example) renames them.
os.environ["LGS_SCHEMA"] = "lgs"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every Spark driver JVM of the suite maps the class archive (written once, ~1 min):
    each starts about 5 s sooner, and the suite starts dozens of them."""
    from dbt.adapters.sparkplus.class_sharing import share_classes
    from lgs_analytics.runtime.jvm_archive import ensure

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


# `make test` runs pytest on two pytest-xdist workers (`-n 2 --dist loadfile`): one test
# file at a time per worker, in collection order (the long end-to-end files first), every
# test of a file on the same worker. The session fixtures of tests/python/e2e/conftest.py
# own a built state folder (a Derby metastore only one process may open), so the files that
# use one state are one unit of the schedule: they run on one worker, one after another.
STATE_UNITS = {
    "default_build": "default state",
    "default_tables": "default state",
    "reference": "default state",
    "malformed_build": "malformed state",
    "malformed_tables": "malformed state",
}
STATE_FILES = {
    "tests/python/e2e/test_docs_and_report.py": "default state",
    "tests/python/e2e/test_python_models_parity.py": "default state",
    "tests/python/e2e/test_staging_and_marts.py": "default state",
    "tests/python/e2e/test_cluster.py": "malformed state",
    "tests/python/e2e/test_idempotency.py": "malformed state",
    "tests/python/e2e/test_malformed_rows.py": "malformed state",
    "tests/python/e2e/test_plain_pyspark_floor.py": "malformed state",
    "tests/python/e2e/test_slim_ci.py": "malformed state",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses a built state from a file outside that state's unit."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        for unit in {STATE_UNITS[name] for name in STATE_UNITS if name in item.fixturenames}:
            if STATE_FILES.get(module) != unit:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the {unit}: list {module} as {unit!r} in STATE_FILES "
                    "(tests/python/conftest.py), or two workers would open its metastore at once."
                )


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadfile`, the files of one state as one unit, units in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StateFileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return STATE_FILES.get(module, module)

    # Not xdist's default order (most tests first): the long single-test files would end
    # the run on one worker while the other has nothing left.
    config.option.loadscopereorder = False
    return StateFileScheduling(config, log)
