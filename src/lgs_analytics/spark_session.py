"""SparkSessions configured exactly like a dbt target of profiles.yml.

The project's tools (export, report, checks) read the tables dbt wrote. They take the
target's `server_side_parameters` from the profile itself, rendered the way dbt renders it,
so that they can never drift from what dbt uses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

from dbt.adapters.sparkplus.class_sharing import share_classes
from dbt.adapters.sparkplus.connections import bind_web_ui_like_the_driver
from lgs_analytics.paths import ProjectPaths

PROFILE_NAME = "lgs"


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise KeyError(f"Environment variable {name} is required by the profile.")
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
    profiles = yaml.safe_load(profile_file.read_text())
    try:
        return profiles[PROFILE_NAME]["outputs"][target]
    except KeyError as exc:
        raise KeyError(f"{profile_file} has no target '{target}' in '{PROFILE_NAME}'.") from exc


def _target_settings(profile_file: Path, target: str) -> dict[str, Any] | None:
    """The settings of one target of a profile file, unrendered: the top-level keys and each
    `server_side_parameters` entry by its own name. None without such a target."""
    try:
        output = _unrendered_target(profile_file, target)
    except (OSError, yaml.YAMLError, KeyError, TypeError):
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
    output = load_target(paths, target)
    if output.get("method") != "session":
        raise ValueError(f"Target '{target}' does not use the session method.")
    parameters = {str(k): str(v) for k, v in (output.get("server_side_parameters") or {}).items()}
    parameters["spark.sql.ansi.enabled"] = "false"
    return parameters


def get_session(
    paths: ProjectPaths | None = None, target: str = "local", app_name: str | None = None
):
    """A Hive-enabled SparkSession on the target's metastore and warehouse."""
    from pyspark.sql import SparkSession

    paths = paths or ProjectPaths.discover()
    for key, value in paths.environment().items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    share_classes(os.environ)
    # Relative paths in the profile (log4j config, state folder) are relative to the root.
    os.chdir(paths.root)
    parameters = session_parameters(paths, target)
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
