"""A corpus of bad raw files: every case ends in quarantine with a reason, or in a refusal.

One landing folder holds every row-level case as its own small file, and ONE `dbt build`
of the staging layer runs over all of them (one build per case would cost a Spark start
each). Each case is then a test of its own, parametrized, on that build's tables: rows are
attributed to their file by `source_file` (Spark's `_metadata.file_path`). Per case:
- the raw rows Spark read from the case's files = staged + removed duplicates + quarantined
  (nothing dropped silently), with the expected numbers of each;
- quarantined rows carry the expected reason and keep the raw text;
- staged rows carry the expected values where the case is about a value.

File-level cases (a header that is not the contract's, a workbook, a subfolder Spark
skips...) are refused by the landed-file check of the on-run-start hook, before any model
reads a file; they are unit-tested per case in tests/python/test_landed_files.py, and
shown end to end here: `lgs build` refuses three bad files (a renamed column, the Online
Retail (I) header, a file in a subfolder) in one sentence each, with no Java stack trace,
before any model runs. The build runs with the Spark UI on, and every socket its processes
listened on is checked to be on 127.0.0.1. After the build, `dbt source freshness` must
warn (the files are three days old) and the load-volume test must have flagged and stored
the large last load.

Cases and outcomes are listed in docs/RELIABILITY.md.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lgs_testing import PROJECT_ROOT
from reliability_testing import STACK_TRACE_MARKERS, Run, lgs, run_steps_watched, state_env

pytestmark = pytest.mark.e2e

TEST_STATE_ROOT = Path(os.environ.get("LGS_TEST_STATE_ROOT", PROJECT_ROOT / ".lgs-test"))
STATE = TEST_STATE_ROOT / "bad-input-corpus"
RAW = STATE / "raw" / "online_retail_ii"
HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
STAGING_SELECTION = [
    "--select",
    "+stg_online_retail__transactions",
    "+stg_online_retail__quarantined_rows",
    "assert_raw_rows_conserved",
    "assert_landed_file_volumes_are_usual",
    # Only the tests of the staging layer, not those that also read the (unbuilt) marts.
    "--indirect-selection",
    "cautious",
]

Rows = list[dict]


def line(
    invoice: object,
    stock_code: str = "85123A",
    description: str = "WHITE HANGING HEART T-LIGHT HOLDER",
    quantity: str = "6",
    invoice_date: str = "2010-12-01 08:26:00",
    price: str = "2.55",
    customer_id: str = "17850.0",
    country: str = "United Kingdom",
) -> str:
    """One CSV line; fields are written as given (quote them in the argument if needed)."""
    fields = [str(invoice), stock_code, description, quantity, invoice_date, price]
    return ",".join([*fields, customer_id, country])


def csv_file(*lines: str, header: str = HEADER, end: str = "\n") -> bytes:
    return "".join(text + end for text in [header, *lines]).encode()


@dataclass(frozen=True)
class Case:
    """Files landed for one case and the outcome they must have."""

    files: dict[str, bytes]
    staged: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    removed_duplicates: int = 0
    check: Callable[[Rows], None] | None = None
    warning: str | None = None

    @property
    def raw_rows(self) -> int:
        return self.staged + self.removed_duplicates + sum(self.quarantined.values())


def _one(rows: Rows, **expected: object) -> None:
    assert len(rows) == 1, rows
    for key, value in expected.items():
        assert rows[0][key] == value, (key, rows[0])


DUPLICATED = csv_file(line(700901), line(700902, quantity="12"), line(700903, price="4.25"))
HUGE_LOAD = csv_file(*(line(710000 + n, quantity=str(n + 1)) for n in range(60)))


def _good(invoice: int) -> str:
    """The valid row most case files carry next to their bad ones (it must survive)."""
    return line(invoice, description=f"GOOD ROW {invoice}")


def _amounts_are_exact(rows: Rows) -> None:
    assert sorted(float(row["line_amount"]) for row in rows) == [-168469.6, 168469.6], rows


def _largest_amount_is_kept(rows: Rows) -> None:
    _one(rows, quantity=1000000)
    assert str(rows[0]["line_amount"]) == "999999999999000.000", rows


def _country_has_no_carriage_return(rows: Rows) -> None:
    assert {row["country"] for row in rows} == {"United Kingdom"}, rows


def _only_the_first_copy_is_staged(rows: Rows) -> None:
    assert {Path(row["source_file"]).name for row in rows} == {"same_file_landed_twice_a.csv"}


CASES: dict[str, Case] = {
    # -- lines that do not split into eight fields --------------------------------------
    "truncated_line": Case(
        {"truncated_line.csv": csv_file(_good(700011), "700012,85123A,WHITE HANG")},
        staged=1,
        quarantined={"wrong_column_count": 1},
    ),
    "truncated_file_inside_quotes": Case(
        {
            "truncated_file_inside_quotes.csv": csv_file(_good(700021))
            + b'700022,85123A,"WHITE HANGING HEA'
        },
        staged=1,
        quarantined={"wrong_column_count": 1},
    ),
    "row_with_a_missing_field": Case(
        {"row_with_a_missing_field.csv": csv_file(_good(700031), line(700032)[:-15])},
        staged=1,
        quarantined={"wrong_column_count": 1},
    ),
    "row_with_an_extra_field": Case(
        {"row_with_an_extra_field.csv": csv_file(_good(700041), line(700042) + ",EXTRA")},
        staged=1,
        quarantined={"wrong_column_count": 1},
    ),
    "embedded_newline_in_description": Case(
        # multiLine is off (files stay splittable): the record becomes two broken lines.
        {
            "embedded_newline_in_description.csv": csv_file(
                _good(700051), line(700052, description='"HEART\nHOLDER"')
            )
        },
        staged=1,
        quarantined={"wrong_column_count": 2},
    ),
    "stray_quote_in_description": Case(
        {
            "stray_quote_in_description.csv": csv_file(
                _good(700061), line(700062, description='"WHITE HANGING')
            )
        },
        staged=1,
        quarantined={"wrong_column_count": 1},
    ),
    # -- encoding ----------------------------------------------------------------------
    "latin1_bytes_in_description": Case(
        {
            "latin1_bytes_in_description.csv": csv_file(_good(700071))
            + line(700072, description="CAF\xe9 SET").encode("latin-1")
            + b"\n"
        },
        staged=1,
        quarantined={"invalid_encoding": 1},
    ),
    "windows_1252_pound_in_price": Case(
        {
            "windows_1252_pound_in_price.csv": csv_file(_good(700081))
            + line(700082, price="\xa32.10").encode("cp1252")
            + b"\n"
        },
        staged=1,
        quarantined={"invalid_encoding": 1},
    ),
    "utf8_text_kept": Case(
        {"utf8_text_kept.csv": csv_file(line(700091, description="CAFÉ SET ☕ Ø"))},
        staged=1,
        check=lambda rows: _one(rows, description="CAFÉ SET ☕ Ø"),
    ),
    "utf8_byte_order_mark": Case(
        {"utf8_byte_order_mark.csv": b"\xef\xbb\xbf" + csv_file(line(700101))},
        staged=1,
        check=lambda rows: _one(rows, invoice_id="700101"),
    ),
    # -- quotes --------------------------------------------------------------------------
    "doubled_quotes_in_description": Case(
        {
            "doubled_quotes_in_description.csv": csv_file(
                line(700111, description='"12 PENCILS ""SMALL"" TUBE"')
            )
        },
        staged=1,
        check=lambda rows: _one(rows, description='12 PENCILS "SMALL" TUBE'),
    ),
    "quoted_comma_in_description": Case(
        {"quoted_comma_in_description.csv": csv_file(line(700121, description='"MAT, RED"'))},
        staged=1,
        check=lambda rows: _one(rows, description="MAT, RED"),
    ),
    "backslash_escaped_quotes": Case(
        # Not RFC 4180: the row is readable and keeps its text exactly as landed.
        {
            "backslash_escaped_quotes.csv": csv_file(
                line(700131, description='"SMALL \\"RED\\" BOX"')
            )
        },
        staged=1,
        check=lambda rows: _one(rows, description='"SMALL \\"RED\\" BOX"'),
    ),
    # -- numbers -------------------------------------------------------------------------
    "non_numeric_quantity": Case(
        {
            "non_numeric_quantity.csv": csv_file(
                _good(700141), line(700142, quantity="12x"), line(700143, quantity="twelve")
            )
        },
        staged=1,
        quarantined={"unparseable_quantity": 2},
    ),
    "decimal_quantity": Case(
        {"decimal_quantity.csv": csv_file(_good(700151), line(700152, quantity="1.5"))},
        staged=1,
        quarantined={"unparseable_quantity": 1},
    ),
    "non_numeric_price": Case(
        {
            "non_numeric_price.csv": csv_file(
                _good(700161), line(700162, price="£2.10"), line(700163, price="n/a")
            )
        },
        staged=1,
        quarantined={"unparseable_price": 2},
    ),
    "comma_decimal_price": Case(
        {"comma_decimal_price.csv": csv_file(_good(700171), line(700172, price='"2,55"'))},
        staged=1,
        quarantined={"unparseable_price": 1},
    ),
    "price_with_four_decimals": Case(
        {"price_with_four_decimals.csv": csv_file(_good(700181), line(700182, price="2.5555"))},
        staged=1,
        quarantined={"unparseable_price": 1},
    ),
    "huge_quantity": Case(
        {"huge_quantity.csv": csv_file(_good(700191), line(700192, quantity="99999999999"))},
        staged=1,
        quarantined={"unparseable_quantity": 1},
    ),
    "huge_price": Case(
        {"huge_price.csv": csv_file(_good(700201), line(700202, price="12345678901.5"))},
        staged=1,
        quarantined={"unparseable_price": 1},
    ),
    "extreme_real_quantities": Case(
        # The real data has a 80,995-unit order reversed the same day: kept as is.
        {
            "extreme_real_quantities.csv": csv_file(
                line(700211, quantity="80995", price="2.08"),
                line("C700212", quantity="-80995", price="2.08"),
            )
        },
        staged=2,
        check=_amounts_are_exact,
    ),
    "line_amount_out_of_range": Case(
        # Quantity and price each parse, but their product would not fit the amount's
        # decimal(18, 3); the largest product that fits is staged to the penny.
        {
            "line_amount_out_of_range.csv": csv_file(
                line(700221, quantity="1000000", price="999999999.999"),
                line(700222, quantity="2147483647", price="999999999.999"),
            )
        },
        staged=1,
        quarantined={"line_amount_out_of_range": 1},
        check=_largest_amount_is_kept,
    ),
    "negative_price_adjustment": Case(
        {
            "negative_price_adjustment.csv": csv_file(
                line(
                    "A700231",
                    stock_code="B",
                    description="Adjust bad debt",
                    quantity="1",
                    price="-11062.06",
                    customer_id="",
                )
            )
        },
        staged=1,
        check=lambda rows: _one(
            rows, is_adjustment=True, is_nonpositive_price=True, is_sales_line=False
        ),
    ),
    "zero_price": Case(
        {"zero_price.csv": csv_file(line(700241, price="0.0"))},
        staged=1,
        check=lambda rows: _one(rows, is_nonpositive_price=True, is_sales_line=False),
    ),
    # -- dates ---------------------------------------------------------------------------
    "day_first_date": Case(
        {
            "day_first_date.csv": csv_file(
                _good(700251), line(700252, invoice_date="01/12/2010 08:26")
            )
        },
        staged=1,
        quarantined={"unparseable_invoice_date": 1},
    ),
    "online_retail_i_date_in_ii_layout": Case(
        {
            "online_retail_i_date_in_ii_layout.csv": csv_file(
                _good(700261), line(700262, invoice_date="12/1/2010 8:26")
            )
        },
        staged=1,
        quarantined={"unparseable_invoice_date": 1},
    ),
    "iso_date_with_t": Case(
        {
            "iso_date_with_t.csv": csv_file(
                _good(700271), line(700272, invoice_date="2010-12-01T08:26:00")
            )
        },
        staged=1,
        quarantined={"unparseable_invoice_date": 1},
    ),
    "impossible_date": Case(
        {
            "impossible_date.csv": csv_file(
                _good(700281),
                line(700282, invoice_date="2010-02-30 10:00:00"),
                line(700283, invoice_date="2010-12-01 25:61:00"),
            )
        },
        staged=1,
        quarantined={"unparseable_invoice_date": 2},
    ),
    "date_out_of_range": Case(
        {
            "date_out_of_range.csv": csv_file(
                _good(700291),
                line(700292, invoice_date="1899-12-31 10:00:00"),
                line(700293, invoice_date="2999-01-01 00:00:00"),
            )
        },
        staged=1,
        quarantined={"invoice_date_out_of_range": 2},
    ),
    # -- missing and invalid keys ---------------------------------------------------------
    "missing_invoice": Case(
        {
            "missing_invoice.csv": csv_file(
                _good(700301), line("", quantity="7"), line("   ", quantity="8")
            )
        },
        staged=1,
        quarantined={"missing_invoice": 2},
    ),
    "missing_stock_code": Case(
        {"missing_stock_code.csv": csv_file(_good(700311), line(700312, stock_code=""))},
        staged=1,
        quarantined={"missing_stock_code": 1},
    ),
    "invalid_invoice_id": Case(
        {"invalid_invoice_id.csv": csv_file(_good(700321), line("INV-700322"))},
        staged=1,
        quarantined={"invalid_invoice_id": 1},
    ),
    "header_repeated_mid_file": Case(
        # Two exports concatenated: the second header is a row, and not a readable one.
        {"header_repeated_mid_file.csv": csv_file(_good(700331), HEADER, _good(700332))},
        staged=2,
        quarantined={"invalid_invoice_id": 1},
    ),
    "non_numeric_customer_id": Case(
        {"non_numeric_customer_id.csv": csv_file(_good(700341), line(700342, customer_id="ABC"))},
        staged=1,
        quarantined={"unparseable_customer_id": 1},
    ),
    "missing_description_and_customer": Case(
        {
            "missing_description_and_customer.csv": csv_file(
                line(700351, description="", customer_id="")
            )
        },
        staged=1,
        check=lambda rows: _one(rows, description=None, customer_id=None, has_customer=False),
    ),
    "padded_lower_case_fields": Case(
        {
            "padded_lower_case_fields.csv": csv_file(
                line(" c700361 ", quantity=" -6 ", price=" 2.55 ", customer_id="17850")
            )
        },
        staged=1,
        check=lambda rows: _one(
            rows, invoice_id="C700361", quantity=-6, customer_id="17850", is_cancellation=True
        ),
    ),
    # -- file shapes ------------------------------------------------------------------------
    "blank_lines": Case(
        # Blank lines hold no record: the CSV reader skips them, there is nothing to lose.
        {"blank_lines.csv": csv_file("", _good(700371), "", "", _good(700372), "")},
        staged=2,
    ),
    "crlf_line_ends": Case(
        {"crlf_line_ends.csv": csv_file(_good(700381), _good(700382), end="\r\n")},
        staged=2,
        check=_country_has_no_carriage_return,
    ),
    "no_final_newline": Case(
        {"no_final_newline.csv": csv_file(_good(700391)) + _good(700392).encode()},
        staged=2,
    ),
    "gzip_compressed": Case(
        {"gzip_compressed.csv.gz": gzip.compress(csv_file(_good(700401), _good(700402)))},
        staged=2,
    ),
    "empty_file": Case(
        {"empty_file.csv": b""},
        warning="empty_file.csv is empty: it adds no rows.",
    ),
    "header_only_file": Case(
        {"header_only_file.csv": csv_file()},
        warning="header_only_file.csv has only a header line: it adds no rows.",
    ),
    # -- duplicates ---------------------------------------------------------------------------
    "duplicate_rows_in_a_file": Case(
        {"duplicate_rows_in_a_file.csv": csv_file(_good(700411), _good(700411), _good(700412))},
        staged=2,
        removed_duplicates=1,
    ),
    "same_file_landed_twice": Case(
        # DEFINITIONS §2's exact-duplicate removal applies to rows: the copy adds nothing.
        {"same_file_landed_twice_a.csv": DUPLICATED, "same_file_landed_twice_b.csv": DUPLICATED},
        staged=3,
        removed_duplicates=3,
        check=_only_the_first_copy_is_staged,
        warning="same_file_landed_twice_b.csv have the same content as",
    ),
    # -- volume ---------------------------------------------------------------------------------
    "load_far_larger_than_usual": Case(
        # Landed last, 60 rows where the files before it have 1-3: the volume test warns.
        {"load_far_larger_than_usual.csv": HUGE_LOAD},
        staged=60,
    ),
}
# Refused before any model runs, each in one sentence naming the file.
REFUSED = {
    "online_retail_i_header.csv": csv_file(
        "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom",
        header="InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
    ),
    "renamed_column.csv": csv_file(line(700998), header=HEADER.replace("Description", "Desc")),
    # Spark reads no subfolder of the landing path: these rows would be skipped silently.
    "2011/late_rows.csv": csv_file(line(700999)),
}


@dataclass
class CorpusBuild:
    refused: Run
    build: Run
    tables: dict[str, Rows]
    freshness: dict[str, str]


def _land(folder: Path, files: dict[str, bytes], modified_at: float) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (modified_at, modified_at))


@pytest.fixture(scope="module")
def corpus() -> CorpusBuild:
    shutil.rmtree(STATE, ignore_errors=True)
    RAW.mkdir(parents=True)
    # Landed three days ago, one second apart in case order, the large load last: source
    # freshness (warn after 2 days) must warn, the volume test must flag the large load.
    start = time.time() - 3 * 86400
    for number, case in enumerate(CASES.values()):
        if "load_far_larger_than_usual.csv" not in case.files:
            _land(RAW, case.files, start + number)
    _land(RAW, CASES["load_far_larger_than_usual"].files, start + 3600)
    _land(RAW, REFUSED, start + 3600)

    env = state_env(STATE)
    refused = lgs("build", "--skip-docs", "--skip-report", env=env)
    for name in REFUSED:
        (RAW / name).unlink()
    (RAW / "2011").rmdir()

    # The staging layer on every row-level case, with the Spark UI on (see the socket
    # test), then source freshness and the reads, in one Spark process.
    build, (_, freshness, read) = run_steps_watched(
        {**env, "LGS_SPARK_UI": "true"},
        [
            {"kind": "dbt", "args": ["build", *STAGING_SELECTION]},
            {"kind": "dbt", "args": ["source", "freshness"]},
            {"kind": "read", "queries": QUERIES},
        ],
    )
    print(f"lgs build (refused): {refused.seconds:.0f} s; dbt build: {build.seconds:.0f} s")
    return CorpusBuild(refused, build, read["queries"], freshness["statuses"])


QUERIES = {
    "raw": "select source_file, count(*) as raw_rows from raw.online_retail_ii group by 1",
    "staged": "select * from lgs_staging.stg_online_retail__transactions",
    "quarantined": "select * from lgs_staging.stg_online_retail__quarantined_rows",
    "volume_failures": "select * from lgs_audit.assert_landed_file_volumes_are_usual",
}


def _rows_of(rows: Rows, files: dict[str, bytes]) -> Rows:
    return [row for row in rows if Path(row["source_file"]).name in files]


@pytest.mark.parametrize("name", list(CASES))
def test_case_ends_staged_or_quarantined_never_lost(corpus: CorpusBuild, name: str) -> None:
    case = CASES[name]
    raw = sum(row["raw_rows"] for row in _rows_of(corpus.tables["raw"], case.files))
    staged = _rows_of(corpus.tables["staged"], case.files)
    quarantined = _rows_of(corpus.tables["quarantined"], case.files)

    assert raw == case.raw_rows, f"Spark read {raw} rows from {list(case.files)}"
    assert len(staged) == case.staged, staged
    assert sum(row["removed_duplicates"] for row in staged) == case.removed_duplicates
    assert dict(Counter(row["quarantine_reason"] for row in quarantined)) == case.quarantined
    assert raw == len(staged) + case.removed_duplicates + len(quarantined)
    for row in quarantined:
        raw_text = [value for key, value in row.items() if key.startswith("raw_") and value]
        assert raw_text, f"quarantined without its raw text: {row}"
    if case.check:
        case.check(staged)
    if case.warning:
        assert case.warning in corpus.build.output, corpus.build.output[-6000:]


def test_build_passes_its_tests_and_conservation_holds(corpus: CorpusBuild) -> None:
    output = corpus.build.output
    assert "assert_raw_rows_conserved" in output and "ERROR=0" in output, output[-6000:]
    raw = sum(row["raw_rows"] for row in corpus.tables["raw"])
    staged = corpus.tables["staged"]
    removed = sum(row["removed_duplicates"] for row in staged)
    assert raw == len(staged) + removed + len(corpus.tables["quarantined"])
    assert raw == sum(case.raw_rows for case in CASES.values())


def test_unusual_load_volume_warns_and_its_row_is_stored(corpus: CorpusBuild) -> None:
    [failure] = corpus.tables["volume_failures"]
    assert failure["load_id"].endswith("/load_far_larger_than_usual.csv")
    assert failure["load_rows"] == 60 and failure["earlier_loads"] == 30
    assert failure["ratio_to_median"] > 5
    assert (
        "WARN 1 assert_landed_file_volumes_are_usual" in corpus.build.output.replace("  ", " ")
        or "Warning in test assert_landed_file_volumes_are_usual" in corpus.build.output
    )


def test_bad_files_refused_in_one_sentence_each(corpus: CorpusBuild) -> None:
    output = corpus.refused.output
    assert corpus.refused.returncode != 0, output[-6000:]
    assert (
        f"Landed file file:{RAW}/online_retail_i_header.csv has the Online Retail (I) header"
    ) in output, output[-6000:]
    assert "land it with `lgs import`" in output
    assert (
        f"Landed file file:{RAW}/renamed_column.csv has a header that does not match the "
        "contract: column 3 is `Desc` where `Description` is expected."
    ) in output
    assert f"The landing path {RAW} has a subfolder 2011, whose files Spark does not read" in (
        output
    )
    for marker in STACK_TRACE_MARKERS:
        assert marker not in output, output[-6000:]
    # Refused before any model ran: nothing was built.
    assert "OK created" not in output and "START sql" not in output
    # Refused once, by the freshness step's run of the hook: `lgs build` does not start a
    # build that would stop at the same check, and says so.
    assert output.count("has the Online Retail (I) header") == 1, output[-6000:]
    assert "$ dbt build" not in output
    assert "Not building: dbt stopped before checking any source" in output


def test_build_listened_on_loopback_only_with_the_spark_ui_on(corpus: CorpusBuild) -> None:
    sockets = corpus.build.sockets
    # py4j gateway, driver RPC, block manager and the web UI at least.
    assert len({port for _, port in sockets}) >= 4, sockets
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets


def test_source_freshness_warns_when_nothing_landed_for_two_days(corpus: CorpusBuild) -> None:
    # `dbt source freshness` runs the on-run-start hook too (registration, file check).
    assert corpus.freshness["source.lgs_analytics.online_retail.online_retail_ii"] == "warn"
