"""The outputs of the spec's ``prediction:`` section (``prediction_spec.py``): one
``cc.incremental_value`` call, shown as a discrimination table (C, AUC(t), Brier(t), NRI
components, IDI, each with its CI), the reclassification table, absolute risk by a grouping
such as CAC category, and a calibration figure of each model.

```yaml
prediction:
  label: "Does CAC add to the PCE for myocardial infarction?"
  outcome: mi            # an outcome of the spec
  base: pce_risk         # a published risk column, or a list of covariates refitted
  marker: log_cac        # the term(s) added
  method: cox            # cause-specific Cox (competing events censored), or finegray
  horizon: 10            # years
  thresholds: [0.075, 0.2]
  n_boot: 200            # bootstrap replicates of the NRI/IDI CIs (200 or more)
  seed: 1
  by: cac_category       # absolute risk by group (optional)
```
Counts printed (participants and expected events per reclassification cell, participants and
events per group, N and events in footnotes) are suppressed below the spec's
``small_cell_threshold`` within each table, as the exposure-response tables are.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from cohortcalc.analysis.prediction_spec import Prediction, prediction_problems
from cohortcalc.errors import ModelError, SpecError
from cohortcalc.performance.incremental import IncrementalValueResult, incremental_value
from cohortcalc.reporting.format import VARIABLE_LABELS, format_count
from cohortcalc.reporting.style import save_figure
from cohortcalc.reporting.suppression import suppress_small_cells
from cohortcalc.reporting.table import CountGrid, Table, values_frame

if TYPE_CHECKING:
    from cohortcalc.analysis.spec import Outcome, Spec

_EVENT = "_prediction_event"
_ID = "participant_id"


def prediction_outputs(
    spec: Spec, frames: Any, out: Path | None
) -> tuple[dict[str, Table], dict[str, tuple[Path, ...]]]:
    """Tables (and, with ``out``, the calibration figures) of the spec's ``prediction``."""
    section: Prediction | None = getattr(spec, "prediction", None)
    if section is None:
        return {}, {}
    from cohortcalc.analysis.fitting import MAIN

    outcome = next((o for o in spec.outcomes if o.name == section.outcome), None)
    problems = prediction_problems(spec, frames.main)
    if outcome is None or problems:
        raise SpecError(
            "the prediction section does not match the data:\n  " + "\n  ".join(problems)
        )
    with warnings.catch_warnings(record=True) as caught:  # shown under the table, and re-raised
        warnings.simplefilter("always")
        result = run_prediction(spec, frames.get(MAIN, outcome), outcome)
    for item in caught:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    notes = tuple(dict.fromkeys(str(item.message) for item in caught))
    threshold = spec.small_cell_threshold  # 0 or 1: off, as for the other tables
    tables = {
        "prediction_discrimination": discrimination_table(result, section, outcome, notes),
        "prediction_reclassification": reclassification_table(result, section, outcome),
    }
    if result.risk_by_group is not None:
        labels = {e.column: e.label for e in spec.exposures}
        by_label = labels.get(section.by) or section.by
        tables[f"prediction_risk_by_{section.by}"] = risk_table(result, section, outcome, by_label)
    if threshold > 1:
        tables = {name: suppress_small_cells(t, threshold) for name, t in tables.items()}
    figures: dict[str, tuple[Path, ...]] = {}
    if out is not None:
        for model in ("base", "new"):
            name = f"prediction_calibration_{model}"
            figure = result.calibration[model].plot(
                title=_model_label(section, model), time_unit=outcome.time_unit
            )
            paths = save_figure(
                figure, out / "figures" / name, list(spec.outputs.figure_formats),
                dpi=spec.outputs.figure_dpi,
            )  # fmt: skip
            figures[name] = tuple(paths)
    return tables, figures


def caption(name: str, spec: Any) -> str | None:
    """The caption of a calibration figure (None for other figures)."""
    section: Prediction | None = getattr(spec, "prediction", None)
    model = name.removeprefix("prediction_calibration_")
    if section is None or model == name or model not in ("base", "new"):
        return None
    outcome = next((o for o in spec.outcomes if o.name == section.outcome), None)
    label = (outcome.label or outcome.name) if outcome is not None else section.outcome
    observed = "Aalen–Johansen" if section.method == "finegray" else "Kaplan–Meier"
    return (
        f"Calibration of {_model_label(section, model)} for {label.lower()} by "
        f"{section.horizon:g} years: observed ({observed}, with 95% CI) against mean predicted "
        f"risk in {section.groups} groups of predicted risk; the diagonal is perfect calibration."
    )


def run_prediction(spec: Spec, frame: pl.DataFrame, outcome: Outcome) -> IncrementalValueResult:
    """``cc.incremental_value`` as the section asks, on the outcome's analysis frame."""
    section: Prediction = spec.prediction  # type: ignore[attr-defined]
    if _ID in frame.columns:  # one row order on either engine: the bootstrap draws rows by it
        frame = frame.sort(_ID)
    if section.method == "cox":  # cause-specific: the competing events are censored
        data = frame.with_columns(
            (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias(_EVENT)
        )
        event, cause = _EVENT, None
    else:
        data, event, cause = frame, outcome.status, outcome.event_code
    try:
        return incremental_value(
            data,
            time=outcome.time,
            event=event,
            cause=cause,
            horizon=section.horizon,
            thresholds=section.thresholds,
            base=section.base,
            marker=section.marker,
            by=section.by,
            groups=section.groups,
            n_boot=section.n_boot,
            seed=section.seed,
        )
    except ModelError as exc:
        hint = " (set 'prediction.groups', default 10)" if "groups" in str(exc) else ""
        where = spec.where("prediction")
        raise ModelError(f"{where}: prediction of {outcome.name!r}: {exc}{hint}") from exc


_SCORES = {
    "pce_risk": "PCE",
    "prevent_ascvd_10y": "PREVENT ASCVD",
    "prevent_cvd_10y": "PREVENT CVD",
    "mesa_chd_10y": "MESA CHD",
}


def _model_label(section: Prediction, model: str) -> str:
    """ "PCE" / "PCE + log(CAC+1)": the published score's name, or "base covariates"."""
    base = (
        _SCORES.get(section.base, section.base) if isinstance(section.base, str) else "Base model"
    )
    if model == "base":
        return base
    return f"{base} + {', '.join(VARIABLE_LABELS.get(m, m) for m in section.marker_columns)}"


def _title(section: Prediction, outcome: Outcome, what: str) -> str:
    question = section.label or _question(section, outcome)
    return f"{question} {what.capitalize()}" if question.endswith("?") else f"{question}: {what}"


def _ci(estimate: float, lower: float, upper: float, decimals: int, signed: bool = False) -> str:
    if any(not math.isfinite(v) for v in (estimate, lower, upper)):
        return "—"
    sign = "+" if signed else ""
    point = f"{estimate:{sign}.{decimals}f}".replace("-", "−")
    low, high = (f"{v:.{decimals}f}".replace("-", "−") for v in (lower, upper))
    return f"{point} ({low} to {high})" if signed else f"{point} ({low}–{high})"


_NRI_ROWS = {
    "nri_events": "NRI, events",
    "nri_nonevents": "NRI, non-events",
    "nri": "NRI (sum)",
    "continuous_nri_events": "Continuous NRI, events",
    "continuous_nri_nonevents": "Continuous NRI, non-events",
    "continuous_nri": "Continuous NRI (sum)",
    "idi": "IDI",
}


def discrimination_table(
    result: IncrementalValueResult,
    section: Prediction,
    outcome: Outcome,
    notes: tuple[str, ...] = (),
) -> Table:
    """C, AUC(t) and Brier(t) of each model and their differences; NRI components and IDI."""
    d = result.discrimination.set_index("measure")
    h = f"{section.horizon:g}"
    base, new = _model_label(section, "base"), _model_label(section, "new")
    columns = ("Measure", base, new, "Difference (95% CI)")
    rows, records = [], []
    triples = (
        ("Harrell's C" if section.method == "cox" else "C (Wolbers)", "C, base", "C, new",
         "ΔC (new − base)", 3),
        (f"AUC at {h} years", f"AUC({h}), base", f"AUC({h}), new", f"ΔAUC({h}) (new − base)", 3),
        (f"Brier score at {h} years", f"Brier({h}), base", f"Brier({h}), new",
         f"ΔBrier({h}) (new − base)", 4),
    )  # fmt: skip
    for label, *keys, decimals in triples:
        row = {"Measure": label}
        for column, key, signed in zip(columns[1:], keys, (False, False, True), strict=True):
            line = d.loc[key]
            row[column] = _ci(line["estimate"], line["lower"], line["upper"], decimals, signed)
            records.append((len(rows), column, key, float(line["estimate"]), line["method"]))
        rows.append(row)
    for key, label in _NRI_ROWS.items():
        line = d.loc[key]
        decimals = 4 if key == "idi" else 3
        rows.append(
            {
                "Measure": label,
                base: "",
                new: "",
                "Difference (95% CI)": _ci(
                    line["estimate"], line["lower"], line["upper"], decimals, True
                ),
            }
        )
        records.append(
            (len(rows) - 1, "Difference (95% CI)", key, float(line["estimate"]), line["method"])
        )
    fit = result.new_fit
    counts = {"n": int(result.n), "events": int(fit.n_events), "dropped": int(result.n_dropped)}
    cuts = ", ".join(f"{100 * t:g}%" for t in section.thresholds)
    model = (
        "cause-specific Cox models (competing events censored)"
        if section.method == "cox"
        else "Fine–Gray models (competing events as the spec codes them)"
    )
    return Table(
        title=_title(section, outcome, f"discrimination and reclassification by {h} years"),
        frame=pd.DataFrame(rows, columns=list(columns)),
        footnotes=(
            f"{_name(outcome)}; {model}; complete cases: n = {format_count(counts['n'])}, "
            f"events = {format_count(counts['events'])} over all follow-up; excluded for a "
            f"missing value: n = {format_count(counts['dropped'])}. Apparent performance "
            "(fitted and assessed on the same rows).",
            f"{_base_text(section)} C: {_c_text(section)}, ΔC with "
            "the joint jackknife variance. AUC and Brier: IPCW cumulative/dynamic at "
            f"{h} years with influence-function CIs (riskRegression::Score). NRI across risk "
            f"categories cut at {cuts}, event and non-event components weighted by the "
            "Kaplan–Meier (Aalen–Johansen) risk within groups (Pencina 2011); continuous NRI "
            "counts any change; IDI with IPCW means. NRI and IDI CIs: percentile bootstrap, "
            f"{section.n_boot} replicates, seed {section.seed}.",
            *(f"Warning: {note}" for note in notes),
        ),
        values=values_frame(records),
        counts=CountGrid(counts, {}, quoted=("n", "events", "dropped")),
    )


def _base_text(section: Prediction) -> str:
    if isinstance(section.base, str):
        return f"Base model: {_model_label(section, 'base')} recalibrated on log(−log(1 − risk))."
    return f"Base model: {', '.join(section.base)}, refitted."


def _c_text(section: Prediction) -> str:
    if section.method == "cox":
        return "Harrell's concordance (R concordance(), higher risk = shorter time)"
    return "Wolbers' concordance for the cause with competing events"


def _name(outcome: Outcome) -> str:
    return outcome.label or outcome.name


def _question(section: Prediction, outcome: Outcome) -> str:
    markers = ", ".join(VARIABLE_LABELS.get(m, m) for m in section.marker_columns)
    name = _name(outcome)
    return (
        f"Does {markers} add to {_model_label(section, 'base')} for {name[:1].lower()}{name[1:]}?"
    )


def _category_names(cuts: tuple[float, ...]) -> list[str]:
    edges = [f"{100 * c:g}%" for c in cuts]
    names = [f"<{edges[0]}"]
    names += [f"{low} to <{high}" for low, high in itertools.pairwise(edges)]
    return [*names, f"≥{edges[-1]}"]


def reclassification_table(
    result: IncrementalValueResult, section: Prediction, outcome: Outcome
) -> Table:
    """Participants, expected events and non-events by the horizon in each cell of base risk
    category (rows) by new risk category (columns), with totals."""
    nri = result.reclassification
    names = _category_names(nri.thresholds)
    k = len(names)
    size = nri.counts.to_numpy().round().astype(np.int64)
    events = nri.events.to_numpy()
    shown = {"n": size, "events": events.round().astype(np.int64)}
    shown["nonevents"] = size - shown["events"]
    exact = {"n": size.astype(float), "events": events, "nonevents": nri.nonevents.to_numpy()}
    blocks = {
        "n": "Participants",
        "events": f"Events by {section.horizon:g} years (expected)",
        "nonevents": f"Non-events at {section.horizon:g} years (expected)",
    }
    first = f"Risk, {_model_label(section, 'base')} (rows) by {_model_label(section, 'new')}"
    columns = [first, *names, "Total"]
    rows: list[dict[str, str]] = []
    group_rows: list[int] = []
    records: list[tuple[int, str, str, float, str]] = []
    counts: dict[str, int] = {}
    location: dict[str, tuple[int, str]] = {}
    margins: list[tuple[str, ...]] = []
    for block, heading in blocks.items():
        group_rows.append(len(rows))
        rows.append({c: "" for c in columns} | {first: heading})
        grid = np.zeros((k + 1, k + 1), dtype=np.int64)
        grid[:k, :k] = shown[block]
        grid[:k, k] = grid[:k, :k].sum(axis=1)
        grid[k, :] = grid[:k, :].sum(axis=0)
        full = np.zeros((k + 1, k + 1))
        full[:k, :k] = exact[block]
        full[:k, k], full[k, :k] = full[:k, :k].sum(axis=1), full[:k, :k].sum(axis=0)
        full[k, k] = full[:k, :k].sum()
        for i, label in enumerate([*names, "Total"]):
            row = {first: label}
            for j, column in enumerate([*names, "Total"]):
                cid = f"{block}_{i}_{j}"
                counts[cid] = int(grid[i, j])
                location[cid] = (len(rows), column)
                row[column] = format_count(grid[i, j])
                records.append((len(rows), column, block, float(full[i, j]), f"{label}→{column}"))
            rows.append(row)
        ids = [[f"{block}_{i}_{j}" for j in range(k + 1)] for i in range(k + 1)]
        margins += [tuple(line) for line in ids]  # each row's cells, then its total
        margins += [tuple(ids[i][j] for i in range(k + 1)) for j in range(k + 1)]
    for i in range(k + 1):
        for j in range(k + 1):
            margins.append((f"events_{i}_{j}", f"nonevents_{i}_{j}", f"n_{i}_{j}"))
    up = int(np.triu(size, 1).sum())
    down = int(np.tril(size, -1).sum())
    return Table(
        title=_title(section, outcome, f"reclassification by {section.horizon:g}-year risk"),
        frame=pd.DataFrame(rows, columns=columns),
        footnotes=(
            f"Rows: risk category of the base model ({_model_label(section, 'base')}); columns: "
            f"of the base model + {', '.join(section.marker_columns)}. Expected events: each "
            "cell's participants times its Kaplan–Meier (Aalen–Johansen with Fine–Gray) risk "
            f"of {_name(outcome).lower()} by {section.horizon:g} years, rounded; non-events: "
            "participants minus expected events. "
            f"Moved to a higher category: {100 * up / max(size.sum(), 1):.1f}%, "
            f"to a lower one: {100 * down / max(size.sum(), 1):.1f}% of participants.",
        ),
        values=values_frame(records),
        counts=CountGrid(counts, location, margins=tuple(margins)),
        group_rows=tuple(group_rows),
    )


def risk_table(
    result: IncrementalValueResult,
    section: Prediction,
    outcome: Outcome,
    by_label: str | None = None,
) -> Table:
    """Participants, events, observed and mean predicted absolute risk by the horizon per
    group of ``by`` (e.g. CAC category)."""
    groups = result.risk_by_group
    assert groups is not None and section.by is not None
    label = by_label or section.by
    h = f"{section.horizon:g}"
    observed = f"Observed {h}-year risk, % (95% CI)"
    predicted = f"Mean predicted {h}-year risk, % ({_model_label(section, 'new')})"
    columns = [label, "Participants", f"Events by {h} years", observed, predicted]
    rows, records = [], []
    counts: dict[str, int] = {}
    location: dict[str, tuple[int, str]] = {}
    dependents: dict[str, tuple[tuple[int, str], ...]] = {}
    for i, line in enumerate(groups.itertuples(index=False)):
        n, events = int(line.n), int(line.events)
        rows.append(
            {
                label: str(getattr(line, section.by)),
                "Participants": format_count(n),
                f"Events by {h} years": format_count(events),
                observed: _ci(100 * line.observed, 100 * line.lower, 100 * line.upper, 1),
                predicted: f"{100 * line.predicted:.1f}",
            }
        )
        counts |= {f"n_{i}": n, f"events_{i}": events}
        location |= {f"n_{i}": (i, "Participants"), f"events_{i}": (i, f"Events by {h} years")}
        dependents[f"events_{i}"] = ((i, observed),)
        records += [
            (i, observed, "observed_risk", float(line.observed), f"{section.by}={i}"),
            (i, predicted, "predicted_risk", float(line.predicted), f"{section.by}={i}"),
        ]
    total = len(rows)
    n_total, events_total = int(groups["n"].sum()), int(groups["events"].sum())
    rows.append(
        {
            label: "Total",
            "Participants": format_count(n_total),
            f"Events by {h} years": format_count(events_total),
            observed: "",
            predicted: "",
        }
    )
    counts |= {"n_total": n_total, "events_total": events_total}
    location |= {"n_total": (total, "Participants"), "events_total": (total, columns[2])}
    kind = (
        "1 − Kaplan–Meier, competing events censored"
        if section.method == "cox"
        else "Aalen–Johansen cumulative incidence"
    )
    return Table(
        title=f"{_name(outcome)}: absolute {h}-year risk by {label}",
        frame=pd.DataFrame(rows, columns=columns),
        footnotes=(
            f"Observed risk: {kind}, 95% CI as R survfit (log scale); events: observed by "
            f"{h} years. Predicted: mean risk from the base model + "
            f"{', '.join(section.marker_columns)}. Complete cases of the prediction models.",
        ),
        values=values_frame(records),
        counts=CountGrid(
            counts,
            location,
            dependents=dependents,
            margins=(
                (*(f"n_{i}" for i in range(total)), "n_total"),
                (*(f"events_{i}" for i in range(total)), "events_total"),
            ),
        ),
    )
