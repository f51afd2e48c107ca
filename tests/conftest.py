"""Shared pytest fixtures.

``spark``: one local-mode PySpark session per test worker (session scope), small and quiet:
``local[1]``, 2 shuffle partitions, no UI, UTC session time zone, Arrow transfers. Tests that
use it should be marked ``@pytest.mark.spark`` and kept few and small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local PySpark SparkSession shared by every test of this worker."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("cohortcalc-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")  # as cohortcalc's own
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
