"""Every refusal of cc.cox, cc.finegray and the count-based estimators gives the same error,
word for word, from a Polars frame and from a Spark frame (the checks exist once: in
survival/checks.py, terms.py and inputs.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import CohortcalcError, ModelWarning

pytestmark = pytest.mark.spark

N = 40


def base() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "t": np.round(rng.exponential(10.0, N), 1) + 0.1,
            "d": np.arange(N) % 2,
            "status": np.arange(N) % 3,
            "x": np.round(rng.normal(size=N), 3),
            "g": np.array(["a", "b", "c", "d"])[np.arange(N) % 4],
            "b": (np.arange(N) % 5 == 1).astype(float),
            "w": np.ones(N),
            "e": np.zeros(N),
            "site": np.arange(N) % 3,
        }
    )


def at(column: str, row: int, value: Any) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Set one cell (rows are counted from 0)."""
    return lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column))
        .alias(column)
    )  # fmt: skip


def where(column: str, value: Any, condition: pl.Expr) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(
        pl.when(condition).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def same(f: pl.DataFrame) -> pl.DataFrame:
    return f


def text(column: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(pl.col(column).cast(pl.String))


def single_event(f: pl.DataFrame) -> pl.DataFrame:
    return at("status", 4, 1)(where("status", 2, pl.col("status") == 1)(f))


def single_one(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns((pl.int_range(pl.len()) == 4).cast(pl.Float64).alias("b"))


YES = ["no", "yes"]
KM = {"time": "t", "event": "d"}
COX = {"time": "t", "event": "d", "covariates": ["x", "g"]}
FG = {"time": "t", "event": "status", "cause": 1, "covariates": ["x"]}
FG_B, FG_G = {**FG, "covariates": ["x", "b"]}, {**FG, "covariates": ["x", "g"]}

CASES: dict[str, tuple[str, dict[str, Any], Callable[[pl.DataFrame], pl.DataFrame]]] = {
    "time_not_positive": ("cox", COX, at("t", 3, 0.0)),
    "time_not_positive_after_a_dropped_row": (
        "cox",
        COX,
        lambda f: at("t", 3, -1.0)(f).with_columns(at("x", 0, None)(f)["x"]),
    ),
    "time_nan": ("cox", COX, at("t", 4, float("nan"))),
    "time_text": ("cox", COX, text("t")),
    "event_codes": ("cox", COX, at("d", 2, 2)),
    "event_text": ("cox", COX, lambda f: f.with_columns(d=pl.col("d").replace_strict([0, 1], YES))),
    "negative_entry": ("cox", {**COX, "entry": "e"}, at("e", 1, -1.0)),
    "late_entry": ("cox", {**COX, "entry": "e"}, at("e", 6, 1e6)),
    "weights_not_positive": ("cox", {**COX, "weights": "w"}, at("w", 7, 0.0)),
    "no_events": ("cox", COX, lambda f: f.with_columns(pl.lit(0).alias("d"))),
    "level_without_events": ("cox", COX, where("d", 0, pl.col("g") == "c")),
    "reference_level_without_events": ("cox", COX, where("d", 0, pl.col("g") == "a")),
    "one_cluster": ("cox", {**COX, "cluster": "site"}, lambda f: f.with_columns(site=pl.lit(1))),
    "reference_not_a_covariate": ("cox", {**COX, "reference": {"zz": 1}}, same),
    "reference_numeric": ("cox", {**COX, "reference": {"x": 1}}, same),
    "reference_level_absent": ("cox", {**COX, "reference": {"g": "zz"}}, same),
    "constant_text_column": ("cox", COX, lambda f: f.with_columns(g=pl.lit("a"))),
    "constant_numeric_term": ("cox", COX, lambda f: f.with_columns(x=pl.lit(1.0))),
    "covariate_nan": ("cox", COX, at("x", 3, float("nan"))),
    "missing_column": ("cox", {**COX, "covariates": ["x", "nope"]}, same),
    "rcs_of_a_text_column": ("cox", {**COX, "covariates": ["rcs(g, 3)"]}, same),
    "rcs_nan": ("cox", {**COX, "covariates": ["rcs(x, 3)"]}, at("x", 5, float("nan"))),
    "rcs_infinite": ("cox", {**COX, "covariates": ["rcs(x, 3)"]}, at("x", 6, float("inf"))),
    "rcs_beside_its_column": ("cox", {**COX, "covariates": ["rcs(x, 3)", "x"]}, same),
    "rcs_too_few_values": ("cox", {**COX, "covariates": ["rcs(b, 3)"]}, same),
    "rcs_knots_unordered": ("cox", {**COX, "covariates": ["rcs(x, knots=[1, 0, 2])"]}, same),
    "fg_rcs_of_a_text_column": ("finegray", {**FG, "covariates": ["rcs(g, 3)"]}, same),
    "ties": ("cox", {**COX, "ties": "exact"}, same),
    "fg_cause_never_occurs": ("finegray", {**FG, "cause": 7}, same),
    "fg_all_censored": ("finegray", FG, lambda f: f.with_columns(status=pl.lit(0))),
    "fg_single_event": ("finegray", FG, single_event),
    "fg_single_row_side": ("finegray", FG_B, single_one),
    "fg_side_without_events": ("finegray", FG_B, where("status", 0, pl.col("b") == 1)),
    "fg_level_without_events": ("finegray", FG_G, where("status", 2, pl.col("g") == "b")),
    "fg_equal_codes": ("finegray", {**FG, "cause": 0}, same),
    "fg_text_cause_for_numeric_codes": ("finegray", {**FG, "cause": "mi"}, same),
    "fg_time_not_positive": ("finegray", FG, at("t", 5, 0.0)),
    "fg_weights_not_positive": ("finegray", {**FG, "weights": "w"}, at("w", 8, -1.0)),
    "km_time_negative": ("kaplan_meier", KM, at("t", 6, -2.0)),
    "km_time_nan": ("kaplan_meier", KM, at("t", 6, float("nan"))),
    "km_missing_value": ("kaplan_meier", KM, at("d", 9, None)),
    "km_event_codes": ("kaplan_meier", KM, at("d", 3, 5)),
    "km_event_text": ("kaplan_meier", KM, text("d")),
    "km_weights_not_positive": ("kaplan_meier", {**KM, "weights": "w"}, at("w", 2, 0.0)),
    "km_missing_column": ("kaplan_meier", {**KM, "by": "nope"}, same),
    "cif_cause_never_occurs": ("cumulative_incidence", {**KM, "event": "status", "cause": 7}, same),
    "rates_entry_after_exit": ("incidence_rates", {**KM, "entry": "e"}, at("e", 5, 1e6)),
    "rates_time_text": ("incidence_rates", KM, text("t")),
}  # fmt: skip


def as_spark(spark: Any, frame: pl.DataFrame) -> Any:
    """Row by row, so NaN stays NaN and None is null, as in the Polars frame."""
    return spark.createDataFrame(frame.rows(), schema=frame.columns)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.filterwarnings("ignore::cohortcalc.errors.ModelWarning")  # rcs: too few values
def test_same_refusal_from_polars_and_spark(case: str, spark: Any) -> None:
    fit, kwargs, mutate = CASES[case]
    frame = mutate(base())
    with pytest.raises(CohortcalcError) as local:
        getattr(cc, fit)(frame, **kwargs)
    with pytest.raises(CohortcalcError) as remote:
        getattr(cc, fit)(as_spark(spark, frame), **kwargs)
    assert type(remote.value) is type(local.value)
    assert str(remote.value) == str(local.value)


def test_same_few_clusters_warning_from_polars_and_spark(spark: Any) -> None:
    frame = base()
    messages = []
    for data in (frame, as_spark(spark, frame)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cc.cox(data, "t", "d", ["x"], cluster="site")
        messages.append([str(w.message) for w in caught if issubclass(w.category, ModelWarning)])
    assert messages[0] == messages[1] and "only 3 clusters of 'site'" in messages[0][0]
