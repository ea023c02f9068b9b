"""Incremental staging and monthly marts: landing more data rebuilds only what it touches.

One state folder is built the way production runs: a full build on the data up to day D,
then day D+1 landed as a new file and an incremental build, then a late correction for old
months (a cancellation and a sale of a customer who had only bought later) and another
incremental build — the builds and their reads in one Spark process, as a long-lived
orchestrator would run them. Then a `--full-refresh` build in the same process rebuilds
every table from the three landed files at once, as from scratch. The tables of TABLES
(the three staging tables, the three intermediate tables and the five SQL marts that
depend on the month; not the view `int_sales_lines_filtered` nor the Python models, full
rebuilds) must be equal before and after it, and the incremental runs
must have rewritten only the month partitions the new files touch (told by `loaded_at`).
The data tests run on the last incremental build, the one whose tables are compared; the
other builds build models and seeds only (unit tests do not depend on the data at all).
Every build selects the tables of TABLES and their ancestors only: the SQL models beyond
them (the CRM staging, the campaign marts, the product dimension and the SKU rankings)
are full rebuilds that no comparison reads.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lgs_analytics.runtime.build import ensure_profile
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_testing import PROJECT_ROOT
from reliability_testing import run_steps, state_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
GENERATE = ["--rows", "40000", "--seed", "11"]
TABLES_ONLY = ["--resource-type", "model", "--resource-type", "seed"]
WITH_DATA_TESTS = ["--exclude-resource-type", "unit_test"]
# A freshness or load-volume warning is not a failure of the build; exposures are no-ops.
OK_STATUSES = {"success", "pass", "warn", "no-op"}
TABLES = {
    "lgs_staging": [
        "stg_online_retail__rows_parsed",
        "stg_online_retail__transactions",
        "stg_online_retail__quarantined_rows",
    ],
    "lgs_intermediate": [
        "int_months_spined",
        "int_customers_summarized",
        "int_customer_months_aggregated",
    ],
    "lgs_marts": [
        "monthly_sales",
        "monthly_orders",
        "monthly_active_users",
        "monthly_new_existing_users",
        "sku_monthly_sales",
    ],
}
# The tables of TABLES, their ancestors (seeds and the source included) and the tests whose
# parents are all among them: the Python models are full rebuilds from the staged data and
# play no part in incrementality, nor do the SQL models no comparison reads.
SELECTION = [
    "--select",
    *sorted(f"+{table}" for group in TABLES.values() for table in group),
    "--indirect-selection",
    "cautious",
]
# Columns that record where and when a row was loaded, not what it says.
LOAD_COLUMNS = {"loaded_at", "source_file_modified_at", "parsed_row_id"}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _build(*extra: str) -> dict:
    return {"kind": "dbt", "args": ["build", *SELECTION, *extra]}


def _read(*names: str) -> dict:
    return {"kind": "read", "queries": {name: f"select * from {name}" for name in names}}


def _frames(read: dict) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(rows) for name, rows in read["queries"].items()}


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def _write_rows(path: Path, header: list[str], rows: list[list[str]], mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.utime(path, (mtime, mtime))


def _month(timestamp: str) -> int:
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT)
    return moment.year * 100 + moment.month


def _split_loads(source: Path) -> dict[str, object]:
    """The generated rows as three landings: up to day D, day D+1, and late corrections."""
    header, rows = _read_rows(source)
    col = {name: i for i, name in enumerate(header)}
    last_day = max(row[col["InvoiceDate"]][:10] for row in rows)
    base = [row for row in rows if row[col["InvoiceDate"]][:10] < last_day]
    day = [row for row in rows if row[col["InvoiceDate"]][:10] == last_day]

    months = sorted({_month(row[col["InvoiceDate"]]) for row in base})
    old_month = months[len(months) // 2]
    # A sale of this month, cancelled late (DEFINITIONS §2: a separate `C` invoice).
    sale = next(
        row
        for row in base
        if _month(row[col["InvoiceDate"]]) == old_month
        and row[col["Invoice"]].isdigit()
        and row[col["Customer ID"]]
        and int(row[col["Quantity"]]) > 0
        and row[col["StockCode"]][:1].isdigit()
    )
    cancellation = list(sale)
    cancellation[col["Invoice"]] = "C999001"
    cancellation[col["Quantity"]] = str(-int(sale[col["Quantity"]]))
    cancelled_at = datetime.strptime(sale[col["InvoiceDate"]], TIMESTAMP_FORMAT)
    cancellation[col["InvoiceDate"]] = (cancelled_at + timedelta(hours=2)).strftime(
        TIMESTAMP_FORMAT
    )
    # A sale in an earlier month by a customer whose first purchase came later: the
    # customer becomes new in that earlier month and existing in their old first month.
    first_month: dict[str, int] = {}
    for row in base:
        customer = row[col["Customer ID"]]
        if customer:
            month = _month(row[col["InvoiceDate"]])
            first_month[customer] = min(month, first_month.get(customer, month))
    late_customer = next(c for c, m in sorted(first_month.items()) if m > old_month)
    late_sale = list(sale)
    late_sale[col["Invoice"]] = "999002"
    late_sale[col["Customer ID"]] = late_customer
    return {
        "header": header,
        "base": base,
        "day": day,
        "corrections": [cancellation, late_sale],
        "day_months": sorted({_month(row[col["InvoiceDate"]]) for row in day}),
        "correction_months": sorted({old_month}),
        "late_customer": late_customer,
        "late_customer_first_month": first_month[late_customer],
        "old_month": old_month,
    }


def _land(folder: Path, name: str, loads: dict, part: str, mtime: float) -> list:
    """Write one landing's rows to folder/name; the `land` step's [source, target, mtime]."""
    _write_rows(folder / name, loads["header"], loads[part], mtime)
    return [str(folder / name), name, mtime]


def _partition_stamps(frame: pd.DataFrame, month_column: str) -> dict[int, str]:
    """When each month partition was last (re)written: its rows' `loaded_at`."""
    stamps = frame.groupby(month_column)["loaded_at"].max()
    return {int(month): str(stamp) for month, stamp in stamps.items()}


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.drop(columns=[c for c in frame.columns if c in LOAD_COLUMNS])
    if "source_file" in frame.columns:
        frame = frame.assign(source_file=frame["source_file"].map(lambda p: Path(p).name))
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.fixture(scope="module")
def loads(tmp_path_factory) -> dict:
    generated = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [sys.executable, "-m", "lgs_analytics.cli", "generate", *GENERATE, "--out", generated],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    [source] = sorted(generated.glob("*.csv"))
    return _split_loads(source)


def test_incremental_builds_equal_a_full_refresh(loads, tmp_path):
    ensure_profile(ProjectPaths.discover(PROJECT_ROOT))
    incremental = TEST_STATE_ROOT / "incremental"
    shutil.rmtree(incremental, ignore_errors=True)
    landing = incremental / "raw" / "online_retail_ii"
    landed_at = datetime(2011, 12, 10, 6, 0).timestamp()
    files = [
        _land(tmp_path, f"part-0000{index}.csv", loads, part, landed_at + index * 86_400)
        for index, part in enumerate(("base", "day", "corrections"))
    ]
    transactions = "lgs_staging.stg_online_retail__transactions"
    rows_parsed = "lgs_staging.stg_online_retail__rows_parsed"
    orders = "lgs_marts.monthly_orders"
    customers = "lgs_intermediate.int_customers_summarized"
    names = [f"{schema}.{table}" for schema, group in TABLES.items() for table in group]

    # Production's order, in one Spark process (as a long-lived orchestrator would run
    # it; each build registers the raw source again, so it sees the files landed since):
    # day D and a full first build; day D+1 and an incremental build; late corrections for
    # an old month and another incremental build, with the data tests; then every table
    # rebuilt from all three files by a full refresh.
    def land(index: int) -> dict:
        source, name, mtime = files[index]
        return {"kind": "land", "files": [[source, str(landing / name), mtime]]}

    steps = run_steps(
        state_env(incremental),
        [
            land(0),
            _build(*TABLES_ONLY),
            _read(transactions, orders),
            land(1),
            _build(*TABLES_ONLY),
            _read(transactions, rows_parsed),
            land(2),
            _build(*WITH_DATA_TESTS),
            _read(*names),
            _build("--full-refresh", *TABLES_ONLY),
            _read(*names),
        ],
    )
    first, after_day_tables, statuses = _frames(steps[2]), _frames(steps[5]), steps[7]["statuses"]
    incremental_tables = _frames(steps[8])

    # Day D+1: only its month is rewritten, in staging and downstream.
    before = _partition_stamps(first[transactions], "year_month")
    cancelled_before = first[orders].set_index("year_month").cancelled_orders
    after_day = _partition_stamps(after_day_tables[transactions], "year_month")
    rewritten = sorted(month for month in after_day if after_day[month] != before.get(month))
    assert rewritten == loads["day_months"]
    parsed = _partition_stamps(after_day_tables[rows_parsed], "partition_month")
    run_stamp = after_day[rewritten[0]]
    assert sorted(m for m, stamp in parsed.items() if stamp == run_stamp) == loads["day_months"]

    # Late corrections for an old month: that month is rewritten, the others are not.
    assert any(node.startswith("test.") for node in statuses), "no data test ran"
    failed = {node: status for node, status in statuses.items() if status not in OK_STATUSES}
    assert not failed, failed
    after_corrections = _partition_stamps(incremental_tables[transactions], "year_month")
    rewritten = sorted(m for m in after_corrections if after_corrections[m] != after_day[m])
    assert rewritten == loads["correction_months"]
    monthly_orders = incremental_tables[orders]
    cancelled_after = monthly_orders.set_index("year_month").cancelled_orders
    old_month = loads["old_month"]
    assert cancelled_after[old_month] == cancelled_before[old_month] + 1
    late_customer = loads["late_customer"].removesuffix(".0")
    first_months = incremental_tables[customers].set_index("customer_id").first_year_month
    assert first_months[late_customer] == old_month

    # The same three files, every table rebuilt from them at once.
    full_tables = _frames(steps[10])
    stamps = {frame["loaded_at"].max() for frame in full_tables.values() if "loaded_at" in frame}
    assert stamps and min(stamps) > max(after_corrections.values()), "not rebuilt"

    assert set(incremental_tables) == set(full_tables)
    for name, frame in full_tables.items():
        pd.testing.assert_frame_equal(
            _comparable(incremental_tables[name]), _comparable(frame), obj=name
        )
