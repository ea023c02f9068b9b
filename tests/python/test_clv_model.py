"""CLV models (customer_lifetime_value, clv_model_evaluation) on hand-computed values and on
data simulated from known BG/NBD and Gamma-Gamma parameters.

Hand computations use the closed forms of Fader, Hardie & Lee (2005) and Fader & Hardie
(2013) with parameters chosen so that the Beta and Gamma functions reduce to fractions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import optimize, special

from lgs_testing import load_python_model

CLV = load_python_model("python_models/clv/customer_lifetime_value.py")
EVALUATION = load_python_model("python_models/clv/clv_model_evaluation.py")
TIER_SUMMARY = load_python_model("python_models/clv/clv_tier_summary.py")

SALES_LINE_SCHEMA = (
    "customer_id string, invoice_id string, line_amount decimal(18,3), invoice_date date"
)
UNIT = CLV.BgNbdParams(r=1.0, alpha=1.0, a=1.0, b=1.0)


def simulate_bgnbd(
    params, tenure: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases x and recency t_x of customers observed for ``tenure`` (the model's
    story: Poisson purchases at rate λ ~ Gamma(r, α) until a dropout after a purchase with
    probability p ~ Beta(a, b))."""
    rates = rng.gamma(params.r, 1 / params.alpha, tenure.size)
    dropouts = rng.beta(params.a, params.b, tenure.size)
    frequency = np.zeros(tenure.size)
    recency = np.zeros(tenure.size)
    for index in range(tenure.size):
        time = 0.0
        while True:
            time += rng.exponential(1 / rates[index])
            if time > tenure[index]:
                break
            frequency[index] += 1
            recency[index] = time
            if rng.random() < dropouts[index]:
                break
    return frequency, recency


def simulate_gamma_gamma(params, frequency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean spend of ``frequency`` transactions, spend ~ Gamma(p, ν), ν ~ Gamma(q, γ)."""
    scales = rng.gamma(params.q, 1 / params.gamma, frequency.size)
    return np.array(
        [
            rng.gamma(params.p, 1 / scale, int(count)).mean()
            for scale, count in zip(scales, frequency, strict=True)
        ]
    )


# --- BG/NBD --------------------------------------------------------------------------------


def test_bgnbd_log_likelihood_matches_hand_computed_values():
    # r = α = a = b = 1. x = 0: L = (α/(α+T))^r = 1/2 for T = 1.
    # x = 1, t_x = 0, T = 1: B(1,2)/B(1,1) · 1/(1+T)^2 + B(2,1)/B(1,1) · 1/(1+t_x)^2
    #   = 1/2 · 1/4 + 1/2 · 1 = 0.625.
    actual = CLV.bgnbd_log_likelihood(
        UNIT, np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([1.0, 1.0])
    )
    assert actual == pytest.approx([math.log(0.5), math.log(0.625)])


def test_probability_alive_matches_hand_computed_values():
    # x = 1, t_x = 0, T = 1: 1 / (1 + a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)) = 1 / (1 + 4) = 0.2;
    # x = 0: never seen to drop out, 1.
    actual = CLV.bgnbd_probability_alive(
        UNIT, np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([1.0, 5.0])
    )
    assert actual == pytest.approx([0.2, 1.0])


def _expected_purchases_direct(params, days, x, t_x, big_t):
    """FHL 2005 eq. 10 as printed (overflows for large x, fine for the small x used here)."""
    r, alpha, a, b = params
    hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, days / (alpha + big_t + days))
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + big_t) / (alpha + big_t + days)) ** (r + x) * hypergeometric)
    )
    odds = np.where(
        x > 0, a / (b + np.maximum(x, 1) - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0
    )
    return numerator / (1 + odds)


@pytest.mark.parametrize(
    "params",
    [
        CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5),
        CLV.BgNbdParams(r=0.25, alpha=4.4, a=0.79, b=2.4),
        CLV.BgNbdParams(r=2.0, alpha=100.0, a=3.0, b=8.0),
    ],
)
def test_expected_purchases_equal_the_published_formula(params):
    x = np.array([0.0, 1.0, 2.0, 5.0, 12.0])
    t_x = np.array([0.0, 30.0, 200.0, 310.0, 350.0])
    big_t = np.array([10.0, 100.0, 365.0, 400.0, 360.0])
    actual = CLV.bgnbd_expected_purchases(params, 180.0, x, t_x, big_t)
    assert actual == pytest.approx(_expected_purchases_direct(params, 180.0, x, t_x, big_t))


def test_expected_purchases_stay_finite_for_very_frequent_buyers():
    # A purchase day on 300 or on every one of 700 days, the last one yesterday.
    params = CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5)
    x, t_x, big_t = np.array([300.0, 699.0]), np.array([699.0, 699.0]), np.array([700.0, 700.0])
    with np.errstate(all="ignore"):
        direct = _expected_purchases_direct(params, 365.0, x, t_x, big_t)
    actual = CLV.bgnbd_expected_purchases(params, 365.0, x, t_x, big_t)
    assert np.all(np.isfinite(actual))
    assert actual[np.isfinite(direct)] == pytest.approx(direct[np.isfinite(direct)])
    # Below what the posterior purchase rate (r+x)/(α+T) gives without any dropout.
    assert np.all(actual < (params.r + x) / (params.alpha + big_t) * 365)
    assert actual[1] > actual[0] > 50


def test_expected_purchases_are_zero_for_a_zero_horizon():
    actual = CLV.bgnbd_expected_purchases(
        UNIT, 0.0, np.array([1.0]), np.array([1.0]), np.array([2.0])
    )
    assert actual.tolist() == [0.0]


def test_bgnbd_fit_recovers_simulated_parameters():
    rng = np.random.default_rng(7)
    true = CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5)
    tenure = rng.uniform(100, 700, 4000)
    frequency, recency = simulate_bgnbd(true, tenure, rng)

    fitted = CLV.fit_bgnbd(frequency, recency, tenure)

    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(true, name), rel=0.25), name
    # The maximum of the likelihood is at least as high as at the true parameters.
    fitted_ll = CLV.bgnbd_log_likelihood(fitted, frequency, recency, tenure).sum()
    true_ll = CLV.bgnbd_log_likelihood(true, frequency, recency, tenure).sum()
    assert fitted_ll >= true_ll


def test_bgnbd_fit_needs_a_repeat_customer():
    with pytest.raises(ValueError, match="repeat purchase"):
        CLV.fit_bgnbd(np.zeros(3), np.zeros(3), np.array([10.0, 20.0, 30.0]))


# --- Gamma-Gamma ---------------------------------------------------------------------------


def test_gamma_gamma_expected_spend_matches_hand_computed_values():
    # p = 2, q = 3, γ = 10: population mean pγ/(q-1) = 10; x = 2, m = 20:
    # p(γ + x·m)/(px + q - 1) = 2·50/6. No repeat, or no positive spend: the population mean.
    params = CLV.GammaGammaParams(p=2.0, q=3.0, gamma=10.0)
    actual = CLV.gamma_gamma_expected_spend(
        params, np.array([2.0, 0.0, 3.0, 1.0]), np.array([20.0, np.nan, -5.0, 10.0])
    )
    assert params.population_mean_spend == pytest.approx(10.0)
    # x = 1, m = 10: 2·20/4 = 10, the population mean again (own mean = prior mean).
    assert actual == pytest.approx([100 / 6, 10.0, 10.0, 10.0])


def test_gamma_gamma_fit_recovers_simulated_parameters():
    rng = np.random.default_rng(11)
    true = CLV.GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    frequency = rng.integers(1, 10, 3000).astype(float)
    monetary = simulate_gamma_gamma(true, frequency, rng)

    fitted = CLV.fit_gamma_gamma(frequency, monetary)

    assert fitted.population_mean_spend == pytest.approx(true.population_mean_spend, rel=0.1)
    for name in ("p", "q", "gamma"):
        assert getattr(fitted, name) == pytest.approx(getattr(true, name), rel=0.25), name


def test_gamma_gamma_fit_does_not_depend_on_the_order_of_the_customers():
    """Spark returns the customers in any order: the fit must be the same to the last bit
    (the floor and the build, or two builds, compare CLV values to 1e-6)."""
    rng = np.random.default_rng(5)
    true = CLV.GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    frequency = rng.integers(1, 10, 500).astype(float)
    monetary = simulate_gamma_gamma(true, frequency, rng)
    fitted = CLV.fit_gamma_gamma(frequency, monetary)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(frequency))
        assert CLV.fit_gamma_gamma(frequency[order], monetary[order]) == fitted, seed


def test_gamma_gamma_fit_ignores_unusable_customers_and_needs_two():
    with pytest.raises(ValueError, match="at least two"):
        CLV.fit_gamma_gamma(np.array([0.0, 3.0, 2.0]), np.array([np.nan, 5.0, 0.0]))


# --- CLV, tiers and reasons ----------------------------------------------------------------


def test_undiscounted_clv_is_expected_purchases_times_spend():
    params = CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5)
    x, t_x, big_t = np.array([0.0, 3.0]), np.array([0.0, 100.0]), np.array([50.0, 200.0])
    spend = np.array([20.0, 35.0])
    purchases = CLV.bgnbd_expected_purchases(params, 12 * CLV.DAYS_PER_MONTH, x, t_x, big_t)

    undiscounted = CLV.discounted_clv(params, spend, x, t_x, big_t, 12, 0.0)
    discounted = CLV.discounted_clv(params, spend, x, t_x, big_t, 12, 0.01)

    assert undiscounted == pytest.approx(purchases * spend)
    assert np.all(discounted < undiscounted)
    # Each month is discounted by at most (1.01)^12 and at least 1.01.
    assert np.all(discounted > undiscounted / 1.01**12)
    assert np.all(discounted < undiscounted / 1.01)


def test_tiers_are_quartiles_of_the_scored_customers_only():
    # Scored values 1..8: quartiles 2.75, 4.5, 6.25 → 1, 2 Bronze; 3, 4 Silver; 5, 6 Gold;
    # 7, 8 Platinum. The unscored 100 neither gets a tier nor moves the edges.
    clv = np.array([1, 2, 3, 4, 5, 6, 7, 8, 100], dtype=float)
    scored = np.array([True] * 8 + [False])
    assert CLV.clv_tiers(clv, scored).tolist() == [
        "Bronze",
        "Bronze",
        "Silver",
        "Silver",
        "Gold",
        "Gold",
        "Platinum",
        "Platinum",
        "not_scored",
    ]


def test_score_reasons():
    reasons = CLV.score_reasons(np.array([0.0, 2.0, 2.0, 1.0]), np.array([np.nan, 0.0, 10.0, -1.0]))
    assert reasons.tolist() == [
        "single_purchase_day",
        "nonpositive_spend",
        None,
        "nonpositive_spend",
    ]


@pytest.mark.parametrize(
    ("horizon", "rate", "holdout"),
    [("0", "0.01", "180"), ("12", "1.5", "180"), ("12", "0.01", "0"), ("x", "0.01", "180")],
)
def test_invalid_settings_are_rejected(horizon, rate, holdout):
    with pytest.raises(ValueError):
        CLV.parse_settings(horizon, rate, holdout)


def test_settings_come_from_config_strings():
    assert CLV.parse_settings("6", "0.02", "90") == CLV.ClvSettings(6, 0.02, 90)


# --- Spark: daily transactions and summary -------------------------------------------------


def spark_lines(spark, lines: list[tuple[str | None, str, str, str]]):
    rows = [
        (customer, invoice, Decimal(amount), dt.date.fromisoformat(day))
        for customer, invoice, day, amount in lines
    ]
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


def test_customer_summary_on_daily_grain(spark):
    lines = [
        # A: two invoices on 1 March are one purchase day worth 30; repeat days 11 March (20)
        # and 31 March (40); first-day spend is left out of the mean: (20 + 40) / 2 = 30.
        ("A", "1", "2011-03-01", "10.000"),
        ("A", "2", "2011-03-01", "20.000"),
        ("A", "3", "2011-03-11", "20.000"),
        ("A", "4", "2011-03-31", "40.000"),
        # B: one purchase day; the data ends on 10 April with C.
        ("B", "5", "2011-03-21", "15.000"),
        ("C", "6", "2011-04-10", "5.000"),
        (None, "7", "2011-04-10", "99.000"),
    ]
    # Holdout of 20 days: calibration ends 21 March; C started in the holdout.
    summary = {
        row["customer_id"]: row.asDict()
        for row in CLV.customer_summary(CLV.customer_days(spark_lines(spark, lines)), 20).collect()
    }
    assert set(summary) == {"A", "B", "C"}
    a, b, c = summary["A"], summary["B"], summary["C"]
    assert (a["frequency"], a["recency_days"], a["tenure_days"]) == (2, 30, 40)
    assert a["avg_daily_spend"] == pytest.approx(30.0)
    assert a["observation_end_date"] == dt.date(2011, 4, 10)
    assert a["calibration_end_date"] == dt.date(2011, 3, 21)
    # Calibration: 1 and 11 March (x = 1, t_x = 10, T = 20); 31 March is in the holdout.
    assert (
        a["calibration_frequency"],
        a["calibration_recency_days"],
        a["calibration_tenure_days"],
        a["holdout_actual_purchases"],
    ) == (1, 10, 20, 1)
    assert (b["frequency"], b["recency_days"], b["tenure_days"], b["avg_daily_spend"]) == (
        0,
        0,
        20,
        None,
    )
    # B bought on the calibration end date itself: calibrated, no holdout purchase.
    assert (b["calibration_frequency"], b["calibration_tenure_days"]) == (0, 0)
    assert b["holdout_actual_purchases"] == 0
    assert c["calibration_frequency"] is None
    assert c["holdout_actual_purchases"] is None


def simulated_sales_lines(spark, customers: int, seed: int):
    """Sales lines of customers simulated from BG/NBD and Gamma-Gamma, on whole days."""
    rng = np.random.default_rng(seed)
    bgnbd = CLV.BgNbdParams(r=1.5, alpha=30.0, a=0.6, b=3.0)
    end = dt.date(2011, 12, 9)
    first_days = rng.integers(0, 600, customers)
    lines = []
    for index, offset in enumerate(first_days):
        first = end - dt.timedelta(days=int(offset))
        rate = rng.gamma(bgnbd.r, 1 / bgnbd.alpha)
        dropout = rng.beta(bgnbd.a, bgnbd.b)
        spend_scale = rng.gamma(4.0, 1 / 60.0)
        day, alive = 0.0, True
        days = [0]
        while alive:
            day += rng.exponential(1 / rate)
            if day > offset:
                break
            days.append(int(day))
            alive = rng.random() >= dropout
        for purchase in sorted(set(days)):
            amount = rng.gamma(3.0, 1 / spend_scale)
            lines.append(
                (
                    f"{index:05d}",
                    f"I{index}-{purchase}",
                    first + dt.timedelta(days=purchase),
                    amount,
                )
            )
    rows = [
        (customer, invoice, Decimal(f"{amount:.3f}"), day)
        for customer, invoice, day, amount in lines
    ]
    return spark.createDataFrame(rows, SALES_LINE_SCHEMA)


@pytest.fixture(scope="module")
def clv_table(spark):
    sales_lines = simulated_sales_lines(spark, 400, seed=3)
    ids = [row["customer_id"] for row in sales_lines.select("customer_id").distinct().collect()]
    # One RFM customer without any purchase day here: kept, with the reason.
    customers = spark.createDataFrame(
        [(customer,) for customer in [*ids, "99999"]], "customer_id string"
    )
    settings = CLV.ClvSettings(horizon_months=12, discount_rate_monthly=0.01, holdout_days=120)
    frame = CLV.customer_lifetime_value(customers, sales_lines, settings)
    return frame, {row["customer_id"]: row.asDict() for row in frame.collect()}


def test_every_customer_has_one_row(clv_table):
    frame, rows = clv_table
    assert frame.count() == len(rows) == 401
    assert frame.columns == [field.split()[0] for field in CLV.OUTPUT_SCHEMA.split(", ")]


def test_unscorable_customers_are_flagged_not_dropped(clv_table):
    _, rows = clv_table
    missing = rows["99999"]
    assert (missing["clv_tier"], missing["score_reason"]) == ("not_scored", "no_purchase_days")
    assert missing["clv"] is None and missing["frequency"] is None
    single = [row for row in rows.values() if row["frequency"] == 0]
    assert single, "the simulation must produce one-time buyers"
    for row in single:
        assert (row["clv_tier"], row["score_reason"]) == ("not_scored", "single_purchase_day")
        assert row["avg_daily_spend"] is None
        assert row["probability_alive"] == pytest.approx(1.0)
        assert row["clv"] >= 0
    # Their expected spend is the one population mean.
    assert len({round(row["expected_avg_spend"], 9) for row in single}) == 1


def test_scored_customers_get_consistent_values(clv_table):
    _, rows = clv_table
    scored = [row for row in rows.values() if row["score_reason"] is None]
    assert {row["clv_tier"] for row in scored} == {"Platinum", "Gold", "Silver", "Bronze"}
    for row in scored:
        assert row["frequency"] > 0 and row["avg_daily_spend"] > 0
        assert 0 <= row["probability_alive"] <= 1
        assert row["predicted_purchases"] >= 0 and row["clv"] >= 0
        assert row["recency_days"] <= row["tenure_days"]
    # Tiers follow CLV: every Platinum customer is worth more than every Bronze one.
    platinum = min(row["clv"] for row in scored if row["clv_tier"] == "Platinum")
    bronze = max(row["clv"] for row in scored if row["clv_tier"] == "Bronze")
    assert platinum > bronze


def test_evaluation_compares_holdout_predictions_with_actuals(clv_table):
    frame, rows = clv_table
    evaluation = {
        row["frequency_bucket"]: row.asDict()
        for row in EVALUATION.clv_model_evaluation(frame).collect()
    }
    assert list(evaluation) == ["all", "0", "1", "2", "3", "4", "5", "6", "7+"]
    calibrated = [row for row in rows.values() if row["calibration_frequency"] is not None]
    overall = evaluation["all"]
    assert overall["customers"] == len(calibrated)
    assert overall["actual_purchases"] == sum(row["holdout_actual_purchases"] for row in calibrated)
    assert overall["predicted_purchases"] == pytest.approx(
        sum(row["holdout_predicted_purchases"] for row in calibrated)
    )
    assert overall["mae_purchases"] == pytest.approx(
        np.mean(
            [
                abs(row["holdout_predicted_purchases"] - row["holdout_actual_purchases"])
                for row in calibrated
            ]
        )
    )
    assert overall["holdout_days"] == 120
    buckets = [evaluation[key] for key in evaluation if key != "all"]
    assert sum(bucket["customers"] for bucket in buckets) == overall["customers"]
    # Simulated from the model itself: the totals agree within a third.
    assert overall["predicted_purchases"] == pytest.approx(overall["actual_purchases"], rel=0.33)


def test_evaluation_keeps_empty_buckets(spark):
    customers = spark.createDataFrame(
        [
            (1, 0.5, 1, dt.date(2011, 6, 1), dt.date(2011, 12, 1)),
            (9, 4.0, 2, dt.date(2011, 6, 1), dt.date(2011, 12, 1)),
            (None, None, None, dt.date(2011, 6, 1), dt.date(2011, 12, 1)),
        ],
        "calibration_frequency int, holdout_predicted_purchases double, "
        "holdout_actual_purchases int, calibration_end_date date, observation_end_date date",
    )
    rows = {
        row["frequency_bucket"]: row for row in EVALUATION.clv_model_evaluation(customers).collect()
    }
    assert rows["all"]["customers"] == 2
    assert rows["all"]["mae_purchases"] == pytest.approx((0.5 + 2.0) / 2)
    assert rows["all"]["error_pct"] == pytest.approx((4.5 - 3) / 3 * 100)
    assert (rows["1"]["customers"], rows["7+"]["customers"]) == (1, 1)
    empty = rows["0"]
    assert (empty["customers"], empty["predicted_purchases"], empty["actual_purchases"]) == (
        0,
        0.0,
        0,
    )
    assert empty["avg_predicted_purchases"] is None and empty["mae_purchases"] is None
    assert empty["error_pct"] is None
    assert rows["all"]["holdout_days"] == 183


# --- Tier summary ---------------------------------------------------------------------------


def test_tier_summary_by_hand(spark):
    customers = spark.createDataFrame(
        [
            ("Platinum", 300.0, 6.0, 0.9, 50.0),
            ("Platinum", 100.0, 2.0, 0.7, 50.0),
            ("Bronze", 10.0, 1.0, 0.5, 10.0),
            ("not_scored", 40.0, 0.5, 1.0, 80.0),
            # No purchase day at all: counted, but its null values stay out of sums and means.
            ("not_scored", None, None, None, None),
        ],
        "clv_tier string, clv double, predicted_purchases double, probability_alive double, "
        "expected_avg_spend double",
    )
    rows = [row.asDict() for row in TIER_SUMMARY.clv_tier_summary(customers).collect()]
    assert [row["clv_tier"] for row in rows] == list(TIER_SUMMARY.TIER_ORDER)
    assert [row["tier_order"] for row in rows] == [1, 2, 3, 4, 5]
    tiers = {row["clv_tier"]: row for row in rows}
    platinum = tiers["Platinum"]
    assert (platinum["customers"], platinum["total_clv"]) == (2, 400.0)
    assert platinum["customer_share_pct"] == pytest.approx(40.0)
    assert platinum["clv_share_pct"] == pytest.approx(400 / 450 * 100)
    assert (platinum["min_clv"], platinum["avg_clv"], platinum["max_clv"]) == (100.0, 200.0, 300.0)
    assert platinum["avg_predicted_purchases"] == pytest.approx(4.0)
    assert platinum["avg_probability_alive"] == pytest.approx(0.8)
    assert platinum["avg_expected_spend"] == pytest.approx(50.0)
    unscored = tiers["not_scored"]
    assert (unscored["customers"], unscored["total_clv"], unscored["avg_clv"]) == (2, 40.0, 40.0)
    assert unscored["customer_share_pct"] == pytest.approx(40.0)
    # Empty tiers are kept: no customers, no value, no averages.
    for name in ("Gold", "Silver"):
        empty = tiers[name]
        assert (empty["customers"], empty["total_clv"], empty["clv_share_pct"]) == (0, 0.0, 0.0)
        assert empty["avg_clv"] is None and empty["min_clv"] is None
    assert sum(row["clv_share_pct"] for row in rows) == pytest.approx(100.0)


def test_tier_summary_adds_up_to_the_customer_table(clv_table):
    frame, rows = clv_table
    summary = {
        row["clv_tier"]: row.asDict() for row in TIER_SUMMARY.clv_tier_summary(frame).collect()
    }
    assert sum(row["customers"] for row in summary.values()) == len(rows)
    assert sum(row["total_clv"] for row in summary.values()) == pytest.approx(
        sum(row["clv"] for row in rows.values() if row["clv"] is not None)
    )
    # Quartile tiers: each holds about a quarter of the scored customers, in CLV order.
    scored = [summary[name] for name in ("Platinum", "Gold", "Silver", "Bronze")]
    sizes = [tier["customers"] for tier in scored]
    assert max(sizes) - min(sizes) <= 1
    for better, worse in itertools.pairwise(scored):
        assert better["min_clv"] >= worse["max_clv"]


# --- Data too small or too odd for the models: not scored, with the reason ----------------


def _summary(frequency, recency, tenure, spend, calibration=None) -> dict[str, np.ndarray]:
    """A ``customer_summary`` as score_summary takes it; calibration (x, t_x, T) or NaN."""
    x = np.asarray(frequency, dtype=float)
    cal = np.full((3, x.size), np.nan) if calibration is None else np.asarray(calibration, float)
    return {
        "frequency": x,
        "recency_days": np.asarray(recency, dtype=float),
        "tenure_days": np.asarray(tenure, dtype=float),
        "avg_daily_spend": np.asarray(spend, dtype=float),
        "calibration_frequency": cal[0],
        "calibration_recency_days": cal[1],
        "calibration_tenure_days": cal[2],
    }


def test_fit_needs_the_configured_number_of_repeat_customers():
    assert CLV.fit_reason(np.array([0.0, 1.0, 3.0]), 2) is None
    assert CLV.fit_reason(np.array([0.0, 1.0, 0.0]), 2) == "too_few_repeat_customers"
    assert CLV.parse_settings("12", "0.01", "180", "7").min_repeat_customers == 7
    assert CLV.parse_settings("12", "0.01", "180") == CLV.ClvSettings()
    with pytest.raises(ValueError, match="clv_min_repeat_customers"):
        CLV.parse_settings("12", "0.01", "180", "1")


def test_too_few_repeat_customers_leave_every_row_unscored_and_null():
    # The issue's small import: six days of data, a handful of repeat buyers, customers
    # whose first and only purchase is on the last day (tenure 0).
    summary = _summary(
        [0, 0, 1, 1, 2, 0],
        [0, 0, 1, 2, 4, 0],
        [0, 5, 4, 3, 5, 0],
        [np.nan, np.nan, 80, 20, 40, np.nan],
    )
    columns = CLV.score_summary(summary, CLV.ClvSettings(holdout_days=180))
    assert columns["score_reason"].tolist() == ["too_few_repeat_customers"] * 6
    assert columns["clv_tier"].tolist() == ["not_scored"] * 6
    for name in ("predicted_purchases", "probability_alive", "expected_avg_spend", "clv"):
        assert np.isnan(columns[name]).all(), name
    # Nobody had bought by the calibration end: the ordinary holdout reason.
    assert columns["holdout_score_reason"].tolist() == ["first_purchase_in_holdout"] * 6


def test_calibration_fit_with_too_few_repeat_customers_has_its_own_reason():
    rng = np.random.default_rng(5)
    tenure = rng.uniform(100, 700, 600)
    frequency, recency = simulate_bgnbd(
        CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5), tenure, rng
    )
    spend = np.where(frequency > 0, rng.uniform(5, 50, tenure.size), np.nan)
    # Calibration period: every customer there, no repeat day yet.
    calibration = [np.zeros(tenure.size), np.zeros(tenure.size), np.maximum(tenure - 90, 0)]
    columns = CLV.score_summary(
        _summary(frequency, recency, tenure, spend, calibration), CLV.ClvSettings()
    )
    assert set(columns["holdout_score_reason"]) == {"too_few_repeat_customers"}
    assert np.isnan(columns["holdout_predicted_purchases"]).all()
    # The main fit is unaffected: scored customers, finite values.
    assert np.isfinite(columns["clv"]).all()
    assert {"Platinum", "Gold", "Silver", "Bronze"} <= set(columns["clv_tier"])


def test_a_fit_that_did_not_converge_or_sits_on_a_bound_is_degenerate():
    converged = optimize.OptimizeResult(x=np.array([0.1, -2.0, 1.0, 3.0]), success=True, message="")
    CLV._check_fit("BG/NBD", converged)
    for result in (
        optimize.OptimizeResult(
            x=np.array([0.1, -2.0, 1.0, CLV.LOG_BOUND]), success=True, message=""
        ),
        optimize.OptimizeResult(
            x=np.array([-CLV.LOG_BOUND, 0.0, 0.0, 0.0]), success=True, message=""
        ),
        optimize.OptimizeResult(
            x=np.array([0.1, -2.0, 1.0, 3.0]), success=False, message="ABNORMAL"
        ),
    ):
        with pytest.raises(CLV.DegenerateFitError):
            CLV._check_fit("BG/NBD", result)


def test_a_degenerate_fit_leaves_every_row_unscored(monkeypatch):
    def degenerate(*args, **kwargs):
        raise CLV.DegenerateFitError("Gamma-Gamma fit degenerate")

    monkeypatch.setattr(CLV, "fit_gamma_gamma", degenerate)
    x = np.array([1.0, 2.0, 0.0])
    columns = CLV.score_summary(
        _summary(x, [5, 9, 0], [10, 12, 3], [10, 20, np.nan]),
        CLV.ClvSettings(min_repeat_customers=2),
    )
    assert columns["score_reason"].tolist() == ["degenerate_fit"] * 3
    assert np.isnan(columns["clv"]).all()


def test_invalid_predictions_are_caught_row_by_row():
    invalid = CLV.invalid_predictions(
        np.array([1.0, np.nan, 2.0, 3.0, 1.0, np.inf]),
        np.array([1.0, 1.0, -1e-12, 3.0, 1.0, 1.0]),
        probability=np.array([0.5, 0.5, 0.5, np.nan, 1.5, 1.0]),
    )
    assert invalid.tolist() == [False, True, True, True, True, True]


def test_nan_predictions_become_unscored_rows_not_published_nan(monkeypatch):
    real = CLV.bgnbd_expected_purchases

    def nan_for_tenure_zero(params, days, frequency, recency, tenure):
        values = real(params, days, frequency, recency, tenure)
        return np.where(np.asarray(tenure) == 0, np.nan, values)

    monkeypatch.setattr(CLV, "bgnbd_expected_purchases", nan_for_tenure_zero)
    rng = np.random.default_rng(9)
    tenure = np.append(rng.uniform(100, 700, 300), 0.0)
    frequency, recency = simulate_bgnbd(
        CLV.BgNbdParams(r=0.8, alpha=40.0, a=0.8, b=2.5), tenure, rng
    )
    spend = np.where(frequency > 0, rng.uniform(5, 50, tenure.size), np.nan)
    columns = CLV.score_summary(_summary(frequency, recency, tenure, spend), CLV.ClvSettings())
    assert columns["score_reason"][-1] == "invalid_prediction"
    assert columns["clv_tier"][-1] == "not_scored"
    assert np.isnan([columns[name][-1] for name in ("clv", "probability_alive")]).all()
    assert np.isfinite(columns["clv"][:-1]).all()


@pytest.mark.parametrize("min_repeat_customers", [2, 50])
def test_the_small_import_of_issue_24_gives_no_nan(spark, min_repeat_customers):
    # Six days, a few repeat buyers, two customers whose only day is the last one.
    lines = [
        ("A", "1", "2009-12-01", "50.000"),
        ("A", "2", "2009-12-03", "20.000"),
        ("B", "3", "2009-12-02", "15.000"),
        ("B", "4", "2009-12-06", "30.000"),
        ("C", "5", "2009-12-01", "10.000"),
        ("C", "6", "2009-12-02", "12.000"),
        ("D", "7", "2009-12-04", "9.000"),
        ("E", "8", "2009-12-06", "7.000"),
        ("F", "9", "2009-12-06", "70.000"),
    ]
    sales_lines = spark_lines(spark, lines)
    customers = sales_lines.select("customer_id").distinct()
    settings = CLV.ClvSettings(min_repeat_customers=min_repeat_customers)
    rows = [
        row.asDict()
        for row in CLV.customer_lifetime_value(customers, sales_lines, settings).collect()
    ]
    assert len(rows) == 6
    for row in rows:
        for name in ("predicted_purchases", "probability_alive", "expected_avg_spend", "clv"):
            assert row[name] is None or math.isfinite(row[name]), (name, row)
        assert (row["score_reason"] is None) == (row["clv_tier"] != "not_scored")
        assert row["holdout_score_reason"] == "first_purchase_in_holdout"
    if min_repeat_customers == 50:
        assert {row["score_reason"] for row in rows} == {"too_few_repeat_customers"}
