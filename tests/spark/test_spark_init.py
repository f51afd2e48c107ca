"""The Spark engine implements the engine interface; its count-based functions take the public
arguments; the model layer and the engine do not import each other."""

from __future__ import annotations

import inspect

import pytest

import cohortcalc as cc
import cohortcalc.spark as spark_engine
from cohortcalc.survival import local

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("name", ["kaplan_meier", "cumulative_incidence", "incidence_rates"])
def test_spark_functions_take_the_public_arguments(name: str) -> None:
    public = inspect.signature(getattr(cc, name)).parameters
    spark = inspect.signature(getattr(spark_engine, name)).parameters
    assert list(spark) == list(public)
    assert [p.default for p in spark.values()] == [p.default for p in public.values()]


@pytest.mark.parametrize("name", ["cox_rows", "finegray_rows"])
def test_spark_engine_supplies_what_the_local_engine_supplies(name: str) -> None:
    local_signature = inspect.signature(getattr(local, name)).parameters
    assert list(inspect.signature(getattr(spark_engine, name)).parameters) == list(local_signature)
