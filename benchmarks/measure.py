"""Run one command in a fresh process and measure its whole process tree.

What is measured, and how:

- **wall time**: ``time.perf_counter`` from just before the process is started until it and
  every process it left behind have exited.
- **CPU time** (user + system) of the whole tree, the JVM included, exactly: the growth of
  this process's ``resource.getrusage(RUSAGE_CHILDREN)``. The kernel adds a process's CPU
  time (and that of the children it reaped) to its parent when the parent reaps it. PySpark
  does not wait for its JVM, so the JVM would be reparented to init and its CPU time lost;
  this process therefore declares itself a *child subreaper* (Linux ``prctl``) and reaps such
  orphans itself, waiting until the last one is reaped (a JVM whose main thread has ended
  looks like a zombie while its other threads still run). A sampled estimate (the sum of each
  process's last seen CPU time, a lower bound) is kept as a cross-check; the larger of the
  two is reported, so a platform without a subreaper still gets the sampled figure.
- **CPU by role** (where the CPU went): every ``thread_interval`` seconds, each thread of a
  JVM in the tree is read from ``/proc/<pid>/task`` (name and CPU time) and each other
  process is looked at as a whole; ``cpu_roles`` adds up the last value seen per thread or
  process by role (``thread_role``, ``process_role``): Spark's task threads, the JIT
  compilers, the threads that run calls from Python (py4j: SQL planning, the metastore,
  code generation), Spark's driver threads (scheduler, listeners, exchanges), the garbage
  collector, the rest of the JVM, the Python driver (dbt or the script), PySpark's Python
  workers and other processes (shell wrappers). A thread that ends between two reads loses
  at most one interval of CPU; that and the JVM's CPU outside any thread still alive go to
  "JVM, other" when the process's own total is larger than the sum of its threads. Linux
  only (empty elsewhere).
- **peak RSS** of the tree: every ``interval`` seconds, the RSS of the command and all its
  descendants is summed; the peak is the largest sum. Pages shared between processes (the
  JVM's and Python's shared libraries) count once per process, a few tens of MiB at most;
  an allocation that lives shorter than the interval can be missed.

Optional caps stop the tree (SIGTERM, then SIGKILL) when the wall time or the tree's RSS
goes over a limit; the run is then reported as failed with the reason.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import resource
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
_GIB = 2**30
# After the main process exits, orphans (the JVM shutting down) get this long to finish.
_ORPHAN_GRACE_S = 60.0
_TERMINATE_GRACE_S = 10.0

_subreaper_enabled: bool | None = None
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Roles of the CPU, in the order they are reported.
ROLES = (
    "Spark tasks",
    "JIT compilers",
    "py4j calls",
    "Spark driver",
    "garbage collector",
    "JVM, other",
    "Python driver",
    "Python workers",
    "other processes",
)
# JVM thread names (as /proc shows them: the first 15 characters) -> role. py4j's
# connection threads keep Java's default names (Thread-<n>): they run what the Python side
# calls, i.e. spark.sql() parsing, analysis, optimisation, metastore calls, code generation.
_THREAD_ROLES = (
    (re.compile(r"Executor task"), "Spark tasks"),
    (re.compile(r"C[12] CompilerThre"), "JIT compilers"),
    (re.compile(r"Thread-\d+$"), "py4j calls"),
    (
        re.compile(
            r"dag-scheduler|spark-listener|task-result-get|dispatcher-|shuffle-exchang|"
            r"broadcast-excha|QueryStag|ResultQueryStag|subquery-|block-manager|"
            r"map-output-disp|streaming-shuff|netty-rpc|rpc-|context-cleaner"
        ),
        "Spark driver",
    ),
    (re.compile(r"GC Thread|G1 |VM Thread"), "garbage collector"),
)


def thread_role(name: str) -> str:
    """The role of a JVM thread from its name (``/proc/<pid>/task/<tid>/comm``)."""
    for pattern, role in _THREAD_ROLES:
        if pattern.match(name):
            return role
    return "JVM, other"


def process_role(name: str, cmdline: list[str]) -> str | None:
    """The role of a whole non-JVM process; None for a JVM (counted thread by thread).

    A process can change what it is (spark-submit's shell script ``exec``s java under the
    same pid), so the role goes with the name it has when it is sampled.
    """
    program = os.path.basename(cmdline[0]) if cmdline else ""
    if name == "java" or program == "java":
        return None
    if any("pyspark.daemon" in part or "pyspark.worker" in part for part in cmdline):
        return "Python workers"
    if name.startswith("python") or program.startswith("python"):
        return "Python driver"
    return "other processes"


def _jvm_threads(pid: int) -> dict[int, tuple[str, float]]:
    """Name and CPU seconds (user + system) of every live thread of a process (Linux)."""
    threads: dict[int, tuple[str, float]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return threads
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue  # ended since the listing
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # Fields 14 and 15 of proc(5) (utime, stime): 11 and 12 after the name.
        threads[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return threads


def enable_subreaper() -> bool:
    """Make orphaned descendants children of this process, so that we reap them (Linux).

    Returns whether it worked; called once, the setting lasts for the process's life.
    """
    global _subreaper_enabled  # noqa: PLW0603 - a process-wide setting, done once
    if _subreaper_enabled is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper_enabled = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper_enabled = False
    return _subreaper_enabled


@dataclass
class Measurement:
    """The outcome of one measured command."""

    command: list[str]
    status: str  # "ok", "failed", "timeout" or "memory_cap"
    returncode: int | None
    wall_s: float
    cpu_s: float
    cpu_sampled_s: float
    cpu_exact: bool  # cpu_s comes from the kernel's accounting (subreaper on)
    peak_rss_bytes: int
    peak_processes: int
    samples: int
    reason: str | None = None
    # Seconds of CPU per role (ROLES order), from the per-thread samples; {} if unavailable.
    cpu_roles: dict[str, float] = field(default_factory=dict)
    stdout_path: str | None = None
    stderr_path: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at_epoch: float = 0.0

    @property
    def peak_rss_gib(self) -> float:
        """Peak RSS of the tree in GiB."""
        return self.peak_rss_bytes / _GIB

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the RSS in GiB as well as bytes."""
        data = asdict(self)
        data["peak_rss_gib"] = round(self.peak_rss_gib, 3)
        return data


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _session_processes(session_id: int) -> list[psutil.Process]:
    """Our descendants in the measured command's session (it started a new one).

    Zombies are included on purpose: a JVM whose main thread has returned shows as a zombie
    while its other threads still run the shutdown; it is done only once it can be reaped.
    """
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if os.getsid(process.pid) == session_id:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _reap_orphans(main_pid: int, session_id: int) -> None:
    """Reap exited direct children other than the main one (orphans handed to us)."""
    for process in psutil.Process().children(recursive=False):
        if process.pid == main_pid:
            continue
        try:
            if os.getsid(process.pid) != session_id:
                continue
        except (ProcessLookupError, PermissionError):
            pass  # already a zombie without a session: still ours to reap
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, os.WNOHANG)


def _reap(process: subprocess.Popen, session_id: int) -> bool:
    """Reap what has exited; True once the command and everything it started are reaped."""
    process.poll()
    _reap_orphans(process.pid, session_id)
    return process.returncode is not None and not _session_processes(session_id)


class _Sampler:
    """Running totals over the samples of one process tree."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.peak_processes = 0
        self.samples = 0
        self._cpu_by_process: dict[tuple[int, float], float] = {}
        # Per process: the name its role was read under, and the role (None for a JVM);
        # for a JVM, its threads' last CPU.
        self._roles: dict[tuple[int, float], tuple[str, str | None]] = {}
        self._threads: dict[tuple[int, float], dict[int, tuple[str, float]]] = {}

    def sample(self, processes: list[psutil.Process], threads: bool = False) -> int:
        """Record one sample (with every JVM thread if ``threads``); returns the tree's RSS."""
        rss = 0
        alive = 0
        for process in processes:
            try:
                with process.oneshot():
                    memory = process.memory_info().rss
                    times = process.cpu_times()
                    key = (process.pid, process.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            rss += memory
            alive += memory > 0  # a zombie has no memory left
            # Own CPU only: children's times would count a reaped child twice.
            self._cpu_by_process[key] = times.user + times.system
            self._update_role(process, key)
            if threads and self._role(key) is None and memory > 0:
                self._threads.setdefault(key, {}).update(_jvm_threads(process.pid))
        self.samples += 1
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, alive)
        return rss

    def _update_role(self, process: psutil.Process, key: tuple[int, float]) -> None:
        """(Re)read the role of a process whose name is new or changed (an ``exec``).

        A process that ends or turns zombie before its role is read keeps the role it had,
        or none: its CPU then counts as "other processes".
        """
        try:
            name = process.name()
            if key not in self._roles or self._roles[key][0] != name:
                self._roles[key] = (name, process_role(name, process.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass

    def _role(self, key: tuple[int, float]) -> str | None:
        """A process's role: None for a JVM, "other processes" if it was never read."""
        return self._roles[key][1] if key in self._roles else "other processes"

    @property
    def cpu_s(self) -> float:
        """Sum of each process's last seen CPU time: a lower bound of the true total."""
        return sum(self._cpu_by_process.values())

    def cpu_roles(self) -> dict[str, float]:
        """CPU seconds per role (see ROLES), from the last value seen of each thread/process."""
        totals: dict[str, float] = collections.Counter()
        for key, cpu in self._cpu_by_process.items():
            role = self._role(key)
            if role is not None:
                totals[role] += cpu
                continue
            threads = self._threads.get(key, {})
            for name, seconds in threads.values():
                totals[thread_role(name)] += seconds
            # Threads that ended between reads, and anything /proc did not show.
            totals["JVM, other"] += max(0.0, cpu - sum(s for _, s in threads.values()))
        return {role: round(totals[role], 2) for role in ROLES if totals.get(role)}


def _stop_session(process: subprocess.Popen, session_id: int, notes: list[str]) -> None:
    """SIGTERM the command's session, then SIGKILL whatever is left.

    Signalled one by one as well as by group: PySpark's worker daemon moves itself to its
    own process group (it stays in the session, which is how it is found).
    """
    for sig, grace in ((signal.SIGTERM, _TERMINATE_GRACE_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session_id, sig)
        for member in _session_processes(session_id):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                member.send_signal(sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if _reap(process, session_id):
                return
            time.sleep(0.2)
    notes.append("some processes survived SIGKILL")


def run_measured(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout_path: Path,
    stderr_path: Path,
    timeout_s: float | None = None,
    max_rss_bytes: int | None = None,
    interval_s: float = 0.2,
    thread_interval_s: float = 1.0,
) -> Measurement:
    """Run ``command`` in a new session and measure its whole process tree until all exit."""
    exact = enable_subreaper()
    notes: list[str] = []
    sampler = _Sampler()
    status, reason = "ok", None
    cpu_before = _children_cpu_s()
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    started_epoch = time.time()
    started = time.perf_counter()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        # A new session: the whole tree (JVM included) can be found and stopped as a group.
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        session_id = process.pid
        main_done_at: float | None = None
        threads_read_at = float("-inf")
        while True:
            read_threads = time.perf_counter() - threads_read_at >= thread_interval_s
            if read_threads:
                threads_read_at = time.perf_counter()
            rss = sampler.sample(_session_processes(session_id), threads=read_threads)
            if _reap(process, session_id):
                break
            elapsed = time.perf_counter() - started
            if process.returncode is not None:
                main_done_at = main_done_at or time.perf_counter()
                if time.perf_counter() - main_done_at > _ORPHAN_GRACE_S:
                    notes.append("processes left after the command exited were stopped")
                    _stop_session(process, session_id, notes)
                    continue
            elif timeout_s is not None and elapsed > timeout_s:
                status, reason = "timeout", f"stopped after the {timeout_s:.0f} s time cap"
                _stop_session(process, session_id, notes)
            elif max_rss_bytes is not None and rss > max_rss_bytes:
                status = "memory_cap"
                reason = (
                    f"stopped at {rss / _GIB:.1f} GiB RSS, over the "
                    f"{max_rss_bytes / _GIB:.1f} GiB memory cap"
                )
                _stop_session(process, session_id, notes)
            time.sleep(interval_s)
        returncode = process.wait()
    wall = time.perf_counter() - started
    cpu_exact = _children_cpu_s() - cpu_before
    if cpu_exact < 0.95 * sampler.cpu_s:
        notes.append(
            f"kernel CPU accounting ({cpu_exact:.1f} s) below the sampled total "
            f"({sampler.cpu_s:.1f} s): part of the tree was not reaped here; sampled total used"
        )
    if status == "ok" and returncode != 0:
        status, reason = "failed", _failure_reason(returncode, stderr_path, stdout_path)
    return Measurement(
        command=[str(part) for part in command],
        status=status,
        returncode=returncode,
        wall_s=wall,
        # The kernel's total is exact when everything was reaped here; the sampled total is a
        # lower bound, so the larger of the two is never further from the truth.
        cpu_s=max(cpu_exact, sampler.cpu_s),
        cpu_sampled_s=sampler.cpu_s,
        cpu_exact=exact,
        peak_rss_bytes=sampler.peak_rss,
        peak_processes=sampler.peak_processes,
        samples=sampler.samples,
        reason=reason,
        stdout_path=str(stdout_path),
        stderr_path=str(stderr_path),
        notes=notes,
        started_at_epoch=started_epoch,
        cpu_roles=sampler.cpu_roles(),
    )


def _last_line(path: Path, marker: str | None = None) -> str | None:
    """The last non-empty line of a log (containing ``marker`` if given)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        text = line.strip()
        if text and (marker is None or marker in text):
            return text[:300]
    return None


def _failure_reason(returncode: int, stderr_path: Path, stdout_path: Path) -> str:
    """One line saying why a command failed: a MemoryError first, else its last words."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    for marker in ("MemoryError", "Error", "Exception"):
        for path in (stderr_path, stdout_path):
            line = _last_line(path, marker)
            if line:
                return f"exit code {returncode}: {line}"
    last = _last_line(stderr_path) or _last_line(stdout_path)
    return f"exit code {returncode}: {last}" if last else f"exit code {returncode}"
