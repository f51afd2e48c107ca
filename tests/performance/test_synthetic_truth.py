"""Known truth: a marker m that carries extra information (hazard λ0·exp(0.7·x + 0.5·m))
gives ΔC > 0, NRI > 0 and IDI > 0 whose intervals cover the values computed from the true
risks in a very large uncensored sample (the estimand), on one seeded censored cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd

import cohortcalc as cc

RATE, BETA_X, BETA_M, HORIZON = 0.05, 0.7, 0.5, 5.0
THRESHOLDS = [0.15, 0.30]
NODES, WEIGHTS = np.polynomial.hermite.hermgauss(40)


def _cohort(n: int, seed: int, censor: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, m = rng.normal(size=n), rng.normal(size=n)
    event_time = rng.exponential(1.0 / (RATE * np.exp(BETA_X * x + BETA_M * m)))
    follow = rng.uniform(3.0, 12.0, n) if censor else np.full(n, np.inf)
    return pd.DataFrame(
        {
            "x": x,
            "m": m,
            "time": np.minimum(event_time, follow),
            "event": (event_time <= follow).astype(int),
        }
    )


def _true_risks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """P(T ≤ horizon | x) (m integrated out by Gauss–Hermite) and P(T ≤ horizon | x, m)."""
    cumulative = RATE * HORIZON
    new = 1 - np.exp(-cumulative * np.exp(BETA_X * frame["x"] + BETA_M * frame["m"]))
    marker = np.sqrt(2.0) * NODES[None, :]
    survival = np.exp(
        -cumulative * np.exp(BETA_X * frame["x"].to_numpy()[:, None] + BETA_M * marker)
    )
    base = 1 - survival @ WEIGHTS / np.sqrt(np.pi)
    return base, new.to_numpy()


def _population_truth() -> dict[str, float]:
    """NRI components and IDI of the true risks, event status by the horizon fully known."""
    big = _cohort(400_000, 99, censor=False)
    base, new = _true_risks(big)
    event = (big["time"] <= HORIZON).to_numpy()
    up = np.searchsorted(THRESHOLDS, new, "right") > np.searchsorted(THRESHOLDS, base, "right")
    down = np.searchsorted(THRESHOLDS, new, "right") < np.searchsorted(THRESHOLDS, base, "right")
    diff = new - base
    return {
        "nri_events": up[event].mean() - down[event].mean(),
        "nri_nonevents": down[~event].mean() - up[~event].mean(),
        "continuous_nri_events": (diff[event] > 0).mean() - (diff[event] < 0).mean(),
        "continuous_nri_nonevents": (diff[~event] < 0).mean() - (diff[~event] > 0).mean(),
        "idi": diff[event].mean() - diff[~event].mean(),
    }


def test_marker_improves_c_and_the_interval_covers_the_large_sample_difference() -> None:
    cohort = _cohort(3000, 1, censor=True)
    base_fit = cc.cox(cohort, "time", "event", ["x"])
    new_fit = cc.cox(cohort, "time", "event", ["x", "m"])
    result = cc.concordance([base_fit, new_fit], cohort)
    contrast = result.contrast.iloc[0]
    big = _cohort(200_000, 98, censor=True)  # same censoring: Harrell's C depends on it
    truth = cc.concordance(
        [big["x"].to_numpy(), (BETA_X * big["x"] + BETA_M * big["m"]).to_numpy()],
        big,
        time="time",
        event="event",
    ).contrast.iloc[0]["difference"]
    assert truth > 0.02
    assert contrast["lower"] > 0  # the marker's gain is detected
    assert contrast["lower"] < truth < contrast["upper"]


def test_nri_and_idi_intervals_cover_the_true_values() -> None:
    cohort = _cohort(3000, 2, censor=True)
    base, new = _true_risks(cohort)
    result = cc.reclassification(
        base,
        new,
        cohort,
        time="time",
        event="event",
        horizon=HORIZON,
        thresholds=THRESHOLDS,
        n_boot=200,
        seed=7,
    )
    table = result.table
    for measure, value in _population_truth().items():
        lower, upper = table.loc[measure, ["lower", "upper"]]
        assert lower < value < upper, (measure, lower, value, upper)
    assert table.loc["nri", "lower"] > 0 and table.loc["idi", "lower"] > 0
