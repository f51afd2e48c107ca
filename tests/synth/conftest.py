"""Shared synthetic cohorts for tests/synth (generated once per worker)."""

from __future__ import annotations

import polars as pl
import pytest

from cohortcalc.synth import SyntheticCohort, simulate_cohort


@pytest.fixture(scope="session")
def default_cohort() -> SyntheticCohort:
    """The default cohort size (20,000) with default parameters."""
    return simulate_cohort(n=20_000, seed=2024)


@pytest.fixture(scope="session")
def default_frame(default_cohort: SyntheticCohort) -> pl.DataFrame:
    return default_cohort.analysis_frame()
