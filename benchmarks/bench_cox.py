"""Benchmark: Cox regression (Efron ties, 10 covariates) against lifelines, statsmodels and R.

Every (tool, n) runs in a fresh subprocess on the same data: day-resolution follow-up
(1..3,653 distinct days, heavy ties), 5 normal and 5 binary covariates, ~22% events. Time is
the best of the repeats of the fit call alone (frame already in memory, compiled code warm);
peak_mb is the child's maximum RSS; the note gives the fit's own extra memory (peak RSS minus
RSS before the call) as a multiple of the n x 10 float64 design matrix.
Target (issue 5): at n = 1,000,000 at least 15x faster than lifelines CoxPHFitter.
Run: `python -m benchmarks.bench_cox [--quick]`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from benchmarks._child import PEAK_MB

P = 10
COVARIATES = [f"x{j}" for j in range(P)]
SIZES_FULL = {
    "cohortcalc": [10_000, 100_000, 1_000_000, 10_000_000],
    "lifelines": [10_000, 100_000, 1_000_000],
    "statsmodels": [10_000, 100_000, 1_000_000],
    "R": [10_000, 100_000, 1_000_000],
}
SIZES_QUICK = {
    "cohortcalc": [10_000, 100_000],
    "lifelines": [10_000, 100_000],
    "statsmodels": [10_000],
    "R": [10_000],
}
NOTES = {
    "cohortcalc": "cc.cox, Polars frame in, summary with SE/CI",
    "lifelines": "CoxPHFitter().fit (Efron), pandas frame in",
    "statsmodels": "PHReg(ties='efron').fit(), arrays in",
    "R": "survival 3.5 coxph(ties='efron'), timed inside R",
}

CHILD = PEAK_MB + textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    tool, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = dict(np.load(path))
    names = [f"x{j}" for j in range(10)]

    if tool == "cohortcalc":
        import polars as pl
        import cohortcalc as cc
        frame = pl.DataFrame(data)
        from cohortcalc.survival import _kernels
        cc.cox(frame.head(2000), "days", "event", names)  # load the compiled kernels,
        tiny, cut = np.zeros((4, 10)), np.array([0, 2, 4])  # the parallel one too
        _kernels.bin_sums(tiny, np.zeros(10), cut, cut[:2] + 1, cut[:0], np.ones(4), True, 2)
        call = lambda: cc.cox(frame, "days", "event", names, ties="efron")
    elif tool == "lifelines":
        import pandas as pd
        from lifelines import CoxPHFitter
        frame = pd.DataFrame(data)
        call = lambda: CoxPHFitter().fit(frame, "days", "event")
    else:
        from statsmodels.duration.hazard_regression import PHReg
        exog = np.column_stack([data[name] for name in names])
        call = lambda: PHReg(data["days"], exog, status=data["event"], ties="efron").fit()
    base = peak_mb()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    peak = peak_mb()
    print(json.dumps({"seconds": best, "peak_mb": peak, "base_mb": base}))
    """
)

R_CHILD = textwrap.dedent(
    """
    suppressPackageStartupMessages(library(survival))
    args <- commandArgs(trailingOnly = TRUE)
    d <- read.csv(args[1])
    f <- as.formula(paste("Surv(days, event) ~", paste0("x", 0:9, collapse = " + ")))
    s <- system.time(coxph(f, data = d, ties = "efron"))[["elapsed"]]
    cat(sprintf('{"seconds": %.6f, "peak_mb": null}\\n', s))
    """
)


def make_data(path: Path, n: int, seed: int = 2024) -> None:
    """Cox data with true log-HRs -0.5..0.5, day-resolution times censored at 10 years."""
    rng = np.random.default_rng(seed)
    columns = {
        name: rng.normal(size=n) if j % 2 == 0 else (rng.random(n) < 0.3).astype(float)
        for j, name in enumerate(COVARIATES)
    }
    eta = sum(
        b * columns[name] for b, name in zip(np.linspace(-0.5, 0.5, P), COVARIATES, strict=True)
    )
    event_years = rng.exponential(1.0 / (0.03 * np.exp(eta)))
    censor_years = np.minimum(rng.uniform(0.0, 15.0, n), 10.0)
    years = np.minimum(event_years, censor_years)
    columns["days"] = np.ceil(years * 365.25)
    columns["event"] = (event_years <= censor_years).astype(np.float64)
    np.savez(path, **columns)
    if shutil.which("Rscript") and n <= max(SIZES_FULL["R"]):
        header = ",".join(columns)
        table = np.column_stack(list(columns.values()))
        np.savetxt(
            path.with_suffix(".csv"), table, delimiter=",", header=header, comments="", fmt="%.10g"
        )


def _child(tool: str, path: Path, repeats: int) -> dict:
    if tool == "R":
        command = ["Rscript", "-e", R_CHILD, str(path.with_suffix(".csv"))]
    else:
        command = [sys.executable, "-c", CHILD, tool, str(path), str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": None, "error": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    """Rows (task, tool, n, seconds, peak_mb, note); cohortcalc rows carry the speed ratios."""
    sizes = SIZES_QUICK if quick else SIZES_FULL
    tools = [tool for tool in sizes if tool != "R" or shutil.which("Rscript")]
    task = f"Cox, Efron ties, {P} covariates"
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_cox_") as folder:
        for n in sorted({n for tool in tools for n in sizes[tool]}):
            path = Path(folder) / f"cox_{n}.npz"
            make_data(path, n)
            results = {
                tool: _child(tool, path, repeats=_repeats(tool, n))
                for tool in tools
                if n in sizes[tool]
            }
            for tool, result in results.items():
                rows.append(_row(task, tool, n, result, results))
            path.unlink()
    return rows


def _repeats(tool: str, n: int) -> int:
    """Best of 3 where that is cheap, lifelines best of 2 at 1e6; the rest runs once."""
    if tool == "cohortcalc":
        return 3 if n <= 1_000_000 else 1
    return 3 if n <= 100_000 else (2 if tool == "lifelines" and n <= 1_000_000 else 1)


def _row(task: str, tool: str, n: int, result: dict, results: dict[str, dict]) -> dict:
    note = NOTES[tool]
    if "error" in result:
        note += f"; FAILED: {result['error']}"
    design_mb = n * P * 8 / 2**20
    if result.get("peak_mb") and result.get("base_mb"):
        extra = max(result["peak_mb"] - result["base_mb"], 0.0)
        note += f"; fit's extra memory {extra:.0f} MB = {extra / design_mb:.1f}x design matrix"
    if tool == "cohortcalc":
        ratios = [
            f"{other['seconds'] / result['seconds']:.1f}x faster than {name}"
            for name, other in results.items()
            if name != tool and np.isfinite(other.get("seconds", np.nan))
        ]
        note += "; " + ", ".join(ratios) if ratios else ""
    return {
        "task": task,
        "tool": tool,
        "n": n,
        "seconds": result["seconds"],
        "peak_mb": result.get("peak_mb"),
        "note": note,
    }


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
