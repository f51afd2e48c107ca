"""cc.standardized_risk: against riskRegression::ate and cmprsk (make_ate_reference.R), against
a brute-force influence function with tied times, and against the known truth of a synthetic
cohort."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError
from cohortcalc.synth.params import SynthParams
from cohortcalc.synth.truth import generating_terms, true_mi_cif

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
CASES = {case["name"]: case for case in json.loads((REFERENCE / "ate_reference.json").read_text())}
MI_TERMS = [
    "cac_1_100",
    "cac_101_400",
    "cac_gt_400",
    "ckd",
    "cac_positive:ckd",
    "age_per_10y",
    "male",
    "diabetes",
]


def _fit(case: dict) -> tuple[pd.DataFrame, object, object]:
    """The frame, the fit and (cause-specific case) the competing event's fit."""
    args = case["args"]
    data = pd.read_csv(REFERENCE / args["data"])
    if "competing" in args:
        data["is_cause"] = (data[args["event"]] == args["cause"]).astype(int)
        data["is_competing"] = (data[args["event"]] == args["competing"]).astype(int)
        fit, competing = (
            cc.cox(data, args["time"], event, args["covariates"], ties=args["ties"])
            for event in ("is_cause", "is_competing")
        )
        return data, fit, competing
    if "cause" in args:
        fit = cc.finegray(
            data, args["time"], args["event"], cause=args["cause"], covariates=args["covariates"]
        )
    else:
        fit = cc.cox(
            data,
            "time",
            "event",
            args["covariates"],
            ties=args["ties"],
            strata=args.get("strata"),
        )
    return data, fit, None


def _pick(table: pd.DataFrame, levels: list, times: list, column: str) -> np.ndarray:
    indexed = table.set_index(["level", "time"])[column]
    return np.array([indexed[(level, float(t))] for level, t in zip(levels, times, strict=True)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_riskregression_ate(name: str) -> None:
    case = CASES[name]
    data, fit, competing = _fit(case)
    result = cc.standardized_risk(
        fit, data, case["exposure"], case["times"], competing=competing, n_boot=0
    )
    ref = case["risk"]
    # riskRegression differentiates the product-limit S(u−) as if it were exp(−Λ(u−)) in the
    # CSC influence function, a term of order dΛ (8.5e-5 relative here); cohortcalc keeps the
    # exact derivative (checked by brute force below), so there the SEs agree to 1e-3 only
    se_rtol = 1e-3 if "competing" in case["args"] else 1e-8
    risk_columns = ["risk", "se", "lower", "upper"]
    for column in [c for c in risk_columns if c in ref]:
        mine = _pick(result.risk, ref["level"], ref["time"], column)
        rtol = 1e-8 if column == "risk" else se_rtol
        np.testing.assert_allclose(mine, ref[column], rtol=rtol, err_msg=column)
    contrast_columns = ["difference", "difference_se", "difference_lower", "difference_upper"]
    contrast_columns += ["ratio", "ratio_se", "ratio_lower", "ratio_upper"]
    for column in [c for c in contrast_columns if c in ref]:
        mine = _pick(result.contrasts, ref["diff_level"], ref["diff_time"], column)
        rtol = 1e-8 if column in ("difference", "ratio") else se_rtol
        np.testing.assert_allclose(mine, ref[column], rtol=rtol, atol=1e-13, err_msg=column)
    assert result.n == fit.n
    assert set(result.contrasts["reference"]) == {result.levels[0]}


def _tied_lung(n: int = 40) -> pd.DataFrame:
    data = pd.read_csv(REFERENCE / "ate_lung.csv").iloc[:n].copy()
    data["time"] = np.maximum(np.round(data["time"] / 30.0), 1.0)  # months: many ties
    return data


def _brute_force_influence(
    data: pd.DataFrame, fit_args: dict, exposure: str, levels: list, times: list
) -> np.ndarray:
    """n x levels x times: n · dF̂/dw_j by central differences of case weights (the refit and
    the weighted average over rows both see the weight), the empirical influence function."""

    def estimate(weights: np.ndarray) -> np.ndarray:
        weighted = data.assign(w=weights)
        fit = cc.cox(weighted, "time", "event", weights="w", **fit_args)
        return np.array(
            [
                weights
                @ cc.predict(fit, weighted.assign(**{exposure: level}), times).risk
                / weights.sum()
                for level in levels
            ]
        )

    n, step = len(data), 1e-5
    out = np.empty((n, len(levels), len(times)))
    for j in range(n):
        up, down = np.ones(n), np.ones(n)
        up[j] += step
        down[j] -= step
        out[j] = n * (estimate(up) - estimate(down)) / (2 * step)
    return out


@pytest.mark.parametrize(
    ("ties", "strata", "exposure", "levels"),
    [
        ("breslow", None, "sex", ["female", "male"]),
        ("efron", None, "sex", ["female", "male"]),
        ("efron", "sex", "ph_ecog", [0.0, 1.0, 2.0]),
    ],
)
def test_influence_function_with_ties_is_the_brute_force_one(
    ties: str, strata: str | None, exposure: str, levels: list
) -> None:
    """riskRegression's influence of β̂ is not R's dfbeta with tied times, so with ties the
    reference is the derivative of the weighted estimator itself (R survival's tie rules)."""
    data = _tied_lung()
    covariates = ["sex", "age", "ph_ecog"] if strata is None else ["age", "ph_ecog"]
    fit_args = {"covariates": covariates, "ties": ties, "strata": strata}
    times = [4.0, 9.0]
    fit = cc.cox(data, "time", "event", **fit_args)
    assert fit.fit_data.likelihood.index.n_deaths.max() > 1  # the case has tied deaths
    result = cc.standardized_risk(fit, data, exposure, times, levels=levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        influence = _brute_force_influence(data, fit_args, exposure, levels, times)
    n = len(data)
    se = np.sqrt((influence**2).sum(axis=0)) / n  # levels x times
    np.testing.assert_allclose(result.risk["se"].to_numpy(), se.ravel(), rtol=1e-5)
    contrast = influence[:, 1:] - influence[:, :1]
    diff_se = np.sqrt((contrast**2).sum(axis=0)) / n
    np.testing.assert_allclose(result.contrasts["difference_se"], diff_se.ravel(), rtol=1e-5)


def _product_limit_incidence(fits: list, frame: pd.DataFrame, horizon: float) -> np.ndarray:
    """Per row, Σ_{u≤t} Π_{v<u}(1 − dΛ1(v) − dΛ2(v)) dΛ1(u), from cc.predict's cumulative
    hazards −log(1 − risk) on the grid of all distinct times (an implementation independent
    of the module's)."""
    grid = np.unique(frame["etime"][frame["etime"] <= horizon])
    hazards = [
        np.diff(-np.log1p(-cc.predict(fit, frame, grid).risk), axis=1, prepend=0.0) for fit in fits
    ]
    before = np.cumprod(1.0 - hazards[0] - hazards[1], axis=1)
    before = np.hstack([np.ones((len(frame), 1)), before[:, :-1]])
    return (before * hazards[0]).sum(axis=1)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cause_specific_influence_with_ties_is_the_brute_force_one(ties: str) -> None:
    mgus2 = pd.read_csv(REFERENCE / "mgus2.csv")[["etime", "event", "sex", "age"]]
    data = pd.concat([mgus2[mgus2["event"] == 1].iloc[:12], mgus2[mgus2["event"] != 1].iloc[:48]])
    data = data.assign(
        etime=np.ceil(data["etime"] / 3.0),  # quarters: tied events of both causes
        is_cause=(data["event"] == 1).astype(int),
        is_competing=(data["event"] == 2).astype(int),
    ).reset_index(drop=True)
    horizon, n = 20.0, len(data)
    tied = (
        data[(data["event"] > 0) & (data["etime"] <= horizon)].groupby("etime")["event"].nunique()
    )
    assert (tied > 1).any()  # a time with events of both causes

    def fits(weights: np.ndarray | None) -> list:
        frame = data if weights is None else data.assign(w=weights)
        extra = {} if weights is None else {"weights": "w"}
        return [
            cc.cox(frame, "etime", event, ["sex", "age"], ties=ties, **extra)
            for event in ("is_cause", "is_competing")
        ]

    def estimate(weights: np.ndarray) -> np.ndarray:
        pair = fits(weights)
        return np.array(
            [
                weights
                @ _product_limit_incidence(pair, data.assign(sex=level), horizon)
                / weights.sum()
                for level in ("female", "male")
            ]
        )

    fit, competing = fits(None)
    result = cc.standardized_risk(fit, data, "sex", horizon, competing=competing)
    np.testing.assert_allclose(result.risk["risk"], estimate(np.ones(n)), rtol=1e-10)
    influence = np.empty((n, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(n):
            up, down = np.ones(n), np.ones(n)
            up[j] += 1e-5
            down[j] -= 1e-5
            influence[j] = n * (estimate(up) - estimate(down)) / 2e-5
    se = np.sqrt((influence**2).sum(axis=0)) / n
    np.testing.assert_allclose(result.risk["se"], se, rtol=1e-5)
    diff_se = np.sqrt(((influence[:, 1] - influence[:, 0]) ** 2).sum()) / n
    np.testing.assert_allclose(result.contrasts["difference_se"], [diff_se], rtol=1e-5)


def _synthetic(n: int, seed: int, model: str) -> pl.DataFrame:
    cohort = cc.simulate(n=n, seed=seed, params=SynthParams(outcome_model=model))
    outcome = cohort.analysis.select(
        "mi_years", "mi_status", mi=(pl.col("mi_status") == 1).cast(pl.Int64)
    )
    return pl.concat([generating_terms(cohort.analysis), outcome], how="horizontal")


def _true_risk_difference(model: str, horizon: float) -> tuple[float, float]:
    """Mean over 200,000 simulated participants of the true F(t | ckd = 1, x) − F(t | ckd =
    0, x) and its Monte Carlo SE. Cause-specific: the MI Cox model censors deaths, so its risk
    is 1 − exp(−Λ_MI(t | x)) of the true Weibull; subdistribution: the true MI CIF."""
    params = SynthParams(outcome_model=model)
    big = _synthetic(200_000, 99, model)
    risks = []
    for level in (0.0, 1.0):
        terms = big.with_columns(ckd=pl.lit(level), cac_pos_x_ckd=pl.col("cac_positive") * level)
        if model == "subdistribution":
            risks.append(true_mi_cif(params, terms, np.array([horizon]))[:, 0])
        else:
            log_ratio = sum(
                np.log(ratio) * terms[term].to_numpy()
                for term, ratio in params.mi.hazard_ratios.items()
            )
            cumhaz = params.mi.rate * horizon**params.mi.shape * np.exp(log_ratio)
            risks.append(-np.expm1(-cumhaz))
    difference = risks[1] - risks[0]
    return float(difference.mean()), float(difference.std() / np.sqrt(difference.size))


@pytest.mark.parametrize("model", ["cause_specific", "subdistribution"])
def test_standardized_risk_difference_covers_the_truth(model: str) -> None:
    horizon = 10.0
    truth, mc_se = _true_risk_difference(model, horizon)
    frame = _synthetic(4000, 5, model)
    if model == "cause_specific":
        fit = cc.cox(frame, "mi_years", "mi", MI_TERMS)
        result = cc.standardized_risk(fit, frame, "ckd", horizon, levels=[0, 1])
    else:
        fit = cc.finegray(frame, "mi_years", "mi_status", cause=1, covariates=MI_TERMS)
        result = cc.standardized_risk(fit, frame, "ckd", horizon, levels=[0, 1], n_boot=40)
    row = result.contrasts.iloc[0]
    assert row["difference_se"] > 0
    tolerance = 3.5 * np.hypot(row["difference_se"], mc_se)
    assert abs(row["difference"] - truth) < tolerance
    assert row["difference_lower"] < row["difference"] < row["difference_upper"]


def test_finegray_bootstrap_is_seeded_and_its_interval_contains_the_estimate() -> None:
    case = CASES["mgus2_finegray_sex"]
    data, fit, _ = _fit(case)
    first = cc.standardized_risk(fit, data, "sex", [60, 120], n_boot=12, seed=7)
    again = cc.standardized_risk(fit, data, "sex", [60, 120], n_boot=12, seed=7)
    other = cc.standardized_risk(fit, data, "sex", [60, 120], n_boot=12, seed=8)
    pd.testing.assert_frame_equal(first.risk, again.risk)
    assert not np.allclose(first.risk["se"], other.risk["se"])
    risk = first.risk
    assert ((risk["lower"] < risk["risk"]) & (risk["risk"] < risk["upper"])).all()
    assert "bootstrap" in first.method


def test_row_order_does_not_change_the_result() -> None:
    case = CASES["lung_ecog_strata_sex"]
    data, fit, _ = _fit(case)
    shuffled = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    refit = cc.cox(shuffled, "time", "event", ["ecog", "age"], strata="sex")
    a = cc.standardized_risk(fit, data, "ecog", [200, 400])
    b = cc.standardized_risk(refit, shuffled, "ecog", [200, 400])
    np.testing.assert_allclose(a.risk["se"], b.risk["se"], rtol=1e-10)
    np.testing.assert_allclose(a.contrasts["ratio_se"], b.contrasts["ratio_se"], rtol=1e-10)


def _lung() -> tuple[pd.DataFrame, object]:
    data = pd.read_csv(REFERENCE / "ate_lung.csv")
    return data, cc.cox(data, "time", "event", ["sex", "age", "ph_ecog"])


class _SparkLike:
    """Stands in for a PySpark DataFrame (recognised by its module)."""

    __module__ = "pyspark.sql.dataframe"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d, f: cc.standardized_risk(f, _SparkLike(), "sex", 100), "local frame"),
        (lambda d, f: cc.standardized_risk(f, d, "ecog", 100), "not a covariate"),
        (lambda d, f: cc.standardized_risk(f, d, "age", 100), "give levels"),
        (lambda d, f: cc.standardized_risk(f, d, "age", 100, levels=[60, "old"]), "not finite"),
        (lambda d, f: cc.standardized_risk(f, d, "sex", 100, levels=["male", "x"]), "never seen"),
        (lambda d, f: cc.standardized_risk(f, d.iloc[5:], "sex", 100), "not the frame"),
        (lambda d, f: cc.standardized_risk(f, d, "sex", 5000), "beyond the last follow-up"),
        (lambda d, f: cc.standardized_risk(f, d, "sex", -1), "> 0"),
        (lambda d, f: cc.standardized_risk(f, d, "sex", 100, conf_level=95), "conf_level"),
    ],
)
def test_refusals_name_the_fix(call, message: str) -> None:
    data, fit = _lung()
    with pytest.raises(ModelError, match=message):
        call(data, fit)


@pytest.mark.parametrize("option", ["weights", "entry", "cluster"])
def test_cox_fits_the_influence_function_does_not_cover_are_refused(option: str) -> None:
    data = pd.read_csv(REFERENCE / "ate_lung.csv").assign(w=1.0, start=0.0, id=range(227))
    column = {"weights": "w", "entry": "start", "cluster": "id"}[option]
    fit = cc.cox(data, "time", "event", ["sex", "age"], **{option: column})
    with pytest.raises(ModelError, match=f"{option}="):
        cc.standardized_risk(fit, data, "sex", 100)


def test_exposure_that_is_a_stratum_is_refused() -> None:
    data = pd.read_csv(REFERENCE / "ate_lung.csv")
    fit = cc.cox(data, "time", "event", ["age", "ph_ecog"], strata="sex")
    with pytest.raises(ModelError, match="stratum"):
        cc.standardized_risk(fit, data, "sex", 100)
    mgus2 = pd.read_csv(REFERENCE / "mgus2.csv")
    fine_gray = cc.finegray(mgus2, "etime", "event", cause=1, covariates=["age"], strata="sex")
    with pytest.raises(ModelError, match="stratum"):
        cc.standardized_risk(fine_gray, mgus2, "sex", 60, n_boot=0)


def test_figure_draws_a_curve_and_band_per_level_and_the_difference(tmp_path: Path) -> None:
    data, fit = _lung()
    result = cc.standardized_risk(fit, data, "sex", np.linspace(10, 700, 30))
    figure = result.plot(time_unit="days")
    risk_axes, difference_axes = figure.axes
    assert [line.get_label() for line in risk_axes.get_lines()] == [
        "Female",
        "Male",
    ]  # as the tables print levels
    assert len(risk_axes.collections) == 2  # one band per level
    assert difference_axes.get_lines()[0].get_label() == "Male vs Female"
    written = cc.save_figure(figure, tmp_path / "standardized", formats=["png"])
    assert written[0].stat().st_size > 10_000
    with pytest.raises(cc.CohortcalcError, match="several times"):
        cc.standardized_risk(fit, data, "sex", 100).plot()


def test_cause_specific_setups_that_would_be_wrong_are_refused() -> None:
    data, fit, competing = _fit(CASES["mgus2_csc_sex"])
    finegray = cc.finegray(data, "etime", "event", cause=1, covariates=["sex", "age"])
    both = data.assign(both=data["is_cause"])
    overlapping = cc.cox(both, "etime", "both", ["sex", "age"])
    stratified = cc.cox(data, "etime", "is_competing", ["age"], strata="sex")
    refusals = [
        (lambda: cc.standardized_risk(finegray, data, "sex", 60, competing=competing), "drop"),
        (lambda: cc.standardized_risk(fit, data, "sex", 60, competing=finegray), "cc.cox fit"),
        (lambda: cc.standardized_risk(fit, both, "sex", 60, competing=overlapping), "both"),
        (lambda: cc.standardized_risk(fit, data, "age", 60, [60, 70], stratified), "strata"),
        (lambda: cc.standardized_risk(fit, data, "sex", 420, competing=competing), "sum to 1"),
    ]
    for call, message in refusals:
        with pytest.raises(ModelError, match=message):
            call()


def test_cause_specific_times_in_one_call_equal_separate_calls() -> None:
    data, fit, competing = _fit(CASES["mgus2_csc_sex"])
    times = [240.0, 0.5, 60.0, 120.0, 60.0]  # unsorted, repeated, one before any event
    together = cc.standardized_risk(fit, data, "sex", times, competing=competing)
    for time in times:
        alone = cc.standardized_risk(fit, data, "sex", time, competing=competing)
        mine = together.risk.loc[together.risk["time"] == time].drop_duplicates("level")
        np.testing.assert_allclose(mine["risk"], alone.risk["risk"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(mine["se"], alone.risk["se"], rtol=1e-10, atol=1e-15)
    first = together.risk.loc[together.risk["time"] == 0.5]
    assert (first["risk"] == 0).all()
