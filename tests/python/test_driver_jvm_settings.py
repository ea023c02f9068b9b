"""The local target's driver JVM runs with what its profile asks for (docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lgs_testing import PROJECT_ROOT, environ_without_lgs

# A Spark session of the local target, as the project's tools and dbt make it, reporting
# the JVM's garbage collectors and Spark's size of its generated-code cache.
PROBE = textwrap.dedent(
    """
    import json
    from lgs_analytics.runtime.spark_session import get_session

    spark = get_session(app_name="lgs-jvm-probe")
    beans = spark._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    print(json.dumps({
        "collectors": sorted(bean.getName() for bean in beans),
        "codegen_cache": spark.conf.get("spark.sql.codegen.cache.maxEntries"),
    }))
    spark.stop()
    """
)


def _probe(tmp_path: Path, **env: str) -> dict:
    state = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env={**environ_without_lgs(), "LGS_STATE_DIR": str(state), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.e2e
def test_local_driver_runs_the_throughput_collector_unless_told_otherwise(tmp_path: Path) -> None:
    default = _probe(tmp_path)
    # The parallel (throughput) collector: a build is a batch job, not a latency-bound service.
    assert default["collectors"] == ["PS MarkSweep", "PS Scavenge"], default
    assert default["codegen_cache"] == "1000"
    # LGS_DRIVER_GC replaces the collector option instead of adding a second one, which the
    # JVM would refuse to start with.
    chosen = _probe(tmp_path, LGS_DRIVER_GC="-XX:+UseG1GC")
    assert chosen["collectors"] and all(name.startswith("G1 ") for name in chosen["collectors"])
