"""Synthetic Online Retail II generator: format, exact manifest, rates, determinism, chunks.

The manifest is recomputed here independently, from the written files only, with pandas
(every field read as text) and plain Python for the broken lines.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lgs_analytics.landing.raw_layout import CSV_HEADER, RAW_COLUMNS, is_service_code
from lgs_analytics.synthetic.generator import generate, plan_slices
from lgs_analytics.synthetic.trading_calendar import build_calendar

DEFAULT_ROWS = 1_067_371
KINDS = (
    "bad_date",
    "non_numeric_quantity",
    "non_numeric_price",
    "wrong_column_count",
    "stray_quote",
    "bad_encoding",
    "missing_invoice",
    "missing_stock_code",
)


# ---- independent re-counting ---------------------------------------------------------------
def service_mask(codes: pd.Series) -> pd.Series:
    """is_service_code per row, evaluated once per distinct code."""
    service = {code for code in codes.unique() if is_service_code(code)}
    return codes.isin(service)


def read_parts(out: Path, manifest: dict) -> pd.DataFrame:
    """All data rows of a malformed-free CSV output, every field as text."""
    frames = [
        pd.read_csv(out / name, dtype=str, keep_default_na=False) for name in manifest["files"]
    ]
    return pd.concat(frames, ignore_index=True)


def price_milli(price: pd.Series) -> np.ndarray:
    """Exact thousandths of a pound from the price text (no float rounding)."""
    negative = price.str.startswith("-").to_numpy()
    parts = price.str.lstrip("-").str.partition(".")
    whole = parts[0].astype("int64").to_numpy()
    fraction = parts[2].str.ljust(3, "0").astype("int64").to_numpy()
    milli = whole * 1000 + fraction
    return np.where(negative, -milli, milli)


def recount(rows: pd.DataFrame) -> dict:
    """The manifest's deduplicated block, computed from all readable rows."""
    return recount_unique(rows.drop_duplicates())


def recount_unique(unique: pd.DataFrame) -> dict:
    """The manifest's deduplicated block, from readable rows without exact duplicates."""
    quantity = unique["Quantity"].astype("int64").to_numpy()
    milli = price_milli(unique["Price"])
    invoice = unique["Invoice"]
    code = unique["StockCode"].str.strip()
    service = service_mask(code).to_numpy()
    cancellation = invoice.str.startswith("C").to_numpy()
    adjustment = invoice.str.startswith("A").to_numpy()
    sales = ~cancellation & ~adjustment & ~service & (quantity > 0) & (milli > 0)
    total = int(np.sum(quantity[sales] * milli[sales]))
    return {
        "rows": len(unique),
        "invoices": invoice.nunique(),
        "customers": unique.loc[unique["Customer ID"] != "", "Customer ID"].nunique(),
        "stock_codes": code.nunique(),
        "cancellation_rows": int(cancellation.sum()),
        "cancellation_invoices": invoice[cancellation].nunique(),
        "adjustment_rows": int(adjustment.sum()),
        "service_code_rows": int(service.sum()),
        "null_customer_rows": int((unique["Customer ID"] == "").sum()),
        "null_description_rows": int((unique["Description"] == "").sum()),
        "zero_price_rows": int((milli == 0).sum()),
        "sales_lines": int(sales.sum()),
        "sales_amount": f"{total // 1000}.{total % 1000:03d}",
    }


def classify_line(raw: bytes) -> str | None:
    """The defect of one physical data line, or None when it is a readable row."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    fields = next(csv.reader([text]))
    if any(field.startswith('"') or field.endswith("\n") for field in fields):
        return "stray_quote"
    if len(fields) != 8:
        if re.search(r',"[^"]*$', text):
            return "stray_quote"
        return "wrong_column_count"
    invoice, code, _, quantity, date, price, _, _ = fields
    if invoice == "":
        return "missing_invoice"
    if code == "":
        return "missing_stock_code"
    if not re.fullmatch(r"-?\d+", quantity):
        return "non_numeric_quantity"
    if not re.fullmatch(r"-?\d+\.\d{1,3}", price):
        return "non_numeric_price"
    try:
        datetime.strptime(date, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "bad_date"
    return None


def digest(folder: Path) -> str:
    """One hash over every file of an output folder, names included."""
    sha = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


# ---- the default-size run ------------------------------------------------------------------
@dataclass
class DefaultRun:
    out: Path
    manifest: dict
    rows: pd.DataFrame  # every data line, as text
    unique: pd.DataFrame  # exact duplicates removed
    seconds: float


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> DefaultRun:
    out = tmp_path_factory.mktemp("default")
    started = time.perf_counter()
    manifest = generate(out, progress=False)
    seconds = time.perf_counter() - started
    rows = read_parts(out, manifest)
    return DefaultRun(out, manifest, rows, rows.drop_duplicates(), seconds)


def test_default_run_has_exact_size_and_period(default_run):
    out, manifest, rows = default_run.out, default_run.manifest, default_run.rows
    assert manifest["lines"] == DEFAULT_ROWS == len(rows)
    assert manifest["date_min"].startswith("2009-12-01 ")
    assert manifest["date_max"].startswith("2011-12-09 ")
    assert json.loads((out / "_manifest.json").read_text()) == manifest
    assert default_run.seconds < 30, "a generous guard; the benchmark reports the real rate"


def test_default_manifest_matches_independent_recount(default_run):
    manifest, rows, unique = default_run.manifest, default_run.rows, default_run.unique
    assert manifest["readable_rows"] == len(rows)
    assert manifest["exact_duplicate_rows"] == len(rows) - len(unique)
    assert manifest["deduplicated"] == recount_unique(unique)


def test_default_rates_are_close_to_the_real_data(default_run):
    manifest, unique = default_run.manifest, default_run.unique
    counts = manifest["deduplicated"]
    assert 20_000 <= manifest["exact_duplicate_rows"] <= 25_000  # real: 22,523 (2.1%)
    assert 50_000 <= counts["invoices"] <= 57_000  # real: ~53,600
    assert 5_600 <= counts["customers"] <= 6_300  # real: 5,942
    assert 4_300 <= counts["stock_codes"] <= 4_900  # real: ~4,600
    assert 16_000 <= counts["cancellation_rows"] <= 22_000  # real: ~19,000
    assert 1 <= counts["adjustment_rows"] <= 30
    assert 0.21 <= counts["null_customer_rows"] / counts["rows"] <= 0.245  # real: 22.8%
    assert 0.002 <= counts["null_description_rows"] / counts["rows"] <= 0.006  # real: 0.4%
    assert 0.003 <= counts["service_code_rows"] / counts["rows"] <= 0.01
    zero_sales = (unique["Price"] == "0.0") & ~unique["Invoice"].str.startswith("C")
    zero_sales &= unique["Quantity"].astype(int) > 0
    assert 2_000 <= zero_sales.sum() <= 3_500  # real: ~2,700
    assert 35 <= unique["Country"].nunique() <= 45
    assert 0.87 <= (unique["Country"] == "United Kingdom").mean() <= 0.93


def test_default_invoice_amounts_are_right_skewed(default_run):
    unique = default_run.unique
    amount = unique["Quantity"].astype(int) * unique["Price"].astype(float)
    sales = ~unique["Invoice"].str[0].isin(["C", "A"]) & ~service_mask(unique["StockCode"])
    sales &= (unique["Quantity"].astype(int) > 0) & (unique["Price"].astype(float) > 0)
    per_invoice = amount[sales].groupby(unique["Invoice"][sales]).sum()
    assert 250 <= per_invoice.median() <= 360  # real: ~304
    assert 440 <= per_invoice.mean() <= 620  # real: ~523
    assert per_invoice.max() > 100_000  # the huge orders


def test_default_customer_behaviour(default_run):
    unique = default_run.unique
    known = unique[(unique["Customer ID"] != "") & ~unique["Invoice"].str.startswith("C")]
    invoices = known.groupby("Customer ID")["Invoice"].nunique()
    assert 0.2 <= (invoices == 1).mean() <= 0.5  # many one-off buyers
    assert invoices.max() >= 100  # and a loyal core
    assert (known.groupby("Customer ID")["Country"].nunique() == 1).all()
    month = unique["InvoiceDate"].str[:7]
    per_month = unique.groupby(month).size()
    assert per_month["2010-11"] > 1.5 * per_month["2010-02"]  # November peak
    assert per_month["2011-11"] > 1.5 * per_month["2011-02"]
    assert per_month["2011-12"] < 0.5 * per_month["2011-11"]  # partial last month


def test_default_structure_of_rows(default_run):
    out, manifest, rows = default_run.out, default_run.manifest, default_run.rows
    assert (out / manifest["files"][0]).read_bytes().startswith(CSV_HEADER.encode())
    patterns = {
        "Invoice": r"[CA]?\d{6}",
        "InvoiceDate": r"\d{4}-\d\d-\d\d \d\d:\d\d:00",
        "Price": r"-?\d+\.\d{1,3}",
        "Customer ID": r"(\d{5}\.0)?",
        "Quantity": r"-?\d+",
    }
    for column, pattern in patterns.items():
        assert pd.Series(rows[column].unique()).str.fullmatch(pattern).all(), column
    negative_price = rows["Price"].str.startswith("-")
    assert rows.loc[negative_price, "Invoice"].str.startswith("A").all()
    adjustments = rows[rows["Invoice"].str.startswith("A")]
    assert (adjustments["StockCode"] == "B").all()
    assert (adjustments["Description"] == "Adjust bad debt").all()
    assert (adjustments["Quantity"] == "1").all() and (adjustments["Customer ID"] == "").all()
    products = rows[~service_mask(rows["StockCode"]) & (rows["Description"] != "")]
    assert (products.groupby("StockCode")["Description"].nunique() == 1).all()
    prices = products[products["Price"] != "0.0"].groupby("StockCode")["Price"].nunique()
    assert prices.max() <= 4  # three quantity tiers, plus one special price on a huge order
    assert rows["StockCode"].str.fullmatch(r"\d{5}[A-Z]?").mean() > 0.95
    for code in ("POST", "DOT", "M", "C2", "D", "gift_0001_10", "DCGS0003", "PADS"):
        assert (rows["StockCode"] == code).any(), code


def test_default_order_and_overlap(default_run):
    manifest, rows = default_run.manifest, default_run.rows
    dates = rows["InvoiceDate"].to_numpy()
    numbers = rows["Invoice"].str.lstrip("CA").astype(int).to_numpy()
    date_drops = np.flatnonzero(dates[1:] < dates[:-1])
    number_drops = np.flatnonzero(numbers[1:] < numbers[:-1])
    # Two "sheets": sorted by date then invoice, the second starting again on 2010-12-01.
    assert len(date_drops) == 1 and list(number_drops) == list(date_drops)
    assert dates[date_drops[0] + 1].startswith("2010-12-01")
    duplicated = rows[rows.duplicated(keep=False)]
    assert duplicated["InvoiceDate"].between("2010-12-01", "2010-12-09 23:59:59").all()
    assert len(duplicated) == 2 * manifest["exact_duplicate_rows"]


def test_default_whole_invoices_and_cancellations(default_run):
    unique = default_run.unique
    missing = (unique["Customer ID"] == "").groupby(unique["Invoice"])
    assert (missing.min() == missing.max()).all()  # a missing id is missing on the whole invoice
    quantity = unique["Quantity"].astype(int)
    is_cancel = unique["Invoice"].str.startswith("C")
    cancel = unique[is_cancel & ~service_mask(unique["StockCode"])]
    when = pd.to_datetime(unique["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    orders = unique[~is_cancel & (quantity > 0)].assign(q=quantity, when=when)
    keys = ["Customer ID", "StockCode", "Price"]
    earliest = orders.groupby(keys).agg(first=("when", "min"), most=("q", "max"))
    matched = cancel.assign(when=when).join(earliest, on=keys, how="left")
    assert matched["first"].notna().all()  # every cancelled line mirrors an order
    assert (matched["first"] <= matched["when"]).all()
    assert (-matched["Quantity"].astype(int) <= matched["most"]).all()
    huge = unique[quantity.abs() >= 70_000].assign(
        q=quantity, c=is_cancel.astype(int), day=unique["InvoiceDate"].str[:10]
    )
    pairs = huge.groupby(["Customer ID", "StockCode", "day"])
    assert len(huge) >= 4 and (pairs.size() == 2).all()  # each reversed the same day
    assert (pairs["q"].sum() == 0).all() and (pairs["c"].sum() == 1).all()


# ---- format --------------------------------------------------------------------------------
def test_csv_is_what_pandas_writes_for_the_same_rows(tmp_path):
    manifest = generate(tmp_path, rows=20_000, seed=3, progress=False)
    written = (tmp_path / manifest["files"][0]).read_bytes()
    typed = pd.read_csv(
        tmp_path / manifest["files"][0],
        dtype={"Invoice": str, "StockCode": str, "Description": str, "Country": str},
        keep_default_na=False,
        na_values={"Description": [""], "Customer ID": [""]},
        parse_dates=["InvoiceDate"],
    )
    assert typed["Customer ID"].dtype == np.float64 and typed["Price"].dtype == np.float64
    assert typed["Description"].str.contains(",").any()  # some fields need quotes
    assert typed["Description"].str.contains('"').any()  # and some doubled quotes
    assert typed["Description"].str.endswith(" ").any()  # trailing blanks are kept
    again = typed.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d %H:%M:%S")
    assert again.encode("utf-8") == written


def test_parquet_holds_the_same_rows_with_natural_types(tmp_path):
    csv_manifest = generate(tmp_path / "csv", rows=30_000, seed=5, progress=False)
    pq_manifest = generate(
        tmp_path / "pq", rows=30_000, seed=5, fmt="parquet", chunk_rows=12_000, progress=False
    )
    table = pq.read_table(tmp_path / "pq")
    assert table.schema.names == list(RAW_COLUMNS)
    assert [str(t) for t in table.schema.types] == [
        "string",
        "string",
        "string",
        "int64",
        "timestamp[us]",
        "double",
        "double",
        "string",
    ]
    assert pq_manifest["files"] == [f"part-{i:05d}.parquet" for i in range(3)]
    frame = table.to_pandas()
    text = read_parts(tmp_path / "csv", csv_manifest)
    assert (frame["Invoice"] == text["Invoice"]).all()
    assert (frame["Quantity"].astype(str) == text["Quantity"]).all()
    assert (frame["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S") == text["InvoiceDate"]).all()
    assert (frame["Price"].map(repr) == text["Price"]).all()
    assert (frame["Description"].fillna("") == text["Description"]).all()
    assert (frame["Customer ID"].isna() == (text["Customer ID"] == "")).all()
    for key in ("format", "files"):
        pq_manifest.pop(key), csv_manifest.pop(key)
    assert pq_manifest == csv_manifest


# ---- determinism, chunks, malformed lines --------------------------------------------------
def test_same_seed_gives_byte_identical_files(tmp_path):
    args = {"rows": 40_000, "malformed_share": 0.01, "chunk_rows": 15_000, "progress": False}
    first = generate(tmp_path / "a", seed=11, **args)
    second = generate(tmp_path / "b", seed=11, **args)
    generate(tmp_path / "c", seed=12, **args)
    assert first == second
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_chunks_split_rows_into_several_files(tmp_path):
    (tmp_path / "part-00009.csv").write_text("stale")
    manifest = generate(tmp_path, rows=300_000, chunk_rows=100_000, progress=False)
    assert manifest["files"] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    assert sorted(p.name for p in tmp_path.glob("part-*")) == manifest["files"]
    for name in manifest["files"]:
        lines = (tmp_path / name).read_bytes().split(b"\n")
        assert lines[0] + b"\n" == CSV_HEADER.encode() and lines[-1] == b""
        assert len(lines) - 2 == 100_000


def test_memory_is_bounded_by_slices_not_by_total_rows():
    calendar = build_calendar()
    expected = np.ones(calendar.n_days)
    slices = plan_slices(calendar, expected, 100_000_000)
    assert max(s.rows for s in slices) <= 600_000  # per-slice work, whatever the total
    assert sum(s.rows * (2 if s.overlap else 1) for s in slices) == 100_000_000


def test_every_malformed_kind_is_one_line_with_one_defect(tmp_path):
    manifest = generate(
        tmp_path, rows=24_000, malformed_share=0.02, chunk_rows=10_000, progress=False
    )
    assert manifest["malformed_total"] == 480 and manifest["lines"] == 24_000
    assert set(manifest["malformed_rows"].values()) == {60}
    found = dict.fromkeys(KINDS, 0)
    readable: list[list[str]] = []
    positions = []
    index = 0
    for name in manifest["files"]:
        lines = (tmp_path / name).read_bytes().split(b"\n")[1:-1]
        for raw in lines:
            kind = classify_line(raw + b"\n")
            if kind is None:
                readable.append(next(csv.reader([raw.decode("utf-8")])))
            else:
                found[kind] += 1
                positions.append(index)
            index += 1
    assert index == manifest["lines"]
    assert found == manifest["malformed_rows"]
    assert positions[0] < 0.1 * index and positions[-1] > 0.9 * index  # spread out
    rows = pd.DataFrame(readable, columns=list(RAW_COLUMNS))
    assert manifest["readable_rows"] == len(rows)
    assert manifest["exact_duplicate_rows"] == int(rows.duplicated().sum())
    assert manifest["deduplicated"] == recount(rows)
    broken = [
        raw
        for name in manifest["files"]
        for raw in (tmp_path / name).read_bytes().split(b"\n")[1:-1]
        if classify_line(raw + b"\n")
    ]
    assert len(set(broken)) == len(broken)  # never duplicates of each other


@pytest.mark.parametrize("rows", [0, 1, 7, 500])
def test_tiny_runs_still_have_the_exact_size(tmp_path, rows):
    manifest = generate(tmp_path, rows=rows, progress=False)
    assert manifest["lines"] == rows
    assert len(read_parts(tmp_path, manifest)) == rows


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        generate(tmp_path, rows=10, fmt="json")
    with pytest.raises(ValueError, match="CSV"):
        generate(tmp_path, rows=10, fmt="parquet", malformed_share=0.1)
    with pytest.raises(ValueError, match="malformed_share"):
        generate(tmp_path, rows=10, malformed_share=1.5)


def test_default_trading_days(default_run):
    rows = default_run.rows
    days = pd.to_datetime(rows["InvoiceDate"].str[:10].drop_duplicates())
    assert (days.dt.dayofweek != 5).all()  # the shop never trades on Saturdays
    christmas = ((days.dt.month == 12) & (days.dt.day >= 24)) | (
        (days.dt.month == 1) & (days.dt.day <= 3)
    )
    assert not christmas.any()
    assert days.max() == pd.Timestamp("2011-12-09")
