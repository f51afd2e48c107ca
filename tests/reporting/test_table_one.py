"""table_one: the summary rule, every value traced to the data, SMDs and p-values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.table_one import table_one


@pytest.fixture(scope="module")
def two_groups() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    return pl.DataFrame(
        {
            "grp": np.repeat(["A", "B"], n // 2),
            "normal": rng.normal(50, 10, n),
            "skewed": rng.lognormal(2, 1, n),
            "flag": rng.random(n) < np.repeat([0.2, 0.4], n // 2),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(None)
        .otherwise(pl.col("normal"))
        .alias("normal"),
        pl.when(pl.int_range(pl.len()) % 30 == 1)
        .then(None)
        .otherwise(pl.col("colour"))
        .alias("colour"),
    )


def _row(table, label: str) -> int:
    return list(table.frame["Characteristic"]).index(label)


def test_summary_rule_follows_skewness(two_groups):
    table = table_one(two_groups, by="grp", variables=["normal", "skewed"])
    labels = list(table.frame["Characteristic"])
    assert "normal, mean (SD)" in labels and "skewed, median [IQR]" in labels
    forced = table_one(two_groups, by="grp", variables=["normal"], nonnormal=["normal"])
    assert "normal, median [IQR]" in list(forced.frame["Characteristic"])
    assert "|skewness| > 1" in table.footnotes[0]


def test_continuous_values_trace_to_the_data(two_groups):
    table = table_one(two_groups, by="grp", variables=["normal", "skewed"], compare="both")
    row = _row(table, "normal, mean (SD)")
    groups = [two_groups.filter(pl.col("grp") == g)["normal"].drop_nulls().to_numpy() for g in "AB"]
    for column, x in zip(["A", "B"], groups, strict=True):
        traced = table.trace(row, column).set_index("quantity")["value"]
        assert traced["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert traced["sd"] == pytest.approx(x.std(ddof=1), rel=1e-12)
        assert table.cell(row, column) == f"{x.mean():.1f} ({x.std(ddof=1):.1f})"
    smd = abs(groups[0].mean() - groups[1].mean()) / np.sqrt(
        (groups[0].var(ddof=1) + groups[1].var(ddof=1)) / 2
    )
    assert table.trace(row, "SMD")["value"].item() == pytest.approx(smd, rel=1e-12)
    assert table.trace(row, "p")["value"].item() == pytest.approx(
        stats.ttest_ind(*groups).pvalue, rel=1e-9
    )
    assert table.cell(row, "Missing, n") == "12"
    skew_row = _row(table, "skewed, median [IQR]")
    x = two_groups["skewed"].to_numpy()
    traced = table.trace(skew_row, "Overall").set_index("quantity")["value"]
    assert traced["median"] == pytest.approx(np.median(x))
    assert traced["q3"] == pytest.approx(np.percentile(x, 75))
    kruskal = stats.kruskal(
        *[two_groups.filter(pl.col("grp") == g)["skewed"].to_numpy() for g in "AB"]
    )
    assert table.trace(skew_row, "p")["value"].item() == pytest.approx(kruskal.pvalue, rel=1e-9)


def test_binary_and_categorical_rows(two_groups):
    table = table_one(two_groups, by="grp", variables=["flag", "colour"], compare="both")
    flag_row = _row(table, "flag, n (%)")
    part = two_groups.filter(pl.col("grp") == "A")["flag"]
    assert table.cell(flag_row, "A") == f"{part.sum()} ({100 * part.mean():.1f}%)"
    p1, p2 = (two_groups.filter(pl.col("grp") == g)["flag"].mean() for g in "AB")
    smd = abs(p1 - p2) / np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    assert table.trace(flag_row, "SMD")["value"].item() == pytest.approx(smd, rel=1e-10)
    header = _row(table, "colour, n (%)")
    assert [table.frame.iloc[header + i, 0] for i in (1, 2, 3)] == ["  Blue", "  Green", "  Red"]
    observed = two_groups.filter(pl.col("grp") == "B")["colour"].drop_nulls()
    red = int((observed == "red").sum())
    assert table.cell(header + 3, "B") == f"{red} ({100 * red / observed.len():.1f}%)"
    assert table.cell(header, "Missing, n") == str(two_groups["colour"].null_count())
    crosstab = (
        two_groups.drop_nulls("colour").group_by("grp", "colour").len().pivot("colour", index="grp")
    )
    chi2 = stats.chi2_contingency(crosstab.sort("grp").select("blue", "green", "red").to_numpy())
    assert table.trace(header, "p")["value"].item() == pytest.approx(chi2.pvalue, rel=1e-10)


def test_multinomial_smd_with_two_levels_equals_the_binary_smd(two_groups):
    as_text = two_groups.with_columns(pl.col("flag").cast(pl.String).alias("flag_text"))
    table = table_one(as_text, by="grp", variables=["flag", "flag_text"])
    binary = table.trace(_row(table, "flag, n (%)"), "SMD")["value"].item()
    multinomial = table.trace(_row(table, "flag_text, n (%)"), "SMD")["value"].item()
    assert multinomial == pytest.approx(binary, rel=1e-10)


def test_cac_groups_in_order_with_participant_counts(cohort):
    table = table_one(cohort, variables=["age", "sex", "diabetes", "uacr", "ckd"])
    assert list(table.frame.columns) == [
        "Characteristic",
        "Overall",
        "0",
        "1–100",
        "101–400",
        ">400",
        "SMD",
        "Missing, n",
    ]
    counts = cohort["cac_category"].cast(pl.String).value_counts()
    for level, n in counts.iter_rows():
        assert table.cell(0, level.replace("-", "–")) == f"{n:,}"
    assert table.cell(0, "Overall") == f"{cohort.height:,}"
    assert "UACR, mg/g, median [IQR]" in list(table.frame["Characteristic"])


def test_rows_with_missing_group_are_excluded_and_said(two_groups):
    frame = two_groups.with_columns(
        pl.when(pl.int_range(pl.len()) < 7).then(None).otherwise(pl.col("grp")).alias("grp")
    )
    table = table_one(frame, by="grp", variables=["normal"])
    assert table.cell(0, "Overall") == str(two_groups.height - 7)
    assert any("7 participants with missing grp are excluded" in note for note in table.footnotes)


def test_bad_compare_is_an_error(two_groups):
    with pytest.raises(CohortcalcError, match="compare"):
        table_one(two_groups, by="grp", variables=["normal"], compare="t-test")


def test_yes_no_grouping_names_its_columns(cohort):
    table = table_one(cohort, by="ckd", variables=["age"])
    assert list(table.frame.columns)[1:4] == ["Overall", "Without CKD", "With CKD"]
    assert table.cell(0, "With CKD") == f"{int(cohort['ckd'].sum()):,}"


def test_numeric_grouping_column_is_refused(cohort):
    with pytest.raises(CohortcalcError, match="distinct values"):
        table_one(cohort, by="age", variables=["sex"])


def test_pandas_frames_give_the_same_table(cohort):
    variables = ["age", "sex", "diabetes", "uacr"]
    from_polars = table_one(cohort, variables=variables, compare="both")
    from_pandas = table_one(cohort.to_pandas(), variables=variables, compare="both")
    assert from_pandas.frame.equals(from_polars.frame)


def test_levels_in_the_dictionary_order_and_capitalised(cohort):
    table = table_one(cohort, variables=["smoking", "sex"])
    labels = list(table.frame["Characteristic"])
    start = labels.index("Smoking, n (%)")
    assert labels[start + 1 : start + 4] == ["  Never", "  Former", "  Current"]
    assert "  Female" in labels and "  female" not in labels


def test_an_entirely_missing_variable_is_left_out_with_a_note(two_groups):
    frame = two_groups.with_columns(pl.lit(None, dtype=pl.Float64).alias("pth"))
    table = table_one(frame, by="grp", variables=["normal", "pth"])
    assert not any(label.startswith("PTH") for label in table.frame["Characteristic"])
    assert "Not shown, missing for every participant: PTH, pg/mL." in table.footnotes


def test_the_summary_is_the_callers_choice_and_said(two_groups):
    table = table_one(
        two_groups, by="grp", variables=["normal", "skewed"], skew_threshold=float("inf"),
        nonnormal=["normal"],
    )  # fmt: skip
    labels = list(table.frame["Characteristic"])
    assert "normal, median [IQR]" in labels and "skewed, mean (SD)" in labels  # no skew test
    assert "median [IQR] for normal (as the analysis specifies)" in table.footnotes[0]
    assert "the two groups" in table.footnotes[1] and "√((SD₁² + SD₂²)/2)" in table.footnotes[1]


def test_smd_over_more_than_two_groups_says_which(cohort):
    table = table_one(cohort, variables=["age"])
    assert "the mean of the 6 pairwise SMDs of the 4 groups" in table.footnotes[1]
