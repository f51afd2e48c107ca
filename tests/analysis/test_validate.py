"""The simulation study: a small version must pass, and its checks must catch a wrong answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cohortcalc.analysis.validate import summarise, validate
from cohortcalc.errors import SpecError


@pytest.fixture(scope="module")
def study():
    """40 replicates of n = 1,500 per scenario: Cox (cause-specific HR) and Fine-Gray (sHR)."""
    return validate(replicates=40, n=1_500, seed=3)


def test_small_study_recovers_the_truth_within_monte_carlo_error(study):
    assert study.passed, "\n".join(study.failures())
    table = study.table
    assert set(table["kind"]) == {"HR", "sHR"}
    assert set(table["term"]) >= {"cac_1_100", "cac_101_400", "cac_gt_400", "cac_pos_x_ckd"}
    assert (table["replicates"] == 40).all()
    cac = table[table["term"] == "cac_gt_400"].set_index("kind")
    assert cac.loc["HR", "true_ratio"] == pytest.approx(5.9)
    assert cac.loc["sHR", "true_ratio"] == pytest.approx(5.9)


def test_performance_measures_follow_their_definitions(study):
    estimates = study.estimates
    one = estimates[(estimates["scenario"] == "cause_specific")
                    & (estimates["term"] == "cac_gt_400")]  # fmt: skip
    row = study.table[(study.table["scenario"] == "cause_specific")
                      & (study.table["term"] == "cac_gt_400")].iloc[0]  # fmt: skip
    theta = math.log(5.9)
    assert row["bias"] == pytest.approx(one["estimate"].mean() - theta)
    assert row["empirical_se"] == pytest.approx(one["estimate"].std(ddof=1))
    covered = (one["estimate"] - theta).abs() <= 1.959963984540054 * one["se"]
    assert row["coverage"] == pytest.approx(covered.mean())
    assert row["coverage_mcse"] == pytest.approx(math.sqrt(0.95 * 0.05 / 40))


def test_checks_fail_on_a_biased_estimator(study):
    shifted = study.estimates.assign(
        estimate=lambda d: d["estimate"] + np.where(d["term"] == "cac_gt_400", 0.3, 0.0)
    )
    table = summarise(shifted, study.alpha_per_check)
    flagged = table[~(table["bias_ok"] & table["coverage_ok"])]
    assert set(flagged["term"]) == {"cac_gt_400"}


def test_checks_fail_on_a_wrong_standard_error(study):
    halved = study.estimates.assign(se=lambda d: d["se"] / 2)
    table = summarise(halved, study.alpha_per_check)
    assert not table["se_ratio_ok"].any()


def test_needs_several_replicates():
    with pytest.raises(SpecError, match="at least 3"):
        validate(replicates=2)


def test_summarise_uses_the_monte_carlo_se_of_each_measure():
    estimates = pd.DataFrame(
        {
            "scenario": "cause_specific",
            "term": "x",
            "true_log_ratio": 0.0,
            "estimate": [0.1, -0.1, 0.2, -0.2],
            "se": [0.15] * 4,
        }
    )
    row = summarise(estimates, alpha_per_check=0.01).iloc[0]
    empirical = float(np.std([0.1, -0.1, 0.2, -0.2], ddof=1))
    assert row["bias"] == pytest.approx(0.0)
    assert row["bias_mcse"] == pytest.approx(empirical / 2)
    assert row["se_ratio"] == pytest.approx(0.15 / empirical)
    assert row["se_ratio_mcse"] == pytest.approx(row["se_ratio"] / math.sqrt(6))
    assert row["bias_p"] == pytest.approx(1.0)  # mean error exactly 0
    variance = 3 * empirical**2 / 0.15**2
    expected = 2 * min(stats.chi2.cdf(variance, 3), stats.chi2.sf(variance, 3))
    assert row["se_ratio_p"] == pytest.approx(expected)
    covered = int(np.sum(np.abs([0.1, -0.1, 0.2, -0.2]) <= 1.959963984540054 * 0.15))
    assert row["coverage_p"] == pytest.approx(stats.binomtest(covered, 4, 0.95).pvalue)
