"""selectors.yml: each named selection selects what it says (`dbt ls --selector`, offline,
no Spark), and slim CI's `state:modified+` selects a changed model and what depends on it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from offline_dbt import listed_many

SELECTIONS = {
    "production_job": ("--selector", "production_job"),
    "spec_marts": ("--selector", "spec_marts"),
    "exclude_beyond": ("--exclude", "tag:beyond"),
    "sql_only": ("--selector", "sql_only"),
    "exclude_python": ("--exclude", "tag:python"),
}
CHANGED = "model.lgs_analytics.monthly_sales"


@pytest.fixture(scope="module")
def listings(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, dict]], dict]:
    """What `dbt ls` lists for "all" and for each selection, by unique_id (one parse of the
    project, every `ls` on its manifest), and that manifest."""
    work = tmp_path_factory.mktemp("ls")
    found = listed_many(work, {"all": (), **SELECTIONS})
    return found, json.loads((work / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def project(listings: tuple[dict[str, dict[str, dict]], dict]) -> tuple[dict[str, dict], dict]:
    """Every node `dbt ls` lists, by unique_id, and the manifest of that parse."""
    return listings[0]["all"], listings[1]


@pytest.fixture(scope="module")
def selected(listings: tuple[dict[str, dict[str, dict]], dict]) -> dict[str, dict[str, dict]]:
    """What `dbt ls` lists for each selection (and "all"), by unique_id."""
    return listings[0]


def _without_sources(nodes: dict[str, dict]) -> set[str]:
    # A selector's `fqn: "*"` lists no source; nothing builds a source.
    return {uid for uid, node in nodes.items() if node["resource_type"] != "source"}


def _models(nodes: dict[str, dict], *, python: bool | None = None) -> set[str]:
    return {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "model"
        and (python is None or node["original_file_path"].endswith(".py") == python)
    }


def test_production_job_is_everything_but_the_unit_tests(selected: dict) -> None:
    everything, job = selected["all"], selected["production_job"]
    unit_tests = {uid for uid, node in everything.items() if node["resource_type"] == "unit_test"}
    assert unit_tests, "the project has dbt unit tests"
    assert set(job) == _without_sources(everything) - unit_tests
    assert {node["resource_type"] for node in job.values()} >= {"model", "seed", "test"}


def test_spec_marts_leave_the_models_beyond_out(selected: dict) -> None:
    everything, spec = selected["all"], selected["spec_marts"]
    beyond = {uid for uid, node in everything.items() if "beyond" in node.get("tags", [])}
    assert _models(everything) & beyond, "some models are tagged beyond"
    assert not set(spec) & beyond
    assert _models(spec) == _models(everything) - beyond
    assert "model.lgs_analytics.monthly_sales" in spec
    # The selector is the documented `--exclude tag:beyond`.
    assert set(spec) == _without_sources(selected["exclude_beyond"])


def test_sql_only_is_what_a_thrift_server_can_build(selected: dict) -> None:
    everything, sql = selected["all"], selected["sql_only"]
    assert _models(everything, python=True)
    assert not _models(sql, python=True)
    assert _models(sql) == _models(everything, python=False)
    assert set(sql) == _without_sources(selected["exclude_python"])


def test_slim_ci_selects_a_changed_model_and_its_descendants(
    project: tuple[dict[str, dict], dict], tmp_path: Path
) -> None:
    everything, manifest = project
    # The production state: this project's manifest; then the same with monthly_sales as
    # it was before an edit of its SQL.
    unchanged_state, changed_state = tmp_path / "prod-state", tmp_path / "prod-state-before-edit"
    before_edit = copy.deepcopy(manifest)
    before_edit["nodes"][CHANGED]["raw_code"] += "\n-- before the edit"
    for state, content in ((unchanged_state, manifest), (changed_state, before_edit)):
        state.mkdir()
        (state / "manifest.json").write_text(json.dumps(content))
    found = listed_many(
        tmp_path / "ls",
        {
            name: ("--selector", "slim_ci", "--state", str(state))
            for name, state in (("unchanged", unchanged_state), ("changed", changed_state))
        },
    )
    unchanged, slim = found["unchanged"], found["changed"]
    # Everything downstream of the changed mart, by the manifest's child map.
    downstream, todo = set(), [CHANGED]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in downstream:
                downstream.add(child)
                todo.append(child)
    expected = {CHANGED, *downstream}
    # dbt also runs the unit tests of a selected model.
    unit_tests = {
        uid
        for uid, node in manifest["unit_tests"].items()
        if set(node["depends_on"]["nodes"]) & expected
    }
    assert set(slim) == {uid for uid in expected | unit_tests if uid in everything}
    assert unit_tests and CHANGED in slim
    assert {node["resource_type"] for node in slim.values()} >= {"model", "test"}
    assert len(_models(slim)) < len(_models(everything)) / 2
    assert unchanged == {}
