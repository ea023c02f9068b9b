"""The malformed-row dataset of the suite (every malformed kind injected), read back from the
metastore by a new process: every malformed row ends in quarantine with its reason, none is
lost; its build is the suite's run of the dbt unit tests (`lgs build --unit-tests`).
"""

from __future__ import annotations

import json

import pytest

from lgs_testing import closing_line

pytestmark = pytest.mark.e2e

# How each malformed-row kind of the generator must be classified by staging.
EXPECTED_REASON = {
    "bad_date": "unparseable_invoice_date",
    "non_numeric_quantity": "unparseable_quantity",
    "non_numeric_price": "unparseable_price",
    "wrong_column_count": "wrong_column_count",
    "stray_quote": "wrong_column_count",
    "bad_encoding": "invalid_encoding",
    "missing_invoice": "missing_invoice",
    "missing_stock_code": "missing_stock_code",
}


def test_malformed_rows_are_quarantined_with_their_reason(malformed_build):
    manifest = malformed_build.manifest
    assert manifest["malformed_total"] > 0
    expected: dict[str, int] = {}
    for kind, count in manifest["malformed_rows"].items():
        assert count > 0, f"generator produced no {kind} rows"
        expected[EXPECTED_REASON[kind]] = expected.get(EXPECTED_REASON[kind], 0) + count
    [balance] = malformed_build.sql(
        """
        select
            (select count(*) from raw.online_retail_ii) as raw_rows,
            (select count(*) from lgs_staging.stg_online_retail__transactions) as staged,
            (select sum(removed_duplicates) from lgs_staging.stg_online_retail__transactions)
                as duplicates,
            (select count(*) from lgs_staging.stg_online_retail__quarantined_rows)
                as quarantined,
            (
                select to_json(map_from_entries(collect_list(struct(quarantine_reason, n))))
                from (
                    select quarantine_reason, count(*) as n
                    from lgs_staging.stg_online_retail__quarantined_rows
                    group by quarantine_reason
                )
            ) as reasons
        """
    )
    assert json.loads(balance["reasons"]) == expected
    assert balance["raw_rows"] == manifest["lines"]
    assert balance["staged"] == manifest["deduplicated"]["rows"]
    assert balance["duplicates"] == manifest["exact_duplicate_rows"]
    assert balance["raw_rows"] == balance["staged"] + balance["duplicates"] + balance["quarantined"]


def test_the_suites_build_runs_every_unit_test(malformed_build):
    # A failing unit test fails `lgs build`, and with it the fixture.
    manifest = json.loads((malformed_build.state / "target" / "manifest.json").read_text())
    assert manifest["unit_tests"], "the project declares no unit test"
    assert f"{len(manifest['unit_tests'])} unit tests" in closing_line(malformed_build.state)
