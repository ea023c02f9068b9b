"""A/B results of the targeted campaigns: one row per campaign and metric.

`model()` aggregates `campaign_ab_outcomes` in Spark to the sufficient statistics of each
arm (count, sums, sums of squares and of products with the pre-period revenue: two rows per
campaign, whatever the number of customers) and the plain functions below turn them into
the tests; they take numbers, not DataFrames, so pytest checks them against scipy.stats on
the same arrays (tests/python/test_campaign_stats.py).

- conversion: two-proportion z-test with pooled variance for the p-value, the unpooled
  (Wald) standard error for the 95% interval;
- revenue: Welch's t-test (unequal variances, Welch-Satterthwaite degrees of freedom) for
  the p-value and the 95% interval;
- CUPED, both metrics: the outcome minus theta times the pre-period revenue's deviation
  from its mean, theta = cov(outcome, pre-period revenue) / var(pre-period revenue) over
  both arms together; the uplift of the adjusted outcome with a Welch interval;
- sample-ratio mismatch: chi-square goodness-of-fit p-value of the arm sizes against the
  intended treatment share.
"""

from __future__ import annotations

import math

from scipy import stats

CONFIDENCE = 0.95
SRM_ALPHA = 0.001  # a split this unlikely under the intended share flags the assignment
METRICS = ("conversion", "revenue")


def arm_moments(values, covariate) -> dict:
    """Sufficient statistics of one arm from its outcome and pre-period revenue arrays."""
    values = [float(v) for v in values]
    covariate = [float(x) for x in covariate]
    return {
        "n": len(values),
        "sum_y": math.fsum(values),
        "sum_yy": math.fsum(v * v for v in values),
        "sum_x": math.fsum(covariate),
        "sum_xx": math.fsum(x * x for x in covariate),
        "sum_xy": math.fsum(x * v for x, v in zip(covariate, values, strict=True)),
    }


def _mean_var(n: int, total: float, squares: float) -> tuple[float, float]:
    """Mean and sample variance (ddof 1; 0 for fewer than two values)."""
    if n == 0:
        return math.nan, math.nan
    mean = total / n
    if n < 2:
        return mean, 0.0
    return mean, max((squares - n * mean * mean) / (n - 1), 0.0)


def _covariance(n: int, sum_x: float, sum_y: float, sum_xy: float) -> float:
    return (sum_xy - sum_x * sum_y / n) / (n - 1) if n > 1 else 0.0


def two_proportion_test(
    successes_t: float, n_t: int, successes_c: float, n_c: int
) -> dict[str, float]:
    """Uplift of a rate, pooled-variance z-test p-value, unpooled 95% interval."""
    p_t, p_c = successes_t / n_t, successes_c / n_c
    uplift = p_t - p_c
    pooled = (successes_t + successes_c) / (n_t + n_c)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    z_crit = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    if se_pooled > 0:
        statistic = uplift / se_pooled
        p_value = float(2 * stats.norm.sf(abs(statistic)))
    else:
        statistic, p_value = math.nan, math.nan
    return {
        "uplift": uplift,
        "statistic": statistic,
        "p_value": p_value,
        "ci_lower": uplift - z_crit * se,
        "ci_upper": uplift + z_crit * se,
    }


def welch_test(
    mean_t: float, var_t: float, n_t: int, mean_c: float, var_c: float, n_c: int
) -> dict[str, float]:
    """Uplift of a mean, Welch's t-test p-value and 95% interval."""
    uplift = mean_t - mean_c
    a, b = var_t / n_t, var_c / n_c
    se = math.sqrt(a + b)
    if se == 0 or n_t < 2 or n_c < 2:
        return {
            "uplift": uplift,
            "statistic": math.nan,
            "df": math.nan,
            "p_value": math.nan,
            "ci_lower": uplift,
            "ci_upper": uplift,
        }
    df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
    statistic = uplift / se
    t_crit = stats.t.ppf(0.5 + CONFIDENCE / 2, df)
    return {
        "uplift": uplift,
        "statistic": statistic,
        "df": df,
        "p_value": float(2 * stats.t.sf(abs(statistic), df)),
        "ci_lower": uplift - t_crit * se,
        "ci_upper": uplift + t_crit * se,
    }


def cuped_test(treatment: dict, control: dict) -> dict[str, float]:
    """CUPED: the uplift of outcome - theta * (pre-period revenue - its mean), Welch test."""
    n = treatment["n"] + control["n"]
    both = {key: treatment[key] + control[key] for key in treatment if key != "n"}
    _, var_x = _mean_var(n, both["sum_x"], both["sum_xx"])
    theta = _covariance(n, both["sum_x"], both["sum_y"], both["sum_xy"]) / var_x if var_x else 0.0
    adjusted = []
    for arm in (treatment, control):
        mean_y, var_y = _mean_var(arm["n"], arm["sum_y"], arm["sum_yy"])
        mean_x, var_xx = _mean_var(arm["n"], arm["sum_x"], arm["sum_xx"])
        cov = _covariance(arm["n"], arm["sum_x"], arm["sum_y"], arm["sum_xy"])
        mean = mean_y - theta * (mean_x - both["sum_x"] / n)
        var = max(var_y - 2 * theta * cov + theta * theta * var_xx, 0.0)
        adjusted.append((mean, var, arm["n"]))
    result = welch_test(*adjusted[0], *adjusted[1])
    result["theta"] = theta
    return result


def srm_p_value(n_t: int, n_c: int, treatment_share: float) -> float:
    """Chi-square goodness-of-fit p-value of the split against the intended share."""
    total = n_t + n_c
    expected = (total * treatment_share, total * (1 - treatment_share))
    statistic = sum(
        (observed - e) ** 2 / e for observed, e in zip((n_t, n_c), expected, strict=True) if e
    )
    return float(stats.chi2.sf(statistic, 1))


def campaign_results(
    campaign_id: str, treatment: dict, control: dict, treatment_share: float
) -> list[dict]:
    """The result rows (conversion, revenue) of one campaign from its arms' moments.

    ``treatment`` and ``control`` hold the moments of the revenue (`arm_moments` keys)
    plus ``converted``, the number of converted customers, and ``sum_conv_x``, the sum of
    converted times pre-period revenue (conversion's CUPED)."""
    n_t, n_c = treatment["n"], control["n"]
    srm = srm_p_value(n_t, n_c, treatment_share)
    rows = []
    for metric in METRICS:
        if metric == "conversion":
            test = two_proportion_test(treatment["converted"], n_t, control["converted"], n_c)
            arms = [_conversion_moments(arm) for arm in (treatment, control)]
        else:
            mean_t, var_t = _mean_var(n_t, treatment["sum_y"], treatment["sum_yy"])
            mean_c, var_c = _mean_var(n_c, control["sum_y"], control["sum_yy"])
            test = welch_test(mean_t, var_t, n_t, mean_c, var_c, n_c)
            arms = [treatment, control]
        mean_t = arms[0]["sum_y"] / n_t
        mean_c = arms[1]["sum_y"] / n_c
        cuped = cuped_test(*arms)
        rows.append(
            {
                "campaign_id": campaign_id,
                "metric": metric,
                "n_treatment": int(n_t),
                "n_control": int(n_c),
                "treatment_mean": _number(mean_t),
                "control_mean": _number(mean_c),
                "absolute_uplift": _number(test["uplift"]),
                "relative_uplift": _number(test["uplift"] / mean_c) if mean_c else None,
                "ci_lower": _number(test["ci_lower"]),
                "ci_upper": _number(test["ci_upper"]),
                "p_value": _number(test["p_value"]),
                "cuped_uplift": _number(cuped["uplift"]),
                "cuped_ci_lower": _number(cuped["ci_lower"]),
                "cuped_ci_upper": _number(cuped["ci_upper"]),
                "cuped_p_value": _number(cuped["p_value"]),
                "intended_treatment_share": float(treatment_share),
                "srm_p_value": _number(srm),
                "is_significant": bool(test["p_value"] < 1 - CONFIDENCE),
                "has_sample_ratio_mismatch": bool(srm < SRM_ALPHA),
            }
        )
    return rows


def _conversion_moments(arm: dict) -> dict:
    """Moments with the 0/1 conversion as the outcome (its square is itself)."""
    return {
        "n": arm["n"],
        "sum_y": float(arm["converted"]),
        "sum_yy": float(arm["converted"]),
        "sum_x": arm["sum_x"],
        "sum_xx": arm["sum_xx"],
        "sum_xy": arm["sum_conv_x"],
    }


def _number(value: float | None) -> float | None:
    """A plain Python float (Spark refuses NumPy's), None for a missing or NaN value."""
    return None if value is None or math.isnan(value) else float(value)


def results_from_moments(moments: list[dict], treatment_share: float) -> list[dict]:
    """Result rows of every campaign with both arms, from one moments row per arm."""
    by_campaign: dict[str, dict[str, dict]] = {}
    for row in moments:
        by_campaign.setdefault(row["campaign_id"], {})[row["variant"]] = row
    rows = []
    for campaign_id in sorted(by_campaign):
        arms = by_campaign[campaign_id]
        if "treatment" in arms and "control" in arms:
            rows += campaign_results(
                campaign_id, arms["treatment"], arms["control"], treatment_share
            )
    return rows


RESULT_COLUMNS = (
    ("campaign_id", "string"),
    ("metric", "string"),
    ("n_treatment", "bigint"),
    ("n_control", "bigint"),
    ("treatment_mean", "double"),
    ("control_mean", "double"),
    ("absolute_uplift", "double"),
    ("relative_uplift", "double"),
    ("ci_lower", "double"),
    ("ci_upper", "double"),
    ("p_value", "double"),
    ("cuped_uplift", "double"),
    ("cuped_ci_lower", "double"),
    ("cuped_ci_upper", "double"),
    ("cuped_p_value", "double"),
    ("intended_treatment_share", "double"),
    ("srm_p_value", "double"),
    ("is_significant", "boolean"),
    ("has_sample_ratio_mismatch", "boolean"),
)


def arm_moments_frame(outcomes):
    """Spark: one row per campaign and variant with the arm's sufficient statistics."""
    from pyspark.sql import functions as F

    revenue = F.col("revenue").cast("double")
    pre = F.col("pre_period_revenue").cast("double")
    converted = F.col("converted").cast("double")
    return outcomes.groupBy("campaign_id", "variant").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(converted).alias("converted"),
        F.sum(revenue).alias("sum_y"),
        F.sum(revenue * revenue).alias("sum_yy"),
        F.sum(pre).alias("sum_x"),
        F.sum(pre * pre).alias("sum_xx"),
        F.sum(pre * revenue).alias("sum_xy"),
        F.sum(pre * converted).alias("sum_conv_x"),
    )


def model(dbt, session):
    dbt.config(materialized="table")
    outcomes = dbt.ref("campaign_ab_outcomes")
    share = float(str(dbt.config.meta_get("campaign_treatment_share", 0.5)).strip())
    # Two rows per campaign: collecting them is bounded by the number of campaigns.
    moments = [row.asDict() for row in arm_moments_frame(outcomes).collect()]
    rows = results_from_moments(moments, share)
    schema = ", ".join(f"{name} {kind}" for name, kind in RESULT_COLUMNS)
    return session.createDataFrame(
        [tuple(row[name] for name, _ in RESULT_COLUMNS) for row in rows], schema
    )
