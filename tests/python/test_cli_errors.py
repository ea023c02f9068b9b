"""Every `lgs` subcommand's user errors: one sentence, non-zero exit, no traceback, nothing
landed or published changed (issue 24).

The cases here fail before any JVM starts (each is an `lgs` process of a second or two); the
ones that need Spark (a failing query, a missing table) are in
e2e/test_cli_errors_e2e.py. `import`, `generate` and the landing part of `build` have their
own tests (test_importer.py, test_landed_files.py).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lgs_analytics.cli import build_parser
from lgs_testing import PROJECT_ROOT, environ_without_lgs

LGS = [sys.executable, "-m", "lgs_analytics.cli"]


# -- every option has help text ------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser, name: str = "lgs"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                yield from _parsers(subparser, f"{name} {command}")


def test_every_option_and_argument_of_every_subcommand_has_help_text() -> None:
    parsers = dict(_parsers(build_parser()))
    # The walk reaches the services' actions too (a walk that found nothing would pass).
    assert {"lgs build", "lgs sql", "lgs cluster start", "lgs thrift start"} <= set(parsers)
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert not missing, f"options without help text: {', '.join(missing)}"


# -- LGS_TARGET is the default target ------------------------------------------------------

TARGET_COMMANDS = [["sql", "select 1"], ["report"], ["export", "--out", "x"], ["build"]]


@pytest.mark.parametrize("command", TARGET_COMMANDS, ids=lambda command: command[0])
def test_target_defaults_to_lgs_target_then_local(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGS_TARGET", "shared")
    assert build_parser().parse_args(command).target == "shared"
    assert build_parser().parse_args([*command, "--target", "cluster"]).target == "cluster"
    monkeypatch.delenv("LGS_TARGET")
    assert build_parser().parse_args(command).target == "local"


# -- bad inputs, one `lgs` process each ----------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path → sha256)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass
class State:
    """A state folder with landed and published files whose bytes must not change."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, folder: Path) -> State:
        landed = folder / "raw" / "online_retail_ii"
        landed.mkdir(parents=True)
        (landed / "part-00000.csv").write_text(
            "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
            "489434,85048,CANDLE,12,2009-12-01 07:45:00,6.95,13085,United Kingdom\n"
        )
        table = folder / "warehouse" / "lgs_marts.db" / "monthly_sales"
        table.mkdir(parents=True)
        (table / "part-00000.parquet").write_bytes(b"PAR1 published bytes PAR1")
        env = environ_without_lgs()
        env.update(LGS_STATE_DIR=str(folder), DO_NOT_TRACK="1")
        return cls(folder, env)

    def digest(self) -> dict[str, str]:
        return {
            name: _digest(self.folder / name)
            for name in ("raw", "warehouse", "shared-warehouse")
            if (self.folder / name).exists()
        }

    def lgs(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*LGS, *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State.make(tmp_path / "state")


def assert_one_sentence(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The command failed with ``code``, no traceback, and its last line on stderr is the
    sentence, which holds every one of ``words``."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, output[-3000:]
    sentence = lines[-1]
    assert "error:" in sentence, output[-3000:]
    for word in words:
        assert word in sentence, f"{word!r} not in: {sentence}"
    return sentence


@contextmanager
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# (arguments, extra environment, exit code, words of the sentence)
CASES = {
    "build unknown target": (
        ["build", "--target", "nope"],
        {},
        2,
        # The targets of the profile (a fresh clone's lists ci after local).
        ["no target 'nope'", "local, ", "shared, cluster"],
    ),
    "sql unknown target from LGS_TARGET": (
        ["sql", "select 1"],
        {"LGS_TARGET": "nope"},
        2,
        ["no target 'nope'", "LGS_TARGET"],
    ),
    "report unknown target": (["report", "--target", "prod"], {}, 2, ["no target 'prod'"]),
    "sql on a target without a session": (
        ["sql", "select 1", "--target", "databricks"],
        {},
        2,
        ["'databricks' does not use the session method", "local, ", "shared, cluster"],
    ),
    "export before any build": (
        ["export", "--out", "{tmp}/export"],
        {},
        2,
        ["Nothing has been built", "run `lgs build` first"],
    ),
    "report before any build": (
        ["report"],
        {},
        2,
        ["Nothing has been built", "run `lgs build` first"],
    ),
    "report before any build on another target": (
        ["report", "--target", "local"],
        {"LGS_TARGET": "shared"},
        2,
        ["Nothing has been built", "`lgs build` first"],
    ),
    "export of a name without schema": (
        ["export", "--out", "{tmp}/export", "monthly_sales"],
        {},
        2,
        ["'monthly_sales' is not a schema.table name", "lgs_marts.monthly_sales"],
    ),
    "export into a file": (
        ["export", "--out", "{tmp}/a-file", "lgs_marts.monthly_sales"],
        {},
        2,
        ["is a file", "--out"],
    ),
    "export of an unknown layer": (
        ["export", "--out", "{tmp}/export", "--layer", "gold"],
        {},
        2,
        ["--layer", "invalid choice: 'gold'"],
    ),
    "sql limit 0": (["sql", "select 1", "--limit", "0"], {}, 2, ["--limit", "1 or more"]),
    "sql limit not a number": (["sql", "select 1", "--limit", "ten"], {}, 2, ["'ten'"]),
    "docs-serve negative port": (
        ["docs-serve", "--port", "-1"],
        {},
        2,
        ["--port", "from 1 to 65535"],
    ),
    "docs-serve before any build": (
        ["docs-serve", "--port", "{free_port}"],
        {},
        2,
        ["No dbt docs site", "run `lgs build`"],
    ),
    "cluster with no worker": (
        ["cluster", "start", "--workers", "0"],
        {},
        2,
        ["--workers", "1 or more"],
    ),
    "cluster worker memory": (
        ["cluster", "start", "--worker-memory", "lots"],
        {},
        2,
        ["--worker-memory", "512m or 2g"],
    ),
    "cluster timeout": (["cluster", "start", "--timeout", "-5"], {}, 2, ["--timeout"]),
    "cluster web UI port beyond 65535": (
        ["cluster", "start", "--port", "65000"],
        {},
        1,
        ["66013", "--webui-port"],
    ),
    "metastore port out of range": (
        ["metastore", "start", "--port", "70000"],
        {},
        2,
        ["--port", "from 1 to 65535"],
    ),
    "metastore port variable not a number": (
        ["metastore", "start"],
        {"LGS_METASTORE_PORT": "abc"},
        1,
        ["LGS_METASTORE_PORT", "'abc'", "unset it"],
    ),
    "thrift start without the metastore": (
        ["thrift", "start", "--port", "{free_port}"],
        {},
        1,
        ["shared metastore", "is not running", "lgs metastore start"],
    ),
    "thrift start on an unknown target": (
        ["thrift", "start", "--target", "nope"],
        {},
        2,
        ["no target 'nope'"],
    ),
    "sql without java": (
        ["sql", "select 1"],
        {"JAVA_HOME": "{tmp}/no-jdk"},
        2,
        ["no java was found at $JAVA_HOME", "OpenJDK 17"],
    ),
    "build without java on the PATH": (
        ["build"],
        {"PATH": str(Path(sys.executable).parent), "JAVA_HOME": ""},
        2,
        ["no java was found on the PATH", "OpenJDK 17"],
    ),
    "sql on the shared target, metastore stopped": (
        ["sql", "select 1", "--target", "shared"],
        {"LGS_METASTORE_PORT": "{free_port}"},
        2,
        ["does not accept connections", "lgs metastore start"],
    ),
    "build on the shared target, metastore stopped": (
        ["build"],
        {"LGS_TARGET": "shared", "LGS_METASTORE_PORT": "{free_port}"},
        2,
        ["does not accept connections", "lgs metastore start"],
    ),
}


def _filled(text: str, tmp: Path, port: int) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{free_port}", str(port))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_in_one_sentence_and_changes_nothing(
    case: str, state: State, tmp_path: Path
) -> None:
    arguments, env, code, words = CASES[case]
    (tmp_path / "a-file").write_text("not a folder")
    port = free_port()
    before = state.digest()
    result = state.lgs(
        *(_filled(argument, tmp_path, port) for argument in arguments),
        **{key: _filled(value, tmp_path, port) for key, value in env.items()},
    )
    assert_one_sentence(result, code, *words)
    assert state.digest() == before, "landed or published files changed"
    assert not (state.folder / "metastore_db").exists(), "a metastore was created"
    assert not (tmp_path / "export").exists()


def test_docs_serve_on_a_port_in_use(state: State) -> None:
    site = state.folder / "target"
    site.mkdir()
    for name in ("index.html", "manifest.json", "catalog.json"):
        (site / name).write_text("{}")
    with taken_port() as port:
        result = state.lgs("docs-serve", "--port", str(port))
    assert_one_sentence(result, 2, f"Port {port}", "already in use", "--port")


@pytest.mark.parametrize(
    "command", [["cluster", "start"], ["metastore", "start"]], ids=lambda c: c[0]
)
def test_service_start_on_a_port_in_use(command: list[str], state: State) -> None:
    with taken_port() as port:
        result = state.lgs(*command, "--port", str(port))
    assert_one_sentence(result, 1, f"Port {port}", "already in use", "--port")
    # Nothing was started or initialised on the way to the sentence.
    assert not (state.folder / "metastore" / "postgres").exists()
    assert not list((state.folder / "cluster").glob("*.pid"))


def test_service_stop_and_status_when_not_running_are_calm(state: State) -> None:
    for service, sentence in (
        ("thrift", "No Thrift server was running."),
        ("cluster", "No cluster was running."),
        ("metastore", "No metastore was running."),
    ):
        stopped = state.lgs(service, "stop")
        assert (stopped.returncode, stopped.stdout.strip()) == (0, sentence), stopped.stderr
        status = state.lgs(service, "status")
        assert status.returncode == 3 and '"running": false' in status.stdout, status.stderr


@pytest.mark.parametrize("command", [["sql", "select 1"], ["build"]], ids=lambda c: c[0])
def test_a_derby_metastore_held_by_another_process_is_named(
    command: list[str], state: State
) -> None:
    """The lock a running Spark JVM holds on Derby's dbex.lck, held here by this process."""
    database = state.folder / "metastore_db"
    database.mkdir()
    (database / "service.properties").write_text("")
    descriptor = os.open(database / "dbex.lck", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = state.digest()
        result = state.lgs(*command)
    finally:
        os.close(descriptor)
    assert_one_sentence(
        result, 2, f"metastore at {database} is in use by another process", "LGS_STATE_DIR"
    )
    assert state.digest() == before


@pytest.mark.parametrize("command", [["sql", "select 1"], ["build"]], ids=lambda c: c[0])
def test_a_standalone_master_that_is_not_running_is_named(command: list[str], state: State) -> None:
    master = f"spark://127.0.0.1:{free_port()}"
    before = state.digest()
    # Something listens on the metastore's port, so that the master is the one thing missing.
    with taken_port() as metastore_port:
        result = state.lgs(
            *command,
            LGS_TARGET="cluster",
            LGS_METASTORE_PORT=str(metastore_port),
            LGS_SPARK_MASTER=master,
        )
    assert_one_sentence(result, 2, f"Spark master {master} does not", "lgs cluster start")
    assert state.digest() == before


def test_debug_shows_the_traceback(state: State, tmp_path: Path) -> None:
    for result in (
        state.lgs("export", "--out", str(tmp_path), "nodot", "--debug"),
        state.lgs("export", "--out", str(tmp_path), "nodot", LGS_DEBUG="1"),
    ):
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert "UserError: 'nodot' is not a schema.table name" in result.stderr
