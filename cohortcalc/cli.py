"""The ``cohortcalc`` command. The only module that prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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

        write_study_export(cohort, out, progress=written)
    realised = cohort.truth["realised"]
    typer.echo(
        f"{n:,} participants, {realised['mi_events']:,} MIs "
        f"({realised['mi_rate_per_1000_person_years']:.1f}/1000 PY), "
        f"{realised['deaths']:,} deaths -> {out} (truth.json lists every injected defect)"
    )


@app.command("ingest")
def ingest_command(
    mapping: Annotated[str, typer.Option("--mapping", help="The study's mapping YAML.")],
    out: Annotated[str, typer.Option("--out", help="Folder of the cohort store to write.")],
    sources: Annotated[
        str | None,
        typer.Option("--sources", help="Folder holding the mapped files (default: the mapping's)."),
    ] = None,
) -> None:
    """Ingest a study's raw files into a validated Parquet cohort store."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(description: str, step: int, total: int) -> None:
            bar.update(task, description=description, completed=step, total=total)

        try:
            report = cohortcalc.ingest(sources, mapping=mapping, out=out, progress=advance)
        except cohortcalc.CohortcalcError as err:
            bar.stop()
            console.print(f"[bold red]ingest failed:[/] {err}", highlight=False)
            console.print(f"Nothing was written to {out}.")
            raise typer.Exit(code=1) from None
    table = Table(title=f"{report.study} -> {report.out}")
    for column in ("table", "read", "written", "quarantined", "top reasons"):
        table.add_column(column, justify="left" if column in ("table", "top reasons") else "right")
    for counts in report.tables.values():
        top = sorted(counts.reasons.items(), key=lambda item: -item[1])[:3]
        table.add_row(
            counts.table,
            str(counts.rows_read),
            str(counts.rows_written),
            str(counts.rows_quarantined),
            ", ".join(f"{reason} ({n})" for reason, n in top),
        )
    console.print(table)
    soft = sum(sum(c.soft_range.values()) for c in report.tables.values())
    console.print(
        f"{len(report.sources)} source file(s); {soft} soft-range value(s) kept. Details: "
        f"{report.out}/_ingest_report.md"
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
