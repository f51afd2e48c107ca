"""The time-scale checks and the landmark after entry on the Spark engine equal the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from cohortcalc.analysis.populations import _apply_sensitivity
from cohortcalc.analysis.spark_frame import SparkFrame
from cohortcalc.analysis.spec import Outcome, Sensitivity
from cohortcalc.analysis.timescales import time_summary

pytestmark = pytest.mark.spark

ROWS = pl.DataFrame(
    {
        "participant_id": ["a", "b", "c", "d", "e", "f"],
        "age_entry": [50.0, 61.5, 70.0, None, 45.0, 80.0],
        "death_age_exit": [55.0, 61.5, 71.0, 60.0, 58.0, 79.0],  # b and f do not exit after entry
        "death_status": [1, 0, 1, 0, 0, 1],
    }
)
OUTCOME = Outcome(name="death", time_scale="age", entry="age_entry", time="death_age_exit",
                  status="death_status")  # fmt: skip


@pytest.fixture(scope="module")
def rows(spark: Any) -> SparkFrame:
    return SparkFrame(spark.createDataFrame(ROWS.to_pandas()), ROWS.schema)


def test_time_summary_matches_polars(rows: SparkFrame) -> None:
    local, remote = (
        time_summary(ROWS, OUTCOME),
        rows.time_summary("age_entry", "death_age_exit", 1.0),
    )
    assert (remote.n, remote.min_time, remote.n_not_after) == (local.n, local.min_time, 2) == (
        5, 55.0, 2)  # fmt: skip
    assert local.first_not_after == "participant_id 'b'"
    assert remote.first_not_after in ("participant_id 'b'", "participant_id 'f'")
    np.testing.assert_allclose(sorted(remote.followup_years), sorted(local.followup_years))


def test_landmark_moves_entry_on_spark_as_locally(rows: SparkFrame) -> None:
    landmark = Sensitivity(name="l", exclude_first_years=2.0)
    local = _apply_sensitivity(ROWS, landmark, OUTCOME, [])
    remote = _apply_sensitivity(rows, landmark, OUTCOME, []).df.toPandas()
    assert local["participant_id"].to_list() == ["a", "e"] == sorted(remote["participant_id"])
    assert local["age_entry"].to_list() == [52.0, 47.0]
    assert sorted(remote["age_entry"]) == [47.0, 52.0]
