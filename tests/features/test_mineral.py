"""Albumin-corrected calcium (Payne 1973), Ca x P product and mineral flags at their thresholds."""

from __future__ import annotations

import polars as pl
import pytest

from cohortcalc import FeatureError
from cohortcalc.features import derive


def test_payne_corrected_calcium_and_ca_x_p_hand_values() -> None:
    frame = pl.DataFrame(
        {
            "serum_calcium": [9.0, 9.0, 10.0],
            "albumin": [3.0, 4.0, 4.5],
            "serum_phosphate": [5.5, 4.0, 6.0],
        }
    )
    out = derive(frame)
    # Payne: Ca + 0.8 x (4.0 - albumin): 9.0 + 0.8 = 9.8; 9.0; 10.0 - 0.4 = 9.6
    assert out["corrected_calcium"].to_list() == pytest.approx([9.8, 9.0, 9.6])
    assert out["ca_x_p"].to_list() == pytest.approx([49.5, 36.0, 60.0])
    assert out["high_ca_x_p"].to_list() == [False, False, True]


def test_flag_thresholds_are_strict_and_null_preserving() -> None:
    frame = pl.DataFrame(
        {
            "serum_calcium": [10.5, 10.6, None],
            "albumin": [4.0, 4.0, 4.0],
            "serum_phosphate": [5.5, 5.6, None],
            "alkaline_phosphatase": [120.0, 121.0, None],
            "pth": [65.0, 65.1, None],
        }
    )
    out = derive(frame)
    assert out["hypercalcemia"].to_list() == [False, True, None]
    assert out["hyperphosphatemia"].to_list() == [False, True, None]
    assert out["high_alkaline_phosphatase"].to_list() == [False, True, None]
    assert out["high_pth"].to_list() == [False, True, None]
    assert out["high_ca_x_p"].to_list() == [True, True, None]  # 57.75 and 59.36 > 55


def test_ca_x_p_boundary_and_configurable_phosphate_threshold() -> None:
    frame = pl.DataFrame({"serum_calcium": [10.0, 10.0], "serum_phosphate": [5.5, 4.6]})
    out = derive(frame, hyperphosphatemia_above=4.5)
    assert out["high_ca_x_p"].to_list() == [False, False]  # 55.0 is not > 55
    assert out["hyperphosphatemia"].to_list() == [True, True]


def test_vitamin_d_deficiency_and_insufficiency_bands() -> None:
    out = derive(pl.DataFrame({"vitamin_d_25oh": [19.9, 20.0, 29.9, 30.0, None]}))
    assert out["vitamin_d_deficiency"].to_list() == [True, False, False, False, None]
    assert out["vitamin_d_insufficiency"].to_list() == [False, True, True, False, None]


def test_non_positive_albumin_is_an_error() -> None:
    frame = pl.DataFrame(
        {"participant_id": ["P1", "P2"], "serum_calcium": [9.0, 9.0], "albumin": [0.0, 4.0]}
    )
    with pytest.raises(FeatureError, match=r"albumin <= 0: 1 row\(s\) \(participant_id P1\)"):
        derive(frame)


def test_frames_without_ids_name_the_row() -> None:
    frame = pl.DataFrame({"serum_calcium": [9.0, 9.0, 9.5], "albumin": [4.0, -1.0, 4.0]})
    with pytest.raises(FeatureError, match=r"albumin <= 0: 1 row\(s\) \(row \(0-based\) 1\)"):
        derive(frame.to_pandas())
