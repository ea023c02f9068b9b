"""The gates of `make lint` built on maintained tools: yamllint's syntax and duplicate-key
rules for every YAML file (PyYAML would keep the last of two equal keys without a word)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lgs_analytics.devtools.lint_checks import check_yaml
from lgs_testing import PROJECT_ROOT

DUPLICATE = """version: 2
models:
  - name: monthly_sales
    data_tests: [a]
    data_tests: [b]
"""


def test_a_duplicate_key_fails_the_yaml_step_of_make_lint(tmp_path: Path) -> None:
    schema = tmp_path / "_models.yml"
    schema.write_text(DUPLICATE)
    # The command scripts/lint.sh runs, on the planted file.
    lint = (PROJECT_ROOT / "scripts" / "lint.sh").read_text()
    assert "-m lgs_analytics.devtools.lint_checks yaml" in lint
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.devtools.lint_checks", "yaml", str(schema)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert f'{schema}:5:5: duplication of key "data_tests" in mapping (key-duplicates)' in (
        result.stderr
    )


def test_yaml_check_reports_syntax_errors_and_passes_clean_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    clean = tmp_path / "clean.yml"
    clean.write_text("a: &base {x: 1}\nb:\n  <<: *base\n  y: 2\n")  # merge keys are fine
    other = tmp_path / "notes.txt"
    other.write_text("a: 1\na: 2\n")
    [problem] = check_yaml([broken, clean, other])
    assert problem.startswith(f"{broken}:2:1: syntax error")


def test_docs_gate_of_make_lint_fails_on_a_missing_description(tmp_path: Path) -> None:
    from lgs_analytics.devtools.docs_check import main

    lint = (PROJECT_ROOT / "scripts" / "lint.sh").read_text()
    assert "-m lgs_analytics.devtools.docs_check --manifest-only" in lint
    model = {
        "resource_type": "model",
        "package_name": "lgs_analytics",
        "original_file_path": "models/marts/x.sql",
        "description": "Documented.",
        "config": {"materialized": "table"},
        "columns": {"a": {"description": "A."}, "b": {"description": ""}},
    }
    manifest = {"metadata": {"project_name": "lgs_analytics"}, "nodes": {"model.p.x": model}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    # No catalog.json: the gate needs none.
    assert main(["--manifest-only", "--target-dir", str(tmp_path)]) == 1
    model["columns"]["b"]["description"] = "B."
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["--manifest-only", "--target-dir", str(tmp_path)]) == 0
    assert main(["--target-dir", str(tmp_path)]) == 2  # the full check needs the catalog
