"""Benchmark: multiple imputation of the headline analysis (issue 19).

The embedded synthetic cohort (n = 20,000) with labs made missing at random (serum creatinine,
cystatin C, UACR, HDL cholesterol: 15–35%, more often after an MI and in older participants;
smoking 10%). Single-data run: the headline models on the complete data (cause-specific Cox of
MI and of death, Fine–Gray of MI; CAC category + Model 2 covariates + CKD). MI run: cc.impute
(m = 20, 10 iterations, outcomes MI with competing death and death) + eGFR/CKD re-derived + the
same three models on each completed data set + cc.pool. Reported as seconds and the multiple
of the single-data run, with workers = 1 and 2, and R's mice + coxph / finegray() + pool on the
same rows when Rscript has them (slow: about 18 minutes at n = 20,000). Then the same models as
one spec run (`cohortcalc run` with and without `missing_data:`, a store with the labs missing
at random).
Run: `python -m benchmarks.bench_impute` (`--spec`: the spec runs only).
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
    rows += _r_peer(frame, m)
    return rows + run_spec(quick)


#: The baseline covariates and CAC the R peer's imputation models use besides each other and
#: the outcome terms (ours use every complete column: these and the derived mineral indices).
R_PREDICTORS = ["site", "age", "sex", "race_ethnicity", "diabetes", "sbp", "total_cholesterol",
                "bp_treated", "statin", "serum_calcium", "serum_phosphate", "albumin", "pth",
                "vitamin_d_25oh", "alkaline_phosphatase", "cac_agatston", "log_cac",
                "cac_category"]  # fmt: skip

R_SCRIPT = r"""
suppressMessages({library(mice); library(survival)})
args <- commandArgs(TRUE); m <- as.integer(args[2])
d <- read.csv(args[1], stringsAsFactors = TRUE)
d$cac_category <- relevel(factor(d$cac_category), ref = "0")
for (v in c("diabetes", "bp_treated", "statin")) d[[v]] <- d[[v]] == "true"
d$smoking <- factor(d$smoking)
# White & Royston (2009): event indicators and Nelson-Aalen hazards of each cause
d$mi1 <- as.integer(d$mi_status == 1); d$mi2 <- as.integer(d$mi_status == 2)
d$H1 <- nelsonaalen(d, mi_years, mi1); d$H2 <- nelsonaalen(d, mi_years, mi2)
d$dead <- as.integer(d$death_status == 1); d$Hd <- nelsonaalen(d, death_years, dead)
meth <- make.method(d)
meth[] <- ""
meth[c("serum_creatinine", "cystatin_c", "uacr", "hdl_cholesterol")] <- "pmm"
meth["smoking"] <- "polyreg"
pred <- make.predictorMatrix(d)
pred[, c("mi_years", "mi_status", "death_years", "death_status")] <- 0
start <- proc.time()[["elapsed"]]
imp <- mice(d, m = m, maxit = 10, method = meth, predictorMatrix = pred, printFlag = FALSE,
            seed = 1)
imputed <- proc.time()[["elapsed"]] - start
ckd_epi <- function(scr, age, female) {  # CKD-EPI 2021 creatinine
  k <- ifelse(female, 0.7, 0.9); a <- ifelse(female, -0.241, -0.302)
  142 * pmin(scr / k, 1)^a * pmax(scr / k, 1)^-1.2 * 0.9938^age * ifelse(female, 1.012, 1)
}
form <- ~ cac_category + age + sex + race_ethnicity + diabetes + smoking + sbp + bp_treated +
  total_cholesterol + hdl_cholesterol + statin + ckd
fits <- lapply(seq_len(m), function(i) {
  x <- complete(imp, i)
  x$ckd <- ckd_epi(x$serum_creatinine, x$age, x$sex == "female") < 60 | x$uacr >= 30
  x$mi_cause <- factor(x$mi_status, 0:2, c("censor", "mi", "death"))
  fg <- finegray(Surv(mi_years, mi_cause) ~ ., data = x, etype = "mi")
  list(
    coxph(update(form, Surv(mi_years, mi1) ~ .), data = x, ties = "efron"),
    coxph(update(form, Surv(death_years, dead) ~ .), data = x, ties = "efron"),
    coxph(update(form, Surv(fgstart, fgstop, fgstatus) ~ .), data = fg, weights = fgwt)
  )
})
pooled <- lapply(1:3, function(k) summary(pool(as.mira(lapply(fits, `[[`, k)))))
total <- proc.time()[["elapsed"]] - start
cat(sprintf('{"seconds": %.3f, "impute": %.3f}\n', total, imputed))
"""


def _r_peer(frame: pl.DataFrame, m: int) -> list[dict]:
    """R's mice (m, 10 iterations; PMM, polyreg) + coxph / finegray()+coxph + pool on the same
    rows and missing values, when Rscript with mice and survival is installed."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from benchmarks._child import run_child

    if shutil.which("Rscript") is None:
        return []
    probe = subprocess.run(["Rscript", "-e", "library(mice); library(survival)"],
                           capture_output=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        return []
    columns = [*R_PREDICTORS, *MISSING, "smoking", "mi_years", "mi_status", "death_years",
               "death_status"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "frame.csv", Path(tmp) / "mice.R"
        frame.select(columns).with_columns(pl.col("cac_category").cast(pl.String)).write_csv(csv)
        script.write_text(R_SCRIPT)
        result = run_child(["Rscript", str(script), str(csv), str(m)], 3600)
    note = result.get("error") or (
        f"mice {result['impute']:.1f} s (10 iterations, PMM + polyreg, outcome indicators and "
        f"Nelson-Aalen hazards) + {3 * m} fits (coxph x 2, finegray()+coxph) + pool"
    )
    return [dict(task=f"multiple imputation m = {m}, 10 iterations", tool="R mice + survival",
                 n=frame.height, seconds=result["seconds"], note=note)]  # fmt: skip


SPEC_MISSING = {"serum_creatinine": -1.6, "cystatin_c": -0.9, "uacr": -1.2,
                "hdl_cholesterol": -1.9}  # fmt: skip


def _store(root, n: int):
    """A cohort store of the synthetic cohort with the labs missing at random given age (the
    spec run reads a store; outcomes stay complete) and smoking missing completely at random."""
    import json

    import cohortcalc as cc

    cohort = cc.simulate(n=n, seed=1)
    tables = {k: cohort.tables[k] for k in ("participants", "cac_lesions", "events", "followup")}
    people = tables["participants"]
    rng = np.random.default_rng(19)
    older = (people["age"].to_numpy() - 65) / 10
    drops = {}
    for name, intercept in SPEC_MISSING.items():
        p = 1 / (1 + np.exp(-(intercept + 0.4 * older)))
        drops[name] = pl.when(pl.Series(rng.random(n) < p)).then(None).otherwise(pl.col(name))
    drops["smoking"] = pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise("smoking")
    tables["participants"] = people.with_columns(**drops)
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(root / f"{name}.parquet")
    manifest = {"tables": {name: {"file": f"{name}.parquet"} for name in tables}}
    (root / "_manifest.json").write_text(json.dumps(manifest))
    return root


def headline_spec(store, m: int | None, workers: int = 2) -> dict:
    """The headline spec's models (MI: cause-specific Cox and Fine–Gray; death: Cox; CAC
    category and per SD of log(CAC + 1); Model 1 and Model 2 with CKD) as one spec run,
    with ``missing_data`` (m imputations, 10 iterations, ``workers`` processes) unless ``m``
    is None."""
    spec = {
        "name": "bench_mi", "title": "Benchmark", "data": {"store": str(store)},
        "population": [{"column": "age", "op": ">=", "value": 45},
                       {"column": "cac_agatston", "op": "not_null"}],
        "exposures": [{"column": "cac_category", "kind": "categorical", "reference": "0"},
                      {"column": "log_cac", "kind": "continuous", "per_sd": True}],
        "outcomes": [{"name": "mi", "time": "mi_years", "status": "mi_status", "event_code": 1,
                      "competing_code": 2, "methods": ["cox", "finegray"]},
                     {"name": "death", "time": "death_years", "status": "death_status"}],
        "models": {"adjustment": [
            {"name": "Model 1", "covariates": ["age", "sex"]},
            {"name": "Model 2", "add": COVARIATES[3:]}]},
        "outputs": {"tables": ["hazard_ratios"], "figures": []},
    }  # fmt: skip
    if m is not None:
        spec["missing_data"] = {
            "method": "multiple_imputation", "m": m, "iterations": 10, "seed": 2026,
            "variables": [*SPEC_MISSING, "smoking"], "workers": workers,
        }  # fmt: skip
    return spec


def run_spec(quick: bool = False, repeats: int = 3) -> list[dict]:
    """``cohortcalc run`` of the headline models with and without ``missing_data``: each
    ``repeats`` times after an untimed warm-up run (imports, compiled kernels), alternating,
    reported as the median (and range: a shared machine's timings vary by a quarter); then
    the ``missing_data`` run once in one process, for the work per imputation."""
    import statistics
    import tempfile
    import warnings
    from pathlib import Path

    import cohortcalc as cc

    n, m = (5_000, 5) if quick else (20_000, 20)

    def timed(spec: dict) -> tuple[float, object]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = cc.run(spec)
        return time.perf_counter() - start, result

    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp) / "store", n)
        timed(headline_spec(store, None))  # warm-up outside the clock
        single, imputed = [], []
        for _ in range(repeats):
            single.append(timed(headline_spec(store, None)))
            imputed.append(timed(headline_spec(store, m)))
        one_process, _ = timed(headline_spec(store, m, workers=1))
    observed = statistics.median(t for t, _ in single)
    total = statistics.median(t for t, _ in imputed)
    first, result = single[0][1], imputed[0][1]
    timings = result.manifest["timings_seconds"]
    spread = f"{min(t for t, _ in imputed):.0f}-{max(t for t, _ in imputed):.0f} s"
    return [
        dict(task="spec run, headline models, observed data", tool="cohortcalc run", n=n,
             seconds=observed, note=f"{len(first.fits)} fits (available cases); median of "
                                    f"{repeats}"),
        dict(task=f"spec run with missing_data (m = {m}, 10 iterations, workers 2)",
             tool="cohortcalc run", n=n, seconds=total,
             note=f"median of {repeats} ({spread}); first run: impute {timings['impute']:.0f} s, "
                  f"fits and pooling {timings['fit'] - timings['impute']:.0f} s "
                  f"({len(result.fits)} results: {len(result.fits) - len(first.fits)} pooled "
                  f"over {m} data sets, {len(first.fits)} complete-case); "
                  f"{total / observed:.1f}x the observed-data run"),
        dict(task=f"spec run with missing_data (m = {m}, 10 iterations, workers 1)",
             tool="cohortcalc run", n=n, seconds=one_process,
             note=f"{(one_process - observed) / m / observed:.2f}x the observed-data run per "
                  "imputation, beyond that run"),
    ]  # fmt: skip


if __name__ == "__main__":
    import sys

    rows = run_spec() if "--spec" in sys.argv else run()
    for row in rows:
        print(row)
