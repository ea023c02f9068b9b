"""Security settings: credentials only from the environment, the secret scan wired into
pre-commit and CI, servers on 127.0.0.1, the Thrift server's authentication documented.

The listening sockets of the long-running services are checked where they are started:
the Spark master and workers in e2e/test_cluster.py, the Thrift server and PostgreSQL in
e2e/test_thrift_and_shared_metastore.py, dbt's own Spark driver with its web UI on in
e2e/test_bad_input_corpus.py. The docs server is started here as the `lgs docs-serve`
process a user runs, and its sockets are read from /proc.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import shutil
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lgs_analytics.devtools.lint_checks import BASELINE, PLUGIN_FILE
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
    command = "-m lgs_analytics.devtools.lint_checks secrets"
    hooks = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in hooks["repos"] for hook in repo["hooks"]]
    assert any(entry.endswith(command) for entry in entries)
    lint = (PROJECT_ROOT / "scripts" / "lint.sh").read_text().splitlines()
    assert f'"$BIN/python" {command}' in lint  # a line of its own, not a comment
    assert "scripts/lint.sh" in (PROJECT_ROOT / "Makefile").read_text()


# The planted secrets are built here, so that this file holds none of them.
_HEX = hashlib.sha256(b"planted").hexdigest()
_ALNUM = "".join(random.Random(25).choices(string.ascii_letters + string.digits, k=36))
_AZURE_KEY = base64.b64encode(hashlib.sha512(b"planted").digest()).decode()  # 88 characters
_PEM = "-----BEGIN {} PRIVATE KEY-----"
_LITERAL = "hunter" + "22"
# (file, its text, line of the secret, the type detect-secrets reports there)
PLANTED = {
    "databricks token": (
        "deploy/run.sh",
        f"#!/bin/sh\nexport DATABRICKS_TOKEN=dapi{_HEX[:32]}-2\n",
        2,
        "Databricks personal access token",
    ),
    "aws key": (
        "conf/aws.py",
        f'REGION = "eu-west-2"\nKEY = "AKIA{_HEX[:16].upper()}"\n',
        2,
        "AWS Access Key",
    ),
    "github token": ("ci/notify.py", f'\n\nGH = "ghp_{_ALNUM}"\n', 3, "GitHub Token"),
    "azure storage key": (
        "conf/azure.txt",
        f"DefaultEndpointsProtocol=https;AccountName=lgs;AccountKey={_AZURE_KEY};\n",
        1,
        "Azure Storage Account access key",
    ),
    "rsa private key": ("keys/id_rsa", "\n" + _PEM.format("RSA") + "\nMIIE\n", 2, "Private Key"),
    # PKCS#8 (openssl pkcs8 -topk8): only the project's plugin knows this header.
    "encrypted private key": (
        "keys/key.p8",
        _PEM.format("ENCRYPTED") + "\nMIIF\n",
        1,
        "PEM private key",
    ),
    "yaml literal password": (
        "profiles.yml",
        f"lgs:\n  outputs:\n    pg:\n      password: {_LITERAL}\n",
        4,
        "Secret Keyword",
    ),
    # Neither a `token` key nor a profile named *.yml.example is read by the KeywordDetector.
    "yaml literal token": (
        "conf/dbt.yml",
        f"outputs:\n  thrift:\n    token: {_LITERAL}\n",
        3,
        "Literal credential in YAML",
    ),
    "literal password in the example profile": (
        "profiles.yml.example",
        f"lgs:\n  outputs:\n    pg:\n      password: {_LITERAL}\n",
        4,
        "Literal credential in YAML",
    ),
}
CLEAN = (
    "databricks:\n"
    "  host: \"{{ env_var('DATABRICKS_HOST') }}\"\n"
    "  token: \"{{ env_var('DATABRICKS_TOKEN') }}\"\n"
    "  password: \"{{ env_var('LGS_PASSWORD') }}\"\n"
)


def _checkout(root: Path) -> Path:
    """A git work tree with the project's baseline and plugin file, as in a clone."""
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in (BASELINE, PLUGIN_FILE):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, root / name)
    return root


def _scan(root: Path, *files: str) -> tuple[int, set[tuple[str, str]], str]:
    """The make lint / pre-commit entry point in ``root``: (status, {(type, file:line)}, output)."""
    result = subprocess.run(
        [sys.executable, "-m", "lgs_analytics.devtools.lint_checks", "secrets", *files],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CLICOLOR": "0"},
    )
    found = set(re.findall(r"Secret Type: (.+)\nLocation:\s+(\S+)", result.stdout))
    return result.returncode, found, result.stdout + result.stderr


@pytest.fixture(scope="module")
def planted_scan(tmp_path_factory: pytest.TempPathFactory):
    """One scan, as make lint runs it (no file names: tracked and new files), of a checkout
    with every planted secret and a clean profile."""
    root = _checkout(tmp_path_factory.mktemp("secrets") / "checkout")
    for name, text, _, _ in PLANTED.values():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "clean.yml").write_text(CLEAN)
    return _scan(root)


@pytest.mark.parametrize("kind", PLANTED)
def test_secret_scan_reports_a_planted_secret_with_file_and_line(planted_scan, kind: str) -> None:
    status, found, output = planted_scan
    name, _, line, secret_type = PLANTED[kind]
    assert status == 1, output
    assert (secret_type, f"{name}:{line}") in found, output
    assert "secret scan failed" in output


def test_secret_scan_accepts_environment_references(planted_scan, tmp_path: Path) -> None:
    assert not [location for _, location in planted_scan[1] if location.startswith("clean.yml")]
    root = _checkout(tmp_path / "checkout")
    (root / "profiles.yml").write_text(CLEAN)
    status, found, output = _scan(root, "profiles.yml")  # as pre-commit passes the files
    assert (status, found) == (0, set()), output


def test_project_plugins_cover_what_detect_secrets_alone_misses(tmp_path: Path) -> None:
    """Why secret_plugins.py exists: with detect-secrets' built-in plugins only, these
    planted secrets pass (the regex list that the plugins replace caught each)."""
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    kinds = ("databricks token", "encrypted private key", "yaml literal token")
    kinds += ("literal password in the example profile",)
    for kind in kinds:
        name, text, _, _ = PLANTED[kind]
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        with default_settings():
            secrets = SecretsCollection()
            secrets.scan_file(str(path))
        assert not list(secrets), kind


def test_baseline_uses_the_project_plugins_and_accepts_no_secret() -> None:
    from detect_secrets.__version__ import VERSION

    baseline = json.loads((PROJECT_ROOT / BASELINE).read_text())
    project_plugins = {
        plugin["name"]: plugin["path"] for plugin in baseline["plugins_used"] if "path" in plugin
    }
    # Relative, so that a clone elsewhere loads them (detect-secrets would write an absolute path).
    assert project_plugins == dict.fromkeys(
        ("DatabricksTokenDetector", "PemPrivateKeyDetector", "YamlLiteralCredentialDetector"),
        f"file://{PLUGIN_FILE}",
    )
    assert (PROJECT_ROOT / PLUGIN_FILE).is_file()
    assert baseline["results"] == {}  # false positives are marked inline, where they are
    # Another version would make the hook rewrite the baseline (and fail) on every run.
    assert baseline["version"] == VERSION
    exclusions = [f for f in baseline["filters_used"] if f["path"].endswith("should_exclude_file")]
    assert exclusions and re.search(exclusions[0]["pattern"][0], ".lgs-test/x/profiles.yml")


def test_secret_scan_refuses_a_baseline_it_cannot_trust(tmp_path: Path) -> None:
    # detect-secrets alone finds nothing at all when a plugin file in the baseline is missing.
    root = _checkout(tmp_path / "moved")
    (root / PLUGIN_FILE).unlink()
    (root / "run.sh").write_text(PLANTED["databricks token"][1])
    status, _, output = _scan(root)
    assert status == 2
    assert f"names the plugin file {PLUGIN_FILE}, which does not exist" in output
    root = _checkout(tmp_path / "accepting")
    baseline = json.loads((root / BASELINE).read_text())
    baseline["results"] = {"run.sh": [{"type": "Secret Keyword", "hashed_secret": "0" * 40}]}
    (root / BASELINE).write_text(json.dumps(baseline))
    status, _, output = _scan(root)
    assert status == 2
    assert "accepts possible secrets in run.sh" in output


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
