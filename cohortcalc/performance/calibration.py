"""``cc.calibration``: observed vs predicted risk by a horizon, in groups of predicted risk.

Observed risk per group is the Kaplan–Meier 1 − S(t) (Greenwood SE) or, with a competing
event, the Aalen–Johansen cumulative incidence of the cause (``cc.kaplan_meier`` /
``cc.cumulative_incidence``, both as R's survfit). The Greenwood–Nam–D'Agostino test
(Demler, Paynter & Cook 2015, Stat Med 34:1659): χ² = Σ_g (O_g − E_g)² / Var(O_g) on G − 1
df, O_g the group's observed risk, E_g its mean predicted risk; it wants ≥ 5 events per
group (a warning says when a group has fewer). Calibration in the large: observed risk of
all rows vs their mean prediction (ratio O/E). Calibration slope: the coefficient of
log(−log(1 − risk)) in a Cox (Fine–Gray with a cause) model of the outcome censored at the
horizon; 1 is ideal (Crowson, Atkinson & Therneau 2016, SMMR 25:1692).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import CohortcalcWarning, ModelError
from cohortcalc.frames import to_polars
from cohortcalc.survival.results import TestStatistic


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """``table``: one row per group: n, events (observed by the horizon), mean predicted,
    observed risk, its se and CI. ``gnd``: the Greenwood–Nam–D'Agostino χ² test.
    ``in_the_large``: observed, expected (mean predicted), O/E with CI. ``slope``: the
    calibration slope with its CI."""

    table: pd.DataFrame
    gnd: TestStatistic
    in_the_large: pd.Series
    slope: pd.Series
    horizon: float
    cause: Any = None

    def plot(self, **options: Any) -> Any:
        """The calibration plot (``calibration_plot.plot_calibration``)."""
        from cohortcalc.performance.calibration_plot import plot_calibration

        return plot_calibration(self, **options)


def calibration(
    risk: Any,
    frame: Any,
    *,
    time: str,
    event: str,
    horizon: float,
    groups: int | str = 10,
    cause: Any = None,
    censor_code: Any = 0,
    conf_level: float = 0.95,
) -> CalibrationResult:
    """Calibration of predicted risks by ``horizon``: by ``groups`` quantile groups of the
    prediction (10: deciles) or by the groups of a column; ``risk`` is a column name, an
    array or a ``cc.predict`` result for that one time."""
    data = to_polars(frame, columns=[time, event] + ([groups] if isinstance(groups, str) else []))
    predicted = _risk(risk, frame, data.height)
    table = data.to_pandas()
    table["__risk"] = predicted
    if isinstance(groups, str):
        table["__group"] = table[groups].astype(str)
    else:
        if groups < 2 or groups > len(table) // 2:
            raise ModelError(f"groups={groups!r} must be between 2 and n/2.")
        ranks = pd.Series(predicted).rank(method="first").to_numpy()
        table["__group"] = np.ceil(ranks * groups / len(table)).astype(int).astype(str)
    times = table[time].to_numpy(float)
    if horizon <= 0 or horizon > times.max():
        raise ModelError(f"horizon {horizon!r} must be > 0 and within follow-up ({times.max():g}).")
    observed = _observed(table, time, event, "__group", horizon, cause, censor_code, conf_level)
    summary = table.groupby("__group", sort=False).agg(
        n=("__risk", "size"), predicted=("__risk", "mean")
    )
    result = summary.join(observed).reset_index(names="group")
    result = result.sort_values("predicted", ignore_index=True)
    few = result[result["events"] < 5]
    if len(few):
        warnings.warn(
            f"{len(few)} calibration group(s) have fewer than 5 events by {horizon:g}; the "
            "Greenwood–Nam–D'Agostino test is unreliable there: use fewer groups.",
            CohortcalcWarning,
            stacklevel=2,
        )
    variance = result["se"].to_numpy() ** 2
    if np.any(variance <= 0):
        raise ModelError(
            "a group has no variance of its observed risk (no events); use fewer groups."
        )
    chisq = float(np.sum((result["observed"] - result["predicted"]) ** 2 / variance))
    return CalibrationResult(
        table=result,
        gnd=TestStatistic.chisq(chisq, len(result) - 1),
        in_the_large=_in_the_large(table, time, event, horizon, cause, censor_code, conf_level),
        slope=_slope(table, time, event, horizon, cause, censor_code, conf_level),
        horizon=float(horizon),
        cause=cause,
    )


def _risk(risk: Any, frame: Any, n: int) -> np.ndarray:
    if isinstance(risk, str):
        risk = to_polars(frame, columns=[risk])[risk].cast(float).fill_null(np.nan).to_numpy()
    values = np.asarray(getattr(risk, "risk", risk), dtype=np.float64).reshape(-1)
    if values.shape[0] != n:
        raise ModelError(f"risk has {values.shape[0]} values for {n} rows.")
    bad = ~np.isfinite(values) | (values <= 0) | (values >= 1)
    if bad.any():
        raise ModelError(
            f"predicted risks must lie in (0, 1); row {int(np.argmax(bad))} has "
            f"{values[np.argmax(bad)]!r}. Drop rows without a prediction first."
        )
    return values


def _observed(
    table: pd.DataFrame,
    time: str,
    event: str,
    by: str | None,
    horizon: float,
    cause: Any,
    censor_code: Any,
    conf_level: float,
) -> pd.DataFrame:
    """Observed risk by the horizon per group: events, observed, se, lower, upper."""
    from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier

    if cause is None:
        curve = kaplan_meier(table, time=time, event=event, by=by, conf_level=conf_level)
        curve = curve.assign(
            observed=1 - curve["survival"], lower_=1 - curve["upper"], upper_=1 - curve["lower"]
        )
    else:
        curve = cumulative_incidence(
            table,
            time=time,
            event=event,
            cause=cause,
            by=by,
            censor_code=censor_code,
            conf_level=conf_level,
        )
        curve = curve.assign(observed=curve["cif"], lower_=curve["lower"], upper_=curve["upper"])
    keys = [by] if by else []
    upto = curve[curve["time"] <= horizon]
    last = upto.groupby(keys, sort=False).tail(1) if keys else upto.tail(1)
    events = upto.groupby(keys, sort=False)["n_event"].sum() if keys else upto["n_event"].sum()
    out = last.set_index(keys) if keys else last.reset_index(drop=True)
    out = out[["observed", "std_err", "lower_", "upper_"]].rename(
        columns={"std_err": "se", "lower_": "lower", "upper_": "upper"}
    )
    out["events"] = events
    return out


def _in_the_large(
    table: pd.DataFrame,
    time: str,
    event: str,
    horizon: float,
    cause: Any,
    censor_code: Any,
    conf_level: float,
) -> pd.Series:
    overall = _observed(table, time, event, None, horizon, cause, censor_code, conf_level)
    observed, se = float(overall["observed"].iloc[0]), float(overall["se"].iloc[0])
    expected = float(table["__risk"].mean())
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    log_se = se / observed  # delta method for log(O/E); E is fixed
    ratio = observed / expected
    return pd.Series(
        {
            "observed": observed,
            "expected": expected,
            "o_e_ratio": ratio,
            "o_e_lower": ratio * np.exp(-z * log_se),
            "o_e_upper": ratio * np.exp(z * log_se),
        }
    )


def _slope(
    table: pd.DataFrame,
    time: str,
    event: str,
    horizon: float,
    cause: Any,
    censor_code: Any,
    conf_level: float,
) -> pd.Series:
    from cohortcalc.survival.cox import cox
    from cohortcalc.survival.finegray import finegray

    frame = pd.DataFrame(
        {
            "time": np.minimum(table[time].to_numpy(float), horizon),
            "cloglog_risk": np.log(-np.log1p(-table["__risk"].to_numpy())),
        }
    )
    after = table[time].to_numpy(float) > horizon
    if cause is None:
        frame["event"] = np.where(after, 0, table[event].to_numpy())
        fit = cox(frame, "time", "event", ["cloglog_risk"])
    else:
        codes = table[event].to_numpy(dtype=object)
        frame["event"] = np.where(after, censor_code, codes)
        fit = finegray(frame, "time", "event", cause, ["cloglog_risk"], censor_code=censor_code)
    coef, se = float(fit.coef.iloc[0]), float(np.sqrt(fit.vcov.to_numpy()[0, 0]))
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    return pd.Series({"slope": coef, "se": se, "lower": coef - z * se, "upper": coef + z * se})
