"""Run every benchmark and write one table: `python -m benchmarks.run [--quick]`.

Imports each `benchmarks/bench_*.py`, calls its `run(quick) -> list[dict]` (rows with task,
tool, n, seconds, peak_mb, note), prints a Markdown table and writes it, with the machine it
ran on, to `benchmarks/out/results.md` (and the rows to `results.json`). `--only NAME` runs
the modules whose name contains NAME (e.g. `--only cox`) and writes `results_NAME.md`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f", {total_kb / 2**20:.0f} GB RAM"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}{load}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )


def markdown(rows: list[dict], header: str) -> str:
    """The rows as a Markdown table under a header line."""
    lines = [
        header,
        "",
        "| task | tool | n | seconds | peak MB | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        seconds = row.get("seconds")
        peak = row.get("peak_mb")
        seconds_text = (
            f"{seconds:.3f}" if isinstance(seconds, float) and math.isfinite(seconds) else "–"
        )
        peak_text = f"{peak:.0f}" if isinstance(peak, int | float) and math.isfinite(peak) else "–"
        lines.append(
            f"| {row['task']} | {row['tool']} | {row['n']:,} | {seconds_text} | {peak_text} "
            f"| {row.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (minutes)")
    parser.add_argument("--only", default="", help="run modules whose name contains this")
    args = parser.parse_args(argv)
    names = sorted(
        path.stem
        for path in Path(__file__).resolve().parent.glob("bench_*.py")
        if args.only in path.stem
    )
    rows: list[dict] = []
    started = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run(quick=args.quick))
    header = (
        f"# cohortcalc benchmarks ({'quick' if args.quick else 'full'} run, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.perf_counter() - started:.0f} s)\n\nMachine: {machine()}"
    )
    table = markdown(rows, header)
    OUT.mkdir(exist_ok=True)
    stem = f"results_{args.only}" if args.only else "results"  # a partial run keeps the full table
    (OUT / f"{stem}.md").write_text(table)
    (OUT / f"{stem}.json").write_text(json.dumps(rows, indent=1, default=str))
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
