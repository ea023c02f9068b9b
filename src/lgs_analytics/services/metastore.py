"""`lgs metastore`: a shared Hive metastore in a private PostgreSQL cluster.

Embedded Derby allows one process at a time. With the metastore in PostgreSQL, dbt (the
`shared` and `cluster` targets), the Spark Thrift Server and notebooks share one catalog
concurrently. Everything lives under the state folder:

    $LGS_STATE_DIR/postgres/         PostgreSQL data, socket and log (owned by `postgres`
                                      when run as root: PostgreSQL refuses to run as root)
    $LGS_STATE_DIR/metastore/conf/   hive-site.xml: the JDO connection (password included,
                                      mode 0600) and the warehouse location
    $LGS_STATE_DIR/metastore/lib/    postgresql.jar, a link to Debian's JDBC driver
    $LGS_STATE_DIR/metastore/password  the metastore user's generated password (0600)
    $LGS_STATE_DIR/shared-warehouse/ the tables' files

Spark reads the conf folder and the JDBC jar through `spark.driver.extraClassPath` (the
driver's classpath is where Hive looks for hive-site.xml), so the password never appears on
a command line. The schema is created once with DataNucleus SchemaTool: letting the
metastore create it on first use deadlocks on PostgreSQL (see docs/CLUSTER.md).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services.process import (
    LOOPBACK,
    ServiceError,
    spark_home,
    start_ticks,
    wait_until,
)

DEFAULT_PORT = 55432
PORT_ENV = "LGS_METASTORE_PORT"
DATABASE = "lgs_metastore"
USER = "lgs_metastore"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
POSTGRES_ROOT = Path("/usr/lib/postgresql")
OS_USER_WHEN_ROOT = "postgres"
INSTALL_HINT = "run `bash scripts/services-deps.sh` (Debian: postgresql libpostgresql-jdbc-java)"
# The settings under which SchemaTool created the tables; every client must use the same
# identifier factory and value strategy, or it looks for tables under other names.
DATANUCLEUS_NAMING = {
    "datanucleus.identifierFactory": "datanucleus1",
    "datanucleus.rdbms.useLegacyNativeValueStrategy": "true",
}


def default_port() -> int:
    return int(os.environ.get(PORT_ENV) or DEFAULT_PORT)


def jdbc_url(port: int, host: str = LOOPBACK) -> str:
    return f"jdbc:postgresql://{host}:{port}/{DATABASE}"


def connection_properties(port: int, password: str) -> dict[str, str]:
    """The four `javax.jdo.option.*` settings of the metastore database."""
    return {
        "javax.jdo.option.ConnectionURL": jdbc_url(port),
        "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "javax.jdo.option.ConnectionUserName": USER,
        "javax.jdo.option.ConnectionPassword": password,
    }


def schema_tool_properties(port: int, password: str) -> dict[str, str]:
    """DataNucleus SchemaTool's `-props` file: the connection and the naming rules."""
    return {**connection_properties(port, password), **DATANUCLEUS_NAMING}


def hive_site_properties(port: int, password: str, warehouse: Path) -> dict[str, str]:
    """Everything a Spark process needs to use the shared catalog."""
    return {
        **connection_properties(port, password),
        **DATANUCLEUS_NAMING,
        # The schema exists (SchemaTool); never let a client alter it or check its version.
        "datanucleus.schema.autoCreateAll": "false",
        "hive.metastore.schema.verification": "false",
        # Spark takes spark.sql.warehouse.dir from this when a session does not set it.
        "hive.metastore.warehouse.dir": str(warehouse),
    }


def render_hive_site(properties: dict[str, str]) -> str:
    """A Hadoop configuration XML document (hive-site.xml) with ``properties``."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!-- Written by `lgs metastore start`. -->"]
    lines.append("<configuration>")
    for name, value in properties.items():
        lines += [
            "  <property>",
            f"    <name>{escape(name)}</name>",
            f"    <value>{escape(value)}</value>",
            "  </property>",
        ]
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


def render_properties(properties: dict[str, str]) -> str:
    """A Java .properties file; ``\\``, ``=``, ``:`` and leading spaces escaped."""

    def escaped(text: str) -> str:
        text = text.replace("\\", "\\\\").replace("=", "\\=").replace(":", "\\:")
        return ("\\" + text) if text.startswith(" ") else text

    return "".join(f"{escaped(key)}={escaped(value)}\n" for key, value in properties.items())


def postgres_settings(port: int, socket_dir: Path) -> str:
    """The server settings `lgs metastore start` rewrites before every start."""
    return (
        "# Written by `lgs metastore start`; rewritten on every start.\n"
        f"listen_addresses = '{LOOPBACK}'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        # Each Spark process holds two DataNucleus pools of up to 10 connections.
        "max_connections = 150\n"
        "shared_buffers = 32MB\n"
        "logging_collector = off\n"
    )


def pg_hba(superuser: str) -> str:
    """Client authentication: the superuser over the socket, the metastore user over TCP."""
    return (
        "# Written by `lgs metastore start`.\n"
        "# TYPE  DATABASE        USER            ADDRESS         METHOD\n"
        f"local   all             {superuser:<15} {'':<15} peer\n"
        f"host    {DATABASE:<15} {USER:<15} 127.0.0.1/32    scram-sha-256\n"
    )


@dataclass(frozen=True)
class MetastoreLayout:
    """Where the shared metastore's files live in one state folder."""

    state: Path

    @classmethod
    def for_paths(cls, paths: ProjectPaths) -> MetastoreLayout:
        return cls(paths.state)

    @property
    def postgres_entry(self) -> Path:
        """`postgres/` in the state folder: the cluster's folder, or a link to it."""
        return self.state / "postgres"

    @property
    def postgres(self) -> Path:
        """The PostgreSQL cluster's folder (where `postgres/` links to, if it is a link)."""
        return self.postgres_entry.resolve()

    @property
    def data(self) -> Path:
        return self.postgres / "data"

    @property
    def socket_dir(self) -> Path:
        return self.postgres / "run"

    @property
    def server_log(self) -> Path:
        return self.postgres / "postgres.log"

    @property
    def home(self) -> Path:
        return self.state / "metastore"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def hive_site(self) -> Path:
        return self.conf_dir / "hive-site.xml"

    @property
    def jar_link(self) -> Path:
        return self.home / "lib" / "postgresql.jar"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def service_file(self) -> Path:
        return self.home / "service.json"

    @property
    def schema_log(self) -> Path:
        return self.home / "schematool.log"

    @property
    def warehouse(self) -> Path:
        return self.state / "shared-warehouse"

    def classpath(self) -> str:
        """`spark.driver.extraClassPath` of every process on the shared catalog."""
        return f"{self.conf_dir}:{self.jar_link}"


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL binaries and the OS user that runs the private cluster."""

    bin_dir: Path
    os_user: str | None  # None: the current user (not root) owns and runs the cluster.

    @classmethod
    def find(cls) -> Postgres:
        candidates = sorted(
            POSTGRES_ROOT.glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3])
        )
        if not candidates:
            raise ServiceError(f"PostgreSQL is not installed: {INSTALL_HINT}.")
        os_user = OS_USER_WHEN_ROOT if os.geteuid() == 0 else None
        if os_user:
            try:
                pwd.getpwnam(os_user)
            except KeyError as exc:
                raise ServiceError(
                    f"Running as root needs the `{os_user}` user of the postgresql package: "
                    f"{INSTALL_HINT}."
                ) from exc
        return cls(bin_dir=candidates[-1].parent, os_user=os_user)

    @property
    def superuser(self) -> str:
        return self.os_user or getpass.getuser()

    def command(self, tool: str, *args: str) -> list[str]:
        """A PostgreSQL tool run as the cluster's owner (`runuser` when we are root)."""
        base = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", self.os_user, "--", *base] if self.os_user else base

    def run(
        self, tool: str, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(tool, *args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # The cluster's owner may not be allowed into the caller's working directory.
            cwd="/",
        )

    def can_reach(self, folder: Path) -> bool:
        """True when the cluster's owner may enter ``folder`` (every folder above included).

        Only a question when we are root: the `postgres` user cannot enter a state folder
        below a private one such as /root.
        """
        if not self.os_user:
            return True
        probe = subprocess.run(
            ["runuser", "-u", self.os_user, "--", "test", "-x", str(folder)],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return probe.returncode == 0

    def own(self, path: Path) -> None:
        """Give ``path`` to the cluster's owner (root only; otherwise it is ours already)."""
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def psql(self, layout: MetastoreLayout, port: int, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` (given on stdin, so no value appears in `ps`) as the superuser."""
        result = self.run(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(layout.socket_dir),
            "-p",
            str(port),
            "-U",
            self.superuser,
            "-d",
            database,
            stdin=sql,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"psql failed on the metastore's PostgreSQL: {result.stderr.strip()}"
            )
        return result.stdout.strip()


def jdbc_jar() -> Path:
    if not JDBC_JAR.is_file():
        raise ServiceError(f"The PostgreSQL JDBC driver {JDBC_JAR} is missing: {INSTALL_HINT}.")
    return JDBC_JAR


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never readable by others even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def ensure_password(layout: MetastoreLayout) -> str:
    """The metastore user's password: generated once into a 0600 file, then reused."""
    if layout.password_file.is_file():
        return layout.password_file.read_text().strip()
    password = secrets.token_urlsafe(24)
    write_private(layout.password_file, password + "\n")
    return password


def server_pid(layout: MetastoreLayout) -> int | None:
    """The postmaster's pid while it runs (from postmaster.pid), else None.

    A pid file left by a crash may name a pid the kernel gave to another process since: the
    postmaster is recognised by its working directory, which is its data directory.
    """
    try:
        pid = int((layout.data / "postmaster.pid").read_text().splitlines()[0])
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except (OSError, ValueError, IndexError):
        return None
    if cwd != layout.data.resolve() or start_ticks(pid) is None:
        return None
    return pid


def server_port(layout: MetastoreLayout) -> int | None:
    """The port the running postmaster listens on (line 4 of postmaster.pid)."""
    try:
        return int((layout.data / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def place_cluster(postgres: Postgres, layout: MetastoreLayout) -> Path:
    """Create the PostgreSQL cluster's folders, owned by its OS user; return the folder.

    As root, PostgreSQL runs as `postgres`, which cannot enter a state folder below a
    private one (a checkout in /root, say). The cluster then lives in that user's home, in
    a folder named for the state folder, and `postgres/` in the state folder links to it.
    """
    entry = layout.postgres_entry
    if (
        postgres.os_user
        and not entry.is_symlink()
        and not entry.exists()
        and not postgres.can_reach(layout.state)
    ):
        home = Path(pwd.getpwnam(postgres.os_user).pw_dir) / "lgs-metastore"
        digest = hashlib.sha256(str(layout.state).encode()).hexdigest()[:16]
        outside = home / f"{layout.state.name}-{digest}"
        for folder in (home, outside):
            folder.mkdir(exist_ok=True)
            folder.chmod(0o700)
            postgres.own(folder)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.symlink_to(outside, target_is_directory=True)
    for folder in (layout.postgres, layout.socket_dir):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        postgres.own(folder)
    if not postgres.can_reach(layout.postgres):
        raise ServiceError(
            f"PostgreSQL runs as the `{postgres.os_user}` user, which cannot enter "
            f"{layout.postgres}: set LGS_STATE_DIR to a folder every user can traverse, "
            "or run as a user other than root."
        )
    return layout.postgres


def _initdb(postgres: Postgres, layout: MetastoreLayout) -> None:
    place_cluster(postgres, layout)
    if (layout.data / "PG_VERSION").is_file():
        return
    result = postgres.run(
        "initdb",
        "-D",
        str(layout.data),
        "-U",
        postgres.superuser,
        "-E",
        "UTF8",
        "--locale=C",
        "--auth-local=peer",
        "--auth-host=scram-sha-256",
        timeout=300,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"initdb failed in {layout.data}: {(result.stderr or result.stdout).strip()}"
        )
    with (layout.data / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists = 'lgs_service.conf'\n")


def _configure(postgres: Postgres, layout: MetastoreLayout, port: int) -> None:
    for name, text in (
        ("lgs_service.conf", postgres_settings(port, layout.socket_dir)),
        ("pg_hba.conf", pg_hba(postgres.superuser)),
    ):
        path = layout.data / name
        path.write_text(text)
        path.chmod(0o600)
        postgres.own(path)


def _start_server(postgres: Postgres, layout: MetastoreLayout, port: int) -> None:
    if not layout.server_log.exists():
        layout.server_log.touch()
        postgres.own(layout.server_log)
    result = postgres.run(
        "pg_ctl", "start", "-D", str(layout.data), "-l", str(layout.server_log), "-w", "-t", "90"
    )
    if result.returncode != 0 or server_pid(layout) is None:
        raise ServiceError(
            f"PostgreSQL did not start on {LOOPBACK}:{port}; see {layout.server_log}."
        )


def _ensure_role_and_database(
    postgres: Postgres, layout: MetastoreLayout, port: int, password: str
) -> None:
    # psql variables keep the password out of the SQL text's quoting and off the command line;
    # the owner of the database gets CREATE on its public schema (PostgreSQL 15).
    postgres.psql(
        layout,
        port,
        f"\\set pw '{password}'\n"
        f"SELECT format('CREATE ROLE {USER} LOGIN PASSWORD %L', :'pw')\n"
        f"  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{USER}') \\gexec\n"
        f"SELECT format('ALTER ROLE {USER} LOGIN PASSWORD %L', :'pw') \\gexec\n"
        f"SELECT 'CREATE DATABASE {DATABASE} OWNER {USER} ENCODING ''UTF8'''\n"
        f"  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}') \\gexec\n",
    )


def schema_exists(postgres: Postgres, layout: MetastoreLayout, port: int) -> bool:
    """True when the metastore tables exist (DBS is the table of databases)."""
    count = postgres.psql(
        layout,
        port,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'DBS';",
        database=DATABASE,
    )
    return count == "1"


def _create_schema(postgres: Postgres, layout: MetastoreLayout, port: int, password: str) -> None:
    """Create the metastore tables once, with DataNucleus SchemaTool from the pyspark jars."""
    from lgs_analytics.runtime.environment import check_java, java_executable

    check_java()
    jars = spark_home() / "jars"
    metastore_jar = next(jars.glob("hive-metastore-*.jar"), None)
    if metastore_jar is None:
        raise ServiceError(f"No hive-metastore jar in {jars}: reinstall pyspark.")
    with tempfile.TemporaryDirectory(dir=layout.home, prefix="schematool-") as scratch:
        folder = Path(scratch)
        with zipfile.ZipFile(metastore_jar) as archive:
            (folder / "package.jdo").write_bytes(archive.read("package.jdo"))
        write_private(
            folder / "ds.properties", render_properties(schema_tool_properties(port, password))
        )
        command = [
            java_executable() or "java",
            "-cp",
            f"{jdbc_jar()}:{jars}/*",
            "org.datanucleus.store.schema.SchemaTool",
            "-create",
            "-api",
            "JDO",
            "-props",
            str(folder / "ds.properties"),
            str(folder / "package.jdo"),
        ]
        with layout.schema_log.open("w") as log:
            result = subprocess.run(
                command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=600
            )
    if result.returncode != 0 or not schema_exists(postgres, layout, port):
        # A half-created schema must not be mistaken for a complete one at the next start.
        postgres.psql(
            layout,
            port,
            f"DROP DATABASE IF EXISTS {DATABASE};\n"
            f"CREATE DATABASE {DATABASE} OWNER {USER} ENCODING 'UTF8';\n",
        )
        raise ServiceError(
            f"DataNucleus SchemaTool could not create the metastore schema; see "
            f"{layout.schema_log}."
        )


def _write_client_conf(layout: MetastoreLayout, port: int, password: str) -> None:
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    write_private(
        layout.hive_site,
        render_hive_site(hive_site_properties(port, password, layout.warehouse)),
    )
    layout.jar_link.parent.mkdir(parents=True, exist_ok=True)
    if layout.jar_link.is_symlink() or layout.jar_link.exists():
        layout.jar_link.unlink()
    layout.jar_link.symlink_to(jdbc_jar())


def start(
    paths: ProjectPaths, port: int | None = None, create_schema: bool = True
) -> dict[str, Any]:
    """Start (initialising on first use) the shared metastore; idempotent while it runs.

    `create_schema=False` leaves out the metastore tables (SchemaTool, a JVM): a database a
    test of the writer lock needs, which no Spark process could use as a catalog.
    """
    port = port or default_port()
    layout = MetastoreLayout.for_paths(paths)
    postgres = Postgres.find()
    jdbc_jar()
    layout.home.mkdir(parents=True, exist_ok=True)
    layout.home.chmod(0o700)
    running = server_pid(layout)
    if running is not None and server_port(layout) != port:
        raise ServiceError(
            f"The metastore already runs on port {server_port(layout)} (pid {running}): "
            "stop it first (`lgs metastore stop`) to change the port."
        )
    _initdb(postgres, layout)
    if running is None:
        _configure(postgres, layout, port)
        _start_server(postgres, layout, port)
    password = ensure_password(layout)
    _ensure_role_and_database(postgres, layout, port, password)
    _write_client_conf(layout, port, password)
    if create_schema and not schema_exists(postgres, layout, port):
        _create_schema(postgres, layout, port, password)
    info = {
        "pid": server_pid(layout),
        "port": port,
        "jdbc_url": jdbc_url(port),
        "user": USER,
        "conf_dir": str(layout.conf_dir),
        "classpath": layout.classpath(),
        "warehouse": str(layout.warehouse),
    }
    layout.service_file.write_text(json.dumps(info, indent=2) + "\n")
    return info


def stop(paths: ProjectPaths, timeout: float = 60) -> bool:
    """Stop the metastore's PostgreSQL (fast shutdown). True if it was running."""
    layout = MetastoreLayout.for_paths(paths)
    pid = server_pid(layout)
    if pid is None:
        return False
    postgres = Postgres.find()
    result = postgres.run(
        "pg_ctl", "stop", "-D", str(layout.data), "-m", "fast", "-w", "-t", str(int(timeout))
    )
    if result.returncode != 0:
        postgres.run("pg_ctl", "stop", "-D", str(layout.data), "-m", "immediate", "-w")
    wait_until(
        lambda: start_ticks(pid) is None,
        timeout=30,
        failure=f"PostgreSQL (pid {pid}) did not stop; see {layout.server_log}.",
    )
    return True


def status(paths: ProjectPaths) -> dict[str, Any]:
    """Whether the metastore runs, and where its clients' configuration is."""
    layout = MetastoreLayout.for_paths(paths)
    pid = server_pid(layout)
    return {
        "running": pid is not None,
        "pid": pid,
        "port": server_port(layout) if pid else None,
        "conf_dir": str(layout.conf_dir) if layout.hive_site.exists() else None,
        "warehouse": str(layout.warehouse),
        "log": str(layout.server_log),
    }


def require_running(paths: ProjectPaths) -> MetastoreLayout:
    """The layout of a running metastore, or one sentence telling how to start it."""
    layout = MetastoreLayout.for_paths(paths)
    if server_pid(layout) is None or not layout.hive_site.exists():
        raise ServiceError(
            f"The shared metastore of {paths.state} is not running: start it with "
            "`lgs metastore start`."
        )
    return layout


def notebook_session(
    paths: ProjectPaths | None = None, app_name: str = "lgs-notebook", master: str = "local[*]"
) -> Any:
    """A plain PySpark session on the shared catalog, as a notebook would create it.

    It is exactly the snippet of docs/CLUSTER.md: the conf folder (hive-site.xml) and the
    JDBC driver on the driver's classpath, Hive support on. It must be the first
    SparkSession of the process: the classpath is fixed when the JVM starts.
    """
    from pyspark.sql import SparkSession

    layout = require_running(paths or ProjectPaths.discover())
    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.extraClassPath", layout.classpath())
        .config("spark.driver.host", LOOPBACK)
        .config("spark.driver.bindAddress", LOOPBACK)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .enableHiveSupport()
        .getOrCreate()
    )


def remove_state(paths: ProjectPaths) -> None:
    """Delete the catalog: PostgreSQL cluster, client configuration, warehouse files.

    The server must be stopped. A cluster kept outside the state folder (see
    `place_cluster`) goes with its link.
    """
    layout = MetastoreLayout.for_paths(paths)
    if server_pid(layout) is not None:
        raise ServiceError("Stop the metastore before removing its files (`lgs metastore stop`).")
    cluster_folder = layout.postgres
    outside = layout.postgres_entry.is_symlink()
    if outside:
        layout.postgres_entry.unlink()
    for folder in (cluster_folder, layout.home, layout.warehouse):
        shutil.rmtree(folder, ignore_errors=True)
    if outside:
        with contextlib.suppress(OSError):  # other state folders may still have theirs
            cluster_folder.parent.rmdir()
