"""One writer at a time on a shared catalog: a lock held in its PostgreSQL metastore database.

Embedded Derby admits one process, which keeps writers apart by itself. A Hive metastore in
PostgreSQL admits many, and two builds on it at once replace each other's tables, seeds and
version folders under each other's feet. So every dbt invocation that writes (not `compile`,
`show`, `docs generate`, `parse`, `ls`, ...) on a session target whose metastore is in
PostgreSQL takes a writer lock there before its first statement, and holds it until it
ends:

- a session-level advisory lock, `pg_advisory_lock(LOCK_KEY)`, on a connection the process
  opens for it and keeps open. PostgreSQL releases it when that connection closes, so a
  build that was killed (SIGKILL included: the kernel closes the socket) leaves no lock
  behind, and nobody has to clear anything;
- a row in `sparkplus.writer_lock_holders` naming the holder (host, pid, start, command),
  keyed by the connection's backend pid and start, so that a row left by a killed holder
  never passes for the current one (only the backend that is granted the lock counts).

A second writer waits up to `LGS_WRITER_LOCK_WAIT` seconds (default 600, one small build;
0: do not wait) and then fails with one sentence that names the holder and what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

WAIT_ENV = "LGS_WRITER_LOCK_WAIT"
DEFAULT_WAIT = 600.0
# The two int4 keys of pg_advisory_lock(int, int): 'LGS' and "writer". Advisory locks are
# per database: the lock covers the one catalog whose metastore database this is.
LOCK_KEY = (0x4C4753, 1)
SCHEMA_KEY = (0x4C4753, 2)  # serialises the holders table's creation
HOLDERS = "sparkplus.writer_lock_holders"
# dbt commands that never write to the catalog (dbt's `WHICH` flag: `docs generate` is
# "generate", `source freshness` "freshness"). Every other command takes the lock.
READ_ONLY_COMMANDS = frozenset(
    {
        "clean",
        "compile",
        "debug",
        "deps",
        "freshness",
        "generate",
        "init",
        "list",
        "ls",
        "parse",
        "serve",
        "show",
    }
)
PROPERTY = "spark.hadoop."
POSTGRES_URL = re.compile(
    r"^jdbc:postgresql://(?P<host>[^:/?]+)(?::(?P<port>\d+))?/(?P<database>[^?;]+)"
    r"(?:\?(?P<query>.*))?$"
)


class WriterLockError(RuntimeError):
    """The writer lock cannot be taken: a setting is wrong or the database refuses us."""


class WriterLockBusyError(WriterLockError):
    """Another process holds the writer lock, for longer than this one may wait."""


@dataclass(frozen=True)
class MetastoreDatabase:
    """Where the catalog's PostgreSQL database is, and how to log in to it."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    ssl: bool = False

    @property
    def where(self) -> str:
        return f"{self.database} on {self.host}:{self.port}"


@dataclass(frozen=True)
class Holder:
    """The process that holds the writer lock, as far as the database knows it."""

    backend_pid: int
    host: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    command: str | None = None
    application: str | None = None

    def describe(self) -> str:
        if self.pid is None:
            # No row of ours: another client took the same lock (its database session).
            name = f" ({self.application})" if self.application else ""
            return f"database session {self.backend_pid}{name}"
        started = f", started {self.started_at:%Y-%m-%d %H:%M:%S} UTC" if self.started_at else ""
        return f"pid {self.pid} on {self.host}{started}: {self.command}"


def busy_message(database: MetastoreDatabase, holder: Holder | None, wait: float) -> str:
    """The one sentence of a build that did not get the writer lock."""
    who = holder.describe() if holder else "a process that has just finished"
    waited = f" and did not finish within {wait:g} s" if wait > 0 else ""
    return (
        f"Another build is writing the shared catalog ({database.where}; {who}){waited}: "
        f"run again once it has finished, or set {WAIT_ENV} to the seconds to wait "
        f"(now {wait:g})."
    )


def waiting_message(database: MetastoreDatabase, holder: Holder | None, wait: float) -> str:
    who = holder.describe() if holder else "a process that has just finished"
    return (
        f"Waiting up to {wait:g} s for the writer lock of the shared catalog "
        f"({database.where}), held by {who}."
    )


def lock_wait(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds to wait for the writer lock, from `LGS_WRITER_LOCK_WAIT`."""
    text = environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT
    try:
        wait = float(text)
    except ValueError:
        wait = -1.0
    if not wait >= 0:  # also refuses nan
        raise WriterLockError(
            f"{WAIT_ENV}={text!r} is not a number of seconds: set it to 0 (fail at once "
            f"when another build writes) or more (the default is {DEFAULT_WAIT:g})."
        )
    return wait


def hive_site(parameters: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> dict:
    """The properties of the hive-site.xml Spark's driver reads: the first one in a folder of
    `spark.driver.extraClassPath` (where `lgs metastore start` puts it), else in
    $SPARK_CONF_DIR."""
    folders = [
        Path(entry)
        for entry in parameters.get("spark.driver.extraClassPath", "").split(os.pathsep)
        if entry and not entry.endswith(".jar")
    ]
    if environ.get("SPARK_CONF_DIR"):
        folders.append(Path(environ["SPARK_CONF_DIR"]))
    for folder in folders:
        path = folder / "hive-site.xml"
        if path.is_file():
            return read_hadoop_xml(path)
    return {}


def read_hadoop_xml(path: Path) -> dict[str, str]:
    """`name: value` of every property of a Hadoop configuration file."""
    properties = {}
    for node in ElementTree.parse(path).getroot().iter("property"):
        name, value = node.findtext("name"), node.findtext("value")
        if name:
            properties[name.strip()] = (value or "").strip()
    return properties


def metastore_database(
    parameters: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> MetastoreDatabase | None:
    """The catalog's PostgreSQL database from the target's Spark parameters and the
    hive-site.xml on the driver's classpath (which holds the password), or None when the
    metastore is not in PostgreSQL."""
    site = hive_site(parameters, environ)

    def setting(name: str) -> str:
        return parameters.get(PROPERTY + name) or site.get(name) or ""

    url = setting("javax.jdo.option.ConnectionURL")
    match = POSTGRES_URL.match(url)
    if not match:
        return None
    password = setting("javax.jdo.option.ConnectionPassword")
    if not password:
        raise WriterLockError(
            f"No password for the metastore database {url} in the hive-site.xml of "
            "spark.driver.extraClassPath (nor in the target): start the metastore with "
            "`lgs metastore start`, which writes it, and check LGS_STATE_DIR."
        )
    query = {
        key.lower(): values[-1].lower() for key, values in parse_qs(match["query"] or "").items()
    }
    wants_ssl = query.get("ssl") == "true" or query.get("sslmode", "disable") not in {
        "disable",
        "allow",
        "prefer",
    }
    return MetastoreDatabase(
        host=match["host"],
        port=int(match["port"] or 5432),
        database=match["database"],
        user=setting("javax.jdo.option.ConnectionUserName") or "hive",
        password=password,
        ssl=wants_ssl,
    )


def command_line(which: str | None = None) -> str:
    """This process's command, as the holder row shows it to a waiting build."""
    words = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    text = " ".join(words)
    if which and which not in words[1:]:
        text += f" (dbt {which})"  # dbt invoked in-process, by `lgs build` say
    return text[:300]


def current_command() -> str | None:
    """The running dbt command (`build`, `run`, `docs generate` is `generate`), if known."""
    try:
        from dbt.flags import get_flags

        which = getattr(get_flags(), "WHICH", None)
    except Exception:  # not inside a dbt invocation: treat as a writer
        return None
    return str(which) if which else None


def writes_catalog(which: str | None) -> bool:
    return which not in READ_ONLY_COMMANDS


class WriterLock:
    """The writer lock of one metastore database, held by this process while it writes."""

    def __init__(self, database: MetastoreDatabase, command: str) -> None:
        self.database = database
        self.command = command
        self.acquired_at: float | None = None
        self._connection: Any = None

    def _connect(self, wait: float) -> Any:
        import pg8000.native

        try:
            return pg8000.native.Connection(
                self.database.user,
                host=self.database.host,
                port=self.database.port,
                database=self.database.database,
                password=self.database.password,
                ssl_context=ssl.create_default_context() if self.database.ssl else None,
                # Covers connecting and a wait for the lock; an idle holder never times out.
                timeout=wait + 60,
                application_name=f"sparkplus writer lock, pid {os.getpid()}",
            )
        except Exception as error:
            reason = getattr(error, "args", [None])[0]
            if isinstance(reason, dict):
                reason = reason.get("M")
            raise WriterLockError(
                f"Could not log in to the metastore database {self.database.where} to take "
                f"the writer lock ({reason or error}): check that `lgs metastore status` "
                "shows it running and that the hive-site.xml of the target is current."
            ) from None

    def acquire(self, wait: float, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds; WriterLockBusyError if not."""
        from pg8000.exceptions import DatabaseError

        connection = self._connect(wait)
        try:
            [[taken]] = connection.run(
                "select pg_try_advisory_lock(:a, :b)", a=LOCK_KEY[0], b=LOCK_KEY[1]
            )
            if not taken:
                holder = current_holder(connection)
                if wait <= 0:
                    raise WriterLockBusyError(busy_message(self.database, holder, wait))
                if on_wait is not None:
                    on_wait(waiting_message(self.database, holder, wait))
                connection.run(f"set lock_timeout = {max(1, round(wait * 1000))}")
                try:
                    connection.run("select pg_advisory_lock(:a, :b)", a=LOCK_KEY[0], b=LOCK_KEY[1])
                except DatabaseError as error:
                    details = error.args[0] if error.args else {}
                    if not (isinstance(details, dict) and details.get("C") == "55P03"):
                        raise
                    holder = current_holder(connection)
                    raise WriterLockBusyError(busy_message(self.database, holder, wait)) from None
                connection.run("set lock_timeout = 0")
            self.acquired_at = time.time()
            self._record(connection)
        except BaseException:
            _close(connection)
            raise
        self._connection = connection

    def _record(self, connection: Any) -> None:
        """Write this holder's row (and drop rows of sessions that have ended)."""
        from pg8000.exceptions import DatabaseError

        try:
            connection.run("begin")
            connection.run("select pg_advisory_xact_lock(:a, :b)", a=SCHEMA_KEY[0], b=SCHEMA_KEY[1])
            connection.run("create schema if not exists sparkplus")
            connection.run(
                f"create table if not exists {HOLDERS} ("
                " backend_pid integer not null, backend_start timestamptz not null,"
                " host text not null, pid integer not null, started_at timestamptz not null,"
                " command text not null, primary key (backend_pid, backend_start))"
            )
            connection.run(
                f"delete from {HOLDERS} where (backend_pid, backend_start) not in"
                " (select pid, backend_start from pg_stat_activity"
                "  where backend_start is not null)"
            )
            connection.run(
                f"insert into {HOLDERS} select pid, backend_start, :host, :pid, now(), :command"
                " from pg_stat_activity where pid = pg_backend_pid()",
                host=socket.gethostname(),
                pid=os.getpid(),
                command=self.command,
            )
            connection.run("commit")
        except DatabaseError:
            # No right to create the table, say: the lock holds all the same, and a waiting
            # build names the holder by its database session instead.
            connection.run("rollback")

    def release(self) -> None:
        """Give the lock back (closing the connection also releases it)."""
        connection, self._connection = self._connection, None
        self.acquired_at = None
        if connection is None:
            return
        try:
            if _has_holders_table(connection):
                connection.run(f"delete from {HOLDERS} where backend_pid = pg_backend_pid()")
            connection.run("select pg_advisory_unlock_all()")
        except Exception:  # the connection broke: its session and lock are gone already
            pass
        _close(connection)


def _has_holders_table(connection: Any) -> bool:
    [[found]] = connection.run(f"select to_regclass('{HOLDERS}') is not null")
    return bool(found)


def current_holder(connection: Any) -> Holder | None:
    """The session granted the writer lock in `connection`'s database, with its row."""
    lock = (
        "from pg_locks lock join pg_stat_activity activity on activity.pid = lock.pid"
        " where lock.locktype = 'advisory' and lock.granted and lock.classid = :a"
        " and lock.objid = :b and lock.objsubid = 2"
        " and lock.database = (select oid from pg_database where datname = current_database())"
    )
    if _has_holders_table(connection):
        rows = connection.run(
            "select lock.pid, activity.application_name, holder.host, holder.pid,"
            " holder.started_at, holder.command "
            + lock.replace(
                " where",
                f" left join {HOLDERS} holder on holder.backend_pid = lock.pid"
                " and holder.backend_start = activity.backend_start where",
                1,
            ),
            a=LOCK_KEY[0],
            b=LOCK_KEY[1],
        )
    else:
        rows = [
            [backend, application, None, None, None, None]
            for backend, application in connection.run(
                "select lock.pid, activity.application_name " + lock, a=LOCK_KEY[0], b=LOCK_KEY[1]
            )
        ]
    if not rows:
        return None
    backend, application, host, pid, started_at, command = rows[0]
    if isinstance(started_at, datetime) and started_at.tzinfo is not None:
        started_at = started_at.astimezone(UTC)
    return Holder(backend, host, pid, started_at, command, application)


def _close(connection: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection
        connection.close()


class InvocationLock:
    """What this process holds for the dbt invocation that runs in it.

    `since` is when this invocation became the catalog's only writer: when it got the
    writer lock, or (embedded Derby, which admits one process) when it opened its first
    connection. `table_versions.collect_versions` deletes no folder written after it.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.lock: WriterLock | None = None
        self.since: float | None = None

    def enter(
        self,
        parameters: Mapping[str, str],
        which: str | None,
        on_wait: Callable[[str], None] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        """Called on every connection open: the first one of a writing invocation on a
        PostgreSQL metastore takes the lock (the others find it held)."""
        with self._guard:
            if self.since is not None:
                return
            database = metastore_database(parameters, environ) if writes_catalog(which) else None
            if database is None:
                self.since = time.time()
                return
            lock = WriterLock(database, command_line(which))
            lock.acquire(lock_wait(environ), on_wait)
            self.lock, self.since = lock, lock.acquired_at

    def leave(self) -> None:
        """The invocation ended: release the lock and forget when it started."""
        with self._guard:
            lock, self.lock, self.since = self.lock, None, None
        if lock is not None:
            lock.release()


INVOCATION = InvocationLock()
