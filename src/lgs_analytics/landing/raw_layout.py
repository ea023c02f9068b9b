"""The raw Online Retail II layout: column names, text formats and business constants.

Shared by the synthetic generator and the real-file importer so that both write byte-for-byte
the same CSV dialect (the one pandas ``to_csv(index=False)`` produces for the UCI data).
"""

from __future__ import annotations

RAW_COLUMNS: tuple[str, ...] = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)
"""Header of the Online Retail II export, in file order."""

LEGACY_COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
"""Header of the older Online Retail (I) export, same meaning column by column."""

CSV_HEADER = ",".join(RAW_COLUMNS) + "\n"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LEGACY_DATE_FORMAT = "%m/%d/%Y %H:%M"
MANIFEST_NAME = "_manifest.json"  # leading underscore: Spark skips it when reading the folder

RAW_CSV_OPTIONS: dict[str, str] = {
    "header": "true",
    "encoding": "UTF-8",
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": "_corrupt_record",
    "multiLine": "false",
    "quote": '"',
    "escape": '"',
    "enforceSchema": "false",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "nullValue": "",
    "emptyValue": "",
}
"""Spark CSV options of the raw table (``macros/register_raw_source.sql``), for readers
outside dbt: the plain-PySpark benchmark and the cleansing tests. A unit test keeps the
macro's ``options (...)`` block equal to this."""

SERVICE_CODES: frozenset[str] = frozenset(
    {
        "POST",
        "DOT",
        "C2",
        "C3",
        "M",
        "ADJUST",
        "ADJUST2",
        "B",
        "AMAZONFEE",
        "BANK CHARGES",
        "CRUK",
        "D",
        "S",
        "TEST001",
        "TEST002",
        "GIFT",
    }
)
SERVICE_CODE_PREFIXES: tuple[str, ...] = ("gift_0001_",)


def is_service_code(stock_code: str) -> bool:
    """True for postage, fees, manual entries, tests, vouchers (DEFINITIONS §2); case-sensitive."""
    code = stock_code.strip()
    return code in SERVICE_CODES or code.startswith(SERVICE_CODE_PREFIXES)


def part_file_name(index: int, extension: str) -> str:
    """Name of the index-th data file, e.g. ``part-00003.csv``."""
    return f"part-{index:05d}.{extension}"


def quote_csv_field(value: str) -> str:
    """Quote a field the way Python's csv module does with QUOTE_MINIMAL (pandas' default)."""
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def format_price_milli(milli: int) -> str:
    """Render a price held in thousandths of a pound like ``repr(float)`` does: 2.55, 15.0."""
    sign = "-" if milli < 0 else ""
    whole, fraction = divmod(abs(milli), 1000)
    digits = f"{fraction:03d}".rstrip("0") or "0"
    return f"{sign}{whole}.{digits}"


def format_decimal_milli(milli: int) -> str:
    """Render an exact amount in thousandths with three decimals, e.g. ``20972968.120``."""
    sign = "-" if milli < 0 else ""
    whole, fraction = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{fraction:03d}"
