"""`lgs sql`, `lgs export` and `lgs report` errors that only a running Spark can see: a
query Spark refuses, a table or schema missing from the catalog, a target with nothing built.

Each is one sentence as the last line on stderr (Spark's own short message where it has
one, not the JVM stack), exit 2, and nothing landed or published changed. Five Spark
processes in all, on a catalog of one empty schema, not a build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_cli_errors import State, assert_one_sentence

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> State:
    """A state whose Derby metastore holds the schema lgs_marts and no table."""
    state = State.make(tmp_path_factory.mktemp("cli-errors") / "state")
    created = state.lgs("sql", "create database lgs_marts")
    assert created.returncode == 0, created.stdout + created.stderr
    return state


def _few_lines(result) -> None:
    """Spark's start-up notice may precede the sentence; a stack trace may not."""
    assert "\tat org.apache" not in result.stderr and "Py4JJavaError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr


def test_sql_before_any_build_says_to_run_the_build(tmp_path: Path) -> None:
    state = State.make(tmp_path / "state")
    before = state.digest()
    result = state.lgs("sql", "select * from lgs_marts.monthly_sales")
    assert_one_sentence(
        result, 2, "Nothing has been built on target 'local'", "no schema lgs_marts", "lgs build"
    )
    _few_lines(result)
    assert state.digest() == before


def test_a_failing_query_gives_sparks_short_message(catalog: State) -> None:
    before = catalog.digest()
    result = catalog.lgs("sql", "select * from lgs_marts.nope")
    assert_one_sentence(
        result,
        2,
        "Spark refused the query on target 'local'",
        "[TABLE_OR_VIEW_NOT_FOUND]",
        "`lgs_marts`.`nope`",
    )
    _few_lines(result)
    assert catalog.digest() == before


def test_export_names_the_missing_table_and_schema(catalog: State, tmp_path: Path) -> None:
    before = catalog.digest()
    out = tmp_path / "export"
    result = catalog.lgs("export", "--out", str(out), "lgs_marts.nope", "nowhere.sales")
    assert_one_sentence(
        result,
        2,
        "no table lgs_marts.nope (tables of lgs_marts: none)",
        "no schema nowhere (schemas: default, lgs_marts)",
        "run `lgs build` first",
    )
    _few_lines(result)
    assert not out.exists(), "nothing may be written when a table is missing"
    assert catalog.digest() == before


def test_report_without_any_mart_says_to_run_the_build(catalog: State) -> None:
    before = catalog.digest()
    result = catalog.lgs("report")
    assert_one_sentence(
        result, 2, "Nothing has been built", "no mart of the report in lgs_marts", "lgs build"
    )
    _few_lines(result)
    assert not (catalog.folder / "report").exists(), "no empty report may be written"
    assert catalog.digest() == before
