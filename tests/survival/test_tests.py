"""Log-rank, trend, Gray and likelihood-ratio tests against R (survdiff, cuminc, anova).

Reference numbers: tests/reference/make_nonparametric_reference.R.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.errors import ModelError

REFERENCE = Path(__file__).parents[1] / "reference"
LUNG = pd.read_csv(REFERENCE / "lung.csv")
ECOG = LUNG.dropna(subset=["ph_ecog"])
MGUS2 = pd.read_csv(REFERENCE / "mgus2.csv")
R = pd.read_csv(REFERENCE / "tests_reference.csv").set_index("name")["value"]
AGE_ORDER = ["<60", "60-72", ">72"]


def close(value: float, name: str, rtol: float = 1e-10) -> None:
    assert value == pytest.approx(R[name], rel=rtol, abs=1e-14), name


def test_logrank_matches_survdiff() -> None:
    result = cc.logrank(LUNG, "time", "status", "sex")
    close(result.statistic, "logrank_lung_sex_chisq")
    close(result.p, "logrank_lung_sex_p")
    assert result.df == R["logrank_lung_sex_df"]
    for sex in ("female", "male"):
        close(result.table.loc[sex, "observed"], f"logrank_lung_sex_obs_{sex}")
        close(result.table.loc[sex, "expected"], f"logrank_lung_sex_exp_{sex}")
    assert "chi-square = 10.3267 on 1 df" in str(result)


def test_logrank_with_several_groups_and_strata() -> None:
    ecog = cc.logrank(ECOG, "time", "status", "ph_ecog")
    close(ecog.statistic, "logrank_lung_ecog_chisq")
    close(ecog.p, "logrank_lung_ecog_p")
    assert ecog.df == R["logrank_lung_ecog_df"]
    stratified = cc.logrank(LUNG, "time", "status", "sex", strata="karno_high")
    close(stratified.statistic, "logrank_lung_sex_strata_chisq")
    close(stratified.p, "logrank_lung_sex_strata_p")
    age = cc.logrank(pl.from_pandas(MGUS2), "futime", "death", "age_group")
    close(age.statistic, "logrank_mgus2_agegroup_chisq")
    assert age.p == pytest.approx(R["logrank_mgus2_agegroup_p"], rel=1e-8)


def test_rho_weighted_logrank_matches_survdiff_rho() -> None:
    peto = cc.logrank(LUNG, "time", "status", "sex", rho=1)
    close(peto.statistic, "petopeto_lung_sex_chisq")
    close(peto.table.loc["female", "observed"], "petopeto_lung_sex_obs_female")
    close(peto.table.loc["female", "expected"], "petopeto_lung_sex_exp_female")
    assert "rho = 1" in peto.method
    stratified = cc.logrank(ECOG, "time", "status", "ph_ecog", strata="karno_high", rho=1)
    close(stratified.statistic, "petopeto_lung_ecog_strata_chisq")
    half = cc.logrank(MGUS2, "futime", "death", "age_group", rho=0.5)
    close(half.statistic, "rho_half_mgus2_agegroup_chisq")


def test_trend_test_matches_survdiff_variance() -> None:
    close(cc.trend_test(ECOG, "time", "status", "ph_ecog").statistic, "trend_lung_ecog_chisq")
    scored = cc.trend_test(ECOG, "time", "status", "ph_ecog", scores=[0, 1, 3, 7])
    close(scored.statistic, "trend_lung_ecog_scores_chisq")
    close(scored.p, "trend_lung_ecog_scores_p")
    by_mapping = cc.trend_test(
        MGUS2, "futime", "death", "age_group", scores=dict(zip(AGE_ORDER, [1, 2, 3], strict=True))
    )
    close(by_mapping.statistic, "trend_mgus2_agegroup_chisq")
    ordered = MGUS2.assign(age_group=pd.Categorical(MGUS2["age_group"], AGE_ORDER, ordered=True))
    by_order = cc.trend_test(ordered, "futime", "death", "age_group")
    close(by_order.statistic, "trend_mgus2_agegroup_chisq")
    assert list(by_order.table.index) == AGE_ORDER
    enum = pl.from_pandas(MGUS2).with_columns(pl.col("age_group").cast(pl.Enum(AGE_ORDER)))
    close(
        cc.trend_test(enum, "futime", "death", "age_group").statistic, "trend_mgus2_agegroup_chisq"
    )


@pytest.mark.parametrize("cause", [1, 2])
def test_gray_test_matches_cuminc(cause: int) -> None:
    by_sex = cc.gray_test(MGUS2, "etime", "event", cause, "sex")
    close(by_sex.statistic, f"gray_mgus2_sex_cause{cause}_stat")
    assert by_sex.df == 1
    by_age = cc.gray_test(MGUS2, "etime", "event", cause, "age_group")
    close(by_age.statistic, f"gray_mgus2_agegroup_cause{cause}_stat")
    # cuminc reports 1 - pchisq, which underflows to 0 for huge statistics
    assert by_age.p == pytest.approx(R[f"gray_mgus2_agegroup_cause{cause}_p"], abs=1e-12)
    if cause == 1:
        weighted = cc.gray_test(MGUS2, "etime", "event", 1, "age_group", rho=1)
        close(weighted.statistic, "gray_mgus2_agegroup_rho1_cause1_stat")
    stratified = cc.gray_test(MGUS2, "etime", "event", cause, "age_group", strata="sex")
    close(stratified.statistic, f"gray_mgus2_agegroup_strata_cause{cause}_stat")
    assert stratified.df == 2


@dataclass(frozen=True)
class _Fit:
    loglik: float
    terms: tuple[str, ...]
    n: int = 228
    n_events: int = 165


def test_lrtest_reproduces_anova_from_the_log_likelihoods() -> None:
    small = _Fit(R["lrtest_lung_loglik_a"], ("age",))
    large = _Fit(R["lrtest_lung_loglik_b"], ("age", "sex[male]"))
    for result in (cc.lrtest(small, large), cc.lrtest(large, small)):
        close(result.statistic, "lrtest_lung_chisq", rtol=1e-12)
        close(result.p, "lrtest_lung_p")
        assert result.df == R["lrtest_lung_df"]


def test_lrtest_on_cox_fits_matches_anova_coxph() -> None:
    small = cc.cox(LUNG, "time", "status", ["age"])
    large = cc.cox(pl.from_pandas(LUNG), "time", "status", ["age", "sex"])
    result = cc.lrtest(small, large)
    close(result.statistic, "lrtest_lung_chisq", rtol=1e-8)
    close(result.p, "lrtest_lung_p", rtol=1e-8)
    assert result.df == 1
    fewer_rows = cc.cox(ECOG, "time", "status", ["age", "sex"])
    with pytest.raises(ModelError, match="not on the same data: n = 228 vs 227"):
        cc.lrtest(small, fewer_rows)


def test_lrtest_refuses_fits_that_are_not_nested() -> None:
    small = _Fit(-750.0, ("age",))
    with pytest.raises(ModelError, match="not on the same data"):
        cc.lrtest(small, _Fit(-745.0, ("age", "sex"), n=227))
    with pytest.raises(ModelError, match="not nested"):
        cc.lrtest(small, _Fit(-745.0, ("sex", "ecog")))
    with pytest.raises(ModelError, match="not a Cox fit"):
        cc.lrtest(small, object())


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.integers(0, 1), st.sampled_from(["a", "b", "c"])),
        min_size=6,
        max_size=50,
    ).filter(lambda rows: len({g for _, _, g in rows}) == 3 and sum(e for _, e, _ in rows) > 1)
)
def test_logrank_is_invariant_to_group_labels_and_row_order(rows: list) -> None:
    frame = pd.DataFrame(rows, columns=["time", "status", "group"])
    relabelled = frame.assign(group=frame["group"].map({"a": "z", "b": "m", "c": "a"}))
    try:
        result = cc.logrank(frame, "time", "status", "group")
    except ModelError:  # degenerate data (e.g. nobody survives an event time): both must refuse
        with pytest.raises(ModelError):
            cc.logrank(relabelled.iloc[::-1], "time", "status", "group")
        return
    again = cc.logrank(relabelled.iloc[::-1], "time", "status", "group")
    assert again.statistic == pytest.approx(result.statistic, rel=1e-9, abs=1e-12)
    assert again.df == result.df
    assert 0.0 <= result.p <= 1.0


def test_tests_reject_bad_input() -> None:
    with pytest.raises(ModelError, match="group column 'sex' has only"):
        cc.logrank(LUNG[LUNG["sex"] == "male"], "time", "status", "sex")
    with pytest.raises(ModelError, match="cause 5 never occurs in event column 'event'"):
        cc.gray_test(MGUS2, "etime", "event", 5, "sex")
    with pytest.raises(ModelError, match="event column 'event' must be 0"):
        cc.logrank(MGUS2, "etime", "event", "sex")
    with pytest.raises(ModelError, match="3 scores given for 4 levels"):
        cc.trend_test(ECOG, "time", "status", "ph_ecog", scores=[1, 2, 3])
    with pytest.raises(ModelError, match="no value for level"):
        cc.trend_test(MGUS2, "futime", "death", "age_group", scores={"<60": 1})
    negative = LUNG.assign(time=np.where(LUNG.index == 3, -1, LUNG["time"]))
    with pytest.raises(ModelError, match="time column 'time' has 1 negative value"):
        cc.logrank(negative, "time", "status", "sex")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 15), st.integers(0, 2), st.sampled_from(["a", "b", "c"])),
        min_size=9,
        max_size=50,
    ).filter(lambda rows: len({g for _, _, g in rows}) == 3 and {1, 2} <= {e for _, e, _ in rows})
)
def test_gray_test_is_invariant_to_group_labels_and_row_order(rows: list) -> None:
    frame = pd.DataFrame(rows, columns=["time", "status", "group"])
    relabelled = frame.assign(group=frame["group"].map({"a": "z", "b": "m", "c": "a"})).iloc[::-1]
    try:
        result = cc.gray_test(frame, "time", "status", 1, "group")
    except ModelError:  # singular variance (a group without events): both must refuse
        with pytest.raises(ModelError):
            cc.gray_test(relabelled, "time", "status", 1, "group")
        return
    again = cc.gray_test(relabelled, "time", "status", 1, "group")
    assert again.statistic == pytest.approx(result.statistic, rel=1e-8, abs=1e-10)
    assert result.df == 2 and 0.0 <= result.p <= 1.0
