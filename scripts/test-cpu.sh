#!/usr/bin/env bash
# The CPU time of test files, each run alone by pytest: the CPU seconds of every process the
# test starts (dbt, Spark JVMs, PostgreSQL, ij, their children, killed or not), counted by a
# cgroup the run is started in, and the wall time beside it.
#
#   sudo bash scripts/test-cpu.sh tests/python/e2e/test_interrupted_builds.py [more files]
#
# A test's CPU seconds hardly depend on what else runs on the machine, unlike its duration:
# on a 2-core machine whose two pytest workers keep both cores busy (`make test`), a test
# adds about CPU / 2 to the suite's wall time. Needs root and a cgroup v1 `cpuacct` or a
# cgroup v2 hierarchy (docs/TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: $0 TEST_FILE [TEST_FILE ...]" >&2; exit 2; }
if [ -d /sys/fs/cgroup/cpuacct ]; then
    ROOT=/sys/fs/cgroup/cpuacct
    usage() { echo "$(cat "$1/cpuacct.usage") / 1000000000" | bc -l; }
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    ROOT=/sys/fs/cgroup
    usage() { echo "$(awk '$1 == "usage_usec" {print $2}' "$1/cpu.stat") / 1000000" | bc -l; }
else
    echo "no cgroup cpu accounting here (/sys/fs/cgroup/cpuacct or cgroup v2)" >&2
    exit 2
fi
if ! mkdir -p "$ROOT/lgs-test-cpu-$$" 2>/dev/null; then
    echo "cannot create a cgroup in $ROOT: run as root" >&2
    exit 2
fi
rmdir "$ROOT/lgs-test-cpu-$$"

printf '%-60s %6s %9s %8s  %s\n' "test file" "exit" "CPU s" "wall s" "load before"
for test in "$@"; do
    group="$ROOT/lgs-test-cpu-$$-$(basename "$test" .py)"
    mkdir "$group"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log="${TMPDIR:-/tmp}/test-cpu-$(basename "$test" .py).log"
    started=$(date +%s.%N)
    set +e
    bash -c "echo \$\$ > '$group/cgroup.procs'; exec .venv/bin/pytest -p no:cacheprovider -q '$test'" \
        >"$log" 2>&1
    code=$?
    set -e
    ended=$(date +%s.%N)
    printf '%-60s %6s %9.1f %8.1f  %s\n' "$test" "$code" "$(usage "$group")" \
        "$(echo "$ended - $started" | bc -l)" "$load"
    # Anything the test left running moves to the root group; the group goes.
    while read -r pid; do echo "$pid" >"$ROOT/cgroup.procs" 2>/dev/null || true; done \
        <"$group/cgroup.procs"
    rmdir "$group"
done
