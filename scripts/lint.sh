#!/usr/bin/env bash
# Blocking lint: ruff (lint + format), YAML syntax, secret scan (detect-secrets), sqlfluff
# (dbt templater), documentation coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PY_PATHS=(src tests/python python_models benchmarks)

echo "== ruff"
"$BIN/ruff" check "${PY_PATHS[@]}"
"$BIN/ruff" format --check "${PY_PATHS[@]}"

echo "== yaml"
"$BIN/python" -m lgs_analytics.devtools.lint_checks yaml

echo "== secrets (detect-secrets against .secrets.baseline; tracked and new files)"
"$BIN/python" -m lgs_analytics.devtools.lint_checks secrets

echo "== sqlfluff (dbt templater, local profile)"
# Its own state folder: the templater starts Spark and must not lock a build's metastore.
export LGS_STATE_DIR="$PWD/.lgs-lint"
[ -f profiles.yml ] || cp profiles.yml.example profiles.yml
SQL_PATHS=(models tests analyses)
# A pull request lints only the SQL files it changed since LINT_SQL_SINCE (a git revision).
if [ -n "${LINT_SQL_SINCE:-}" ]; then
    mapfile -t SQL_PATHS < <(git diff --name-only --diff-filter=ACMR "$LINT_SQL_SINCE" -- \
        'models/*.sql' 'tests/*.sql' 'analyses/*.sql')
    echo "${#SQL_PATHS[@]} SQL files changed since $LINT_SQL_SINCE"
fi
if [ ${#SQL_PATHS[@]} -gt 0 ]; then
    "$BIN/sqlfluff" lint "${SQL_PATHS[@]}" --disable-progress-bar --nocolor
fi

echo "== documentation coverage (every node, column and macro described; dbt parse)"
# The descriptions only: the comparison with the warehouse's columns needs a build
# (`python -m lgs_analytics.devtools.docs_check` after `dbt docs generate`, an end-to-end test).
"$BIN/dbt" parse --quiet --target local --profiles-dir . \
    --target-path "$LGS_STATE_DIR/docs-target" --log-path "$LGS_STATE_DIR/logs"
"$BIN/python" -m lgs_analytics.devtools.docs_check --manifest-only --target-dir "$LGS_STATE_DIR/docs-target"
