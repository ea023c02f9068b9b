#!/usr/bin/env bash
# The dbt-level tests on one supported dbt line (docs/DBT_VERSIONS.md), in the environment
# given: `make test-dbt111` (.venv) and `make test-dbt112` (.venv-dbt112), the workflow's
# dbt-core matrix. Not part of `make test`, which runs everything on .venv.
#   1. the tests of the adapter plugin and of the dbt project that need no built state
#      (dbt parse, ls and compile offline, the Databricks target included);
#   2. `lgs build` of the default target on a small synthetic dataset in its own state
#      folder (.lgs-dbt111, .lgs-dbt112; LGS_DBT_STATE_DIR): source freshness, every model
#      (Python models included), the data tests and the dbt unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:?usage: scripts/test-dbt-level.sh <virtual environment, e.g. .venv-dbt112>}"
BIN="$VENV/bin"
if [ ! -x "$BIN/dbt" ]; then
    echo "error: $VENV has no dbt; create it first (make bootstrap or make bootstrap-dbt112)." >&2
    exit 2
fi
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start )) s)"; }
versions="$("$BIN/python" -c 'from importlib.metadata import version as v
print(", ".join(f"{p} {v(p)}" for p in ("dbt-core", "dbt-spark", "dbt-databricks")))')"
line="$("$BIN/python" -c 'from importlib.metadata import version; print("".join(version("dbt-core").split(".")[:2]))')"

step "dbt-level unit tests on $versions"
"$BIN/pytest" -n "${PYTEST_WORKERS:-2}" --dist loadfile -m "not e2e and not cluster" \
    tests/python/test_dbt_versions.py \
    tests/python/test_model_config.py \
    tests/python/test_sparkplus_adapter.py \
    tests/python/test_databricks_parse.py \
    tests/python/test_schema_names.py \
    tests/python/test_selectors.py \
    ${PYTEST_ARGS:-}

export LGS_STATE_DIR="${LGS_DBT_STATE_DIR:-$PWD/.lgs-dbt$line}"
unset LGS_RAW_PATH LGS_TARGET
step "build + dbt unit tests on ${DBT_LEVEL_ROWS:=3000} synthetic rows ($LGS_STATE_DIR)"
"$BIN/lgs" build --rows "$DBT_LEVEL_ROWS" --seed 7 --unit-tests --force --skip-docs --skip-report

step "dbt-level tests passed on $versions"
