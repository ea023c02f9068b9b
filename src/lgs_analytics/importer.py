"""Import the real UCI Online Retail files into the raw landing layout of the generator.

Accepted inputs: the Online Retail II workbook (sheets ``Year 2009-2010`` and
``Year 2010-2011``, read in workbook order), its CSV export, and the older Online Retail (I)
layout (``InvoiceNo ... UnitPrice, CustomerID``, dates like ``12/1/2010 8:26``) as CSV or
workbook. The layout is recognised from the header. Rows are written unchanged in meaning
and in file order -- no row is dropped or deduplicated, the pipeline does that -- in exactly
the generator's CSV dialect, so everything downstream sees one format.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from lgs_analytics.part_writer import CsvPartWriter
from lgs_analytics.raw_layout import (
    DATE_FORMAT,
    LEGACY_COLUMNS,
    LEGACY_DATE_FORMAT,
    MANIFEST_NAME,
    RAW_COLUMNS,
)
from lgs_analytics.raw_text import join_csv_fields, line_blocks

ONLINE_RETAIL_II = "online_retail_ii"
ONLINE_RETAIL = "online_retail"
_LAYOUTS = {RAW_COLUMNS: ONLINE_RETAIL_II, LEGACY_COLUMNS: ONLINE_RETAIL}
_DATE_FORMATS = {ONLINE_RETAIL_II: DATE_FORMAT, ONLINE_RETAIL: LEGACY_DATE_FORMAT}
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")  # openpyxl; the real files are .xlsx
_CHUNK_ROWS = 2_000_000


def import_real(inputs: list[str | Path], out_dir: str | Path) -> dict:
    """Convert real Online Retail files into ``part-NNNNN.csv`` files and ``_manifest.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("part-*"), out / MANIFEST_NAME]:
        if stale.is_file():
            stale.unlink()
    writer = CsvPartWriter(out, _CHUNK_ROWS)
    layouts: dict[str, str] = {}
    encodings: dict[str, str] = {}
    lines = 0
    for path in map(Path, inputs):
        for source, frame, layout, encoding in _read_sources(path):
            layouts[source] = layout
            if encoding:
                encodings[source] = encoding
            data, ends = line_blocks(to_raw_csv_lines(frame, layout))
            writer.write(data, ends)
            lines += len(frame)
    manifest = {
        "format": "csv",
        "source_files": [str(path) for path in inputs],
        "layouts": layouts,
        "encodings": encodings,
        "lines": lines,
        "files": writer.close(),
    }
    _write_json(out / MANIFEST_NAME, manifest)
    return manifest


def detect_layout(columns: list[str], source: str) -> str:
    """``online_retail_ii`` or ``online_retail`` from a header, else a clear ValueError."""
    found = tuple(str(column).strip() for column in columns)
    if found in _LAYOUTS:
        return _LAYOUTS[found]
    raise ValueError(
        f"{source} has columns {list(found)} but an Online Retail file needs either "
        f"{list(RAW_COLUMNS)} (Online Retail II) or {list(LEGACY_COLUMNS)} (Online Retail)."
    )


def _read_sources(path: Path):
    """(source name, frame of raw values, layout, text encoding) per sheet or file."""
    if path.suffix.lower() in _EXCEL_SUFFIXES:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
        for sheet, frame in sheets.items():
            source = f"{path.name}#{sheet}"
            yield source, frame, detect_layout(list(frame.columns), source), None
        return
    text, encoding = _decode(path.read_bytes())
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    yield path.name, frame, detect_layout(list(frame.columns), path.name), encoding


def _decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 when valid; the public Online Retail (I) CSV copies are Windows-1252/latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            return raw.decode("latin-1"), "latin-1"


def to_raw_csv_lines(frame: pd.DataFrame, layout: str) -> pa.Array:
    """The rows as CSV lines (no header) in the generator's Online Retail II dialect."""
    date_format = _DATE_FORMATS[layout]
    converters = (
        _text,
        _text,
        _description,
        _integer,
        lambda value: _date(value, date_format),
        _float,
        _float,
        _text,
    )
    columns = [
        _convert_distinct(frame[column], convert)
        for column, convert in zip(frame.columns, converters, strict=True)
    ]
    return join_csv_fields(columns)


def _convert_distinct(values: pd.Series, convert: Callable[[object], str]) -> pa.Array:
    """Convert each distinct value once (a million rows hold a few thousand values)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    text = pa.array([convert(value) for value in distinct], pa.string())
    return text.take(pa.array(codes))


def _text(value: object) -> str:
    """Strings as they are; whole numbers (Excel stores 489434 as a number) without ``.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _description(value: object) -> str:
    """Line breaks become blanks: one record per line keeps Spark (multiLine=false) exact."""
    text = _text(value)
    if "\n" in text or "\r" in text:
        return " ".join(text.splitlines())
    return text


def _integer(value: object) -> str:
    """``6``, ``-12``; a value that is not a whole number is kept as written (quarantined)."""
    text = _text(value)
    try:
        number = float(text.strip())
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _float(value: object) -> str:
    """Prices and customer ids as pandas writes floats: ``2.55``, ``15.0``, ``13085.0``."""
    text = _text(value)
    try:
        number = float(text.strip())
    except ValueError:
        return text
    return repr(number) if math.isfinite(number) else text


def _date(value: object, text_format: str) -> str:
    """``2009-12-01 07:45:00`` from an Excel datetime or the layout's text format."""
    if isinstance(value, datetime):  # includes pandas.Timestamp
        return value.strftime(DATE_FORMAT)
    text = _text(value)
    try:
        return datetime.strptime(text.strip(), text_format).strftime(DATE_FORMAT)
    except ValueError:
        return text


def _write_json(path: Path, content: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
