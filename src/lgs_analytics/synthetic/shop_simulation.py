"""Simulate the shop's invoices for one time slice, vectorised over invoices and lines.

A slice gets an exact line budget (so the generator can hit the requested row count) and
fills it with: cancellations carried over from earlier slices, a few special invoices
(stock adjustments without description, service-only invoices, bad-debt ``A`` adjustments,
huge orders cancelled the same day), and ordinary orders of customers and anonymous web
buyers whose sizes are scaled to use up the rest. Orders may be cancelled later, partly
or fully, by a ``C`` invoice of the same customer; cancellations falling after the slice are
handed back as pending.

Every line of an invoice has a different stock code, so the only exact duplicate rows in
the output are the ones the generator writes twice on purpose (the December 2010 overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgs_analytics.synthetic.catalogue import SERVICE_DESCRIPTIONS, Catalogue
from lgs_analytics.synthetic.invoice_batch import ADJUSTMENT, CANCELLATION, ORDER, InvoiceBatch
from lgs_analytics.synthetic.population import (
    ANONYMOUS_COUNTRIES,
    ANONYMOUS_COUNTRY_SHARE,
    CHANNEL_ISLANDS,
    COUNTRY_NAMES,
    EIRE,
    UK,
    Population,
    apportion,
)
from lgs_analytics.synthetic.sampling import GuidedInverseCdf
from lgs_analytics.synthetic.trading_calendar import TradingCalendar

REAL_ROWS = 1_067_371  # rates below are per this many rows, as in the real data

# Invoices per REAL_ROWS rows, by kind.
_ANONYMOUS_ORDERS = 3_850
_NO_DESCRIPTION_ADJUSTMENTS = 4_300  # single-line stock corrections: price 0, no description
_BAD_DEBT_GROUPS = 2  # groups of three "A" invoices
_RANDOM_HUGE_ORDERS = 1.0
_FIRST_INVOICE_NUMBER = 489434
_INVOICE_NUMBER_GAP = 0.72  # mean unused numbers between invoices (real: 489434 .. 581587)

_CUSTOMER_LINES_MEDIAN = 13.0
_ANONYMOUS_LINES_MEDIAN = 42.0
_MAX_LINES = 600
_SIZE_SIGMA = 0.85  # spread of lines per order: right-skewed invoice amounts
_THEME_LINE_SHARE = 0.4  # lines drawn from the basket's theme: co-purchase structure
_FAVOURITE_THEME_SHARE = 0.5
_ZERO_PRICE_SHARE = 0.0015  # free items on ordinary orders
_OFF_PACK_SHARE = 0.35  # quantities that are not a multiple of the pack size
_FULL_CANCEL_SHARE = 0.8
_SAME_DAY_CANCEL_SHARE = 0.4

_PACK_MULTIPLES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 20])
_PACK_MULTIPLE_P = np.array([0.62, 0.18, 0.06, 0.05, 0.02, 0.03, 0.02, 0.01, 0.007, 0.003])
_ANONYMOUS_QUANTITIES = np.array([1, 2, 3, 4, 6, 12])
_ANONYMOUS_QUANTITY_P = np.array([0.62, 0.18, 0.06, 0.05, 0.04, 0.05])
_EU_POSTAGE = frozenset(
    {
        "Germany",
        "France",
        "Spain",
        "Belgium",
        "Portugal",
        "Netherlands",
        "Sweden",
        "Italy",
        "Finland",
        "Austria",
        "Denmark",
        "Cyprus",
        "Greece",
        "Poland",
        "Malta",
        "Lithuania",
        "Czech Republic",
        "European Community",
    }
)


@dataclass(frozen=True)
class StandaloneService:
    """A service code billed on its own one-line invoice (discounts, fees, refunds...)."""

    code: str
    per_real_rows: float
    cancellation_share: float
    with_customer: bool
    price_median: float  # pounds; fixed when spread is 0
    price_spread: float  # sigma of the log-normal price
    max_quantity: int = 1


_STANDALONE_SERVICES = (
    StandaloneService("D", 170, 1.0, True, 15.0, 1.0),
    StandaloneService("CRUK", 16, 1.0, True, 150.0, 0.8),
    StandaloneService("AMAZONFEE", 45, 0.8, False, 1500.0, 0.9),
    StandaloneService("M", 260, 0.85, True, 3.0, 1.6, 3),
    StandaloneService("POST", 110, 1.0, True, 18.0, 0.0),
    StandaloneService("S", 60, 1.0, True, 20.0, 1.2),
    StandaloneService("BANK CHARGES", 25, 0.6, True, 15.0, 0.0),
    StandaloneService("ADJUST", 60, 0.5, True, 40.0, 1.2),
    StandaloneService("ADJUST2", 3, 0.0, True, 300.0, 0.5),
    StandaloneService("TEST001", 15, 0.0, True, 4.5, 0.0, 5),
    StandaloneService("TEST002", 1, 0.0, True, 1.0, 0.0),
    StandaloneService("GIFT", 2, 0.0, False, 10.0, 0.0),
    StandaloneService("C3", 2, 0.0, True, 75.0, 0.0),
)
# The two famous same-day reversals of the real data: (day, minute, code, quantity, pence).
_FAMOUS_HUGE_ORDERS = (
    ("2011-01-18", 10 * 60 + 1, "23166", 74_215, 104),
    ("2011-12-09", 9 * 60 + 15, "23843", 80_995, 208),
)


@dataclass
class Orders:
    """Ordinary orders of one slice before their lines exist."""

    day: np.ndarray
    minute: np.ndarray
    customer: np.ndarray
    country: np.ndarray
    raw_size: np.ndarray
    campaign: np.ndarray  # index of the campaign whose extra order this is, else -1


class ShopSimulation:
    """Holds the static world (calendar, catalogue, customers) and simulates slices of it."""

    def __init__(
        self,
        calendar: TradingCalendar,
        catalogue: Catalogue,
        population: Population,
        scale: float,
    ) -> None:
        self.calendar = calendar
        self.catalogue = catalogue
        self.population = population
        self.scale = scale
        self._service_index = {code: catalogue.index_of(code) for code in SERVICE_DESCRIPTIONS}
        self._n_products = catalogue.size
        self.campaign_orders: CampaignOrders | None = None
        self.last_campaign_tags = np.zeros(0, dtype=np.int64)
        self._customer_by_arrival = np.argsort(population.first_day, kind="stable")
        self._arrival_sorted = population.first_day[self._customer_by_arrival]
        self._build_product_tables()

    # ---- product sampling tables -------------------------------------------------------
    def _build_product_tables(self) -> None:
        """Popularity per (month, product), globally and with products grouped by theme."""
        cal = self.calendar
        month_starts = np.flatnonzero(np.r_[True, np.diff(cal.month_index) > 0])
        weights = self.catalogue.month_weights(month_starts)  # months x products
        self._products = GuidedInverseCdf(weights)
        themed = np.flatnonzero(self.catalogue.theme >= 0)
        by_theme = themed[np.argsort(self.catalogue.theme[themed], kind="stable")]
        self._themed_products = by_theme
        theme_weights = weights[:, by_theme]
        self._themed = GuidedInverseCdf(theme_weights)
        sorted_themes = self.catalogue.theme[by_theme]
        n_themes = self.catalogue.n_themes
        self._theme_lo = np.searchsorted(sorted_themes, np.arange(n_themes), side="left")
        self._theme_hi = np.searchsorted(sorted_themes, np.arange(n_themes), side="right")
        totals = np.add.reduceat(theme_weights, self._theme_lo.clip(0, len(by_theme) - 1), axis=1)
        totals[:, self._theme_hi == self._theme_lo] = 0.0
        self._theme_cdf_by_month = np.cumsum(totals, axis=1)

    def _draw_products(self, rng: np.random.Generator, months: np.ndarray) -> np.ndarray:
        """Products by popularity in each line's month."""
        return self._products.draw(rng, months)

    def _draw_themed(self, rng: np.random.Generator, months: np.ndarray, themes: np.ndarray):
        """Products of the given theme; -1 where the theme has nothing on sale that month."""
        start, stop = self._theme_lo[themes], self._theme_hi[themes]
        low = self._themed.cumulative_before(months, start)
        high = self._themed.cumulative_before(months, stop)
        position = self._themed.locate(months, low + rng.random(len(months)) * (high - low))
        position = np.clip(position, start, np.maximum(stop - 1, start))
        usable = (stop > start) & (high > low)
        return np.where(
            usable, self._themed_products[np.minimum(position, len(self._themed_products) - 1)], -1
        )

    def _draw_themes(self, rng: np.random.Generator, months: np.ndarray) -> np.ndarray:
        cdf = self._theme_cdf_by_month[months]
        points = rng.random(len(months)) * cdf[:, -1]
        return (cdf <= points[:, None]).sum(axis=1).clip(0, cdf.shape[1] - 1)

    # ---- one slice -------------------------------------------------------------------------
    def simulate(
        self,
        rng: np.random.Generator,
        first_day: int,
        end_day: int,
        budget: int,
        pending: InvoiceBatch,
    ) -> tuple[InvoiceBatch, InvoiceBatch]:
        """Invoices of days [first_day, end_day) with exactly ``budget`` lines.

        Returns the slice's invoices (time-ordered) and the cancellations still pending;
        ``last_campaign_tags`` then holds, per invoice of the slice, the campaign whose extra
        order it is (-1 for every other invoice).
        """
        due = pending.day < end_day
        incoming, pending = pending.select(due), pending.select(~due)
        incoming = _fit_invoices(incoming, budget)
        special = _fit_invoices(
            self._special_invoices(rng, first_day, end_day), budget - incoming.n_lines
        )
        room = budget - incoming.n_lines - special.n_lines
        orders = self._draw_orders(rng, first_day, end_day)
        if len(orders.day) == 0 and room > 0:  # tiny runs: someone has to buy something
            orders = self._anonymous_orders(rng, first_day, end_day, 1)
        batch, later, tags = self._fill_orders(rng, orders, room, end_day)
        before = np.full(incoming.n_invoices + special.n_invoices, -1, dtype=np.int64)
        batch = InvoiceBatch.concat([incoming, special, batch])
        order = np.lexsort((batch.kind, batch.minute, batch.day))
        self.last_campaign_tags = np.concatenate([before, tags])[order]
        return batch.reorder(order), InvoiceBatch.concat([pending, later])

    def _draw_orders(self, rng: np.random.Generator, first_day: int, end_day: int) -> Orders:
        """First orders of arriving customers, repeat orders, anonymous web orders."""
        pop, cal = self.population, self.calendar
        arriving = np.flatnonzero((pop.first_day >= first_day) & (pop.first_day < end_day))
        start = np.maximum(pop.first_day + 1, first_day)
        stop = np.minimum(pop.end_day, end_day)
        exposed = np.flatnonzero(stop > start)
        counts = rng.poisson(pop.rate[exposed] * cal.weight_between(start[exposed], stop[exposed]))
        repeaters = np.repeat(exposed, counts)
        repeat_days = cal.sample_days(rng, start[repeaters], stop[repeaters])
        n_anonymous = rng.poisson(_ANONYMOUS_ORDERS * self.scale * self._share(first_day, end_day))
        customer = np.concatenate([arriving, repeaters])
        day = np.concatenate([pop.first_day[arriving], repeat_days])
        known = Orders(
            day=day,
            minute=cal.sample_minutes(rng, day),
            customer=customer,
            country=pop.country[customer],
            raw_size=_order_sizes(rng, _CUSTOMER_LINES_MEDIAN * pop.basket[customer]),
            campaign=np.full(len(customer), -1, dtype=np.int64),
        )
        anonymous = self._anonymous_orders(rng, first_day, end_day, n_anonymous)
        # Drawn last, so that a slice without campaign orders is simulated as before.
        extra = self._campaign_orders(rng, first_day, end_day)
        return Orders(
            *(
                np.concatenate([getattr(known, f), getattr(anonymous, f), getattr(extra, f)])
                for f in _ORDER_FIELDS
            )
        )

    def _campaign_orders(self, rng, first_day: int, end_day: int) -> Orders:
        """The extra orders treated customers place because of a campaign (planned once per
        run, `campaigns.plan_campaigns`), on their days inside this slice."""
        plan = self.campaign_orders
        inside = (
            np.zeros(0, dtype=bool)
            if plan is None
            else (plan.day >= first_day) & (plan.day < end_day)
        )
        if not inside.any():
            none = np.zeros(0, dtype=np.int64)
            return Orders(none, none, none, none, np.zeros(0), none)
        customer = plan.customer[inside]
        day = plan.day[inside]
        pop = self.population
        return Orders(
            day=day,
            minute=self.calendar.sample_minutes(rng, day),
            customer=customer,
            country=pop.country[customer],
            raw_size=_order_sizes(rng, _CUSTOMER_LINES_MEDIAN * pop.basket[customer]),
            campaign=plan.campaign[inside],
        )

    def _anonymous_orders(self, rng, first_day: int, end_day: int, n: int) -> Orders:
        """Web-shop orders without a customer id: many lines, single units, mostly UK."""
        cal = self.calendar
        day = cal.sample_days(rng, np.full(n, first_day), np.full(n, end_day))
        share = np.cumsum(ANONYMOUS_COUNTRY_SHARE)
        pick = np.searchsorted(share / share[-1], rng.random(n), side="right")
        country = ANONYMOUS_COUNTRIES[pick.clip(0, len(ANONYMOUS_COUNTRIES) - 1)]
        return Orders(
            day=day,
            minute=cal.sample_minutes(rng, day),
            customer=np.full(n, -1, dtype=np.int64),
            country=country,
            raw_size=_order_sizes(rng, np.full(n, _ANONYMOUS_LINES_MEDIAN)),
            campaign=np.full(n, -1, dtype=np.int64),
        )

    def expected_lines_by_day(self) -> np.ndarray:
        """Expected order lines per day, to share the row budget out before simulating."""
        pop, cal = self.population, self.calendar
        size_factor = np.exp(_SIZE_SIGMA**2 / 2)  # mean of the log-normal size noise
        lines = _CUSTOMER_LINES_MEDIAN * pop.basket * size_factor
        first_orders = np.bincount(pop.first_day, weights=lines, minlength=cal.n_days)
        change = np.zeros(cal.n_days + 1)
        np.add.at(change, pop.first_day + 1, pop.rate * lines)
        np.add.at(change, pop.end_day, -pop.rate * lines)
        repeat_orders = np.cumsum(change)[: cal.n_days] * cal.weight
        anonymous = _ANONYMOUS_ORDERS * self.scale * cal.weight / cal.cumulative[-1]
        return first_orders + repeat_orders + anonymous * _ANONYMOUS_LINES_MEDIAN * size_factor

    def _rare_events(self, per_real_rows: float, first_day: int, end_day: int) -> int:
        """A fixed total of rare events (scaled), shared out over the slices by day weight.

        Drawing these per slice would leave some runs without any; this way the default
        size always has them.
        """
        cal = self.calendar
        total = per_real_rows * self.scale / cal.cumulative[-1]

        def before(day: int) -> int:
            return int(total * cal.cumulative[day] + 1e-9)  # guard 1.9999.. from float sums

        return before(end_day) - before(first_day)

    def _share(self, first_day: int, end_day: int) -> float:
        cal = self.calendar
        return float(cal.cumulative[end_day] - cal.cumulative[first_day]) / cal.cumulative[-1]

    def _fill_orders(self, rng, orders: Orders, room: int, end_day: int):
        """Size the orders to fill ``room`` lines exactly, with their same-slice cancellations."""
        n = len(orders.day)
        if n > room:  # only in tiny runs: keep as many one-line orders as fit
            keep = np.sort(rng.permutation(n)[:room])
            orders = Orders(*(getattr(orders, name)[keep] for name in _ORDER_FIELDS))
            n = room
        plan = self._plan_cancellations(rng, orders)
        same_slice = plan.cancel & (plan.day < end_day)
        minimum = np.where(plan.cancel, plan.lines, 1)
        extra = room - minimum.sum() - plan.lines[same_slice].sum()
        if extra < 0:  # not enough room for the cancellations: drop them
            plan.cancel[:] = False
            same_slice[:] = False
            minimum[:] = 1
            extra = room - n
        weights = np.maximum(orders.raw_size - minimum, 0.0) + 1e-6
        sizes = minimum + apportion(int(extra), weights)
        batch = self._order_lines(rng, orders, sizes)
        cancellations = self._cancellation_lines(rng, batch, plan)
        cancelled_now = cancellations.day < end_day
        now = InvoiceBatch.concat([batch, cancellations.select(cancelled_now)])
        tags = np.concatenate(
            [orders.campaign, np.full(int(cancelled_now.sum()), -1, dtype=np.int64)]
        )
        return now, cancellations.select(~cancelled_now), tags

    # ---- cancellations -----------------------------------------------------------------------
    def _plan_cancellations(self, rng: np.random.Generator, orders: Orders) -> _CancelPlan:
        """Which orders a customer cancels, how many lines, and when (same day or later)."""
        cal = self.calendar
        n = len(orders.day)
        known = orders.customer >= 0
        probability = np.where(known, self.population.cancel_probability[orders.customer], 0.0)
        cancel = rng.random(n) < probability
        lines = np.minimum(rng.geometric(0.37, n), np.maximum(np.round(orders.raw_size), 1))
        lines = lines.astype(np.int64)
        same_day = rng.random(n) < _SAME_DAY_CANCEL_SHARE
        later = orders.day + rng.geometric(1 / 8, n)
        later_open = cal.next_open[np.minimum(later, cal.n_days - 1)]
        later_open = np.where(later >= cal.n_days, cal.n_days, later_open)
        day = np.where(same_day, orders.day, later_open)
        cancel &= day < cal.n_days
        day = np.minimum(day, cal.n_days - 1)
        minute = np.where(
            same_day,
            _later_same_day(rng, orders.minute, cal.close_minute(day), 240),
            cal.sample_minutes(rng, day),
        )
        return _CancelPlan(cancel, lines, day, minute)

    def _cancellation_lines(self, rng, orders: InvoiceBatch, plan: _CancelPlan) -> InvoiceBatch:
        """C invoices repeating some lines of the cancelled orders with negative quantities."""
        picked = np.flatnonzero(plan.cancel[orders.line_invoice])
        owner = orders.line_invoice[picked]
        shuffled = np.lexsort((rng.random(len(picked)), owner))
        group_start = np.searchsorted(owner[shuffled], owner[shuffled], side="left")
        rank = np.arange(len(picked)) - group_start
        chosen = np.sort(picked[shuffled[rank < plan.lines[owner[shuffled]]]])
        owner = orders.line_invoice[chosen]
        quantity = orders.quantity[chosen]
        partial = (rng.random(len(chosen)) > _FULL_CANCEL_SHARE) & (quantity > 1)
        returned = np.where(
            partial, 1 + (rng.random(len(chosen)) * (quantity - 1)).astype(np.int64), quantity
        )
        invoices = np.flatnonzero(plan.cancel)
        new_index = np.full(orders.n_invoices, -1)
        new_index[invoices] = np.arange(len(invoices))
        return InvoiceBatch(
            day=plan.day[invoices],
            minute=plan.minute[invoices],
            kind=np.full(len(invoices), CANCELLATION),
            customer=orders.customer[invoices],
            country=orders.country[invoices],
            line_invoice=new_index[owner],
            product=orders.product[chosen],
            quantity=-returned,
            price=orders.price[chosen],
            no_description=np.zeros(len(chosen), dtype=bool),
        )

    # ---- order lines -------------------------------------------------------------------------
    def _order_lines(self, rng, orders: Orders, sizes: np.ndarray) -> InvoiceBatch:
        """Lines of the orders: themed baskets, pack-size quantities, tiered prices."""
        line_invoice = np.repeat(np.arange(len(sizes)), sizes)
        months = self.calendar.month_index[orders.day]
        line_months = months[line_invoice]
        product = self._basket_products(rng, orders, months, line_invoice, line_months)
        quantity = self._quantities(rng, orders, product, line_invoice)
        price = self._prices(product, quantity)
        price[rng.random(len(price)) < _ZERO_PRICE_SHARE] = 0
        batch = InvoiceBatch(
            day=orders.day,
            minute=orders.minute,
            kind=np.full(len(sizes), ORDER),
            customer=orders.customer,
            country=orders.country,
            line_invoice=line_invoice,
            product=product,
            quantity=quantity,
            price=price,
            no_description=np.zeros(len(line_invoice), dtype=bool),
        )
        self._add_service_lines(rng, batch, sizes)
        return batch

    def _basket_products(self, rng, orders, months, line_invoice, line_months) -> np.ndarray:
        known = orders.customer >= 0
        favourite = self.population.favourite_theme[np.where(known, orders.customer, 0)]
        themes = np.where(
            known & (rng.random(len(months)) < _FAVOURITE_THEME_SHARE),
            favourite,
            self._draw_themes(rng, months),
        )
        product = self._draw_products(rng, line_months)
        themed = rng.random(len(line_invoice)) < _THEME_LINE_SHARE
        from_theme = self._draw_themed(rng, line_months[themed], themes[line_invoice[themed]])
        product[themed] = np.where(from_theme >= 0, from_theme, product[themed])
        return self._distinct_per_invoice(rng, product, line_invoice, line_months)

    def _distinct_per_invoice(self, rng, product, line_invoice, line_months) -> np.ndarray:
        """Redraw repeated stock codes inside an invoice so every line is unique.

        One sort finds the repeats; redrawn codes are then checked against the sorted keys
        kept so far, so later rounds cost only as much as the few lines still clashing.
        """
        n = self._n_products
        key = line_invoice * n + product
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        clash = np.zeros(len(key), dtype=bool)
        clash[1:] = sorted_key[1:] == sorted_key[:-1]
        kept = sorted_key[~clash]
        redo = order[clash]
        for _ in range(100):
            if len(redo) == 0:
                return product
            product[redo] = self._draw_products(rng, line_months[redo])
            new_key = line_invoice[redo] * n + product[redo]
            spot = np.searchsorted(kept, new_key)
            taken = kept[np.minimum(spot, len(kept) - 1)] == new_key
            _, first = np.unique(new_key, return_index=True)
            fresh = np.zeros(len(redo), dtype=bool)
            fresh[first] = True
            accepted = fresh & ~taken
            added = np.sort(new_key[accepted])
            kept = np.insert(kept, np.searchsorted(kept, added), added)
            redo = redo[~accepted]
        raise RuntimeError("could not make stock codes distinct within invoices")

    def _quantities(self, rng, orders: Orders, product, line_invoice) -> np.ndarray:
        pack = self.catalogue.pack[product]
        customer = orders.customer[line_invoice]
        known = customer >= 0
        bulk = self.population.bulk[np.where(known, customer, 0)]
        multiple = rng.choice(_PACK_MULTIPLES, size=len(product), p=_PACK_MULTIPLE_P)
        packs = np.maximum(1, np.round(multiple * bulk)).astype(np.int64) * pack
        off_pack = 1 + (rng.random(len(product)) * pack).astype(np.int64)
        wholesale = np.where(rng.random(len(product)) < _OFF_PACK_SHARE, off_pack, packs)
        retail = rng.choice(_ANONYMOUS_QUANTITIES, size=len(product), p=_ANONYMOUS_QUANTITY_P)
        return np.where(known, wholesale, retail).astype(np.int64)

    def _prices(self, product: np.ndarray, quantity: np.ndarray) -> np.ndarray:
        """Price tier by quantity: single units cost more, bulk quantities less."""
        cat = self.catalogue
        single = (quantity < cat.pack[product]) & (cat.pack[product] > 1)
        bulk = quantity >= cat.bulk_min[product]
        price = np.where(single, cat.price_single[product], cat.price_normal[product])
        return np.where(bulk, cat.price_bulk[product], price).astype(np.int64)

    def _add_service_lines(self, rng, batch: InvoiceBatch, sizes: np.ndarray) -> None:
        """Postage, carriage, manual and bank-charge lines replace the last line of some orders."""
        n = batch.n_invoices
        known = batch.customer >= 0
        country = batch.country
        draw = rng.random(n)
        code = np.full(n, "", dtype=object)
        foreign = known & (country != UK)
        carriage = np.isin(country, [EIRE, CHANNEL_ISLANDS])
        code[foreign & ~carriage & (draw < 0.55)] = "POST"
        code[foreign & carriage & (draw < 0.4)] = "C2"
        code[foreign & (draw >= 0.55) & (draw < 0.565)] = "BANK CHARGES"
        code[known & (draw >= 0.97) & (draw < 0.992)] = "M"
        code[~known & (draw < 0.42)] = "DOT"
        code[~known & (draw >= 0.42) & (draw < 0.428)] = "gift_0001_"
        target = np.flatnonzero((code != "") & (sizes >= 2))
        last_line = np.cumsum(sizes)[target] - 1
        for name in np.unique(code[target]):
            rows = last_line[code[target] == name]
            self._fill_service(rng, batch, rows, str(name))

    def _fill_service(self, rng, batch: InvoiceBatch, rows: np.ndarray, name: str) -> None:
        n = len(rows)
        quantity = np.ones(n, dtype=np.int64)
        if name == "gift_0001_":
            value = rng.integers(1, 6, n) * 10
            product = np.array([self._service_index[f"gift_0001_{v}"] for v in value])
            price = np.round(value * 851).astype(np.int64)  # vouchers are sold net of VAT
        else:
            product = np.full(n, self._service_index[name])
            price = self._service_price(rng, batch, rows, name)
            if name in ("POST", "M"):
                quantity = rng.geometric(0.6, n).astype(np.int64)
        batch.product[rows] = product
        batch.quantity[rows] = quantity
        batch.price[rows] = price

    def _service_price(self, rng, batch: InvoiceBatch, rows: np.ndarray, name: str) -> np.ndarray:
        n = len(rows)
        if name == "POST":
            country = batch.country[batch.line_invoice[rows]]
            europe = np.isin(country, [COUNTRY_NAMES.index(c) for c in _EU_POSTAGE])
            return np.where(europe, 18_000, 40_000).astype(np.int64)
        fixed = {"C2": 50_000, "BANK CHARGES": 15_000}
        if name in fixed:
            return np.full(n, fixed[name], dtype=np.int64)
        median = {"M": 2.5, "DOT": 120.0}[name]
        spread = {"M": 1.4, "DOT": 0.8}[name]
        return _pounds_to_milli(median * rng.lognormal(0.0, spread, n))

    # ---- special invoices ---------------------------------------------------------------------
    def _special_invoices(self, rng, first_day: int, end_day: int) -> InvoiceBatch:
        share = self._share(first_day, end_day) * self.scale
        parts = [self._huge_orders(rng, first_day, end_day, share)]
        parts.append(self._no_description_adjustments(rng, first_day, end_day, share))
        parts.extend(self._standalone_services(rng, first_day, end_day, share))
        parts.append(self._bad_debt_adjustments(rng, first_day, end_day, share))
        return InvoiceBatch.concat(parts)

    def _random_days(self, rng, first_day: int, end_day: int, n: int):
        days = self.calendar.sample_days(rng, np.full(n, first_day), np.full(n, end_day))
        return days, self.calendar.sample_minutes(rng, days)

    def _customers_on(self, rng, days: np.ndarray) -> np.ndarray:
        """A customer who had already arrived on each day (-1 if none yet)."""
        arrived = np.searchsorted(self._arrival_sorted, days, side="right")
        pick = (rng.random(len(days)) * arrived).astype(np.int64)
        chosen = self._customer_by_arrival[np.minimum(pick, max(len(self._arrival_sorted) - 1, 0))]
        return np.where(arrived > 0, chosen, -1)

    def _huge_orders(self, rng, first_day: int, end_day: int, share: float) -> InvoiceBatch:
        """Single-line orders of tens of thousands of units, reversed the same day."""
        cal, cat = self.calendar, self.catalogue
        famous = [f for f in _FAMOUS_HUGE_ORDERS if first_day <= cal.day_index(f[0]) < end_day]
        n_random = self._rare_events(_RANDOM_HUGE_ORDERS, first_day, end_day)
        days, minutes = self._random_days(rng, first_day, end_day, n_random)
        # Popular cheap items: keeps the largest invoice near the real maximum (~168k).
        cheap = np.flatnonzero((cat.price_bulk > 0) & (cat.price_bulk <= 1_650) & ~cat.is_service)
        popular = cheap[np.argsort(-cat.base_weight[cheap], kind="stable")[:200]]
        random_products = rng.choice(popular, n_random)
        product = _ints([cat.index_of(f[2]) for f in famous], random_products)
        day = _ints([cal.day_index(f[0]) for f in famous], days)
        minute = _ints([f[1] for f in famous], minutes)
        quantity = _ints([f[3] for f in famous], rng.integers(12_000, 81_000, n_random))
        price = _ints([f[4] * 10 for f in famous], cat.price_bulk[random_products])
        customer = self._customers_on(rng, day)
        known = customer >= 0
        day, minute, product = day[known], minute[known], product[known]
        quantity, price, customer = quantity[known], price[known], customer[known]
        reversal_minute = _later_same_day(rng, minute, cal.close_minute(day), 60)
        return InvoiceBatch.single_lines(
            day=np.repeat(day, 2),
            minute=np.column_stack([minute, reversal_minute]).ravel(),
            kind=np.tile([ORDER, CANCELLATION], len(day)),
            customer=np.repeat(customer, 2),
            country=np.repeat(self.population.country[customer], 2),
            product=np.repeat(product, 2),
            quantity=np.column_stack([quantity, -quantity]).ravel().astype(np.int64),
            price=np.repeat(price, 2).astype(np.int64),
            no_description=np.zeros(2 * len(day), dtype=bool),
        )

    def _no_description_adjustments(self, rng, first_day, end_day, share) -> InvoiceBatch:
        """Stock corrections: one line, no description, price 0, no customer, mostly negative."""
        n = rng.poisson(_NO_DESCRIPTION_ADJUSTMENTS * share)
        day, minute = self._random_days(rng, first_day, end_day, n)
        product = self._draw_products(rng, self.calendar.month_index[day])
        size = np.ceil(rng.lognormal(2.0, 1.3, n)).astype(np.int64)
        sign = np.where(rng.random(n) < 0.75, -1, 1)
        return InvoiceBatch.single_lines(
            day=day,
            minute=minute,
            kind=np.full(n, ORDER),
            customer=np.full(n, -1),
            country=np.full(n, UK),
            product=product,
            quantity=sign * size,
            price=np.zeros(n, dtype=np.int64),
            no_description=np.ones(n, dtype=bool),
        )

    def _standalone_services(self, rng, first_day, end_day, share) -> list[InvoiceBatch]:
        parts = []
        for service in _STANDALONE_SERVICES:
            n = rng.poisson(service.per_real_rows * share)
            if n == 0:
                continue
            day, minute = self._random_days(rng, first_day, end_day, n)
            customer = self._customers_on(rng, day) if service.with_customer else np.full(n, -1)
            country = np.where(customer >= 0, self.population.country[customer], UK)
            cancelled = rng.random(n) < service.cancellation_share
            quantity = rng.integers(1, service.max_quantity + 1, n)
            price = _pounds_to_milli(
                service.price_median * rng.lognormal(0.0, service.price_spread, n)
            )
            parts.append(
                InvoiceBatch.single_lines(
                    day=day,
                    minute=minute,
                    kind=np.where(cancelled, CANCELLATION, ORDER),
                    customer=customer,
                    country=country,
                    product=np.full(n, self._service_index[service.code]),
                    quantity=np.where(cancelled, -quantity, quantity).astype(np.int64),
                    price=price,
                    no_description=np.zeros(n, dtype=bool),
                )
            )
        return parts

    def _bad_debt_adjustments(self, rng, first_day, end_day, share) -> InvoiceBatch:
        """``A`` invoices, stock code B: a write-off, its reversal and a second write-off."""
        groups = self._rare_events(_BAD_DEBT_GROUPS, first_day, end_day)
        day, minute = self._random_days(rng, first_day, end_day, groups)
        amount = _pounds_to_milli(20_000 * rng.lognormal(0.0, 0.8, groups))
        second = _pounds_to_milli(20_000 * rng.lognormal(0.0, 0.8, groups))
        n = 3 * groups
        return InvoiceBatch.single_lines(
            day=np.repeat(day, 3),
            minute=np.repeat(minute, 3) + np.tile([0, 1, 2], groups),
            kind=np.full(n, ADJUSTMENT),
            customer=np.full(n, -1),
            country=np.full(n, UK),
            product=np.full(n, self._service_index["B"]),
            quantity=np.ones(n, dtype=np.int64),
            price=np.column_stack([amount, -amount, -second]).ravel(),
            no_description=np.zeros(n, dtype=bool),
        )


_ORDER_FIELDS = ("day", "minute", "customer", "country", "raw_size", "campaign")


@dataclass(frozen=True)
class CampaignOrders:
    """Extra orders of treated customers: one entry per order, any order of days."""

    campaign: np.ndarray
    customer: np.ndarray
    day: np.ndarray


def _order_sizes(rng: np.random.Generator, median: np.ndarray) -> np.ndarray:
    """Right-skewed numbers of lines (as weights; the slice budget fixes the integers)."""
    raw = median * rng.lognormal(0.0, _SIZE_SIGMA, len(median))
    return np.clip(raw, 1.0, _MAX_LINES)


@dataclass
class _CancelPlan:
    cancel: np.ndarray
    lines: np.ndarray
    day: np.ndarray
    minute: np.ndarray


def _later_same_day(rng, minute: np.ndarray, close: np.ndarray, within: int) -> np.ndarray:
    """A few minutes to ``within`` minutes later, spread before closing time when that is near."""
    later = minute + rng.integers(2, within, len(minute))
    room = np.maximum(close - minute, 0)
    squeezed = minute + (rng.random(len(minute)) * (room + 1)).astype(np.int64)
    return np.where(later <= close, later, np.minimum(squeezed, np.maximum(close, minute)))


def _pounds_to_milli(pounds: np.ndarray) -> np.ndarray:
    """Whole pence, held in thousandths of a pound."""
    return (np.round(np.asarray(pounds) * 100).astype(np.int64) * 10).astype(np.int64)


def _ints(fixed: list[int], drawn: np.ndarray) -> np.ndarray:
    """Fixed values followed by drawn ones, as int64."""
    return np.concatenate([np.array(fixed, dtype=np.int64), np.asarray(drawn, dtype=np.int64)])


def _fit_invoices(batch: InvoiceBatch, budget: int) -> InvoiceBatch:
    """The leading invoices whose lines fit in ``budget`` (only binds in tiny runs)."""
    if batch.n_lines <= budget:
        return batch
    sizes = np.bincount(batch.line_invoice, minlength=batch.n_invoices)
    return batch.select(np.cumsum(sizes) <= max(budget, 0))


def invoice_numbers(rng: np.random.Generator, n: int, next_number: int) -> tuple[np.ndarray, int]:
    """Increasing invoice numbers with the gaps of the real sequence; returns the next free one."""
    gaps = 1 + rng.poisson(_INVOICE_NUMBER_GAP, n)
    numbers = next_number + np.cumsum(gaps) - gaps  # the first invoice takes next_number
    following = int(numbers[-1]) + 1 if n else next_number
    return numbers.astype(np.int64), following


FIRST_INVOICE_NUMBER = _FIRST_INVOICE_NUMBER
