"""Broken CSV lines mixed into synthetic files to exercise the quarantine path.

Each line has exactly one defect and stays exactly one record for a line-by-line CSV parser
(Spark with ``multiLine=false``), so expected quarantine counts are exact. Lines are unique:
each carries its own invoice number, or its own quantity when the invoice is the defect.
"""

from __future__ import annotations

import numpy as np

from lgs_analytics.landing.raw_layout import format_price_milli
from lgs_analytics.synthetic.catalogue import Catalogue
from lgs_analytics.synthetic.population import COUNTRY_NAMES, Population
from lgs_analytics.synthetic.trading_calendar import TradingCalendar

MALFORMED_KINDS: tuple[str, ...] = (
    "bad_date",
    "non_numeric_quantity",
    "non_numeric_price",
    "wrong_column_count",
    "stray_quote",
    "bad_encoding",
    "missing_invoice",
    "missing_stock_code",
)
_BAD_DATES = (
    "2010-13-45 25:61:00",
    "31/02/2010 10:00",
    "not a date",
    "2011-00-10 09:30:00",
    "2010-06-31 24:00:00",
)
_BAD_QUANTITIES = ("{q}x", "abc", "x{q}", "twelve", "{q}pcs", "1O")
_BAD_PRICES = ('"1,25"', "£2.10", "n/a", "2.1.0", "abc")
_LATIN1_MARKS = (b"CAF\xe9 ", b"\xa3", b"NO\xebL ")  # é, £, ë as single latin-1 bytes
_FIRST_INVOICE = 500_000


class MalformedLines:
    """Where the broken lines go in the stream of readable lines, and their text."""

    def __init__(
        self,
        *,
        seed: int,
        n_malformed: int,
        n_readable: int,
        world: tuple[TradingCalendar, Catalogue, Population],
    ) -> None:
        rng = np.random.default_rng([seed, 7, 1])
        counts = np.full(len(MALFORMED_KINDS), n_malformed // len(MALFORMED_KINDS))
        counts[: n_malformed % len(MALFORMED_KINDS)] += 1
        self.counts = dict(zip(MALFORMED_KINDS, counts.tolist(), strict=True))
        self.kinds = rng.permutation(np.repeat(np.arange(len(MALFORMED_KINDS)), counts))
        # Line j goes just before readable line positions[j] (== n_readable: at the very end).
        self.positions = np.sort(rng.integers(0, n_readable + 1, n_malformed))
        self._rng = np.random.default_rng([seed, 7, 2])
        self._calendar, self._catalogue, self._population = world
        plain = self._catalogue.plain_description & (self._catalogue.base_weight > 0)
        self._products = np.flatnonzero(plain)
        self._open_days = np.flatnonzero(self._calendar.weight > 0)

    def due(self, start: int, stop: int) -> range:
        """Indexes of the broken lines to insert before readable lines [start, stop)."""
        low, high = np.searchsorted(self.positions, [start, stop], side="left")
        return range(int(low), int(high))

    def line(self, j: int) -> bytes:
        """The text of broken line ``j``, newline included."""
        kind = MALFORMED_KINDS[int(self.kinds[j])]
        fields = self._valid_fields(j)
        fields = _BREAKERS[kind](self._rng, fields, j)
        return b",".join(fields) + b"\n"

    def _valid_fields(self, j: int) -> list[bytes]:
        rng, cat = self._rng, self._catalogue
        product = int(rng.choice(self._products))
        day = np.array([rng.choice(self._open_days)])
        minute = int(self._calendar.sample_minutes(rng, day)[0])
        date = f"{self._calendar.dates[day[0]]} {minute // 60:02d}:{minute % 60:02d}:00"
        customer = int(rng.integers(self._population.size))
        fields = [
            str(_FIRST_INVOICE + j),
            cat.codes[product],
            cat.descriptions[product],
            str(int(rng.integers(1, 25))),
            date,
            format_price_milli(int(cat.price_normal[product])),
            f"{self._population.customer_id[customer]}.0",
            COUNTRY_NAMES[int(self._population.country[customer])],
        ]
        return [field.encode() for field in fields]


def _bad_date(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[4] = _pick(rng, _BAD_DATES).encode()
    return fields


def _non_numeric_quantity(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[3] = _pick(rng, _BAD_QUANTITIES).format(q=j % 97 + 2).encode()
    return fields


def _non_numeric_price(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[5] = _pick(rng, _BAD_PRICES).encode()  # "1,25" is quoted: still 8 fields
    return fields


def _wrong_column_count(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    return fields[:7] if rng.random() < 0.5 else [*fields, b"EXTRA"]


def _stray_quote(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[2] = b'"' + fields[2]  # opened, never closed: the rest of the line is one field
    return fields


def _bad_encoding(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[2] = _pick(rng, _LATIN1_MARKS) + fields[2]
    return fields


def _missing_invoice(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[0] = b""
    fields[3] = str(j + 1).encode()  # the invoice no longer makes the line unique
    return fields


def _missing_stock_code(rng: np.random.Generator, fields: list[bytes], j: int) -> list[bytes]:
    fields[1] = b""
    return fields


def _pick(rng: np.random.Generator, options: tuple):
    return options[int(rng.integers(len(options)))]


_BREAKERS = {
    "bad_date": _bad_date,
    "non_numeric_quantity": _non_numeric_quantity,
    "non_numeric_price": _non_numeric_price,
    "wrong_column_count": _wrong_column_count,
    "stray_quote": _stray_quote,
    "bad_encoding": _bad_encoding,
    "missing_invoice": _missing_invoice,
    "missing_stock_code": _missing_stock_code,
}
