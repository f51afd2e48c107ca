"""Write a run to disk: ``tables/``, ``figures/`` (drawn earlier), ``report.html`` (or
``report.md``) assembling them with the methods text, and ``manifest.json``.

Nothing written here depends on the clock except ``manifest.json`` (timings, start time), so
the same inputs give byte-identical tables and report.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.analysis.figures import caption
from cohortcalc.analysis.manifest import build_manifest, sha256_file, write_manifest
from cohortcalc.analysis.methods import methods_paragraphs
from cohortcalc.analysis.outputs import Context
from cohortcalc.analysis.results_folder import participant_level_paragraph
from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.export import export_table, render_table
from cohortcalc.reporting.table import Table
from cohortcalc.reporting.word import write_word

EXTENSIONS = {"csv": "csv", "md": "md", "html": "html", "tex": "tex", "docx": "docx"}
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table.cohortcalc-table { border-collapse: collapse; margin: 1.5em 0; font-size: 0.9em; }
table.cohortcalc-table caption { font-weight: bold; text-align: left; padding-bottom: 0.4em; }
table.cohortcalc-table th, table.cohortcalc-table td { padding: 0.2em 0.6em; text-align: right; }
table.cohortcalc-table th[scope=row], table.cohortcalc-table thead th:first-child
  { text-align: left; font-weight: normal; }
table.cohortcalc-table td { white-space: nowrap; }
table.cohortcalc-table .text { text-align: left; white-space: normal; }
table.cohortcalc-table thead th { vertical-align: bottom; font-weight: bold; }
table.cohortcalc-table thead { border-bottom: 1px solid #444; border-top: 2px solid #444; }
table.cohortcalc-table tfoot td { text-align: left; font-size: 0.85em; color: #555; }
table.cohortcalc-table tbody tr:last-child { border-bottom: 2px solid #444; }
table.cohortcalc-table th.group { font-weight: bold; white-space: nowrap; }
table.cohortcalc-table tfoot td { white-space: normal; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #333; }
nav.toc { border: 1px solid #ccc; padding: 0.5em 1.5em; margin: 1em 0 2em; }
nav.toc ol { margin: 0.3em 0; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  table.cohortcalc-table, figure { page-break-inside: avoid; break-inside: avoid; }
  h2 { break-after: avoid; }
  nav.toc { border: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def write_tables(
    tables: Mapping[str, Table], out: Path, formats: list[str], document: str | None = None
) -> dict[str, str]:
    """Export each table in each format to ``out/tables``; with Word among the formats and a
    ``document`` name, also ``tables/<document>.docx`` holding every table in order (one
    section each, landscape where wide). Returns ``{path: sha256}``."""
    written = {}
    for name, table in tables.items():
        for fmt in formats:
            path = export_table(table, out / "tables" / f"{name}.{EXTENSIONS[fmt]}")
            written[str(path.relative_to(out))] = sha256_file(path)
    if "docx" in formats and document is not None:
        path = write_word(list(tables.values()), out / "tables" / f"{document}.docx")
        written[str(path.relative_to(out))] = sha256_file(path)
    return written


def write_all(
    ctx: Context,
    tables: Mapping[str, Table],
    figures: Mapping[str, tuple[Path, ...]],
    out: Path | None,
    inputs: Mapping[str, Any],
    timings: Mapping[str, float],
    started: str,
    warnings: tuple[str, ...] = (),
    engine: Mapping[str, Any] | None = None,
    tidy: pd.DataFrame | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """Write tables, report and manifest under ``out`` (manifest only in memory if None);
    ``engine`` is what ran the models (``{"name": "local"}`` by default); ``tidy`` the
    numeric estimates, written as ``tables/estimates_tidy.csv`` and ``.parquet``."""
    clock = time.perf_counter()
    outputs: dict[str, str] = {}
    report_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        ordered = {n: tables[n] for _, names, _ in _sections(ctx, tables, {}) for n in names}
        ordered.update(tables)  # any table no section names goes last
        formats = list(ctx.spec.outputs.table_formats)
        outputs.update(write_tables(ordered, out, formats, document=f"{ctx.spec.name}_tables"))
        if tidy is not None:
            for path in write_tidy(tidy, out / "tables" / "estimates_tidy"):
                outputs[str(path.relative_to(out))] = sha256_file(path)
        for paths in figures.values():
            outputs.update({str(p.relative_to(out)): sha256_file(p) for p in paths})
        report_path = write_report(ctx, tables, figures, out, inputs)
        outputs[report_path.name] = sha256_file(report_path)
    all_timings = {**timings, "report": time.perf_counter() - clock}
    # "impute" is part of the "fit" step (timed inside it), not a step of its own
    all_timings["total"] = sum(v for k, v in all_timings.items() if k != "impute")
    manifest = build_manifest(ctx.spec, inputs, all_timings, outputs, started, engine)
    manifest["warnings"] = list(warnings)
    if out is not None:
        remove_stale_outputs(out, set(outputs))
        write_manifest(manifest, out / "manifest.json")
    return report_path, manifest


def write_tidy(tidy: pd.DataFrame, stem: Path) -> list[Path]:
    """The tidy estimates as CSV (nulls empty, full precision) and Parquet (typed)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    tidy.to_csv(csv_path, index=False, float_format="%.10g", lineterminator="\n")
    pl.from_pandas(tidy).write_parquet(parquet_path, statistics=False)
    return [csv_path, parquet_path]


def remove_stale_outputs(out: Path, current: set[str]) -> list[Path]:
    """Delete files a previous run in ``out`` wrote (per its manifest) that this run did not,
    so ``tables/`` and ``figures/`` hold exactly this run's outputs. Nothing else is touched."""
    previous = out / "manifest.json"
    if not previous.is_file():
        return []
    try:
        listed = json.loads(previous.read_text()).get("outputs", {})
    except (json.JSONDecodeError, AttributeError):
        return []
    removed = []
    for name in sorted(set(listed) - current):
        path = (out / name).resolve()
        if path.is_file() and out.resolve() in path.parents:
            path.unlink()
            removed.append(path)
    return removed


def _sections(
    ctx: Context, tables: Mapping[str, Table], figures: Mapping[str, tuple[Path, ...]]
) -> list[tuple[str, list[str], list[str]]]:
    """(heading, table names, figure names) in reading order."""
    names = list(tables)
    hr = [n for n in names if n.startswith("hr_")]
    sections = [
        ("Participants", [n for n in ("flow", "table_one") if n in tables], []),
        ("Incidence rates", _if("incidence_rates", tables), []),
        ("Hazard ratios", [n for n in hr if "_by_" not in n and _is_main(ctx, n)], []),
        ("Effect modification", [n for n in hr if "_by_" in n] + _if("interactions", tables), []),
        ("Sensitivity analyses", [n for n in hr if not _is_main(ctx, n)], []),
        (
            "Exposure–response and additive interaction",
            [
                n
                for n in names
                if n.startswith(("spline_", "adjusted_", "additive_")) or n == "evalues"
            ],
            [],
        ),
        ("Risk prediction", [n for n in names if n.startswith("prediction_")], []),
        ("Figures", [], list(figures)),
        ("Model checks", _if("assumptions", tables), []),
        ("All estimates", _if("estimates", tables), []),
    ]
    named = {n for _, listed, _ in sections for n in listed}
    sections[-1][1].extend(n for n in names if n not in named)  # never leave a table out
    return sections


def _if(name: str, tables: Mapping[str, Table]) -> list[str]:
    return [name] if name in tables else []


def _is_main(ctx: Context, name: str) -> bool:
    return not any(name.endswith(f"_{s.name}") for s in ctx.spec.sensitivity)


def write_report(
    ctx: Context,
    tables: Mapping[str, Table],
    figures: Mapping[str, tuple[Path, ...]],
    out: Path,
    inputs: Mapping[str, Any],
) -> Path:
    """``report.html`` or ``report.md``: title, methods, then every table and figure."""
    spec = ctx.spec
    methods = methods_paragraphs(spec, ctx.frame.height, ctx.per_sd_units, inputs)
    sections = _sections(ctx, tables, figures)
    people = participant_level_paragraph(inputs)  # where participant-level data went, if any
    if spec.outputs.report == "md":
        lines = [f"# {spec.title}", "", *([spec.description, ""] if spec.description else [])]
        lines += [people, ""] if people else []
        lines += ["## Methods", ""] + [p + "\n" for p in methods]
        for heading, table_names, figure_names in sections:
            if not (table_names or figure_names):
                continue
            lines += [f"## {heading}", ""]
            lines += [render_table(tables[n], "markdown") for n in table_names]
            lines += [
                f"![{n}]({_image(figures[n], out)})\n\n*{caption(ctx, n)}*\n" for n in figure_names
            ]
        path = out / "report.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path
    body, contents = [f"<h1>{html.escape(spec.title)}</h1>"], []
    if spec.description:
        body.append(f"<p>{html.escape(spec.description)}</p>")
    body += [f"<p>{_inline(people)}</p>"] if people else []
    body += ['<section id="methods">', "<h2>Methods</h2>"]
    body += [f"<p>{_inline(p)}</p>" for p in methods] + ["</section>"]
    contents.append(("methods", "Methods", []))
    for number, (heading, table_names, figure_names) in enumerate(sections, start=1):
        if not (table_names or figure_names):
            continue
        anchor = f"section-{number}"
        body.append(f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>')
        items = []
        for name in table_names:
            body.append(f'<div id="table-{name}">{render_table(tables[name], "html")}</div>')
            items.append((f"table-{name}", tables[name].title))
        for name in figure_names:
            text = caption(ctx, name)
            body.append(
                f'<figure id="figure-{name}"><img src="{_embedded(figures[name])}" '
                f'alt="{html.escape(text)}"><figcaption>{html.escape(text)}</figcaption></figure>'
            )
            items.append((f"figure-{name}", text))
        body.append("</section>")
        contents.append((anchor, heading, items))
    body.insert(1 + bool(spec.description), _contents(contents))
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(spec.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    path = out / "report.html"
    path.write_text(document, encoding="utf-8")
    return path


def _image(paths: tuple[Path, ...], out: Path) -> str:
    """The figure file the report shows: PNG if written, else SVG, else the first."""
    for suffix in (".png", ".svg"):
        for path in paths:
            if path.suffix == suffix:
                return str(path.relative_to(out))
    return str(paths[0].relative_to(out))


def _embedded(paths: tuple[Path, ...]) -> str:
    """The figure as a data URI (PNG if written, else SVG), so the report is one file."""
    for suffix, mime in ((".png", "image/png"), (".svg", "image/svg+xml")):
        for path in paths:
            if path.suffix == suffix:
                return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
    raise CohortcalcError(
        f"{paths[0].parent}: the report embeds figures as PNG or SVG; add png to "
        "outputs.figure_formats."
    )


def _contents(sections: list[tuple[str, str, list[tuple[str, str]]]]) -> str:
    """The table of contents: each section, with its tables and figures."""
    lines = ['<nav class="toc"><strong>Contents</strong><ol>']
    for anchor, heading, items in sections:
        lines.append(f'<li><a href="#{anchor}">{html.escape(heading)}</a>')
        if items:
            lines.append("<ol>")
            lines += [f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in items]
            lines.append("</ol>")
        lines.append("</li>")
    lines.append("</ol></nav>")
    return "\n".join(lines)


def _inline(markdown: str) -> str:
    """Markdown ``**bold**`` and ```code``` inside one paragraph, as escaped HTML."""
    text = html.escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
