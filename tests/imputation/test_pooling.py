"""cc.pool against mice::pool, mice::D1 and mice::D3 on the same m completed data sets.

Reference: tests/reference/make_mice_reference.R (mice 3.15, mitml 0.4.4, survival 3.5.3,
cmprsk 2.2.11) writes mice_completed.csv (5 data sets imputed by mice) and mice_reference.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cohortcalc as cc
from cohortcalc.imputation.pooled_tests import d3_statistic

REFERENCE = Path(__file__).parents[1] / "reference"
TOL = 1e-8


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((REFERENCE / "mice_reference.json").read_text())


@pytest.fixture(scope="module")
def data_sets() -> list[pd.DataFrame]:
    long = pd.read_csv(REFERENCE / "mice_completed.csv")
    sets = []
    for _, d in long.groupby(".imp", sort=True):
        d = d.reset_index(drop=True)
        d["event"] = (d["status"] == 1).astype(int)
        sets.append(d)
    return sets


@pytest.fixture(scope="module")
def cox_fits(data_sets: list[pd.DataFrame]) -> list:
    return [cc.cox(d, "time", "event", ["x1", "x2", "grp"]) for d in data_sets]


@pytest.fixture(scope="module")
def cox_null_fits(data_sets: list[pd.DataFrame]) -> list:
    return [cc.cox(d, "time", "event", ["x1", "x2"]) for d in data_sets]


def _close(actual, desired) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(desired, float), rtol=TOL)


def _check_pooled(pooled, reference: dict) -> None:
    s = pooled.summary
    assert len(s) == len(reference["estimate"])
    for ours, theirs in [
        ("estimate", "estimate"), ("ubar", "ubar"), ("b", "b"), ("t", "t"), ("dfcom", "dfcom"),
        ("df", "df"), ("riv", "riv"), ("lambda", "lambda"), ("fmi", "fmi"), ("se", "std_error"),
        ("statistic", "statistic"), ("p", "p_value"), ("lower", "lower"), ("upper", "upper"),
    ]:  # fmt: skip
        _close(s[ours], reference[theirs])


def test_cox_pool_matches_mice(cox_fits: list, expected: dict) -> None:
    pooled = cc.pool(cox_fits)
    ref = expected["cox"]
    assert list(pooled.summary.index) == ["x1", "x2", "grp[b]", "grp[c]"]
    assert pooled.dfcom == ref["events"] - 4
    _check_pooled(pooled, ref)
    _close(pooled.summary["hr"], np.exp(ref["estimate"]))
    assert "m = 5" in str(pooled) and "Rubin" in str(pooled)


def test_cox_robust_pool_uses_robust_se_as_mice(data_sets: list[pd.DataFrame], expected) -> None:
    fits = [cc.cox(d, "time", "event", ["x1", "x2", "grp"], cluster="cl") for d in data_sets]
    _check_pooled(cc.pool(fits), expected["cox_robust"])


def test_d1_matches_mice(cox_fits: list, expected: dict) -> None:
    pooled = cc.pool(cox_fits)
    test = pooled.wald_test(["grp[b]", "grp[c]"])
    ref = expected["d1_grp"]
    _close([test.statistic, test.df1, test.df2, test.p, test.riv],
           [ref["F.value"], ref["df1"], ref["df2"], ref["P(>F)"], ref["RIV"]])  # fmt: skip
    assert test.method == "D1"
    infinite = cc.pool(cox_fits, dfcom=np.inf).wald_test(["grp[b]", "grp[c]"])
    ref = expected["d1_grp_no_dfcom"]
    _close(
        [infinite.statistic, infinite.df2, infinite.p], [ref["F.value"], ref["df2"], ref["P(>F)"]]
    )


def test_d3_cox_matches_mice_formula_with_coxph_likelihood(
    cox_fits: list, cox_null_fits: list, expected: dict
) -> None:
    test = cc.pool(cox_fits).lr_test(cox_null_fits)
    ref = expected["d3_cox_grp"]
    _close([test.statistic, test.df1, test.df2, test.p, test.riv],
           [ref["statistic"], ref["df1"], ref["df2"], ref["p"], ref["riv"]])  # fmt: skip
    assert test.terms == ("grp[b]", "grp[c]") and test.method == "D3"


def test_d3_formula_matches_mice_d3_on_its_deviances(expected: dict) -> None:
    ref = expected["d3_glm"]
    statistic, df2, p, riv = d3_statistic(
        np.array(ref["dev1.M"]), np.array(ref["dev0.M"]), np.array(ref["dev1.L"]),
        np.array(ref["dev0.L"]), k=2,
    )  # fmt: skip
    _close([statistic, df2, p, riv], [ref["statistic"], ref["df2"], ref["p"], ref["riv"]])


def test_finegray_pool_matches_mice_pool_scalar(data_sets: list, expected: dict) -> None:
    fits = [cc.finegray(d, "time", "status", cause=1, covariates=["x1", "x2", "grp"])
            for d in data_sets]  # fmt: skip
    s = cc.pool(fits).summary
    for j, ref in enumerate(expected["finegray"]):
        _close(
            s.iloc[j][["estimate", "ubar", "b", "t", "df", "riv", "fmi"]],
            [ref["qbar"], ref["ubar"], ref["b"], ref["t"], ref["df"], ref["r"], ref["fmi"]],
        )


def test_rates_pool_as_log_rates(data_sets: list, expected: dict) -> None:
    tables = [cc.incidence_rates(d, "time", "event", by="grp", per=1000) for d in data_sets]
    s = cc.pool(tables).summary
    ref = expected["rates"]
    assert list(s.index) == [r["grp"] for r in ref]
    _close(s["estimate"], [r["qbar"] for r in ref])
    _close(s["t"], [r["t"] for r in ref])
    _close(s["df"], [r["df"] for r in ref])
    _close(s["fmi"], [r["fmi"] for r in ref])
    _close(s["rate"], 1000 * np.exp([r["qbar"] for r in ref]))


@dataclass(frozen=True)
class _Concordance:
    estimate: float
    se: float
    pooling_scale: str = "logit"


def test_generic_estimates_pool_on_the_logit_scale_by_hand() -> None:
    """Hand-worked: C = 0.70, 0.72, 0.74 with se 0.02 each, on the logit scale."""
    values = np.array([0.70, 0.72, 0.74])
    pooled = cc.pool([_Concordance(c, 0.02) for c in values])
    logits = np.log(values / (1 - values))
    u = (0.02 / (values * (1 - values))) ** 2
    total = u.mean() + (1 + 1 / 3) * logits.var(ddof=1)
    row = pooled.summary.iloc[0]
    assert row["estimate"] == pytest.approx(logits.mean(), rel=1e-12)
    assert row["t"] == pytest.approx(total, rel=1e-12)
    lam = (1 + 1 / 3) * logits.var(ddof=1) / total
    assert row["df"] == pytest.approx(2 / lam**2, rel=1e-12)
    assert row["value"] == pytest.approx(1 / (1 + np.exp(-logits.mean())), rel=1e-12)


def test_pool_refuses_bad_input(cox_fits: list, data_sets: list) -> None:
    with pytest.raises(cc.ModelError, match="at least 2"):
        cc.pool(cox_fits[:1])
    other = cc.cox(data_sets[0], "time", "event", ["x1"])
    with pytest.raises(cc.ModelError, match="analysis 2 estimates"):
        cc.pool([cox_fits[0], other])
    with pytest.raises(cc.ModelError, match="cannot read a str"):
        cc.pool(["a", "b"])
    with pytest.raises(cc.ModelError, match="not among"):
        cc.pool(cox_fits).wald_test(["age"])
    with pytest.raises(cc.ModelError, match="nested"):
        cc.pool(cox_fits).lr_test(cox_fits)


def test_d1_on_finegray_and_d3_refuses_it(data_sets: list) -> None:
    fits = [cc.finegray(d, "time", "status", cause=1, covariates=["x1", "x2", "grp"])
            for d in data_sets]  # fmt: skip
    pooled = cc.pool(fits)
    test = pooled.wald_test(["grp[b]", "grp[c]"])
    assert test.method == "D1" and test.df1 == 2 and 0 < test.p < 1
    with pytest.raises(cc.ModelError, match="wald_test"):
        pooled.lr_test(fits)


def test_rates_with_a_group_without_events_are_refused(data_sets: list) -> None:
    tables = [cc.incidence_rates(d, "time", "event", by="grp") for d in data_sets]
    tables[1].loc[0, "events"] = 0
    with pytest.raises(cc.ModelError, match="no events"):
        cc.pool(tables)


@dataclass(frozen=True)
class _Scalar:
    estimate: float
    variance: float
    dfcom: float


def test_d1_where_reiter_df_divides_by_zero_matches_mitml(expected: dict) -> None:
    ref = expected["d1_edge"]
    pooled = cc.pool([_Scalar(q, ref["u"], ref["dfcom"]) for q in ref["q"]])
    test = pooled.wald_test()
    _close([test.statistic, test.df2, test.riv], [ref["F"], ref["df2"], ref["riv"]])


def test_d1_where_reiter_df_is_undefined_uses_li_df() -> None:
    """One term and m = 3 (k(m − 1) = 2): Reiter's df is NaN (as mice::D1 prints); D1 then
    uses Li et al.'s small-sample df t(1 + 1/k)(1 + 1/r)²/2, worked here by hand."""
    q, u = [0.10, 0.35, 0.22], 0.01
    test = cc.pool([_Scalar(x, u, 40.0) for x in q]).wald_test()
    m, k = 3, 1
    r = (1 + 1 / m) * np.var(q, ddof=1) / u
    df2 = k * (m - 1) * (1 + 1 / k) * (1 + 1 / r) ** 2 / 2
    statistic = np.mean(q) ** 2 / ((1 + r) * u)
    _close([test.riv, test.df2, test.statistic], [r, df2, statistic])
    assert test.p == pytest.approx(float(stats.f.sf(statistic, 1, df2)), rel=1e-12)


def test_d1_without_between_imputation_variance_is_the_chi_square_test() -> None:
    """Identical imputations (B = 0, r = 0): Li's df is infinite, and p is the chi-square
    limit of F (R's pf(F, k, Inf)), not NaN."""
    fits = [_Scalar(0.3, 0.01, np.inf) for _ in range(3)]
    test = cc.pool(fits).wald_test()
    assert test.riv == 0 and np.isinf(test.df2)
    assert test.p == pytest.approx(float(stats.chi2.sf(0.3**2 / 0.01, 1)), rel=1e-12)
