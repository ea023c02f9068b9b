"""The main job's safety rails: Java check, profile handling, change detection."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lgs_analytics.runtime.build import (
    ensure_profile,
    fingerprint,
    is_up_to_date,
    main_job,
    record_success,
)
from lgs_analytics.runtime.environment import MissingRequirementError, check_java, parse_java_major
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import profile_drift


def fake_jdk(tmp_path: Path, version_line: str) -> Path:
    """A JAVA_HOME whose java prints `version_line` like `java -version` does."""
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return home


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ("no version here", None),
    ],
)
def test_parse_java_major(output, major):
    assert parse_java_major(output) == major


def test_old_java_is_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(tmp_path, 'openjdk version "11.0.2"')))
    with pytest.raises(MissingRequirementError) as error:
        check_java()
    message = str(error.value)
    assert "Java 11" in message and "OpenJDK 17" in message
    assert "\n" not in message


def test_missing_java_is_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(MissingRequirementError, match="no java was found at \\$JAVA_HOME"):
        check_java()


def test_the_machine_java_passes():
    assert check_java() >= 17


def test_cli_reports_missing_java_without_a_stack_trace(tmp_path):
    env = dict(os.environ, JAVA_HOME=str(tmp_path / "nowhere"))
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: Spark needs Java 17+")
    assert "Traceback" not in result.stderr


def project(tmp_path: Path) -> ProjectPaths:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: x\n")
    (root / "profiles.yml.example").write_text("lgs: {target: local}\n")
    (root / "models" / "a.sql").write_text("select 1 as id\n")
    return ProjectPaths(root=root, state=root / ".lgs")


def test_profile_is_created_once_and_never_overwritten(tmp_path):
    paths = project(tmp_path)
    assert ensure_profile(paths) is True
    assert paths.profiles.read_text() == paths.profiles_example.read_text()
    paths.profiles.write_text("lgs: {target: my_own}\n")
    assert ensure_profile(paths) is False
    assert paths.profiles.read_text() == "lgs: {target: my_own}\n"


EXAMPLE_PROFILE = """\
lgs:
  target: local
  outputs:
    local:
      type: sparkplus
      method: session
      threads: 4
      server_side_parameters:
        spark.master: "local[*]"
        spark.sql.shuffle.partitions: "{{ env_var('LGS_SHUFFLE_PARTITIONS', '8') }}"
        spark.sql.codegen.cache.maxEntries: "1000"
        spark.driver.extraJavaOptions: >-
          -Dderby.system.home={{ env_var('LGS_STATE_DIR', '.lgs') }}
          -Duser.timezone=UTC
          -XX:+UseParallelGC
"""


def test_a_profile_copied_from_the_example_has_no_drift(tmp_path, monkeypatch):
    paths = project(tmp_path)
    paths.profiles_example.write_text(EXAMPLE_PROFILE)
    assert profile_drift(paths) == []  # no profiles.yml yet: nothing to compare
    ensure_profile(paths)
    # Compared as written: an environment variable that changes the rendered value is the
    # user's setting of the moment, not a drifted file.
    monkeypatch.setenv("LGS_SHUFFLE_PARTITIONS", "64")
    assert profile_drift(paths) == []
    # A target only the user's file has is theirs: nothing to compare it with.
    assert profile_drift(paths, "my_cluster") == []


def test_a_profile_older_than_the_example_is_told_what_differs(tmp_path):
    paths = project(tmp_path)
    paths.profiles_example.write_text(EXAMPLE_PROFILE)
    paths.profiles.write_text(
        EXAMPLE_PROFILE.replace("threads: 4", "threads: 8")
        .replace('        spark.sql.codegen.cache.maxEntries: "1000"\n', "")
        .replace('spark.master: "local[*]"', 'spark.master: "local[*]"\n        spark.my.own: "x"')
        .replace("-XX:+UseParallelGC", "-XX:+UseG1GC")
    )
    assert profile_drift(paths) == [
        "threads: 8 (example: 4)",
        "spark.sql.codegen.cache.maxEntries: not set (example: '1000')",
        # A long option string: only the words that differ.
        "spark.driver.extraJavaOptions: … -XX:+UseG1GC … (example: … -XX:+UseParallelGC …)",
        "spark.my.own: 'x' (not in the example)",
    ]


def test_the_main_job_prints_the_drift_before_it_builds(tmp_path, monkeypatch, capsys):
    paths = project(tmp_path)
    paths.profiles_example.write_text(EXAMPLE_PROFILE)
    paths.profiles.write_text(EXAMPLE_PROFILE.replace("threads: 4", "threads: 1"))
    for key, value in paths.environment().items():
        monkeypatch.setenv(key, value)  # restored after the test; the job only sets defaults
    monkeypatch.chdir(tmp_path)
    paths.raw.mkdir(parents=True)
    (paths.raw / "part-0.csv").write_text("Invoice\n")
    paths.warehouse.mkdir(parents=True)
    record_success(paths, "local")  # up to date: the job stops before dbt
    assert main_job(paths, target="local") == 0
    out = capsys.readouterr().out
    assert f"target 'local' of {paths.profiles} differs from profiles.yml.example" in out
    assert "  threads: 1 (example: 4)" in out
    assert out.index("threads: 1") < out.index("Nothing changed since the last successful build")


def test_fingerprint_follows_models_and_landed_data(tmp_path):
    paths = project(tmp_path)
    first = fingerprint(paths, "local")
    assert fingerprint(paths, "local") == first
    assert fingerprint(paths, "cluster") != first
    # A build with the dbt unit tests is not the same run as the main command's.
    assert fingerprint(paths, "local", unit_tests=True) != first
    (paths.root / "models" / "a.sql").write_text("select 2 as id\n")
    second = fingerprint(paths, "local")
    assert second != first
    paths.raw.mkdir(parents=True)
    (paths.raw / "part-00001.csv").write_text("Invoice\n1\n")
    assert fingerprint(paths, "local") != second


def test_up_to_date_only_after_a_recorded_success(tmp_path):
    paths = project(tmp_path)
    paths.warehouse.mkdir(parents=True)
    messages: list[str] = []
    assert not is_up_to_date(paths, "local", messages.append)
    record_success(paths, "local")
    assert is_up_to_date(paths, "local", messages.append)
    assert "Nothing changed" in messages[0]
    (paths.root / "models" / "b.sql").write_text("select 3 as id\n")
    assert not is_up_to_date(paths, "local", messages.append)
