"""A basis term (the hook of survival/terms.py, here a test hinge at a quantile) gives the local
engine's fit on Spark: knots from Spark's exact percentile, columns from its SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.survival import terms

pytestmark = pytest.mark.spark


@dataclass(frozen=True)
class Hinge:
    """Columns x and (x - knot)₊, the knot at quantile ``probability`` (R's type 7) of the
    rows used."""

    probability: float
    knot: float | None = None

    def labels(self, factor: str) -> list[str]:
        return [f"{factor}[1]", f"{factor}[2]"]

    def fit(self, distinct: np.ndarray, counts: np.ndarray) -> Hinge:
        return Hinge(
            self.probability, float(np.quantile(np.repeat(distinct, counts), self.probability))
        )

    def columns(self, x: Any, positive: Callable[[Any], Any]) -> list[Any]:
        return [x, positive(x - self.knot)]


def test_basis_fit_equals_the_local_engine(
    cohort: pl.DataFrame, spark_cohort: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(terms.BASES, "hinge", lambda args: Hinge(args[0]))
    kwargs: dict[str, Any] = {"covariates": ["hinge(age, 0.3)", "sex"]}
    local = cc.cox(cohort, "mi_days", "mi", **kwargs)
    spark = cc.cox(spark_cohort, "mi_days", "mi", **kwargs)
    assert spark.terms == local.terms
    np.testing.assert_allclose(spark.summary.to_numpy(), local.summary.to_numpy(), rtol=1e-8)
