"""A spec's ``missing_data:`` in a run: impute the population once (``cc.impute``), fit every
main model on each completed data set and pool by Rubin's rules (``cc.pool``).

The pooled fits replace the observed-data fits of the main analysis (and of every sensitivity
analysis that is not a complete-case one); a complete-case sensitivity analysis is added when
the spec has none, so the complete-case results stay available. Interaction tests stay on the
observed data (available cases) and their table says so.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.analysis.fitting import Fit, FitKey, InteractionTest, Task
from cohortcalc.analysis.imputation_fits import fit_pooled
from cohortcalc.analysis.imputation_spec import check_variables
from cohortcalc.analysis.populations import AnalysisFrames, add_trend_scores, model_columns
from cohortcalc.analysis.spec import Sensitivity, Spec
from cohortcalc.errors import CohortcalcError, ModelWarning, SpecError
from cohortcalc.imputation.impute import derived_from, feature_inputs, impute_with
from cohortcalc.processes import worker_pool
from cohortcalc.reporting.table import Table

COMPLETE_CASE = "complete_cases"
FIGURES = ("imputation_trace", "imputed_vs_observed")


def with_complete_case(spec: Spec) -> Spec:
    """The spec with a complete-case sensitivity analysis (unchanged when it has one, or has
    no ``missing_data``); refuses ``missing_data`` on the Spark engine."""
    if spec.missing_data is None:
        return spec
    if spec.engine != "local":
        raise SpecError(
            f"{spec.where('missing_data')}: multiple imputation runs on the local engine only "
            "(cc.impute does not impute a PySpark DataFrame); set 'engine: local' for this "
            "analysis or remove missing_data."
        )
    if any(_complete_case(s) for s in spec.sensitivity):
        return spec
    names = {s.name for s in spec.sensitivity}
    name = next(n for n in (COMPLETE_CASE, "complete_cases_mi", "cc_analysis") if n not in names)
    added = Sensitivity(name=name, label="Complete-case analysis", complete_cases=True)
    return spec.model_copy(update={"sensitivity": [*spec.sensitivity, added]})


def _complete_case(sensitivity: Sensitivity) -> bool:
    return sensitivity.complete_cases and sensitivity.exclude_first_years is None


@dataclass(frozen=True, eq=False)
class ImputedRun:
    """The run's imputations and, per completed data set, its analysis frames."""

    spec: Spec
    imputations: Any
    frames: tuple[AnalysisFrames, ...]
    observed: AnalysisFrames
    seconds: float
    workers: int = 1
    pool: Executor | None = field(default=None, repr=False)  # open inside ``impute_run``

    def pools(self, task: Task) -> bool:
        """Whether ``task`` is pooled: every fit and interaction test outside the
        complete-case analyses."""
        sensitivity = {s.name: s for s in self.spec.sensitivity}.get(task.key.analysis)
        return sensitivity is None or not sensitivity.complete_cases

    def fit_all(
        self,
        tasks: Sequence[Task],
        levels: Mapping[str, list[str]],
        ties: str,
        progress: Callable[[float], None] | None = None,
    ) -> list[list[Fit | InteractionTest]]:
        """Per pooled task, its pooled fit(s) or pooled (D1) interaction test; the completed
        data sets are fitted in the run's worker processes (``progress``: the share of data
        sets fitted, after each)."""
        return fit_pooled(self.frames, tasks, levels, ties, self.pool, progress)

    def table_frames(self) -> AnalysisFrames:
        """The frames the HR tables count from: the first completed data set where fits are
        pooled (its rows are the rows each pooled fit used), the observed complete cases."""
        frames = AnalysisFrames(self.spec, self.frames[0].main)
        for analysis in frames.analyses():
            for outcome in self.spec.outcomes:
                source = self.frames[0] if self._pooled(analysis) else self.observed
                frames._cache[(analysis, outcome.name)] = source.get(analysis, outcome)
        return frames

    def _pooled(self, analysis: str) -> bool:
        return self.pools(Task(FitKey(analysis, "", "cox", "", ""), None, None, ()))  # type: ignore[arg-type]

    def record(self) -> dict[str, Any]:
        """The manifest's ``missing_data`` entry (read by the methods text)."""
        imp, section = self.imputations, self.spec.missing_data
        assert section is not None
        missing = imp.missing.reset_index()
        complete = next(s.name for s in self.spec.sensitivity if _complete_case(s))
        return {
            "method": section.method, "m": imp.m, "iterations": imp.iterations,
            "seed": imp.seed, "donors": imp.donors, "variables": list(imp.variables),
            "workers": self.workers,
            "outcomes": [list(pair) for pair in imp.outcomes],
            "missing": missing.to_dict(orient="records"),
            "methods_text": imp.methods_text, "complete_case": complete,
        }  # fmt: skip


@contextmanager
def impute_run(
    spec: Spec, population: pl.DataFrame, observed: AnalysisFrames
) -> Iterator[ImputedRun]:
    """Impute the population (before trend scores) once and build each completed data set's
    frames; refuses (with the spec line) what cannot be imputed or is left incomplete. The
    worker processes (``workers``) are started once, run the chains and stay for
    ``fit_all`` until the block ends (each start costs seconds of imports)."""
    section = spec.missing_data
    assert section is not None
    check_variables(spec, population, feature_inputs(spec.derive))
    followup, extra = _followup_times(spec)
    pairs = list(dict.fromkeys((followup[o.name], o.status) for o in spec.outcomes))
    workers = section.processes(population.height, int(population.estimated_size()))
    with worker_pool(min(workers, section.m)) if workers > 1 else nullcontext() as pool:
        start = time.perf_counter()
        try:
            imputations = impute_with(
                pool, population.with_columns(**extra), section.variables, seed=section.seed,
                m=section.m, iterations=section.iterations, time=[t for t, _ in pairs],
                event=[e for _, e in pairs], donors=section.donors, derive_options=spec.derive,
            )  # fmt: skip
        except CohortcalcError as exc:
            raise SpecError(f"{spec.where('missing_data')}: {exc}") from None
        seconds = time.perf_counter() - start
        for message in imputations.warnings:  # shown from here (the caller is contextlib's)
            warnings.warn(message, ModelWarning, stacklevel=1)
        datasets = [_spec_derived(spec, d.drop(*extra)) for d in imputations.datasets]
        imputations = replace(imputations, datasets=tuple(datasets))
        _check_complete(spec, imputations.datasets[0])
        frames = tuple(
            AnalysisFrames(spec, add_trend_scores(data, spec)) for data in imputations.datasets
        )
        for f in frames:
            f.check_all()
        yield ImputedRun(spec, imputations, frames, observed, seconds, workers, pool)


def _followup_times(spec: Spec) -> tuple[dict[str, str], dict[str, pl.Expr]]:
    """Per outcome, the column of its time since baseline for the imputation models (its
    ``time``, or exit - entry on the age or calendar scale), and those temporary columns."""
    columns, extra = {}, {}
    for outcome in spec.outcomes:
        entry = getattr(outcome, "entry", None)
        if entry is None:
            columns[outcome.name] = outcome.time
            continue
        columns[outcome.name] = f"_followup_{outcome.name}"
        extra[columns[outcome.name]] = pl.col(outcome.time) - pl.col(entry)
    return columns, extra


def _spec_derived(spec: Spec, completed: pl.DataFrame) -> pl.DataFrame:
    """The spec's ``derived:`` variables recomputed from the completed data set (one from an
    imputed column would otherwise keep its missing values)."""
    derived = list(getattr(spec, "derived", None) or [])
    if not derived:
        return completed
    from cohortcalc.analysis.derived import add_derived  # with the spec's derived variables

    order = completed.columns
    recomputed = add_derived(spec, completed.drop(*[d.name for d in derived]))
    return recomputed.select(order)


def _check_complete(spec: Spec, completed: pl.DataFrame) -> None:
    """Refuse a model column still missing after imputation: pooled and available-case rows
    would be mixed silently."""
    left = []
    for column in model_columns(spec):
        series = completed.get_column(column)
        n = series.null_count() + (int(series.is_nan().sum()) if series.dtype.is_float() else 0)
        if n:
            left.append(f"{column!r} ({n} missing)")
    if left:
        raise SpecError(
            f"{spec.where('missing_data', 'variables')}: model column(s) {', '.join(left)} are "
            "still missing after imputation; add them, or the raw inputs they are derived "
            "from, to missing_data.variables."
        )


def footnote(m: int) -> str:
    """The sentence every pooled table carries."""
    return (
        f"Multiple imputation (m = {m}), Rubin's rules: estimates pooled over the completed "
        "data sets; CIs and p from the t distribution with Barnard–Rubin degrees of freedom."
    )


_WALD = "CIs of hazard ratios are Wald intervals, exp(coef ± z·SE)"
_POOLED = "CIs of hazard ratios are pooled intervals, exp(Q̄ ± t·√T)"
_TREND = "p for trend: Wald test of the ordinal category score"
_POOLED_TREND = "p for trend: pooled t test (Rubin's rules) of the ordinal category score"


def annotate_tables(run: ImputedRun, tables: dict[str, Table]) -> dict[str, Table]:
    """Pooled HR tables and the estimates say so in their footnotes (the Wald-interval note
    of a complete-data fit becomes the pooled one); the complete-case tables and the
    interaction tests say they use observed data."""
    m = run.imputations.m
    complete = [s.name for s in run.spec.sensitivity if s.complete_cases]
    imputed = {*run.imputations.variables, *derived_from(list(run.imputations.variables),
                                                            run.spec.derive)}  # fmt: skip
    imputed_modifiers = {
        e.column: e.label or e.column for e in run.spec.effect_modifiers if e.column in imputed
    }
    out = dict(tables)
    for name, table in tables.items():
        if name.startswith("hr_"):
            if any(name.endswith(f"_{c}") for c in complete):
                note = "Complete-case analysis (sensitivity): observed data, no imputation."
                out[name] = replace(table, footnotes=(*table.footnotes, note))
                continue
            notes = tuple(
                n.replace(_WALD, _POOLED).replace(_TREND, _POOLED_TREND) for n in table.footnotes
            )
            notes += (footnote(m),)
            modifier = next((c for c in imputed_modifiers if name.endswith(f"_by_{c}")), None)
            if modifier is not None:
                notes += (
                    f"Subgroups by {imputed_modifiers[modifier]} (imputed or derived from "
                    "imputed values) are "
                    "formed in each completed data set; N, events and rates are those of the "
                    "first completed data set and vary across imputations.",
                )
            out[name] = replace(table, footnotes=notes)
        elif name == "estimates":
            note = (
                f"{footnote(m)} Rows of the complete-case analysis "
                f"({', '.join(complete)}) use the observed data."
            )
            out[name] = replace(table, footnotes=(*table.footnotes, note))
        elif name == "assumptions":  # model checks are not pooled
            note = (
                "Multiple imputation: each check is computed on the first completed data set "
                "(checks are not pooled across imputations)."
            )
            out[name] = replace(table, footnotes=(*table.footnotes, note))
        elif name == "interactions":
            note = (
                f"Multiple imputation (m = {m}): each interaction model was fitted on every "
                "completed data set and its product terms tested jointly by D1 (pooled Wald; "
                "it takes the place of a likelihood-ratio test, which is not pooled here)."
            )
            out[name] = replace(table, footnotes=(*table.footnotes, note))
    return out


#: Tables of a run with ``missing_data`` that are computed on the observed data, by prefix.
OBSERVED = {
    "adjusted_": "these standardised (g-computation) curves were",
    "prediction_": "the prediction models and their performance were",
}


def annotate_other(run: ImputedRun, tables: dict[str, Table]) -> dict[str, Table]:
    """Exposure–response and prediction tables say what they rest on: spline curves are
    pooled (their own footnotes say so), E-values come from the pooled HRs, and the
    analyses in ``OBSERVED`` use the observed data (available cases), never imputations."""
    m, out = run.imputations.m, dict(tables)
    for name, table in tables.items():
        what = next((v for k, v in OBSERVED.items() if name.startswith(k)), None)
        if what is not None:
            note = (
                f"Observed data: {what} computed on the participants with every variable "
                f"observed (available cases), not on the {m} imputed data sets."
            )
        elif name == "evalues":
            note = f"E-values of the HRs pooled over {m} imputed data sets (Rubin's rules)."
        else:
            continue
        out[name] = replace(table, footnotes=(*table.footnotes, note))
    return out


def draw_diagnostics(run: ImputedRun, out: Path | None) -> dict[str, tuple[Path, ...]]:
    """The trace plot of imputed means and the imputed-vs-observed distributions, saved in
    the spec's figure formats (none without an output folder)."""
    if out is None:
        return {}
    from cohortcalc.imputation import plot_imputation_trace, plot_imputed_vs_observed
    from cohortcalc.reporting.style import save_figure

    outputs = run.spec.outputs
    written = {}
    for name, draw in zip(FIGURES, (plot_imputation_trace, plot_imputed_vs_observed), strict=True):
        figure = draw(run.imputations)
        paths = save_figure(
            figure, out / "figures" / name, list(outputs.figure_formats), outputs.figure_dpi
        )
        written[name] = tuple(paths)
    return written


def caption(name: str, spec: Any) -> str | None:
    """The caption of a diagnostics figure (None for other figures)."""
    section = getattr(spec, "missing_data", None)
    if section is None or name not in FIGURES:
        return None
    if name == "imputation_trace":
        return (
            f"Convergence of the imputations: mean of the imputed values of each variable by "
            f"iteration, one line per imputation (m = {section.m}); chains should mix without "
            "trend."
        )
    return "Distributions of imputed (per imputation) and observed values of each imputed variable."
