"""cc.calibration: groups, observed KM/AJ risk as cc.kaplan_meier, the GND statistic by hand,
synthetic truth (well-calibrated risks pass, mis-scaled risks fail), the plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError


def _cohort(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Exponential times with known hazard; the true 5-year risk of each row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rate = 0.05 * np.exp(0.8 * x)
    event_time = rng.exponential(1 / rate)
    censor = rng.uniform(2, 12, n)
    frame = pd.DataFrame(
        {"time": np.minimum(event_time, censor), "event": (event_time <= censor).astype(int)}
    )
    return frame, 1 - np.exp(-rate * 5.0)


def test_true_risks_are_calibrated_and_doubled_risks_are_not() -> None:
    frame, truth = _cohort(6000, 1)
    good = cc.calibration(truth, frame, time="time", event="event", horizon=5.0)
    bad = cc.calibration(
        np.minimum(2 * truth, 0.99), frame, time="time", event="event", horizon=5.0
    )
    assert good.gnd.df == 9 and good.gnd.p > 0.001
    assert bad.gnd.p < 1e-6
    ratio = good.in_the_large
    assert ratio["o_e_lower"] < 1 < ratio["o_e_upper"]
    assert good.slope["lower"] < 1 < good.slope["upper"]
    assert bad.in_the_large["o_e_ratio"] == pytest.approx(0.5, abs=0.08)


def test_groups_and_statistic_by_hand() -> None:
    frame, truth = _cohort(2000, 2)
    result = cc.calibration(truth, frame, time="time", event="event", horizon=5.0, groups=4)
    assert result.table["n"].tolist() == [500] * 4
    order = np.argsort(truth, kind="stable")
    first = frame.iloc[order[:500]]
    km = cc.kaplan_meier(first, time="time", event="event")
    at = km[km["time"] <= 5.0].iloc[-1]
    row = result.table.iloc[0]
    assert row["observed"] == pytest.approx(1 - at["survival"], rel=1e-12)
    assert row["se"] == pytest.approx(at["std_err"], rel=1e-12)
    assert row["predicted"] == pytest.approx(truth[order[:500]].mean(), rel=1e-12)
    chisq = (
        (result.table["observed"] - result.table["predicted"]) ** 2 / result.table["se"] ** 2
    ).sum()
    assert result.gnd.statistic == pytest.approx(chisq, rel=1e-12)


def test_competing_risk_uses_aalen_johansen_and_plot_draws() -> None:
    frame, truth = _cohort(3000, 3)
    rng = np.random.default_rng(4)
    frame["status"] = np.where(frame["event"] == 1, rng.choice([1, 2], len(frame)), 0)
    result = cc.calibration(
        truth / 2, frame, time="time", event="status", horizon=5.0, groups=5, cause=1
    )
    aj = cc.cumulative_incidence(frame, time="time", event="status", cause=1)
    overall = aj[aj["time"] <= 5.0].iloc[-1]["cif"]
    assert result.in_the_large["observed"] == pytest.approx(overall, rel=1e-12)
    figure = result.plot(title="Calibration")
    assert len(figure.axes) == 1 and figure.axes[0].get_xlabel().startswith("Mean predicted")
    notes = [t.get_text() for t in result.plot(time_unit="years").texts]
    assert any(n.startswith("Risk by 5 years; 5 groups.") for n in notes)
    assert any(n.startswith("Risk by 5; 5 groups.") for n in (t.get_text() for t in figure.texts))


def test_bad_input_is_refused() -> None:
    frame, truth = _cohort(200, 5)
    with pytest.raises(ModelError, match="row 3"):
        risk = truth.copy()
        risk[3] = 1.2
        cc.calibration(risk, frame, time="time", event="event", horizon=5.0)
    with pytest.raises(ModelError, match="within follow-up"):
        cc.calibration(truth, frame, time="time", event="event", horizon=50.0)
