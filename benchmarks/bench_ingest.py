"""Benchmark: `cc.ingest` of a wide participants CSV vs a bare Polars CSV -> Parquet conversion.

Both run in fresh subprocesses in the same run (peak memory = the child's max RSS), at 1M, 3M
and 10M rows (50k and 150k with --quick), so memory against N shows that large files stream.
Target (issue 3): at 1M rows, ingest at most 2x the bare conversion's time; peak memory under
1.5 GB at every size. Run: `python -m benchmarks.bench_ingest [--quick]`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks._child import PEAK_MB

N_SCALING_FULL = (1_000_000, 3_000_000, 10_000_000)
N_SCALING_QUICK = (50_000, 150_000)
EXTRA = ("WEIGHT", "HEIGHT", "BMI", "GLUCOSE", "HBA1C", "TRIG", "LDL", "HR", "DBP", "WAIST")

MAPPING = """\
mapping_version: "bench-1"
study: bench
missing_codes: [-9, 999, "."]
on_row_error: quarantine
sources:
  - file: participants.csv
    table: participants
    columns:
      participant_id: ID
      site: CENTER
      baseline_date: {column: VISIT, date_format: "%d/%m/%Y"}
      age: AGE
      sex: {column: SEX, codes: {1: male, 2: female}}
      race_ethnicity: {column: RACE, codes: {1: white, 2: black, 3: hispanic, 4: chinese}}
      diabetes: DM
      smoking: {column: SMK, codes: {0: never, 1: former, 2: current}}
      sbp: SBP
      total_cholesterol: {column: TCHOL, unit: mmol/L}
      hdl_cholesterol: {column: HDL, unit: mmol/L}
      bp_treated: BPMED
      statin: STATIN
      serum_creatinine: {column: CREAT, unit: umol/L}
      cystatin_c: CYSC
      uacr: UACR
      serum_calcium: {column: CA, unit_by: {column: CENTER, units: {A: mg/dL, B: mmol/L, C: mg/dL}}}
      serum_phosphate: PHOS
      albumin: {column: ALB, unit: g/L}
      pth: PTH
      vitamin_d_25oh: {column: VITD, unit: nmol/L}
      alkaline_phosphatase: ALP
"""


def write_wide_csv(path: Path, n: int, seed: int = 1, chunk: int = 1_000_000) -> None:
    """A participants export of ``n`` rows and 32 columns (22 mapped, 10 not).

    Written ``chunk`` rows at a time, so a 10-million-row file is made in bounded memory.
    """
    with path.open("wb") as handle:
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            part = _wide_rows(start, rows, np.random.default_rng([seed, start]))
            part.write_csv(handle, include_header=start == 0)


def _wide_rows(start: int, n: int, rng: np.random.Generator) -> pl.DataFrame:
    site = rng.choice(["A", "B", "C"], n)
    days = rng.integers(0, 3 * 365, n)
    visit = pl.Series("VISIT", np.datetime64("2000-07-01") + days).cast(pl.Date)
    ids = [f"P{i:08d}" for i in range(start + 1, start + n + 1)]
    frame = pl.DataFrame({"ID": ids, "CENTER": site})
    frame = frame.with_columns(visit.dt.strftime("%d/%m/%Y"))
    normal = rng.normal
    cols = {
        "AGE": normal(62, 10, n).round(1),
        "SEX": rng.integers(1, 3, n),
        "RACE": rng.integers(1, 5, n),
        "DM": rng.integers(0, 2, n),
        "SMK": rng.integers(0, 3, n),
        "SBP": normal(126, 20, n).round(),
        "TCHOL": normal(5.0, 0.9, n).round(2),
        "HDL": normal(1.3, 0.35, n).clip(0.3).round(2),
        "BPMED": rng.integers(0, 2, n),
        "STATIN": rng.integers(0, 2, n),
        "CREAT": normal(85, 20, n).clip(30).round(1),
        "CYSC": normal(0.95, 0.2, n).clip(0.4).round(2),
        "UACR": rng.lognormal(2.0, 1.0, n).round(1),
        "CA": np.where(site == "B", normal(2.35, 0.1, n), normal(9.4, 0.4, n)).round(2),
        "PHOS": normal(3.6, 0.5, n).round(2),
        "ALB": normal(42, 3, n).round(1),
        "PTH": rng.lognormal(3.7, 0.4, n).round(1),
        "VITD": normal(65, 20, n).clip(5).round(1),
        "ALP": normal(75, 20, n).clip(20).round(),
    } | {name: normal(50, 10, n).round(2) for name in EXTRA}
    frame = frame.with_columns(pl.Series(k, v) for k, v in cols.items())
    missing = rng.random(n) < 0.02
    return frame.with_columns(pl.when(pl.Series(missing)).then(-9.0).otherwise(pl.col("PTH")))


CHILD = {
    "bare": "pl.read_csv(src).write_parquet(out / 'bare.parquet')",
    "ingest": "cc.ingest(mapping=src.parent / 'mapping.yaml', out=out / 'cohort')",
}


def _measure(task: str, folder: Path) -> dict[str, float]:
    code = PEAK_MB + textwrap.dedent(f"""
        import json, time
        from pathlib import Path
        import polars as pl
        import cohortcalc as cc
        src, out = Path({str(folder / "participants.csv")!r}), Path({str(folder)!r})
        start = time.perf_counter()
        {CHILD[task]}
        seconds = time.perf_counter() - start
        peak = peak_mb()
        print(json.dumps({{"seconds": seconds, "peak_mb": peak}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_size(n: int, folder: Path | None = None) -> list[dict[str, object]]:
    """Bare conversion and ingest of an ``n``-row wide CSV (made in a temporary folder, or
    taken from ``folder``/participants.csv when it is there)."""
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        folder = folder or Path(tmp)
        if not (folder / "participants.csv").is_file():
            write_wide_csv(folder / "participants.csv", n)
        (folder / "mapping.yaml").write_text(MAPPING)
        bare = _measure("bare", folder)
        ingested = _measure("ingest", folder)
    ratio = ingested["seconds"] / bare["seconds"]
    task = "ingest wide CSV (32 columns) to Parquet"
    note = f"{ratio:.2f}x bare time; targets: <= 2x at 1M rows, peak < 1500 MB at every n"
    return [
        {"task": task, "tool": "polars read_csv+write_parquet", "n": n, **bare, "note": "bare"},
        {"task": task, "tool": "cohortcalc.ingest", "n": n, **ingested, "note": note},
    ]


def run(quick: bool) -> list[dict[str, object]]:
    """Rows (task, tool, n, seconds, peak_mb, note) for benchmarks/run.py: time and peak
    memory against N (sources above 256 MB and tables above 1.5M rows stream)."""
    sizes = N_SCALING_QUICK if quick else N_SCALING_FULL
    return [row for n in sizes for row in measure_size(n)]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
