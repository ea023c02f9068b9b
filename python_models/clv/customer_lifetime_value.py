"""Customer lifetime value: BG/NBD + Gamma-Gamma on daily-grain transactions (DEFINITIONS §6).

One row per customer of ``customer_rfm_scores``. Transactions are daily: one purchase per
customer and calendar day with a sales line, its spend the sum of the day's ``line_amount``.
Per customer, in days:

- ``frequency`` x: repeat purchase days (purchase days - 1);
- ``recency_days`` t_x: days from the first to the last purchase day (BG/NBD recency, not
  the RFM recency);
- ``tenure_days`` T: days from the first purchase day to the last date of the data;
- ``avg_daily_spend``: mean spend of the repeat purchase days (the first day is left out,
  as the Gamma-Gamma model expects); null for customers without a repeat day.

Models, fitted by maximum likelihood (scipy L-BFGS-B on log parameters, so that every
parameter stays positive without constraints):

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): purchases
  follow a Poisson process with rate λ ~ Gamma(r, α) while the customer is alive, and after
  each purchase the customer drops out with probability p ~ Beta(a, b). Gives the expected
  purchases in the next t days and the probability of being alive, given (x, t_x, T).
- Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): the spend
  of a transaction ~ Gamma(p, ν) with ν ~ Gamma(q, γ), independent of the purchase process;
  fitted on customers with x > 0 and a positive mean spend. Gives the expected spend per
  purchase day, E[M | x, m] = p(γ + x·m) / (p·x + q - 1).

CLV over ``clv_horizon_months`` months = Σ_i (E[X(i·D)] - E[X((i-1)·D)]) · E[M] / (1+d)^i,
D = 365.25/12 days, d = ``clv_discount_rate_monthly``: each month's expected purchases valued
at the expected spend and discounted to today (the lifetimes library's formula).

The models are fitted only where the data can support them; otherwise every customer is
not scored, with all model columns null and the reason in ``score_reason`` (the build warns):
- ``too_few_repeat_customers``: fewer customers with a repeat purchase day than
  ``clv_min_repeat_customers`` (default 50). On a few days or a handful of repeat buyers
  the maximum of the likelihood is degenerate: on 600 random subsets of the generated
  data (3 days to 2 years, 10 to 1,000 customers), fits on 25 repeat buyers or fewer gave
  NaN predictions or a median probability alive of the repeat buyers below 1%, none on
  more than 30 did.
- ``degenerate_fit``: an optimiser that did not converge, a fitted parameter at the box
  bound e^±20, or a Gamma-Gamma q <= 1 (infinite expected spend).
A row whose predictions still come out NaN, infinite, negative (or a probability outside
[0, 1]) is not scored either, reason ``invalid_prediction``, its model columns null: no NaN
or infinity is ever published.

Customers the fitted models cannot score (``clv_tier = 'not_scored'``, ``score_reason``
says why):
- ``single_purchase_day``: no repeat purchase day, so Gamma-Gamma has no spend of theirs to
  learn from. Their expected spend is the Gamma-Gamma population mean pγ/(q-1), which is
  exactly E[M | x = 0], so their CLV is still the models' estimate (BG/NBD purchases × mean
  spend) and counts in totals; but BG/NBD also says P(alive) = 1 for every x = 0 customer
  (a known property of the model), so they are kept out of the value tiers.
- ``nonpositive_spend``: repeat days with a mean spend <= 0 (impossible on sales lines, kept
  for safety): treated like a single purchase day.
- ``no_purchase_days``: a customer of ``customer_rfm_scores`` without any purchase day here
  (impossible while both read the same sales lines): all model columns null.
Scored customers are cut into quartiles of CLV (pandas ``qcut`` semantics, as the RFM
scores): Platinum (top 25%), Gold, Silver, Bronze.

Calibration/holdout check: the same models are fitted again on the purchase days up to
``calibration_end_date`` = last date - ``clv_holdout_days``, and each customer who had bought
by then gets the predicted number of purchase days in the holdout (the ``clv_holdout_days``
days after it) next to the actual number; ``clv_model_evaluation`` aggregates them. Where
there is no prediction, ``holdout_score_reason`` says why: ``first_purchase_in_holdout``,
or the calibration fit's ``too_few_repeat_customers``, ``degenerate_fit`` or
``invalid_prediction`` (the same rules as above, on the calibration period).

The purchase days are aggregated in Spark; only the per-customer summary (one row per
customer, thousands of rows) is collected to the driver, where the models are fitted.

Settings (``config.meta`` in the model yml next to this file, set from project variables;
read with ``dbt.config.meta_get``):
- ``clv_horizon_months``: CLV and prediction horizon in months (default 12).
- ``clv_discount_rate_monthly``: monthly discount rate (default 0.01).
- ``clv_holdout_days``: length of the holdout period in days (default 180).
- ``clv_min_repeat_customers``: customers with a repeat purchase day needed to fit the
  models (default 50, at least 2).
"""

import math

# NamedTuple rather than dataclasses: the session adapter exec()s the model outside any
# module, and dataclasses fail there when annotations are strings (PEP 563).
from typing import NamedTuple

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as sf
from scipy import optimize, special

DAYS_PER_MONTH = 365.25 / 12
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
NOT_SCORED = "not_scored"
# Reasons of the whole fit (every row gets them; the build warns), and of one row.
TOO_FEW_REPEAT_CUSTOMERS = "too_few_repeat_customers"
DEGENERATE_FIT = "degenerate_fit"
INVALID_PREDICTION = "invalid_prediction"
FIRST_PURCHASE_IN_HOLDOUT = "first_purchase_in_holdout"
NO_PURCHASE_DAYS = "no_purchase_days"
# Optimiser box on the log parameters: e^±20 is far beyond any sensible rate or shape, and
# keeps exp() finite when a direction of the likelihood is flat.
LOG_BOUND = 20.0

OUTPUT_SCHEMA = (
    "customer_id string, clv_tier string, score_reason string, frequency int, "
    "recency_days int, tenure_days int, avg_daily_spend double, "
    "predicted_purchases double, probability_alive double, expected_avg_spend double, "
    "clv double, calibration_frequency int, holdout_predicted_purchases double, "
    "holdout_actual_purchases int, holdout_score_reason string, "
    "first_purchase_date date, last_purchase_date date, "
    "observation_end_date date, calibration_end_date date"
)


class BgNbdParams(NamedTuple):
    """BG/NBD parameters: purchase rate λ ~ Gamma(r, α) (α in days), dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


class GammaGammaParams(NamedTuple):
    """Gamma-Gamma parameters: spend ~ Gamma(p, ν), ν ~ Gamma(q, γ) (γ in GBP)."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean_spend(self) -> float:
        """E[M] of a customer with no spend observed: pγ / (q - 1) (needs q > 1)."""
        return self.p * self.gamma / (self.q - 1)


class ClvSettings(NamedTuple):
    """The model's configuration, validated."""

    horizon_months: int = 12
    discount_rate_monthly: float = 0.01
    holdout_days: int = 180
    min_repeat_customers: int = 50


class DegenerateFitError(ValueError):
    """The likelihood's maximum is no usable fit (not converged, at a bound, q <= 1)."""


def parse_settings(
    horizon: object,
    discount_rate: object,
    holdout_days: object,
    min_repeat_customers: object = 50,
) -> ClvSettings:
    """Settings from the config values (strings when they come from ``var()``)."""
    try:
        settings = ClvSettings(
            horizon_months=int(str(horizon).strip()),
            discount_rate_monthly=float(str(discount_rate).strip()),
            holdout_days=int(str(holdout_days).strip()),
            min_repeat_customers=int(str(min_repeat_customers).strip()),
        )
    except ValueError as error:
        raise ValueError(
            "clv_horizon_months, clv_holdout_days and clv_min_repeat_customers must be "
            f"integers and clv_discount_rate_monthly a number, got {horizon!r}, "
            f"{holdout_days!r}, {min_repeat_customers!r}, {discount_rate!r}"
        ) from error
    if settings.min_repeat_customers < 2:
        raise ValueError(f"clv_min_repeat_customers must be >= 2, got {min_repeat_customers!r}")
    if settings.horizon_months < 1:
        raise ValueError(f"clv_horizon_months must be >= 1, got {horizon!r}")
    if not 0 <= settings.discount_rate_monthly < 1:
        raise ValueError(f"clv_discount_rate_monthly must be in [0, 1), got {discount_rate!r}")
    if settings.holdout_days < 1:
        raise ValueError(f"clv_holdout_days must be >= 1, got {holdout_days!r}")
    return settings


# --- BG/NBD ---------------------------------------------------------------------------------


def bgnbd_log_likelihood(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) (Fader, Hardie & Lee 2005, eq. 6).

    ln L = ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b)
           + ln[(α+T)^-(r+x) + 1{x>0} · a/(b+x-1) · (α+t_x)^-(r+x)]
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(tenure, dtype=float)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # b + x - 1 >= b > 0 where x >= 1; the where() keeps the log finite for x = 0 rows.
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bgnbd(
    frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray, penalizer: float = 0.0
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for customers' (x, t_x, T), times in days.

    Identical (x, t_x, T) triples are fitted once with their count as weight. Times are
    scaled so that the longest tenure is 10 before fitting (α scales with time, the other
    parameters do not), which keeps the start point (all parameters 1) sensible whatever
    the time unit. ``penalizer`` adds an L2 penalty on the parameters, as in lifetimes.
    A fit that did not converge or has a parameter at the box bound raises
    DegenerateFitError.
    """
    triples = np.column_stack([frequency, recency, tenure]).astype(float)
    if len(triples) == 0:
        raise ValueError("BG/NBD needs at least one customer to fit")
    if not (triples[:, 0] > 0).any():
        raise ValueError("BG/NBD needs at least one customer with a repeat purchase")
    unique, weights = np.unique(triples, axis=0, return_counts=True)
    scale = 10.0 / max(float(unique[:, 2].max()), 1.0)
    x, t_x, big_t = unique[:, 0], unique[:, 1] * scale, unique[:, 2] * scale
    total = float(weights.sum())

    def objective(log_params: np.ndarray) -> float:
        params = BgNbdParams(*np.exp(log_params))
        log_likelihood = bgnbd_log_likelihood(params, x, t_x, big_t)
        penalty = penalizer * float(np.sum(np.exp(log_params) ** 2))
        return -float(np.dot(weights, log_likelihood)) / total + penalty

    result = optimize.minimize(
        objective,
        x0=np.zeros(4),
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
    )
    _check_fit("BG/NBD", result)
    r, alpha, a, b = np.exp(result.x)
    return BgNbdParams(r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))


def _check_fit(name: str, result: optimize.OptimizeResult) -> None:
    """Raise DegenerateFitError unless the optimiser converged strictly inside the box."""
    at_bound = np.abs(result.x) >= LOG_BOUND - 1e-6
    if not result.success or at_bound.any() or not np.all(np.isfinite(result.x)):
        raise DegenerateFitError(
            f"{name} fit degenerate (log parameters {np.round(result.x, 3).tolist()}, "
            f"bounds ±{LOG_BOUND}): {result.message}"
        )


def _log_dropout_odds(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """ln[a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)] for x > 0, -inf for x = 0 (never dropped out)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(frequency, dtype=float)
    repeat = x > 0
    odds = (
        np.log(a)
        - np.log(np.where(repeat, b + x - 1, 1.0))
        + (r + x) * (np.log(alpha + np.asarray(tenure)) - np.log(alpha + np.asarray(recency)))
    )
    return np.where(repeat, odds, -np.inf)


def bgnbd_probability_alive(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, tenure: np.ndarray
) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + 1{x>0} · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))."""
    return special.expit(-_log_dropout_odds(params, frequency, recency, tenure))


def bgnbd_expected_purchases(
    params: BgNbdParams,
    days: float,
    frequency: np.ndarray,
    recency: np.ndarray,
    tenure: np.ndarray,
) -> np.ndarray:
    """E[X(t) | x, t_x, T]: expected purchase days in the next ``days`` days (FHL 2005, eq. 10).

    E = (a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z)]
        · P(alive),  z = t/(α+T+t).
    By Euler's transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) · 2F1(C-A, C-B; C; z), and
    (α+T)/(α+T+t) = 1-z, the bracket's second term is (1-z)^(a-1) · 2F1(a+b-1-r, a-1;
    a+b+x-1; z): no huge powers for frequent buyers, where the direct form overflows.
    """
    if days <= 0:
        return np.zeros(np.shape(frequency))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(frequency, dtype=float)
    big_t = np.asarray(tenure, dtype=float)
    z = days / (alpha + big_t + days)
    c = a + b + x - 1
    hypergeometric = special.hyp2f1(a + b - 1 - r, a - 1, c, z)
    bracket = 1 - (1 - z) ** (a - 1) * hypergeometric
    # (a+b+x-1)/(a-1) and the bracket change sign together at a = 1; a == 1 exactly is the
    # removable singularity, nudged aside (never hit by a numerical optimiser in practice).
    a_minus_one = a - 1 if a != 1 else 1e-9
    expected = c / a_minus_one * bracket
    return expected * bgnbd_probability_alive(params, frequency, recency, tenure)


# --- Gamma-Gamma ----------------------------------------------------------------------------


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: np.ndarray, monetary: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each customer's mean spend m over x > 0 purchases (F&H 2013, eq. 3).

    ln f = ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m + px ln x - (px+q) ln(γ+xm)
    """
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + x * m)
    )


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with x > 0 and m > 0.

    Spend is scaled by its mean before fitting (γ scales with money, p and q do not).
    The expected spend needs q > 1 (otherwise the mean of ν⁻¹ is infinite): a fit with
    q <= 1 raises DegenerateFitError, since the model then does not describe the data; so
    does a fit that did not converge or has a parameter at the box bound.

    Like the BG/NBD fit, the likelihood is summed over the distinct (x, m) pairs in sorted
    order, weighted by their counts: the fit does not depend on the order in which Spark
    returned the customers (a sum's last bits do, and L-BFGS-B follows them to an optimum
    that differs in the sixth digit).
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    usable = (x > 0) & (m > 0)
    if usable.sum() < 2:
        raise ValueError("Gamma-Gamma needs at least two customers with repeat purchases")
    pairs, weights = np.unique(np.column_stack([x[usable], m[usable]]), axis=0, return_counts=True)
    x, m = pairs[:, 0], pairs[:, 1]
    total = float(weights.sum())
    scale = total / float(np.dot(weights, m))

    def objective(log_params: np.ndarray) -> float:
        params = GammaGammaParams(*np.exp(log_params))
        log_likelihood = gamma_gamma_log_likelihood(params, x, m * scale)
        return -float(np.dot(weights, log_likelihood)) / total

    result = optimize.minimize(
        objective, x0=np.zeros(3), method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 3
    )
    _check_fit("Gamma-Gamma", result)
    p, q, gamma = np.exp(result.x)
    if q <= 1:
        raise DegenerateFitError(
            f"Gamma-Gamma fit unusable (p={p}, q={q}, γ={gamma}; q must exceed 1): {result.message}"
        )
    return GammaGammaParams(p=float(p), q=float(q), gamma=float(gamma / scale))


def gamma_gamma_expected_spend(
    params: GammaGammaParams, frequency: np.ndarray, monetary: np.ndarray
) -> np.ndarray:
    """E[M | x, m] = p(γ + x·m) / (px + q - 1): the population mean pγ/(q-1) where x = 0.

    A weighted average of the population mean and the customer's own mean spend, the
    weight of the latter growing with the number of purchases. A non-positive or missing
    mean spend counts as no spend observed.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.nan_to_num(np.asarray(monetary, dtype=float), nan=0.0)
    observed = (x > 0) & (m > 0)
    x_used = np.where(observed, x, 0.0)
    m_used = np.where(observed, m, 0.0)
    return params.p * (params.gamma + x_used * m_used) / (params.p * x_used + params.q - 1)


# --- CLV and tiers --------------------------------------------------------------------------


def discounted_clv(
    params: BgNbdParams,
    expected_spend: np.ndarray,
    frequency: np.ndarray,
    recency: np.ndarray,
    tenure: np.ndarray,
    horizon_months: int,
    discount_rate_monthly: float,
) -> np.ndarray:
    """Σ_i (E[X(i·D)] - E[X((i-1)·D)]) · E[M] / (1+d)^i over the horizon's months."""
    clv = np.zeros(np.shape(frequency), dtype=float)
    previous = np.zeros(np.shape(frequency), dtype=float)
    for month in range(1, horizon_months + 1):
        cumulative = bgnbd_expected_purchases(
            params, month * DAYS_PER_MONTH, frequency, recency, tenure
        )
        clv += (cumulative - previous) * expected_spend / (1 + discount_rate_monthly) ** month
        previous = cumulative
    return clv


def score_reasons(frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Why a customer cannot be tiered (None when they can)."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    reasons = np.full(x.shape, None, dtype=object)
    reasons[x == 0] = "single_purchase_day"
    reasons[(x > 0) & ~(m > 0)] = "nonpositive_spend"
    return reasons


def clv_tiers(clv: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Quartile tier of the scored customers' CLV (qcut semantics), ``not_scored`` otherwise.

    Edges are exact linear-interpolation quartiles of the scored values; a value falls in
    bin 1 + #{edges below it}: Bronze, Silver, Gold, Platinum.
    """
    values = np.asarray(clv, dtype=float)
    mask = np.asarray(scored, dtype=bool)
    tiers = np.full(values.shape, NOT_SCORED, dtype=object)
    if mask.any():
        edges = np.quantile(values[mask], [0.25, 0.5, 0.75])
        bins = (values[mask][:, None] > edges[None, :]).sum(axis=1)
        tiers[mask] = np.asarray(TIERS, dtype=object)[bins]
    return tiers


# --- Spark: daily transactions and the customer summary -------------------------------------


def customer_days(sales_lines: DataFrame) -> DataFrame:
    """Daily-grain transactions: one row per customer and day with a sales line."""
    return (
        sales_lines.where(sf.col("customer_id").isNotNull())
        .groupBy("customer_id", sf.col("invoice_date").alias("purchase_date"))
        .agg(sf.sum("line_amount").cast("double").alias("daily_spend"))
    )


def customer_summary(days: DataFrame, holdout_days: int) -> DataFrame:
    """Per customer: (x, t_x, T, mean repeat spend) over all days and over the calibration.

    ``observation_end_date`` is the last purchase day of all customers and
    ``calibration_end_date`` lies ``holdout_days`` before it. Calibration columns are null
    for customers whose first purchase falls in the holdout.
    """
    bounds = days.agg(sf.max("purchase_date").alias("observation_end_date")).select(
        "observation_end_date",
        sf.date_sub("observation_end_date", holdout_days).alias("calibration_end_date"),
    )
    in_calibration = sf.col("purchase_date") <= sf.col("calibration_end_date")
    per_customer = (
        days.crossJoin(sf.broadcast(bounds))
        .groupBy("customer_id", "observation_end_date", "calibration_end_date")
        .agg(
            sf.min("purchase_date").alias("first_purchase_date"),
            sf.max("purchase_date").alias("last_purchase_date"),
            sf.count("*").alias("purchase_days"),
            sf.sum("daily_spend").alias("total_spend"),
            sf.min_by("daily_spend", "purchase_date").alias("first_day_spend"),
            sf.max(sf.when(in_calibration, sf.col("purchase_date"))).alias(
                "calibration_last_purchase_date"
            ),
            sf.count_if(in_calibration).alias("calibration_purchase_days"),
            sf.count_if(~in_calibration).alias("holdout_purchase_days"),
        )
    )
    frequency = sf.col("purchase_days") - 1
    in_calibration_period = sf.col("first_purchase_date") <= sf.col("calibration_end_date")
    return per_customer.select(
        "customer_id",
        frequency.cast("int").alias("frequency"),
        sf.datediff("last_purchase_date", "first_purchase_date").alias("recency_days"),
        sf.datediff("observation_end_date", "first_purchase_date").alias("tenure_days"),
        sf.when(
            frequency > 0, (sf.col("total_spend") - sf.col("first_day_spend")) / frequency
        ).alias("avg_daily_spend"),
        sf.when(in_calibration_period, sf.col("calibration_purchase_days") - 1)
        .cast("int")
        .alias("calibration_frequency"),
        sf.when(
            in_calibration_period,
            sf.datediff("calibration_last_purchase_date", "first_purchase_date"),
        ).alias("calibration_recency_days"),
        sf.when(
            in_calibration_period,
            sf.datediff("calibration_end_date", "first_purchase_date"),
        ).alias("calibration_tenure_days"),
        sf.when(in_calibration_period, sf.col("holdout_purchase_days"))
        .cast("int")
        .alias("holdout_actual_purchases"),
        "first_purchase_date",
        "last_purchase_date",
        "observation_end_date",
        "calibration_end_date",
    )


# --- Driver: fit, predict, tier -------------------------------------------------------------


def _as_float_array(values: list[object]) -> np.ndarray:
    """Numbers as floats, None as NaN."""
    return np.array([np.nan if value is None else float(value) for value in values], dtype=float)


def _python_value(value: object) -> object:
    """A NumPy scalar as the plain Python value Spark expects; NaN as None (SQL null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def fit_reason(frequency: np.ndarray, min_repeat_customers: int) -> str | None:
    """``too_few_repeat_customers`` when fewer customers than ``min_repeat_customers`` have a
    repeat purchase day (x > 0), else None (the models may be fitted)."""
    repeat_customers = int(np.sum(np.asarray(frequency, dtype=float) > 0))
    return TOO_FEW_REPEAT_CUSTOMERS if repeat_customers < min_repeat_customers else None


def invalid_predictions(*columns: np.ndarray, probability: np.ndarray | None = None) -> np.ndarray:
    """Rows where a prediction is NaN, infinite or negative, or ``probability`` outside [0, 1]."""
    invalid = np.zeros(np.shape(columns[0]), dtype=bool)
    with np.errstate(invalid="ignore"):
        for column in columns:
            values = np.asarray(column, dtype=float)
            invalid |= ~np.isfinite(values) | (values < 0)
        if probability is not None:
            invalid |= ~(np.asarray(probability, dtype=float) <= 1)
    return invalid


def _fit_and_value(
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    spend: np.ndarray,
    settings: ClvSettings,
) -> tuple[dict[str, np.ndarray], str | None]:
    """The model columns from the fitted models, or all NaN and the reason of the fit."""
    nothing = np.full(x.shape, np.nan)
    columns = {
        name: nothing
        for name in ("predicted_purchases", "probability_alive", "expected_avg_spend", "clv")
    }
    reason = fit_reason(x, settings.min_repeat_customers)
    if reason is not None:
        return columns, reason
    try:
        bgnbd = fit_bgnbd(x, t_x, big_t)
        gamma_gamma = fit_gamma_gamma(x, spend)
    except DegenerateFitError:
        return columns, DEGENERATE_FIT
    # Numerical failures at extreme parameters come out as NaN or inf, caught row by row.
    with np.errstate(all="ignore"):
        expected_spend = gamma_gamma_expected_spend(gamma_gamma, x, spend)
        horizon_days = settings.horizon_months * DAYS_PER_MONTH
        columns = {
            "predicted_purchases": bgnbd_expected_purchases(bgnbd, horizon_days, x, t_x, big_t),
            "probability_alive": bgnbd_probability_alive(bgnbd, x, t_x, big_t),
            "expected_avg_spend": expected_spend,
            "clv": discounted_clv(
                bgnbd,
                expected_spend,
                x,
                t_x,
                big_t,
                settings.horizon_months,
                settings.discount_rate_monthly,
            ),
        }
    return columns, None


def _holdout_predictions(
    summary: dict[str, np.ndarray], settings: ClvSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted holdout purchase days per customer and, where there is none, the reason."""
    x = summary["frequency"]
    predicted = np.full(x.shape, np.nan)
    reasons = np.full(x.shape, None, dtype=object)
    calibrated = ~np.isnan(summary["calibration_frequency"])
    reasons[~calibrated] = FIRST_PURCHASE_IN_HOLDOUT
    if not calibrated.any():
        return predicted, reasons
    cal_x = summary["calibration_frequency"][calibrated]
    cal_t_x = summary["calibration_recency_days"][calibrated]
    cal_big_t = summary["calibration_tenure_days"][calibrated]
    reason = fit_reason(cal_x, settings.min_repeat_customers)
    if reason is None:
        try:
            calibration_fit = fit_bgnbd(cal_x, cal_t_x, cal_big_t)
        except DegenerateFitError:
            reason = DEGENERATE_FIT
    if reason is not None:
        reasons[calibrated] = reason
        return predicted, reasons
    with np.errstate(all="ignore"):
        values = bgnbd_expected_purchases(
            calibration_fit, float(settings.holdout_days), cal_x, cal_t_x, cal_big_t
        )
    invalid = invalid_predictions(values)
    predicted[calibrated] = np.where(invalid, np.nan, values)
    calibrated_reasons = reasons[calibrated]
    calibrated_reasons[invalid] = INVALID_PREDICTION
    reasons[calibrated] = calibrated_reasons
    return predicted, reasons


def score_summary(summary: dict[str, np.ndarray], settings: ClvSettings) -> dict[str, np.ndarray]:
    """The model columns for the customers of ``summary`` (column name -> array).

    ``summary`` holds the numeric columns of ``customer_summary`` as float arrays, NaN where
    the value is null (calibration columns of customers who started in the holdout, mean
    spend of customers without a repeat day). Model columns are NaN (published as null)
    exactly where ``score_reason`` is a reason of the fit or ``invalid_prediction``.
    """
    x, t_x, big_t = summary["frequency"], summary["recency_days"], summary["tenure_days"]
    spend = summary["avg_daily_spend"]

    columns, fit_failure = _fit_and_value(x, t_x, big_t, spend, settings)
    if fit_failure is not None:
        reasons = np.full(x.shape, fit_failure, dtype=object)
    else:
        reasons = score_reasons(x, spend)
        invalid = invalid_predictions(
            columns["predicted_purchases"],
            columns["expected_avg_spend"],
            columns["clv"],
            probability=columns["probability_alive"],
        )
        reasons[invalid] = INVALID_PREDICTION
        columns = {name: np.where(invalid, np.nan, values) for name, values in columns.items()}
    scored = np.array([reason is None for reason in reasons], dtype=bool)
    holdout_predicted, holdout_reasons = _holdout_predictions(summary, settings)
    return {
        "clv_tier": clv_tiers(columns["clv"], scored),
        "score_reason": reasons,
        **columns,
        "holdout_predicted_purchases": holdout_predicted,
        "holdout_score_reason": holdout_reasons,
    }


NUMERIC_SUMMARY_COLUMNS = (
    "frequency",
    "recency_days",
    "tenure_days",
    "avg_daily_spend",
    "calibration_frequency",
    "calibration_recency_days",
    "calibration_tenure_days",
)


def customer_lifetime_value(
    customers: DataFrame, sales_lines: DataFrame, settings: ClvSettings
) -> DataFrame:
    """The whole model: one row per customer of ``customers`` (``customer_rfm_scores``)."""
    summary_frame = customer_summary(customer_days(sales_lines), settings.holdout_days)
    # One row per customer (thousands): small enough for the driver, where the models are
    # fitted; the transactions themselves were aggregated by Spark.
    records = [row.asDict() for row in summary_frame.collect()]
    model_columns: dict[str, np.ndarray] = {}
    if records:
        summary = {
            name: _as_float_array([record[name] for record in records])
            for name in NUMERIC_SUMMARY_COLUMNS
        }
        model_columns = score_summary(summary, settings)
    names = [field.split()[0] for field in OUTPUT_SCHEMA.split(", ")]
    rows = [
        tuple(
            _python_value(model_columns[name][index] if name in model_columns else record[name])
            for name in names
        )
        for index, record in enumerate(records)
    ]
    scored = sales_lines.sparkSession.createDataFrame(rows, OUTPUT_SCHEMA)
    everyone = customers.select(sf.col("customer_id").cast("string").alias("customer_id"))
    joined = everyone.join(scored, on="customer_id", how="left")
    missing = sf.col("clv_tier").isNull()
    no_purchase_days = sf.lit(NO_PURCHASE_DAYS)
    return joined.select(
        "customer_id",
        sf.when(missing, sf.lit(NOT_SCORED)).otherwise(sf.col("clv_tier")).alias("clv_tier"),
        sf.when(missing, no_purchase_days).otherwise(sf.col("score_reason")).alias("score_reason"),
        *[
            sf.when(missing, no_purchase_days).otherwise(sf.col(name)).alias(name)
            if name == "holdout_score_reason"
            else name
            for name in names[3:]
        ],
    )


def model(dbt, session):
    settings = parse_settings(
        dbt.config.meta_get("clv_horizon_months", 12),
        dbt.config.meta_get("clv_discount_rate_monthly", 0.01),
        dbt.config.meta_get("clv_holdout_days", 180),
        dbt.config.meta_get("clv_min_repeat_customers", 50),
    )
    customers = dbt.ref("customer_rfm_scores")
    sales_lines = dbt.ref("int_sales_lines_filtered")
    return customer_lifetime_value(customers, sales_lines, settings)
