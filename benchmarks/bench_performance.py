"""Benchmark: Harrell's C at N = 1,000,000 against lifelines and scikit-survival, and a
200-replicate bootstrap of ΔC, NRI and IDI at N = 100,000 (issue 18).

Every (task, tool) runs in a fresh subprocess on the same data (day-resolution times with
ties, a continuous score); time is one call (imports and a warm-up call on 2,000 rows
excluded), peak_mb the child's maximum RSS. One Cox fit on the same rows is timed too, the
issue's yardstick ("C within a few times one Cox fit"). Peers that are not installed are
reported as such (scikit-survival is an optional bench dependency).
Run: `python -m benchmarks.bench_performance [--quick]`.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks._child import PEAK_MB, run_child

N_FULL, N_QUICK = 1_000_000, 100_000
N_BOOT, BOOT_N_FULL, BOOT_N_QUICK = 200, 100_000, 20_000

CHILD = PEAK_MB + textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    import polars as pl
    warnings.simplefilter("ignore")
    task, tool, path, n_boot = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if tool == "cohortcalc":  # imports outside the timed call, for every tool
        import cohortcalc as cc
    elif tool == "lifelines":
        from lifelines.utils import concordance_index
    else:
        from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
        from sksurv.util import Surv

    def work(data, replicates):
        time_, event, score, marker = (data[c].to_numpy() for c in ("time", "event", "x", "m"))
        if task == "cox_fit":
            cc.cox(data, "time", "event", ["x", "m"])
            return ""
        if task == "concordance" and tool == "cohortcalc":
            table = cc.concordance("x", data, time="time", event="event").table
            return f"C {table['concordance'].iloc[0]:.4f}, se {table['se'].iloc[0]:.5f}"
        if task == "concordance" and tool == "lifelines":
            return f"C {concordance_index(time_, -score, event):.4f}, no SE"
        if task == "concordance":
            c = concordance_index_censored(event.astype(bool), time_, score)[0]
            return f"C {c:.4f}, no SE"
        if task == "concordance_uno" and tool == "cohortcalc":
            table = cc.concordance("x", data, time="time", event="event", timewt="n/G2",
                                   tau=3000).table
            return f"C {table['concordance'].iloc[0]:.4f} (n/G2, tau 3000)"
        if task == "concordance_uno":
            y = Surv.from_arrays(event.astype(bool), time_)
            return f"C {concordance_index_ipcw(y, y, score, tau=3000)[0]:.4f}, no SE"
        rng = np.random.default_rng(1)  # bootstrap of ΔC, then NRI and IDI
        n = len(data)
        base_risk = 1 - np.exp(-0.0001 * 1825 * np.exp(0.7 * score))
        new_risk = 1 - np.exp(-0.0001 * 1825 * np.exp(0.7 * score + 0.5 * marker))
        deltas = []
        for _ in range(replicates):
            pick = rng.integers(0, n, n)
            both = cc.concordance([score[pick], score[pick] + 0.7 * marker[pick]],
                                  data.iloc[pick], time="time", event="event")
            deltas.append(both.contrast["difference"].iloc[0])
        cc.reclassification(base_risk, new_risk, data, time="time", event="event",
                            horizon=1825.0, thresholds=[0.075, 0.2], n_boot=replicates, seed=1)
        return (f"{replicates} replicates: ΔC 95% CI {np.quantile(deltas, 0.025):.4f} to "
                f"{np.quantile(deltas, 0.975):.4f}; NRI, IDI in cc.reclassification")

    data = pl.read_parquet(path).to_pandas()
    if tool == "cohortcalc":  # load the compiled kernels outside the timed call
        work(data.iloc[:2000], 2)
    start = time.perf_counter()
    note = work(data, n_boot)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "note": note}))
    """
)


def _data(n: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x, m = rng.normal(size=n), rng.normal(size=n)
    event_time = rng.exponential(1.0 / (0.0001 * np.exp(0.7 * x + 0.5 * m)))
    censor = rng.uniform(1000, 5000, n)
    return pl.DataFrame(
        {
            "time": np.ceil(np.minimum(event_time, censor)),
            "event": (event_time <= censor).astype(np.int64),
            "x": x,
            "m": m,
        }
    )


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run(quick: bool = False) -> list[dict]:
    n, boot_n = (N_QUICK, BOOT_N_QUICK) if quick else (N_FULL, BOOT_N_FULL)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        _data(n).write_parquet(path)
        boot_path = Path(folder) / "boot.parquet"
        _data(boot_n, seed=4).write_parquet(boot_path)
        # scikit-survival's C is quadratic in the number of tied and comparable pairs: at
        # 1,000,000 rows one call ran > 13 min (2026-12-06), so it is compared at 100,000 rows,
        # beside cohortcalc on the same rows.
        plan = [
            ("cox_fit", "cohortcalc", path, n),
            ("concordance", "cohortcalc", path, n),
            ("concordance", "lifelines", path, n),
            ("concordance", "scikit-survival", boot_path, boot_n),
            ("concordance", "cohortcalc", boot_path, boot_n),
            ("concordance_uno", "cohortcalc", path, n),
            ("concordance_uno", "scikit-survival", boot_path, boot_n),
            ("concordance_uno", "cohortcalc", boot_path, boot_n),
            ("bootstrap", "cohortcalc", boot_path, boot_n),
        ]
        for task, tool, data_path, size in plan:
            module = {"lifelines": "lifelines", "scikit-survival": "sksurv"}.get(tool)
            if module and not _installed(module):
                rows.append(
                    {
                        "task": task,
                        "tool": tool,
                        "n": size,
                        "seconds": float("nan"),
                        "peak_mb": float("nan"),
                        "note": f"{module} not installed",
                    }
                )
                continue
            command = [sys.executable, "-c", CHILD, task, tool, str(data_path), str(N_BOOT)]
            result = run_child(command, timeout=3600)
            rows.append(
                {
                    "task": f"{task}" + (f" x{N_BOOT}" if task == "bootstrap" else ""),
                    "tool": tool,
                    "n": size,
                    **result,
                }
            )
    return rows


if __name__ == "__main__":
    from benchmarks.run import markdown

    sys.stdout.write(markdown(run(quick="--quick" in sys.argv), "# performance benchmarks"))
