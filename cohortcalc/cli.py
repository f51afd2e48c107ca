"""The ``cohortcalc`` command. The only module that prints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

import cohortcalc

app = typer.Typer(
    name="cohortcalc",
    help="Cohort epidemiology of vascular calcification: ingest, derive, fit, report.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cohortcalc {cohortcalc.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """cohortcalc: from raw study files to the tables and figures of the paper."""


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the study files + truth.json.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of participants.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed; same seed, same bytes.")] = 1,
    outcome_model: Annotated[
        str, typer.Option(help="'cause_specific' or 'subdistribution' (which HRs are true).")
    ] = "cause_specific",
    style: Annotated[
        str,
        typer.Option(
            "--style",
            help="'mesa' (six files; mapping synthetic_study) or 'centre' (five files without "
            "lesion numbers, end reasons or causes of death; mapping synthetic_centre).",
        ),
    ] = "mesa",
) -> None:
    """Simulate a MESA-style cohort with known truth and write its messy study export."""
    from rich.progress import Progress

    from cohortcalc.synth import SynthParams, simulate_cohort
    from cohortcalc.synth.export import write_study_export
    from cohortcalc.synth.sources import SOURCES

    try:
        params = SynthParams(outcome_model=outcome_model)  # type: ignore[arg-type]
    except cohortcalc.SpecError as error:
        raise typer.BadParameter(str(error), param_hint="--outcome-model") from error
    with Progress() as progress:
        task = progress.add_task(f"simulating {n:,} participants", total=len(SOURCES) + 2)
        cohort = simulate_cohort(n=n, seed=seed, params=params)
        progress.advance(task)

        def written(name: str) -> None:
            progress.update(task, advance=1, description=f"wrote {name}")

        try:
            write_study_export(cohort, out, progress=written, style=style)
        except cohortcalc.CohortcalcError as error:
            raise typer.BadParameter(str(error), param_hint="--style") from error
    realised = cohort.truth["realised"]
    typer.echo(
        f"{n:,} participants, {realised['mi_events']:,} MIs "
        f"({realised['mi_rate_per_1000_person_years']:.1f}/1000 PY), "
        f"{realised['deaths']:,} deaths -> {out} (truth.json lists every injected defect)"
    )


@app.command("ingest")
def ingest_command(
    mapping: Annotated[str, typer.Option("--mapping", help="The study's mapping YAML.")],
    out: Annotated[
        str | None, typer.Option("--out", help="Folder of the cohort store to write.")
    ] = None,
    sources: Annotated[
        str | None,
        typer.Option("--sources", help="Folder holding the mapped files (default: the mapping's)."),
    ] = None,
    partition_by: Annotated[
        list[str] | None,
        typer.Option(
            "--partition-by",
            help="Write tables as Hive-partitioned folders Spark reads: COLUMN (every table "
            "that has it) or TABLE:COLUMN; repeat for more columns.",
        ),
    ] = None,
    rows_per_file: Annotated[
        int | None, typer.Option("--rows-per-file", help="Split tables into files of <= N rows.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the mapping against the files' headers and a sample of rows; write "
            "nothing.",
        ),
    ] = False,
    sample_rows: Annotated[
        int, typer.Option("--sample-rows", min=1, help="Rows per file that --check reads.")
    ] = 1000,
    allow_outside_sources: Annotated[
        bool,
        typer.Option(
            "--allow-outside-sources", help="Read mapped files outside the sources folder."
        ),
    ] = False,
) -> None:
    """Ingest a study's raw files into a validated Parquet cohort store."""
    from rich.console import Console

    console = Console()
    if check:
        _check_mapping(console, mapping, sources, sample_rows)
        return
    if out is None:
        console.print("[bold red]ingest failed:[/] give --out (the store folder), or --check.")
        raise typer.Exit(code=2)
    report = _run_ingest(
        console, mapping, out, sources, partition_by, rows_per_file, allow_outside_sources
    )
    _print_ingest_summary(console, report)


def _run_ingest(
    console: Any,
    mapping: str,
    out: str,
    sources: str | None,
    partition_by: list[str] | None,
    rows_per_file: int | None,
    allow_outside_sources: bool,
) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(description: str, step: int, total: int) -> None:
            bar.update(task, description=description, completed=step, total=total)

        try:
            with warnings.catch_warnings():  # the summary below reports soft-range values
                warnings.simplefilter("ignore", cohortcalc.DataQualityWarning)
                from cohortcalc.ingest.layout import parse_partition_option

                return cohortcalc.ingest(
                    sources,
                    mapping=mapping,
                    out=out,
                    progress=advance,
                    partition_by=parse_partition_option(partition_by or []),
                    rows_per_file=rows_per_file,
                    allow_outside_sources=allow_outside_sources,
                )
        except cohortcalc.CohortcalcError as err:
            bar.stop()
            console.print(f"[bold red]ingest failed:[/] {err}", highlight=False)
            console.print(f"Nothing was written to {out}.")
            raise typer.Exit(code=1) from None


def _print_ingest_summary(console: Any, report: Any) -> None:
    """Per source file and per table: read = written + quarantined, values nulled, codes."""
    from rich.table import Table

    files = Table(title=f"{report.study} -> {report.out}: source files")
    for column in (
        "file",
        "table (role)",
        "read",
        "accepted",
        "quarantined",
        "values nulled",
        "missing codes",
        "top problems",
    ):
        files.add_column(
            column,
            justify="left" if column in ("file", "table (role)", "top problems") else "right",
        )
    for source in report.sources:
        problems = {**source.reasons, **source.values_nulled}
        top = sorted(problems.items(), key=lambda item: -item[1])[:3]
        files.add_row(
            Path(source.path).name,
            f"{source.table} ({source.role})",
            str(source.rows_read),
            str(source.rows_accepted),
            str(source.rows_quarantined),
            str(sum(source.values_nulled.values())),
            str(sum(source.missing_codes.values())),
            ", ".join(f"{reason} ({n})" for reason, n in top),
        )
    console.print(files)
    tables = Table(title="tables (rows of role: rows sources)")
    for column in ("table", "read", "written", "quarantined", "values nulled", "derived"):
        tables.add_column(column, justify="left" if column in ("table", "derived") else "right")
    for counts in report.tables.values():
        tables.add_row(
            counts.table,
            str(counts.rows_read),
            str(counts.rows_written),
            str(counts.rows_quarantined),
            str(sum(counts.values_nulled.values())),
            ", ".join(counts.derived),
        )
    console.print(tables)
    soft = sum(sum(c.soft_range.values()) for c in report.tables.values())
    codes = sum(sum(s.missing_codes.values()) for s in report.sources)
    console.print(
        f"{len(report.sources)} source file(s): {report.rows_quarantined} row(s) quarantined, "
        f"{report.values_nulled} value(s) nulled (_issues/), {codes} missing code(s) replaced, "
        f"{soft} soft-range value(s) kept. Details: {report.out}/_ingest_report.md"
    )


def _check_mapping(console: Any, mapping: str, sources: str | None, sample_rows: int) -> None:
    from cohortcalc.ingest.check import check_mapping

    try:
        result = check_mapping(mapping, sources, sample_rows=sample_rows)
    except cohortcalc.CohortcalcError as err:
        console.print(f"[bold red]mapping check failed:[/] {err}", highlight=False)
        raise typer.Exit(code=1) from None
    for file, rows in result.rows_sampled.items():
        codes = result.missing_codes.get(file, {})
        shown = ", ".join(f"{c} {n}" for c, n in codes.items()) or "none"
        console.print(f"{file}: {rows} row(s) read; missing codes replaced: {shown}")
    for finding in result.findings:
        label = "[bold red]problem[/]" if finding.fatal else "[yellow]note[/]"
        console.print(f"{label} {finding.file}: {finding.message}", highlight=False)
    fatal = sum(f.fatal for f in result.findings)
    if fatal:
        console.print(f"{fatal} problem(s) that would fail the ingest; nothing was written.")
        raise typer.Exit(code=1)
    console.print(
        f"{result.mapping}: the mapping fits the sampled rows ({len(result.findings)} note(s) "
        "on values ingest would null); nothing was written."
    )


@app.command("dictionary")
def dictionary_command(
    table: Annotated[str | None, typer.Argument(help="Show only this table.")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print data_dictionary/README.md's Markdown.")
    ] = False,
) -> None:
    """Show the data dictionary: canonical variables, units, ranges and codes."""
    from rich.console import Console
    from rich.table import Table

    from cohortcalc.dictionary import render_markdown

    dictionary = cohortcalc.load_dictionary()
    if markdown:
        typer.echo(render_markdown(dictionary), nl=False)
        return
    console = Console()
    names = [table] if table else list(dictionary.tables)
    for name in names:
        try:
            definition = dictionary.table(name)
        except cohortcalc.DictionaryError as err:
            console.print(f"[bold red]{err}[/]")
            raise typer.Exit(code=1) from None
        view = Table(title=f"{name}: {definition.description}", title_justify="left")
        view.add_column("variable", no_wrap=True)
        for column in ("type", "unit", "accepted units", "hard", "soft", "codes"):
            view.add_column(column)
        for var in definition.variables:
            hard = f"{var.hard_range[0]}–{var.hard_range[1]}" if var.hard_range else ""
            soft = f"{var.soft_range[0]}–{var.soft_range[1]}" if var.soft_range else ""
            view.add_row(
                var.name + (" *" if var.required else ""),
                var.type,
                var.unit or "",
                ", ".join(var.source_units),
                hard,
                soft,
                ", ".join(var.codes),
            )
        console.print(view)
    console.print(f"dictionary version {dictionary.version}; * = required")


@app.command("report")
def report_command(
    frame: Annotated[str, typer.Argument(help="Analysis frame (Parquet file or folder).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables and figures.")],
    by: Annotated[str, typer.Option(help="Group of Table 1 and the curves.")] = "cac_category",
    also_by: Annotated[
        list[str] | None, typer.Option("--also-by", help="More curve groupings (default: ckd).")
    ] = None,
    time: Annotated[str, typer.Option(help="Follow-up time column.")] = "mi_years",
    event: Annotated[
        str, typer.Option(help="Status column: 0 censored, 1.. events.")
    ] = "mi_status",
    cause: Annotated[int, typer.Option(help="Event code of interest.")] = 1,
    min_cell: Annotated[
        int | None,
        typer.Option(
            "--min-cell",
            help="Hide counts below this, and those that would reveal them (default: the "
            "--spec's small_cell_threshold, else 11; 0 = off).",
        ),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Analysis spec whose threshold to use.")
    ] = None,
    max_time: Annotated[float | None, typer.Option(help="End the curves at this time.")] = None,
    table_formats: Annotated[str, typer.Option(help="Table formats.")] = "csv,md,html,tex,docx",
    figure_formats: Annotated[str, typer.Option(help="Figure formats.")] = "png,pdf,svg",
) -> None:
    """Write Table 1 and KM / cumulative-incidence curves (numbers at risk) from a frame."""
    from cohortcalc.analysis.frame_report import write_frame_report
    from cohortcalc.frames import to_polars

    try:
        threshold = min_cell
        if threshold is None:
            from cohortcalc.analysis import load_spec

            threshold = load_spec(spec).small_cell_threshold if spec is not None else 11
        data = to_polars(frame)
        groups = [by, *(also_by if also_by is not None else ["ckd"])]
        written = write_frame_report(
            data, out, by=by, groupings=[g for g in dict.fromkeys(groups) if g in data.columns],
            time=time, event=event, cause=cause, min_cell=threshold, max_time=max_time,
            table_formats=table_formats.split(","), figure_formats=figure_formats.split(","),
        )  # fmt: skip
    except cohortcalc.CohortcalcError as err:
        typer.secho(f"report failed: {err}", fg="red", err=True)
        raise typer.Exit(code=1) from None
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("run")
def run_command(
    spec: Annotated[
        Path | None, typer.Argument(help="Analysis spec (YAML), e.g. analyses/cac_mi_ckd.yaml.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: results/<spec name>).")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Run the packaged headline spec (cac_mi_ckd).")
    ] = False,
) -> None:
    """Run a scripted analysis: ingest (if raw) -> derive -> fit -> tables, figures, report."""
    from rich.console import Console

    from cohortcalc.analysis import example_spec, load_spec, run

    console = Console()
    if (spec is None) == (not example):
        console.print("[bold red]give a SPEC file or --example (not both).[/]")
        raise typer.Exit(code=2)
    try:
        loaded = load_spec(example_spec() if example else spec)  # type: ignore[arg-type]
        target = out if out is not None else Path("results") / loaded.name
        with _StepProgress(console) as progress:
            result = run(loaded, out=target, progress=progress.update)
    except cohortcalc.CohortcalcError as err:
        console.print(f"[bold red]run failed:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    timings = result.manifest["timings_seconds"]
    console.print(
        f"{result.n_models} models fitted on {result.frame.height:,} participants in "
        f"{timings['total']:.1f} s."
    )
    for label, path in (
        ("Report:  ", result.report),
        ("Tables:  ", target / "tables"),
        ("Figures: ", target / "figures"),
        ("Manifest:", target / "manifest.json"),
    ):
        console.print(f"{label} {path}", highlight=False, soft_wrap=True)
    people = result.manifest["inputs"].get("participant_level", {}).get("folder")
    if people is not None:
        console.print(
            f"Participant-level data (do not share with the results): {people}",
            highlight=False,
            soft_wrap=True,
        )


class _StepProgress:
    """A rich progress display with one line per step of ``cohortcalc.analysis.STEPS``."""

    def __init__(self, console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> _StepProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def update(self, event) -> None:
        if event.status == "start":
            label = f"[{event.index}/{event.steps}] {event.label}"
            self.tasks[event.step] = self.bar.add_task(label, total=event.total or 1)
        task = self.tasks[event.step]
        if event.status == "advance":
            self.bar.update(task, completed=event.completed)
        elif event.status == "done":
            self.bar.update(task, completed=event.total or 1)


@app.command("validate")
def validate_command(
    replicates: Annotated[
        int, typer.Option("--replicates", min=3, help="Simulated cohorts per scenario.")
    ] = 200,
    n: Annotated[int, typer.Option("--n", min=200, help="Participants per cohort.")] = 5_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first replicate.")] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for validation.csv / .md (optional).")
    ] = None,
) -> None:
    """Simulation study with known truth: bias, empirical vs model SE, 95% CI coverage."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from cohortcalc.analysis import validate

    console = Console()
    with Progress(
        "replicates", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("replicates", total=None)
        result = validate(
            replicates=replicates,
            n=n,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table(title=f"{replicates} replicates of n = {n:,} (seed {seed})")
    columns = ("kind", "term", "true", "mean", "bias", "SE emp", "SE mod", "cover", "ok")
    for column in columns:
        left = column in ("kind", "term")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for row in result.table.itertuples():
        ok = row.bias_ok and row.se_ratio_ok and row.coverage_ok
        table.add_row(
            row.kind, row.term, f"{row.true_ratio:.2f}", f"{row.mean_ratio:.2f}",
            f"{row.bias:+.3f}", f"{row.empirical_se:.3f}", f"{row.model_se:.3f}",
            f"{row.coverage:.3f}", "[green]yes[/]" if ok else "[red]NO[/]",
        )  # fmt: skip
    console.print(table)
    console.print(
        "Bias of the log ratio (t test), model vs empirical SE (chi-square test), coverage of "
        f"the 95% CI (exact binomial test); each check at p >= {result.alpha_per_check:.2g} "
        "(family-wise 0.01, Bonferroni).",
        soft_wrap=True,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.table.to_csv(out / "validation.csv", index=False)
        result.estimates.to_csv(out / "validation_estimates.csv", index=False)
        console.print(f"Wrote {out / 'validation.csv'}", highlight=False)
    if not result.passed:
        for failure in result.failures():
            console.print(f"[red]{failure}[/]", highlight=False)
        raise typer.Exit(code=1)
