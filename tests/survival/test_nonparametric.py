"""Kaplan–Meier and Aalen–Johansen against R survfit, brute force, and their properties.

Reference numbers: tests/reference/make_nonparametric_reference.R (survival 3.5.3).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.errors import FrameError, ModelError
from cohortcalc.survival.aalen_johansen import aalen_johansen, aalen_johansen_truncated

REFERENCE = Path(__file__).parents[1] / "reference"
LUNG = pd.read_csv(REFERENCE / "lung.csv")
MGUS2 = pd.read_csv(REFERENCE / "mgus2.csv")
KM_REF = pd.read_csv(REFERENCE / "km_reference.csv")
AJ_REF = pd.read_csv(REFERENCE / "aj_reference.csv")
KM_COLUMNS = ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]
AJ_COLUMNS = ["time", "n_risk", "n_event", "n_censor", "cif", "std_err", "lower", "upper"]

KM_CASES = {
    "lung_all_log": (LUNG, {"time": "time", "event": "status"}),
    "lung_sex_log": (LUNG, {"time": "time", "event": "status", "by": "sex"}),
    "lung_sex_loglog": (
        LUNG,
        {"time": "time", "event": "status", "by": "sex", "conf_type": "log-log"},
    ),
    "lung_sex_plain": (
        LUNG,
        {"time": "time", "event": "status", "by": "sex", "conf_type": "plain"},
    ),
    "lung_sex_log90": (LUNG, {"time": "time", "event": "status", "by": "sex", "conf_level": 0.9}),
    "mgus2_sex_ties": (MGUS2, {"time": "futime", "event": "death", "by": "sex"}),
    "lung_sex_weighted": (LUNG, {"time": "time", "event": "status", "by": "sex", "weights": "w"}),
    "lung_sex_integer_weights": (
        LUNG,
        {"time": "time", "event": "status", "by": "sex", "weights": "wi"},
    ),
    "mgus2_age_scale_entry": (
        MGUS2,
        {"time": "exit_months", "event": "death", "entry": "entry_months"},
    ),
}
AJ_CASES = {
    "mgus2_all": {},
    "mgus2_sex": {"by": "sex"},
    "mgus2_sex_90": {"by": "sex", "conf_level": 0.9},
    "mgus2_sex_weighted": {"by": "sex", "weights": "w"},
    "mgus2_loglog": {"conf_type": "log-log"},
    "mgus2_plain": {"conf_type": "plain"},
    "mgus2_sex_age_scale": {"by": "sex", "entry": "entry_months", "time": "exit_cr_months"},
    "mgus2_age_scale_weighted": {
        "entry": "entry_months",
        "time": "exit_cr_months",
        "weights": "w",
    },
}


def assert_matches(ours: pd.DataFrame, ref: pd.DataFrame, columns: list[str]) -> None:
    assert len(ours) == len(ref)
    for column in columns:
        a, b = ours[column].to_numpy(float), ref[column].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=column)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=column)


@pytest.mark.parametrize("case", sorted(KM_CASES))
def test_kaplan_meier_matches_survfit(case: str) -> None:
    frame, kwargs = KM_CASES[case]
    ours = cc.kaplan_meier(frame, **kwargs)
    ref = KM_REF[KM_REF["case"] == case]
    assert_matches(ours, ref, KM_COLUMNS)
    if "by" in kwargs:
        assert ours["sex"].tolist() == ref["group"].tolist()
    weighted = kwargs.get("weights") == "w"
    assert ours.attrs["variance"] == ("infinitesimal jackknife" if weighted else "Greenwood")
    assert ours.attrs["conf_type"] == kwargs.get("conf_type", "log")


@pytest.mark.parametrize("case", sorted(AJ_CASES))
@pytest.mark.parametrize("cause", [1, 2])
def test_cumulative_incidence_matches_survfit_multistate(case: str, cause: int) -> None:
    kwargs = {"time": "etime"} | AJ_CASES[case]
    ours = cc.cumulative_incidence(MGUS2, event="event", cause=cause, **kwargs)
    ref = AJ_REF[(AJ_REF["case"] == case) & (AJ_REF["cause"] == cause)]
    assert_matches(ours, ref, AJ_COLUMNS)
    assert ours.attrs["cause"] == cause and ours.attrs["competing"] == [3 - cause]
    competing = AJ_REF[(AJ_REF["case"] == case) & (AJ_REF["cause"] == 3 - cause)]
    np.testing.assert_array_equal(ours["n_competing"], competing["n_event"])


def test_string_event_codes_work_like_integers() -> None:
    names = {0: "censored", 1: "pcm", 2: "death"}
    labelled = MGUS2.assign(event=MGUS2["event"].map(names))
    ours = cc.cumulative_incidence(labelled, "etime", "event", "pcm", censor_code="censored")
    pd.testing.assert_frame_equal(ours, cc.cumulative_incidence(MGUS2, "etime", "event", 1))
    gray = cc.gray_test(labelled, "etime", "event", "death", "sex", censor_code="censored")
    assert gray.statistic == pytest.approx(
        cc.gray_test(MGUS2, "etime", "event", 2, "sex").statistic
    )


def test_frame_kinds_give_identical_tables(tmp_path: Path) -> None:
    expected = cc.kaplan_meier(LUNG, "time", "status", by="sex")
    path = tmp_path / "lung.parquet"
    pl.from_pandas(LUNG).write_parquet(path)
    for frame in (pl.from_pandas(LUNG), pa.Table.from_pandas(LUNG), path):
        pd.testing.assert_frame_equal(cc.kaplan_meier(frame, "time", "status", by="sex"), expected)


def test_bincount_and_group_by_paths_agree() -> None:
    """Whole-number times are counted by bincount, others by a Polars group-by."""
    whole = cc.cumulative_incidence(MGUS2, "etime", "event", 1)
    shifted = cc.cumulative_incidence(MGUS2.assign(etime=MGUS2["etime"] + 0.5), "etime", "event", 1)
    np.testing.assert_array_equal(whole["time"] + 0.5, shifted["time"])
    pd.testing.assert_frame_equal(whole.drop(columns="time"), shifted.drop(columns="time"))
    sparse = LUNG.assign(time=LUNG["time"] * 10_000)  # range too wide for a bincount
    np.testing.assert_allclose(
        cc.kaplan_meier(sparse, "time", "status")["survival"],
        cc.kaplan_meier(LUNG, "time", "status")["survival"],
        rtol=0,
    )


def test_boolean_event_and_two_by_columns() -> None:
    frame = LUNG.assign(event=LUNG["status"] == 1)
    two = cc.kaplan_meier(frame, "time", "event", by=["sex", "karno_high"])
    assert list(two.columns[:3]) == ["sex", "karno_high", "time"]
    one = cc.kaplan_meier(frame[(frame.sex == "male") & (frame.karno_high == 1)], "time", "event")
    part = two[(two.sex == "male") & (two.karno_high == 1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part[one.columns], one)


def _influence_by_recursion(
    times: np.ndarray,
    status: np.ndarray,
    n_causes: int,
    entry: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Σ_i w_i² U_i(t)² by stepping every subject's influence through each time (O(N·T)),
    the recursion of R's survfitci.c written out directly."""
    entry = np.full(times.size, -np.inf) if entry is None else entry
    weights = np.ones(times.size) if weights is None else weights
    grid = np.unique(times)
    influence = np.zeros((times.size, n_causes + 1))
    prob = np.zeros(n_causes + 1)
    prob[0] = 1.0
    out = np.zeros((grid.size, n_causes))
    for m, t in enumerate(grid):
        at_risk = (entry < t) & (times >= t)
        n = weights[at_risk].sum()
        here = at_risk & (times == t) & (status > 0)
        if here.any():
            step = np.eye(n_causes + 1)
            for k in range(1, n_causes + 1):
                step[0, k] = weights[here & (status == k)].sum() / n
            step[0, 0] = 1 - weights[here].sum() / n
            influence = influence @ step
            target = np.where(here, status, 0)
            influence[at_risk] -= step[0] * prob[0] / n
            influence[at_risk, target[at_risk]] += prob[0] / n
            prob = prob @ step
        out[m] = (weights[:, None] ** 2 * influence[:, 1:] ** 2).sum(axis=0)
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 3)), min_size=2, max_size=40).filter(
        lambda rows: any(s == 1 for _, s in rows)
    )
)
def test_jackknife_variance_equals_the_per_subject_recursion(rows: list[tuple[int, int]]) -> None:
    times = np.array([r[0] for r in rows], dtype=float)
    status = np.array([r[1] for r in rows])
    grid, index = np.unique(times, return_inverse=True)
    exits = np.bincount(index, minlength=grid.size)
    events = np.stack(
        [np.bincount(index, weights=status == k, minlength=grid.size) for k in (1, 2, 3)], axis=1
    )
    at_risk = np.cumsum(exits[::-1])[::-1]
    _, variance = aalen_johansen(at_risk, events)
    np.testing.assert_allclose(variance, _influence_by_recursion(times, status, 3), atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10), st.integers(1, 6), st.integers(0, 2), st.sampled_from([0.5, 1, 2.5])
        ),
        min_size=2,
        max_size=30,
    ).filter(lambda rows: any(s == 1 for *_, s, _ in rows))
)
def test_delayed_entry_variance_equals_the_per_subject_recursion(rows: list[tuple]) -> None:
    entry = np.array([r[0] for r in rows], dtype=float)
    times = entry + np.array([r[1] for r in rows])
    status = np.array([r[2] for r in rows])
    weights = np.array([r[3] for r in rows], dtype=float)
    grid = np.unique(times)
    entry_index = np.searchsorted(grid, entry, side="right")
    exit_index = np.searchsorted(grid, times)
    _, variance = aalen_johansen_truncated(entry_index, exit_index, status, weights, grid.size, 2)
    expected = _influence_by_recursion(times, status, 2, entry, weights)
    np.testing.assert_allclose(variance, expected, rtol=1e-9, atol=1e-12)


survival_rows = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 2), st.sampled_from(["a", "b"])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(survival_rows, st.randoms(use_true_random=False))
def test_kaplan_meier_is_monotone_and_row_order_free(rows: list, rng: random.Random) -> None:
    frame = pd.DataFrame(rows, columns=["time", "status", "group"])
    frame["event"] = (frame["status"] > 0).astype(int)
    table = cc.kaplan_meier(frame, "time", "event", by="group")
    for _, curve in table.groupby("group"):
        surv = curve["survival"].to_numpy()
        assert np.all((surv >= 0) & (surv <= 1))
        assert np.all(np.diff(surv) <= 1e-15)
    shuffled = frame.sample(frac=1.0, random_state=rng.randint(0, 10_000))
    pd.testing.assert_frame_equal(cc.kaplan_meier(shuffled, "time", "event", by="group"), table)


@settings(max_examples=60, deadline=None)
@given(survival_rows.filter(lambda rows: {1, 2} <= {s for _, s, _ in rows}))
def test_cifs_and_survival_sum_to_one(rows: list) -> None:
    frame = pd.DataFrame(rows, columns=["time", "status", "group"])
    first = cc.cumulative_incidence(frame, "time", "status", 1)
    second = cc.cumulative_incidence(frame, "time", "status", 2)
    survival = cc.kaplan_meier(frame.assign(any=frame["status"] > 0), "time", "any")
    total = first["cif"] + second["cif"] + survival["survival"]
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert np.all(np.diff(first["cif"]) >= -1e-15)
    assert np.all((first["cif"] + second["cif"]) <= 1 + 1e-12)
    shuffled = frame.iloc[::-1]
    pd.testing.assert_frame_equal(cc.cumulative_incidence(shuffled, "time", "status", 1), first)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"time": [1.0, np.nan, 3.0]}, "1 missing value"),
        ({"time": [1.0, np.inf, 3.0]}, "NaN or infinite"),
        ({"time": [1.0, -2.0, 3.0]}, "negative"),
        ({"status": [0, 2, 1]}, "must be 0 .censored. or 1"),
    ],
)
def test_kaplan_meier_rejects_bad_input(values: dict, message: str) -> None:
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "status": [0, 1, 1]}).assign(**values)
    with pytest.raises(ModelError, match=message) as info:
        cc.kaplan_meier(frame, "time", "status")
    assert "'time'" in str(info.value) or "'status'" in str(info.value)


def test_polars_nan_time_is_rejected() -> None:
    frame = pl.DataFrame({"time": [1.0, float("nan")], "status": [1, 2]})
    with pytest.raises(ModelError, match="time column 'time' has 1 NaN or infinite"):
        cc.cumulative_incidence(frame, "time", "status", 1)


def test_cumulative_incidence_rejects_absent_cause_and_bad_entry() -> None:
    with pytest.raises(ModelError, match="cause 3 never occurs in event column 'event'"):
        cc.cumulative_incidence(MGUS2, "etime", "event", 3)
    with pytest.raises(ModelError, match="equals censor_code"):
        cc.cumulative_incidence(MGUS2, "etime", "event", 0)
    bad_entry = MGUS2.assign(entry_months=MGUS2["exit_months"])
    with pytest.raises(ModelError, match="entry column 'entry_months' is not before"):
        cc.kaplan_meier(bad_entry, "exit_months", "death", entry="entry_months")


def test_bad_weights_are_named() -> None:
    negative = LUNG.assign(w=-LUNG["w"])
    with pytest.raises(ModelError, match="weights column 'w' has 228 value"):
        cc.kaplan_meier(negative, "time", "status", weights="w")
    with pytest.raises(ModelError, match="weights column 'w'"):
        cc.cumulative_incidence(MGUS2.assign(w=0.0), "etime", "event", 1, weights="w")
    with pytest.raises(ModelError, match="weights together with entry"):
        cc.kaplan_meier(MGUS2, "exit_months", "death", entry="entry_months", weights="w")


def test_missing_columns_empty_frames_and_null_groups_are_named() -> None:
    with pytest.raises(FrameError, match="futime"):
        cc.kaplan_meier(LUNG, "futime", "status")
    with pytest.raises(ModelError, match="no rows"):
        cc.kaplan_meier(LUNG.iloc[:0], "time", "status")
    with pytest.raises(ModelError, match="column 'ph_ecog' has 1 missing"):
        cc.kaplan_meier(LUNG, "time", "status", by="ph_ecog")
    with pytest.raises(ModelError, match="conf_type"):
        cc.kaplan_meier(LUNG, "time", "status", conf_type="logit")  # type: ignore[arg-type]


def _competing_exponentials(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Cause 1 at rate 0.10, cause 2 at rate 0.05, uniform censoring on (0, 15); days rounded
    to 0.1 so that ties occur."""
    event_time = rng.exponential(1 / 0.15, n)
    cause = np.where(rng.random(n) < 0.10 / 0.15, 1, 2)
    censor_time = rng.uniform(0, 15, n)
    time = np.round(np.minimum(event_time, censor_time), 1) + 0.1
    status = np.where(event_time <= censor_time, cause, 0)
    return pl.DataFrame({"time": time, "status": status, "died": (status > 0).astype(int)})


def _value_at(table: pd.DataFrame, column: str, t: float) -> tuple[float, float, float]:
    row = table[table["time"] <= t].iloc[-1]
    return row[column], row["lower"], row["upper"]


def test_confidence_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    """Known truth: 250 replicate cohorts of 300; 95% limits at t = 5 for S and F_1."""
    rng = np.random.default_rng(2024)
    true_surv = np.exp(-0.15 * 5)
    true_cif = (0.10 / 0.15) * (1 - true_surv)
    covered_surv = covered_cif = 0
    replicates = 250
    for _ in range(replicates):
        frame = _competing_exponentials(rng, 300)
        _, low, high = _value_at(cc.kaplan_meier(frame, "time", "died"), "survival", 5)
        covered_surv += low <= true_surv <= high
        _, low, high = _value_at(cc.cumulative_incidence(frame, "time", "status", 1), "cif", 5)
        covered_cif += low <= true_cif <= high
    # binomial SE of a 95% coverage over 250 replicates is 1.4%; allow 3 SE
    for covered in (covered_surv, covered_cif):
        assert abs(covered / replicates - 0.95) < 3 * np.sqrt(0.95 * 0.05 / replicates)
