"""The Spark driver's class-data-sharing archive: where it is, and that Spark uses it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dbt.adapters.sparkplus.class_sharing import archive_path, share_classes, without_cds
from lgs_analytics.runtime.jvm_archive import ensure
from reliability_testing import lgs

SPARK_CONTEXT = "org.apache.spark.SparkContext "


def test_archive_lives_in_the_environment_and_follows_the_jvm(tmp_path: Path) -> None:
    java = Path(sys.executable)  # any existing file stands in for a java binary here
    fake_home = tmp_path / "jdk"
    (fake_home / "bin").mkdir(parents=True)
    (fake_home / "bin" / "java").write_bytes(java.read_bytes()[:1000])
    default = archive_path({"PATH": os.environ["PATH"]})
    other_jdk = archive_path({"JAVA_HOME": str(fake_home)})
    assert default is not None and other_jdk is not None
    assert default.parent == Path(sys.prefix) / "share" / "lgs-analytics"
    assert default != other_jdk, "another JVM must not reuse this JVM's archive"
    assert archive_path({"LGS_JVM_ARCHIVE": "off"}) is None
    assert archive_path({"LGS_JVM_ARCHIVE": str(tmp_path / "a.jsa")}) == tmp_path / "a.jsa"
    assert archive_path({"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": ""}) is None


def test_share_classes_adds_the_archive_once_and_keeps_other_options(tmp_path: Path) -> None:
    archive = tmp_path / "spark.jsa"
    env = {"LGS_JVM_ARCHIVE": str(archive), "SPARK_SUBMIT_OPTS": "-Dkeep=1"}
    assert share_classes(env) is None, "no archive yet: nothing to share"
    assert env["SPARK_SUBMIT_OPTS"] == "-Dkeep=1"
    archive.write_bytes(b"x")
    assert share_classes(env) == archive
    assert env["SPARK_SUBMIT_OPTS"] == f"-Dkeep=1 -XX:SharedArchiveFile={archive} -Xlog:cds*=off"
    assert share_classes(env) is None, "a second call must not add it twice"
    writing = {"LGS_JVM_ARCHIVE": str(archive), "SPARK_SUBMIT_OPTS": "-XX:ArchiveClassesAtExit=x"}
    assert share_classes(writing) is None
    assert writing["SPARK_SUBMIT_OPTS"] == "-XX:ArchiveClassesAtExit=x"
    assert without_cds("-Dkeep=1 -XX:ArchiveClassesAtExit=x -XX:SharedArchiveFile=y") == "-Dkeep=1"


def _spark_context_source(tmp_path: Path, name: str, **extra: str) -> str:
    """Where the driver JVM of `lgs sql` loaded SparkContext from, per the JVM's class log."""
    log = tmp_path / f"{name}.log"
    env = {key: value for key, value in os.environ.items() if key != "SPARK_SUBMIT_OPTS"}
    env.update(
        LGS_STATE_DIR=str(tmp_path / "state"),
        LGS_DRIVER_JAVA_OPTIONS=f"-Xlog:class+load=info:file={log}",
        **extra,
    )
    result = lgs("sql", "select 1 as one", env=env, timeout=600).assert_ok()
    assert '{"one": 1}' in result.output
    lines = [line for line in log.read_text().splitlines() if SPARK_CONTEXT in line]
    assert lines, "the JVM logged no load of SparkContext"
    return lines[0].split(" source: ", 1)[1]


@pytest.mark.e2e
def test_spark_driver_maps_its_classes_from_the_archive(tmp_path: Path) -> None:
    archive = ensure(quiet=True)
    if archive is None:
        pytest.fail("the class archive could not be written on this machine")
    shared = _spark_context_source(tmp_path, "shared")
    assert shared == "shared objects file (top)", shared
    unshared = _spark_context_source(tmp_path, "unshared", LGS_JVM_ARCHIVE="off")
    assert unshared.startswith(("file:", "jar:")) and "spark-core" in unshared, unshared
