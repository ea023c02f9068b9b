"""Checks of the machine that give one clear sentence instead of a Java stack trace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lgs_analytics.errors import UserError

MIN_JAVA = 17
SUPPORTED_JAVA = (17, 21)


class MissingRequirementError(UserError, RuntimeError):
    """The machine lacks something the project needs; the message says what to install."""


def java_executable() -> str | None:
    """The java that Spark will use: $JAVA_HOME/bin/java first, like spark-class does."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return str(candidate) if candidate.exists() else None
    return shutil.which("java")


def parse_java_major(version_output: str) -> int | None:
    """The major version from `java -version` output (`1.8.0_392` → 8, `17.0.15` → 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def check_java() -> int:
    """Return the Java major version, or raise one sentence saying what to install."""
    install = "install OpenJDK 17 (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`)"
    java = java_executable()
    if java is None:
        where = " at $JAVA_HOME" if os.environ.get("JAVA_HOME") else " on the PATH"
        raise MissingRequirementError(
            f"Spark needs Java {MIN_JAVA}+ but no java was found{where}: {install}."
        )
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise MissingRequirementError(
            f"Spark needs Java {MIN_JAVA}+ but {java} cannot run ({exc}): {install}."
        ) from exc
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = f"Java {major}" if major else "an unrecognised Java"
        raise MissingRequirementError(
            f"Spark 4 needs Java {MIN_JAVA} or 21 but {java} is {found}: {install} "
            "and put it first on the PATH or set JAVA_HOME."
        )
    return major
