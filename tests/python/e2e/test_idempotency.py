"""Two consecutive builds on the same data give identical tables; registering again is harmless.

On the malformed-row dataset of the e2e suite (every quarantine reason present), one new
process takes the checksum of every table of every layer — staging, intermediate, marts
(SQL and Python models), reference seeds and the audit schema of stored test failures —,
runs `dbt build` again on the same landed files (in-process, as `lgs build` does; models
and seeds: tests write nothing here), registers the raw source twice more
(`dbt run-operation register_raw_source`, twice), and takes the checksums again: they must
be equal, and so must the raw source's rows and registration.

A table checksum is computed in Spark: SHA-256 of each row's JSON, sorted, hashed again
(order-independent, exact for every type; doubles are compared to 12 significant digits,
below which a sum's last bit may vary with the summation order). `loaded_at`, the run
stamp of incremental rows, is left out: it says when a row was written, not what it holds.
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
    },
}
REGISTER = {"kind": "dbt", "args": ["run-operation", "register_raw_source"]}
# Every model and seed. Tests have no place in a check of what a build writes: unit tests
# write nothing, and a data test writes only when it finds rows (its stored failures, which
# the audit schema checksums would show), which no data test does on this dataset; what a
# failing and then passing test writes is test_stored_failures' subject.
SECOND_BUILD = {
    "kind": "dbt",
    "args": ["build", "--target", "local", "--resource-type", "model", "--resource-type", "seed"],
}


def test_second_build_and_registrations_change_no_table(malformed_build) -> None:
    started = time.monotonic()
    first, _, _, _, second = run_steps(
        state_env(malformed_build.state),
        [READ, SECOND_BUILD, REGISTER, REGISTER, READ],
    )
    print(f"checksums, second build, two registrations: {time.monotonic() - started:.0f} s")
    tables = first["checksums"]
    # The audit schema holds the stored failures of the tests that found rows (none on
    # this dataset, whose every data test passes): checksummed whatever it holds.
    assert {"lgs_staging", "lgs_marts"} <= {name.split(".")[0] for name in tables}
    assert sum(result["rows"] or 0 for result in tables.values()) > 30_000
    assert any(result["rows"] is None for result in tables.values()), "no view was compared"
    changed = {
        name: (checksum, second["checksums"].get(name))
        for name, checksum in tables.items()
        if second["checksums"].get(name) != checksum
    }
    assert not changed, f"tables changed by a second build on the same data: {changed}"
    assert set(second["checksums"]) == set(tables), "a second build added or lost tables"
    # SHOW TABLES also lists the temporary views the in-process dbt build left.
    for read in (first, second):
        objects = read["queries"]["raw_objects"]
        read["queries"]["raw_objects"] = [row for row in objects if not row["isTemporary"]]
    assert second["queries"] == first["queries"], "registering again changed the raw source"
