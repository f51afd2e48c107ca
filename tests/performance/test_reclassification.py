"""cc.reclassification: a hand-worked case, a brute-force second implementation of the
survival-adapted NRI (Pencina 2011, KM or AJ within groups) and of the IPCW IDI, bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

THRESHOLDS = [0.075, 0.20]


def test_hand_worked_case_without_censoring_before_the_horizon() -> None:
    # events (time < 10): 1 up, 2 up, 3 down, 4 same; non-events (censored at 20):
    # 5 same (continuous down), 6 down, 7 down, 8 up, 9 same (continuous down), 10 same
    frame = pd.DataFrame(
        {
            "time": [1, 2, 3, 4, 20, 20, 20, 20, 20, 20],
            "event": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
            "base": [0.05, 0.10, 0.25, 0.15, 0.05, 0.10, 0.30, 0.08, 0.04, 0.12],
            "new": [0.10, 0.25, 0.15, 0.15, 0.02, 0.05, 0.10, 0.22, 0.03, 0.12],
        }
    )
    result = cc.reclassification(
        "base",
        "new",
        frame,
        time="time",
        event="event",
        horizon=10.0,
        thresholds=THRESHOLDS,
        n_boot=0,
    )
    estimate = result.table["estimate"]
    assert estimate["nri_events"] == pytest.approx((2 - 1) / 4)
    assert estimate["nri_nonevents"] == pytest.approx((2 - 1) / 6)
    assert estimate["nri"] == pytest.approx(0.25 + 1 / 6)
    assert estimate["continuous_nri_events"] == pytest.approx(0.25)
    assert estimate["continuous_nri_nonevents"] == pytest.approx((4 - 1) / 6)
    assert estimate["idi"] == pytest.approx(0.1 / 4 + 0.15 / 6)
    assert result.events.to_numpy().sum() == pytest.approx(4)
    assert result.counts.loc["[0, 0.075)", "[0.075, 0.2)"] == 1  # row 1
    assert result.nonevents.loc["[0.2, 1]", "[0.075, 0.2)"] == pytest.approx(1)  # row 7


def _km_risk(time, status, cause, horizon):
    """Aalen–Johansen incidence of ``cause`` by horizon (KM 1 − S without competing), loops."""
    survival, incidence = 1.0, 0.0
    for u in np.unique(time[time <= horizon]):
        at_risk = np.sum(time >= u)
        cause_events = np.sum((time == u) & (status == cause))
        incidence += survival * cause_events / at_risk
        survival *= 1 - np.sum((time == u) & (status != 0)) / at_risk
    return incidence


def _brute_nri(time, status, base, new, horizon, moved):
    n, overall = len(time), _km_risk(time, status, 1, horizon)
    up, down = moved > 0, moved < 0
    f_up = _km_risk(time[up], status[up], 1, horizon) if up.any() else 0.0
    f_down = _km_risk(time[down], status[down], 1, horizon) if down.any() else 0.0
    events = (up.sum() * f_up - down.sum() * f_down) / (n * overall)
    nonevents = (down.sum() * (1 - f_down) - up.sum() * (1 - f_up)) / (n * (1 - overall))
    return events, nonevents


def _brute_idi(time, status, base, new, horizon):
    def g(t, left):
        product = 1.0
        for u in np.unique(time[status == 0]):
            if u < t or (u == t and not left):
                lost = np.sum((time == u) & (status == 0))
                product *= 1 - lost / (np.sum(time >= u) - np.sum((time == u) & (status != 0)))
        return product

    num_e = den_e = num_n = den_n = 0.0
    for i in range(len(time)):
        if time[i] <= horizon and status[i] == 1:
            w = 1 / g(time[i], True)
            num_e, den_e = num_e + w * (new[i] - base[i]), den_e + w
        elif time[i] > horizon or status[i] == 2:
            w = 1 / (g(horizon, False) if time[i] > horizon else g(time[i], True))
            num_n, den_n = num_n + w * (new[i] - base[i]), den_n + w
    return num_e / den_e - num_n / den_n


@pytest.mark.parametrize("competing", [False, True])
def test_equals_a_brute_force_implementation_with_censoring(competing: bool) -> None:
    rng = np.random.default_rng(21 + competing)
    n = 300
    time = rng.integers(1, 60, n).astype(float)  # tied times
    status = rng.choice([0, 1, 2] if competing else [0, 1], n)
    base = rng.uniform(0.0, 0.4, n)
    new = np.clip(base + rng.normal(0, 0.08, n), 0, 1)
    frame = pd.DataFrame({"t": time, "s": status, "base": base, "new": new})
    result = cc.reclassification(
        base,
        new,
        frame,
        time="t",
        event="s",
        horizon=40.0,
        thresholds=THRESHOLDS,
        cause=1 if competing else None,
        n_boot=0,
    )
    estimate = result.table["estimate"]
    categories = np.searchsorted(THRESHOLDS, new, "right") - np.searchsorted(
        THRESHOLDS, base, "right"
    )
    events, nonevents = _brute_nri(time, status, base, new, 40.0, categories)
    assert estimate["nri_events"] == pytest.approx(events, rel=1e-10)
    assert estimate["nri_nonevents"] == pytest.approx(nonevents, rel=1e-10)
    events, nonevents = _brute_nri(time, status, base, new, 40.0, np.sign(new - base))
    assert estimate["continuous_nri_events"] == pytest.approx(events, rel=1e-10)
    assert estimate["continuous_nri_nonevents"] == pytest.approx(nonevents, rel=1e-10)
    assert estimate["idi"] == pytest.approx(_brute_idi(time, status, base, new, 40.0), rel=1e-10)


def test_bootstrap_is_seeded_and_refuses_bad_thresholds() -> None:
    rng = np.random.default_rng(2)
    n = 400
    frame = pd.DataFrame(
        {"t": rng.exponential(10, n), "e": rng.integers(0, 2, n), "b": rng.uniform(0, 0.5, n)}
    )
    frame["n"] = np.clip(frame["b"] + rng.normal(0, 0.1, n), 0, 1)
    args = dict(time="t", event="e", horizon=5.0, thresholds=THRESHOLDS, n_boot=30)
    first = cc.reclassification("b", "n", frame, seed=3, **args)
    again = cc.reclassification("b", "n", frame, seed=3, **args)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert (first.table["lower"] <= first.table["upper"]).all()
    with pytest.raises(ModelError, match="strictly between 0 and 1"):
        cc.reclassification("b", "n", frame, time="t", event="e", horizon=5.0, thresholds=[7.5])
    frame.loc[3, "n"] = 1.5
    with pytest.raises(ModelError, match="row 3"):
        cc.reclassification("b", "n", frame, **args)
