"""Customers of the synthetic shop: who they are, when they arrive, how often they buy.

Purchase rates are log-normal (many one-off buyers, a loyal core buying weekly), customers
arrive over the whole period (a base already trading in December 2009, then new accounts
with the season) and churn after an exponential lifetime. The country is fixed per customer:
about 91% United Kingdom, the rest spread over some 40 countries so all of them show up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgs_analytics.synthetic.trading_calendar import TradingCalendar

# (country, relative number of customers outside the UK); zero = only on anonymous invoices
COUNTRIES = (
    ("United Kingdom", 0.0),
    ("Germany", 107),
    ("France", 95),
    ("Spain", 41),
    ("Belgium", 29),
    ("Portugal", 24),
    ("Netherlands", 22),
    ("Switzerland", 22),
    ("Sweden", 19),
    ("Italy", 17),
    ("Australia", 15),
    ("Finland", 15),
    ("Austria", 13),
    ("Norway", 13),
    ("Denmark", 12),
    ("Channel Islands", 12),
    ("Cyprus", 11),
    ("Japan", 10),
    ("Greece", 8),
    ("Poland", 6),
    ("Unspecified", 6),
    ("EIRE", 5),
    ("USA", 5),
    ("Canada", 4),
    ("United Arab Emirates", 4),
    ("Israel", 3),
    ("Malta", 3),
    ("RSA", 2),
    ("Bahrain", 2),
    ("Lithuania", 1),
    ("Iceland", 1),
    ("Singapore", 1),
    ("Brazil", 1),
    ("Korea", 1),
    ("Thailand", 1),
    ("Lebanon", 1),
    ("West Indies", 1),
    ("European Community", 1),
    ("Czech Republic", 1),
    ("Saudi Arabia", 1),
    ("Nigeria", 1),
    ("Hong Kong", 0.0),
    ("Bermuda", 0.0),
)
COUNTRY_NAMES = tuple(name for name, _ in COUNTRIES)
UK = 0
EIRE = COUNTRY_NAMES.index("EIRE")
CHANNEL_ISLANDS = COUNTRY_NAMES.index("Channel Islands")
# Anonymous (no customer id) invoices: almost all UK web-shop sales.
ANONYMOUS_COUNTRIES = np.array(
    [UK]
    + [COUNTRY_NAMES.index(name) for name in ("EIRE", "Hong Kong", "Unspecified", "France")]
    + [COUNTRY_NAMES.index(name) for name in ("Bermuda", "Israel")]
)
ANONYMOUS_COUNTRY_SHARE = np.array([0.955, 0.012, 0.009, 0.009, 0.007, 0.004, 0.004])

_FOREIGN_SHARE = 0.09
_EXISTING_SHARE = 0.4  # already customers before the extract starts
_ONE_OFF_SHARE = 0.22  # new accounts that never come back
_MEAN_LIFETIME_DAYS = 900.0
_FIRST_CUSTOMER_ID = 12346


@dataclass(frozen=True)
class Population:
    """Column arrays, one entry per customer."""

    customer_id: np.ndarray
    country: np.ndarray
    first_day: np.ndarray  # day of the first order in the data
    end_day: np.ndarray  # repeat orders happen on days (first_day, end_day)
    rate: np.ndarray  # repeat orders per unit of day weight
    basket: np.ndarray  # multiplier of lines per order
    bulk: np.ndarray  # multiplier of quantities per line
    cancel_probability: np.ndarray
    favourite_theme: np.ndarray

    @property
    def size(self) -> int:
        """Number of customers."""
        return len(self.customer_id)


def build_population(
    rng: np.random.Generator,
    n_customers: int,
    calendar: TradingCalendar,
    n_themes: int,
    target_orders: float,
) -> Population:
    """Customers whose expected order count over the period is ``target_orders``."""
    country = _assign_countries(rng, n_customers)
    first_day, end_day = _arrivals_and_churn(rng, n_customers, calendar)
    foreign = country != UK
    eire = country == EIRE
    rate = rng.lognormal(0.0, 1.15, n_customers) * np.where(eire, 5.0, 1.0)
    exposure = calendar.weight_between(first_day + 1, end_day)
    repeats_wanted = max(target_orders - n_customers, 0.0)
    rate = rate * repeats_wanted / max(float(np.sum(rate * exposure)), 1e-9)
    basket = rng.lognormal(0.0, 0.35, n_customers) * np.where(foreign, 1.25, 1.0)
    bulk = rng.lognormal(0.0, 0.4, n_customers) * np.where(foreign, 1.4, 1.0)
    span = int(n_customers * 1.0005) + 1
    customer_id = _FIRST_CUSTOMER_ID + rng.choice(span, n_customers, replace=False)
    return Population(
        customer_id=customer_id.astype(np.int64),
        country=country,
        first_day=first_day,
        end_day=end_day,
        rate=rate,
        basket=basket * np.where(eire, 1.6, 1.0),
        bulk=bulk,
        cancel_probability=rng.beta(1.2, 5.0, n_customers),
        favourite_theme=rng.integers(0, n_themes, n_customers),
    )


def _assign_countries(rng: np.random.Generator, n_customers: int) -> np.ndarray:
    """UK for most; foreign customers apportioned by weight so rare countries still appear."""
    weights = np.array([weight for _, weight in COUNTRIES], dtype=float)
    n_foreign = round(n_customers * _FOREIGN_SHARE)
    counts = apportion(n_foreign, weights)
    counts[UK] = n_customers - n_foreign
    return rng.permutation(np.repeat(np.arange(len(COUNTRIES)), counts))


def _arrivals_and_churn(rng: np.random.Generator, n: int, calendar: TradingCalendar):
    """First order day (existing base early, new accounts all along) and end of activity."""
    days = np.arange(calendar.n_days)
    existing = rng.random(n) < _EXISTING_SHARE
    early = calendar.weight * np.exp(-days / 90.0)
    growth = calendar.weight * (1.1 - 0.2 * days / calendar.n_days)
    first_day = np.where(
        existing, _sample_by_weight(rng, early, n), _sample_by_weight(rng, growth, n)
    )
    one_off = ~existing & (rng.random(n) < _ONE_OFF_SHARE)
    lifetime = rng.exponential(_MEAN_LIFETIME_DAYS, n).astype(np.int64)
    end_day = np.where(one_off, first_day + 1, first_day + 1 + lifetime)
    return first_day, np.minimum(end_day, calendar.n_days)


def _sample_by_weight(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(0, len(weights) - 1)


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = weights * (total / weights.sum())
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return counts
