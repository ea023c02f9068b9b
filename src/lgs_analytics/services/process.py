"""Background service processes: pid files, logs, readiness waits, clean stops, socket checks.

Every service (Spark master and workers, Thrift server) is started in its own session and
process group, so that stopping it also stops what it spawned (executors, Python workers),
even when the leader itself was already killed. A pid file records the pid together with the
process's start time: a pid that the kernel has since given to another process is never
signalled.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lgs_analytics.errors import UserError

LOOPBACK = "127.0.0.1"
TCP_LISTEN_STATE = "0A"


class ServiceError(UserError, RuntimeError):
    """A service cannot start, stop or be found; the message is one sentence for the user."""


def spark_home() -> Path:
    """The pyspark package folder, which is a complete SPARK_HOME (bin/, jars/)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def service_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Spark daemon: loopback only, this SPARK_HOME, no inherited conf."""
    env = dict(os.environ)
    env.update(
        {
            "SPARK_HOME": str(spark_home()),
            # SPARK_LOCAL_IP is what Spark's web UIs and RPC servers bind to.
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_MASTER_HOST": LOOPBACK,
            "SPARK_NO_DAEMONIZE": "1",
        }
    )
    # A user's SPARK_CONF_DIR/HADOOP_CONF_DIR would silently add settings to our daemons.
    for key in ("SPARK_CONF_DIR", "HADOOP_CONF_DIR", "PYSPARK_DRIVER_PYTHON"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist.

    A zombie (exited, not yet reaped) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def process_group(pid: int) -> int | None:
    """The process group id of ``pid``, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[2])


@dataclass(frozen=True)
class ServiceProcess:
    """A started background process, as recorded in its pid file."""

    name: str
    pid: int
    pgid: int
    ticks: int
    log: str

    def is_running(self) -> bool:
        """True while the very process we started is alive (not a reuse of its pid)."""
        return start_ticks(self.pid) == self.ticks

    def write(self, pid_file: Path) -> None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = pid_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(pid_file)

    @classmethod
    def read(cls, pid_file: Path) -> ServiceProcess | None:
        """The record of a pid file, or None when there is none or it is unreadable."""
        try:
            return cls(**json.loads(pid_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def group_members(self) -> list[int]:
        """Live processes of the service's process group (its children included).

        While the leader's pid exists but belongs to another process, the group id may have
        been reused: nothing is ours then. While no process has the leader's pid, Linux does
        not hand out the group id again, so every member is ours.
        """
        leader_ticks = start_ticks(self.pgid)
        if leader_ticks is not None and (self.pgid != self.pid or leader_ticks != self.ticks):
            return []
        members = []
        for entry in Path("/proc").iterdir():
            if (
                entry.name.isdigit()
                and process_group(int(entry.name)) == self.pgid
                and start_ticks(int(entry.name)) is not None
            ):
                members.append(int(entry.name))
        return sorted(members)


def start_detached(
    name: str,
    command: list[str],
    *,
    log: Path,
    pid_file: Path,
    env: Mapping[str, str],
    cwd: Path,
) -> ServiceProcess:
    """Start ``command`` in a new session with output appended to ``log``; write its pid file.

    The command must `exec` the long-running process (Spark's scripts do), so that the pid
    is the daemon's own.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = start_ticks(process.pid)
    if ticks is None:
        raise ServiceError(f"The {name} exited at once; see {log}.")
    record = ServiceProcess(name=name, pid=process.pid, pgid=process.pid, ticks=ticks, log=str(log))
    record.write(pid_file)
    return record


def stop_process(record: ServiceProcess, timeout: float = 20.0) -> bool:
    """SIGTERM the service's process group, then SIGKILL what is left after ``timeout``.

    Returns True if something was running. Safe to call on a dead or reused pid.
    """
    members = record.group_members()
    if not members:
        return False
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = [pid for pid in members if start_ticks(pid) is not None]
        if not members:
            return True
        time.sleep(0.2)
    _signal_all(members, signal.SIGKILL)
    wait_until(
        lambda: all(start_ticks(pid) is None for pid in members),
        timeout=10,
        interval=0.1,
        failure=f"The {record.name} (pid {record.pid}) survived SIGKILL.",
    )
    return True


def _signal_all(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.5,
    failure: str,
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``predicate`` until true; raise ServiceError(``failure``) after ``timeout`` s.

    ``abort`` returns a sentence when waiting longer is pointless (the process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if abort is not None:
            reason = abort()
            if reason:
                raise ServiceError(reason)
        if time.monotonic() > deadline:
            raise ServiceError(failure)
        time.sleep(interval)


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now (the kernel's choice).

    The probes stay bound until all are chosen, so the kernel cannot hand out one twice.
    """
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def parse_proc_address(hex_address: str) -> tuple[str, int]:
    """``0100007F:1F90`` (from /proc/net/tcp or tcp6) → (``127.0.0.1``, 8080).

    The kernel prints each 32-bit word of the address in host (little-endian) byte order.
    An IPv4-mapped IPv6 address (Java listens on those) is returned as its IPv4 address.
    """
    address_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(address_hex)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port_hex, 16)


def listening_inodes(proc_net: Iterable[Path] | None = None) -> dict[int, tuple[str, int]]:
    """Socket inode → (address, port) of every TCP socket in LISTEN state on the machine."""
    files = proc_net or [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    listening: dict[int, tuple[str, int]] = {}
    for path in files:
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_LISTEN_STATE:
                listening[int(fields[9])] = parse_proc_address(fields[1])
    return listening


def listening_sockets(pids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket the given processes listen on."""
    listening = listening_inodes()
    found = set()
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                link = os.readlink(descriptor)
            except OSError:  # closed meanwhile (the listing's own descriptor, for one)
                continue
            if link.startswith("socket:["):
                inode = int(link[len("socket:[") : -1])
                if inode in listening:
                    found.add((pid, *listening[inode]))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it in the process tree."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        if start_ticks(current) is not None:
            found.append(current)
        queue.extend(children.get(current, []))
    return sorted(found)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file ('' if missing), to show why a service did not start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
