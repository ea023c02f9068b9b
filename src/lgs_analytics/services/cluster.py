"""`lgs cluster`: a Spark standalone cluster (one master, N workers) from the pyspark install.

Everything binds to 127.0.0.1: RPC (`--host`), web UIs (SPARK_LOCAL_IP) and the executors
the workers launch. The master's REST submission server, which accepts unauthenticated
application submissions, is switched off. Pid files and logs go to $LGS_STATE_DIR/cluster/,
executors' work folders and scratch space under it too.

The workers run on this machine, so their executors can start Python workers with the
project's own interpreter: PYSPARK_PYTHON is the venv's python and the venv's bin folder
leads PATH (a driver without PYSPARK_PYTHON asks executors for plain `python3`).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lgs_analytics.runtime.paths import ProjectPaths
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

DEFAULT_PORT = 7077
DEFAULT_WORKERS = 2
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# Properties of the daemons themselves (not of applications).
DAEMON_PROPERTIES = {
    # The REST server (port 6066) takes unauthenticated submissions; we submit over RPC.
    "spark.master.rest.enabled": "false",
    # Executors' work folders of finished applications are removed after a day.
    "spark.worker.cleanup.enabled": "true",
    "spark.worker.cleanup.appDataTtl": "86400",
}


@dataclass(frozen=True)
class ClusterSettings:
    """The shape of a cluster; ports are the master's RPC and web UI ports."""

    workers: int = DEFAULT_WORKERS
    worker_cores: int = 1
    worker_memory: str = "2g"
    port: int = DEFAULT_PORT
    webui_port: int | None = None

    @property
    def master_webui_port(self) -> int:
        # 8090 for the default port: not Spark's 8080, which `lgs docs-serve` uses.
        return self.webui_port or self.port + 1013

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def worker_webui_port(self, index: int) -> int:
        return self.master_webui_port + index


@dataclass(frozen=True)
class ClusterLayout:
    """Where a cluster's pid files, logs and scratch folders live."""

    state: Path

    @classmethod
    def for_paths(cls, paths: ProjectPaths) -> ClusterLayout:
        return cls(paths.state)

    @property
    def home(self) -> Path:
        return self.state / "cluster"

    @property
    def settings_file(self) -> Path:
        return self.home / "cluster.json"

    @property
    def properties_file(self) -> Path:
        return self.home / "spark-daemons.conf"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def local_dir(self) -> Path:
        return self.home / "local"

    def pid_file(self, name: str) -> Path:
        return self.home / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def processes(self) -> dict[str, ServiceProcess]:
        """Recorded processes by name (master, worker-1, ...), running or not."""
        found = {}
        for pid_file in sorted(self.home.glob("*.pid")):
            record = ServiceProcess.read(pid_file)
            if record is not None:
                found[pid_file.stem] = record
        return found


def master_command(settings: ClusterSettings, properties_file: Path) -> list[str]:
    return [
        str(spark_home() / "bin" / "spark-class"),
        MASTER_CLASS,
        "--host",
        LOOPBACK,
        "--port",
        str(settings.port),
        "--webui-port",
        str(settings.master_webui_port),
        "--properties-file",
        str(properties_file),
    ]


def worker_command(settings: ClusterSettings, index: int, layout: ClusterLayout) -> list[str]:
    return [
        str(spark_home() / "bin" / "spark-class"),
        WORKER_CLASS,
        "--host",
        LOOPBACK,
        "--cores",
        str(settings.worker_cores),
        "--memory",
        settings.worker_memory,
        "--webui-port",
        str(settings.worker_webui_port(index)),
        "--work-dir",
        str(layout.work_dir / f"worker-{index}"),
        "--properties-file",
        str(layout.properties_file),
        settings.master_url,
    ]


def worker_environment(layout: ClusterLayout) -> dict[str, str]:
    """Executors inherit this: the venv's Python, scratch space in the state folder."""
    venv_bin = str(Path(sys.executable).parent)
    base = service_environment()
    return service_environment(
        {
            "PYSPARK_PYTHON": sys.executable,
            "PATH": f"{venv_bin}:{base.get('PATH', '')}",
            "SPARK_LOCAL_DIRS": str(layout.local_dir),
        }
    )


def render_properties(properties: dict[str, str]) -> str:
    return "".join(f"{key} {value}\n" for key, value in properties.items())


def master_state(webui_port: int, timeout: float = 3.0) -> dict[str, Any] | None:
    """The master's JSON status (http://127.0.0.1:W/json/), or None if it does not answer."""
    try:
        with urllib.request.urlopen(
            f"http://{LOOPBACK}:{webui_port}/json/", timeout=timeout
        ) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def alive_workers(state: dict[str, Any] | None) -> int:
    if not state:
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def _dead_process_reason(records: list[ServiceProcess]) -> str | None:
    for record in records:
        if not record.is_running():
            last = tail(Path(record.log), 5)
            return f"The Spark {record.name} exited during start-up; see {record.log}:\n{last}"
    return None


def start(paths: ProjectPaths, settings: ClusterSettings, timeout: float = 180) -> dict[str, Any]:
    """Start a master and ``settings.workers`` workers; wait until all workers registered."""
    from lgs_analytics.runtime.environment import check_java

    if settings.workers < 1:
        raise ServiceError("A cluster needs at least one worker (--workers 1 or more).")
    check_java()
    layout = ClusterLayout.for_paths(paths)
    running = {name: r for name, r in layout.processes().items() if r.is_running()}
    if running:
        raise ServiceError(
            f"A cluster of {paths.state} is already running ({', '.join(sorted(running))}): "
            "stop it first with `lgs cluster stop`."
        )
    # Spark would silently move to the next free port; the workers would then knock in vain.
    for port in (settings.port, settings.master_webui_port):
        if port_accepts(port):
            raise ServiceError(
                f"Port {port} on {LOOPBACK} is already in use: choose --port or --webui-port."
            )
    for pid_file in layout.home.glob("*.pid"):
        pid_file.unlink()
    for folder in (layout.home, layout.work_dir, layout.local_dir):
        folder.mkdir(parents=True, exist_ok=True)
    layout.properties_file.write_text(render_properties(DAEMON_PROPERTIES))
    layout.settings_file.write_text(
        json.dumps(
            {
                "master_url": settings.master_url,
                "webui_port": settings.master_webui_port,
                "workers": settings.workers,
                "worker_cores": settings.worker_cores,
                "worker_memory": settings.worker_memory,
            },
            indent=2,
        )
        + "\n"
    )
    started = [
        start_detached(
            "master",
            master_command(settings, layout.properties_file),
            log=layout.log("master"),
            pid_file=layout.pid_file("master"),
            env=service_environment(),
            cwd=layout.home,
        )
    ]
    try:
        wait_until(
            lambda: master_state(settings.master_webui_port) is not None,
            timeout=timeout,
            failure=(
                f"The Spark master did not answer on {LOOPBACK}:{settings.master_webui_port} "
                f"within {timeout:.0f} s; see {layout.log('master')}."
            ),
            abort=lambda: _dead_process_reason(started),
        )
        for index in range(1, settings.workers + 1):
            name = f"worker-{index}"
            started.append(
                start_detached(
                    name,
                    worker_command(settings, index, layout),
                    log=layout.log(name),
                    pid_file=layout.pid_file(name),
                    env=worker_environment(layout),
                    cwd=layout.home,
                )
            )
        wait_until(
            lambda: alive_workers(master_state(settings.master_webui_port)) >= settings.workers,
            timeout=timeout,
            failure=(
                f"Only {alive_workers(master_state(settings.master_webui_port))} of "
                f"{settings.workers} workers registered with {settings.master_url} within "
                f"{timeout:.0f} s; see the logs in {layout.home}."
            ),
            abort=lambda: _dead_process_reason(started),
        )
    except BaseException:
        for record in reversed(started):
            stop_process(record)
        raise
    return status(paths)


def stop(paths: ProjectPaths, timeout: float = 20) -> list[str]:
    """Stop the workers (and their executors), then the master. Names of what was running."""
    layout = ClusterLayout.for_paths(paths)
    records = layout.processes()
    stopped = []
    # Workers first, so that the master does not log them as lost and reschedule.
    for name in sorted(records, key=lambda name: name == "master"):
        if stop_process(records[name], timeout=timeout):
            stopped.append(name)
        layout.pid_file(name).unlink(missing_ok=True)
    return stopped


def status(paths: ProjectPaths) -> dict[str, Any]:
    """Processes, the master's URL and its view of workers and applications."""
    layout = ClusterLayout.for_paths(paths)
    try:
        settings = json.loads(layout.settings_file.read_text())
    except (OSError, ValueError):
        settings = {}
    processes = {
        name: {"pid": record.pid, "running": record.is_running(), "log": record.log}
        for name, record in layout.processes().items()
    }
    state = master_state(settings["webui_port"]) if settings.get("webui_port") else None
    return {
        "running": bool(processes.get("master", {}).get("running")),
        "master_url": settings.get("master_url"),
        "webui": f"http://{LOOPBACK}:{settings['webui_port']}" if settings else None,
        "alive_workers": alive_workers(state),
        "expected_workers": settings.get("workers"),
        "active_apps": [app.get("name") for app in (state or {}).get("activeapps", [])],
        "processes": processes,
    }
