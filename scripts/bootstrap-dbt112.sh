#!/usr/bin/env bash
# Create .venv-dbt112: the project on dbt-core 1.12 (requirements/lock-dbt112.txt) beside
# the default .venv on 1.11; a no-op when it is already current. `make test-dbt112` uses it.
#
# dbt-core 1.12 requires dbt-core-experimental-parser, an sdist whose build downloads a
# binary from GitHub, so it cannot be installed without internet. dbt-core runs that binary
# only under --use-v2-parser (DBT_ENGINE_USE_V2_PARSER, `flags: use_v2_parser`), which this
# project never sets (tests/python/test_dbt_versions.py). By default the lock, complete but
# for that package, is installed with --no-deps, and `pip check` must report nothing else
# missing. LGS_DBT112_PARSER=install (the GitHub workflow, online) installs the lock
# normally instead: pip resolves it and builds the parser.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-dbt112
LOCK=requirements/lock-dbt112.txt
# The release installed online (LGS_DBT112_PARSER=install), pinned like the lock's packages.
PARSER_PIN="dbt-core-experimental-parser==2.0.8"
PARSER_MODE="${LGS_DBT112_PARSER:-skip}"
case "$PARSER_MODE" in
    skip | install) ;;
    *)
        echo "error: LGS_DBT112_PARSER must be skip or install (got '$PARSER_MODE')." >&2
        exit 2
        ;;
esac

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    echo "error: this project needs Python 3.11 (found: $("$PYTHON" --version 2>&1)); install python3.11 and retry." >&2
    exit 2
fi

stamp_key="$(cat pyproject.toml "$LOCK" | sha256sum | cut -c1-16)"
stamp="$VENV/.installed-$PARSER_MODE-$stamp_key"
if [ -f "$stamp" ]; then
    exit 0
fi

echo "Installing the dbt-core 1.12 environment into $VENV (first run: a few minutes)..."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
pip_install() {
    "$VENV/bin/python" -m pip install --disable-pip-version-check "$@" >"$log" 2>&1 || {
        cat "$log" >&2
        echo "error: pip install $* failed (output above)." >&2
        exit 1
    }
}
"$PYTHON" -m venv "$VENV"
pip_install --upgrade "pip>=24" setuptools wheel
if [ "$PARSER_MODE" = install ]; then
    pip_install -r "$LOCK" "$PARSER_PIN"
else
    pip_install --no-deps -r "$LOCK"
fi
# As scripts/bootstrap.sh: compat mode keeps dbt.adapters extensible by src/dbt/adapters/sparkplus.
pip_install --no-deps -e . --config-settings editable_mode=compat

# The lock must be complete: the only requirement pip may find unmet is the parser left out.
problems="$("$VENV/bin/python" -m pip check --disable-pip-version-check 2>&1 || true)"
if [ "$PARSER_MODE" = skip ]; then
    problems="$(grep -v '^dbt-core [0-9.]* requires dbt-core-experimental-parser, which is not installed\.$' <<<"$problems" || true)"
fi
problems="$(grep -v '^No broken requirements found\.$' <<<"$problems" || true)"
if [ -n "$problems" ]; then
    echo "$problems" >&2
    echo "error: $LOCK leaves requirements unmet (above); regenerate it as docs/DBT_VERSIONS.md says." >&2
    exit 1
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "dbt-core 1.12 environment ready: $("$VENV/bin/dbt" --version 2>/dev/null | sed -n "s/^.*installed: *//p")"
