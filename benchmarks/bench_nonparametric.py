"""Benchmark: Kaplan–Meier, Aalen–Johansen and the log-rank test against Python peers and R.

Every (task, tool) runs in a fresh subprocess on the same data (day-resolution times with
heavy ties, 3,650 distinct days, events 0/1/2, two groups); time is the best of three calls
(one call for the slow peers, which run at a smaller n), peak_mb the child's maximum RSS
(interpreter, libraries and the input arrays included).
Targets (issue 5): KM and AJ at N = 1,000,000 no slower than the fastest peer, exact with ties.
Run: `python -m benchmarks.bench_nonparametric [--quick]`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks._child import PEAK_MB, run_child

N_FULL, N_QUICK = 1_000_000, 100_000
LIFELINES_AJ_MAX_N = 100_000  # lifelines jitters ties: ~2 s at 1e5, far slower beyond
R_AJ_MAX_N = 20_000  # survfit's multi-state C code updates every subject at every time: O(N*T)

R_SCRIPT = textwrap.dedent(
    """
    suppressPackageStartupMessages(library(survival))
    args <- commandArgs(trailingOnly = TRUE)
    d <- read.csv(args[2])
    best <- Inf
    for (i in seq_len(as.integer(args[3]))) {
      elapsed <- system.time(switch(args[1],
        kaplan_meier = survfit(Surv(time, event > 0) ~ 1, data = d),
        aalen_johansen = survfit(Surv(time, factor(event, 0:2)) ~ 1, data = d),
        logrank = survdiff(Surv(time, event > 0) ~ group, data = d)))[["elapsed"]]
      best <- min(best, elapsed)
    }
    cat(sprintf("%.6f\\n", best))
    """
)

R_CHILD = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    done = subprocess.run(["Rscript", "-e", sys.argv[1], *sys.argv[2:]],
                          capture_output=True, text=True, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": float(done.stdout.split()[-1]), "peak_mb": peak}))
    """
)

CHILD = PEAK_MB + textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    task, tool, path, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = np.load(path)
    time_, event, group = data["time"], data["event"], data["group"]

    def cohortcalc_call():
        import polars as pl
        import cohortcalc as cc
        frame = pl.DataFrame({"time": time_, "event": event, "group": group,
                              "died": (event > 0).astype(np.int8)})
        if task == "kaplan_meier":
            return lambda: cc.kaplan_meier(frame, "time", "died")
        if task == "aalen_johansen":
            return lambda: cc.cumulative_incidence(frame, "time", "event", 1)
        return lambda: cc.logrank(frame, "time", "died", "group")

    def lifelines_call():
        from lifelines import AalenJohansenFitter, KaplanMeierFitter
        from lifelines.statistics import logrank_test
        died = event > 0
        if task == "kaplan_meier":
            return lambda: KaplanMeierFitter().fit(time_, died)
        if task == "aalen_johansen":
            return lambda: AalenJohansenFitter(calculate_variance=True).fit(
                time_, event, event_of_interest=1)
        g = group == 1
        return lambda: logrank_test(time_[g], time_[~g], died[g], died[~g])

    def sksurv_call():
        from sksurv.nonparametric import (
            cumulative_incidence_competing_risks, kaplan_meier_estimator)
        if task == "kaplan_meier":
            return lambda: kaplan_meier_estimator(event > 0, time_, conf_type="log-log")
        return lambda: cumulative_incidence_competing_risks(event, time_)

    call = {"cohortcalc": cohortcalc_call, "lifelines": lifelines_call,
            "scikit-survival": sksurv_call}[tool]()
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

NOTES = {
    ("kaplan_meier", "cohortcalc"): "Greenwood SE + log CI, exact ties (Polars frame in)",
    ("kaplan_meier", "lifelines"): "KaplanMeierFitter.fit, includes CI",
    ("kaplan_meier", "scikit-survival"): "kaplan_meier_estimator, log-log CI",
    ("aalen_johansen", "cohortcalc"): "CIF + infinitesimal-jackknife SE + log CI, exact ties",
    ("aalen_johansen", "lifelines"): "AalenJohansenFitter with variance; jitters ties",
    ("aalen_johansen", "scikit-survival"): "cumulative_incidence_competing_risks, no CI",
    ("logrank", "cohortcalc"): "two-group log-rank (survdiff)",
    ("logrank", "lifelines"): "statistics.logrank_test",
    ("kaplan_meier", "R"): "survival 3.5 survfit (compiled), timed inside R",
    ("aalen_johansen", "R"): "survival 3.5 multi-state survfit with IJ SE, timed inside R",
    ("logrank", "R"): "survival 3.5 survdiff, timed inside R",
}


SMALL_ONLY = {
    ("aalen_johansen", "lifelines"): LIFELINES_AJ_MAX_N,
    ("aalen_johansen", "R"): R_AJ_MAX_N,
}


def make_data(path: Path, n: int, seed: int = 5) -> None:
    """Heavily tied day-resolution follow-up (1..3650 days), events 0/1/2, groups 0/1."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    days = np.minimum(rng.exponential(3000 * (1 + 0.3 * group)).astype(np.int64) + 1, 3650)
    event = rng.choice([0, 1, 2], n, p=[0.6, 0.25, 0.15])
    np.savez(path, time=days.astype(float), event=event, group=group)
    if shutil.which("Rscript"):
        pl.DataFrame({"time": days, "event": event, "group": group}).write_csv(
            path.with_suffix(".csv")
        )


def _child(task: str, tool: str, path: Path, repeats: int) -> dict:
    if tool == "R":
        command = ["-c", R_CHILD, R_SCRIPT, task, str(path.with_suffix(".csv")), str(repeats)]
    else:
        command = ["-c", CHILD, task, tool, str(path), str(repeats)]
    return run_child([sys.executable, *command], 900)


def run(quick: bool = False) -> list[dict]:
    """Rows (task, tool, n, seconds, peak_mb, note) for every task and tool."""
    n = N_QUICK if quick else N_FULL
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = {n: Path(folder) / f"data_{n}.npz"}
        make_data(paths[n], n)
        for size in {min(n, small) for small in SMALL_ONLY.values()} - {n}:
            paths[size] = Path(folder) / f"data_{size}.npz"
            make_data(paths[size], size)
        for (task, tool), note in NOTES.items():
            if tool == "R" and not shutil.which("Rscript"):
                continue
            size = min(n, SMALL_ONLY.get((task, tool), n))
            result = _child(task, tool, paths[size], repeats=1 if (task, tool) in SMALL_ONLY else 3)
            if size != n:
                note += f"; run at n={size} only (too slow at n={n})"
            if "base_mb" in result:
                note += f"; {result['base_mb']:.0f} MB resident before the call"
            if "error" in result:
                note += f"; FAILED: {result['error']}"
            rows.append(
                {
                    "task": task,
                    "tool": tool,
                    "n": size,
                    "seconds": result["seconds"],
                    "peak_mb": result["peak_mb"],
                    "note": note,
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(
            f"{row['task']:<16}{row['tool']:<17}{row['n']:>9}{row['seconds']:>9.3f}s"
            f"{row['peak_mb']:>8.0f} MB  {row['note']}"
        )
