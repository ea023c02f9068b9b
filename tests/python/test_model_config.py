"""The Python models' settings live in `config.meta` of their model yml, wired to the project
variables, and are read with `dbt.config.meta_get` (dbt-core 1.12 warns about custom keys
directly under `config`: CustomKeyInConfigDeprecation). Checked on the files (every key a
model reads is set from its variable, defaults equal to the variables) and by an offline
`dbt parse --target databricks` (dbt validates config keys on Databricks, not on sparkplus):
no custom-key warning, and a variable given on the command line reaches the model's meta.
The same parse shows every data test's name at most 80 characters long, the row rules in
`named_checks` tests (a failure names the rule it broke).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from lgs_testing import PROJECT_ROOT
from offline_dbt import offline_env, run_dbt_offline

PYTHON_MODELS = sorted((PROJECT_ROOT / "python_models").rglob("*.py"))
VARIABLES = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]
# Variables given to the parse: a value unlike its default, per setting of the models.
OVERRIDES = {"histogram_bins": 7, "kmeans_seed": 4242, "clv_min_repeat_customers": 3}


def _settings_read(path: Path) -> dict[str, object]:
    """The keys (and defaults) the model reads with dbt.config.meta_get, as dbt parses them."""
    from dbt.parser.models import PythonParseVisitor

    parser = PythonParseVisitor(None)
    parser.visit(ast.parse(path.read_text()))
    calls = parser.dbt_function_calls
    assert not [args for name, args, _ in calls if name == "get"], (
        f"{path.name}: a custom setting is read with dbt.config.get; use dbt.config.meta_get"
    )
    return {args[0]: args[1] for name, args, _ in calls if name == "meta_get"}


def _model_properties(path: Path) -> dict:
    """The model's entry in a yml file of its own folder."""
    entries = [
        entry
        for yml in sorted(path.parent.glob("*.yml"))
        for entry in (yaml.safe_load(yml.read_text()) or {}).get("models", [])
        if entry["name"] == path.stem
    ]
    assert len(entries) == 1, f"{path.stem}: expected one yml entry in {path.parent}"
    return entries[0]


@pytest.mark.parametrize("path", PYTHON_MODELS, ids=lambda path: path.stem)
def test_each_setting_is_meta_wired_to_its_variable(path: Path) -> None:
    settings = _settings_read(path)
    config = _model_properties(path).get("config", {})
    meta = config.get("meta", {})
    assert set(meta) == set(settings), path.stem
    for key, default in settings.items():
        assert meta[key] == f"{{{{ var('{key}') }}}}", (path.stem, key)
        assert VARIABLES[key] == default, f"{path.stem}: default of {key} differs from the var"
    assert not set(config) & set(VARIABLES), f"{path.stem}: a setting outside config.meta"


def test_some_models_have_settings() -> None:
    # The parametrised test above proves nothing if no model reads a setting.
    assert sum(bool(_settings_read(path)) for path in PYTHON_MODELS) >= 7


@pytest.fixture(scope="module")
def databricks_parse(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """Output and manifest of an offline `dbt parse --target databricks` with OVERRIDES."""
    work = tmp_path_factory.mktemp("parse-meta")
    result = run_dbt_offline(
        work,
        "parse",
        "--no-partial-parse",
        "--show-all-deprecations",
        "--vars",
        json.dumps(OVERRIDES),
        target="databricks",
        env=offline_env(work),
    )
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    return result.stdout + result.stderr, manifest


def test_no_custom_config_key_warning(databricks_parse: tuple[str, dict]) -> None:
    output, _ = databricks_parse
    assert "Running with dbt" in output, output[-2000:]
    assert "CustomKeyInConfigDeprecation" not in output, output[-4000:]


def test_no_deprecation_or_other_warning(databricks_parse: tuple[str, dict]) -> None:
    # On dbt-core 1.11 and 1.12 alike (make test-dbt112 runs this file too): the sources'
    # freshness in their config, dbt_project.yml's flags (docs/DBT_VERSIONS.md).
    output, _ = databricks_parse
    assert "Deprecation" not in output and "WARNING" not in output, output[-4000:]


def test_variables_reach_the_models_meta(databricks_parse: tuple[str, dict]) -> None:
    _, manifest = databricks_parse
    models = {
        node["name"]: node["config"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["language"] == "python"
    }
    assert len(models) == len(PYTHON_MODELS)
    for path in PYTHON_MODELS:
        config = models[path.stem]
        settings = _settings_read(path)
        # What dbt compiles into the model's `meta_dict` for dbt.config.meta_get.
        assert (config.get("meta_keys_used") or []) == list(settings), path.stem
        expected = {key: OVERRIDES.get(key, VARIABLES[key]) for key in settings}
        assert {key: config["meta"][key] for key in settings} == expected, path.stem


def test_every_data_test_has_a_short_name(databricks_parse: tuple[str, dict]) -> None:
    # A failing test's stored failures are a view named after it; dbt hashes names longer
    # than its limit, and a name made of the test's arguments does not say what broke.
    _, manifest = databricks_parse
    names = [node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    assert len(names) >= 100
    assert [name for name in names if len(name) > 80] == []


def test_row_rules_are_named_checks(databricks_parse: tuple[str, dict]) -> None:
    # Row rules of an error test are named checks, each failure naming its rule;
    # expression_is_true is left for tests with a name of their own (the warnings).
    _, manifest = databricks_parse
    tests = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and "test_metadata" in node
    ]
    named = [node for node in tests if node["test_metadata"]["name"] == "named_checks"]
    assert len(named) >= 15
    for node in tests:
        if node["test_metadata"]["name"] == "expression_is_true":
            assert not node["name"].startswith("expression_is_true_"), node["name"]
