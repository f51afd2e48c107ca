"""build_design: dummy coding, interactions, formulas, reference levels, missing rows, refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cohortcalc.errors import FrameError, ModelError
from cohortcalc.survival.design import build_design, parse_covariates


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(4)
    n = 60
    return pl.DataFrame(
        {
            "age": rng.normal(60, 8, n),
            "sex": rng.choice(["female", "male"], n),
            "cac_category": pl.Series(
                rng.choice(["0", "1-100", "101-400", ">400"], n),
                dtype=pl.Enum(["0", "1-100", "101-400", ">400"]),
            ),
            "ckd": rng.random(n) < 0.4,
            "days": rng.integers(1, 100, n).astype(float),
        }
    )


def test_dummy_coding_against_the_first_level(frame: pl.DataFrame) -> None:
    design = build_design(frame, ["age", "sex", "cac_category", "ckd"])
    assert design.terms == (
        "age",
        "sex[male]",
        "cac_category[1-100]",
        "cac_category[101-400]",
        "cac_category[>400]",
        "ckd[True]",
    )
    assert design.reference == {"sex": "female", "cac_category": "0", "ckd": "False"}
    male = (frame["sex"] == "male").to_numpy()
    np.testing.assert_array_equal(design.matrix[:, 1], male.astype(float))
    top = (frame["cac_category"] == ">400").to_numpy()
    np.testing.assert_array_equal(design.matrix[:, 4], top.astype(float))
    np.testing.assert_array_equal(design.matrix[:, 0], frame["age"].to_numpy())
    assert design.assign["cac_category"] == (2, 3, 4)
    assert design.matrix.flags.c_contiguous and design.matrix.dtype == np.float64


def test_reference_level_and_interactions(frame: pl.DataFrame) -> None:
    design = build_design(
        frame,
        ["age", "cac_category", "ckd", "age:sex", "cac_category:ckd"],
        reference={"cac_category": ">400"},
    )
    assert design.reference["cac_category"] == ">400"
    assert "cac_category[0]" in design.terms and "cac_category[>400]" not in design.terms
    assert "age:sex[male]" in design.terms
    assert "cac_category[0]:ckd[True]" in design.terms
    j = design.terms.index("age:sex[male]")
    expected = frame["age"].to_numpy() * (frame["sex"] == "male").to_numpy()
    np.testing.assert_allclose(design.matrix[:, j], expected)
    assert design.assign["cac_category:ckd"] == tuple(
        design.terms.index(f"cac_category[{lv}]:ckd[True]") for lv in ("0", "1-100", "101-400")
    )


def test_formula_string_equals_the_list(frame: pl.DataFrame) -> None:
    by_formula = build_design(frame, "age + sex * ckd + C(cac_category)")
    by_list = build_design(frame, ["age", "sex", "ckd", "sex:ckd", "cac_category"])
    assert set(by_formula.terms) == set(by_list.terms)
    for term in by_list.terms:
        np.testing.assert_array_equal(
            by_formula.matrix[:, by_formula.terms.index(term)],
            by_list.matrix[:, by_list.terms.index(term)],
        )
    assert parse_covariates("days ~ a*b") == [["a"], ["b"], ["a", "b"]]


def test_numeric_column_as_categorical_in_numeric_order() -> None:
    data = pd.DataFrame({"grade": [1, 2, 10, 2, 1, 10, 3]})
    design = build_design(data, ["C(grade)"])
    assert design.terms == ("grade[2]", "grade[3]", "grade[10]")


def test_pandas_categorical_order_is_kept() -> None:
    data = pd.DataFrame(
        {"dose": pd.Categorical(["high", "low", "mid", "low"], ["low", "mid", "high"])}
    )
    assert build_design(data, ["dose"]).terms == ("dose[mid]", "dose[high]")


def test_missing_rows_are_dropped_and_counted_extra_columns_aligned() -> None:
    data = pl.DataFrame(
        {"x": [1.0, None, 3.0, 4.0], "t": [5.0, 6.0, None, 8.0], "g": ["a", "b", "a", "b"]}
    )
    design = build_design(data, ["x"], columns=["t", "g"])
    assert design.n_dropped == 2 and design.n == 2
    np.testing.assert_array_equal(design.columns["t"], [5.0, 8.0])
    np.testing.assert_array_equal(design.columns["g"], [0, 1])
    assert design.column_levels["g"] == ("a", "b")


def test_refusals_name_the_column_or_term(frame: pl.DataFrame) -> None:
    with pytest.raises(FrameError, match="'bmi'"):
        build_design(frame, ["age", "bmi"])
    with pytest.raises(ModelError, match=r"'ones' is constant"):
        build_design(frame.with_columns(ones=pl.lit(1.0)), ["age", "ones"])
    with pytest.raises(ModelError, match=r"'sex' is constant"):
        build_design(frame.with_columns(sex=pl.lit("male")), ["sex"])
    with pytest.raises(ModelError, match=r"'age' has 1 NaN"):
        build_design(frame.with_columns(age=pl.Series([np.nan] + [1.0] * 59)), ["age"])
    with pytest.raises(ModelError, match="reference given for"):
        build_design(frame, ["age"], reference={"sex": "male"})
    with pytest.raises(ModelError, match="no covariates"):
        build_design(frame, [])
    with pytest.raises(ModelError, match="neither numeric nor categorical"):
        build_design(frame.with_columns(when=pl.lit(dt.date(2020, 1, 1))), ["when"])


def test_enum_and_boolean_codes_match_their_text_with_any_reference(frame: pl.DataFrame) -> None:
    """Enum and Boolean columns are coded from their physical values; same matrix as text."""
    as_text = frame.with_columns(pl.col("cac_category").cast(pl.String))
    for reference in ("0", "101-400", ">400"):
        coded = build_design(frame, ["cac_category"], reference={"cac_category": reference})
        texted = build_design(as_text, ["cac_category"], reference={"cac_category": reference})
        assert coded.terms == texted.terms
        np.testing.assert_array_equal(coded.matrix, texted.matrix)
    flipped = build_design(frame, ["ckd"], reference={"ckd": True})
    assert flipped.terms == ("ckd[False]",)
    np.testing.assert_array_equal(flipped.matrix[:, 0], (~frame["ckd"]).to_numpy().astype(float))
    unused = frame.with_columns(
        pl.col("cac_category").cast(pl.Enum(["0", "1-100", "101-400", ">400", "unused"]))
    )
    with pytest.raises(ModelError, match=r"cac_category\[unused\] has no rows"):
        build_design(unused, ["cac_category"])
