"""``cc.incremental_value``: does a marker (CAC) add to a base model? One call, every table.

The base model is refitted in the cohort: on its covariates, or — for a published score
such as PCE, PREVENT or MESA given as a risk column — on log(−log(1 − risk)), which keeps the
score's ranking and recalibrates it. The new model adds the marker terms. Both are Cox fits
(Fine–Gray for a ``cause`` with competing events), their risks by the horizon come from
``cc.predict`` on the same rows, and the measures are this package's: C and ΔC
(``cc.concordance``), AUC(t), Brier(t) and their differences (``cc.score``), NRI components
and IDI with bootstrap CIs (``cc.reclassification``), calibration of each model
(``cc.calibration``) and absolute risk by a grouping such as CAC category. Apparent
performance: measured on the rows the models were fitted on (no optimism correction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame, to_polars
from cohortcalc.performance.calibration import CalibrationResult, calibration
from cohortcalc.performance.concordance import concordance
from cohortcalc.performance.reclassification import ReclassificationResult, reclassification
from cohortcalc.performance.score import score


@dataclass(frozen=True, eq=False)
class IncrementalValueResult:
    """``discrimination``: one row per measure (C, AUC, Brier of each model; ΔC, ΔAUC,
    ΔBrier, NRI components, IDI) with estimate, lower, upper and the method; the
    reclassification and calibration results; ``risk_by_group``: n, observed and mean
    predicted risk by the horizon per group of ``by``; the two fits."""

    discrimination: pd.DataFrame
    reclassification: ReclassificationResult
    calibration: dict[str, CalibrationResult]
    risk_by_group: pd.DataFrame | None
    base_fit: Any
    new_fit: Any
    n: int
    n_dropped: int


def incremental_value(
    frame: Any,
    *,
    time: str,
    event: str,
    horizon: float,
    thresholds: Sequence[float],
    base: Sequence[str] | str,
    marker: Sequence[str] | str,
    cause: Any = None,
    censor_code: Any = 0,
    by: str | None = None,
    groups: int = 10,
    n_boot: int = 200,
    seed: int = 1,
    conf_level: float = 0.95,
) -> IncrementalValueResult:
    """Compare the base model with base + ``marker`` by ``horizon``.

    ``base``: covariates (a list) or one column of published predicted risk (a string).
    ``marker``: the added terms (e.g. ``"log_cac"`` or ``"cac_category"``). With ``cause``
    the event column is coded (``censor_code`` censored, other codes competing). ``by``:
    a column to tabulate absolute risk by (e.g. ``cac_category``); ``groups``: calibration
    groups of predicted risk.
    """
    if is_spark_frame(frame):
        raise ModelError("cc.incremental_value runs on a local frame; pass .toPandas().")
    markers = [marker] if isinstance(marker, str) else list(marker)
    data, complete, base_terms = _complete_rows(frame, time, event, base, markers, by)
    fits = [
        _fit(complete, time, event, terms, cause, censor_code)
        for terms in (base_terms, [*base_terms, *markers])
    ]
    from cohortcalc.survival.predict import predict

    risks = [predict(fit, complete, horizon, n_boot=0).risk[:, 0] for fit in fits]
    common = dict(time=time, event=event, cause=cause, censor_code=censor_code)
    c = concordance(fits, complete, conf_level=conf_level, **common)
    scored = score(
        {"base": risks[0], "new": risks[1]},
        complete,
        times=horizon,
        conf_level=conf_level,
        **common,
    )
    nri = reclassification(
        *risks,
        complete,
        horizon=horizon,
        thresholds=thresholds,
        n_boot=n_boot,
        seed=seed,
        conf_level=conf_level,
        **common,
    )
    calibrated = {
        name: calibration(risk, complete, horizon=horizon, groups=groups, **common)
        for name, risk in zip(("base", "new"), risks, strict=True)
    }
    return IncrementalValueResult(
        discrimination=_discrimination(c, scored, nri),
        reclassification=nri,
        calibration=calibrated,
        risk_by_group=None if by is None else _by_group(complete, risks[1], by, horizon, common),
        base_fit=fits[0],
        new_fit=fits[1],
        n=len(complete),
        n_dropped=len(data) - len(complete),
    )


def _complete_rows(
    frame: Any,
    time: str,
    event: str,
    base: Sequence[str] | str,
    markers: list[str],
    by: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The used columns, their complete rows (a published risk becomes its
    log(−log(1 − risk)) column ``__base_score``) and the base model's terms."""
    base_terms = None if isinstance(base, str) else list(base)
    columns = [time, event, *(base_terms or [base]), *markers, *([by] if by else [])]
    data = to_polars(frame, columns=_sources(columns)).to_pandas()
    complete = data.dropna().reset_index(drop=True)
    if base_terms is None:
        risk = complete[base].to_numpy(dtype=np.float64)
        if np.any((risk <= 0) | (risk >= 1)):
            raise ModelError(f"published risk column {base!r} must lie in (0, 1).")
        complete["__base_score"] = np.log(-np.log1p(-risk))
        base_terms = ["__base_score"]
    return data, complete, base_terms


def _sources(columns: list[str]) -> list[str]:
    """Column names behind terms (``a:b`` and ``C(a)`` name their columns)."""
    names: list[str] = []
    for column in columns:
        for part in column.split(":"):
            part = part.strip()
            part = part[2:-1] if part.startswith("C(") and part.endswith(")") else part
            if part not in names:
                names.append(part)
    return names


def _fit(
    data: pd.DataFrame, time: str, event: str, terms: list[str], cause: Any, censor_code: Any
) -> Any:
    from cohortcalc.survival.cox import cox
    from cohortcalc.survival.finegray import finegray

    if cause is None:
        return cox(data, time, event, terms)
    return finegray(data, time, event, cause, terms, censor_code=censor_code)


def _discrimination(c: Any, scored: Any, nri: ReclassificationResult) -> pd.DataFrame:
    rows = []
    for label, name in zip(c.table.index, ("base", "new"), strict=True):
        row = c.table.loc[label]
        rows.append((f"C, {name}", row["concordance"], row["lower"], row["upper"], "Harrell"))
    delta = c.contrast.iloc[0]
    rows.append(
        ("ΔC (new − base)", delta["difference"], delta["lower"], delta["upper"], "jackknife, joint")
    )
    for metric, table in (("AUC", scored.auc), ("Brier", scored.brier)):
        for _, row in table.iterrows():
            rows.append(
                (
                    f"{metric}({row['time']:g}), {row['model']}",
                    row[metric.lower()],
                    row["lower"],
                    row["upper"],
                    "IPCW, influence function",
                )
            )
    for _, row in scored.contrasts.iterrows():
        name = "ΔAUC" if row["metric"] == "auc" else "ΔBrier"
        rows.append(
            (
                f"{name}({row['time']:g}) (new − base)",
                row["delta"],
                row["lower"],
                row["upper"],
                "IPCW, influence function",
            )
        )
    for measure, row in nri.table.iterrows():
        rows.append(
            (
                str(measure),
                row["estimate"],
                row["lower"],
                row["upper"],
                f"bootstrap ({nri.n_boot}, seed {nri.seed})",
            )
        )
    return pd.DataFrame(rows, columns=["measure", "estimate", "lower", "upper", "method"])


def _by_group(
    data: pd.DataFrame, risk: np.ndarray, by: str, horizon: float, common: dict[str, Any]
) -> pd.DataFrame:
    """n, mean predicted and observed (KM/AJ) risk by the horizon in each group of ``by``."""
    from cohortcalc.performance.calibration import _observed

    frame = data.assign(__risk=risk, __group=data[by].astype(str))
    observed = _observed(
        frame,
        common["time"],
        common["event"],
        "__group",
        horizon,
        common["cause"],
        common["censor_code"],
        0.95,
    )
    summary = frame.groupby("__group", sort=True).agg(
        n=("__risk", "size"), predicted=("__risk", "mean")
    )
    return summary.join(observed).reset_index(names=by)
