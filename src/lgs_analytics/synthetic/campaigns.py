"""Targeted campaigns of the synthetic shop: who is assigned, what the campaign does, and
the exact effect it had on the data written.

A campaign targets the customers of one RFM-like segment as the simulation knows them on
its send day (from their arrival, churn and purchase rate, not from any model's output),
randomises each of them into treatment or control (independently, with the intended
treatment share) and, inside its window of ``window_days`` days from the send day, gives
each treated customer one extra order with the campaign's ``response_probability``. That
order is an ordinary order of the customer (their basket, their quantities), so it raises
both the chance that they buy in the window and what they spend there; the customer's own
orders are drawn as if there were no campaign, so they are the treated customer's outcome
without treatment.

The ground truth is therefore exact for the data written: per campaign, the effect on the
treated customers of this dataset, ``true_uplift.conversion`` (the share of treated
customers who bought in the window only because of the extra order) and
``true_uplift.revenue`` (the extra orders' sales-line revenue per treated customer). A
difference in means between the arms estimates it without bias, so a 95% interval covers
it in about 95% of datasets. A campaign with ``response_probability`` 0 has no effect.

The assignments are written as a CRM export: ``campaign_id,customer_id,variant,assigned_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgs_analytics.landing.folders import write_json
from lgs_analytics.landing.raw_layout import MANIFEST_NAME, format_decimal_milli
from lgs_analytics.synthetic.catalogue import Catalogue
from lgs_analytics.synthetic.invoice_batch import ORDER, InvoiceBatch
from lgs_analytics.synthetic.population import Population
from lgs_analytics.synthetic.shop_simulation import CampaignOrders
from lgs_analytics.synthetic.trading_calendar import TradingCalendar

ASSIGNMENT_COLUMNS: tuple[str, ...] = ("campaign_id", "customer_id", "variant", "assigned_at")
ASSIGNMENTS_HEADER = ",".join(ASSIGNMENT_COLUMNS) + "\n"
ASSIGNMENTS_FILE = "part-00000.csv"
SEND_TIME = "06:00:00"  # before the shop opens: the send day is the window's first day
TREATMENT, CONTROL = "treatment", "control"


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign as the shop plans it."""

    campaign_id: str
    segment: str  # which customers it targets (see `eligible_customers`)
    send_date: str  # yyyy-mm-dd
    window_days: int
    response_probability: float  # chance a treated customer places one extra order
    treatment_share: float = 0.5


DEFAULT_CAMPAIGNS: tuple[CampaignSpec, ...] = (
    CampaignSpec("CMP-2011-03-WINBACK", "at_risk", "2011-03-01", 30, 0.20),
    CampaignSpec("CMP-2011-06-CHAMPIONS", "champions", "2011-06-01", 30, 0.30),
    CampaignSpec("CMP-2011-09-NEWCOMERS", "new_customers", "2011-09-01", 30, 0.0),
)
SEGMENT_RULES = {
    "at_risk": "bought before, arrived at least 180 days before the send day and stopped "
    "buying (churned) in the 180 days before it",
    "champions": "active on the send day, arrived at least 90 days before it, and among the "
    "30% with the highest purchase rate of those",
    "new_customers": "first order in the 60 days before the send day, still active",
}


def eligible_customers(
    spec: CampaignSpec, population: Population, calendar: TradingCalendar
) -> np.ndarray:
    """Indexes of the customers the campaign targets, from the simulation's own behaviour."""
    send = calendar.day_index(np.datetime64(spec.send_date))
    first, end = population.first_day, population.end_day
    if spec.segment == "at_risk":
        return np.flatnonzero((first <= send - 180) & (end <= send) & (end > send - 180))
    if spec.segment == "champions":
        active = np.flatnonzero((first <= send - 90) & (end > send))
        if not len(active):
            return active
        cut = np.quantile(population.rate[active], 0.7)
        return active[population.rate[active] >= cut]
    if spec.segment == "new_customers":
        return np.flatnonzero((first < send) & (first >= send - 60) & (end > send))
    raise ValueError(f"unknown campaign segment {spec.segment!r}")


@dataclass(frozen=True)
class CampaignPlan:
    """Every assignment of every campaign (one entry per campaign and customer)."""

    specs: tuple[CampaignSpec, ...]
    campaign: np.ndarray  # index into specs
    customer: np.ndarray  # index into the population
    treated: np.ndarray
    orders: CampaignOrders  # the treated customers' extra orders
    window: np.ndarray  # per spec: [first_day, end_day) of the window, as day indexes


def plan_campaigns(
    rng: np.random.Generator,
    population: Population,
    calendar: TradingCalendar,
    specs: tuple[CampaignSpec, ...] = DEFAULT_CAMPAIGNS,
) -> CampaignPlan:
    """Assign the eligible customers at random and draw the treated ones' extra orders."""
    campaign, customer, treated = [], [], []
    order_campaign, order_customer, order_day = [], [], []
    window = np.zeros((len(specs), 2), dtype=np.int64)
    for index, spec in enumerate(specs):
        first = calendar.day_index(np.datetime64(spec.send_date))
        end = min(first + spec.window_days, calendar.n_days)
        window[index] = (first, end)
        eligible = eligible_customers(spec, population, calendar)
        is_treated = rng.random(len(eligible)) < spec.treatment_share
        campaign.append(np.full(len(eligible), index))
        customer.append(eligible)
        treated.append(is_treated)
        responds = is_treated & (rng.random(len(eligible)) < spec.response_probability)
        n = int(responds.sum())
        order_campaign.append(np.full(n, index))
        order_customer.append(eligible[responds])
        order_day.append(calendar.sample_days(rng, np.full(n, first), np.full(n, end)))

    def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return CampaignPlan(
        specs=tuple(specs),
        campaign=joined(campaign, np.int64),
        customer=joined(customer, np.int64),
        treated=joined(treated, bool),
        orders=CampaignOrders(
            campaign=joined(order_campaign, np.int64),
            customer=joined(order_customer, np.int64),
            day=joined(order_day, np.int64),
        ),
        window=window,
    )


class CampaignTruth:
    """Accumulates, slice by slice, what the campaigns did to the treated customers."""

    def __init__(self, plan: CampaignPlan, catalogue: Catalogue, population_size: int) -> None:
        self.plan = plan
        self._is_service = catalogue.is_service
        n = len(plan.specs)
        # per campaign and customer: bought in the window without / with the extra order
        self._own = np.zeros((n, population_size), dtype=bool)
        self._extra = np.zeros((n, population_size), dtype=bool)
        self._extra_milli = np.zeros(n, dtype=np.int64)
        self._extra_orders = np.zeros(n, dtype=np.int64)

    def add_slice(self, batch: InvoiceBatch, tags: np.ndarray) -> None:
        """Count one newly written slice (never a repeated copy) with its campaign tags."""
        if not len(self.plan.specs) or not batch.n_lines:
            return
        inv = batch.line_invoice
        sales = (
            (batch.kind[inv] == ORDER)
            & ~self._is_service[batch.product]
            & (batch.quantity > 0)
            & (batch.price > 0)
            & (batch.customer[inv] >= 0)
        )
        line_inv = inv[sales]
        amount = batch.quantity[sales] * batch.price[sales]
        day = batch.day[line_inv]
        customer = batch.customer[line_inv]
        tag = tags[line_inv]
        for index, (first, end) in enumerate(self.plan.window):
            inside = (day >= first) & (day < end)
            own = inside & (tag == -1)
            self._own[index, customer[own]] = True
            extra = inside & (tag == index)
            self._extra[index, customer[extra]] = True
            self._extra_milli[index] += int(amount[extra].sum(dtype=np.int64))
        placed = tags[(tags >= 0) & (batch.kind == ORDER)]
        self._extra_orders += np.bincount(placed, minlength=len(self.plan.specs))

    def manifest(self) -> list[dict]:
        """One entry per campaign for ``_manifest.json``."""
        plan = self.plan
        entries = []
        for index, spec in enumerate(plan.specs):
            mine = plan.campaign == index
            treated = plan.customer[mine & plan.treated]
            n_treated = len(treated)
            only_extra = self._extra[index, treated] & ~self._own[index, treated]
            conversion = float(only_extra.sum()) / n_treated if n_treated else 0.0
            revenue_milli = int(self._extra_milli[index])
            entries.append(
                {
                    "campaign_id": spec.campaign_id,
                    "segment": spec.segment,
                    "segment_rule": SEGMENT_RULES[spec.segment],
                    "send_date": spec.send_date,
                    "window_days": spec.window_days,
                    "treatment_share": spec.treatment_share,
                    "response_probability": spec.response_probability,
                    "n_treatment": n_treated,
                    "n_control": int(mine.sum()) - n_treated,
                    "extra_orders": int(self._extra_orders[index]),
                    "extra_revenue": format_decimal_milli(revenue_milli),
                    "true_uplift": {
                        "conversion": conversion,
                        "revenue": revenue_milli / 1000 / n_treated if n_treated else 0.0,
                    },
                }
            )
        return entries


def assignment_lines(plan: CampaignPlan, population: Population) -> str:
    """The CRM export's text: header, then one line per assignment."""
    lines = [ASSIGNMENTS_HEADER]
    for index, spec in enumerate(plan.specs):
        mine = np.flatnonzero(plan.campaign == index)
        ids = population.customer_id[plan.customer[mine]]
        order = np.argsort(ids, kind="stable")
        at = f"{spec.send_date} {SEND_TIME}"
        for position in order:
            variant = TREATMENT if plan.treated[mine[position]] else CONTROL
            lines.append(f"{spec.campaign_id},{int(ids[position])},{variant},{at}\n")
    return "".join(lines)


def write_assignments(folder: Path, plan: CampaignPlan, population: Population, seed: int) -> str:
    """Replace the folder's generated assignments file and its manifest (which marks the
    folder synthetic, so `lgs import` never appends a shop's export to it); the file name."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ASSIGNMENTS_FILE
    temporary = folder / ("." + ASSIGNMENTS_FILE + ".tmp")
    temporary.write_text(assignment_lines(plan, population), encoding="utf-8")
    temporary.replace(path)
    manifest = {
        "format": "csv",
        "seed": seed,
        "generator_version": "1",
        "files": [ASSIGNMENTS_FILE],
        "rows": len(plan.customer),
    }
    write_json(folder / MANIFEST_NAME, manifest)
    return ASSIGNMENTS_FILE
