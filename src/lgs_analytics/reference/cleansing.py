"""Reading and cleansing raw Online Retail II files with pandas (DEFINITIONS §1–§2).

:func:`load_raw_lines` reads the landing zone the way the project's Spark CSV table does
(``macros/register_raw_source.sql``: every column a string, ``multiLine false``, quote ``"``,
escape ``\\``, empty field = null, a row without eight fields flagged as corrupt), and
:func:`cleanse` applies the staging rules: one quarantine reason per unreadable row, exact
duplicates removed once, typed and flagged transactions.

Spark's CSV reader is univocity-parsers; rows with unusual quoting (a doubled quote inside a
quoted field, text after a closing quote, an unclosed quote) are tokenised by a port of the
univocity code path Spark uses, so that the reference splits fields exactly where Spark does.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lgs_analytics.landing.raw_layout import RAW_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SERVICE_CODES_SEED = PROJECT_ROOT / "seeds" / "service_stock_codes.csv"

QUARANTINE_REASONS: tuple[str, ...] = (
    "wrong_column_count",
    "invalid_encoding",
    "missing_invoice",
    "missing_stock_code",
    "invalid_invoice_id",
    "unparseable_quantity",
    "unparseable_invoice_date",
    "invoice_date_out_of_range",
    "unparseable_price",
    "line_amount_out_of_range",
    "unparseable_customer_id",
)
"""Quarantine reasons in the order they are tested: the first that applies is recorded."""

LINE_AMOUNT_LIMIT_MILLI = 10**18
"""|quantity × price| in thousandths from which line_amount no longer fits decimal(18, 3)."""

LINE_COLUMNS: tuple[str, ...] = ("source_file", "line_number", "raw_line")
"""Where a raw row came from, in front of the eight raw columns of :func:`load_raw_lines`."""

TRANSACTION_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "invoice_id",
    "stock_code",
    "description",
    "customer_id",
    "country",
    "invoice_number",
    "quantity",
    "unit_price_milli",
    "line_amount_milli",
    "removed_duplicates",
    "is_cancellation",
    "is_adjustment",
    "is_service_code",
    "has_customer",
    "is_nonpositive_price",
    "is_sales_line",
    "invoice_date",
    "month_start",
    "year_month",
    "invoiced_at",
)
"""Columns of :attr:`Cleansed.transactions`: money in integer thousandths of a pound, text as
Arrow-backed strings (missing = ``pd.NA``), dates as ``datetime64`` at midnight."""

STRING = pd.StringDtype("pyarrow")
"""Text columns are Arrow strings: pandas then runs string checks in C++, not per row."""

REPLACEMENT_CHARACTER = "\ufffd"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FIRST_VALID_YEAR, FIRST_INVALID_YEAR = 2000, 2100
# Java's String.trim(), used by Spark to find blank lines, strips every char <= U+0020.
JAVA_TRIM_CHARS = "".join(chr(code) for code in range(0x21))
# Hadoop's LineRecordReader ends a line at LF, CR or CRLF.
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_OTHER_LINE_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")

_NUL = "\0"
_DELIMITER = ","
_NEWLINE = "\n"
_QUOTE = '"'


# The raw table reads RFC 4180 CSV: quotes inside quoted fields are doubled
# (`escape '"'` in macros/register_raw_source.sql).
RAW_ESCAPE = '"'


class _EndOfLineError(Exception):
    """The tokenizer read past the last character of the line (univocity's EOFException)."""


class _UnivocityLineTokenizer:
    """Port of ``CsvParser.parseLine`` (univocity-parsers 2.9, Spark's CSV tokenizer).

    Only the code path of Spark's read options is ported: single-character delimiter ``,``,
    quote ``"``, configurable escape (Spark's default ``\\``, which also escapes itself),
    unquoted values taken literally, no whitespace trimming, unescaped quotes handled with
    ``STOP_AT_DELIMITER`` and no comment lines. Java's sentinel ``'\\0'`` for
    "no previous character" is kept on purpose: it is what makes the quirks match.
    """

    def __init__(self, line: str, escape: str) -> None:
        self.text = line
        self.position = 0
        self.quote_escape = escape
        # Spark lets the escape character escape itself only when it is a backslash.
        self.escape_escape = escape if escape == "\\" else _NUL
        self.ch = _NUL
        self.prev = _NUL
        self.unescaped = False
        self.buffer: list[str] = []
        self.values: list[str] = []

    def tokens(self) -> list[str]:
        """The line's fields, empty values as ``""``."""
        try:
            self.ch = self._next_char()
            self._parse_record()
        except _EndOfLineError:
            return self._handle_end_of_line()
        return self.values

    def _next_char(self) -> str:
        if self.position >= len(self.text):
            raise _EndOfLineError
        char = self.text[self.position]
        self.position += 1
        return char

    def _value_parsed(self) -> None:
        self.values.append("".join(self.buffer))
        self.buffer.clear()

    def _append_until(self, char: str, stops: str) -> str:
        while char not in stops:
            self.buffer.append(char)
            char = self._next_char()
        return char

    @staticmethod
    def _is_whitespace(char: str) -> bool:
        # Spark leaves univocity's whitespace range start at its default, so U+0000 counts.
        return char <= " "

    def _quoted_value_fast_path(self) -> str | None:
        """univocity's ``getQuotedString``: a quoted value closed right before a delimiter.

        None sends the value through the general path, as in Java. The two paths differ on
        U+0000 inside quotes when the escape is ``"``, hence the faithful port of both.
        """
        text, start = self.text, self.position
        index = start
        while True:
            if index >= len(text):
                return None
            char = text[index]
            if char == _QUOTE:
                if text[index - 1] == self.quote_escape:
                    return None
                if index + 1 < len(text) and text[index + 1] in (_DELIMITER, _NEWLINE):
                    break
                return None
            if (
                char == self.quote_escape
                and index + 1 < len(text)
                and text[index + 1] in (_QUOTE, self.escape_escape)
            ):
                return None
            index += 1
        self.position = index + 1
        return text[start:index]

    def _parse_record(self) -> None:
        while self.ch != _NEWLINE:
            if self.ch == _DELIMITER:
                self.values.append("")
            else:
                self.unescaped = False
                self.prev = _NUL
                value = self._quoted_value_fast_path() if self.ch == _QUOTE else None
                if value is not None:
                    self.values.append(value)
                    self.ch = self._next_char()
                    if self.ch == _DELIMITER:
                        try:
                            self.ch = self._next_char()
                        except _EndOfLineError:
                            self.values.append("")
                            return
                    continue
                if self.ch == _QUOTE:
                    self._parse_quoted_value()
                else:
                    self.ch = self._append_until(self.ch, _DELIMITER + _NEWLINE)
                self._value_parsed()
            if self.ch != _NEWLINE:
                self.ch = self._next_char()
                if self.ch == _NEWLINE:
                    self.values.append("")

    def _handle_unescaped_quote(self) -> None:
        self.unescaped = True
        self.buffer.append(_QUOTE)
        self.buffer.append(self.ch)
        self.prev = self.ch
        self._parse_quoted_value()

    def _handle_unescaped_quote_in_value(self) -> None:
        self.buffer.append(_QUOTE)
        self.prev = self.ch
        self._parse_value_processing_escape()

    def _process_quote_escape(self) -> None:
        escape = self.quote_escape
        if self.ch == escape and self.prev == self.escape_escape and self.escape_escape != _NUL:
            self.buffer.append(escape)
            self.ch = _NUL
        elif self.prev == escape:
            if self.ch == _QUOTE:
                self.buffer.append(_QUOTE)
                self.ch = _NUL
            else:
                self.buffer.append(self.prev)
        elif self.ch == _QUOTE and self.prev == _QUOTE:
            self.buffer.append(_QUOTE)
        elif self.prev == _QUOTE:
            self._handle_unescaped_quote_in_value()

    def _parse_value_processing_escape(self) -> None:
        while self.ch not in (_DELIMITER, _NEWLINE):
            if self.ch not in (_QUOTE, self.quote_escape):
                if self.prev == _QUOTE:
                    self._handle_unescaped_quote_in_value()
                    return
                self.buffer.append(self.ch)
            else:
                self._process_quote_escape()
            self.prev = self.ch
            self.ch = self._next_char()

    def _parse_quoted_value(self) -> None:
        if self.prev != _NUL:
            # STOP_AT_DELIMITER after an unescaped quote: the rest of the value is literal.
            self.buffer.insert(0, _QUOTE)
            self.ch = self._next_char()
            self.ch = self._append_until(self.ch, _DELIMITER + _NEWLINE)
            return
        self.ch = self._next_char()
        stops = _QUOTE + self.quote_escape + self.escape_escape
        while True:
            if self.prev == _QUOTE and (
                self._is_whitespace(self.ch) or self.ch in (_DELIMITER, _NEWLINE)
            ):
                break
            if self.ch not in (_QUOTE, self.quote_escape):
                if self.prev == _QUOTE:
                    self._handle_unescaped_quote()
                    return
                if self.prev == self.quote_escape and self.quote_escape != _NUL:
                    self.buffer.append(self.quote_escape)
                self.ch = self._append_until(self.ch, stops)
                self.prev = self.ch
                self.ch = self._next_char()
            else:
                self._process_quote_escape()
                self.prev = self.ch
                self.ch = self._next_char()
                if self.unescaped and self.ch in (_DELIMITER, _NEWLINE):
                    return
        # Whitespace after a closing quote is dropped unless more text follows it.
        if self.ch not in (_DELIMITER, _NEWLINE) and self._is_whitespace(self.ch):
            whitespace: list[str] = []
            while True:
                whitespace.append(self.ch)
                self.ch = self._next_char()
                if self.ch == _NEWLINE:
                    return
                if not self._is_whitespace(self.ch):
                    break
            if self.ch != _DELIMITER:
                self.buffer.append(_QUOTE)
                self.buffer.extend(whitespace)
                self.buffer.append(self.ch)
                self.prev = self.ch
                self._parse_quoted_value()

    def _consume_value_on_end_of_line(self) -> bool:
        if self.ch == _QUOTE:
            if self.prev == _QUOTE:
                return True
            if not self.unescaped:
                self.buffer.append(_QUOTE)
        consumed = self.prev != _NUL and self.ch not in (_DELIMITER, _NEWLINE)
        self.ch = self.prev = _NUL
        return consumed

    def _handle_end_of_line(self) -> list[str]:
        consumed = self._consume_value_on_end_of_line()
        # A non-empty line always has parsed content, so univocity's branches reduce to this.
        if self.buffer or consumed:
            self._value_parsed()
        else:
            self.values.append("")
        return self.values


# A line whose quoted fields are all plain ("..." without quote or escape inside, closed right
# before a delimiter) is split identically by univocity and by Python's csv module (C speed).
_PLAIN_QUOTED_LINE = re.compile(r'(?:[^",][^,]*|"[^"\\]*"|)(?:,(?:[^",][^,]*|"[^"\\]*"|))*')


def split_csv_line(line: str, escape: str = RAW_ESCAPE) -> list[str]:
    """Fields of one CSV line as Spark's reader (univocity) returns them, empty values ``""``."""
    if _QUOTE not in line:
        return line.split(_DELIMITER)
    if escape == "\\" and _NUL not in line and _PLAIN_QUOTED_LINE.fullmatch(line):
        return next(csv.reader([line]))
    return _UnivocityLineTokenizer(line, escape).tokens()


def _part_files(raw_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in raw_dir.glob("part-*.csv")
        if path.is_file() and not path.name.startswith(("_", "."))
    )


def _check_header(tokens: Sequence[str], path: Path) -> None:
    # enforceSchema=false: Spark refuses a file whose header does not name the columns.
    names = [token.lower() for token in tokens]
    if names != [column.lower() for column in RAW_COLUMNS]:
        raise ValueError(f"{path}: CSV header {tokens!r} does not match {list(RAW_COLUMNS)}")


def _split_lines(text: str) -> list[str]:
    """Physical lines; the element after a final line break is "" (blank, skipped later)."""
    # str.splitlines is much faster but also breaks at \v, \f, \x1c-\x1e, \x85, U+2028/9.
    if not any(char in text for char in _OTHER_LINE_BREAKS):
        return text.splitlines()
    return LINE_BREAK.split(text)


def _null_if_empty_arrow(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def _file_columns(path: Path, escape: str) -> dict[str, pa.Array]:
    """Arrow columns of one file's data rows, in line order."""
    # Spark decodes each line with Java's UTF-8 decoder, which replaces bad bytes by U+FFFD.
    # large_string: 64-bit offsets, so a file may hold more than 2 GB of text.
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = pa.array(_split_lines(text), type=pa.large_string())
    blank = pc.equal(pc.utf8_length(pc.utf8_trim(lines, JAVA_TRIM_CHARS)), 0)
    positions = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))  # Spark skips blanks
    if len(positions) == 0:
        return {}
    _check_header(split_csv_line(lines[int(positions[0])].as_py(), escape), path)
    positions = positions[1:]
    data = lines.take(positions)

    # Lines without a quote (nearly all) are split by Arrow; the rest go through the port.
    plain = pc.invert(pc.match_substring(data, _QUOTE)).to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(data.filter(pa.array(plain)), _DELIMITER)
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    width = len(RAW_COLUMNS)
    fast = np.flatnonzero(plain)[counts == width]
    fast_parts = parts.filter(pa.array(counts == width))
    slow = np.setdiff1d(np.arange(len(data)), fast, assume_unique=True)

    slow_fields: list[list[str | None]] = [[] for _ in RAW_COLUMNS]
    slow_counts = []
    for line in data.take(pa.array(slow, type=pa.int64())).to_pylist():
        tokens = split_csv_line(line, escape)
        slow_counts.append(len(tokens))
        padded = [*tokens[:width], *([None] * (width - len(tokens)))]
        for column, token in zip(slow_fields, padded, strict=True):
            column.append(token or None)

    order = np.argsort(np.concatenate([fast, slow]), kind="stable")
    rows = pa.array(np.concatenate([fast, slow])[order])
    columns: dict[str, pa.Array] = {
        "line_number": pa.array((positions + 1)[np.concatenate([fast, slow])[order]]),
        "raw_line": data.take(rows),
    }
    for index, name in enumerate(RAW_COLUMNS):
        fast_values = _null_if_empty_arrow(pc.list_element(fast_parts, index))
        slow_values = pa.array(slow_fields[index], type=pa.large_string())
        combined = pa.concat_arrays([fast_values, slow_values])
        columns[name] = combined.take(pa.array(order))
    field_counts = np.concatenate([np.full(len(fast), width), np.array(slow_counts, dtype=int)])
    columns["field_count"] = pa.array(field_counts[order].astype("int64"))
    return columns


def load_raw_lines(raw_dir: str | Path, escape: str = RAW_ESCAPE) -> pd.DataFrame:
    """Every data row of every ``part-*.csv`` in ``raw_dir``, as Spark's CSV table reads it.

    One row per non-blank line after each file's header: ``source_file``, ``line_number``
    (1-based physical line), ``raw_line`` (decoded text), the eight raw columns as strings
    (empty → null), ``field_count`` and ``is_wrong_column_count`` (field count ≠ 8; the eight
    columns then hold the first fields, padded with nulls, like Spark's partial row).
    ``escape`` is the CSV escape character of the Spark table (its default, ``\\``).
    Text columns are Arrow-backed pandas strings.
    """
    frames = []
    for path in _part_files(Path(raw_dir)):
        columns = _file_columns(path, escape)
        if not columns:
            continue
        frame = pd.DataFrame(
            {
                name: pd.arrays.ArrowStringArray(values)
                if pa.types.is_large_string(values.type)
                else values.to_numpy(zero_copy_only=False)
                for name, values in columns.items()
            }
        )
        frame.insert(0, "source_file", pd.Series(path.name, index=frame.index, dtype=STRING))
        frames.append(frame)
    columns = [*LINE_COLUMNS, *RAW_COLUMNS, "field_count"]
    if frames:
        raw = pd.concat(frames, ignore_index=True)[columns]
    else:
        raw = pd.DataFrame({name: pd.Series(dtype=STRING) for name in columns})
        raw["line_number"] = raw["line_number"].astype("int64")
        raw["field_count"] = raw["field_count"].astype("int64")
    raw["is_wrong_column_count"] = raw["field_count"] != len(RAW_COLUMNS)
    return raw


@dataclass(frozen=True)
class ServiceCodes:
    """Non-product stock codes from ``seeds/service_stock_codes.csv`` (case-sensitive)."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]


def load_service_codes(path: str | Path = SERVICE_CODES_SEED) -> ServiceCodes:
    """Read the service stock code seed (``stock_code,match_type,description``)."""
    seed = pd.read_csv(path, dtype=str, keep_default_na=False)
    unknown = set(seed["match_type"]) - {"exact", "prefix"}
    if unknown:
        raise ValueError(f"{path}: unknown match_type {sorted(unknown)}")
    exact = seed.loc[seed["match_type"] == "exact", "stock_code"]
    prefixes = seed.loc[seed["match_type"] == "prefix", "stock_code"]
    return ServiceCodes(frozenset(exact), tuple(prefixes))


def _trimmed(values: pd.Series) -> pd.Series:
    # Spark's trim() strips spaces only (not tabs); null becomes "" so that checks stay boolean.
    return values.astype(STRING).fillna("").str.strip(" ")


def _matches(values: pd.Series, pattern: str) -> pd.Series:
    return values.str.fullmatch(pattern).fillna(False).astype(bool)


def _contains(values: pd.Series, pattern: str) -> pd.Series:
    return values.str.contains(pattern, regex=True).fillna(False).astype(bool)


def _digits_to_int64(digits: pd.Series) -> pd.Series:
    """Unsigned digit strings of at most 18 significant digits as int64 ("" → 0)."""
    significant = digits.str.lstrip("0")
    return significant.where(significant != "", "0").astype("int64")


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


def _is_calendar_timestamp(text: str) -> bool:
    """``yyyy-MM-dd HH:mm:ss`` text (shape already checked) naming a real proleptic instant."""
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    return (
        1 <= month <= 12
        and 1 <= day <= _days_in_month(year, month)
        and hour < 24
        and minute < 60
        and second < 60
    )


def _parse_timestamps(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(is_parseable, is_in_range, invoiced_at) for trimmed ``InvoiceDate`` text."""
    shaped = _matches(text, r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
    parsed = pd.to_datetime(text.where(shaped), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    parseable = shaped & parsed.notna()
    # pandas cannot hold years outside 1677..2262: decide those few rows in plain Python
    # (when they name a real date, it is out of range anyway).
    leftovers = shaped & parsed.isna()
    if leftovers.any():
        parseable.loc[leftovers] = [_is_calendar_timestamp(v) for v in text[leftovers]]
    in_range = parseable & (parsed >= pd.Timestamp(FIRST_VALID_YEAR, 1, 1))
    in_range &= parsed < pd.Timestamp(FIRST_INVALID_YEAR, 1, 1)
    return parseable, in_range, parsed


def _parse_quantity(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(is_parseable, quantity as int64) for trimmed ``Quantity`` text: an int32 integer."""
    shaped = _matches(text, r"[+-]?[0-9]+")
    magnitude = text.str.lstrip("+-").str.lstrip("0")
    # More than ten significant digits is out of int32 whatever they are.
    candidate = shaped & (magnitude.str.len() <= 10)
    value = pd.Series(0, index=text.index, dtype="int64")
    sign = np.where(text.str.startswith("-").fillna(False).astype(bool), -1, 1)
    value[candidate] = _digits_to_int64(magnitude[candidate]) * sign[candidate.to_numpy()]
    return candidate & value.between(INT32_MIN, INT32_MAX), value


def _parse_price_milli(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(is_parseable, price in thousandths) for trimmed ``Price`` text, exact (no floats)."""
    shaped = _matches(text, r"[+-]?[0-9]+(\.[0-9]+)?")
    # More than three decimals once trailing zeros are dropped, or |price| >= 1e9.
    too_precise = _contains(text, r"\.[0-9]{3}[0-9]*[1-9]")
    too_large = _contains(text, r"^[+-]?0*[1-9][0-9]{9}")
    parseable = shaped & ~too_precise & ~too_large
    valid = text.where(parseable, "0")
    whole = _digits_to_int64(valid.str.replace(r"\..*$", "", regex=True).str.lstrip("+-"))
    decimals = valid.str.replace(r"^[^.]*\.?", "", regex=True).str.slice(0, 3)
    fraction = decimals.str.pad(3, side="right", fillchar="0").astype("int64")
    sign = np.where(valid.str.startswith("-").astype(bool), -1, 1)
    return parseable, (whole * 1000 + fraction) * sign


def _line_amount_milli(quantity: pd.Series, price_milli: pd.Series) -> pd.Series:
    """quantity × price in thousandths, exact: Python integers where int64 could overflow."""
    estimate = quantity.abs().astype("float64") * price_milli.abs().astype("float64")
    if (estimate < 2.0**62).all():
        return quantity.astype("int64") * price_milli.astype("int64")
    return pd.Series(
        [int(q) * int(p) for q, p in zip(quantity, price_milli, strict=True)],
        index=quantity.index,
        dtype=object,
    )


def _line_amount_out_of_range(quantity: pd.Series, price_milli: pd.Series) -> pd.Series:
    """|quantity × price| does not fit line_amount's decimal(18, 3); exact near the limit."""
    estimate = quantity.abs().astype("float64") * price_milli.abs().astype("float64")
    out_of_range = pd.Series(estimate >= 2.0 * LINE_AMOUNT_LIMIT_MILLI, index=quantity.index)
    near = (estimate >= 0.5 * LINE_AMOUNT_LIMIT_MILLI) & ~out_of_range
    for index in near[near].index:
        product = abs(int(quantity[index])) * abs(int(price_milli[index]))
        out_of_range[index] = product >= LINE_AMOUNT_LIMIT_MILLI
    return out_of_range


def quarantine_reasons(raw: pd.DataFrame) -> pd.Series:
    """The first failing check per raw row (``""`` for a readable row), DEFINITIONS §2 order."""
    return _check_rows(raw)[0]


def _check_rows(raw: pd.DataFrame) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Quarantine reasons plus the parsed columns the cleansing reuses."""
    invoice = _trimmed(raw["Invoice"])
    stock_code = _trimmed(raw["StockCode"])
    date_text = _trimmed(raw["InvoiceDate"])
    customer_text = _trimmed(raw["Customer ID"])
    invoice_id = invoice.str.upper()

    bad_encoding = pd.Series(False, index=raw.index)
    for column in RAW_COLUMNS:
        text = raw[column].astype(STRING)
        bad_encoding |= text.str.contains(REPLACEMENT_CHARACTER, regex=False).fillna(False)

    quantity_ok, quantity = _parse_quantity(_trimmed(raw["Quantity"]))
    date_ok, date_in_range, invoiced_at = _parse_timestamps(date_text)
    price_ok, price_milli = _parse_price_milli(_trimmed(raw["Price"]))
    customer_ok = (customer_text == "") | _matches(customer_text, r"[0-9]+(\.0+)?")

    checks = [
        raw["is_wrong_column_count"].astype(bool),
        bad_encoding.astype(bool),
        invoice == "",
        stock_code == "",
        ~_matches(invoice_id, r"[A-Z]?[0-9]+"),
        ~quantity_ok,
        ~date_ok,
        ~date_in_range,
        ~price_ok,
        _line_amount_out_of_range(quantity, price_milli),
        ~customer_ok,
    ]
    reasons = np.select([check.to_numpy(dtype=bool) for check in checks], QUARANTINE_REASONS, "")
    parsed = {
        "invoice_id": invoice_id,
        "stock_code": stock_code,
        "quantity": quantity,
        "invoiced_at": invoiced_at,
        "price_milli": price_milli,
        "customer_text": customer_text,
    }
    return pd.Series(reasons, index=raw.index, dtype=object), parsed


def _null_if_empty(values: pd.Series) -> pd.Series:
    return values.where(values != "")


@dataclass(frozen=True)
class Cleansed:
    """Result of :func:`cleanse`: raw rows = transactions + quarantine + duplicates_removed."""

    transactions: pd.DataFrame
    quarantine: pd.DataFrame
    duplicates_removed: int


def raw_row_hashes(raw: pd.DataFrame) -> pd.Series:
    """SHA-256 of the eight raw fields, as ``raw_row_hash`` in the staging SQL.

    ``sha2(concat_ws(U+001F, coalesce(field, U+0000), ...), 256)``: equal hashes mean equal
    raw rows (nulls equal), which is the definition of an exact duplicate.
    """
    fields = [
        pa.array(raw[column].astype(STRING).fillna(_NUL), type=pa.string())
        for column in RAW_COLUMNS
    ]
    joined = pc.binary_join_element_wise(*fields, "\x1f").to_pylist()
    digests = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in joined]
    return pd.Series(digests, index=raw.index, dtype=object)


def cleanse(
    raw: pd.DataFrame,
    deduplicate: bool = True,
    service_codes: ServiceCodes | None = None,
) -> Cleansed:
    """DEFINITIONS §2 on the output of :func:`load_raw_lines`.

    Unreadable rows go to ``quarantine`` (raw text plus ``quarantine_reason``); among the
    readable rows, exact duplicates (all eight raw strings equal, nulls equal) are kept once
    when ``deduplicate`` (the first in file and line order), and the kept row counts the
    copies dropped in ``removed_duplicates``. The rest become typed transactions
    (:data:`TRANSACTION_COLUMNS`) with the staging model's ``transaction_id``:
    ``sha2(raw_row_hash || ':' || occurrence, 256)``.
    """
    codes = service_codes or load_service_codes()
    reasons, parsed = _check_rows(raw)
    quarantined = reasons != ""
    quarantine = raw.loc[quarantined, [*LINE_COLUMNS, *RAW_COLUMNS]].copy()
    quarantine["quarantine_reason"] = reasons[quarantined]
    quarantine = quarantine.reset_index(drop=True)

    readable = raw.loc[~quarantined]
    hashes = raw_row_hashes(readable)
    groups, _ = pd.factorize(hashes)
    occurrence = pd.Series(groups, index=readable.index).groupby(groups).cumcount() + 1
    copies = pd.Series(np.bincount(groups)[groups], index=readable.index)
    if deduplicate:
        keep = occurrence == 1
        removed = copies - 1
    else:
        keep = pd.Series(True, index=readable.index)
        removed = pd.Series(0, index=readable.index)
    rows = readable.index[keep.to_numpy()]
    kept = {name: values.loc[rows] for name, values in parsed.items()}
    transaction_ids = [
        hashlib.sha256(f"{digest}:{number}".encode()).hexdigest()
        for digest, number in zip(hashes.loc[rows], occurrence.loc[rows], strict=True)
    ]
    kept["transaction_id"] = pd.Series(transaction_ids, index=rows, dtype=STRING)
    kept["removed_duplicates"] = removed.loc[rows].astype("int32")
    transactions = _typed_transactions(raw.loc[rows], kept, codes)
    return Cleansed(
        transactions=transactions,
        quarantine=quarantine,
        duplicates_removed=int((~keep).sum()),
    )


def _typed_transactions(
    raw: pd.DataFrame, parsed: dict[str, pd.Series], codes: ServiceCodes
) -> pd.DataFrame:
    invoice_id = parsed["invoice_id"]
    stock_code = parsed["stock_code"]
    quantity = parsed["quantity"].astype("int64")
    price_milli = parsed["price_milli"].astype("int64")
    invoiced_at = parsed["invoiced_at"]
    customer_text = parsed["customer_text"]
    # The integer part as written, like regexp_extract(text, '^([0-9]+)', 1) in staging.
    customer = customer_text.str.replace(r"\.0+$", "", regex=True)

    # Spark's cast to int gives null outside int32: keep that rather than invent numbers.
    digits = invoice_id.str.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ").str.lstrip("0")
    fits = digits.str.len() <= 10
    invoice_number = _digits_to_int64(digits.where(fits, "0")).where(fits)
    invoice_number = invoice_number.where(invoice_number.between(INT32_MIN, INT32_MAX))

    is_cancellation = invoice_id.str.startswith("C").astype(bool)
    is_adjustment = invoice_id.str.startswith("A").astype(bool)
    is_service_code = stock_code.isin(codes.exact).astype(bool)
    for prefix in codes.prefixes:
        is_service_code |= stock_code.str.startswith(prefix).astype(bool)
    month_start = invoiced_at.to_numpy().astype("datetime64[M]").astype("datetime64[ns]")

    frame = pd.DataFrame(
        {
            "transaction_id": parsed["transaction_id"],
            "invoice_id": invoice_id,
            "stock_code": stock_code,
            "description": _null_if_empty(_trimmed(raw["Description"])),
            "customer_id": _null_if_empty(customer),
            "country": _null_if_empty(_trimmed(raw["Country"])),
            "invoice_number": invoice_number.astype("Int32"),
            "quantity": quantity.astype("int32"),
            "unit_price_milli": price_milli,
            "line_amount_milli": _line_amount_milli(quantity, price_milli),
            "removed_duplicates": parsed["removed_duplicates"],
            "is_cancellation": is_cancellation,
            "is_adjustment": is_adjustment,
            "is_service_code": is_service_code,
            "has_customer": customer_text != "",
            "is_nonpositive_price": price_milli <= 0,
            "is_sales_line": (
                ~is_cancellation
                & ~is_adjustment
                & ~is_service_code
                & (quantity > 0)
                & (price_milli > 0)
            ),
            "invoice_date": invoiced_at.dt.normalize(),
            "month_start": pd.Series(month_start, index=invoiced_at.index),
            "year_month": (invoiced_at.dt.year * 100 + invoiced_at.dt.month).astype("int32"),
            "invoiced_at": invoiced_at,
        },
        columns=list(TRANSACTION_COLUMNS),
    )
    frame["has_customer"] = frame["has_customer"].astype(bool)
    return frame.reset_index(drop=True)
