"""scripts/junit_summary.py: the CI job summary of JUnit reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lgs_testing import PROJECT_ROOT

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" skipped="1" time="12.5">
<testcase classname="tests.python.test_a" name="test_ok" time="1"/>
<testcase classname="tests.python.test_a" name="test_bad" time="1">
<failure message="assert 1 == 2&#10;second line">trace</failure></testcase>
<testcase classname="tests.python.test_a" name="test_skip" time="0"><skipped/></testcase>
</testsuite></testsuites>
"""


def _module():
    spec = importlib.util.spec_from_file_location(
        "junit_summary", PROJECT_ROOT / "scripts" / "junit_summary.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_counts_and_names_the_failures(tmp_path: Path) -> None:
    report = tmp_path / "junit-fast.xml"
    report.write_text(REPORT)
    text = _module().summarize([report, tmp_path / "missing.xml"])
    assert "| junit-fast.xml | 3 | 1 | 0 | 1 | 12 |" in text
    assert "| missing.xml | not written |" in text
    assert "- **failure** `tests.python.test_a::test_bad`: assert 1 == 2" in text
    assert "second line" not in text and "test_ok" not in text
