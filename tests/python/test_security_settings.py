"""Security settings: credentials only from the environment, the secret scan wired into
pre-commit and CI, servers on 127.0.0.1, the Thrift server's authentication documented.

The listening sockets of the long-running services are checked where they are started:
the Spark master and workers in e2e/test_cluster.py, the Thrift server and PostgreSQL in
e2e/test_thrift_and_shared_metastore.py, dbt's own Spark driver with its web UI on in
e2e/test_bad_input_corpus.py. The docs server is started here as the `lgs docs-serve`
process a user runs, and its sockets are read from /proc.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lgs_analytics.lint_checks import scan_text
from lgs_analytics.services.process import descendants, free_ports, listening_sockets
from lgs_testing import PROJECT_ROOT

PROFILE = yaml.safe_load((PROJECT_ROOT / "profiles.yml.example").read_text())["lgs"]
CREDENTIAL_KEY = re.compile(r"password|token|secret|credential|private_key|access_key", re.I)
FROM_ENVIRONMENT = re.compile(r"^\{\{\s*env_var\('[A-Z0-9_]+'(,\s*'[^']*')?\)[^}]*\}\}$")


def _items(value: object, path: str = ""):
    """(dotted path, value) of every scalar in a parsed YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _items(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _items(item, f"{path}[{index}]")
    else:
        yield path, value


def test_every_credential_in_the_profile_comes_from_the_environment() -> None:
    credentials = [
        (path, value)
        for path, value in _items(PROFILE["outputs"])
        if CREDENTIAL_KEY.search(path.rsplit(".", 1)[-1])
    ]
    assert ("databricks.token", "{{ env_var('DATABRICKS_TOKEN') }}") in credentials
    for path, value in credentials:
        assert FROM_ENVIRONMENT.match(str(value)), f"{path} is not read from the environment"
        # No default: a missing variable must fail, not fall back to a written secret.
        assert "," not in str(value), f"{path} has a default value"


def test_no_metastore_password_in_any_profile_target() -> None:
    # The shared metastore's password is in a 0600 hive-site.xml on the classpath; a
    # profile value would end up on the spark-submit command line, visible in `ps`.
    for path, _ in _items(PROFILE["outputs"]):
        assert "ConnectionPassword" not in path, path


def test_session_targets_bind_the_driver_to_loopback() -> None:
    for name, target in PROFILE["outputs"].items():
        if target.get("method") != "session":
            continue
        parameters = target["server_side_parameters"]
        assert parameters["spark.driver.bindAddress"] == "127.0.0.1", name
        assert parameters["spark.driver.host"] == "127.0.0.1", name
    assert PROFILE["outputs"]["thrift"]["host"] == "{{ env_var('LGS_THRIFT_HOST', '127.0.0.1') }}"


def test_secret_scan_runs_in_pre_commit_and_in_ci() -> None:
    hooks = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in hooks["repos"] for hook in repo["hooks"]]
    assert any(entry.endswith("-m lgs_analytics.lint_checks secrets") for entry in entries)
    lint = (PROJECT_ROOT / "scripts" / "lint.sh").read_text()
    assert "-m lgs_analytics.lint_checks secrets" in lint
    assert "scripts/lint.sh" in (PROJECT_ROOT / "Makefile").read_text()


@pytest.mark.parametrize(
    "leak",
    [
        "token: dapi" + "0123456789abcdef" * 2,
        "password: hunter22",
        "aws_key = AKIA" + "ABCDEFGHIJKLMNOP",
        "-----BEGIN RSA " + "PRIVATE KEY-----",  # split, or the scan flags this file
    ],
)
def test_secret_scan_catches_a_planted_secret(leak: str) -> None:
    assert scan_text(leak)


def test_secret_scan_accepts_environment_references() -> None:
    assert scan_text("token: \"{{ env_var('DATABRICKS_TOKEN') }}\"") == []


def test_thrift_authentication_is_documented_and_configurable() -> None:
    cluster = (PROJECT_ROOT / "docs" / "CLUSTER.md").read_text()
    for mode in ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS"):
        assert f"`{mode}`" in cluster, mode
    assert "hive.server2.authentication" in cluster
    thrift = PROFILE["outputs"]["thrift"]
    assert thrift["auth"] == "{{ env_var('LGS_THRIFT_AUTH', 'NONE') }}"
    reliability = (PROJECT_ROOT / "docs" / "RELIABILITY.md").read_text()
    assert "CLUSTER.md#authentication" in reliability


def test_docs_server_process_listens_on_loopback_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "target").mkdir(parents=True)
    for name in ("index.html", "manifest.json", "catalog.json"):  # a docs site's files
        (state / "target" / name).write_text("{}")
    [port] = free_ports(1)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LGS_", "DBT_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "lgs_analytics.cli", "docs-serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**env, "LGS_STATE_DIR": str(state)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        sockets: list[tuple[int, str, int]] = []
        while time.monotonic() < deadline and not sockets:
            assert server.poll() is None, "the docs server exited"
            sockets = listening_sockets(descendants(server.pid))
            time.sleep(0.2)
        assert sockets, "the docs server never listened"
        assert {(address, bound) for _, address, bound in sockets} == {("127.0.0.1", port)}
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_web_ui_binds_where_the_driver_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.adapters.sparkplus.connections import bind_web_ui_like_the_driver

    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    bind_web_ui_like_the_driver({"spark.driver.bindAddress": "127.0.0.1"})
    assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
    monkeypatch.setenv("SPARK_LOCAL_IP", "10.0.0.5")  # an explicit choice wins
    bind_web_ui_like_the_driver({"spark.driver.bindAddress": "127.0.0.1"})
    assert os.environ["SPARK_LOCAL_IP"] == "10.0.0.5"
