"""censoring_survival: the Kaplan–Meier estimate of the censoring distribution G."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortcalc.survival.censoring import censoring_survival, product_limit

REFERENCE = Path(__file__).parents[1] / "reference"


def _reference(name: str) -> dict:
    entries = json.loads((REFERENCE / "finegray_reference.json").read_text())["censoring"]
    return next(e for e in entries if e["name"] == name)


@pytest.mark.parametrize(
    ("name", "stratum"), [("ties_all", None), ("ties_s2", "s2"), ("mgus2_all", None)]
)
def test_matches_survfit_on_the_censoring_indicator(name: str, stratum: str | None) -> None:
    # R: survfit(Surv(time, status == 0) ~ 1), make_finegray_reference.R
    csv = "finegray_mgus2.csv" if name.startswith("mgus2") else "finegray_ties.csv"
    data = pd.read_csv(REFERENCE / csv)
    if stratum is not None:
        data = data[data["stratum"] == stratum]
    ref = _reference(name)
    g = censoring_survival(data["time"].to_numpy(), data["status"].to_numpy() == 0)
    np.testing.assert_array_equal(g.time, ref["time"])
    np.testing.assert_array_equal(g.n_at_risk, ref["n_risk"])
    np.testing.assert_array_equal(g.n_censored, ref["n_censored"])
    np.testing.assert_allclose(g.survival, ref["survival"], rtol=1e-13)


def test_left_limit_by_hand() -> None:
    # times 1,2,2,3,4 with censorings at 2 and 3: G jumps to 3/4 at 2 and to 3/8 at 3;
    # an event tied with the censoring at 2 is still at risk for it (Y(2) = 4).
    g = censoring_survival(np.array([1, 2, 2, 3, 4.0]), np.array([0, 1, 0, 1, 0], dtype=bool))
    np.testing.assert_allclose(g.survival, [1, 0.75, 0.375, 0.375])
    np.testing.assert_allclose(g.before, [1, 1, 0.75, 0.375])
    np.testing.assert_allclose(
        g.left_limit(np.array([0.5, 2, 2.5, 3, 10])), [1, 1, 0.75, 0.75, 0.375]
    )


def test_integer_weights_equal_replicated_rows() -> None:
    rng = np.random.default_rng(3)
    time = rng.integers(1, 15, 60).astype(float)
    censored = rng.random(60) < 0.4
    weights = rng.integers(1, 4, 60)
    weighted = censoring_survival(time, censored, weights.astype(float))
    replicated = censoring_survival(np.repeat(time, weights), np.repeat(censored, weights))
    np.testing.assert_allclose(weighted.survival, replicated.survival, rtol=1e-14)
    np.testing.assert_allclose(weighted.n_at_risk, replicated.n_at_risk)


def test_everyone_censored_at_the_last_time_gives_zero() -> None:
    assert product_limit(np.array([3.0, 2.0, 1.0]), np.array([0.0, 1.0, 1.0]))[-1] == 0.0
