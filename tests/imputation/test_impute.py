"""cc.impute: reproducibility, what is and is not imputed, derived features, survival terms,
model warnings and the errors for setups that would be wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.imputation.survival_terms import nelson_aalen_at_own_time


def _cohort(n: int = 600, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(45, 85, n)
    sex = rng.choice(["female", "male"], n)
    creatinine = np.exp(rng.normal(0.0, 0.35, n) + 0.006 * (age - 65))
    diabetes = (rng.random(n) < 0.3).astype(np.int64)
    stage = rng.choice(["low", "mid", "high"], n)
    hazard = 0.02 * np.exp(0.04 * (age - 65) + 0.8 * np.log(creatinine) + 0.5 * diabetes)
    event_time = rng.exponential(1 / hazard)
    death_time = rng.exponential(1 / 0.01, n)
    censor = rng.uniform(2, 12, n)
    status = np.select([event_time <= np.minimum(death_time, censor), death_time <= censor],
                       [1, 2], 0)  # fmt: skip
    frame = pl.DataFrame(
        {
            "participant_id": [f"P{i:04d}" for i in range(n)],
            "age": age,
            "sex": sex,
            "serum_creatinine": creatinine,
            "diabetes": diabetes,
            "stage": pl.Series(stage).cast(pl.Enum(["low", "mid", "high"])),
            "days": np.ceil(np.minimum.reduce([event_time, death_time, censor]) * 365.25),
            "status": status,
        }
    )
    drop = lambda p: pl.Series(rng.random(n) < p)  # noqa: E731
    return frame.with_columns(
        pl.when(drop(0.3))
        .then(None)
        .otherwise(pl.col("serum_creatinine"))
        .alias("serum_creatinine"),
        pl.when(drop(0.2)).then(None).otherwise(pl.col("diabetes")).alias("diabetes"),
        pl.when(drop(0.2)).then(None).otherwise(pl.col("stage")).alias("stage"),
    )


IMPUTE = dict(variables=["serum_creatinine", "diabetes", "stage"], m=3, iterations=4,
              time="days", event="status")  # fmt: skip


@pytest.fixture(scope="module")
def cohort() -> pl.DataFrame:
    return cc.derive(_cohort())


@pytest.fixture(scope="module")
def imputed(cohort: pl.DataFrame):
    return cc.impute(cohort, seed=11, **IMPUTE)


def test_same_seed_gives_byte_identical_data_sets_and_other_seeds_differ(cohort, imputed) -> None:
    again = cc.impute(cohort, seed=11, **IMPUTE)
    for a, b in zip(imputed.datasets, again.datasets, strict=True):
        assert a.equals(b)
        assert a.write_ipc(None).getvalue() == b.write_ipc(None).getvalue()
    other = cc.impute(cohort, seed=12, **IMPUTE)
    assert not other.datasets[0]["serum_creatinine"].equals(imputed.datasets[0]["serum_creatinine"])
    # the m imputations differ from each other (between-imputation variance)
    assert not imputed.datasets[0]["serum_creatinine"].equals(
        imputed.datasets[1]["serum_creatinine"]
    )


def test_parallel_chains_give_the_same_result(cohort, imputed) -> None:
    parallel = cc.impute(cohort, seed=11, workers=2, **IMPUTE)
    for a, b in zip(imputed.datasets, parallel.datasets, strict=True):
        assert a.equals(b)


def test_observed_values_kept_missing_filled_with_observed_values_and_types(cohort, imputed):
    missing = cohort["serum_creatinine"].is_null().to_numpy()
    observed = set(cohort["serum_creatinine"].drop_nulls().to_list())
    for data in imputed.datasets:
        assert data.columns == cohort.columns and data.height == cohort.height
        assert data["serum_creatinine"].null_count() == 0
        values = data["serum_creatinine"].to_numpy()
        np.testing.assert_array_equal(
            values[~missing], cohort["serum_creatinine"].to_numpy()[~missing]
        )
        assert set(values[missing]) <= observed  # PMM imputes observed values only
        assert data["diabetes"].dtype == pl.Int64 and set(data["diabetes"].unique()) <= {0, 1}
        assert data["stage"].dtype == pl.Enum(["low", "mid", "high"])  # ordered kept ordered
        assert data["stage"].null_count() == 0
    assert imputed.methods == {"serum_creatinine": "pmm", "diabetes": "logistic",
                               "stage": "pmm_ordered"}  # fmt: skip
    row = imputed.missing.loc["serum_creatinine"]
    assert row["n_missing"] == int(missing.sum())
    assert row["fraction_missing"] == pytest.approx(missing.mean())


def test_derived_features_recomputed_from_imputed_inputs(cohort, imputed) -> None:
    assert cohort["egfr"].null_count() > 0  # derived from the incomplete creatinine
    for data in imputed.datasets:
        rederived = cc.derive(data.drop("egfr", "ckd_stage_g"))
        assert data["egfr"].null_count() == 0
        np.testing.assert_array_equal(data["egfr"].to_numpy(), rederived["egfr"].to_numpy())
        assert data["ckd_stage_g"].equals(rederived["ckd_stage_g"])
    assert "egfr" in imputed.excluded_predictors  # stale: never a predictor


def test_predictors_include_both_causes_indicator_and_cumulative_hazard(imputed) -> None:
    predictors = imputed.predictors["serum_creatinine"]
    for label in ("status==1", "status==2"):
        assert f"{label} (event)" in predictors and f"{label} (Nelson-Aalen H)" in predictors
    assert {"age", "sex", "diabetes", "stage"} <= set(predictors)
    assert "days" not in predictors and "participant_id" not in predictors
    assert "White & Royston" in imputed.methods_text and "m = 3" in imputed.methods_text


def test_nelson_aalen_matches_a_brute_force_sum() -> None:
    rng = np.random.default_rng(3)
    time = rng.integers(1, 30, 200).astype(float)
    event = rng.random(200) < 0.4
    expected = [
        sum(((time == t) & event).sum() / (time >= t).sum() for t in np.unique(time) if t <= ti)
        for ti in time
    ]
    np.testing.assert_allclose(nelson_aalen_at_own_time(time, event), expected, rtol=1e-13)


def test_only_stated_variables_are_imputed(cohort) -> None:
    frame = cohort.with_columns(pl.when(pl.col("age") > 80).then(None).otherwise(pl.col("age"))
                                .alias("albumin"))  # fmt: skip
    with pytest.warns(cc.ModelWarning, match="albumin"):
        result = cc.impute(frame, seed=1, **{**IMPUTE, "variables": ["diabetes"]})
    data = result.datasets[0]
    assert data["albumin"].null_count() == frame["albumin"].null_count()
    assert data["serum_creatinine"].null_count() == frame["serum_creatinine"].null_count()
    assert "albumin" in result.excluded_predictors


def test_pandas_in_pandas_out(cohort) -> None:
    frame = cohort.select("age", "sex", "diabetes", "days", "status").to_pandas()
    result = cc.impute(frame, ["diabetes"], seed=2, m=2, iterations=2, time="days", event="status")
    assert isinstance(result.datasets[0], pd.DataFrame)
    assert result.datasets[0]["diabetes"].notna().all()


def test_separation_warns(cohort) -> None:
    frame = cohort.select("age", "days", "status").with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(None)
        .otherwise((pl.col("age") > 65).cast(pl.Int64)).alias("old")
    )  # fmt: skip
    with pytest.warns(cc.ModelWarning, match="'old'.*separates"):
        cc.impute(frame, ["old"], seed=3, m=2, iterations=2, time="days", event="status")


def test_multinomial_for_unordered_categories(cohort) -> None:
    frame = cohort.select("age", "sex", "stage", "days", "status")
    frame = frame.with_columns(pl.col("stage").cast(pl.String))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cc.impute(frame, ["stage"], seed=4, m=2, iterations=2, time="days", event="status")
    assert result.methods["stage"] == "multinomial"
    assert set(result.datasets[0]["stage"].unique()) == {"low", "mid", "high"}


@pytest.mark.parametrize(
    ("change", "variables", "kwargs", "message"),
    [
        ({}, ["days"], {}, "outcome"),
        ({}, ["status"], {}, "outcome"),
        ({"cac_agatston": pl.lit(None, pl.Float64)}, ["cac_agatston"], {}, "never imputed"),
        ({}, ["egfr"], {}, "impute those inputs"),
        ({"lab": pl.lit(None, pl.Float64)}, ["lab"], {}, "missing for all"),
        ({"visit": pl.lit(None, pl.Date)}, ["visit"], {}, "cannot be imputed"),
        ({}, ["diabetes"], {"m": 1}, "m must be a whole number >= 2"),
        ({}, ["diabetes"], {"seed": None}, "seed must be"),
        (
            {"mi_days": pl.col("days")},
            ["diabetes"],
            {"time": None, "event": None},
            "no time=/event= was given",
        ),
        ({}, ["diabetes"], {"predictors": ["serum_creatinine"]}, "cannot be used"),
        ({}, [], {}, "empty"),
    ],
)
def test_setups_that_would_be_wrong_are_refused(cohort, change, variables, kwargs, message):
    frame = cohort.with_columns(**change)
    options = {"m": 2, "iterations": 1, "time": "days", "event": "status", "seed": 1, **kwargs}
    with pytest.raises(cc.CohortcalcError, match=message):
        cc.impute(frame, variables, **options)


def test_spark_frames_are_refused_with_the_alternative() -> None:
    fake = type("DataFrame", (), {"__module__": "pyspark.sql.dataframe"})()
    with pytest.raises(cc.FrameError, match="toPandas"):
        cc.impute(fake, ["x"], seed=1)


def test_figures(imputed, tmp_path) -> None:
    trace = cc.plot_imputation_trace(imputed)
    assert len(trace.axes) == 2 * len(imputed.variables)
    assert len(trace.axes[0].lines) == imputed.m  # one chain per imputation
    dist = cc.plot_imputed_vs_observed(imputed)
    assert sum(ax.get_visible() for ax in dist.axes) == len(imputed.variables)
    trace.savefig(tmp_path / "trace.png")
    dist.savefig(tmp_path / "dist.png")
    with pytest.raises(cc.ModelError, match="not imputed"):
        cc.plot_imputation_trace(imputed, ["age"])


def test_pandas_ordered_categories_and_booleans_keep_their_type(cohort) -> None:
    frame = cohort.select("age", "days", "status", "stage").to_pandas()
    frame["stage"] = frame["stage"].astype(
        pd.CategoricalDtype(["low", "mid", "high"], ordered=True)
    )
    frame["smoker"] = pd.array(
        [None if i % 5 == 0 else bool(a > 60) for i, a in enumerate(frame["age"])], "boolean"
    )
    frame["complete_lab"] = frame["age"] / 10  # stated but complete: kept, nothing imputed
    result = cc.impute(
        frame, ["stage", "smoker", "complete_lab"], seed=6, m=2, iterations=2, time="days",
        event="status",
    )  # fmt: skip
    data = result.datasets[1]
    assert data["stage"].dtype == frame["stage"].dtype and data["stage"].notna().all()
    assert data["smoker"].notna().all() and set(data["smoker"].unique()) <= {True, False}
    assert result.methods["stage"] == "pmm_ordered" and result.methods["smoker"] == "logistic"
    assert result.missing.loc["complete_lab", "n_missing"] == 0
    np.testing.assert_array_equal(data["complete_lab"], frame["complete_lab"])
    cc.plot_imputed_vs_observed(result)


def test_collinear_and_unit_scaled_predictors_keep_the_models_estimable(cohort) -> None:
    """A predictor that is an exact combination of others (a total of parts, a copy) is left
    out with the reason naming its parts, as mice's find.collinear; predictors in large units
    and a flag constant where the target is observed raise no problem: smoking-like
    categories are still imputed from their predictors, not from the observed shares."""
    rng = np.random.default_rng(3)
    n = cohort.height
    part = rng.gamma(2.0, 300.0, n)  # Agatston-like units
    frame = cohort.with_columns(
        part_a=pl.Series(part), part_b=pl.Series(part[::-1].copy()),
        age_copy=pl.col("age") * 2.0 + 1.0, age_exit=pl.col("age") + pl.col("days") / 365.25,
        rare=pl.Series(np.where(cohort["stage"].is_null().to_numpy()
                                & (np.arange(n) % 40 == 0), 1.0, 0.0)),
    ).with_columns(total=pl.col("part_a") + pl.col("part_b"))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imputed = cc.impute(frame, seed=11, **IMPUTE)
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    excluded = imputed.excluded_predictors
    assert "linear combination" in excluded["total"]
    assert "part_a" in excluded["total"] and "part_b" in excluded["total"]
    assert "(age)" in excluded["age_copy"] and "outcome" in excluded["age_exit"]
    kept = imputed.predictors["stage"]
    assert {"part_a", "part_b", "age", "rare"} <= set(kept) and "total" not in kept
