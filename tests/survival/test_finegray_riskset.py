"""The Fine–Gray engine's layout (bins, row order, G) and its threaded passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.survival import _layout
from cohortcalc.survival import finegray_riskset as engine
from cohortcalc.survival.censoring import censoring_survival

REFERENCE = Path(__file__).parents[1] / "reference"


def _ties() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "finegray_ties.csv")


def _inputs(jitter: bool) -> tuple[np.ndarray, ...]:
    data = _ties()
    time = data["time"].to_numpy(dtype=float)
    if jitter:  # non-integer times: the comparison-sort path instead of whole-day keys
        time = time + 0.25 * (np.arange(time.size) % 3)
    strata = (data["stratum"] == data["stratum"].iloc[0]).to_numpy().astype(np.int64)
    return time, data["status"].to_numpy(np.int64), data["w"].to_numpy(float), strata


@pytest.mark.parametrize("jitter", [False, True])
def test_layout_orders_rows_by_bin_competing_then_cause_then_censored(jitter: bool) -> None:
    time, status, weights, strata = _inputs(jitter)
    binned = engine.layout(time, status, weights, strata)
    rows = binned.rows
    assert np.array_equal(np.sort(rows), np.arange(time.size))
    keys = sorted(set(zip(strata.tolist(), time.tolist(), strict=True)))
    bin_of = {key: k for k, key in enumerate(keys)}
    expected_bin = [bin_of[(strata[i], time[i])] for i in rows]
    assert np.array_equal(binned.row_bin, expected_bin)
    assert np.array_equal(binned.status, status[rows])
    assert np.array_equal(binned.weights, weights[rows])
    rank = np.array([2, 1, 0])[binned.status]  # competing first, then cause, then censored
    order = np.lexsort((rank, binned.row_bin))
    assert np.array_equal(order, np.arange(rows.size))
    starts = np.flatnonzero(np.r_[True, np.diff(binned.row_bin) != 0])
    assert np.array_equal(binned.bin_start, np.r_[starts, rows.size])
    for k in range(len(keys)):
        segment = binned.status[binned.bin_start[k] : binned.bin_start[k + 1]]
        assert binned.competing_end[k] - binned.bin_start[k] == np.sum(segment == 2)
    for s in (0, 1):  # G within stratum: the Kaplan–Meier of the censoring, just before t
        mask = strata == s
        first, last = binned.strata[s]
        g = censoring_survival(time[mask], status[mask] == 0, weights[mask])
        np.testing.assert_allclose(binned.g_before[first:last], g.before, rtol=1e-14)
        np.testing.assert_allclose(binned.n_at_risk[first:last], g.n_at_risk, rtol=1e-14)


def test_unit_weights_are_the_default() -> None:
    time, status, _, strata = _inputs(False)
    unweighted = engine.layout(time, status, None, strata)
    ones = engine.layout(time, status, np.ones(time.size), strata)
    assert np.array_equal(unweighted.rows, ones.rows)
    assert np.array_equal(unweighted.weights, ones.weights)
    np.testing.assert_array_equal(unweighted.g_before, ones.g_before)


def test_threaded_passes_give_the_serial_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    # below 200,000 rows the passes run serially; forcing the threaded kernels (Cox's bin
    # kernel, the centring and the meat) on the same data must change only the rounding
    data = pd.concat([_ties()] * 3, ignore_index=True)
    arguments = dict(covariates=["x1", "x2", "grp"], strata="stratum", weights="w")
    serial = cc.finegray(data, "time", "status", 1, **arguments)
    monkeypatch.setattr(_layout, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(_layout.numba, "get_num_threads", lambda: 2)
    assert _layout.thread_count(len(data)) == 2
    threaded = cc.finegray(data, "time", "status", 1, **arguments)
    pd.testing.assert_frame_equal(threaded.summary, serial.summary, rtol=1e-12, atol=0)
    np.testing.assert_allclose(threaded.vcov, serial.vcov, rtol=1e-12)
    assert threaded.loglik == pytest.approx(serial.loglik, rel=1e-14)


def test_huge_whole_times_take_the_sorted_path_with_the_same_fit() -> None:
    # only the order of times matters: a last time of 2**63 days (past int64 when converted)
    # must give the fit of any other last time, not keys that wrapped around
    data = _ties().astype({"time": float})
    last = data["time"].idxmax()
    arguments = dict(covariates=["x1", "x2", "grp"], strata="stratum", weights="w")
    shifted = data.assign(time=data["time"].where(data.index != last, data["time"].max() + 1))
    huge = data.assign(time=data["time"].where(data.index != last, 2.0**63))
    assert (
        engine.kernels.day_keys(huge["time"].to_numpy(float), np.zeros(len(data), int), 2**16).size
        == 0
    )
    expected = cc.finegray(shifted, "time", "status", 1, **arguments)
    fit = cc.finegray(huge, "time", "status", 1, **arguments)
    pd.testing.assert_frame_equal(fit.summary, expected.summary, rtol=1e-12, atol=0)
    assert fit.loglik == pytest.approx(expected.loglik, rel=1e-14)
