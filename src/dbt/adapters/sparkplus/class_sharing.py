"""Class-data sharing for the Spark driver JVM: start Spark in about half the time.

Before its first query a Hive-enabled Spark driver loads and verifies some 15,000 classes
from the ~250 jars of pyspark; on 2 cores that is most of the 8-12 s a session takes to
start. A dynamic AppCDS archive (JDK 13+, `-XX:ArchiveClassesAtExit`) holds those classes
already parsed and verified; a JVM started with `-XX:SharedArchiveFile=<archive>` maps it
and skips that work (measured in docs/PERFORMANCE.md).

`lgs_analytics.runtime.jvm_archive` writes the archive once per environment (`lgs jvm-archive`;
the test suite runs it at its start). This module only finds it and points the next
driver JVM at it through `SPARK_SUBMIT_OPTS`, which spark-submit passes to the driver JVM
in client mode (pyspark and dbt-spark's session method start Spark that way). It never
fails a run: no archive, `LGS_JVM_ARCHIVE=off`, or an archive the JVM refuses (another JDK
build, a class path that does not start like the one it was written with, such as the
shared targets' extra class path) all start Spark the usual way, silently.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import MutableMapping
from pathlib import Path

ARCHIVE_ENV = "LGS_JVM_ARCHIVE"
OFF = {"off", "0", "false", "no"}
SUBMIT_OPTS = "SPARK_SUBMIT_OPTS"
# Bump when the archive's workload changes, so that an environment writes a new one.
FORMAT = "1"
# The JVM options that use or write an archive: a JVM takes one archive at most.
CDS_FLAGS = ("-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit")


def java_executable(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """The java that spark-submit runs: $JAVA_HOME/bin/java, else the first on the PATH."""
    home = environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not Path(found).exists():
        return None
    return Path(found).resolve()


def _spark_jars() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "jars"


def archive_path(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Where this environment's archive is, or None when sharing is off or impossible.

    `LGS_JVM_ARCHIVE` may name the file, or switch sharing off. By default the archive
    lives in the virtual environment, named after what it depends on: the JVM (its binary
    and libjvm), Spark's jars, and this module's format.
    """
    setting = environ.get(ARCHIVE_ENV, "").strip()
    if setting.lower() in OFF:
        return None
    if setting:
        return Path(setting)
    java = java_executable(environ)
    jars = _spark_jars()
    if java is None or jars is None:
        return None
    digest = hashlib.sha256(f"{FORMAT}|{java}|{jars}".encode())
    for part in (java, java.parent.parent / "lib" / "server" / "libjvm.so"):
        if part.exists():
            stat = part.stat()
            digest.update(f"|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return (
        Path(sys.prefix) / "share" / "lgs-analytics" / f"spark-driver-{digest.hexdigest()[:16]}.jsa"
    )


def cds_option(flag: str, path: Path) -> str:
    """`flag=path` for SPARK_SUBMIT_OPTS (which spark-submit splits on spaces unless quoted)."""
    text = f"{flag}={path}"
    return f'"{text}"' if " " in text else text


def without_cds(options: str) -> str:
    """`options` without any option that uses or writes an archive."""
    return shlex.join(part for part in shlex.split(options) if not part.startswith(CDS_FLAGS))


def share_classes(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point the Spark driver JVMs started from `environ` at the archive, if it exists.

    Returns the archive used, or None (no archive, sharing off, or the caller already chose
    its own CDS options, e.g. while the archive is being written).
    """
    options = environ.get(SUBMIT_OPTS, "")
    if any(part.startswith(CDS_FLAGS) for part in shlex.split(options)):
        return None
    path = archive_path(environ)
    if path is None or not path.is_file():
        return None
    # -Xlog:cds*=off: a JVM that cannot use the archive says so on stdout; it then simply
    # loads its classes from the jars, which is not worth a line in dbt's output.
    shared = f"{cds_option('-XX:SharedArchiveFile', path)} -Xlog:cds*=off"
    environ[SUBMIT_OPTS] = f"{options} {shared}".strip()
    return path
