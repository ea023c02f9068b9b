"""Exact counts of what the generator wrote, for end-to-end tests of the pipeline.

Counts come from the rows as rendered, slice by slice, with bounded memory: invoice numbers
only grow, so two different slices never share an invoice and therefore never share a row;
exact duplicates can only sit inside one slice, or be a deliberate second copy of a slice,
which is verified byte for byte (by digest) before its rows are counted as duplicates.
"""

from __future__ import annotations

import hashlib

import numpy as np

from lgs_analytics.landing.raw_layout import format_decimal_milli
from lgs_analytics.synthetic.catalogue import Catalogue
from lgs_analytics.synthetic.invoice_batch import ADJUSTMENT, CANCELLATION, ORDER, InvoiceBatch
from lgs_analytics.synthetic.malformed import MALFORMED_KINDS
from lgs_analytics.synthetic.population import Population
from lgs_analytics.synthetic.trading_calendar import FIRST_DAY

_COUNTERS = (
    "rows",
    "invoices",
    "cancellation_rows",
    "cancellation_invoices",
    "adjustment_rows",
    "service_code_rows",
    "null_customer_rows",
    "null_description_rows",
    "zero_price_rows",
    "sales_lines",
)


class GroundTruth:
    """Accumulates the manifest while slices are written."""

    def __init__(self, catalogue: Catalogue, population: Population) -> None:
        self._is_service = catalogue.is_service
        self._empty_description = np.array([d == "" for d in catalogue.descriptions])
        self._product_seen = np.zeros(catalogue.size, dtype=bool)
        self._customer_seen = np.zeros(population.size, dtype=bool)
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._sales_milli = 0
        self._readable = 0
        self._duplicates = 0
        self._first_minute: int | None = None
        self._last_minute: int | None = None
        self._last_invoice_number = -1
        self._digests: dict[int, str] = {}

    def add_slice(
        self, key: int, batch: InvoiceBatch, numbers: np.ndarray, text: bytes | None
    ) -> None:
        """Count a newly written slice; ``text`` (its exact rendering) if it will be repeated."""
        if len(numbers) and numbers[0] <= self._last_invoice_number:
            raise RuntimeError("invoice numbers must grow from slice to slice")
        if len(numbers):
            self._last_invoice_number = int(numbers[-1])
        if text is not None:
            self._digests[key] = hashlib.blake2b(text, digest_size=16).hexdigest()
        self._readable += batch.n_lines
        unique = _first_occurrences(batch)
        self._duplicates += batch.n_lines - int(unique.sum())
        self._count(batch, unique)

    def add_repeat(self, key: int, batch: InvoiceBatch, text: bytes) -> None:
        """Count a second copy of slice ``key``: all its rows are exact duplicates."""
        if hashlib.blake2b(text, digest_size=16).hexdigest() != self._digests[key]:
            raise RuntimeError("the repeated slice differs from its first copy")
        self._readable += batch.n_lines
        self._duplicates += batch.n_lines

    def _count(self, batch: InvoiceBatch, unique: np.ndarray) -> None:
        inv = batch.line_invoice[unique]
        product = batch.product[unique]
        quantity = batch.quantity[unique]
        price = batch.price[unique]
        kind = batch.kind[inv]
        customer = batch.customer[inv]
        service = self._is_service[product]
        sales = (kind == ORDER) & ~service & (quantity > 0) & (price > 0)
        has_rows = np.bincount(inv, minlength=batch.n_invoices) > 0
        counts = self._counts
        counts["rows"] += len(inv)
        counts["invoices"] += int(has_rows.sum())
        counts["cancellation_rows"] += int((kind == CANCELLATION).sum())
        counts["cancellation_invoices"] += int((has_rows & (batch.kind == CANCELLATION)).sum())
        counts["adjustment_rows"] += int((kind == ADJUSTMENT).sum())
        counts["service_code_rows"] += int(service.sum())
        counts["null_customer_rows"] += int((customer < 0).sum())
        no_description = batch.no_description[unique] | self._empty_description[product]
        counts["null_description_rows"] += int(no_description.sum())
        counts["zero_price_rows"] += int((price == 0).sum())
        counts["sales_lines"] += int(sales.sum())
        self._sales_milli += int(np.sum(quantity[sales] * price[sales], dtype=np.int64))
        self._product_seen[product] = True
        self._customer_seen[customer[customer >= 0]] = True
        if batch.n_invoices:
            minutes = batch.day.astype(np.int64) * 1440 + batch.minute
            low, high = int(minutes.min()), int(minutes.max())
            self._first_minute = low if self._first_minute is None else min(self._first_minute, low)
            self._last_minute = high if self._last_minute is None else max(self._last_minute, high)

    def manifest(self, fmt: str, seed: int, files: list[str], malformed: dict[str, int]) -> dict:
        """The ``_manifest.json`` content."""
        malformed = {kind: int(malformed.get(kind, 0)) for kind in MALFORMED_KINDS}
        malformed_total = sum(malformed.values())
        deduplicated = dict(self._counts)
        deduplicated["customers"] = int(self._customer_seen.sum())
        deduplicated["stock_codes"] = int(self._product_seen.sum())
        deduplicated["sales_amount"] = format_decimal_milli(self._sales_milli)
        order = ["rows", "invoices", "customers", "stock_codes", *_COUNTERS[2:], "sales_amount"]
        return {
            "format": fmt,
            "seed": seed,
            "generator_version": "1",
            "files": files,
            "date_min": _timestamp(self._first_minute),
            "date_max": _timestamp(self._last_minute),
            "lines": self._readable + malformed_total,
            "malformed_rows": malformed,
            "malformed_total": malformed_total,
            "readable_rows": self._readable,
            "exact_duplicate_rows": self._duplicates,
            "deduplicated": {key: deduplicated[key] for key in order},
        }


def _first_occurrences(batch: InvoiceBatch) -> np.ndarray:
    """Mask of the first copy of each distinct row of one slice.

    Rows are equal exactly when invoice, stock code, description, quantity and price are
    (the other fields belong to the invoice). Sorting on invoice and stock code alone is
    enough to find candidates; the other fields are compared only when those collide.
    """
    n = batch.n_lines
    unique = np.ones(n, dtype=bool)
    if n < 2:
        return unique
    code = batch.product.astype(np.int64) * 2 + batch.no_description
    key = batch.line_invoice.astype(np.int64) * (int(code.max()) + 1) + code
    order = np.argsort(key, kind="stable")
    collide = key[order[1:]] == key[order[:-1]]
    if not collide.any():
        return unique
    rows = np.unique(np.concatenate([order[1:][collide], order[:-1][collide]]))
    fields = np.column_stack([key[rows], batch.quantity[rows], batch.price[rows]])
    _, first = np.unique(fields, axis=0, return_index=True)
    unique[rows] = False
    unique[rows[first]] = True
    return unique


def _timestamp(minute: int | None) -> str | None:
    if minute is None:
        return None
    value = FIRST_DAY.astype("datetime64[m]") + np.timedelta64(minute, "m")
    return str(value.astype("datetime64[s]")).replace("T", " ")
