"""The pandas reference: raw file reading, cleansing (DEFINITIONS §2), monthly marts (§3)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from lgs_analytics.landing.raw_layout import RAW_COLUMNS, RAW_CSV_OPTIONS
from lgs_analytics.reference import marts
from lgs_analytics.reference.cleansing import (
    QUARANTINE_REASONS,
    TRANSACTION_COLUMNS,
    cleanse,
    load_raw_lines,
    load_service_codes,
    split_csv_line,
)
from lgs_analytics.reference.pipeline import run_reference
from lgs_testing import PROJECT_ROOT

HEADER = ",".join(RAW_COLUMNS)
GOOD = (
    "489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,"
    "United Kingdom"
)


def write_part(folder: Path, lines: list[str] | bytes, name: str = "part-00000.csv") -> Path:
    """A raw file with a header; ``bytes`` are written as they are (header included)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(lines, bytes):
        path.write_bytes(lines)
    else:
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def row(
    *,
    invoice: str = "489434",
    stock_code: str = "85048",
    description: str = "CAT BOWL",
    quantity: str = "12",
    invoice_date: str = "2009-12-01 07:45:00",
    price: str = "6.95",
    customer: str = "13085.0",
    country: str = "United Kingdom",
) -> str:
    return ",".join(
        [invoice, stock_code, description, quantity, invoice_date, price, customer, country]
    )


def cleansed(tmp_path: Path, lines: list[str] | bytes, **options):
    return cleanse(load_raw_lines(write_part(tmp_path / "raw", lines).parent), **options)


# --- reading the files -----------------------------------------------------------------------


def test_reader_fields_line_numbers_and_blank_lines(tmp_path):
    content = (
        f"{HEADER}\r\n"
        f"{GOOD}\r\n"
        "\r\n"
        '489435,22350," CAT BOWL, BLUE ",12,2009-12-01 07:46:00,2.55,,United Kingdom\r'
        "   \t \n"
        "489436,22351,,1,2009-12-01 07:47:00,1.25,12346.0\n"
    ).encode()
    raw = load_raw_lines(write_part(tmp_path / "raw", content).parent)
    # Blank lines (also whitespace-only) are skipped but still counted as physical lines;
    # a lone CR ends a line as in Hadoop's line reader.
    assert raw["line_number"].tolist() == [2, 4, 6]
    assert raw["raw_line"].iloc[0] == GOOD
    assert raw.loc[1, "Description"] == " CAT BOWL, BLUE "  # quotes removed, spaces kept
    assert pd.isna(raw.loc[1, "Customer ID"])  # empty field → null
    assert raw["field_count"].tolist() == [8, 8, 7]
    assert raw["is_wrong_column_count"].tolist() == [False, False, True]
    assert pd.isna(raw.loc[2, "Country"])  # a short row is padded with nulls
    assert set(raw["source_file"]) == {"part-00000.csv"}


def test_reader_reads_every_part_file_with_its_own_header(tmp_path):
    folder = tmp_path / "raw"
    write_part(folder, [GOOD], "part-00000.csv")
    write_part(folder, [row(invoice="489500")], "part-00001.csv")
    write_part(folder, [row(invoice="999999")], "_part-00002.csv")  # hidden: not data
    (folder / "_manifest.json").write_text("{}", encoding="utf-8")
    raw = load_raw_lines(folder)
    assert raw["Invoice"].tolist() == ["489434", "489500"]
    assert raw["source_file"].tolist() == ["part-00000.csv", "part-00001.csv"]


def test_reader_refuses_a_file_with_another_header(tmp_path):
    legacy = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    write_part(tmp_path / "raw", f"{legacy}\n{GOOD}\n".encode())
    with pytest.raises(ValueError, match="header"):
        load_raw_lines(tmp_path / "raw")


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ('a,"b,c",d', ["a", "b,c", "d"]),
        ('a,"say ""hi""",d', ["a", 'say "hi"', "d"]),  # RFC 4180: a doubled quote escapes
        ('a,"x\\y",d', ["a", "x\\y", "d"]),  # a backslash is an ordinary character
        ('a,"x" ,d', ["a", "x", "d"]),  # blanks after a closing quote are dropped
        ('a,b"c,d', ["a", 'b"c', "d"]),  # a quote inside an unquoted value is a character
        ('a,"open,d', ["a", "open,d"]),  # an unclosed quote runs to the end of the line
        ("a,,", ["a", "", ""]),
    ],
)
def test_split_csv_line_like_spark(line, fields):
    assert split_csv_line(line) == fields


def test_raw_csv_options_are_those_of_the_registered_table():
    """The readers outside dbt use the raw table's CSV dialect, option for option."""
    ddl = (PROJECT_ROOT / "macros" / "register_raw_source.sql").read_text()
    block = re.search(r"\boptions \((.*?)\n\s*\)", ddl, re.S)
    assert block, "no options (...) block in register_raw_source.sql"
    options = dict(re.findall(r"^\s*(\w+) '(.*)',?$", block.group(1), re.M))
    options.pop("path")
    assert options == RAW_CSV_OPTIONS


def tricky_lines(count: int, seed: int) -> list[str]:
    """Lines full of quotes, escapes, delimiters and blanks, after a fixed first field."""
    rng = random.Random(seed)
    alphabet = ["a", "é", ",", '"', '"', "\\", " ", "\t", "\0"]
    tails = ["x", '"y"', "", '"z,w"', " ", "\\"]
    lines = []
    for number in range(count):
        middle = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        tail = ",".join(rng.choice(tails) for _ in range(rng.randint(4, 7)))
        lines.append(f"id{number},{middle},{tail}")
    return lines


def test_reader_matches_spark_csv_reader(spark, tmp_path):
    folder = tmp_path / "raw"
    lines = [GOOD, *tricky_lines(400, seed=5), HEADER, "\0starts with NUL,,,,,,,"]
    body = "\n".join(lines[:200]) + "\r\n\r\n" + "\r".join(lines[200:]) + "\n"
    (folder).mkdir()
    (folder / "part-00000.csv").write_bytes((HEADER + "\n" + body).encode() + b"bad \xff\n")
    schema = ", ".join(f"`{name}` string" for name in [*RAW_COLUMNS, "_corrupt_record"])
    expected = spark.read.schema(schema).options(**RAW_CSV_OPTIONS).csv(str(folder)).collect()
    actual = load_raw_lines(folder)
    assert len(actual) == len(expected) == len(lines) + 1
    for (_, mine), theirs in zip(actual.iterrows(), expected, strict=True):
        fields = [None if pd.isna(mine[name]) else mine[name] for name in RAW_COLUMNS]
        assert fields == [theirs[name] for name in RAW_COLUMNS], mine["raw_line"]
        assert mine["is_wrong_column_count"] == (theirs["_corrupt_record"] is not None)


# --- quarantine --------------------------------------------------------------------------------

QUARANTINED_ROWS = {
    "wrong_column_count": [GOOD + ",extra", "489434,85048,CAT BOWL"],
    "missing_invoice": [row(invoice="  "), row(invoice="")],
    "missing_stock_code": [row(stock_code=" ")],
    "invalid_invoice_id": [row(invoice="48-9434"), row(invoice="AB489434"), row(invoice="C")],
    "unparseable_quantity": [
        row(quantity="twelve"),
        row(quantity="1.0"),
        row(quantity="2147483648"),
        row(quantity="-2147483649"),
        row(quantity=""),
    ],
    "unparseable_invoice_date": [
        row(invoice_date="2009-12-01 7:45"),
        row(invoice_date="12/1/2009 7:45"),
        row(invoice_date="2011-02-29 10:00:00"),
        row(invoice_date="2011-12-01 24:00:00"),
        row(invoice_date="1500-02-29 10:00:00"),  # not a leap year (proleptic Gregorian)
    ],
    "invoice_date_out_of_range": [
        row(invoice_date="1999-12-31 23:59:59"),
        row(invoice_date="2100-01-01 00:00:00"),
        row(invoice_date="1600-02-29 10:00:00"),  # real date, beyond pandas' timestamps
    ],
    "unparseable_price": [
        row(price="1.2345"),
        row(price="1e3"),
        row(price="1000000000"),
        row(price="-1000000000.5"),
        row(price=".5"),
        row(price="N/A"),
    ],
    "line_amount_out_of_range": [
        row(quantity="2147483647", price="999999999.999"),
        row(quantity="-1000001", price="999999999.999"),  # just over: 1.000000999999e15
    ],
    "unparseable_customer_id": [row(customer="13085.5"), row(customer="C13085")],
}
READABLE_ROWS = [
    GOOD,
    row(invoice_date="2000-01-01 00:00:00"),
    row(invoice_date="2099-12-31 23:59:59"),
    row(price="1.2340"),
    row(price="999999999.999"),
    row(quantity="+5"),
    row(quantity="2147483647"),
    row(quantity="-2147483648"),
    row(quantity="1000000", price="999999999.999"),  # largest line_amount that fits
    row(customer=" 0013085.00 "),
]


def test_every_quarantine_reason(tmp_path):
    lines = [*READABLE_ROWS]
    expected_reasons = {}
    for reason, rows in QUARANTINED_ROWS.items():
        for text in rows:
            lines.append(text)
            expected_reasons[len(lines) + 1] = reason  # +1: the header is line 1
    encoded = "\n".join([HEADER, *lines]).encode()
    encoded += b"\n489434,85048,CAT \xff BOWL,12,2009-12-01 07:45:00,6.95,13085.0,UK\n"
    expected_reasons[len(lines) + 2] = "invalid_encoding"

    result = cleansed(tmp_path, encoded)
    reasons = dict(
        zip(result.quarantine["line_number"], result.quarantine["quarantine_reason"], strict=True)
    )
    assert reasons == expected_reasons
    assert set(reasons.values()) == set(QUARANTINE_REASONS)
    assert len(result.transactions) == len(READABLE_ROWS)
    # The quarantine keeps the raw text of the row.
    first = result.quarantine.iloc[0]
    assert first["raw_line"] == GOOD + ",extra"
    assert first["Invoice"] == "489434"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # each row fails several checks: the first in the order of DEFINITIONS §2 is recorded
        (row(invoice="", stock_code="", quantity="x"), "missing_invoice"),
        (row(stock_code="", quantity="x", price="y"), "missing_stock_code"),
        (row(invoice="X-1", quantity="x"), "invalid_invoice_id"),
        (row(quantity="x", invoice_date="never"), "unparseable_quantity"),
        (row(invoice_date="1999-01-01 00:00:00", price="y"), "invoice_date_out_of_range"),
        (row(price="y", customer="z"), "unparseable_price"),
        (row(description="CAT \ufffd BOWL", invoice=""), "invalid_encoding"),
    ],
)
def test_first_failing_check_wins(tmp_path, text, reason):
    result = cleansed(tmp_path, [text])
    assert result.quarantine["quarantine_reason"].tolist() == [reason]


# --- duplicates --------------------------------------------------------------------------------


def test_exact_duplicates_are_removed_once_and_nothing_is_lost(tmp_path):
    no_customer = row(customer="")
    lines = [
        GOOD,
        GOOD,
        GOOD,  # three copies: two removed
        no_customer,
        no_customer,  # nulls compare equal
        row(description="CAT BOWL "),  # differs in raw text from row(): not a duplicate
        row(),
        row(quantity="x"),
        row(quantity="x"),  # quarantined twice, never counted as duplicates
    ]
    result = cleansed(tmp_path, lines)
    assert result.duplicates_removed == 3
    assert len(result.transactions) == 4
    assert len(result.quarantine) == 2
    # The kept copy carries the staging model's id and the number of copies dropped.
    raw_text = "\x1f".join(GOOD.split(","))
    row_hash = hashlib.sha256(raw_text.encode()).hexdigest()
    first = result.transactions.iloc[0]
    assert first["transaction_id"] == hashlib.sha256(f"{row_hash}:1".encode()).hexdigest()
    assert result.transactions["removed_duplicates"].tolist() == [2, 1, 0, 0]
    raw_rows = len(lines)
    assert raw_rows == len(result.transactions) + len(result.quarantine) + 3

    kept_all = cleanse(load_raw_lines(tmp_path / "raw"), deduplicate=False)
    assert kept_all.duplicates_removed == 0
    assert len(kept_all.transactions) == 7
    assert kept_all.transactions["transaction_id"].is_unique
    assert (kept_all.transactions["removed_duplicates"] == 0).all()


# --- typed, cleaned transactions ---------------------------------------------------------------


def test_cleaned_values_and_flags(tmp_path):
    lines = [
        row(invoice=" c489449 ", quantity="-12", customer="16321.0"),
        row(invoice="A506401", stock_code="B", quantity="1", price="-53594.36", customer=""),
        row(stock_code=" POST ", description="POSTAGE", quantity="3", price="18.00"),
        row(stock_code="post", description="  ", quantity="3", price="0.335"),
        row(stock_code="gift_0001_10", quantity="1", price="8.5"),
        row(stock_code="BANK CHARGES", quantity="1", price="15"),
        row(stock_code="85123a", quantity="6", price="0", customer="13085"),
        row(invoice="536365", stock_code="85123A", quantity="6", price="2.55"),
    ]
    result = cleansed(tmp_path, lines)
    tx = result.transactions
    assert list(tx.columns) == list(TRANSACTION_COLUMNS)
    assert tx["invoice_id"].tolist() == ["C489449", "A506401", *["489434"] * 5, "536365"]
    assert tx["invoice_number"].tolist() == [489449, 506401, *[489434] * 5, 536365]
    assert tx["is_cancellation"].tolist() == [True] + [False] * 7
    assert tx["is_adjustment"].tolist() == [False, True] + [False] * 6
    # Service codes are exact and case-sensitive, or the gift voucher prefix.
    assert tx["stock_code"].tolist()[2:4] == ["POST", "post"]
    assert tx["is_service_code"].tolist() == [False, True, True, False, True, True, False, False]
    customers = tx["customer_id"]
    assert customers[0] == "16321" and pd.isna(customers[1]) and customers[2] == "13085"
    assert tx["has_customer"].tolist() == [True, False] + [True] * 6
    assert pd.isna(tx.loc[3, "description"])  # blank description → null
    assert tx["quantity"].tolist() == [-12, 1, 3, 3, 1, 1, 6, 6]
    assert tx["unit_price_milli"].tolist() == [6950, -53594360, 18000, 335, 8500, 15000, 0, 2550]
    # 3 × 0.335 = 1.005 exactly (a float product would be 1.0050000000000001).
    assert tx["line_amount_milli"].tolist() == [
        -83400,
        -53594360,
        54000,
        1005,
        8500,
        15000,
        0,
        15300,
    ]
    assert tx["is_nonpositive_price"].tolist() == [False, True] + [False] * 4 + [True, False]
    # Sales lines: not C/A, not a service code, quantity > 0 and price > 0.
    assert tx["is_sales_line"].tolist() == [False, False, False, True, False, False, False, True]
    assert tx["invoiced_at"].iloc[0] == pd.Timestamp("2009-12-01 07:45:00")
    assert tx["invoice_date"].iloc[0] == pd.Timestamp("2009-12-01")
    assert tx["month_start"].iloc[0] == pd.Timestamp("2009-12-01")
    assert tx["year_month"].iloc[0] == 200912


def test_service_codes_come_from_the_seed():
    codes = load_service_codes()
    assert {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE", "TEST002", "GIFT"} <= codes.exact
    assert codes.prefixes == ("gift_0001_",)


# --- monthly marts -------------------------------------------------------------------------------


def month_rows() -> list[str]:
    """Dec 2009 to Mar 2010, nothing sold in Feb, data ending on 15 March."""
    return [
        row(invoice="500001", customer="1", invoice_date="2009-12-03 10:00:00", price="10"),
        row(invoice="500001", customer="1", invoice_date="2009-12-03 10:00:00", stock_code="2"),
        row(invoice="500002", customer="", invoice_date="2009-12-20 10:00:00", price="5"),
        row(invoice="C500003", customer="1", invoice_date="2009-12-21 10:00:00", quantity="-1"),
        row(invoice="500004", customer="2", invoice_date="2010-01-05 10:00:00", price="20"),
        row(invoice="500005", customer="1", invoice_date="2010-01-06 10:00:00", price="1"),
        row(invoice="500006", stock_code="POST", invoice_date="2010-02-10 10:00:00", price="3"),
        row(invoice="500007", customer="3", invoice_date="2010-03-15 12:00:00", price="2.5"),
    ]


def test_monthly_marts_cover_every_month(tmp_path):
    tx = cleansed(tmp_path, month_rows()).transactions
    sales = marts.monthly_sales(tx)
    # Quantity 12 everywhere: Dec = 12·10 + 12·6.95 + 12·5, Jan = 12·20 + 12·1, Feb nothing
    # sold (postage is not a sale), Mar = 12·2.5.
    assert sales["year_month"].tolist() == [200912, 201001, 201002, 201003]
    assert sales["month_start"].tolist() == [
        dt.date(2009, 12, 1),
        dt.date(2010, 1, 1),
        dt.date(2010, 2, 1),
        dt.date(2010, 3, 1),
    ]
    assert sales["sales_amount"].tolist() == [
        Decimal("263.400"),
        Decimal("252.000"),
        Decimal("0.000"),
        Decimal("30.000"),
    ]
    assert sales["previous_sales_amount"].tolist()[1:] == [
        Decimal("263.400"),
        Decimal("252.000"),
        Decimal("0.000"),
    ]
    growth = sales["sales_growth_pct"].tolist()
    assert pd.isna(growth[0]) and pd.isna(growth[3])  # first month; previous month is 0
    assert growth[1] == pytest.approx((252 - 263.4) / 263.4 * 100)
    assert growth[2] == pytest.approx(-100.0)
    assert sales["sales_lines"].tolist() == [3, 2, 0, 1]
    assert sales["is_partial_month"].tolist() == [False, False, False, True]

    orders = marts.monthly_orders(tx)
    assert orders["placed_orders"].tolist() == [2, 2, 1, 1]  # postage invoice is an order
    assert orders["cancelled_orders"].tolist() == [1, 0, 0, 0]
    assert orders["cancellation_rate_pct"].tolist() == [50.0, 0.0, 0.0, 0.0]

    users = marts.monthly_new_existing_users(tx)
    assert users["new_users"].tolist() == [1, 1, 0, 1]
    assert users["existing_users"].tolist() == [0, 1, 0, 0]
    share = users["new_user_share_pct"].tolist()
    assert share[:2] == [100.0, 50.0] and pd.isna(share[2]) and share[3] == 100.0
    assert (users["active_users"] == marts.monthly_active_users(tx)["active_users"]).all()


def test_last_month_is_complete_when_data_reaches_its_last_day(tmp_path):
    lines = [row(invoice_date="2011-11-30 17:00:00")]
    sales = marts.monthly_sales(cleansed(tmp_path, lines).transactions)
    assert sales["is_partial_month"].tolist() == [False]


def test_run_reference_publishes_every_table(tmp_path):
    write_part(tmp_path / "raw", month_rows())
    tables = run_reference(tmp_path / "raw", histogram_bins=5)
    assert set(tables) == {
        "stg_transactions",
        "stg_quarantine",
        "monthly_sales",
        "monthly_orders",
        "monthly_active_users",
        "monthly_new_existing_users",
        "customer_rfm_scores",
        "rfm_segment_summary",
        "invoice_amounts",
        "invoice_amount_distribution",
        "invoice_amount_histogram",
    }
    assert tables["customer_rfm_scores"]["customer_id"].tolist() == ["1", "2", "3"]
    assert len(tables["rfm_segment_summary"]) == 10
    assert len(tables["invoice_amount_histogram"]) == 5
    assert tables["invoice_amount_distribution"]["invoice_count"].tolist()[0] == 5
