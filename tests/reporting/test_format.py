"""Number formatting: one rule per kind of number."""

from __future__ import annotations

import math

import pytest

from cohortcalc.reporting.format import (
    decimals_for,
    format_count,
    format_count_percent,
    format_df,
    format_number,
    format_p,
    format_ratio_ci,
    short_label,
    stratum_label,
)


@pytest.mark.parametrize(
    ("p", "plain", "prefixed"),
    [
        (0.0004, "<0.001", "p < 0.001"),
        (0.001, "0.001", "p = 0.001"),
        (0.0421, "0.042", "p = 0.042"),
        (0.5, "0.500", "p = 0.500"),
        (0.999, ">0.99", "p > 0.99"),
    ],
)
def test_p_values(p, plain, prefixed):
    assert format_p(p) == plain
    assert format_p(p, prefix=True) == prefixed


def test_p_outside_unit_interval_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        format_p(1.2)


def test_ratio_two_decimals_en_dash():
    assert format_ratio_ci(1.5249, 1.2051, 1.9149) == "1.52 (1.21–1.91)"
    assert format_ratio_ci(math.nan, 1.0, 2.0) == "—"


def test_counts_numbers_and_percentages():
    assert format_count(12345) == "12,345"
    assert format_number(12345.67) == "12,345.7"
    assert format_number(-0.04) == "0.0"  # no negative zero
    assert format_count_percent(1, 3) == "1 (33.3%)"
    assert format_count(None) == "—"


def test_decimals_follow_the_spread():
    assert [decimals_for(s) for s in (25.0, 9.3, 0.43)] == [0, 1, 2]


def test_labels():
    assert short_label("age") == "age"
    assert short_label("egfr") == "eGFR"
    assert short_label("uacr") == "UACR"
    assert stratum_label(True) == "Yes" and stratum_label("1-100") == "1-100"


def test_denominator_df_of_a_pooled_f_test() -> None:
    assert format_df(894.04) == "894.0"
    assert format_df(4796.0) == "4,796.0"
    assert format_df(1.2e40) == "> 100,000"
    assert format_df(float("inf")) == "∞"
