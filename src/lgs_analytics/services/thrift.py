"""`lgs thrift`: the Spark Thrift Server (HiveServer2 protocol) on the shared catalog.

BI tools, beeline and dbt's `thrift` target connect to it over JDBC/ODBC/PyHive. It is the
engine of a session target of the profile (`shared` by default) served over the network:
the same Spark settings (ANSI off, UTC, parquet tuning), the same metastore and warehouse,
so the SQL it runs behaves exactly like dbt's session targets. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services.metastore import MetastoreLayout, require_running
from lgs_analytics.services.process import (
    LOOPBACK,
    ServiceError,
    ServiceProcess,
    port_accepts,
    service_environment,
    spark_home,
    start_detached,
    stop_process,
    tail,
    wait_until,
)

DEFAULT_PORT = 10000
PORT_ENV = "LGS_THRIFT_PORT"
SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
DEFAULT_TARGET = "shared"
# Settings of the target that the Thrift server sets itself.
OWN_SETTINGS = ("spark.master", "spark.app.name", "spark.driver.extraClassPath")


def default_port() -> int:
    return int(os.environ.get(PORT_ENV) or DEFAULT_PORT)


@dataclass(frozen=True)
class ThriftLayout:
    state: Path

    @classmethod
    def for_paths(cls, paths: ProjectPaths) -> ThriftLayout:
        return cls(paths.state)

    @property
    def home(self) -> Path:
        return self.state / "thrift"

    @property
    def pid_file(self) -> Path:
        return self.home / "thrift.pid"

    @property
    def log(self) -> Path:
        return self.home / "thrift.log"

    @property
    def settings_file(self) -> Path:
        return self.home / "thrift.json"


def server_command(
    port: int,
    classpath: str,
    spark_settings: dict[str, str],
    hiveconf: dict[str, str] | None = None,
) -> list[str]:
    """The spark-submit command line of the server (no secret: those are in hive-site.xml)."""
    command = [
        str(spark_home() / "bin" / "spark-submit"),
        "--class",
        SERVER_CLASS,
        "--name",
        "lgs-thrift",
        "--master",
        spark_settings.get("spark.master", "local[*]"),
        "--driver-class-path",
        classpath,
    ]
    for key, value in spark_settings.items():
        if key not in OWN_SETTINGS:
            command += ["--conf", f"{key}={value}"]
    settings = {
        "hive.server2.thrift.bind.host": LOOPBACK,
        "hive.server2.thrift.port": str(port),
        **(hiveconf or {}),
    }
    for key, value in settings.items():
        command += ["--hiveconf", f"{key}={value}"]
    return [*command, "spark-internal"]


def target_settings(paths: ProjectPaths, target: str) -> dict[str, str]:
    """The Spark settings of a session target, rendered with this state folder's paths."""
    from lgs_analytics.runtime.spark_session import session_parameters

    for key, value in paths.environment().items():
        os.environ.setdefault(key, value)
    try:
        return session_parameters(paths, target)
    except (KeyError, ValueError) as exc:
        raise ServiceError(f"The Thrift server cannot use target '{target}': {exc}") from exc


def start(
    paths: ProjectPaths,
    port: int | None = None,
    target: str = DEFAULT_TARGET,
    hiveconf: dict[str, str] | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Start the server on the shared metastore; wait until its port accepts connections."""
    from lgs_analytics.runtime.environment import check_java

    port = port or default_port()
    check_java()
    metastore: MetastoreLayout = require_running(paths)
    layout = ThriftLayout.for_paths(paths)
    record = ServiceProcess.read(layout.pid_file)
    if record is not None and record.is_running():
        raise ServiceError(
            f"The Thrift server of {paths.state} already runs (pid {record.pid}): stop it "
            "first with `lgs thrift stop`."
        )
    if port_accepts(port):
        raise ServiceError(f"Port {port} on {LOOPBACK} is already in use: choose --port.")
    command = server_command(port, metastore.classpath(), target_settings(paths, target), hiveconf)
    record = start_detached(
        "Thrift server",
        command,
        log=layout.log,
        pid_file=layout.pid_file,
        env=service_environment(),
        # Relative paths of the profile (log4j configuration, state folder) start here.
        cwd=paths.root,
    )
    layout.settings_file.write_text(json.dumps({"port": port, "target": target}, indent=2) + "\n")

    def died() -> str | None:
        if record.is_running():
            return None
        return f"The Thrift server exited during start-up; see {layout.log}:\n{tail(layout.log)}"

    try:
        wait_until(
            lambda: port_accepts(port),
            timeout=timeout,
            interval=1.0,
            failure=(
                f"The Thrift server did not accept connections on {LOOPBACK}:{port} within "
                f"{timeout:.0f} s; see {layout.log}."
            ),
            abort=died,
        )
    except BaseException:
        stop_process(record)
        raise
    return status(paths)


def stop(paths: ProjectPaths, timeout: float = 30) -> bool:
    """Stop the server (SIGTERM, then SIGKILL). True if it was running."""
    layout = ThriftLayout.for_paths(paths)
    record = ServiceProcess.read(layout.pid_file)
    stopped = record is not None and stop_process(record, timeout=timeout)
    layout.pid_file.unlink(missing_ok=True)
    return stopped


def status(paths: ProjectPaths) -> dict[str, Any]:
    layout = ThriftLayout.for_paths(paths)
    record = ServiceProcess.read(layout.pid_file)
    try:
        settings = json.loads(layout.settings_file.read_text())
    except (OSError, ValueError):
        settings = {}
    running = record is not None and record.is_running()
    port = settings.get("port")
    return {
        "running": running,
        "pid": record.pid if record else None,
        "port": port,
        "accepting": bool(running and port and port_accepts(port)),
        "jdbc_url": f"jdbc:hive2://{LOOPBACK}:{port}" if port else None,
        "log": str(layout.log),
    }
