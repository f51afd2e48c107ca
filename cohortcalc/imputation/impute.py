"""``cc.impute``: multiple imputation by chained equations over an analysis frame.

Only the stated ``variables`` are imputed; their models use every other usable complete
column (or the stated ``predictors``), the other imputed variables, and for each outcome the
event indicator and Nelson–Aalen cumulative hazard of each cause (White & Royston 2009).
Derived features (eGFR, CKD stage, ...) are recomputed with ``cc.derive`` from the imputed
inputs of each completed data set, so categories stay consistent with their inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from contextlib import nullcontext
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import FrameError, ModelError, ModelWarning
from cohortcalc.features import cac, mineral
from cohortcalc.features.derive import participant_features
from cohortcalc.features.outcomes import OUTCOME_COLUMNS
from cohortcalc.features.tables import LESION_OUTPUTS
from cohortcalc.frames import is_spark_frame, to_polars
from cohortcalc.imputation import columns
from cohortcalc.imputation.chained import ChainResult, Variable, run_chains
from cohortcalc.imputation.results import Imputations, summarise
from cohortcalc.imputation.survival_terms import outcome_terms
from cohortcalc.processes import worker_pool

NEVER_IMPUTED = (*LESION_OUTPUTS, "cac_category", "log_cac", "cac_scanned")
NOT_PREDICTORS = ("participant_id",)
#: Outcome columns, never imputed nor predictors; with ``age_exit``, follow-up in disguise
#: (age at entry + follow-up time; cc.simulate's frames carry it).
OUTCOME_NAMES = frozenset({*OUTCOME_COLUMNS, "age_exit"})


def impute(
    frame: Any,
    variables: Sequence[str],
    *,
    seed: int,
    m: int = 20,
    iterations: int = 10,
    time: str | Sequence[str] | None = None,
    event: str | Sequence[str] | None = None,
    predictors: Sequence[str] | None = None,
    donors: int = 5,
    derive_options: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> Imputations:
    """Impute ``variables`` ``m`` times by chained equations; seeded, byte-reproducible.

    ``time``/``event`` (one name or equal-length lists): each outcome's follow-up time since
    baseline (not age: everyone is at risk from 0) and status (0 = censored, each other code
    a cause, e.g. 1 = MI, 2 = competing death); their
    indicators and Nelson–Aalen hazards enter every imputation model. ``predictors``: the
    complete auxiliary columns (default: every usable complete column except outcome columns
    and ``participant_id``). Derived features computed from an imputed variable are dropped
    and recomputed by ``cc.derive(**derive_options)`` in each data set. ``workers``:
    processes for the m chains (the result is the same for any number). Returns
    ``Imputations``: the completed data sets (pandas in, pandas out; otherwise Polars) and
    the diagnostics.
    """
    _check_settings(m=m, iterations=iterations, donors=donors, workers=workers)
    with worker_pool(min(workers, m)) if workers > 1 else nullcontext() as pool:
        result = impute_with(pool, frame, variables, seed=seed, m=m, iterations=iterations,
                             time=time, event=event, predictors=predictors, donors=donors,
                             derive_options=derive_options)  # fmt: skip
    for message in result.warnings:
        warnings.warn(message, ModelWarning, stacklevel=2)
    return result


def impute_with(
    pool: Executor | None,
    frame: Any,
    variables: Sequence[str],
    *,
    seed: int,
    m: int = 20,
    iterations: int = 10,
    time: str | Sequence[str] | None = None,
    event: str | Sequence[str] | None = None,
    predictors: Sequence[str] | None = None,
    donors: int = 5,
    derive_options: Mapping[str, Any] | None = None,
) -> Imputations:
    """``impute`` with its chains run in ``pool``'s processes (None: here), for a caller that
    keeps one pool for the imputation and the fits of a run; the caller shows
    ``Imputations.warnings``."""
    if is_spark_frame(frame):
        raise FrameError(
            "cc.impute runs on one machine: it does not impute a PySpark DataFrame. Select the "
            "analysis columns and collect them (frame.select(...).toPandas()) when the cohort "
            "fits in the driver's memory, impute, and fit each completed data set."
        )
    _check_settings(m=m, iterations=iterations, donors=donors)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ModelError(
            f"seed must be a whole number >= 0 (imputations are seeded), got {seed!r}."
        )
    data = _as_polars(frame)
    wanted = [variables] if isinstance(variables, str) else list(variables)
    outcomes = _outcomes(data, time, event)
    derive_options = dict(derive_options or {})
    _check_variables(data, wanted, outcomes, derive_options)
    stale = derived_from(wanted, derive_options)
    aux, excluded = _auxiliaries(data, wanted, outcomes, predictors, stale)
    survival = {}
    for time_name, event_name in outcomes:
        survival.update(_survival_terms(data, time_name, event_name))
    hazards = [Variable(n, v, "") for n, v in survival.items()]  # indicators and hazards
    aux, collinear = columns.drop_collinear(aux, first=hazards)
    excluded.update(collinear)
    fixed = [*aux, *hazards]
    targets, codings = [], {}
    for name in wanted:
        others = [v for v in wanted if v != name] + [v.name for v in fixed]
        variable, codings[name] = columns.target(name, data[name], others)
        targets.append(variable)
    seeds = np.random.SeedSequence(seed).spawn(m)
    chains: list[ChainResult | None] = [None] * m
    datasets: list[pl.DataFrame | None] = [None] * m
    for index, chain in run_chains([*targets, *fixed], iterations, donors, seeds, pool):
        chains[index] = chain  # completed here while the other chains run
        datasets[index] = _completed(data, targets, codings, chain.imputed, stale, derive_options)
    done = [d for d in datasets if d is not None]
    if type(frame).__module__.startswith("pandas"):
        done = [d.to_pandas() for d in done]
    result = summarise(
        done, targets, codings, [c for c in chains if c is not None], excluded, outcomes, m,
        iterations, seed, donors,
    )  # fmt: skip
    return result


def _as_polars(frame: Any) -> pl.DataFrame:
    """The frame as Polars; pandas ordered categoricals become Enums (kept ordered)."""
    data = to_polars(frame)
    if not type(frame).__module__.startswith("pandas"):
        return data
    import pandas as pd

    ordered = {
        name: [str(c) for c in dtype.categories]
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
    }
    return data.with_columns(
        [pl.col(n).cast(pl.String).cast(pl.Enum(levels)) for n, levels in ordered.items()]
    )


def _check_settings(**settings: Any) -> None:
    """Each setting a whole number at least its minimum (m >= 2, the others >= 1)."""
    for name, value in settings.items():
        least = 2 if name == "m" else 1
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            hint = " (Rubin's rules need at least 2 imputations; 20 or more is usual)" * (
                name == "m"
            )
            raise ModelError(f"{name} must be a whole number >= {least}, got {value!r}{hint}.")


def _outcomes(data: pl.DataFrame, time: Any, event: Any) -> list[tuple[str, str]]:
    times = [] if time is None else [time] if isinstance(time, str) else list(time)
    events = [] if event is None else [event] if isinstance(event, str) else list(event)
    if len(times) != len(events):
        raise ModelError(
            f"time= names {len(times)} column(s) but event= {len(events)}; give one time column "
            "per event column."
        )
    missing = [c for c in [*times, *events] if c not in data.columns]
    if missing:
        raise FrameError(f"outcome column(s) {missing} not found; available: {data.columns}.")
    present = [c for c in OUTCOME_COLUMNS if c in data.columns]
    if not times and present:
        raise ModelError(
            f"the frame has outcome columns {present} but no time=/event= was given: an "
            "imputation model without the outcome biases its associations toward zero. Pass "
            "time= and event= for the outcome(s) analysed (White & Royston 2009)."
        )
    return list(zip(times, events, strict=True))


def _check_variables(
    data: pl.DataFrame,
    wanted: list[str],
    outcomes: list[tuple[str, str]],
    derive_options: Mapping[str, Any],
) -> None:
    if not wanted:
        raise ModelError("variables= is empty: name the column(s) to impute.")
    if len(set(wanted)) != len(wanted):
        raise ModelError(f"variables= names a column twice: {wanted}.")
    absent = [v for v in wanted if v not in data.columns]
    if absent:
        raise FrameError(f"variable(s) {absent} not found in the frame; available: {data.columns}.")
    outcome_columns = {c for pair in outcomes for c in pair} | OUTCOME_NAMES
    for name in wanted:
        if name in outcome_columns:
            raise ModelError(
                f"{name!r} is an outcome (event or follow-up time); outcomes are never imputed. "
                "Participants with an unknown outcome are excluded from the analysis instead."
            )
        if name in NEVER_IMPUTED or name.startswith("cac_agatston"):
            raise ModelError(
                f"{name!r} is coronary artery calcium, the exposure; it is never imputed. "
                "Participants without a CAC scan are excluded from CAC analyses."
            )
    features = feature_inputs(derive_options)
    for name in wanted:
        inputs = features.get(name)
        if inputs is not None and set(inputs) <= set(data.columns):
            raise ModelError(
                f"{name!r} is derived from {list(inputs)}; impute those inputs instead and it "
                "is recomputed from them in each completed data set."
            )


def feature_inputs(derive_options: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Derived feature -> its input columns, for the definitions ``derive`` will use."""
    cuts = cac.resolve_category_cuts(derive_options.get("cac_categories", "standard"))
    definition = derive_options.get("ckd_definition", "egfr_or_uacr")
    above = derive_options.get("hyperphosphatemia_above", mineral.HYPERPHOSPHATEMIA_ABOVE_MG_DL)
    return {f.name: f.inputs for f in participant_features(cuts, definition, above)}


def derived_from(wanted: list[str], derive_options: Mapping[str, Any]) -> set[str]:
    """Features computed (directly or not) from an imputed variable: stale until re-derived."""
    stale: set[str] = set()
    changed = True
    features = feature_inputs(derive_options)
    while changed:
        changed = False
        for name, inputs in features.items():
            if name not in stale and set(inputs) & (set(wanted) | stale):
                stale.add(name)
                changed = True
    return stale


def _auxiliaries(
    data: pl.DataFrame,
    wanted: list[str],
    outcomes: list[tuple[str, str]],
    chosen: Sequence[str] | None,
    stale: set[str],
) -> tuple[list[Variable], dict[str, str]]:
    """Complete predictor columns, and the columns left out with the reason."""
    outcome_columns = {c for pair in outcomes for c in pair} | OUTCOME_NAMES
    excluded: dict[str, str] = {}
    auxiliaries: list[Variable] = []
    if chosen is not None:
        absent = [c for c in chosen if c not in data.columns]
        if absent:
            raise FrameError(f"predictor(s) {absent} not found; available: {data.columns}.")
    candidates = data.columns if chosen is None else list(chosen)
    for name in candidates:
        if name in wanted:
            continue
        if name in outcome_columns:
            reason = "an outcome column; the outcome enters as indicator and cumulative hazard"
        elif name in stale:
            reason = "derived from an imputed variable; recomputed after imputation"
        elif name in NOT_PREDICTORS:
            reason = "an identifier"
        else:
            variable = columns.predictor(name, data[name])
            if isinstance(variable, Variable):
                auxiliaries.append(variable)
                continue
            reason = variable
        if chosen is not None:
            raise ModelError(f"predictor {name!r} cannot be used: {reason}.")
        excluded[name] = reason
    return auxiliaries, excluded


def _survival_terms(data: pl.DataFrame, time: str, event: str) -> dict[str, np.ndarray]:
    for name in (time, event):
        if data[name].null_count():
            raise ModelError(
                f"outcome column {name!r} has {data[name].null_count()} missing value(s); the "
                "outcome is never imputed: drop those participants before imputing."
            )
        if not data[name].dtype.is_numeric() and data[name].dtype != pl.Boolean:
            raise ModelError(
                f"outcome column {name!r} must be numeric (status codes, 0 = censored)."
            )
    times = data[time].cast(pl.Float64).to_numpy()
    status = data[event].cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ModelError(f"time column {time!r} has negative, NaN or infinite values.")
    return outcome_terms(times, status, event)


def _completed(
    data: pl.DataFrame,
    targets: list[Variable],
    codings: Mapping[str, columns.Coding],
    imputed: Mapping[str, np.ndarray],
    stale: set[str],
    derive_options: Mapping[str, Any],
) -> pl.DataFrame:
    """One completed data set: imputed columns in their original types; features computed
    from them dropped first (a stale eGFR would feed its CKD stage) and re-derived."""
    replaced = []
    for variable in targets:
        values = variable.values.copy()
        values[np.isnan(values)] = imputed[variable.name]
        replaced.append(codings[variable.name].decode(variable.name, values))
    completed = data.with_columns(replaced).drop(*[c for c in data.columns if c in stale])
    from cohortcalc.features import derive as derive_features

    return derive_features(completed, **derive_options).select(data.columns)
