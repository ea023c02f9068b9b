"""The shared catalog's writer lock: its settings, its message, and its behaviour on a real
PostgreSQL (`lgs metastore start` without the metastore tables: seconds, no JVM).

A holder is another process that takes the lock exactly as a dbt invocation does
(`InvocationLock.enter`, which the adapter's connection open calls).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt.adapters.sparkplus.writer_lock import (
    DEFAULT_WAIT,
    InvocationLock,
    MetastoreDatabase,
    WriterLock,
    WriterLockBusyError,
    WriterLockError,
    busy_message,
    current_holder,
    lock_wait,
    metastore_database,
    writes_catalog,
)
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services import metastore
from lgs_analytics.services.process import free_ports
from lgs_testing import PROJECT_ROOT

HOLD = """
import sys
from dbt.adapters.sparkplus.writer_lock import InvocationLock
lock = InvocationLock()
lock.enter({"spark.driver.extraClassPath": sys.argv[1]}, "build")
print("HELD", flush=True)
sys.stdin.readline()
lock.leave()
print("RELEASED", flush=True)
sys.stdin.readline()
"""


def _hive_site(folder: Path, **properties: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(
        f"<property><name>{name}</name><value>{value}</value></property>"
        for name, value in properties.items()
    )
    (folder / "hive-site.xml").write_text(f"<configuration>{body}</configuration>")
    return folder


URL = "javax.jdo.option.ConnectionURL"
USER = "javax.jdo.option.ConnectionUserName"
PASSWORD = "javax.jdo.option.ConnectionPassword"  # pragma: allowlist secret (a key)


def test_database_and_password_come_from_the_hive_site_on_the_driver_classpath(tmp_path):
    conf = _hive_site(
        tmp_path / "conf",
        # pragma: allowlist nextline secret (a test password)
        **{URL: "jdbc:postgresql://127.0.0.1:55499/lgs_metastore", USER: "meta", PASSWORD: "s3"},
    )
    parameters = {"spark.driver.extraClassPath": f"{conf}:{tmp_path}/lib/postgresql.jar"}
    database = metastore_database(parameters, environ={})
    assert database == MetastoreDatabase("127.0.0.1", 55499, "lgs_metastore", "meta", "s3")
    assert "s3" not in repr(database)
    # The target's own settings win over the file's (the profile repeats the URL and user).
    parameters["spark.hadoop." + URL] = "jdbc:postgresql://db.internal/catalog?sslmode=require"
    database = metastore_database(parameters, environ={})
    assert (database.host, database.port, database.database, database.ssl) == (
        "db.internal",
        5432,
        "catalog",
        True,
    )


def test_embedded_derby_and_other_databases_have_no_writer_lock(tmp_path):
    for url in ("jdbc:derby:;databaseName=metastore_db;create=true", "jdbc:mysql://h:3306/m"):
        assert metastore_database({"spark.hadoop." + URL: url}, environ={}) is None


def test_a_metastore_without_a_password_is_one_sentence(tmp_path):
    conf = _hive_site(tmp_path / "conf", **{URL: "jdbc:postgresql://127.0.0.1:1/m"})
    with pytest.raises(WriterLockError) as error:
        metastore_database({"spark.driver.extraClassPath": str(conf)}, environ={})
    assert "lgs metastore start" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(("text", "wait"), [("", DEFAULT_WAIT), ("0", 0.0), ("2.5", 2.5)])
def test_wait_from_the_environment(text, wait):
    assert lock_wait({"LGS_WRITER_LOCK_WAIT": text}) == wait


@pytest.mark.parametrize("text", ["soon", "-1", "nan"])
def test_a_bad_wait_is_one_sentence_naming_the_variable(text):
    with pytest.raises(WriterLockError, match="LGS_WRITER_LOCK_WAIT") as error:
        lock_wait({"LGS_WRITER_LOCK_WAIT": text})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        ("build", True),
        ("run", True),
        ("seed", True),
        ("test", True),
        ("snapshot", True),
        ("run-operation", True),
        (None, True),  # unknown: the safe side
        ("compile", False),
        ("show", False),
        ("generate", False),  # docs generate
        ("parse", False),
        ("list", False),
    ],
)
def test_only_commands_that_may_write_take_the_lock(command, writes):
    assert writes_catalog(command) is writes


def test_read_only_invocations_connect_to_nothing(tmp_path):
    # A password-less hive-site would fail any attempt to take the lock: none is made.
    conf = _hive_site(tmp_path / "conf", **{URL: "jdbc:postgresql://127.0.0.1:1/m"})
    invocation = InvocationLock()
    invocation.enter({"spark.driver.extraClassPath": str(conf)}, "compile")
    assert invocation.lock is None and invocation.since is not None
    invocation.leave()
    assert invocation.since is None


# --- on a real PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Iterator[tuple[dict[str, str], MetastoreDatabase]]:
    """A running metastore database (no metastore tables) and the Spark parameters of a
    target that uses it."""
    if shutil.which("pg_ctl") is None and not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.skip("PostgreSQL is not installed (bash scripts/services-deps.sh)")
    state = tmp_path_factory.mktemp("writer-lock-state")
    paths = ProjectPaths(root=PROJECT_ROOT, state=state)
    [port] = free_ports(1)
    try:
        info = metastore.start(paths, port=port, create_schema=False)
        parameters = {"spark.driver.extraClassPath": info["classpath"]}
        yield parameters, metastore_database(parameters, environ={})
    finally:
        metastore.stop(paths)
        metastore.remove_state(paths)


class Holder:
    """Another process holding the writer lock as a dbt invocation does."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, parameters["spark.driver.extraClassPath"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "HELD"

    def release(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "RELEASED"

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _take(database: MetastoreDatabase, wait: float) -> tuple[WriterLock, list[str]]:
    said: list[str] = []
    lock = WriterLock(database, "pytest")
    lock.acquire(wait, said.append)
    return lock, said


def test_a_second_writer_fails_at_once_or_after_its_wait_naming_the_holder(database):
    parameters, target = database
    holder = Holder(parameters)
    try:
        started = time.monotonic()
        with pytest.raises(WriterLockBusyError) as at_once:
            _take(target, wait=0)
        assert time.monotonic() - started < 5
        message = str(at_once.value)
        assert f"pid {holder.process.pid} on {socket.gethostname()}" in message
        assert "started 20" in message and "UTC" in message
        assert "(dbt build)" in message  # the command, here `python -c` running dbt's "build"
        assert "LGS_WRITER_LOCK_WAIT" in message and "\n" not in message

        said: list[str] = []
        started = time.monotonic()
        with pytest.raises(WriterLockBusyError, match=r"did not finish within 1\.5 s") as waited:
            WriterLock(target, "pytest").acquire(1.5, said.append)
        assert 1.5 <= time.monotonic() - started < 10
        assert f"pid {holder.process.pid}" in str(waited.value)
        assert len(said) == 1 and said[0].startswith("Waiting up to 1.5 s for the writer lock")
        assert f"pid {holder.process.pid}" in said[0]
    finally:
        holder.end()


def test_a_waiting_writer_gets_the_lock_when_the_holder_ends(database):
    parameters, target = database
    holder = Holder(parameters)
    try:
        # The holder ends its invocation two seconds from now; this writer waits for it.
        timer = threading.Timer(2.0, holder.release)
        started = time.monotonic()
        timer.start()
        lock, said = _take(target, wait=30)
        elapsed = time.monotonic() - started
        timer.join()
        try:
            assert 1.5 < elapsed < 10, elapsed
            assert len(said) == 1 and f"pid {holder.process.pid}" in said[0]
        finally:
            lock.release()
    finally:
        holder.end()


def test_the_lock_of_a_killed_holder_is_recovered_without_any_step(database):
    parameters, target = database
    holder = Holder(parameters)
    os.kill(holder.process.pid, signal.SIGKILL)
    holder.end()
    started = time.monotonic()
    lock, said = _take(target, wait=30)
    try:
        # PostgreSQL ended the killed process's session, and its lock, when the socket closed.
        assert time.monotonic() - started < 10, said
        import pg8000.native

        with pg8000.native.Connection(
            target.user,
            host=target.host,
            port=target.port,
            database=target.database,
            password=target.password,
        ) as connection:
            now = current_holder(connection)
        # The row the killed holder wrote does not pass for the current holder.
        assert now is not None and now.pid == os.getpid() and now.command == "pytest"
    finally:
        lock.release()
    invocation = InvocationLock()
    invocation.enter(parameters, "run")
    try:
        assert invocation.lock is not None and invocation.since is not None
    finally:
        invocation.leave()


def test_busy_message_is_one_sentence():
    target = MetastoreDatabase("127.0.0.1", 5432, "lgs_metastore", "u", "p")
    message = busy_message(target, None, 0)
    assert message.count(". ") == 0 and message.endswith(".") and "\n" not in message
