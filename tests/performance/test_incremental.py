"""cc.incremental_value: one call gives the same numbers as the measures called one by one,
with a published-score base recalibrated in the cohort, and competing risks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc


def _cohort(n: int = 1500, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cac = np.where(rng.random(n) < 0.45, 0.0, np.exp(rng.normal(4, 1.5, n)))
    log_cac = np.log1p(cac)
    event_time = rng.exponential(1 / (0.03 * np.exp(0.6 * x + 0.25 * (log_cac - 2.5))))
    follow = rng.uniform(5, 15, n)
    published = 1 - 0.9 ** np.exp(0.6 * x)  # a "published" 10-year score of x alone
    group = np.select([cac == 0, cac <= 100, cac <= 400], ["0", "1-100", "101-400"], ">400")
    return pd.DataFrame(
        {
            "years": np.minimum(event_time, follow),
            "mi": (event_time <= follow).astype(int),
            "x": x,
            "published": published,
            "log_cac": log_cac,
            "cac_category": group,
        }
    )


def test_one_call_equals_the_measures_one_by_one() -> None:
    data = _cohort()
    result = cc.incremental_value(
        data,
        time="years",
        event="mi",
        horizon=10.0,
        thresholds=[0.075, 0.2],
        base="published",
        marker="log_cac",
        by="cac_category",
        n_boot=20,
        seed=3,
    )
    table = result.discrimination.set_index("measure")
    data["__base_score"] = np.log(-np.log1p(-data["published"]))
    base = cc.cox(data, "years", "mi", ["__base_score"])
    new = cc.cox(data, "years", "mi", ["__base_score", "log_cac"])
    c = cc.concordance([base, new], data)
    assert table.loc["ΔC (new − base)", "estimate"] == pytest.approx(
        c.contrast["difference"].iloc[0], rel=1e-12
    )
    risks = [cc.predict(fit, data, 10.0).risk[:, 0] for fit in (base, new)]
    nri = cc.reclassification(
        risks[0],
        risks[1],
        data,
        time="years",
        event="mi",
        horizon=10.0,
        thresholds=[0.075, 0.2],
        n_boot=20,
        seed=3,
    )
    pd.testing.assert_frame_equal(result.reclassification.table, nri.table)
    assert table.loc["ΔC (new − base)", "lower"] > 0
    groups = result.risk_by_group.set_index("cac_category")
    assert groups.loc[">400", "predicted"] > groups.loc["0", "predicted"]
    assert groups["n"].sum() == len(data) and result.n_dropped == 0


def test_competing_risks_use_fine_gray_and_wolbers_c() -> None:
    data = _cohort(1200, 6)
    rng = np.random.default_rng(1)
    data["status"] = np.where(data["mi"] == 1, rng.choice([1, 2], len(data), p=[0.7, 0.3]), 0)
    data.loc[3, "x"] = np.nan  # one row without the base covariate
    result = cc.incremental_value(
        data,
        time="years",
        event="status",
        cause=1,
        horizon=10.0,
        thresholds=[0.075, 0.2],
        base=["x"],
        marker=["log_cac"],
        n_boot=10,
        groups=4,
    )
    assert result.n_dropped == 1 and result.new_fit.cause == 1
    assert "nri_events" in set(result.discrimination["measure"])
    assert result.calibration["new"].cause == 1
