"""The embedded-Derby guard: a second process gets one sentence at once, not a Java trace."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbt.adapters.sparkplus.metastore_lock import (
    MetastoreInUseError,
    MetastoreUnreachableError,
    check_derby_free,
    check_metastore_reachable,
    derby_database_dir,
    metastore_address,
)

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_database_dir_follows_derby_home(tmp_path):
    url = "jdbc:derby:;databaseName=metastore_db;create=true"
    parameters = {
        "spark.hadoop.javax.jdo.option.ConnectionURL": url,
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={tmp_path} -Duser.timezone=UTC",
    }
    assert derby_database_dir(parameters) == tmp_path / "metastore_db"


def test_database_dir_relative_home_and_absolute_name(tmp_path):
    relative = {"spark.driver.extraJavaOptions": "-Dderby.system.home=.lgs"}
    assert derby_database_dir(relative, cwd=tmp_path) == tmp_path / ".lgs" / "metastore_db"
    absolute = {"spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:{tmp_path}/db"}
    assert derby_database_dir(absolute) == tmp_path / "db"


@pytest.mark.parametrize(
    "url",
    ["jdbc:postgresql://127.0.0.1:55432/metastore", "jdbc:derby://127.0.0.1:1527/metastore"],
)
def test_networked_metastores_are_not_checked(url):
    assert derby_database_dir({"spark.hadoop.javax.jdo.option.ConnectionURL": url}) is None


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("jdbc:postgresql://127.0.0.1:55432/lgs_metastore", ("127.0.0.1", 55432)),
        ("jdbc:postgresql://db.internal/metastore?ssl=true", ("db.internal", 5432)),
        ("jdbc:derby://127.0.0.1:1527/metastore;create=true", ("127.0.0.1", 1527)),
        ("jdbc:derby:;databaseName=metastore_db;create=true", None),
    ],
)
def test_metastore_address_of_networked_databases(url, address):
    assert metastore_address({"spark.hadoop.javax.jdo.option.ConnectionURL": url}) == address


def test_unreachable_metastore_is_one_sentence_naming_the_fix():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: connecting is refused at once.
    with pytest.raises(MetastoreUnreachableError) as error:
        check_metastore_reachable(("127.0.0.1", port))
    message = str(error.value)
    assert f"127.0.0.1:{port}" in message and "lgs metastore start" in message
    assert "\n" not in message


def test_reachable_metastore_passes():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        check_metastore_reachable(server.getsockname())


def test_free_database_passes(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "dbex.lck").write_text("")
    check_derby_free(tmp_path / "db")
    check_derby_free(tmp_path / "missing")


def test_database_held_by_another_process_is_refused(tmp_path):
    database = tmp_path / "metastore_db"
    database.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(database / "dbex.lck")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(MetastoreInUseError, match="in use by another process") as error:
            check_derby_free(database)
        assert str(database) in str(error.value)
    finally:
        holder.kill()
        holder.wait()
    # A lock left by a killed process is gone with it: the next run proceeds.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            check_derby_free(database)
            break
        except MetastoreInUseError:
            time.sleep(0.1)
    check_derby_free(database)
    assert Path(database / "dbex.lck").exists()
