"""The Databricks target and job, proven offline (no workspace, no network).

`dbt parse --target databricks` runs with dummy credentials and the job's own profile
(deploy/databricks/profiles.yml, equal to the example's `databricks` target); the manifest
must carry the per-target configs: Delta everywhere, merge for incremental models, Python
models on an all-purpose cluster, docs persisted as comments, clean production schemas.
The staging tables' merge statement (strategy `merge_replacing_partitions`, which also
deletes the rows a rewritten partition no longer holds) is compiled offline with `dbt
compile --target databricks --no-introspect` and parsed by sqlfluff's databricks grammar.
The Workflows job definition is validated and rendered.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import sqlfluff
import yaml

from lgs_testing import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy" / "databricks"
JOB_TEMPLATE = DEPLOY / "lgs_dbt_build_job.json"
DBT = str(Path(sys.executable).with_name("dbt"))
LAYER_SCHEMAS = {"staging", "intermediate", "marts", "reference"}
# Table and column descriptions become Delta comments, visible in Catalog Explorer.
ALL_COMMENTS = {"relation": True, "columns": True}
DUMMY_CREDENTIALS = {
    "DATABRICKS_HOST": "adb-1234567890123456.7.azuredatabricks.net",
    "DATABRICKS_HTTP_PATH": "sql/protocolv1/o/1234567890123456/0123-456789-offline0",
    "DATABRICKS_TOKEN": "offline-dummy-token",
}
# The incremental models that merge on Delta, and the staging ones among them, whose
# merge also deletes what a rewritten partition no longer holds.
MERGE_STRATEGIES = {"merge", "merge_replacing_partitions"}
STAGING_INCREMENTAL = ["stg_online_retail__rows_parsed", "stg_online_retail__transactions"]
REWRITTEN = [201012, 201101]
NO_ROWS = "a run that returned no rows"
JOB_ENVIRONMENT = {
    **DUMMY_CREDENTIALS,
    "LGS_GIT_URL": "https://github.com/example/lgs-analytics",
    "DATABRICKS_NODE_TYPE": "Standard_DS3_v2",
    "LGS_RAW_PATH": "abfss://raw@lgsdata.dfs.core.windows.net/online_retail_ii",
    "LGS_ALERT_EMAIL": "data-team@example.com",
}


def _dbt_offline(*args: str, work: Path) -> subprocess.CompletedProcess:
    """`dbt <args> --target databricks` with dummy credentials and the job's profile."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATABRICKS_")}
    env.update(DUMMY_CREDENTIALS)
    # A dead proxy: any attempt to reach the network would fail the command.
    env.update(
        DO_NOT_TRACK="1",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    return subprocess.run(
        [
            DBT,
            *args,
            "--target",
            "databricks",
            "--project-dir",
            str(PROJECT_ROOT),
            "--profiles-dir",
            str(DEPLOY),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--no-partial-parse",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """target/manifest.json of `dbt parse --target databricks`, written to a temp folder."""
    work = tmp_path_factory.mktemp("databricks-parse")
    result = _dbt_offline("parse", work=work)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads((work / "target" / "manifest.json").read_text())


def _nodes(manifest: dict, *resource_types: str) -> list[dict]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] in resource_types and node["package_name"] == "lgs_analytics"
    ]


def test_parse_used_the_databricks_adapter(manifest: dict) -> None:
    assert manifest["metadata"]["adapter_type"] == "databricks"


def test_every_model_and_seed_is_delta(manifest: dict) -> None:
    nodes = _nodes(manifest, "model", "seed")
    assert len(nodes) >= 15
    formats = {node["name"]: node["config"].get("file_format") for node in nodes}
    assert set(formats.values()) == {"delta"}, formats


def test_python_models_use_an_all_purpose_cluster(manifest: dict) -> None:
    python_models = [node for node in _nodes(manifest, "model") if node["language"] == "python"]
    assert {node["name"] for node in python_models} >= {
        "customer_rfm_scores",
        "rfm_segment_summary",
        "invoice_amounts",
        "invoice_amount_distribution",
        "invoice_amount_histogram",
    }
    for node in python_models:
        assert node["config"]["submission_method"] == "all_purpose_cluster", node["name"]


def test_every_model_persists_its_docs_as_comments(manifest: dict) -> None:
    persisted = {node["name"]: node["config"]["persist_docs"] for node in _nodes(manifest, "model")}
    wrong = {name: value for name, value in persisted.items() if value != ALL_COMMENTS}
    assert not wrong, wrong


def test_incremental_models_merge_on_a_unique_key(manifest: dict) -> None:
    incremental = [
        node
        for node in _nodes(manifest, "model")
        if node["config"]["materialized"] == "incremental"
    ]
    if not incremental:
        pytest.skip("no incremental model in the project")
    for node in incremental:
        assert node["config"]["incremental_strategy"] in MERGE_STRATEGIES, node["name"]
        assert node["config"]["unique_key"], node["name"]


def test_staging_merge_replaces_the_partitions_it_rewrites(manifest: dict) -> None:
    # A plain merge never deletes: the staged rows of lines a re-landed file lost would
    # stay. The staging tables use the project's strategy that also deletes them.
    staging = {node["name"]: node for node in _nodes(manifest, "model")}
    for name in STAGING_INCREMENTAL:
        config = staging[name]["config"]
        assert config["incremental_strategy"] == "merge_replacing_partitions", name
        assert len(config["partition_by"]) == 1, name
    strategy = "macro.lgs_analytics.get_incremental_merge_replacing_partitions_sql"
    assert strategy in manifest["macros"]


@pytest.fixture(scope="module")
def compiled_merges(manifest: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The merge statement of each incremental staging model, as its strategy renders it
    for a run that rewrote two months, compiled offline on the databricks target (the
    rewritten months are what the strategy reads from the run's rows at run time)."""
    nodes = {node["name"]: node for node in _nodes(manifest, "model")}
    statements = []
    for name in STAGING_INCREMENTAL:
        node = nodes[name]
        config = node["config"]
        target = (
            f"api.Relation.create(database='{node['database']}', schema='{node['schema']}',"
            f" identifier='{node['alias']}')"
        )
        source = f"api.Relation.create(identifier='{node['alias']}__dbt_tmp')"
        statements.append(
            f"-- {name}\n{{{{ lgs_analytics.merge_replacing_partitions_sql({target}, {source},"
            f" '{config['unique_key']}', '{config['partition_by'][0]}', {REWRITTEN}) }}}}"
        )
    statements.append(
        f"-- {NO_ROWS}\n{{{{ lgs_analytics.merge_replacing_partitions_sql("
        "api.Relation.create(identifier='t'), api.Relation.create(identifier='s'), 'id',"
        " 'year_month', []) }}"
    )
    work = tmp_path_factory.mktemp("databricks-compile")
    result = _dbt_offline(
        "compile",
        "--no-introspect",
        "--no-populate-cache",
        "--output",
        "json",
        "--inline",
        ";\n".join(statements),
        work=work,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # The JSON document after dbt's log lines.
    document, _ = json.JSONDecoder().raw_decode(result.stdout, result.stdout.index("\n{") + 1)
    compiled = document["compiled"]
    return {
        part.split("\n", 1)[0].removeprefix("-- ").strip(): part.split("\n", 1)[1]
        for part in compiled.split(";\n")
    }


def test_compiled_merge_deletes_rows_a_rewritten_partition_no_longer_has(
    compiled_merges: dict[str, str], manifest: dict
) -> None:
    nodes = {node["name"]: node for node in _nodes(manifest, "model")}
    assert set(compiled_merges) == {*STAGING_INCREMENTAL, NO_ROWS}
    for name in STAGING_INCREMENTAL:
        sql = compiled_merges[name]
        config = nodes[name]["config"]
        key, partition = config["unique_key"], config["partition_by"][0]
        text = " ".join(sql.split())
        assert text.startswith(f"merge into `hive_metastore`.`staging`.`{name}` as target_rows"), (
            text
        )
        assert f"on source_rows.`{key}` <=> target_rows.`{key}`" in text, text
        assert "when matched then update set * when not matched then insert *" in text, text
        # Rows of a rewritten month that the run no longer returns (the lines a re-landed
        # file lost) are deleted; other months are left alone.
        assert text.endswith(
            f"when not matched by source and target_rows.`{partition}` in (201012, 201101)"
            " then delete"
        ), text
        # Valid Databricks SQL (sqlfluff's databricks grammar parses it).
        sqlfluff.parse(sql, dialect="databricks")


def test_merge_of_a_run_that_returned_no_rows_deletes_nothing(
    compiled_merges: dict[str, str],
) -> None:
    compiled = compiled_merges[NO_ROWS]
    assert "when not matched by source" not in compiled
    assert "insert *" in compiled


def test_schemas_are_the_clean_production_layers(manifest: dict) -> None:
    nodes = _nodes(manifest, "model", "seed")
    schemas = {node["name"]: node["schema"] for node in nodes}
    assert set(schemas.values()) == LAYER_SCHEMAS, schemas
    assert {node["database"] for node in nodes} == {"hive_metastore"}
    by_layer = {node["name"]: node["schema"] for node in nodes}
    assert by_layer["stg_online_retail__transactions"] == "staging"
    assert by_layer["monthly_sales"] == "marts"
    assert by_layer["customer_rfm_scores"] == "marts"
    assert by_layer["rfm_segment_map"] == "reference"


def test_job_profile_is_the_example_databricks_target() -> None:
    example = yaml.safe_load((PROJECT_ROOT / "profiles.yml.example").read_text())
    job = yaml.safe_load((DEPLOY / "profiles.yml").read_text())
    assert job["lgs"]["target"] == "databricks"
    assert job["lgs"]["outputs"] == {"databricks": example["lgs"]["outputs"]["databricks"]}


def test_job_profile_is_not_ignored_by_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "deploy/databricks/profiles.yml"],
        cwd=PROJECT_ROOT,
        check=False,
    )
    if result.returncode == 128:
        pytest.skip("not a git checkout")
    assert result.returncode == 1, "deploy/databricks/profiles.yml would not be committed"


# -- the Workflows job ---------------------------------------------------------------------


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_job", DEPLOY / "render_job.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    """The versions of the default environment's lock (pyproject.toml states ranges)."""
    lines = (PROJECT_ROOT / "requirements" / "lock.txt").read_text().splitlines()
    pins = (re.fullmatch(r"([A-Za-z0-9_.-]+)==(.+)", line.strip()) for line in lines)
    return {match.group(1).lower(): match.group(2) for match in pins if match}


def test_job_definition_runs_dbt_build_on_the_databricks_target() -> None:
    job = json.loads(JOB_TEMPLATE.read_text())
    assert {"name", "git_source", "schedule", "job_clusters", "tasks"} <= set(job)
    assert set(job["git_source"]) == {"git_url", "git_provider", "git_branch"}
    assert {"quartz_cron_expression", "timezone_id"} <= set(job["schedule"])
    assert job["max_concurrent_runs"] == 1
    [task] = job["tasks"]
    dbt_task = task["dbt_task"]
    assert dbt_task["source"] == "GIT"
    assert "project_directory" in dbt_task
    assert all(command.startswith("dbt ") for command in dbt_task["commands"])
    # A production run: the unit tests (fixed inputs) run in CI, as dbt Labs advises.
    assert dbt_task["commands"][-1] == "dbt build --target databricks --selector production_job"
    # Our own profile: Databricks allows profiles_directory only without a warehouse_id.
    assert "warehouse_id" not in dbt_task
    assert (PROJECT_ROOT / dbt_task["profiles_directory"] / "profiles.yml").is_file()
    clusters = {cluster["job_cluster_key"]: cluster for cluster in job["job_clusters"]}
    env = clusters[task["job_cluster_key"]]["new_cluster"]["spark_env_vars"]
    assert {"DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN", "LGS_RAW_PATH"} <= set(
        env
    )
    assert env["DATABRICKS_TOKEN"].startswith("{{secrets/")


def test_job_pins_the_project_dbt_versions() -> None:
    job = json.loads(JOB_TEMPLATE.read_text())
    packages = [library["pypi"]["package"] for library in job["tasks"][0]["libraries"]]
    pins = _pins()
    assert packages == [
        f"dbt-core=={pins['dbt-core']}",
        f"dbt-databricks=={pins['dbt-databricks']}",
    ]


def test_job_renders_from_environment_variables() -> None:
    renderer = _renderer()
    environment = {**JOB_ENVIRONMENT, "LGS_GIT_BRANCH": 'release "2"'}
    job = renderer.render(JOB_TEMPLATE.read_text(), environment)
    assert "${" not in json.dumps(job)
    assert job["git_source"]["git_url"] == JOB_ENVIRONMENT["LGS_GIT_URL"]
    assert job["git_source"]["git_branch"] == 'release "2"'
    assert job["schedule"]["timezone_id"] == "Europe/London"
    env = job["job_clusters"][0]["new_cluster"]["spark_env_vars"]
    assert env["DATABRICKS_TOKEN"] == "{{secrets/lgs/databricks-token}}"
    assert env["LGS_RAW_PATH"] == JOB_ENVIRONMENT["LGS_RAW_PATH"]


def test_job_rendering_names_every_missing_variable() -> None:
    renderer = _renderer()
    with pytest.raises(renderer.MissingVariablesError) as error:
        renderer.render(JOB_TEMPLATE.read_text(), {"LGS_GIT_URL": "https://example.com/x"})
    message = str(error.value)
    for name in ("DATABRICKS_HOST", "DATABRICKS_NODE_TYPE", "LGS_RAW_PATH", "LGS_ALERT_EMAIL"):
        assert name in message
    assert "LGS_GIT_URL" not in message and "LGS_GIT_BRANCH" not in message


def test_render_script_exits_2_in_one_sentence_without_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LGS_", "DATABRICKS_"))}
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "render_job.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Set LGS_GIT_URL, ")
    assert result.stderr.count("\n") == 1
    rendered = subprocess.run(
        [sys.executable, str(DEPLOY / "render_job.py")],
        env={**env, **JOB_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(rendered.stdout)["tasks"][0]["dbt_task"]["commands"][-1] == (
        "dbt build --target databricks --selector production_job"
    )
