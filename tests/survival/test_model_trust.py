"""Fits that cannot be trusted warn, naming the term, or are refused (issue 16, items 9-12).

Each case is the issue's reproduction; the same refusals on a Spark frame, with the same text,
are in tests/spark/test_spark_refusals.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ConvergenceWarning, ModelError, ModelWarning
from cohortcalc.survival.checks import FEW_CLUSTERS


def monotone_cox(n: int) -> pl.DataFrame:
    """Item 9: times 1..n, all events, x decreasing from 5 to -5: each event has the largest x
    of its risk set, so the partial likelihood rises forever as β -> +inf."""
    return pl.DataFrame(
        {"t": np.arange(1.0, n + 1), "d": np.ones(n, int), "x": np.linspace(5, -5, n)}
    )


@pytest.mark.parametrize("n", [10, 50, 200])
def test_monotone_likelihood_is_named_not_a_zero_division(n: int) -> None:
    with pytest.warns(ConvergenceWarning, match=r"monotone likelihood.*\['x'\]|\['x'\].*monotone"):
        fit = cc.cox(monotone_cox(n), "t", "d", ["x"])
    assert not fit.converged
    assert fit.summary.loc["x", "coef"] > 10  # on its way to +inf when the iterations ran out


def test_finite_fit_gives_no_monotone_warning() -> None:
    frame = monotone_cox(50).with_columns(pl.Series("x", np.sin(np.arange(50.0))))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        assert cc.cox(frame, "t", "d", ["x"]).converged


def clustered(n_clusters: int, n: int = 300, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "t": rng.exponential(1.0, n),
            "d": rng.integers(0, 2, n),
            "x": rng.normal(size=n),
            "site": np.arange(n) % n_clusters,
        }
    )


def test_one_cluster_is_refused() -> None:
    with pytest.raises(ModelError, match=r"cluster column 'site' has 1 cluster\(s\).*at least 2"):
        cc.cox(clustered(1), "t", "d", ["x"], cluster="site")


@pytest.mark.parametrize("n_clusters", [2, FEW_CLUSTERS - 1])
def test_few_clusters_warn_and_say_why(n_clusters: int) -> None:
    with pytest.warns(
        ModelWarning, match=rf"only {n_clusters} clusters of 'site'.*biased downward"
    ):
        fit = cc.cox(clustered(n_clusters), "t", "d", ["x"], cluster="site")
    assert fit.robust and fit.n_clusters == n_clusters


def test_enough_clusters_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        fit = cc.cox(clustered(FEW_CLUSTERS), "t", "d", ["x"], cluster="site")
    assert fit.n_clusters == FEW_CLUSTERS


def competing(n: int = 200, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "t": rng.exponential(1.0, n),
            "status": rng.integers(0, 3, n),
            "x": rng.normal(size=n),
            "b": (np.arange(n) == 5).astype(float),
        }
    )


def test_finegray_with_a_single_event_is_refused() -> None:
    frame = competing().with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(1).otherwise(pl.col("status") % 2 * 2)
        .alias("status")
    )  # fmt: skip
    assert (frame["status"] == 1).sum() == 1
    with pytest.raises(ModelError, match=r"only 1 event of cause 1 .*single event"):
        cc.finegray(frame, "t", "status", 1, ["x"])


def test_finegray_binary_covariate_with_a_single_one_is_refused() -> None:
    # the one row with b = 1 has an event of the cause: crr's sandwich SE would rest on it alone
    frame = competing().with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(1).otherwise(pl.col("status")).alias("status")
    )
    with pytest.raises(ModelError, match=r"\['b = 1'\] has a single row"):
        cc.finegray(frame, "t", "status", 1, ["x", "b"])


def test_finegray_monotone_likelihood_is_named() -> None:
    n = 50
    status = np.where(np.arange(n) % 7 == 0, 2, 1)
    x = np.where(status == 2, -10.0, np.linspace(5, -5, n))  # every event tops its risk set
    frame = pl.DataFrame({"t": np.arange(1.0, n + 1), "status": status, "x": x})
    with pytest.warns(ModelWarning, match=r"\['x'\].*monotone|monotone.*\['x'\]"):
        fit = cc.finegray(frame, "t", "status", 1, ["x"])
    assert not fit.converged


def test_reference_for_a_numeric_covariate_is_an_error() -> None:
    frame = clustered(40).with_columns((pl.col("site") % 3).alias("grade"))
    with pytest.raises(ModelError, match=r"numeric covariate\(s\) \['grade'\].*C\(grade\)"):
        cc.cox(frame, "t", "d", ["x", "grade"], reference={"grade": 2})
    with pytest.raises(ModelError, match=r"numeric covariate\(s\) \['x'\]"):
        cc.finegray(competing(), "t", "status", 1, ["x"], reference={"x": 0})
    fit = cc.cox(frame, "t", "d", ["x", "C(grade)"], reference={"grade": 2})
    assert fit.terms == ("x", "grade[0]", "grade[1]") and fit.reference == {"grade": "2"}
