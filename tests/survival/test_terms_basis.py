"""The hook where a basis (a spline, say) plugs into the shared design coding: a factor
``name(column, args)`` with ``name`` in ``terms.BASES`` expands into the basis columns, its
parameters set once from quantiles of the rows used. Shown with a test basis: a hinge at a
quantile, (x, max(x - q, 0))."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError
from cohortcalc.survival import terms


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


@pytest.fixture
def hinge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(terms.BASES, "hinge", lambda args: Hinge(args[0]))


def frame(n: int = 400, seed: int = 4) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-0.5 * x - 0.8 * np.maximum(x, 0.0)))
    return pl.DataFrame(
        {"t": t, "d": rng.integers(0, 2, n) | (t < 0.5), "x": x, "g": rng.integers(0, 2, n)}
    ).with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("x").alias("x"))


@pytest.mark.usefixtures("hinge")
def test_basis_columns_equal_the_hand_made_ones() -> None:
    data = frame()
    used = data.drop_nulls()["x"].to_numpy()
    knot = float(np.quantile(used, 0.4))  # of the rows used (the null row is dropped first)
    by_hand = data.with_columns(
        pl.col("x").alias("h1"), (pl.col("x") - knot).clip(lower_bound=0.0).alias("h2")
    )
    fit = cc.cox(data, "t", "d", ["hinge(x, 0.4)", "g"])
    expected = cc.cox(by_hand, "t", "d", ["h1", "h2", "g"])
    assert fit.terms == ("hinge(x, 0.4)[1]", "hinge(x, 0.4)[2]", "g")
    np.testing.assert_allclose(fit.summary.to_numpy(), expected.summary.to_numpy(), rtol=1e-12)
    inter = cc.cox(data, "t", "d", ["hinge(x, 0.4) * g"])
    assert inter.terms[-2:] == ("hinge(x, 0.4)[1]:g", "hinge(x, 0.4)[2]:g")


@pytest.mark.usefixtures("hinge")
def test_basis_of_a_coded_column_is_refused() -> None:
    data = frame().with_columns(pl.col("g").cast(pl.String))
    with pytest.raises(ModelError, match="needs a numeric column"):
        cc.cox(data, "t", "d", ["hinge(g, 0.5)"])


def test_an_unknown_function_is_a_column_name() -> None:
    with pytest.raises(cc.FrameError, match=r"\['nope\(x, 2\)'\] not found"):
        cc.cox(frame(), "t", "d", ["nope(x, 2)"])
