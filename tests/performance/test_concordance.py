"""cc.concordance against R survival::concordance() (make_concordance_reference.R), a
brute-force pair loop, and the competing-risk C of Wolbers et al. (2009)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import FrameError, ModelError

from .conftest import reference, reference_data

CASES = {case["name"]: case for case in reference("concordance_reference.json")}
OUTCOME = {"cox_lung.csv": ("time", "event"), "cox_heart.csv": ("stop", "event")}


def _models(case: dict[str, Any], data: pd.DataFrame) -> list[Any]:
    args = case["args"]
    time, event = OUTCOME[args["data"]]
    models = []
    for model in args["models"]:
        if isinstance(model, str):
            models.append(model)
            continue
        models.append(
            cc.cox(
                data,
                time,
                event,
                model,
                entry=args.get("entry"),
                weights=args.get("weights"),
                cluster=args.get("fit_cluster"),
            )
        )
    return models


@pytest.mark.parametrize("name", sorted(CASES))
def test_concordance_matches_r(name: str) -> None:
    case = CASES[name]
    args = case["args"]
    data = reference_data(args["data"])
    if "drop_missing" in args:
        data = data.dropna(subset=args["drop_missing"]).reset_index(drop=True)
    time, event = OUTCOME[args["data"]]
    result = cc.concordance(
        _models(case, data),
        data,
        time=time,
        event=event,
        entry=args.get("entry"),
        strata=args.get("strata"),
        weights=args.get("weights"),
        cluster=args.get("cluster"),
        timewt=args["timewt"],
        tau=args["tau"],
    )
    np.testing.assert_allclose(result.table["concordance"], case["concordance"], rtol=1e-8, atol=0)
    count = np.array(case["count"])
    if count.shape[0] != len(case["concordance"]):  # R keeps one row per stratum
        count = count.sum(axis=0, keepdims=True)
    np.testing.assert_allclose(
        result.table[["concordant", "discordant", "tied_x", "tied_y", "tied_xy"]],
        count,
        rtol=1e-8,
        atol=1e-9,
    )
    if len(case["concordance"]) == 1 or not args.get("weights"):
        # R's var for two weighted fits multiplies by the weights once more; not compared
        np.testing.assert_allclose(
            result.vcov.to_numpy(), np.array(case["var"]).reshape(result.vcov.shape), rtol=1e-8
        )
    if result.contrast is not None:
        var = np.array(case["var"])
        expected = np.sqrt(var[0, 0] + var[1, 1] - 2 * var[0, 1])
        np.testing.assert_allclose(result.contrast["se"].iloc[0], expected, rtol=1e-8)


def _brute_force(time, status, score, weight, tau=None):
    """Every pair once: Harrell's C (higher score = shorter time) and its counts."""
    concordant = discordant = tied = 0.0
    for i in range(len(time)):
        if not status[i] or (tau is not None and time[i] > tau):
            continue
        for j in range(len(time)):
            if time[j] > time[i] or (time[j] == time[i] and not status[j]):
                w = weight[i] * weight[j]
                if score[i] > score[j]:
                    concordant += w
                elif score[i] < score[j]:
                    discordant += w
                else:
                    tied += w
    return (concordant + tied / 2) / (concordant + discordant + tied), concordant, discordant


def test_harrell_c_equals_the_pair_loop_with_ties_and_weights() -> None:
    rng = np.random.default_rng(7)
    n = 150
    time = rng.integers(1, 30, n).astype(float)  # many tied times
    status = rng.random(n) < 0.6
    score = rng.integers(0, 8, n).astype(float)  # many tied scores
    weight = rng.integers(1, 4, n).astype(float)
    frame = pd.DataFrame({"t": time, "d": status.astype(int), "s": score, "w": weight})
    result = cc.concordance("s", frame, time="t", event="d", weights="w", tau=20.0)
    c, concordant, discordant = _brute_force(time, status, score, weight, tau=20.0)
    assert result.table["concordance"].iloc[0] == pytest.approx(c, rel=1e-12)
    assert result.table["concordant"].iloc[0] == pytest.approx(concordant, rel=1e-12)
    assert result.table["discordant"].iloc[0] == pytest.approx(discordant, rel=1e-12)


def test_jackknife_variance_is_the_derivative_of_c() -> None:
    """R's dfbeta is the derivative of C in each row's weight: check it numerically."""
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {"t": rng.exponential(1, n), "d": (rng.random(n) < 0.7).astype(int), "s": rng.random(n)}
    )
    frame["w"] = 1.0
    base = cc.concordance("s", frame, time="t", event="d", weights="w")
    step = 1e-6
    slopes = []
    for i in range(n):
        shifted = frame.copy()
        shifted.loc[i, "w"] += step
        c = cc.concordance("s", shifted, time="t", event="d", weights="w")
        slopes.append((c.table["concordance"].iloc[0] - base.table["concordance"].iloc[0]) / step)
    # var = Σ (∂C/∂w_i)² for unit weights (infinitesimal jackknife)
    assert base.table["se"].iloc[0] ** 2 == pytest.approx(np.sum(np.square(slopes)), rel=1e-4)


def test_competing_risk_c_treats_competing_events_as_never_failing() -> None:
    rng = np.random.default_rng(11)
    n = 120
    time = rng.exponential(1, n).round(2) + 0.01
    status = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    score = rng.normal(size=n)
    frame = pd.DataFrame({"t": time, "status": status, "s": score})
    result = cc.concordance("s", frame, time="t", event="status", cause=1)
    concordant = discordant = tied = 0.0
    for i in range(n):
        if status[i] != 1:
            continue
        for j in range(n):  # Wolbers 2009: j outlives i, or j had the competing event
            if status[j] == 2 or time[j] > time[i] or (time[j] == time[i] and status[j] == 0):
                concordant += score[i] > score[j]
                discordant += score[i] < score[j]
                tied += score[i] == score[j]
    expected = (concordant + tied / 2) / (concordant + discordant + tied)
    assert result.table["concordance"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert result.cause == 1


def test_bad_input_is_refused() -> None:
    data = reference_data("cox_lung.csv")
    data["constant"] = 1.0
    with pytest.raises(ModelError, match="no variance"):
        cc.concordance("constant", data, time="time", event="event")
    with pytest.raises(ModelError, match="timewt"):
        cc.concordance("age", data, time="time", event="event", timewt="Uno")
    with pytest.raises(ModelError, match="give time= and event="):
        cc.concordance("age", data)
    with pytest.raises(FrameError, match="nope"):
        cc.concordance("nope", data, time="time", event="event")
    heart = reference_data("cox_heart.csv")
    with pytest.raises(ModelError, match="not defined for \\(entry, exit\\]"):
        cc.concordance("age", heart, time="stop", event="event", entry="start", timewt="S/G")


def test_fine_gray_fit_gives_the_wolbers_c_of_its_cause() -> None:
    data = reference_data("finegray_mgus2.csv")
    fit = cc.finegray(data, "time", "status", 1, ["age", "hgb"])
    from_fit = cc.concordance(fit, data)
    score = data["age"] * fit.coef["age"] + data["hgb"] * fit.coef["hgb"]
    by_hand = cc.concordance(score.to_numpy(), data, time="time", event="status", cause=1)
    assert from_fit.cause == 1
    assert from_fit.table["concordance"].iloc[0] == pytest.approx(
        by_hand.table["concordance"].iloc[0], rel=1e-12
    )
