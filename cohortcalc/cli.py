"""The ``cohortcalc`` command. The only module that prints."""

from __future__ import annotations

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
