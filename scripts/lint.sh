#!/usr/bin/env bash
# Blocking lint: ruff (lint + format), YAML syntax, secret scan, sqlfluff (dbt templater).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PY_PATHS=(src tests/python python_models benchmarks)

echo "== ruff"
"$BIN/ruff" check "${PY_PATHS[@]}"
"$BIN/ruff" format --check "${PY_PATHS[@]}"

echo "== yaml"
"$BIN/python" -m lgs_analytics.lint_checks yaml

echo "== secrets"
"$BIN/python" -m lgs_analytics.lint_checks secrets

echo "== sqlfluff (dbt templater, local profile)"
# Its own state folder: the templater starts Spark and must not lock a build's metastore.
export LGS_STATE_DIR="$PWD/.lgs-lint"
[ -f profiles.yml ] || cp profiles.yml.example profiles.yml
"$BIN/sqlfluff" lint models tests analyses --disable-progress-bar --nocolor
