"""Fail fast, in one sentence, when another process holds the embedded Derby metastore.

Embedded Derby allows one JVM at a time. Without this check a second dbt run only fails at
its first catalog call, after Hive's retries, with `Unable to instantiate
SessionHiveMetaStoreClient` and the real cause (Derby XSDB6) deep in a Java stack trace.
The running JVM holds a POSIX lock on `<database>/dbex.lck`; trying that lock tells at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from pathlib import Path

DERBY_URL = re.compile(r"^jdbc:derby:(?:;)?(?:databaseName=)?(?P<name>[^;]+)")
NETWORK_URL = re.compile(
    r"^jdbc:(?P<kind>postgresql|mysql|mariadb|derby)://(?P<host>[^:/;]+)(?::(?P<port>\d+))?"
)
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "derby": 1527}
DERBY_HOME = re.compile(r"-Dderby\.system\.home=(?P<home>\S+)")


class MetastoreInUseError(RuntimeError):
    """Another process has booted the embedded Derby metastore."""


def derby_database_dir(parameters: dict[str, str], cwd: Path | None = None) -> Path | None:
    """The Derby database folder a session with these Spark parameters would boot."""
    url = parameters.get(
        "spark.hadoop.javax.jdo.option.ConnectionURL",
        "jdbc:derby:;databaseName=metastore_db;create=true",
    )
    match = DERBY_URL.match(url)
    if not match or url.startswith("jdbc:derby://"):
        return None  # not embedded Derby (network Derby, PostgreSQL, ...)
    name = Path(match.group("name"))
    if name.is_absolute():
        return name
    home = DERBY_HOME.search(parameters.get("spark.driver.extraJavaOptions", ""))
    base = Path(home.group("home")) if home else Path(".")
    base = base if base.is_absolute() else (cwd or Path.cwd()) / base
    return base / name


def check_derby_free(database: Path) -> None:
    """Raise MetastoreInUseError when another process holds the Derby database lock.

    Only call this before this process has started its own JVM: closing a descriptor drops
    every POSIX lock the process holds on that file, so probing from the process that owns
    the lock would release it.
    """
    lock_file = database / "dbex.lck"
    if not lock_file.exists():
        return
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise MetastoreInUseError(
            f"The embedded Derby metastore at {database} is in use by another process "
            "(another dbt or lgs run on this state folder): wait for it to finish or use "
            "another LGS_STATE_DIR."
        ) from exc
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class MetastoreUnreachableError(RuntimeError):
    """The networked metastore database does not accept connections."""


def metastore_address(parameters: dict[str, str]) -> tuple[str, int] | None:
    """Host and port of a networked metastore database, or None (embedded Derby, unset)."""
    match = NETWORK_URL.match(parameters.get("spark.hadoop.javax.jdo.option.ConnectionURL", ""))
    if not match:
        return None
    port = int(match.group("port") or DEFAULT_PORTS[match.group("kind")])
    return match.group("host"), port


def check_metastore_reachable(address: tuple[str, int], timeout: float = 3.0) -> None:
    """Raise MetastoreUnreachableError unless the metastore database accepts a connection.

    Without this check Hive retries for about a minute and then fails with `Unable to
    instantiate SessionHiveMetaStoreClient`, the cause deep in a Java stack trace.
    """
    host, port = address
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise MetastoreUnreachableError(
            f"The Hive metastore database at {host}:{port} does not accept connections "
            f"({exc.strerror or exc}): start it with `lgs metastore start` (or point "
            "LGS_METASTORE_PORT at the running one), or use the local target."
        ) from None
