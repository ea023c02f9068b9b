"""Two full builds on the same data give identical tables; registering again is harmless.

On the malformed-row dataset of the e2e suite (every quarantine reason present), one new
process rebuilds the incremental models from scratch (`dbt build --full-refresh` of
staging and the monthly marts, in-process as `lgs build` runs dbt; every other table is
rebuilt whole by any build, the fixture's included), takes the checksum of every table of
every layer — staging (rows_parsed, transactions, quarantine), intermediate, marts (SQL
and Python models), reference seeds and the audit schema of stored test failures —, runs
`dbt build --full-refresh` of every model and seed on the same landed files, registers
the raw source twice more (`dbt run-operation register_raw_source`, twice), and takes the
checksums again: they must be equal, and so must the raw source's rows and registration.
The second build rebuilds every table, the incremental staging tables and marts
included, from the landed files: a second plain build would read no new file and leave
staging as it was, proving nothing about it. The state is left as a full build of the
same files leaves it, for the other tests of the malformed state.

A table checksum is computed in Spark: SHA-256 of each row's JSON, sorted, hashed again
(order-independent, exact for every type; doubles are compared to 12 significant digits,
below which a sum's last bit may vary with the summation order). Ids are hashes of what a
row holds (`parsed_row_id`, `transaction_id`, `quarantined_row_id`), so they must be equal
too. `loaded_at`, the run stamp of incremental rows, is the one column left out: it says
when a row was written, not what it holds, and differs from build to build by design.
A view (the stored test failures, view models) is checksummed by its definition: the rows
it lists follow from its text and the tables it reads, whose checksums are compared too.
"""

from __future__ import annotations

import time

import pytest

from reliability_testing import run_steps, state_env

pytestmark = pytest.mark.e2e

SCHEMAS = ["lgs_staging", "lgs_intermediate", "lgs_marts", "lgs_reference", "lgs_audit"]
READ = {
    "kind": "read",
    "schemas": SCHEMAS,
    "exclude": ["loaded_at"],
    "queries": {
        "raw_rows": "select count(*) as n from raw.online_retail_ii",
        "registration": "show tblproperties raw.online_retail_ii_landed",
        "raw_objects": "show tables in raw",
        # When the staged rows were written: every one by the build just before the read.
        "stamps": "select min(loaded_at) as first, max(loaded_at) as last "
        "from lgs_staging.stg_online_retail__rows_parsed",
    },
}
REGISTER = {"kind": "dbt", "args": ["run-operation", "register_raw_source"]}
# Every model and seed. Tests have no place in a check of what a build writes: unit tests
# write nothing, and a data test writes only when it finds rows (its stored failures, which
# the audit schema checksums would show), which no data test does on this dataset; what a
# failing and then passing test writes is test_stored_failures' subject.
FULL_BUILD = {
    "kind": "dbt",
    "args": [
        "build",
        "--target",
        "local",
        "--full-refresh",
        "--resource-type",
        "model",
        "--resource-type",
        "seed",
    ],
}
# Every other table is rebuilt whole by any build: rebuilding the incremental models
# (staging, the monthly marts) from scratch makes the shared state a full build's, whatever
# history of loads it had, at a fraction of a whole build's cost.
FULL_INCREMENTAL_BUILD = {
    "kind": "dbt",
    "args": [
        "build",
        "--target",
        "local",
        "--full-refresh",
        "--select",
        "config.materialized:incremental",
        "--resource-type",
        "model",
    ],
}
STAGING = {
    "lgs_staging.stg_online_retail__rows_parsed",
    "lgs_staging.stg_online_retail__transactions",
    "lgs_staging.stg_online_retail__quarantined_rows",
}


def test_two_full_builds_and_registrations_give_identical_tables(malformed_build) -> None:
    started = time.monotonic()
    first_build, first, second_build, _, _, second = run_steps(
        state_env(malformed_build.state),
        [FULL_INCREMENTAL_BUILD, READ, FULL_BUILD, REGISTER, REGISTER, READ],
    )
    builds = f"{first_build['ended'] - first_build['started']:.0f} s and "
    builds += f"{second_build['ended'] - second_build['started']:.0f} s"
    print(f"full builds, checksums, registrations: {time.monotonic() - started:.0f} s ({builds})")
    # The second build rewrote every staged row, not only what changed (nothing did).
    [first_stamps] = first["queries"].pop("stamps")
    [second_stamps] = second["queries"].pop("stamps")
    assert first_stamps["first"] == first_stamps["last"], first_stamps
    assert second_stamps["first"] == second_stamps["last"] > first_stamps["last"]
    for build in (first_build, second_build):
        assert build["statuses"]["model.lgs_analytics.stg_online_retail__rows_parsed"] == "success"
    assert "model.lgs_analytics.monthly_sales" in first_build["statuses"]
    tables = first["checksums"]
    # The audit schema holds the stored failures of the tests that found rows (none on
    # this dataset, whose every data test passes): checksummed whatever it holds.
    assert set(tables) >= STAGING, sorted(tables)
    assert all(tables[name]["rows"] for name in STAGING), {n: tables[n] for n in STAGING}
    assert {"lgs_staging", "lgs_marts"} <= {name.split(".")[0] for name in tables}
    assert sum(result["rows"] or 0 for result in tables.values()) > 30_000
    assert any(result["rows"] is None for result in tables.values()), "no view was compared"
    changed = {
        name: (checksum, second["checksums"].get(name))
        for name, checksum in tables.items()
        if second["checksums"].get(name) != checksum
    }
    assert not changed, f"tables changed by a second full build on the same data: {changed}"
    assert set(second["checksums"]) == set(tables), "a second full build added or lost tables"
    # SHOW TABLES also lists the temporary views the in-process dbt build left.
    for read in (first, second):
        objects = read["queries"]["raw_objects"]
        read["queries"]["raw_objects"] = [row for row in objects if not row["isTemporary"]]
    assert second["queries"] == first["queries"], "registering again changed the raw source"
