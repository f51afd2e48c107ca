"""Benchmark: the scaling curve of derive + Cox + Fine–Gray, local engine vs Spark local[2].

For each N the synthetic cohort's raw tables (participants, CAC lesions, events, follow-up)
are written once, chunk by chunk, as folders of Parquet files under
``benchmarks/out/scaling_data/`` (``_scaling_data.cohort_folder``; reused by later runs).
Then, in a fresh subprocess per engine, the tables are scanned lazily with only the raw
columns the model needs (``INPUTS``), ``cc.derive`` builds the analysis frame, only the model
columns are collected, and a Cox model (Efron) and a Fine–Gray model (MI with death as the
competing event) are fitted with the same covariates (age, sex, diabetes, CAC category
(4 levels), eGFR: 7 terms). Local: ``pl.scan_parquet`` -> ``cc.derive`` (Polars) ->
``collect(engine="streaming")`` -> the numba engine. Spark: ``spark.read.parquet`` ->
``cc.derive`` -> the Spark engine in ``local[2]`` (both cores), the model columns cached once.
Seconds are wall time of the whole pipeline; peak memory is the child's peak RSS (VmHWM), for
Spark the Python driver plus the JVM. The peak is reset (``/proc/self/clear_refs``) after
derive, so the note gives derive's peak and the fits' own peak (with the analysis frame
held), each step's time, seconds per million participants, and the raw data's size on disk
and in memory (MB = 2**20 bytes). "batched" is the local engine with derive run per
participants file (1e6 participants, the other tables filtered to its id range) and the
model columns concatenated: the same analysis frame in bounded memory. Sizes (``FULL``):
``--quick`` 1e5 for local and Spark; 1e7 only when ``MEMORY_FOR_LARGEST_GB`` are available.
Run: `python -m benchmarks.bench_scaling [--quick]`.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path

from benchmarks._child import PEAK_MB, run_child
from benchmarks._scaling_data import cohort_folder, summary

FULL = {  # engine -> sizes; "batched" is the local engine with derive per participants file
    "local": (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000),
    "batched": (3_000_000, 10_000_000),
    "spark": (100_000, 1_000_000, 3_000_000, 10_000_000),
}
QUICK = (100_000,)
LARGEST = 10_000_000
# Measured peaks at 1e7 (docs/spark.md): local pipeline 3.1 GB (2.9-3.5 GB over runs);
# Spark local[2] 7.1 GB (Python driver + JVM with spark.driver.memory 6g).
MEMORY_FOR_LARGEST_GB = 9
TIMEOUT_S = 3600
COVARIATES = ("age", "sex", "diabetes", "cac_category", "egfr")
# The raw columns those covariates and the outcomes are derived from; only these are read.
INPUTS = {
    "participants": ("participant_id", "baseline_date", "age", "sex", "diabetes",
                     "serum_creatinine"),
    "cac_lesions": ("participant_id", "artery", "area_mm2", "peak_hu"),
    "events": ("participant_id", "event", "event_date", "death_cause"),
    "followup": ("participant_id", "end_date", "end_reason"),
}  # fmt: skip

CHILD = PEAK_MB + textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    folder, engine, inputs = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    covariates = inputs.pop("covariates")
    wanted = [*covariates, "mi_days", "mi_status"]
    import polars as pl
    import cohortcalc as cc
    def jvm_mb(pid, field="VmHWM"):
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return next(int(x.split()[1]) for x in status if x.startswith(field + ":")) / 1024
    def reset_peak(pid):  # VmHWM := VmRSS (Linux >= 4.0), so the fits' peak is their own
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    if engine == "spark":
        from pyspark.sql import SparkSession, functions as F
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", "4")
                 .config("spark.driver.memory", "6g").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        jvm_pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
        spark.range(10).count()  # JVM warm before the clock starts
        read = lambda t: spark.read.parquet(str(folder / t)).select(*inputs[t])
    else:
        read = lambda t: pl.scan_parquet(folder / t / "*.parquet").select(inputs[t])
    def derive(tables):
        return cc.derive(tables["participants"], lesions=tables["cac_lesions"],
                         events=tables["events"], followup=tables["followup"])
    def batch(path):  # one participants file and the other tables' rows of its id range
        people = pl.scan_parquet(path).select(inputs["participants"])
        key = pl.col("participant_id")
        low, high = people.select(key.min().alias("low"), key.max().alias("high")).collect().row(0)
        ids = key.is_between(pl.lit(low), pl.lit(high))
        tables = {t: read(t).filter(ids) for t in inputs if t != "participants"}
        return derive({"participants": people, **tables}).select(wanted).collect()
    start = time.perf_counter()
    if engine == "batched":
        files = sorted((folder / "participants").glob("*.parquet"))
        frame = pl.concat([batch(path) for path in files], rechunk=True)
    else:
        frame = derive({t: read(t) for t in inputs})
    if engine == "spark":
        frame = frame.select(*wanted).withColumn("mi", (F.col("mi_status") == 1).cast("int"))
        frame = frame.cache()
        rows = frame.count()
    else:
        if engine == "local":
            frame = frame.select(wanted).collect(engine="streaming")
        frame = frame.with_columns((pl.col("mi_status") == 1).cast(pl.Int8).alias("mi"))
        rows = frame.height
    derived = time.perf_counter()
    jvm = jvm_mb(jvm_pid) if engine == "spark" else 0.0
    peak_derive, held = peak_mb() + jvm, peak_mb("VmRSS") + jvm
    reset_peak("self")
    if engine == "spark":
        reset_peak(jvm_pid)
    cox_fit = cc.cox(frame, "mi_days", "mi", covariates)  # a Spark frame runs on Spark
    fitted = time.perf_counter()
    fg_fit = cc.finegray(frame, "mi_days", "mi_status", 1, covariates)
    done = time.perf_counter()
    peak_fits = peak_mb() + (jvm_mb(jvm_pid) if engine == "spark" else 0.0)
    print(json.dumps({"rows": rows, "derive": derived - start, "cox": fitted - derived,
                      "finegray": done - fitted, "peak_mb": max(peak_derive, peak_fits),
                      "peak_derive_mb": peak_derive, "rss_derived_mb": held,
                      "peak_fits_mb": peak_fits, "frame_mb": frame.estimated_size() / 2**20
                      if engine != "spark" else float("nan"),
                      "cox_age": float(cox_fit.coef["age"]), "fg_age": float(fg_fit.coef["age"])}))
    """
)


def pipeline(folder: Path, engine: str) -> dict:
    """One pipeline run in a fresh interpreter: step times, peak memory, two coefficients."""
    inputs = {"covariates": list(COVARIATES), **{t: list(c) for t, c in INPUTS.items()}}
    command = [sys.executable, "-c", CHILD, str(folder), engine, json.dumps(inputs)]
    return run_child(command, TIMEOUT_S)


def _available_gb() -> float:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return 0.0
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 2**20
    return 0.0


def plan(quick: bool) -> list[tuple[int, tuple[str, ...]]]:
    """(N, engines) pairs to measure, smallest N first; 1e7 only with the memory for it."""
    sizes = {"local": QUICK, "spark": QUICK} if quick else dict(FULL)
    if _available_gb() < MEMORY_FOR_LARGEST_GB:
        sizes = {engine: tuple(n for n in ns if n != LARGEST) for engine, ns in sizes.items()}
    every = sorted({n for ns in sizes.values() for n in ns})
    return [(n, tuple(e for e, ns in sizes.items() if n in ns)) for n in every]


def _row(n: int, engine: str, result: dict, local: dict | None, data: dict) -> dict:
    tool = {
        "local": "cohortcalc local (Polars + numba)",
        "batched": "cohortcalc local, derive per 1e6-participant file",
        "spark": "cohortcalc Spark local[2]",
    }
    if "error" in result:
        return {"task": "derive + Cox + Fine–Gray (scaling)", "tool": tool[engine], "n": n,
                "seconds": math.nan, "peak_mb": math.nan,
                "note": "failed: " + result["error"].strip().splitlines()[-1][:200]}  # fmt: skip
    total = result["derive"] + result["cox"] + result["finegray"]
    note = (
        f"derive {result['derive']:.1f} s (peak {result['peak_derive_mb']:.0f} MB), "
        f"Cox {result['cox']:.1f} s, Fine–Gray {result['finegray']:.1f} s (peak "
        f"{result['peak_fits_mb']:.0f} MB); "
        f"{total / n * 1e6:.2f} s per 1e6 participants; raw data "
        f"{data['disk_bytes'] / 2**20:.0f} MB on disk, {data['memory_bytes'] / 2**20:.0f} MB in "
        f"memory ({data['rows']['cac_lesions']:,} lesion rows)"
    )
    if local is not None and "error" not in local:
        gap = max(abs(result[k] / local[k] - 1) for k in ("cox_age", "fg_age"))
        note += f"; β(age) of both fits within {gap:.0e} of local"
    return {"task": "derive + Cox + Fine–Gray (scaling)", "tool": tool[engine], "n": n,
            "seconds": total, "peak_mb": result["peak_mb"], "note": note}  # fmt: skip


def run(quick: bool) -> list[dict]:
    """Rows task, tool, n, seconds, peak_mb, note for every (N, engine) of the plan."""
    rows = []
    for n, engines in plan(quick):
        folder = cohort_folder(n)
        data = summary(folder)
        results = {engine: pipeline(folder, engine) for engine in engines}
        for engine, result in results.items():
            local = results.get("local") if engine != "local" else None
            rows.append(_row(n, engine, result, local, data))
    return rows


if __name__ == "__main__":
    from benchmarks.run import machine, markdown

    table = markdown(run(quick="--quick" in sys.argv), f"Machine: {machine()}")
    sys.stdout.write(table)
