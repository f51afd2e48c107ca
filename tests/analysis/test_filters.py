"""Population filters: each operator, nulls never pass, an emptying filter names its line."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cohortcalc.analysis.filters import apply_population
from cohortcalc.analysis.spec import spec_from_dict, spec_from_text
from cohortcalc.errors import SpecError

FRAME = pl.DataFrame(
    {
        "age": [40.0, 50.0, 60.0, None, 70.0, float("nan")],
        "sex": ["male", "female", "female", "male", None, "male"],
        "ckd": [True, False, None, True, False, True],
        "cac_category": pl.Series(["0", "1-100", ">400", "0", "101-400", "0"]).cast(
            pl.Enum(["0", "1-100", "101-400", ">400"])
        ),
        "baseline_date": [dt.date(2001, 1, d) for d in range(1, 7)],
    }
)


def _kept(small_spec, *rules):
    spec = spec_from_dict(small_spec(population=list(rules)))
    kept, flow = apply_population(FRAME, spec)
    return kept, flow


@pytest.mark.parametrize(
    ("rule", "expected_ages"),
    [
        ({"column": "age", "op": ">=", "value": 50}, [50.0, 60.0, 70.0]),
        ({"column": "age", "op": "<", "value": 60}, [40.0, 50.0]),
        ({"column": "age", "op": "between", "value": [50, 60]}, [50.0, 60.0]),
        ({"column": "sex", "op": "==", "value": "male"}, [40.0, None, float("nan")]),
        ({"column": "sex", "op": "!=", "value": "male"}, [50.0, 60.0]),
        ({"column": "ckd", "op": "==", "value": False}, [50.0, 70.0]),
        ({"column": "cac_category", "op": "in", "value": ["1-100", ">400"]}, [50.0, 60.0]),
        ({"column": "age", "op": "is_null"}, [None]),
        ({"column": "ckd", "op": "not_null"}, [40.0, 50.0, None, 70.0, float("nan")]),
        ({"column": "baseline_date", "op": ">", "value": dt.date(2001, 1, 5)}, [float("nan")]),
    ],
)
def test_each_operator_keeps_the_right_rows(small_spec, rule, expected_ages):
    kept, _ = _kept(small_spec, rule)
    assert kept["age"].to_list() == pytest.approx(expected_ages, nan_ok=True)


def test_not_null_also_drops_nan(small_spec):
    kept, _ = _kept(small_spec, {"column": "age", "op": "not_null"})
    assert kept["age"].to_list() == [40.0, 50.0, 60.0, 70.0]


def test_not_in_drops_nulls_too(small_spec):
    kept, _ = _kept(small_spec, {"column": "sex", "op": "not_in", "value": ["female"]})
    assert kept["sex"].to_list() == ["male", "male", "male"]


def test_flow_counts_each_step(small_spec):
    _, flow = _kept(
        small_spec,
        {"column": "age", "op": "not_null", "label": "age known"},
        {"column": "ckd", "op": "not_null"},
    )
    assert flow["n_remaining"].to_list() == [6, 4, 3]
    assert flow["n_excluded"].to_list() == [0, 2, 1]
    assert flow["criterion"].to_list()[1:] == ["age known", "ckd not missing"]


def test_a_filter_that_empties_the_cohort_names_its_line():
    text = (
        "name: t\ntitle: t\ndata: {synthetic: {n: 500}}\npopulation:\n"
        "  - {column: age, op: '>=', value: 45}\n"
        "  - {column: age, op: '>', value: 200}\n"
        "exposures: [{column: cac_category, kind: categorical, reference: '0'}]\n"
        "outcomes: [{name: mi, time: mi_years, status: mi_status}]\n"
        "models: {adjustment: [{name: M1, covariates: [age]}]}\n"
    )
    spec = spec_from_text(text, source="t.yaml")
    with pytest.raises(SpecError, match=r"t\.yaml, line 6: filter 'age > 200' leaves no"):
        apply_population(FRAME, spec)


def test_value_of_the_wrong_type_is_an_error(small_spec):
    with pytest.raises(SpecError, match="compares a Float64 column with 'old'"):
        _kept(small_spec, {"column": "age", "op": ">", "value": "old"})


def test_unknown_filter_column_is_an_error(small_spec):
    with pytest.raises(SpecError, match="filter column 'agee' is not in the analysis frame"):
        _kept(small_spec, {"column": "agee", "op": ">", "value": 1})
