"""The public functions hand a Spark frame to the Spark engine with all their arguments."""

from __future__ import annotations

import inspect

import pytest

import cohortcalc as cc
import cohortcalc.spark as spark_engine

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("name", spark_engine.__all__)
def test_spark_functions_take_the_public_arguments(name: str) -> None:
    public = inspect.signature(getattr(cc, name)).parameters
    spark = inspect.signature(getattr(spark_engine, name)).parameters
    assert list(spark) == list(public)
    assert [p.default for p in spark.values()] == [p.default for p in public.values()]
