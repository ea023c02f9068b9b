"""Fast tests of the services' pure helpers and process handling (real processes, no Spark).

Configuration rendering (hive-site.xml, SchemaTool properties, PostgreSQL settings), the
profile's agreement with the code on where the shared catalog lives, the commands the
services run, pid files, clean stops of real process groups and /proc socket parsing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lgs_analytics.cli import main
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import load_target
from lgs_analytics.services import cluster, metastore, thrift
from lgs_analytics.services.process import (
    LOOPBACK,
    ServiceProcess,
    descendants,
    free_ports,
    listening_inodes,
    listening_sockets,
    parse_proc_address,
    start_detached,
    start_ticks,
    stop_process,
    wait_until,
)
from lgs_testing import PROJECT_ROOT

# -- configuration rendering ---------------------------------------------------------------


def test_hive_site_holds_the_connection_and_the_schema_rules(tmp_path: Path) -> None:
    properties = metastore.hive_site_properties(55432, "s3cr<e>t&", tmp_path / "warehouse")
    document = ET.fromstring(metastore.render_hive_site(properties))
    parsed = {
        prop.findtext("name"): prop.findtext("value") for prop in document.findall("property")
    }
    assert parsed == properties
    assert parsed["javax.jdo.option.ConnectionPassword"] == "s3cr<e>t&"  # pragma: allowlist secret
    assert parsed["javax.jdo.option.ConnectionURL"] == (
        "jdbc:postgresql://127.0.0.1:55432/lgs_metastore"
    )
    assert parsed["datanucleus.schema.autoCreateAll"] == "false"
    assert parsed["hive.metastore.schema.verification"] == "false"
    assert parsed["datanucleus.identifierFactory"] == "datanucleus1"
    assert parsed["datanucleus.rdbms.useLegacyNativeValueStrategy"] == "true"
    assert parsed["hive.metastore.warehouse.dir"] == str(tmp_path / "warehouse")


def test_schema_tool_properties_are_the_four_jdo_settings_and_the_naming_rules() -> None:
    properties = metastore.schema_tool_properties(5433, "pw")
    assert sorted(properties) == sorted(
        [
            "javax.jdo.option.ConnectionURL",
            "javax.jdo.option.ConnectionDriverName",
            "javax.jdo.option.ConnectionUserName",
            "javax.jdo.option.ConnectionPassword",
            "datanucleus.identifierFactory",
            "datanucleus.rdbms.useLegacyNativeValueStrategy",
        ]
    )


def test_java_properties_escape_separators() -> None:
    text = metastore.render_properties({"url": "jdbc:postgresql://h:1/db", "pw": " a=b\\"})
    assert text == "url=jdbc\\:postgresql\\://h\\:1/db\npw=\\ a\\=b\\\\\n"


def test_postgres_listens_on_loopback_with_its_socket_in_the_state_folder(tmp_path: Path) -> None:
    settings = metastore.postgres_settings(55999, tmp_path / "run")
    assert "listen_addresses = '127.0.0.1'" in settings
    assert "port = 55999" in settings
    assert f"unix_socket_directories = '{tmp_path / 'run'}'" in settings


def test_pg_hba_lets_only_the_metastore_user_in_over_tcp_with_a_password() -> None:
    rules = [
        line.split()
        for line in metastore.pg_hba("postgres").splitlines()
        if line and not line.startswith("#")
    ]
    assert rules == [
        ["local", "all", "postgres", "peer"],
        ["host", "lgs_metastore", "lgs_metastore", "127.0.0.1/32", "scram-sha-256"],
    ]


def test_private_files_are_0600_and_the_password_is_reused(tmp_path: Path) -> None:
    layout = metastore.MetastoreLayout(tmp_path)
    first = metastore.ensure_password(layout)
    assert len(first) >= 24
    assert oct(layout.password_file.stat().st_mode & 0o777) == "0o600"
    assert metastore.ensure_password(layout) == first


def test_a_stale_postmaster_pid_file_naming_another_process_is_not_a_server(
    tmp_path: Path,
) -> None:
    layout = metastore.MetastoreLayout(tmp_path)
    layout.data.mkdir(parents=True)
    pid_file = layout.data / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{layout.data}\n0\n55432\n")
    assert metastore.server_pid(layout) is None  # a live pid, but not in the data directory
    stand_in = subprocess.Popen(["sleep", "60"], cwd=layout.data)
    try:
        pid_file.write_text(f"{stand_in.pid}\n{layout.data}\n0\n55432\n")
        assert metastore.server_pid(layout) == stand_in.pid
        assert metastore.server_port(layout) == 55432
    finally:
        stand_in.kill()
        stand_in.wait()
    assert metastore.server_pid(layout) is None


def _example_target(tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A target of profiles.yml.example (not a local profiles.yml), rendered like dbt."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "profiles.yml.example", root / "profiles.yml.example")
    for name in list(os.environ):
        if name.startswith("LGS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path / "state"))
    return load_target(ProjectPaths(root=root, state=tmp_path / "state"), target)


@pytest.mark.parametrize("target", ["shared", "cluster"])
def test_profile_targets_use_the_catalog_the_services_create(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = _example_target(tmp_path, target, monkeypatch)["server_side_parameters"]
    layout = metastore.MetastoreLayout(tmp_path / "state")
    assert parameters["spark.driver.extraClassPath"] == layout.classpath()
    assert parameters["spark.sql.warehouse.dir"] == str(layout.warehouse)
    assert parameters["spark.hadoop.javax.jdo.option.ConnectionURL"] == metastore.jdbc_url(
        metastore.DEFAULT_PORT
    )
    assert not any("password" in key.lower() for key in parameters)
    assert parameters["spark.driver.bindAddress"] == LOOPBACK


def test_cluster_target_defaults_to_the_default_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = _example_target(tmp_path, "cluster", monkeypatch)["server_side_parameters"]
    assert parameters["spark.master"] == cluster.ClusterSettings().master_url


def test_thrift_target_talks_to_the_default_server_without_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _example_target(tmp_path, "thrift", monkeypatch)
    assert output["method"] == "thrift"
    assert (output["host"], int(output["port"])) == (LOOPBACK, thrift.DEFAULT_PORT)
    assert output["auth"] == "NONE"
    # PyHive refuses a password unless auth is LDAP or CUSTOM.
    assert "password" not in output


# -- commands ------------------------------------------------------------------------------


def test_master_and_workers_bind_to_loopback(tmp_path: Path) -> None:
    settings = cluster.ClusterSettings(workers=2, port=7177)
    layout = cluster.ClusterLayout(tmp_path)
    master = cluster.master_command(settings, layout.properties_file)
    assert master[master.index("--host") + 1] == LOOPBACK
    assert master[master.index("--webui-port") + 1] == str(8190)
    worker = cluster.worker_command(settings, 2, layout)
    assert worker[worker.index("--host") + 1] == LOOPBACK
    assert worker[-1] == "spark://127.0.0.1:7177"
    assert worker[worker.index("--webui-port") + 1] == str(8192)
    assert "spark.master.rest.enabled false" in cluster.render_properties(cluster.DAEMON_PROPERTIES)


def test_workers_give_executors_the_project_python(tmp_path: Path) -> None:
    env = cluster.worker_environment(cluster.ClusterLayout(tmp_path))
    assert env["PYSPARK_PYTHON"] == sys.executable
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["SPARK_LOCAL_IP"] == LOOPBACK
    assert env["SPARK_LOCAL_DIRS"] == str(tmp_path / "cluster" / "local")


def test_thrift_server_command_binds_loopback_and_keeps_target_settings() -> None:
    command = thrift.server_command(
        10123,
        "/s/metastore/conf:/s/metastore/lib/postgresql.jar",
        {"spark.master": "local[2]", "spark.sql.ansi.enabled": "false", "spark.app.name": "x"},
        {"hive.server2.authentication": "NOSASL"},
    )
    assert command[command.index("--class") + 1] == thrift.SERVER_CLASS
    assert command[command.index("--master") + 1] == "local[2]"
    assert command[command.index("--driver-class-path") + 1].endswith("postgresql.jar")
    assert "spark.sql.ansi.enabled=false" in command
    assert "spark.app.name=x" not in command
    hiveconf = [command[i + 1] for i, arg in enumerate(command) if arg == "--hiveconf"]
    assert hiveconf == [
        "hive.server2.thrift.bind.host=127.0.0.1",
        "hive.server2.thrift.port=10123",
        "hive.server2.authentication=NOSASL",
    ]
    assert command[-1] == "spark-internal"


def test_status_of_services_that_never_ran_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path))
    for service in ("cluster", "metastore", "thrift"):
        assert main([service, "status"]) == 3
        assert '"running": false' in capsys.readouterr().out


def test_metastore_reset_removes_the_catalog_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path))
    layout = metastore.MetastoreLayout(tmp_path)
    for folder in (layout.data, layout.conf_dir, layout.warehouse / "lgs_marts.db"):
        folder.mkdir(parents=True)
    metastore.ensure_password(layout)
    assert main(["metastore", "reset"]) == 0
    assert capsys.readouterr().out.startswith("Removed the shared catalog of ")
    assert not any(path.exists() for path in (layout.postgres, layout.home, layout.warehouse))


def test_thrift_without_metastore_fails_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LGS_STATE_DIR", str(tmp_path))
    assert main(["thrift", "start", "--port", str(free_ports(1)[0])]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: The shared metastore of ")
    assert error.endswith("start it with `lgs metastore start`.")
    assert "\n" not in error


def _postgres_installed() -> bool:
    return metastore.JDBC_JAR.is_file() and bool(list(metastore.POSTGRES_ROOT.glob("*/bin/pg_ctl")))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_as_root_a_cluster_below_a_private_folder_lives_in_the_postgres_home(
    tmp_path: Path,
) -> None:
    if not _postgres_installed():
        pytest.skip("PostgreSQL is not installed here: scripts/services-deps.sh installs it")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    paths = ProjectPaths(root=PROJECT_ROOT, state=private / "state")
    layout = metastore.MetastoreLayout.for_paths(paths)
    layout.state.mkdir()
    postgres = metastore.Postgres.find()
    assert not postgres.can_reach(layout.state)
    try:
        folder = metastore.place_cluster(postgres, layout)
        assert layout.postgres_entry.is_symlink()
        assert folder.parent == Path(pwd.getpwnam("postgres").pw_dir) / "lgs-metastore"
        assert folder.owner() == "postgres" and layout.socket_dir.owner() == "postgres"
        assert postgres.can_reach(layout.socket_dir)
        assert metastore.place_cluster(postgres, layout) == folder
    finally:
        metastore.remove_state(paths)
    assert not folder.exists()
    assert not layout.postgres_entry.is_symlink()


def test_services_deps_script_is_quick_when_installed() -> None:
    if not _postgres_installed():
        pytest.skip("PostgreSQL is not installed here: scripts/services-deps.sh installs it")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "services-deps.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 5


# -- pid files and process groups ---------------------------------------------------------


def _start(tmp_path: Path, script: str) -> ServiceProcess:
    return start_detached(
        "probe",
        ["sh", "-c", script],
        log=tmp_path / "probe.log",
        pid_file=tmp_path / "probe.pid",
        env=os.environ,
        cwd=tmp_path,
    )


def _reap(record: ServiceProcess) -> None:
    """We are the parent here (no `lgs` process in between): collect the exit status."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(record.pid, os.WNOHANG)


def test_pid_file_round_trip_and_reused_pid_detection(tmp_path: Path) -> None:
    record = _start(tmp_path, "exec sleep 60")
    try:
        assert ServiceProcess.read(tmp_path / "probe.pid") == record
        assert record.is_running()
        impostor = ServiceProcess(record.name, record.pid, record.pgid, record.ticks + 1, "")
        assert not impostor.is_running()
        assert impostor.group_members() == []
    finally:
        stop_process(record)
        _reap(record)
    assert ServiceProcess.read(tmp_path / "missing.pid") is None


def test_stop_kills_the_whole_group_even_after_the_leader_died(tmp_path: Path) -> None:
    record = _start(tmp_path, "sleep 60 & sleep 60 & wait")
    wait_until(lambda: len(record.group_members()) == 3, timeout=10, failure="no children")
    children = [pid for pid in record.group_members() if pid != record.pid]
    os.kill(record.pid, signal.SIGKILL)
    # SIGKILL is delivered when the leader is next scheduled: on a loaded machine, later.
    wait_until(lambda: start_ticks(record.pid) is None, timeout=10, failure="leader alive")
    _reap(record)
    assert sorted(record.group_members()) == sorted(children)
    assert stop_process(record, timeout=5)
    assert all(start_ticks(pid) is None for pid in children)
    assert not stop_process(record)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    record = _start(tmp_path, "trap '' TERM; sleep 60 & wait; sleep 60")
    wait_until(lambda: len(record.group_members()) == 2, timeout=10, failure="no child")
    started = time.monotonic()
    assert stop_process(record, timeout=1)
    _reap(record)
    assert record.group_members() == []
    assert time.monotonic() - started < 10


# -- sockets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_address", "expected"),
    [
        ("0100007F:1F90", ("127.0.0.1", 8080)),
        ("00000000:0050", ("0.0.0.0", 80)),
        ("0000000000000000FFFF00000100007F:2710", ("127.0.0.1", 10000)),
        ("00000000000000000000000001000000:0016", ("::1", 22)),
        ("00000000000000000000000000000000:1F90", ("::", 8080)),
    ],
)
def test_proc_net_addresses(hex_address: str, expected: tuple[str, int]) -> None:
    assert parse_proc_address(hex_address) == expected


def test_listening_inodes_keep_only_listen_state(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
        "   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 111 1 0 100 0 0 10 0\n"
        "   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000"
        "     0        0 222 1 0 20 4 30 10 -1\n"
    )
    assert listening_inodes([table]) == {111: ("127.0.0.1", 8080)}


def test_listening_sockets_of_a_real_process(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((LOOPBACK, 0))
        server.listen()
        port = server.getsockname()[1]
        assert (os.getpid(), LOOPBACK, port) in listening_sockets([os.getpid()])
    assert os.getpid() in descendants(os.getpid())
