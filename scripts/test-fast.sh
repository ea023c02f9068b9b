#!/usr/bin/env bash
# The fast lane (`make test-fast`): lint, the unit tests, then a build of the whole project on
# a small synthetic dataset with the dbt unit tests (its own state folder, .lgs-fast), then
# the slim-CI check against the production state (LGS_PROD_STATE: CI passes the main
# branch's; else the state of that build, where nothing is modified). `make test` is the
# whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start )) s)"; }

step "lint"
bash scripts/lint.sh

step "unit tests (pytest -m 'not e2e and not cluster')"
"$BIN/pytest" -n "${PYTEST_WORKERS:-2}" --dist loadfile -m "not e2e and not cluster" \
    ${PYTEST_ARGS:-}

export LGS_STATE_DIR="${LGS_FAST_STATE_DIR:-$PWD/.lgs-fast}"
unset LGS_RAW_PATH LGS_TARGET
step "build + dbt unit tests on ${FAST_ROWS:=3000} synthetic rows ($LGS_STATE_DIR)"
"$BIN/lgs" build --rows "$FAST_ROWS" --seed 7 --unit-tests --skip-docs --skip-report

step "slim CI (state:modified+ against ${LGS_PROD_STATE:-$LGS_STATE_DIR/prod-state})"
LGS_CI_SCHEMA="${LGS_CI_SCHEMA:-ci_fast}" "$BIN/python" -m lgs_analytics.devtools.slim_ci --drop-schemas

step "fast lane passed"
