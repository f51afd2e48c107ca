"""Small-cell suppression: primary cells, complementary cells, and every place a count shows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.suppression import suppress_small_cells, suppressed_cells
from cohortcalc.reporting.table_one import table_one
from cohortcalc.reporting.tables import RATE_COLUMN, hr_table


def _no_lone_hidden_cell(grid, hidden) -> None:
    for margin in grid.margins:
        assert sum(cid in hidden for cid in margin) != 1, margin


def test_primary_and_complementary_cells_by_hand():
    counts = {"a": 5, "b": 20, "c": 30, "total": 55, "d": 40, "bd": 60}
    margins = (("a", "b", "c", "total"), ("b", "d", "bd"))
    # a < 11 is hidden; then b (smallest other part of a's margin); then d (b is alone in bd).
    assert suppressed_cells(counts, margins, threshold=11) == {"a", "b", "d"}


def test_zero_is_kept_unless_asked():
    counts = {"a": 0, "b": 50, "t": 50}
    assert suppressed_cells(counts, (("a", "b", "t"),)) == set()
    assert suppressed_cells(counts, (("a", "b", "t"),), suppress_zero=True) == {"a", "b"}


def test_lone_hidden_total_hides_a_part():
    counts = {"a": 4, "b": 3, "t": 7}
    assert suppressed_cells(counts, (("a", "b", "t"),)) == {"a", "b", "t"}
    counts = {"a": 60, "b": 30, "t": 5}  # inconsistent on purpose: only t is primary
    assert suppressed_cells(counts, (("a", "b", "t"),)) == {"b", "t"}


def test_unknown_margin_cells_are_an_error():
    with pytest.raises(CohortcalcError, match="unknown count cells"):
        suppressed_cells({"a": 1}, (("a", "zzz"),))


@pytest.fixture(scope="module")
def small_events_table(cohort, fakes):
    fit = fakes.Cox(
        fakes.summary({f"cac_category[{lv}]": (0.3, 0.2) for lv in ("1-100", "101-400", ">400")}),
        cohort.height,
        50,
    )
    return hr_table(cohort, models={"Model 1": fit}, time="mi_years", event="mi_status")


def test_hr_table_hides_small_events_their_rates_and_a_complement(small_events_table):
    table = small_events_table
    events = table.values.query("quantity == 'events'").set_index("row")["value"]
    assert (events < 11).any() and (events >= 11).any()
    out = suppress_small_cells(table, threshold=11)
    hidden_rows = [row for row in range(4) if out.cell(row, "Events") in ("<11", "[c]")]
    for row in hidden_rows:
        assert out.cell(row, RATE_COLUMN) == "—"
    assert set(events[events < 11].index) < set(hidden_rows)  # primary plus a complement
    for row in hidden_rows:
        assert out.cell(row, "Events") == ("<11" if events[row] < 11 else "[c]")
    assert all(
        out.cell(row, "Events") == table.cell(row, "Events")
        for row in range(4)
        if row not in hidden_rows
    )
    hidden = suppressed_cells(table.counts.counts, table.counts.margins, 11)
    _no_lone_hidden_cell(table.counts, hidden)
    assert any('shown as "<11"' in note for note in out.footnotes)
    kept = out.values.query("quantity == 'events'")["row"].tolist()
    assert not set(kept) & set(hidden_rows)  # hidden numbers leave the trace too


def test_table_one_binary_row_small_cell_and_complements():
    rng = np.random.default_rng(4)
    n = 400
    group = np.where(np.arange(n) < 200, "A", "B")
    flag = np.zeros(n, dtype=bool)
    flag[:5] = True  # 5 in group a: a primary small cell
    flag[200:260] = True  # 60 in group b
    frame = pl.DataFrame({"grp": group, "flag": flag, "x": rng.normal(size=n)})
    table = table_one(frame, by="grp", variables=["flag", "x"])
    out = suppress_small_cells(table, threshold=11)
    row = list(out.frame["Characteristic"]).index("flag, n (%)")
    assert out.cell(row, "A") == "<11"
    # group b or overall must hide too, or 65 - b gives a back.
    assert "[c]" in (out.cell(row, "B"), out.cell(row, "Overall"))
    assert "5" not in out.cell(row, "A")
    assert out.cell(0, "A") == "200"  # the N row is untouched
    hidden = suppressed_cells(table.counts.counts, table.counts.margins, 11)
    _no_lone_hidden_cell(table.counts, hidden)


def test_table_one_complement_of_a_yes_no_row():
    """'No' is not printed, but it is N - 'yes'; a small 'no' hides the 'yes' cell."""
    flag = np.ones(300, dtype=bool)
    flag[:3] = False  # three "no" in group a, which has 150 rows
    frame = pl.DataFrame({"grp": np.repeat(["A", "B"], 150), "flag": flag})
    out = suppress_small_cells(table_one(frame, by="grp", variables=["flag"]), threshold=11)
    row = list(out.frame["Characteristic"]).index("flag, n (%)")
    assert out.cell(row, "A") == "[c]"  # 147 is not small: it is hidden, not mislabelled
    same = suppress_small_cells(
        table_one(frame, by="grp", variables=["flag"]), complement_label="<11"
    )
    assert same.cell(row, "A") == "<11"


def test_suppression_needs_a_count_layout(small_events_table):
    once = suppress_small_cells(small_events_table)
    with pytest.raises(CohortcalcError, match="count layout"):
        suppress_small_cells(once)


@given(
    cells=st.lists(
        st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=4),
        min_size=2,
        max_size=4,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1),
    threshold=st.sampled_from([5, 11]),
)
@settings(max_examples=150, deadline=None)
def test_no_hidden_count_can_be_recovered_from_one_margin(cells, threshold):
    """A two-way table with printed row, column and grand totals: after suppression every small
    count is hidden and no margin has exactly one hidden member (it could be subtracted out)."""
    counts: dict[str, int] = {}
    for i, row in enumerate(cells):
        for j, n in enumerate(row):
            counts[f"c{i}.{j}"] = n
        counts[f"r{i}"] = sum(row)
    for j in range(len(cells[0])):
        counts[f"k{j}"] = sum(row[j] for row in cells)
    counts["all"] = sum(map(sum, cells))
    margins = [(*(f"c{i}.{j}" for j in range(len(cells[0]))), f"r{i}") for i in range(len(cells))]
    margins += [(*(f"c{i}.{j}" for i in range(len(cells))), f"k{j}") for j in range(len(cells[0]))]
    margins += [(*(f"r{i}" for i in range(len(cells))), "all")]
    margins += [(*(f"k{j}" for j in range(len(cells[0]))), "all")]
    hidden = suppressed_cells(counts, tuple(margins), threshold)
    assert {cid for cid, n in counts.items() if 0 < n < threshold} <= hidden
    for margin in margins:
        assert sum(cid in hidden for cid in margin) != 1


def test_small_counts_in_footnotes_are_suppressed(cohort, fakes):
    levels = ("1-100", "101-400", ">400")
    summary = fakes.summary({f"cac_category[{lv}]": (0.3, 0.2) for lv in levels})
    fit, small = fakes.Cox(summary, 1500, 8), fakes.Cox(summary, 9, 2)
    table = hr_table(
        cohort,
        models={"Model 1": {True: fit, False: small}},
        time="mi_years",
        event="mi_status",
        modifier="ckd",
    )
    expected = "n = 1,500 (with CKD) / 9 (without CKD), events = 8 / 2"
    assert any(expected in note for note in table.footnotes)
    out = suppress_small_cells(table)
    hidden = "n = 1,500 (with CKD) / <11 (without CKD), events = <11 / <11"
    assert any(hidden in note for note in out.footnotes)
