"""Render invoice batches as Online Retail II CSV lines or as a typed Arrow table.

CSV text is built column-wise with Arrow string kernels: every per-product, per-customer and
per-invoice piece is formatted once and then gathered, so no Python code runs per row.
The dialect is the one pandas ``to_csv(index=False)`` writes: minimal quoting with doubled
quotes, ``13085.0`` customer ids, ``2.55`` / ``15.0`` prices, ``\\n`` line ends.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lgs_analytics.landing.raw_layout import RAW_COLUMNS, format_price_milli, quote_csv_field
from lgs_analytics.synthetic.catalogue import Catalogue
from lgs_analytics.synthetic.invoice_batch import INVOICE_PREFIX, InvoiceBatch
from lgs_analytics.synthetic.population import COUNTRY_NAMES, Population
from lgs_analytics.synthetic.trading_calendar import TradingCalendar

PARQUET_SCHEMA = pa.schema(
    [
        pa.field("Invoice", pa.string()),
        pa.field("StockCode", pa.string()),
        pa.field("Description", pa.string()),
        pa.field("Quantity", pa.int64()),
        pa.field("InvoiceDate", pa.timestamp("us")),
        pa.field("Price", pa.float64()),
        pa.field("Customer ID", pa.float64()),
        pa.field("Country", pa.string()),
    ]
)
assert tuple(PARQUET_SCHEMA.names) == RAW_COLUMNS


class RawRenderer:
    """Pre-formatted pieces of the output shared by every slice."""

    def __init__(self, calendar: TradingCalendar, catalogue: Catalogue, population: Population):
        codes = [quote_csv_field(code) for code in catalogue.codes]
        described = [
            f"{c},{quote_csv_field(d)}" for c, d in zip(codes, catalogue.descriptions, strict=True)
        ]
        self._n_products = catalogue.size
        self._product_fields = pa.array(described + [f"{code}," for code in codes])
        self._codes = pa.array(catalogue.codes)
        self._descriptions = pa.array(catalogue.descriptions)
        countries = [quote_csv_field(name) for name in COUNTRY_NAMES]
        known = [
            f"{cid}.0,{countries[c]}\n"
            for cid, c in zip(
                population.customer_id.tolist(), population.country.tolist(), strict=True
            )
        ]
        self._n_customers = population.size
        self._customer_tails = pa.array(known + [f",{name}\n" for name in countries])
        self._countries = pa.array(list(COUNTRY_NAMES))
        self._customer_ids = population.customer_id.astype(np.float64)
        self._days = pa.array([str(day) for day in calendar.dates.tolist()])
        self._times = pa.array([f"{m // 60:02d}:{m % 60:02d}:00" for m in range(24 * 60)])
        self._epoch_day = calendar.dates[0].astype("datetime64[D]").astype(np.int64)
        self._prefixes = pa.array(list(INVOICE_PREFIX))

    def invoice_ids(self, batch: InvoiceBatch, numbers: np.ndarray) -> pa.Array:
        """``489434``, ``C489435``, ``A563185`` per invoice."""
        prefix = self._prefixes.take(pa.array(batch.kind))
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")

    def csv_lines(self, batch: InvoiceBatch, numbers: np.ndarray) -> pa.Array:
        """One string per line, each ending with ``\\n``, in batch order."""
        line_invoice = pa.array(batch.line_invoice)
        invoice = self.invoice_ids(batch, numbers).take(line_invoice)
        product_index = batch.product + self._n_products * batch.no_description
        product = self._product_fields.take(pa.array(product_index))
        quantity = pc.cast(pa.array(batch.quantity), pa.string())
        dates = pc.binary_join_element_wise(
            self._days.take(pa.array(batch.day)), self._times.take(pa.array(batch.minute)), " "
        ).take(line_invoice)
        prices = pc.dictionary_encode(pa.array(batch.price, pa.int64()))
        labels = [format_price_milli(p) for p in prices.dictionary.to_pylist()]
        price = pa.array(labels, pa.string()).take(prices.indices)
        tail_index = np.where(
            batch.customer >= 0, batch.customer, self._n_customers + batch.country
        )
        tail = self._customer_tails.take(pa.array(tail_index)).take(line_invoice)
        return pc.binary_join_element_wise(invoice, product, quantity, dates, price, tail, ",")

    def arrow_table(self, batch: InvoiceBatch, numbers: np.ndarray) -> pa.Table:
        """The same rows with natural types, for Parquet output."""
        line_invoice = pa.array(batch.line_invoice)
        product = pa.array(batch.product)
        description = pc.if_else(
            pa.array(batch.no_description),
            pa.scalar(None, pa.string()),
            self._descriptions.take(product),
        )
        minutes = (self._epoch_day + batch.day) * 1440 + batch.minute
        timestamps = pa.array(minutes * 60_000_000, pa.timestamp("us")).take(line_invoice)
        customer = np.where(batch.customer >= 0, self._customer_ids[batch.customer.clip(0)], np.nan)
        columns = [
            self.invoice_ids(batch, numbers).take(line_invoice),
            self._codes.take(product),
            description,
            pa.array(batch.quantity, pa.int64()),
            timestamps,
            pa.array(batch.price / 1000.0, pa.float64()),
            pa.array(customer, pa.float64(), from_pandas=True).take(line_invoice),
            self._countries.take(pa.array(batch.country)).take(line_invoice),
        ]
        return pa.Table.from_arrays(columns, schema=PARQUET_SCHEMA)


def join_csv_fields(columns: list[pa.Array]) -> pa.Array:
    """CSV lines ending in a newline from string columns, quoted as ``quote_csv_field`` does."""
    fields = []
    for column in columns:
        needs_quotes = pc.match_substring_regex(column, r'[,"\r\n]')
        doubled = pc.replace_substring(column, '"', '""')
        quoted = pc.binary_join_element_wise('"', doubled, '"', "")
        fields.append(pc.if_else(needs_quotes, quoted, column))
    return pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "\n", "")


def line_blocks(lines: pa.Array) -> tuple[pa.Buffer, np.ndarray]:
    """The concatenated UTF-8 bytes of string lines and the end offset of each line."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=_offset_dtype(lines.type))
    offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    start = int(offsets[0]) if len(offsets) else 0
    stop = int(offsets[-1]) if len(offsets) else 0
    return data[start:stop] if data is not None else pa.py_buffer(b""), offsets[1:] - start


def _offset_dtype(arrow_type: pa.DataType) -> type:
    return np.int64 if pa.types.is_large_string(arrow_type) else np.int32
