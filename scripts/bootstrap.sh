#!/usr/bin/env bash
# Create .venv and install the pinned environment; a no-op when it is already current.
# Checks Python 3.11 and Java 17+ first and says in one sentence what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
    echo "error: this project needs Python 3.11 (found: $("$PYTHON" --version 2>&1)); install python3.11 and retry." >&2
    exit 2
fi

java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
    echo "error: Spark needs Java 17+ but no java was found; install OpenJDK 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)." >&2
    exit 2
fi
java_major="$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -1 | awk '{ print ($1 == 1) ? $2 : $1 }')"
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
    echo "error: Spark 4 needs Java 17 or 21 but $java_bin is Java ${java_major:-unknown}; install OpenJDK 17 and put it first on the PATH or set JAVA_HOME." >&2
    exit 2
fi

stamp_key="$(cat pyproject.toml requirements/lock.txt | sha256sum | cut -c1-16)"
stamp=".venv/.installed-$stamp_key"
if [ -f "$stamp" ]; then
    exit 0
fi

echo "Installing the pinned environment into .venv (first run: a few minutes)..."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
pip_install() {
    .venv/bin/python -m pip install --disable-pip-version-check "$@" >"$log" 2>&1 || {
        cat "$log" >&2
        echo "error: pip install $* failed (output above)." >&2
        exit 1
    }
}
"$PYTHON" -m venv .venv
pip_install --upgrade "pip>=24" setuptools wheel
pip_install -r requirements/lock.txt
# compat mode puts src/ on sys.path, which keeps dbt.adapters (a pkgutil namespace that
# dbt-core owns) extensible by our src/dbt/adapters/sparkplus without shadowing dbt itself.
pip_install --no-deps -e . --config-settings editable_mode=compat
rm -f .venv/.installed-*
touch "$stamp"
echo "Environment ready."
