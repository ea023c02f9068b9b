"""The campaign A/B statistics (python_models/campaigns/campaign_ab_results.py) against
scipy.stats on the same arrays, and over many seeds of small generated data against the
generator's ground truth: the 95% interval covers the true uplift, the campaign without
an effect is rarely significant. No Spark: the outcomes are recomputed with pandas
(lgs_analytics.reference.campaigns) from the generated files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lgs_analytics.reference.campaigns import campaign_outcomes, load_sales_lines
from lgs_analytics.synthetic.generator import generate
from lgs_testing import load_python_model

AB = load_python_model("python_models/campaigns/campaign_ab_results.py")


def _arms(seed: int, n_t: int = 140, n_c: int = 160):
    rng = np.random.default_rng(seed)
    pre_t, pre_c = rng.gamma(1.5, 80, n_t), rng.gamma(1.5, 80, n_c)
    y_t = 0.6 * pre_t + rng.gamma(1.2, 60, n_t) + 25
    y_c = 0.6 * pre_c + rng.gamma(1.1, 60, n_c)
    return y_t, pre_t, y_c, pre_c


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy(seed):
    y_t, pre_t, y_c, pre_c = _arms(seed)
    result = AB.welch_test(
        y_t.mean(), y_t.var(ddof=1), len(y_t), y_c.mean(), y_c.var(ddof=1), len(y_c)
    )
    expected = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert result["ci_lower"] == pytest.approx(interval.low, rel=1e-9)
    assert result["ci_upper"] == pytest.approx(interval.high, rel=1e-9)
    # the same from the moments the model aggregates in Spark
    rows = AB.campaign_results(
        "c", _moments(y_t, pre_t, y_t > 100), _moments(y_c, pre_c, y_c > 100), 0.5
    )
    revenue = next(row for row in rows if row["metric"] == "revenue")
    assert revenue["p_value"] == pytest.approx(expected.pvalue, rel=1e-7)
    assert revenue["absolute_uplift"] == pytest.approx(y_t.mean() - y_c.mean(), rel=1e-9)
    assert revenue["relative_uplift"] == pytest.approx(y_t.mean() / y_c.mean() - 1, rel=1e-9)


def test_two_proportion_z_test_computed_independently():
    converted_t = np.r_[np.ones(41), np.zeros(99)]
    converted_c = np.r_[np.ones(30), np.zeros(130)]
    result = AB.two_proportion_test(converted_t.sum(), 140, converted_c.sum(), 160)
    # pooled z by hand, p from the chi-square test of the 2x2 table (z^2 = chi2, df 1)
    table = np.array([[41, 99], [30, 130]])
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert result["statistic"] ** 2 == pytest.approx(chi2, rel=1e-9)
    assert result["p_value"] == pytest.approx(p_value, rel=1e-9)
    p_t, p_c = 41 / 140, 30 / 160
    half = stats.norm.ppf(0.975) * math.sqrt(p_t * (1 - p_t) / 140 + p_c * (1 - p_c) / 160)
    assert result["ci_lower"] == pytest.approx(p_t - p_c - half, rel=1e-12)
    assert result["ci_upper"] == pytest.approx(p_t - p_c + half, rel=1e-12)


def test_srm_matches_scipy_chisquare():
    for n_t, n_c, share in [(500, 500, 0.5), (540, 460, 0.5), (310, 690, 0.3)]:
        total = n_t + n_c
        expected = stats.chisquare([n_t, n_c], [total * share, total * (1 - share)])
        assert AB.srm_p_value(n_t, n_c, share) == pytest.approx(expected.pvalue, rel=1e-9)
    assert AB.srm_p_value(500, 500, 0.5) == pytest.approx(1.0)
    assert AB.srm_p_value(600, 400, 0.5) < 0.001


def test_cuped_is_welch_on_the_adjusted_outcome():
    y_t, pre_t, y_c, pre_c = _arms(7)
    pre = np.r_[pre_t, pre_c]
    y = np.r_[y_t, y_c]
    theta = np.cov(y, pre, ddof=1)[0, 1] / pre.var(ddof=1)
    adjusted_t = y_t - theta * (pre_t - pre.mean())
    adjusted_c = y_c - theta * (pre_c - pre.mean())
    expected = stats.ttest_ind(adjusted_t, adjusted_c, equal_var=False)
    result = AB.cuped_test(AB.arm_moments(y_t, pre_t), AB.arm_moments(y_c, pre_c))
    assert result["theta"] == pytest.approx(theta, rel=1e-9)
    assert result["uplift"] == pytest.approx(adjusted_t.mean() - adjusted_c.mean(), rel=1e-9)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-7)
    plain = stats.ttest_ind(y_t, y_c, equal_var=False)
    # the covariate predicts the outcome here, so CUPED's interval is narrower
    width = result["ci_upper"] - result["ci_lower"]
    interval = plain.confidence_interval(0.95)
    assert width < interval.high - interval.low


def _moments(values, pre, converted) -> dict:
    moments = AB.arm_moments(values, pre)
    moments["converted"] = float(np.sum(converted))
    moments["sum_conv_x"] = float(np.sum(np.asarray(converted, dtype=float) * pre))
    return moments


def _results(outcomes: pd.DataFrame) -> list[dict]:
    moments = []
    for (campaign_id, variant), arm in outcomes.groupby(["campaign_id", "variant"]):
        row = _moments(arm["revenue"], arm["pre_period_revenue"], arm["converted"])
        moments.append(row | {"campaign_id": campaign_id, "variant": variant})
    return AB.results_from_moments(moments, 0.5)


SEEDS = range(20)


def test_intervals_cover_the_true_uplift_over_seeds(tmp_path):
    """Over 20 seeds of 100,000 generated rows, the 95% intervals of the campaigns with an
    effect cover the manifest's true uplift in at least 90% of them, and the campaign
    without one is significant in only a few."""
    covered = {"conversion": 0, "revenue": 0}
    effect_runs = 0
    false_positives = 0
    for seed in SEEDS:
        raw, crm = tmp_path / f"raw{seed}", tmp_path / f"crm{seed}"
        manifest = generate(raw, rows=100_000, seed=seed, progress=False, assignments_dir=crm)
        assignments = pd.read_csv(crm / "part-00000.csv", dtype=str)
        outcomes = campaign_outcomes(load_sales_lines(raw), assignments, window_days=30)
        results = _results(outcomes)
        for campaign in manifest["campaigns"]:
            rows = {r["metric"]: r for r in results if r["campaign_id"] == campaign["campaign_id"]}
            assert rows["conversion"]["n_treatment"] == campaign["n_treatment"]
            assert rows["conversion"]["n_control"] == campaign["n_control"]
            if campaign["response_probability"] == 0:
                false_positives += any((row["p_value"] or 1) < 0.05 for row in rows.values())
                continue
            effect_runs += 1
            for metric, row in rows.items():
                truth = campaign["true_uplift"][metric]
                covered[metric] += row["ci_lower"] <= truth <= row["ci_upper"]
    for metric, count in covered.items():
        assert count >= 0.9 * effect_runs, (metric, count, effect_runs)
    assert false_positives <= 4, false_positives
