"""SparkSessions configured exactly like a dbt target of profiles.yml.

The project's tools (export, report, checks) read the tables dbt wrote. They take the
target's `server_side_parameters` from the profile itself, rendered the way dbt renders it,
so that they can never drift from what dbt uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

from lgs_analytics.errors import UserError
from lgs_analytics.runtime.paths import ProjectPaths

PROFILE_NAME = "lgs"
TARGET_ENV = "LGS_TARGET"
STANDALONE_PREFIX = "spark://"
DEFAULT_TARGET = "local"


def default_target() -> str:
    """The target a command uses without --target: $LGS_TARGET, else `local` (as the
    profile's own `target:` reads it for dbt)."""
    return os.environ.get(TARGET_ENV) or DEFAULT_TARGET


class UnknownTargetError(UserError, KeyError):
    """The profile has no such target (a KeyError too, for the callers that catch one)."""

    def __str__(self) -> str:  # KeyError would print the message as a quoted repr
        return str(self.args[0]) if self.args else ""


class NotASessionTargetError(UserError, ValueError):
    """The target runs elsewhere (Thrift, Databricks): no local SparkSession can read it."""


class NothingBuiltError(UserError):
    """The target's catalog holds nothing yet: `lgs build` has not run on it."""


class MissingSettingError(UserError, KeyError):
    """The profile needs an environment variable that is not set."""

    def __str__(self) -> str:  # KeyError would print the message as a quoted repr
        return str(self.args[0]) if self.args else ""


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise MissingSettingError(
            f"Environment variable {name} is required by the profile: set it."
        )
    return value


def _render(value: Any, environment: jinja2.Environment) -> Any:
    """Render the Jinja in every string of a parsed profile value, as dbt does."""
    if isinstance(value, str):
        return environment.from_string(value).render(env_var=_env_var)
    if isinstance(value, dict):
        return {key: _render(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, environment) for item in value]
    return value


def load_target(paths: ProjectPaths, target: str = "local") -> dict[str, Any]:
    """The rendered output `target` of the project's profile (profiles.yml, else the example).

    Only the selected target is rendered, like dbt: another target's required environment
    variables (Databricks credentials, say) need not be set.
    """
    profile_file = paths.profiles if paths.profiles.exists() else paths.profiles_example
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["as_number"] = lambda value: value
    return _render(_unrendered_target(profile_file, target), environment)


def _unrendered_target(profile_file: Path, target: str) -> Any:
    """The output `target` of the project's profile in `profile_file`, as written."""
    try:
        profiles = yaml.safe_load(profile_file.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UserError(
            f"{profile_file} is not valid YAML{line}: fix it, or copy "
            f"{profile_file.with_name('profiles.yml.example').name} over it."
        ) from exc
    try:
        outputs = profiles[PROFILE_NAME]["outputs"]
    except (KeyError, TypeError):
        outputs = None
    if not isinstance(outputs, dict):
        outputs = {}
    if target not in outputs:
        known = ", ".join(outputs) or "none"
        raise UnknownTargetError(
            f"{profile_file} has no target '{target}' in profile '{PROFILE_NAME}': use one of "
            f"{known} (--target, or {TARGET_ENV} for the default)."
        )
    return outputs[target]


def check_target(paths: ProjectPaths, target: str) -> dict[str, Any]:
    """The target's settings as written in the profile dbt will read (profiles.yml, else the
    example); one sentence naming the targets that exist when there is no such target."""
    profile_file = paths.profiles if paths.profiles.exists() else paths.profiles_example
    output = _unrendered_target(profile_file, target)
    return output if isinstance(output, dict) else {}


def session_targets(paths: ProjectPaths) -> list[str]:
    """The targets of the profile that run a local SparkSession (`method: session`)."""
    profile_file = paths.profiles if paths.profiles.exists() else paths.profiles_example
    try:
        outputs = yaml.safe_load(profile_file.read_text())[PROFILE_NAME]["outputs"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []
    return [
        name
        for name, output in outputs.items()
        if isinstance(output, dict) and output.get("method") == "session"
    ]


def _target_settings(profile_file: Path, target: str) -> dict[str, Any] | None:
    """The settings of one target of a profile file, unrendered: the top-level keys and each
    `server_side_parameters` entry by its own name. None without such a target."""
    try:
        output = _unrendered_target(profile_file, target)
    except (OSError, UserError):
        return None
    if not isinstance(output, dict):
        return None
    settings = {key: value for key, value in output.items() if key != "server_side_parameters"}
    settings.update(output.get("server_side_parameters") or {})
    return settings


def _shown(value: Any, width: int = 70, *, literal: bool = True) -> str:
    """A value for a one-line message: as a Python literal, or as it is; cut at ``width``."""
    text = repr(value) if literal else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def profile_drift(paths: ProjectPaths, target: str = "local") -> list[str]:
    """How the target in profiles.yml differs from the same target in the example, one line
    per setting; empty when they agree, when there is no profiles.yml, or when either file
    lacks the target (a target of the user's own).

    `make build` copies the example once and never overwrites the copy, so a profile made
    before the project changed a setting (a Spark option, the threads) keeps the old value
    without a word. Compared as written, `env_var()` calls unrendered: the same file gives no
    drift whatever the environment. A profile that does not parse is left to dbt to report.
    """
    if not paths.profiles.exists():
        return []
    mine = _target_settings(paths.profiles, target)
    example = _target_settings(paths.profiles_example, target)
    if mine is None or example is None:
        return []
    lines = []
    for key in [*example, *(key for key in mine if key not in example)]:
        if key not in mine:
            lines.append(f"{key}: not set (example: {_shown(example[key])})")
        elif key not in example:
            lines.append(f"{key}: {_shown(mine[key])} (not in the example)")
        elif mine[key] != example[key]:
            lines.append(f"{key}: {_difference(mine[key], example[key])}")
    return lines


def _difference(mine: Any, example: Any, width: int = 70) -> str:
    """Both values, or for long option strings (JVM options, say) only the words that differ."""
    if isinstance(mine, str) and isinstance(example, str) and max(len(mine), len(example)) > width:
        own, theirs = mine.split(), example.split()
        added = [word for word in own if word not in theirs]
        missing = [word for word in theirs if word not in own]
        if added or missing:
            own_words = _shown(" ".join(added), literal=False) if added else "nothing"
            their_words = _shown(" ".join(missing), literal=False) if missing else "nothing"
            return f"… {own_words} … (example: … {their_words} …)"
    return f"{_shown(mine)} (example: {_shown(example)})"


def profile_drift_note(paths: ProjectPaths, target: str = "local") -> str | None:
    """The notice printed before a build whose profile has drifted from the example."""
    drift = profile_drift(paths, target)
    if not drift:
        return None
    return "\n".join(
        [
            f"Note: target '{target}' of {paths.profiles} differs from "
            f"{paths.profiles_example.name} in {len(drift)} setting(s); it is used as it is. "
            "If that is not on purpose, copy the example over it to take the project's "
            "current settings:",
            *(f"  {line}" for line in drift),
        ]
    )


def session_parameters(paths: ProjectPaths, target: str = "local") -> dict[str, str]:
    """The target's Spark configuration, as dbt-spark passes it to the session builder."""
    # The method is checked as written: another kind of target may need variables (the
    # Databricks credentials) that are not set here.
    if check_target(paths, target).get("method") != "session":
        raise NotASessionTargetError(
            f"Target '{target}' does not use the session method, so no SparkSession of this "
            f"process can read it: use a session target ({', '.join(session_targets(paths))})."
        )
    output = load_target(paths, target)
    parameters = {str(k): str(v) for k, v in (output.get("server_side_parameters") or {}).items()}
    parameters["spark.sql.ansi.enabled"] = "false"
    return parameters


def _prepare_environment(paths: ProjectPaths) -> None:
    for key, value in paths.environment().items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def _jvm_started() -> bool:
    """True once this process has launched its Spark JVM (even if its context was stopped)."""
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None or SparkContext._gateway is not None


def check_services_available(
    paths: ProjectPaths, target: str = "local", parameters: dict[str, str] | None = None
) -> None:
    """Before this process starts Spark: the target's embedded Derby metastore is not held by
    another process, a networked metastore accepts connections, and so does a standalone
    master. One sentence otherwise, in seconds, instead of a minute of retries and a Java
    stack trace."""
    # Imported here: the adapter package loads dbt (~2 s), which `lgs` needs for no other
    # check that it makes before starting work.
    from dbt.adapters.sparkplus.metastore_lock import (
        MetastoreInUseError,
        MetastoreUnreachableError,
        check_derby_free,
        check_metastore_reachable,
        derby_database_dir,
        metastore_address,
    )

    if parameters is None:
        _prepare_environment(paths)
        parameters = session_parameters(paths, target)
    address = metastore_address(parameters)
    try:
        if address is not None:
            check_metastore_reachable(address)
        else:
            database = derby_database_dir(parameters, cwd=paths.root)
            if database is not None:
                check_derby_free(database)
    except (MetastoreInUseError, MetastoreUnreachableError) as exc:
        raise UserError(str(exc)) from exc
    _check_master_reachable(parameters.get("spark.master", ""))


def _check_master_reachable(master: str, timeout: float = 3.0) -> None:
    """A `spark://host:port[,host:port]` master accepts connections on one of its addresses
    (Spark itself retries for a minute, then says only that all masters are unresponsive)."""
    if not master.startswith(STANDALONE_PREFIX):
        return
    for address in master[len(STANDALONE_PREFIX) :].split(","):
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except (OSError, ValueError):
            continue
    raise UserError(
        f"The Spark master {master} does not accept connections: start the cluster with "
        "`lgs cluster start` (or point LGS_SPARK_MASTER at the running one), or use the "
        "local target."
    )


def require_built(paths: ProjectPaths, target: str = "local") -> None:
    """Fail in one sentence, before starting Spark, when the target's embedded metastore does
    not exist yet (nothing was ever built in this state folder). A networked metastore cannot
    be asked without Spark: the callers check its schemas once the session is up."""
    from dbt.adapters.sparkplus.metastore_lock import derby_database_dir

    _prepare_environment(paths)
    database = derby_database_dir(session_parameters(paths, target), cwd=paths.root)
    if database is not None and not (database / "service.properties").is_file():
        raise NothingBuiltError(
            f"Nothing has been built in {paths.state} yet (no metastore at {database}): run "
            f"`lgs build{'' if target == DEFAULT_TARGET else ' --target ' + target}` first."
        )


def nothing_built_sentence(paths: ProjectPaths, target: str, missing: str) -> str:
    """The sentence for a target whose catalog lacks what a build writes (``missing`` says
    what, e.g. ``no schema lgs_marts``)."""
    build = f"lgs build{'' if target == DEFAULT_TARGET else ' --target ' + target}"
    return (
        f"Nothing has been built on target '{target}' of {paths.state} yet ({missing}): run "
        f"`{build}` first."
    )


NOT_FOUND_CONDITIONS = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND")


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0].rstrip(";") if lines else "no message"


def query_failure(
    spark, paths: ProjectPaths, target: str, failure: BaseException
) -> UserError | None:
    """The one sentence for a query Spark refused or could not run, with Spark's own short
    message (its first line, not the JVM stack); None for an error that is not the query's
    (a bug, which keeps its traceback).

    A table or schema that is not found on a target where nothing was built yet says to run
    `lgs build`.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException

    if isinstance(failure, CapturedException):
        condition = failure.getCondition() if hasattr(failure, "getCondition") else None
        if condition in NOT_FOUND_CONDITIONS:
            marts = schema_name(paths, "marts", target)
            if not spark.catalog.databaseExists(marts):
                return NothingBuiltError(
                    nothing_built_sentence(paths, target, f"no schema {marts}")
                )
        return UserError(
            f"Spark refused the query on target '{target}': {_first_line(str(failure))}"
        )
    if isinstance(failure, Py4JJavaError):
        java = failure.java_exception
        message = java.getMessage() or java.toString()
        return UserError(
            f"Spark could not run the query on target '{target}': {_first_line(message)}"
        )
    return None


def quiet_query_error_logs() -> None:
    """pyspark logs every failed SQL query's whole JVM stack trace as JSON on stderr before
    raising the same error; the exception is all a caller needs (and what `lgs` reports)."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def stop_spark() -> None:
    """Stop this process's SparkContext and wait for its JVM to exit, so that nothing the JVM
    prints can come after the caller's last line. A no-op when no JVM was started."""
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    context, gateway = SparkContext._active_spark_context, SparkContext._gateway
    if context is not None:
        context.stop()
    process = getattr(gateway, "proc", None)
    if gateway is None or process is None:
        return
    gateway.shutdown()
    # The gateway JVM exits when its stdin closes (PythonGatewayServer watches it).
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    SparkContext._gateway = None
    SparkContext._jvm = None


def get_session(
    paths: ProjectPaths | None = None, target: str = "local", app_name: str | None = None
):
    """A Hive-enabled SparkSession on the target's metastore and warehouse.

    Before the first session of the process, it checks what would otherwise fail deep in
    Spark: Java, and that the metastore is free (Derby) or reachable (PostgreSQL).
    """
    from pyspark.sql import SparkSession

    from dbt.adapters.sparkplus.class_sharing import share_classes
    from dbt.adapters.sparkplus.connections import bind_web_ui_like_the_driver

    paths = paths or ProjectPaths.discover()
    _prepare_environment(paths)
    share_classes(os.environ)
    # Relative paths in the profile (log4j config, state folder) are relative to the root.
    os.chdir(paths.root)
    parameters = session_parameters(paths, target)
    if not _jvm_started():
        from lgs_analytics.runtime.environment import check_java

        check_java()
        check_services_available(paths, target, parameters)
    quiet_query_error_logs()
    # The web UI (LGS_SPARK_UI) listens where the driver does, as in dbt's own session.
    bind_web_ui_like_the_driver(parameters)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in parameters.items():
        builder = builder.config(key, value)
    if app_name:
        builder = builder.appName(app_name)
    return builder.getOrCreate()


def schema_name(paths: ProjectPaths, layer: str, target: str = "local") -> str:
    """The schema of a layer on a development target, as macros/generate_schema_name.sql
    names it (`<target schema>_<layer>`)."""
    return f"{load_target(paths, target).get('schema', 'lgs')}_{layer}"


def relation_name(paths: ProjectPaths, layer: str, table: str, target: str = "local") -> str:
    """Schema-qualified name of a model's table, following macros/generate_schema_name.sql."""
    return f"{schema_name(paths, layer, target)}.{table}"


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
