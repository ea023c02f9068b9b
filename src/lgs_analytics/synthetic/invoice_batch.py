"""A columnar batch of invoices and their lines, the unit the shop simulation works on."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

ORDER, CANCELLATION, ADJUSTMENT = 0, 1, 2  # invoice kinds: "489434", "C489435", "A563185"
INVOICE_PREFIX = ("", "C", "A")

_INVOICE_FIELDS = ("day", "minute", "kind", "customer", "country")
_LINE_FIELDS = ("product", "quantity", "price", "no_description")


@dataclass
class InvoiceBatch:
    """Invoice columns plus line columns; ``line_invoice`` maps each line to its invoice.

    Lines of one invoice are contiguous and in invoice order. Prices are integer
    thousandths of a pound so that money sums are exact; ``customer`` is -1 when unknown.
    """

    day: np.ndarray
    minute: np.ndarray
    kind: np.ndarray
    customer: np.ndarray
    country: np.ndarray
    line_invoice: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    no_description: np.ndarray

    @property
    def n_invoices(self) -> int:
        """Number of invoices."""
        return len(self.day)

    @property
    def n_lines(self) -> int:
        """Number of invoice lines."""
        return len(self.line_invoice)

    @classmethod
    def empty(cls) -> InvoiceBatch:
        """A batch without invoices."""
        ints = np.zeros(0, dtype=np.int64)
        return cls(ints, ints, ints, ints, ints, ints, ints, ints, ints, np.zeros(0, dtype=bool))

    @classmethod
    def single_lines(cls, **columns: np.ndarray) -> InvoiceBatch:
        """One line per invoice; every invoice and line column given by name."""
        n = len(columns["day"])
        values = {name: np.asarray(columns[name]) for name in _INVOICE_FIELDS + _LINE_FIELDS}
        return cls(line_invoice=np.arange(n, dtype=np.int64), **values)

    @classmethod
    def concat(cls, batches: list[InvoiceBatch]) -> InvoiceBatch:
        """Batches one after the other, invoice indexes shifted accordingly."""
        batches = [batch for batch in batches if batch.n_invoices]
        if not batches:
            return cls.empty()
        offsets = np.cumsum([0] + [batch.n_invoices for batch in batches[:-1]])
        values = {
            field.name: np.concatenate([getattr(batch, field.name) for batch in batches])
            for field in fields(cls)
            if field.name != "line_invoice"
        }
        line_invoice = np.concatenate(
            [batch.line_invoice + offset for batch, offset in zip(batches, offsets, strict=True)]
        )
        return cls(line_invoice=line_invoice, **values)

    def select(self, keep: np.ndarray) -> InvoiceBatch:
        """The invoices where ``keep`` (a boolean mask over invoices) is true, with their lines."""
        new_index = np.cumsum(keep) - 1
        line_keep = keep[self.line_invoice]
        invoice_values = {name: getattr(self, name)[keep] for name in _INVOICE_FIELDS}
        line_values = {name: getattr(self, name)[line_keep] for name in _LINE_FIELDS}
        return InvoiceBatch(
            line_invoice=new_index[self.line_invoice[line_keep]], **invoice_values, **line_values
        )

    def reorder(self, invoice_order: np.ndarray) -> InvoiceBatch:
        """Invoices permuted into ``invoice_order``; lines follow, keeping their order inside."""
        rank = np.empty(self.n_invoices, dtype=np.int64)
        rank[invoice_order] = np.arange(self.n_invoices)
        line_rank = rank[self.line_invoice]
        line_order = np.argsort(line_rank, kind="stable")
        invoice_values = {name: getattr(self, name)[invoice_order] for name in _INVOICE_FIELDS}
        line_values = {name: getattr(self, name)[line_order] for name in _LINE_FIELDS}
        return InvoiceBatch(line_invoice=line_rank[line_order], **invoice_values, **line_values)

    def copy(self) -> InvoiceBatch:
        """An independent copy (for snapshots of simulation state)."""
        return InvoiceBatch(
            **{field.name: getattr(self, field.name).copy() for field in fields(self)}
        )
