"""``run(spec, out=...)``: data -> derive -> check -> fit -> tables -> figures -> report.

Progress is reported through an optional callback (the CLI draws it); nothing here prints.
The same spec and inputs give identical tables: every step is deterministic and timings live
only in the manifest.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd
import polars as pl

from cohortcalc.analysis import imputation, outputs, report
from cohortcalc.analysis.checks import check_spec_against_frame, levels_of, referenced_columns
from cohortcalc.analysis.data import derive_frame, load_source
from cohortcalc.analysis.exposure_response import exposure_response_outputs
from cohortcalc.analysis.figures import draw_figures
from cohortcalc.analysis.filters import apply_population
from cohortcalc.analysis.fitting import (
    ALL,
    MAIN,
    Fit,
    InteractionTest,
    exposure_estimates,
    plan,
    run_task,
)
from cohortcalc.analysis.populations import AnalysisFrames, add_trend_scores, per_sd_units
from cohortcalc.analysis.prediction import prediction_outputs
from cohortcalc.analysis.results_folder import (
    Staging,
    commit,
    participant_folder,
    participant_record,
    staged_results,
)
from cohortcalc.analysis.spec import Spec, load_spec, spec_from_dict
from cohortcalc.errors import DeriveOptionError, OutputError, SpecError
from cohortcalc.reporting.format import VARIABLE_LABELS

ID_COLUMN = "participant_id"
STEPS: tuple[tuple[str, str], ...] = (
    ("data", "Load data"),
    ("derive", "Derive features"),
    ("check", "Check the spec against the data"),
    ("fit", "Fit models"),
    ("tables", "Build tables"),
    ("figures", "Draw figures"),
    ("report", "Write report and manifest"),
)


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: a step starts, advances (``completed`` of ``total``), or ends."""

    step: str
    label: str
    index: int
    steps: int
    status: Literal["start", "advance", "done"]
    completed: int = 0
    total: int = 0
    elapsed: float = 0.0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class AnalysisResult:
    """Everything a run produced. ``fits`` and ``interactions`` hold the fitted results;
    ``tables`` the paper tables by name; ``figures`` the written figure files by name;
    ``notes`` what the run tidied in its output folder (e.g. results put back after a kill)."""

    spec: Spec
    frame: pl.DataFrame
    flow: pl.DataFrame
    per_sd_units: Mapping[str, float]
    fits: tuple[Fit, ...]
    interactions: tuple[InteractionTest, ...]
    tables: Mapping[str, Any]
    figures: Mapping[str, tuple[Path, ...]]
    manifest: Mapping[str, Any]
    out: Path | None
    report: Path | None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def fit(
        self,
        outcome: str,
        method: str = "cox",
        exposure: str | None = None,
        model: str | None = None,
        analysis: str = MAIN,
        subgroup: str = ALL,
    ) -> Fit:
        """The one fit matching the arguments (default: first exposure, last model)."""
        exposure = exposure or self.spec.exposures[0].column
        model = model or self.spec.models.adjustment[-1].name
        for fit in self.fits:
            k = fit.key
            if (k.analysis, k.outcome, k.method, k.exposure, k.model, k.subgroup) == (
                analysis, outcome, method, exposure, model, subgroup,
            ):  # fmt: skip
                return fit
        raise KeyError(f"no fit for {analysis}/{outcome}/{method}/{exposure}/{model}/{subgroup}")

    @property
    def n_models(self) -> int:
        """Number of models fitted: the fits, their trend models and the interaction models."""
        trends = sum(fit.p_trend is not None for fit in self.fits)
        interactions = sum(2 if t.test == "lrt" else 1 for t in self.interactions)
        return len(self.fits) + trends + interactions

    def summary(self) -> pd.DataFrame:
        """One row per fit and exposure term: keys, N, events, HR (95% CI, per SD where the
        spec asks), p."""
        rows = []
        for fit in self.fits:
            summary = exposure_estimates(fit, self.per_sd_units)
            for term in fit.exposure_terms:
                rows.append(
                    {
                        **fit.key.__dict__,
                        "term": term,
                        "per_sd": fit.key.exposure in self.per_sd_units,
                        "n": fit.result.n,
                        "n_events": fit.result.n_events,
                        **summary.loc[term, ["hr", "hr_lower", "hr_upper", "p"]].to_dict(),
                    }
                )
        return pd.DataFrame(rows)


@dataclass
class _Clock:
    """Times each step and forwards progress events to the callback."""

    callback: ProgressCallback | None
    timings: dict[str, float] = field(default_factory=dict)

    def emit(self, step: str, status: Literal["start", "advance", "done"], **kw: Any) -> None:
        if self.callback is None:
            return
        index = next(i for i, (name, _) in enumerate(STEPS, 1) if name == step)
        label = STEPS[index - 1][1]
        self.callback(ProgressEvent(step, label, index, len(STEPS), status, **kw))

    @contextmanager
    def step(self, name: str, total: int = 0) -> Iterator[Callable[[int], None]]:
        start = time.perf_counter()
        self.emit(name, "start", total=total)

        def advance(completed: int) -> None:
            elapsed = time.perf_counter() - start
            self.emit(name, "advance", completed=completed, total=total, elapsed=elapsed)

        yield advance
        self.timings[name] = time.perf_counter() - start
        self.emit(name, "done", completed=total, total=total, elapsed=self.timings[name])


def as_spec(spec: Spec | str | Path | Mapping[str, Any]) -> Spec:
    """A ``Spec`` from a spec object, a path to a YAML file, or a dict."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str | Path):
        return load_spec(spec)
    if isinstance(spec, Mapping):
        return spec_from_dict(spec)
    raise SpecError(f"cannot run a {type(spec).__name__}; give a Spec, a YAML path or a dict.")


def run(
    spec: Spec | str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Run a scripted analysis; with ``out``, write tables, figures, report and manifest there.

    ``progress`` receives a ``ProgressEvent`` at the start and end of each step of ``STEPS``
    and after each model fit. With ``engine: spark`` the data are read, filtered and fitted
    in Spark; tables and figures are drawn from the columns they need, collected locally
    (``AnalysisResult.frame`` then holds those columns only).
    """
    spec = imputation.with_complete_case(as_spec(spec))  # missing_data: a complete-case analysis
    with ExitStack() as cleanup:  # the output folder is checked before the session starts
        staging = cleanup.enter_context(staged_results(Path(out))) if out is not None else None
        session = cleanup.enter_context(_session(spec))
        return _run(spec, staging, _Clock(progress), session, cleanup)


def _session(spec: Spec) -> AbstractContextManager[Any]:
    """No session for the local engine; the Spark session of an ``engine: spark`` spec."""
    if spec.engine == "local":
        return nullcontext()
    from cohortcalc.analysis.spark_session import spark_session

    return spark_session(spec.spark, where=spec.where("engine"))


def _run(
    spec: Spec, staging: Staging | None, clock: _Clock, session: Any, cleanup: ExitStack
) -> AnalysisResult:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_dir = staging.folder if staging is not None else None
    with clock.step("data"):
        people = _participant_folder(spec, staging, cleanup)
        source = load_source(spec, people, session)
        inputs = {**source.inputs, **participant_record(people, staging is not None)}
    with clock.step("derive"):
        derived = cleanup.enter_context(_analysis_frame(spec, source.tables, session))
    with clock.step("check"):
        population, flow = apply_population(derived, spec)
        check_spec_against_frame(spec, population)
        observed = population
        population = add_trend_scores(population, spec)
        sd_units = per_sd_units(population, spec)
        frames = AnalysisFrames(spec, population)
        frames.check_all()
        levels = {m.column: levels_of(population, m.column) for m in spec.effect_modifiers}
    tasks = plan(spec, frames.analyses())
    fits: list[Fit] = []
    interactions: list[InteractionTest] = []
    with clock.step("fit", total=len(tasks)) as advance:
        imputed = None  # missing_data: impute once; fits outside complete cases are pooled
        pooled: dict[int, list[Fit | InteractionTest]] = {}
        if spec.missing_data is not None:
            with imputation.impute_run(spec, observed, frames) as imputed:
                clock.timings["impute"] = imputed.seconds
                inputs["missing_data"] = imputed.record()
                at = [i for i, t in enumerate(tasks) if imputed.pools(t)]
                fitted = imputed.fit_all(  # the pooled tasks advance as data sets are fitted
                    [tasks[i] for i in at], levels, spec.models.ties,
                    lambda share: advance(round(share * len(at))),
                )  # fmt: skip
            pooled = dict(zip(at, fitted, strict=True))
        done = len(pooled)
        for i, task in enumerate(tasks):
            if i in pooled:
                items = pooled[i]
            else:
                items = run_task(task, frames.get(task.key.analysis, task.outcome), levels,
                                 spec.models.ties)  # fmt: skip
                done += 1
                advance(done)
            for item in items:
                (interactions if isinstance(item, InteractionTest) else fits).append(item)
    with clock.step("tables"):
        if session is not None:  # the few columns the tables and figures need, collected
            frames = _collected(spec, frames, derived)
        context = outputs.Context(
            spec, frames.main, flow, sd_units, tuple(fits), tuple(interactions),
            imputed.table_frames() if imputed is not None else frames,
        )  # fmt: skip
        disclosed = outputs.disclose(context)  # one disclosure pass over the run's outputs
        tables = disclosed.tables
        if imputed is not None:
            tables = imputation.annotate_tables(imputed, tables)
        with _writing(staging):  # spline, additive-interaction and E-value tables and figures
            response_tables, response_figures = exposure_response_outputs(
                spec, frames, tuple(fits), sd_units, out_dir, imputed.frames if imputed else ()
            )
            prediction_tables, prediction_figures = prediction_outputs(spec, frames, out_dir)
        others = response_tables | prediction_tables
        tables.update(imputation.annotate_other(imputed, others) if imputed else others)
    warnings = tuple(dict.fromkeys(w for item in (*fits, *interactions) for w in item.warnings))
    engine = engine_record(session) if session is not None else {"name": "local"}
    with _writing(staging):
        with clock.step("figures"):
            figures = (
                draw_figures(context, out_dir, disclosed.at_risk, disclosed.fit_counts)
                if out_dir is not None
                else {}
            )
            figures.update(response_figures | prediction_figures)
            if imputed is not None:
                figures.update(imputation.draw_diagnostics(imputed, out_dir))
        with clock.step("report"):
            report_path, manifest = report.write_all(
                context, tables, figures, out_dir, inputs, clock.timings, started, warnings,
                engine=engine, tidy=disclosed.tidy,
            )  # fmt: skip
        if staging is not None:
            commit(staging)
            figures = {k: tuple(_moved(p, staging) for p in v) for k, v in figures.items()}
            report_path = _moved(report_path, staging) if report_path is not None else None
    return AnalysisResult(
        spec=spec,
        frame=frames.main,
        flow=flow,
        per_sd_units=MappingProxyType(sd_units),
        fits=tuple(fits),
        interactions=tuple(interactions),
        tables=MappingProxyType(tables),
        figures=MappingProxyType(figures),
        manifest=MappingProxyType(manifest),
        out=staging.out if staging is not None else None,
        report=report_path,
        warnings=warnings,
        notes=staging.notes if staging is not None else (),
    )


def _participant_folder(spec: Spec, staging: Staging | None, cleanup: ExitStack) -> Path | None:
    """Where a raw-data run keeps the store it ingests (and a simulated export): beside the
    results, or a temporary folder deleted when an in-memory run ends."""
    if spec.data.raw is None:
        return None
    if staging is None:
        return Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cohortcalc-")))
    folder = participant_folder(staging.out)
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def _writing(staging: Staging | None) -> Iterator[None]:
    """A failure to write (disk full, permissions changed) is an ``OutputError``; the staging
    folder goes, the previous results stay."""
    try:
        yield
    except OSError as exc:
        where = staging.out if staging is not None else "the results"
        raise OutputError(
            f"{where}: writing the results failed ({exc.strerror or exc}); the previous results "
            "are unchanged. Free some space or fix the permissions and run again."
        ) from exc


def _moved(path: Path, staging: Staging) -> Path:
    return staging.out / path.relative_to(staging.folder)


@contextmanager
def _analysis_frame(spec: Spec, tables: dict[str, Any], session: Any) -> Iterator[Any]:
    """The derived frame: Polars, or a cached ``SparkFrame`` with the local schema, released
    when the run ends, also on an error (an active session outlives the run)."""
    try:
        derived = derive_frame(spec, tables)
    except DeriveOptionError as exc:  # the option's line in the spec
        raise SpecError(f"{spec.where('derive', exc.option)}: {exc}") from None
    if session is None:
        yield derived
        return
    from cohortcalc.analysis.spark_frame import SparkFrame, local_schema

    cached = SparkFrame(derived, local_schema(tables, spec.derive)).cache()
    try:
        yield cached
    finally:
        cached.df.unpersist()


def engine_record(session: Any) -> dict[str, Any]:
    """The manifest's ``engine`` entry of a Spark run (version, master, parallelism)."""
    from cohortcalc.analysis.spark_session import engine_record as record

    return record(session)


def _collected(spec: Spec, frames: AnalysisFrames, derived: Any) -> AnalysisFrames:
    """The Spark frames as local frames of the output columns (sensitivity frames: what their
    HR tables read), in participant order; the cached derived frame is released."""
    available = frames.main.columns
    order = ID_COLUMN if ID_COLUMN in available else None
    few = [ID_COLUMN, *(c for o in spec.outcomes for c in (o.entry, o.time, o.status) if c)]
    few += [e.column for e in spec.exposures] + [m.column for m in spec.effect_modifiers]
    hr_columns = [c for c in dict.fromkeys(few) if c in available]
    local = frames.collected(output_columns(spec, available), hr_columns, order)
    derived.df.unpersist()
    return local


def output_columns(spec: Spec, available: list[str]) -> list[str]:
    """Columns the tables and figures read: the participant id, every column the spec names,
    and Table 1's default variables when the spec lists none."""
    columns = [ID_COLUMN, *(column for _, _, column in referenced_columns(spec))]
    if "table_one" in spec.outputs.tables and spec.outputs.table_one_variables is None:
        columns += [name for name in VARIABLE_LABELS if name in available]
    return list(dict.fromkeys(c for c in columns if c in available))
