"""Benchmark: the scaling curve of derive + Cox + Fine–Gray, local engine vs Spark local[2].

For each N the synthetic cohort's raw tables (participants, CAC lesions, events, follow-up)
are written to Parquet once; then, in a fresh subprocess per engine, ``cc.derive`` builds the
analysis frame from those files, and a Cox model (Efron) and a Fine–Gray model (MI with death
as the competing event) are fitted on it with the same six covariates (age, sex, diabetes,
CAC category (4 levels), eGFR: 7 terms). Local: Polars (streaming collect) and the numba
engine. Spark: ``spark.read.parquet`` -> ``cc.derive`` -> the Spark engine, in ``local[2]``
(both cores), with the derived frame cached once. Seconds are wall time of the whole
pipeline; peak memory is the child's peak RSS (VmHWM), for Spark the Python driver plus the
JVM. Sizes: 1e5 and 1e6 for both engines (``--quick``: 1e5); 1e7 for the local engine only,
and only when the machine has the memory (MemAvailable >= 32 GB).
Run: `python -m benchmarks.bench_scaling [--quick]`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from cohortcalc.synth import simulate_cohort

SIZES_FULL, SIZES_QUICK, SIZE_LOCAL_ONLY = (100_000, 1_000_000), (100_000,), 10_000_000
MEMORY_FOR_LOCAL_ONLY_GB = 32
TABLES = ("participants", "cac_lesions", "events", "followup")

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    folder, engine = Path(sys.argv[1]), sys.argv[2]
    covariates = ["age", "sex", "diabetes", "cac_category", "egfr"]
    paths = {t: str(folder / f"{t}.parquet") for t in sys.argv[3:]}
    import polars as pl
    import cohortcalc as cc
    def peak_mb(pid):
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return next(int(x.split()[1]) for x in status if x.startswith("VmHWM")) / 1024
    if engine == "spark":
        from pyspark.sql import SparkSession, functions as F
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", "4")
                 .config("spark.driver.memory", "6g").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        jvm_pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
        spark.range(10).count()  # JVM warm before the clock starts
    start = time.perf_counter()
    if engine == "spark":
        tables = {t: spark.read.parquet(p) for t, p in paths.items()}
        frame = cc.derive(tables["participants"], lesions=tables["cac_lesions"],
                          events=tables["events"], followup=tables["followup"])
        frame = frame.withColumn("mi", (F.col("mi_status") == 1).cast("int")).cache()
        rows = frame.count()
    else:
        frame = cc.derive(paths["participants"], lesions=paths["cac_lesions"],
                          events=paths["events"], followup=paths["followup"])
        frame = frame.collect(engine="streaming")
        frame = frame.with_columns((pl.col("mi_status") == 1).cast(pl.Int64).alias("mi"))
        rows = frame.height
    derived = time.perf_counter()
    cox_fit = cc.cox(frame, "mi_days", "mi", covariates)  # a Spark frame runs on Spark
    fitted = time.perf_counter()
    fg_fit = cc.finegray(frame, "mi_days", "mi_status", 1, covariates)
    done = time.perf_counter()
    peak = peak_mb("self") + (peak_mb(jvm_pid) if engine == "spark" else 0.0)
    print(json.dumps({"rows": rows, "derive": derived - start, "cox": fitted - derived,
                      "finegray": done - fitted, "peak_mb": peak,
                      "cox_age": float(cox_fit.coef["age"]), "fg_age": float(fg_fit.coef["age"])}))
    """
)


def write_cohort(folder: Path, n: int, seed: int = 1) -> None:
    """The synthetic cohort's raw tables for ``n`` participants, as Parquet files."""
    tables = simulate_cohort(n=n, seed=seed).tables
    for name in TABLES:
        tables[name].write_parquet(folder / f"{name}.parquet")


def run_child(folder: Path, engine: str) -> dict[str, float]:
    """One pipeline run in a fresh interpreter; its timings and peak memory."""
    command = [sys.executable, "-c", CHILD, str(folder), engine, *TABLES]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench_scaling {engine} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _available_gb() -> float:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return 0.0
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 2**20
    return 0.0


def plan(quick: bool) -> list[tuple[int, tuple[str, ...]]]:
    """(N, engines) pairs to measure."""
    sizes = SIZES_QUICK if quick else SIZES_FULL
    runs = [(n, ("local", "spark")) for n in sizes]
    if not quick and _available_gb() >= MEMORY_FOR_LOCAL_ONLY_GB:
        runs.append((SIZE_LOCAL_ONLY, ("local",)))
    return runs


def run(quick: bool) -> list[dict]:
    """Rows task, tool, n, seconds, peak_mb, note for every (N, engine) of the plan."""
    tools = {"local": "cohortcalc local (Polars + numba)", "spark": "cohortcalc Spark local[2]"}
    rows = []
    for n, engines in plan(quick):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_cohort(folder, n)
            results = {engine: run_child(folder, engine) for engine in engines}
            for engine, result in results.items():
                total = result["derive"] + result["cox"] + result["finegray"]
                agreement = ""
                if engine != "local" and "local" in results:
                    local = results["local"]
                    gap = max(abs(result[k] / local[k] - 1) for k in ("cox_age", "fg_age"))
                    agreement = f"; β(age) of both fits within {gap:.0e} of local"
                rows.append(
                    {
                        "task": "derive + Cox + Fine–Gray (scaling)",
                        "tool": tools[engine],
                        "n": n,
                        "seconds": total,
                        "peak_mb": result["peak_mb"],
                        "note": (
                            f"derive {result['derive']:.1f} s, Cox {result['cox']:.1f} s, "
                            f"Fine–Gray {result['finegray']:.1f} s{agreement}"
                        ),
                    }
                )
    return rows


if __name__ == "__main__":
    from benchmarks.run import machine, markdown

    table = markdown(run(quick="--quick" in sys.argv), f"Machine: {machine()}")
    sys.stdout.write(table)
