"""Shared fixtures for the reporting tests: one small synthetic cohort and fitted models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc


@dataclass(frozen=True)
class FakeCox:
    """A stand-in following the CoxResult contract, for tests that must control the numbers."""

    summary: pd.DataFrame
    n: int
    n_events: int
    ties: str = "efron"

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.summary.index)


@dataclass(frozen=True)
class FakeFineGray:
    summary: pd.DataFrame
    n: int
    n_events: int
    cause: int = 1
    n_competing: int = 5


def fake_summary(coefs: dict[str, tuple[float, float]], z: float = 1.959963984540054):
    rows = {
        term: {
            "coef": coef,
            "se": se,
            "hr": math.exp(coef),
            "hr_lower": math.exp(coef - z * se),
            "hr_upper": math.exp(coef + z * se),
            "z": coef / se,
            "p": 0.01,
        }
        for term, (coef, se) in coefs.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.fixture(scope="session")
def fakes() -> SimpleNamespace:
    """The fake result classes and summary builder (conftest is not importable under
    pytest's importlib import mode, so tests reach them through this fixture)."""
    return SimpleNamespace(Cox=FakeCox, FineGray=FakeFineGray, summary=fake_summary)


@pytest.fixture(scope="session")
def cohort() -> pl.DataFrame:
    return cc.simulate(1500, seed=11).analysis


@pytest.fixture(scope="session")
def fake_models() -> dict[str, FakeCox]:
    model1 = fake_summary(
        {
            "cac_category[1-100]": (0.4, 0.2),
            "cac_category[101-400]": (0.8, 0.22),
            "cac_category[>400]": (1.2, 0.21),
            "age": (0.05, 0.01),
            "sex[male]": (0.3, 0.1),
        }
    )
    model2 = fake_summary(
        {
            "cac_category[1-100]": (0.3, 0.2),
            "cac_category[101-400]": (0.6, 0.23),
            "cac_category[>400]": (0.9, 0.22),
            "age": (0.04, 0.01),
            "sex[male]": (0.25, 0.1),
            "diabetes": (0.5, 0.15),
            "sbp": (0.01, 0.004),
        }
    )
    return {"Model 1": FakeCox(model1, 1500, 80), "Model 2": FakeCox(model2, 1490, 79)}
