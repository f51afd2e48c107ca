"""cc.cox against R survival 3.5.3 (tests/reference/make_cox_reference.R), lifelines, the
synthetic cohort's known truth, invariances, and every refusal of the "never silent garbage" list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.errors import FrameError, ModelError, ModelWarning

LUNG3 = ["age", "sex", "ph_ecog"]

REFERENCE_FITS = [
    "lung_efron",
    "lung_breslow",
    "lung_strata",
    "lung_weights_int",
    "lung_weights_frac",
    "lung_cluster",
    "lung_cluster_breslow",
    "heart_counting",
    "heart_strata_breslow",
    "mgus2_age_scale",
    "flchain_interaction",
    "flchain_reference",
]


@pytest.mark.parametrize("name", REFERENCE_FITS)
def test_matches_r_coxph(
    name: str, cox_reference: dict, reference_data: dict, cox_cases: dict
) -> None:
    expected = cox_reference["fits"][name]
    fit = cc.cox(reference_data[expected["data"]], **cox_cases[name])
    terms = list(expected["coef"])
    assert sorted(fit.terms) == sorted(terms)
    summary = fit.summary.loc[terms]
    np.testing.assert_allclose(summary["coef"], list(expected["coef"].values()), rtol=1e-9)
    np.testing.assert_allclose(summary["se"], list(expected["se"].values()), rtol=1e-9)
    assert fit.loglik == pytest.approx(expected["loglik"], rel=1e-11)
    assert fit.loglik_null == pytest.approx(expected["loglik_null"], rel=1e-11)
    assert fit.iterations == expected["iterations"]
    assert (fit.n, fit.n_events, fit.n_dropped) == (
        expected["n"],
        expected["n_events"],
        expected["n_dropped"],
    )
    assert fit.robust == expected["robust"]
    assert fit.score_test is not None
    assert fit.score_test.statistic == pytest.approx(expected["score_test"], rel=1e-9)
    if fit.robust:
        naive = np.sqrt(np.diag(fit.naive_vcov.loc[terms, terms]))
        np.testing.assert_allclose(naive, list(expected["naive_se"].values()), rtol=1e-9)
    np.testing.assert_allclose(
        fit.vcov.loc[terms, terms].to_numpy(), np.array(expected["vcov"]), rtol=1e-8, atol=1e-15
    )


# ---- never silent garbage -------------------------------------------------------------------


def small_cohort(n: int = 300, seed: int = 3) -> pd.DataFrame:
    """A small cohort with a numeric, a binary and a three-level covariate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], n)
    time = rng.exponential(np.exp(-0.5 * x))
    censor = rng.exponential(2.0, n)
    return pd.DataFrame(
        {
            "time": np.minimum(time, censor) + 0.01,
            "event": (time <= censor).astype(int),
            "x": x,
            "z": rng.integers(0, 2, n).astype(float),
            "group": group,
        }
    )


def test_zero_events_in_a_level_is_an_error_naming_the_term() -> None:
    data = small_cohort()
    data.loc[data["group"] == "c", "event"] = 0
    with pytest.raises(ModelError, match=r"group\[c\]"):
        cc.cox(data, "time", "event", ["x", "group"])


def test_zero_events_in_the_reference_level_names_it() -> None:
    data = small_cohort()
    data.loc[data["group"] == "a", "event"] = 0
    with pytest.raises(ModelError, match=r"group\[a\] \(reference\)"):
        cc.cox(data, "time", "event", ["x", "group"])


def test_monotone_likelihood_warns_naming_the_term() -> None:
    data = small_cohort()
    # every event has z = 1 until the last quarter of time: the z coefficient runs to +inf
    data["z"] = np.where(data["event"] == 1, 1.0, data["z"])
    with pytest.warns(ModelWarning, match=r"\['z'\]"):
        fit = cc.cox(data, "time", "event", ["x", "z"])
    assert fit.summary.loc["z", "coef"] > 5


def test_collinear_covariates_are_an_error_naming_the_term() -> None:
    data = small_cohort()
    data["x2"] = 2.0 * data["x"] + data["z"]
    with pytest.raises(ModelError, match=r"x2.*collinear"):
        cc.cox(data, "time", "event", ["x", "z", "x2"])


def test_constant_covariate_is_an_error_naming_it() -> None:
    data = small_cohort()
    data["one"] = 1.0
    with pytest.raises(ModelError, match=r"'one' is constant"):
        cc.cox(data, "time", "event", ["x", "one"])


def test_all_censored_is_an_error() -> None:
    data = small_cohort().assign(event=0)
    with pytest.raises(ModelError, match="no events"):
        cc.cox(data, "time", "event", ["x"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_covariate_is_an_error_naming_the_column(bad: float) -> None:
    data = pl.from_pandas(small_cohort(), nan_to_null=False)
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(bad).otherwise("x").alias("x")
    )
    with pytest.raises(ModelError, match=r"'x' has 1 NaN or infinite"):
        cc.cox(data, "time", "event", ["x", "z"])


def test_infinite_time_is_an_error_naming_the_column() -> None:
    data = small_cohort()
    data.loc[7, "time"] = np.inf
    with pytest.raises(ModelError, match=r"'time' has 1 NaN or infinite"):
        cc.cox(data, "time", "event", ["x"])


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_non_positive_time_is_an_error(value: float) -> None:
    data = small_cohort()
    data.loc[4, "time"] = value
    with pytest.raises(ModelError, match=r"time column 'time' has values <= 0 in 1 row"):
        cc.cox(data, "time", "event", ["x"])


def test_entry_not_before_exit_is_an_error_naming_both_columns() -> None:
    data = small_cohort().assign(start=0.0)
    data.loc[[2, 9], "start"] = data.loc[[2, 9], "time"]
    with pytest.raises(ModelError, match=r"entry 'start' is not before exit 'time' in 2 row"):
        cc.cox(data, "time", "event", ["x"], entry="start")


@pytest.mark.parametrize("codes", [[0, 1, 2], [0, 3]])
def test_event_codes_other_than_0_1_are_an_error(codes: list[int]) -> None:
    data = small_cohort()
    data["status"] = np.resize(codes, len(data))
    with pytest.raises(ModelError, match=r"event column 'status' has codes \[[23]"):
        cc.cox(data, "time", "status", ["x"])


def test_boolean_event_is_accepted_and_equals_0_1() -> None:
    data = small_cohort()
    as_int = cc.cox(data, "time", "event", ["x"])
    as_bool = cc.cox(data.assign(event=data["event"] == 1), "time", "event", ["x"])
    assert as_bool.summary.loc["x", "coef"] == as_int.summary.loc["x", "coef"]


def test_non_positive_weights_are_an_error() -> None:
    data = small_cohort().assign(w=1.0)
    data.loc[3, "w"] = 0.0
    with pytest.raises(ModelError, match=r"weights column 'w' has values <= 0"):
        cc.cox(data, "time", "event", ["x"], weights="w")


def test_unknown_column_and_bad_ties_are_errors_naming_them() -> None:
    data = small_cohort()
    with pytest.raises(FrameError, match="nope"):
        cc.cox(data, "time", "event", ["x", "nope"])
    with pytest.raises(ModelError, match="exact"):
        cc.cox(data, "time", "event", ["x"], ties="exact")


def test_level_without_rows_and_unknown_reference_are_errors() -> None:
    data = pl.from_pandas(small_cohort()).with_columns(
        pl.col("group").cast(pl.Enum(["a", "b", "c", "d"]))
    )
    with pytest.raises(ModelError, match=r"group\[d\] has no rows"):
        cc.cox(data, "time", "event", ["group"])
    with pytest.raises(ModelError, match=r"reference level 'zz' of 'group'"):
        cc.cox(small_cohort(), "time", "event", ["group"], reference={"group": "zz"})


def test_missing_values_drop_rows_and_are_counted() -> None:
    data = small_cohort()
    data.loc[[1, 2, 3], "x"] = np.nan  # pandas NaN is a missing value
    fit = cc.cox(data, "time", "event", ["x"])
    assert (fit.n, fit.n_dropped) == (len(data) - 3, 3)
    assert "3 rows dropped for missing values" in str(fit)


# ---- properties ------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shift=st.floats(-50, 50),
    ties=st.sampled_from(["efron", "breslow"]),
)
def test_invariant_to_row_order_and_covariate_shift(seed: int, shift: float, ties: str) -> None:
    data = small_cohort(120, seed)
    data["time"] = np.ceil(data["time"] * 10)  # heavy ties
    if data["event"].sum() < 5:
        return
    base = cc.cox(data, "time", "event", ["x", "z", "group"], ties=ties)
    shuffled = data.sample(frac=1.0, random_state=seed)
    moved = cc.cox(
        shuffled.assign(x=shuffled["x"] + shift), "time", "event", ["x", "z", "group"], ties=ties
    )
    np.testing.assert_allclose(moved.summary["coef"], base.summary["coef"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(moved.summary["se"], base.summary["se"], rtol=1e-7)
    assert moved.loglik == pytest.approx(base.loglik, rel=1e-10)


def test_frame_kinds_give_identical_fits(reference_data: dict) -> None:
    lung = reference_data["cox_lung.csv"]
    fits = [
        cc.cox(frame, "time", "event", ["age", "sex", "ph_ecog"])
        for frame in (lung, pl.from_pandas(lung), pl.from_pandas(lung).to_arrow())
    ]
    for fit in fits[1:]:
        pd.testing.assert_frame_equal(fit.summary, fits[0].summary)


def test_agrees_with_lifelines() -> None:
    from lifelines import CoxPHFitter

    data = small_cohort(800, 11)
    data["time"] = np.ceil(data["time"] * 20)
    ours = cc.cox(data, "time", "event", ["x", "z"])
    theirs = CoxPHFitter().fit(data[["time", "event", "x", "z"]], "time", "event")
    # lifelines stops on its own (looser) criterion: agree to 1e-4 standard errors
    tolerance = 1e-4 * ours.summary["se"].to_numpy()
    difference = np.abs(ours.summary["coef"].to_numpy() - theirs.params_[["x", "z"]].to_numpy())
    assert (difference < tolerance).all(), difference
    np.testing.assert_allclose(ours.summary["se"], theirs.standard_errors_[["x", "z"]], rtol=1e-5)
    assert ours.loglik == pytest.approx(theirs.log_likelihood_, rel=1e-8)


def test_printed_form_states_model_ties_and_variance(reference_data: dict) -> None:
    fit = cc.cox(reference_data["cox_lung.csv"], "time", "event", LUNG3, cluster="inst")
    text = str(fit)
    for needle in (
        "Surv(time, event)",
        "Ties: efron",
        "robust (cluster sandwich) SE",
        "ph_ecog",
        "Likelihood ratio test",
        "HR",
        "lower .95",
    ):
        assert needle in text


# ---- known truth -----------------------------------------------------------------------------


def test_recovers_cause_specific_hazard_ratios_of_the_synthetic_cohort() -> None:
    cohort = cc.simulate(20_000, seed=5)
    truth = cohort.truth["true_hazard_ratios"]["mi"]
    frame = cohort.analysis_frame().with_columns(
        ((pl.col("age") - 62) / 10).alias("age10"),
        (pl.col("cac_agatston") > 0).alias("cac_pos"),
        (pl.col("mi_status") == 1).alias("mi"),
    )
    fit = cc.cox(
        frame,
        "mi_years",
        "mi",
        ["cac_category", "ckd", "cac_pos:ckd", "age10", "sex", "diabetes"],
    )
    expected = {
        "cac_category[1-100]": truth["cac_1_100"],
        "cac_category[101-400]": truth["cac_101_400"],
        "cac_category[>400]": truth["cac_gt_400"],
        "ckd[True]": truth["ckd"],
        "cac_pos[True]:ckd[True]": truth["cac_pos_x_ckd"],
        "age10": truth["age_per_10y"],
        "sex[male]": truth["male"],
        "diabetes[True]": truth["diabetes"],
    }
    summary = fit.summary.loc[list(expected)]
    z = (summary["coef"] - np.log(list(expected.values()))) / summary["se"]
    assert (z.abs() < 2.5).all(), z


def test_wald_interval_coverage_is_95_percent_in_replicates() -> None:
    """200 replicate cohorts (n = 400, true log-HRs 0.5 and -0.5): 400 intervals, of which 95%
    should cover; accept within 3 binomial SDs (380 ± 13)."""
    truth = np.array([0.5, -0.5])
    covered = 0
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        x = np.column_stack([rng.normal(size=400), rng.integers(0, 2, 400)])
        event_time = rng.exponential(np.exp(-x @ truth))
        censor = rng.uniform(0.0, 2.0, 400)
        data = pd.DataFrame(
            {
                "days": np.ceil(np.minimum(event_time, censor) * 100),
                "event": (event_time <= censor).astype(int),
                "x": x[:, 0],
                "z": x[:, 1],
            }
        )
        summary = cc.cox(data, "days", "event", ["x", "z"]).summary
        lower, upper = np.log(summary["hr_lower"]), np.log(summary["hr_upper"])
        covered += int(((lower <= truth) & (truth <= upper)).sum())
    assert 367 <= covered <= 393, covered
