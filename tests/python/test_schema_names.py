"""Schemas per target (macros/generate_schema_name.sql, profiles.yml.example): only the
production target writes the clean layer schemas; a developer's targets write the
developer's, the CI targets the pull request's. Proven by `dbt parse` of every target of
the example profile, offline (dummy Databricks credentials, no Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import load_target
from lgs_testing import PROJECT_ROOT
from offline_dbt import offline_env, parsed_manifests

USER = "Alice.Smith-Jones"
DEVELOPER = "alice_smith_jones"  # the user name as a schema prefix
PULL_REQUEST = "ci_pr_42"
# Every target of the example profile and the prefix of its schemas (None: production).
PREFIXES = {
    "local": "lgs",
    "ci": PULL_REQUEST,
    "shared": DEVELOPER,
    "cluster": DEVELOPER,
    "thrift": DEVELOPER,
    "databricks": None,
    "databricks_dev": DEVELOPER,
    "databricks_ci": PULL_REQUEST,
}
PROFILE = yaml.safe_load((PROJECT_ROOT / "profiles.yml.example").read_text())["lgs"]


def test_every_target_of_the_example_is_covered() -> None:
    assert set(PROFILE["outputs"]) == set(PREFIXES)
    production = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"][
        "production_targets"
    ]
    assert {name for name, prefix in PREFIXES.items() if prefix is None} == (
        set(production) & set(PREFIXES)
    )


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The manifest of `dbt parse` per target, with no LGS_SCHEMA set (the defaults), the
    user Alice and the CI schema of pull request 42; one process parses them in turn."""
    work = tmp_path_factory.mktemp("parse")
    env = offline_env(work, USER=USER, LGS_CI_SCHEMA=PULL_REQUEST)
    return parsed_manifests(work, list(PREFIXES), env)


def _schemas(manifest: dict) -> dict[str, tuple[str, str]]:
    """(schema, layer) of every model, seed and data test of the project."""
    return {
        node["unique_id"]: (node["schema"], node["config"]["schema"])
        for node in manifest["nodes"].values()
        if node["package_name"] == "lgs_analytics"
        and node["resource_type"] in ("model", "seed", "test")
    }


@pytest.mark.parametrize("target", list(PREFIXES))
def test_schema_names_of_a_target(manifests: dict[str, dict], target: str) -> None:
    schemas = _schemas(manifests[target])
    layers = {layer for _, layer in schemas.values()}
    assert {"staging", "intermediate", "marts", "reference", "audit"} <= layers
    prefix = PREFIXES[target]
    for unique_id, (schema, layer) in schemas.items():
        expected = layer if prefix is None else f"{prefix}_{layer}"
        assert schema == expected, (target, unique_id)


def test_ci_on_databricks_writes_no_production_schema(manifests: dict[str, dict]) -> None:
    production = {schema for schema, _ in _schemas(manifests["databricks"]).values()}
    ci = {schema for schema, _ in _schemas(manifests["databricks_ci"]).values()}
    assert not ci & production, ci & production
    assert all(schema.startswith(f"{PULL_REQUEST}_") for schema in ci), ci
    assert manifests["databricks_ci"]["metadata"]["adapter_type"] == "databricks"
    nodes = manifests["databricks_ci"]["nodes"].values()
    assert {node["database"] for node in nodes if node["resource_type"] == "model"} == {
        "hive_metastore"
    }


@pytest.mark.parametrize(
    ("target", "settings", "schema"),
    [
        ("shared", {"USER": "bob"}, "bob"),
        ("databricks_dev", {"USER": "Bob.Lee"}, "bob_lee"),
        ("databricks_dev", {"USER": "bob", "LGS_SCHEMA": "feature_x"}, "feature_x"),
        ("cluster", {}, "dev"),  # no user name at all
        ("local", {"USER": "bob"}, "lgs"),
        ("local", {"LGS_SCHEMA": "mine"}, "mine"),
        ("ci", {"USER": "bob"}, "ci"),
        ("databricks_ci", {"LGS_CI_SCHEMA": "ci_pr_7"}, "ci_pr_7"),
        ("databricks", {"USER": "bob", "LGS_SCHEMA": "x"}, "lgs"),
    ],
)
def test_schema_prefix_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, settings: dict, schema: str
) -> None:
    for name in ("USER", "LGS_SCHEMA", "LGS_CI_SCHEMA", "DATABRICKS_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**offline_env(tmp_path), **settings}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "profiles.yml.example").write_text(
        (PROJECT_ROOT / "profiles.yml.example").read_text()
    )
    assert load_target(ProjectPaths(root=tmp_path, state=tmp_path), target)["schema"] == schema
