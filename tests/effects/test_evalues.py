"""E-values: the worked example of VanderWeele & Ding (2017), a brute-force solution of the
bounding-factor equation, the common-outcome conversion, and the refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import cohortcalc as cc
from cohortcalc.errors import ModelError


def _brute_force_evalue(risk_ratio: float) -> float:
    """Smallest E with bias factor E·E / (E + E − 1) = RR (Ding & VanderWeele 2016, eq. 2),
    found by root search: the definition, not the closed form."""
    rr = max(risk_ratio, 1 / risk_ratio)
    return optimize.brentq(lambda e: e * e / (2 * e - 1) - rr, 1.0, 1e6, xtol=1e-14, rtol=1e-15)


def test_the_worked_example_of_vanderweele_and_ding_2017() -> None:
    """Ann Intern Med 2017; 167:268, the breastfeeding example: RR 3.9 (95% CI 1.8 to 8.7)
    has E-value 7.26, and 3.0 for the lower limit."""
    result = cc.evalue(3.9, 1.8, 8.7, outcome_risk=0.01)
    assert result.rare
    assert round(result.point, 2) == 7.26
    assert result.ci == pytest.approx(3.0, abs=1e-12)  # 1.8 + sqrt(1.8 * 0.8) = 3 exactly


@pytest.mark.parametrize("hr", [1.0001, 1.2, 1.5, 2.0, 3.9, 10.0, 0.8, 0.3])
def test_closed_form_equals_the_bounding_factor_solution(hr: float) -> None:
    assert cc.evalue(hr, outcome_risk=0.05).point == pytest.approx(_brute_force_evalue(hr), 1e-10)


def test_protective_hr_uses_the_upper_limit_and_a_ci_across_one_gives_one() -> None:
    protective = cc.evalue(0.6, 0.45, 0.8, outcome_risk=0.05)
    assert protective.point == pytest.approx(_brute_force_evalue(1 / 0.6), rel=1e-10)
    assert protective.ci == pytest.approx(_brute_force_evalue(1 / 0.8), rel=1e-10)
    assert cc.evalue(1.3, 0.9, 1.8, outcome_risk=0.05).ci == 1.0
    assert cc.evalue(1.3, outcome_risk=0.05).ci is None


def test_common_outcome_converts_the_hr_before_the_evalue() -> None:
    """Outcome risk ≥ 15%: RR = (1 − 0.5^√HR) / (1 − 0.5^√(1/HR)) (VanderWeele 2020)."""
    hr, lower, upper = 2.0, 1.5, 2.7
    common = cc.evalue(hr, lower, upper, outcome_risk=0.30)
    assert not common.rare
    rr = (1 - 0.5 ** np.sqrt(2.0)) / (1 - 0.5 ** np.sqrt(0.5))
    assert common.risk_ratio == pytest.approx(rr, rel=1e-14)
    assert 1 < common.risk_ratio < hr  # the conversion shrinks a common-outcome HR
    assert common.point == pytest.approx(_brute_force_evalue(rr), rel=1e-10)
    rr_lower = (1 - 0.5 ** np.sqrt(lower)) / (1 - 0.5 ** np.sqrt(1 / lower))
    assert common.ci == pytest.approx(_brute_force_evalue(rr_lower), rel=1e-10)
    assert cc.evalue(hr, lower, upper, outcome_risk=0.1499).point > common.point
    assert "outcome common" in str(common) and "outcome rare" in str(
        cc.evalue(hr, outcome_risk=0.02)
    )


def test_conversion_is_symmetric_on_the_log_scale() -> None:
    from cohortcalc.effects.evalues import hr_to_risk_ratio

    for hr in (0.2, 0.7, 1.0, 1.6, 5.0):
        assert hr_to_risk_ratio(hr) * hr_to_risk_ratio(1 / hr) == pytest.approx(1.0, rel=1e-14)


def test_evalues_of_a_fit_read_its_summary() -> None:
    rng = np.random.default_rng(3)
    n = 600
    x = rng.integers(0, 2, n)
    time = rng.exponential(1 / (0.1 * np.exp(0.7 * x)))
    frame = pd.DataFrame({"time": time, "event": (time < 5).astype(int), "x": x})
    frame["time"] = np.minimum(frame["time"], 5)
    fit = cc.cox(frame, "time", "event", ["x"])
    table = cc.evalues(fit, outcome_risk=0.4)
    row = fit.summary.loc["x"]
    expected = cc.evalue(row["hr"], row["hr_lower"], row["hr_upper"], outcome_risk=0.4)
    assert table.loc["x", "evalue"] == expected.point
    assert table.loc["x", "evalue_ci"] == expected.ci
    assert not table.loc["x", "rare"]
    with pytest.raises(ModelError, match="not in the fit"):
        cc.evalues(fit, outcome_risk=0.4, terms=["z"])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((2.0,), {"outcome_risk": 1.5}, "proportion"),
        ((-1.0,), {"outcome_risk": 0.1}, "positive"),
        ((2.0, 1.5), {"outcome_risk": 0.1}, "both CI limits"),
        ((2.0, 2.5, 3.0), {"outcome_risk": 0.1}, "does not contain"),
    ],
)
def test_bad_input_is_refused(args, kwargs, message) -> None:
    with pytest.raises(ModelError, match=message):
        cc.evalue(*args, **kwargs)
