"""Benchmark: multiple imputation of the headline analysis (issue 19).

The embedded synthetic cohort (n = 20,000) with labs made missing at random (serum creatinine,
cystatin C, UACR, HDL cholesterol: 15–35%, more often after an MI and in older participants;
smoking 10%). Single-data run: the headline models on the complete data (cause-specific Cox of
MI and of death, Fine–Gray of MI; CAC category + Model 2 covariates + CKD). MI run: cc.impute
(m = 20, 10 iterations, outcomes MI with competing death and death) + eGFR/CKD re-derived + the
same three models on each completed data set + cc.pool. Reported as seconds and the multiple
of the single-data run, with workers = 1 and 2. Run: `python -m benchmarks.bench_impute`.
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

COVARIATES = ["cac_category", "age", "sex", "race_ethnicity", "diabetes", "smoking", "sbp",
              "bp_treated", "total_cholesterol", "hdl_cholesterol", "statin", "ckd"]  # fmt: skip
MISSING = {"serum_creatinine": -1.6, "cystatin_c": -0.9, "uacr": -1.2, "hdl_cholesterol": -1.9}


def _frame(n: int) -> pl.DataFrame:
    import cohortcalc as cc

    frame = cc.simulate(n=n, seed=1).analysis_frame()
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    rng = np.random.default_rng(19)
    older = (frame["age"].to_numpy() - 65) / 10
    mi = (frame["mi_status"].to_numpy() == 1).astype(float)
    drops = {}
    for name, intercept in MISSING.items():
        p = 1 / (1 + np.exp(-(intercept + 0.4 * older + 0.8 * mi)))
        drops[name] = pl.when(pl.Series(rng.random(n) < p)).then(None).otherwise(pl.col(name))
    drops["smoking"] = pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise("smoking")
    return frame.with_columns(**drops).drop("egfr", "ckd").pipe(cc.derive)


def _models(data) -> list:
    import cohortcalc as cc

    return [
        cc.cox(data.with_columns(mi=pl.col("mi_status") == 1), "mi_years", "mi", COVARIATES),
        cc.cox(data, "death_years", "death_status", COVARIATES),
        cc.finegray(data, "mi_years", "mi_status", cause=1, covariates=COVARIATES),
    ]


def run(quick: bool = False) -> list[dict]:
    import cohortcalc as cc

    n = 5_000 if quick else 20_000
    m = 5 if quick else 20
    frame = _frame(n)
    complete = cc.simulate(n=n, seed=1).analysis_frame()
    start = time.perf_counter()
    _models(cc.derive(complete))
    single = time.perf_counter() - start
    rows = [dict(task="headline models, complete data", tool="cohortcalc", n=n, seconds=single,
                 note="3 models (Cox MI, Cox death, Fine-Gray MI), derive included")]  # fmt: skip
    for workers in (1, 2):
        start = time.perf_counter()
        imputations = cc.impute(
            frame, [*MISSING, "smoking"], seed=1, m=m, iterations=10,
            time=["mi_years", "death_years"], event=["mi_status", "death_status"], workers=workers,
        )  # fmt: skip
        imputed = time.perf_counter() - start
        fits = [_models(d) for d in imputations.datasets]
        [cc.pool([f[k] for f in fits]) for k in range(3)]
        total = time.perf_counter() - start
        rows.append(dict(task=f"multiple imputation m = {m}, 10 iterations", tool="cohortcalc",
                         n=n, seconds=total,
                         note=f"workers={workers}: impute {imputed:.1f} s + {3 * m} fits + pool; "
                              f"{total / single:.1f}x the complete-data run"))  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
