"""Disclosure control: the audit against brute force, and a whole run attacked by a reader
who adds and subtracts every count the run printed (issue 16, item 13)."""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.optimize import linprog

import cohortcalc as cc
from cohortcalc.reporting.disclosure import audit, protect
from cohortcalc.reporting.format import level_label

# -- the linear-programming audit -------------------------------------------------------------


def test_the_issue_example_is_recovered_by_subtraction_and_then_protected():
    # 134 events in six sites; one site has 10: with every other site and the total shown,
    # 134 - 27 - 24 - 33 - 17 - 23 = 10.
    counts = {"a": 27, "b": 24, "c": 33, "d": 17, "e": 23, "f": 10, "total": 134}
    relation = ("a", "b", "c", "d", "e", "f", "total")
    shown = {"a", "b", "c", "d", "e", "total"}
    assert audit(counts, [relation], shown, {"f"}, 11) == {"f": (10.0, 10.0)}
    result = protect(counts, [relation], dict.fromkeys(counts, 1), 11)
    assert result.primary == {"f"}
    assert result.complementary == {"d"}  # the smallest other part, not the total
    low, high = result.ranges["f"]
    assert high - low >= 1


def _two_way(cells: np.ndarray) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """A table's interior, row, column and grand totals as counts, with their relations."""
    rows, cols = cells.shape
    counts = {f"c{i}{j}": int(cells[i, j]) for i in range(rows) for j in range(cols)}
    counts |= {f"r{i}": int(cells[i].sum()) for i in range(rows)}
    counts |= {f"k{j}": int(cells[:, j].sum()) for j in range(cols)}
    counts["t"] = int(cells.sum())
    relations = [(*(f"c{i}{j}" for j in range(cols)), f"r{i}") for i in range(rows)]
    relations += [(*(f"c{i}{j}" for i in range(rows)), f"k{j}") for j in range(cols)]
    relations += [(*(f"r{i}" for i in range(rows)), "t")]
    return counts, relations


def _brute_force_range(cells, shown, small, threshold, target, cap):
    """Every integer interior (hidden cells 0..cap, small ones 1..threshold-1) whose totals
    match the shown ones: the smallest and largest value ``target`` takes."""
    rows, cols = cells.shape
    interior = [(i, j) for i in range(rows) for j in range(cols)]
    free = [(i, j) for i, j in interior if f"c{i}{j}" not in shown]
    choices = [range(1, threshold) if f"c{i}{j}" in small else range(cap + 1) for i, j in free]
    published = {k: v for k, v in _two_way(cells)[0].items() if k in shown and k[0] != "c"}
    seen = []
    for values in itertools.product(*choices):
        trial = cells.copy()
        for (i, j), value in zip(free, values, strict=True):
            trial[i, j] = value
        counts, _ = _two_way(trial)
        if all(counts[k] == v for k, v in published.items()):
            seen.append(counts[target])
    return min(seen), max(seen)


@pytest.mark.parametrize("seed", range(10))
def test_the_audit_agrees_with_enumerating_every_integer_table(seed):
    # a 2 x 3 table of small counts with its totals; a random part of it hidden
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 6, size=(2, 3))
    counts, relations = _two_way(cells)
    small = {cid for cid in counts if cid.startswith("c") and 0 < counts[cid] < 4}
    hidden = small | {cid for cid in counts if rng.random() < 0.3}
    shown = set(counts) - hidden
    found = audit(counts, relations, shown, small, threshold=4)
    cap = 9
    for target in small:
        low, high = _brute_force_range(cells, shown, small, 4, target, cap)
        assert found[target][0] == pytest.approx(low)
        if high == cap:  # only bounded by the enumeration: the audit says unbounded
            assert found[target][1] >= cap
        else:
            assert found[target][1] == pytest.approx(high)


# -- a whole run, attacked --------------------------------------------------------------------

SPEC = {
    "name": "sites",
    "title": "Disclosure test",
    "data": {"synthetic": {"n": 8000, "seed": 4}},
    "population": [{"column": "age", "op": ">=", "value": 45}],
    "exposures": [
        {"column": "cac_category", "kind": "categorical", "reference": "0", "label": "CAC"}
    ],
    "outcomes": [
        {
            "name": "mi",
            "label": "Myocardial infarction",
            "time": "mi_years",
            "status": "mi_status",
            "event_code": 1,
            "competing_code": 2,
            "methods": ["cox"],
        }
    ],
    "models": {"adjustment": [{"name": "Model 1", "covariates": ["age", "sex"]}]},
    "effect_modifiers": [{"column": "site", "label": "Site", "test": "wald"}],
    "outputs": {
        "tables": ["flow", "table_one", "incidence_rates", "hazard_ratios"],
        "figures": [],
        "table_formats": ["csv", "md"],
        "report": "html",
        "table_one_variables": ["age", "sex"],
    },
    "small_cell_threshold": 12,  # at n = 8,000 a few cells of 11: a handful of small cells
}
THRESHOLD = SPEC["small_cell_threshold"]
LEVELS = ["0", "1-100", "101-400", ">400"]


@pytest.fixture(scope="module")
def site_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sites")
    return cc.run(SPEC, out=out), out


class _Reader:
    """The attacker: one unknown per site x CAC level x MI status (0 censored, 1 MI, 2 death),
    and every printed count turned into an equation (or, for "<11", a bound)."""

    def __init__(self, sites: list[str]) -> None:
        self.cells = list(itertools.product(sites, LEVELS, (0, 1, 2)))
        self.index = {cell: i for i, cell in enumerate(self.cells)}
        self.equalities: list[tuple[np.ndarray, float]] = []
        self.bounds: list[tuple[np.ndarray, float, float]] = []

    def row(self, site=None, level=None, events=False) -> np.ndarray:
        vector = np.zeros(len(self.cells))
        for (s, lv, k), i in self.index.items():
            if (site in (None, s)) and (level in (None, lv)) and (not events or k == 1):
                vector[i] = 1.0
        return vector

    def read(self, text: str, vector: np.ndarray) -> None:
        text = text.strip()
        if text == f"<{THRESHOLD}":
            self.bounds.append((vector, 1.0, THRESHOLD - 1.0))
        elif re.fullmatch(r"[\d,]+", text):
            self.equalities.append((vector, float(text.replace(",", ""))))
        else:
            assert text == "[c]", f"unexpected count text {text!r}"

    def range(self, target: np.ndarray) -> tuple[float, float]:
        a_eq = np.array([v for v, _ in self.equalities])
        b_eq = np.array([b for _, b in self.equalities])
        a_ub = np.array([v for v, _, _ in self.bounds] + [-v for v, _, _ in self.bounds])
        b_ub = np.array([hi for _, _, hi in self.bounds] + [-lo for _, lo, _ in self.bounds])
        ends = []
        for sign in (1.0, -1.0):
            res = linprog(sign * target, A_ub=a_ub if len(a_ub) else None,
                          b_ub=b_ub if len(b_ub) else None, A_eq=a_eq, b_eq=b_eq,
                          bounds=(0, None), method="highs")  # fmt: skip
            assert res.success, res.message
            ends.append(sign * res.fun)
        return ends[0], ends[1]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _level(label: str) -> str:
    return {level_label(lv): lv for lv in LEVELS}[label.strip()]


def _read_outputs(reader: _Reader, tables: Path) -> None:
    for row in _csv(tables / "incidence_rates.csv"):
        site = None if row["Site"] == "All" else row["Site"]
        level = None if row["CAC"] == "All" else _level(row["CAC"])
        reader.read(row["Events"], reader.row(site, level, events=True))
    site = None
    for row in _csv(tables / "hr_mi_cox_by_site.csv"):
        label = row["CAC"]
        heading = re.fullmatch(r"Site: (\w+) \(n = (.+)\)", label)
        if heading:
            site = heading.group(1)
            reader.read(heading.group(2), reader.row(site))
        elif label.strip() in [level_label(lv) for lv in LEVELS]:
            reader.read(row["N"], reader.row(site, _level(label)))
            reader.read(row["Events"], reader.row(site, _level(label), events=True))
    for row in _csv(tables / "hr_mi_cox.csv"):
        if row["CAC"].strip() in [level_label(lv) for lv in LEVELS]:
            reader.read(row["N"], reader.row(None, _level(row["CAC"])))
            reader.read(row["Events"], reader.row(None, _level(row["CAC"]), events=True))
    tidy = pd.read_parquet(tables / "estimates_tidy.parquet")
    for row in tidy.itertuples():
        site = row.modifier_level if row.modifier == "site" else None
        for column, events in (("n", False), ("events", True)):
            value = getattr(row, column)
            text = "[c]" if pd.isna(value) else str(int(value))
            reader.read(text, reader.row(site, row.level, events=events))
    for row in _csv(tables / "table_one.csv"):
        if row["Characteristic"] == "Participants, n":
            reader.read(row["Overall"], reader.row())
            for level in LEVELS:
                reader.read(row[level_label(level)], reader.row(None, level))
    final = _csv(tables / "flow.csv")[-1]["Participants remaining"]
    reader.read(final, reader.row())
    footnotes = (tables / "hr_mi_cox_by_site.md").read_text(encoding="utf-8")
    analysed = re.search(r"Analysed: Model 1: n = (.+?), events = (.+?)\.", footnotes)
    quoted = list(re.finditer(r"([\d,]+|\[c\]|<\d+) \((\w+)\)", analysed.group(1)))
    for match, events in zip(quoted, analysed.group(2).split(" / "), strict=True):
        reader.read(match.group(1), reader.row(match.group(2)))
        reader.read(events, reader.row(match.group(2), events=True))


def _recovered(result, out: Path) -> list[tuple[str, str, int]]:
    """The small cells (site x CAC events) the reader pins to one value; checks the reader's
    equations hold for the data, and that there are small cells to protect."""
    frame = result.frame
    assert frame.select(pl.col("age", "sex").null_count()).sum_horizontal().item() == 0
    sites = sorted(frame.get_column("site").unique().to_list())
    reader = _Reader(sites)
    _read_outputs(reader, out / "tables")
    truth = frame.group_by("site", "cac_category").agg(
        (pl.col("mi_status") == 1).sum().alias("events")
    )
    small = [(s, lv, e) for s, lv, e in truth.iter_rows() if 0 < e < THRESHOLD]
    assert len(small) >= 3  # the run has small cells to protect
    target_value = reader.row()  # the reader's equations are true of the data
    counts = np.zeros(len(reader.cells))
    for (s, lv, k), i in reader.index.items():
        counts[i] = frame.filter(
            (pl.col("site") == s) & (pl.col("cac_category") == lv) & (pl.col("mi_status") == k)
        ).height
    for vector, value in reader.equalities:
        assert vector @ counts == value
    assert target_value @ counts == frame.height
    recovered = []
    for site, level, events in small:
        low, high = reader.range(reader.row(site, level, events=True))
        assert low - 1e-6 <= events <= high + 1e-6
        if high - low < 1 - 1e-6:
            recovered.append((site, level, events))
    return recovered


def test_no_hidden_count_of_a_run_can_be_recovered_from_everything_it_printed(site_run):
    assert _recovered(*site_run) == []


def test_without_complementary_cells_the_reader_recovers_small_counts(tmp_path, monkeypatch):
    # the control: hiding only the small cells, the same reader pins some of them exactly
    from cohortcalc.analysis import disclosure

    def small_cells_only(*args, **kwargs):
        found = protect(*args, **kwargs)
        return replace(found, complementary=frozenset())

    monkeypatch.setattr(disclosure, "protect", small_cells_only)
    result = cc.run(SPEC, out=tmp_path)
    assert _recovered(result, tmp_path) != []


def test_a_count_hidden_in_one_table_is_hidden_in_every_table(site_run):
    _, out = site_run
    rates = {
        (row["Site"], row["CAC"]): row["Events"]
        for row in _csv(out / "tables" / "incidence_rates.csv")
    }
    tidy = pd.read_parquet(out / "tables" / "estimates_tidy.parquet")
    by_site = tidy[tidy["modifier"] == "site"]
    assert by_site["suppressed"].any()
    for row in by_site.itertuples():
        shown = rates[(row.modifier_level, level_label(row.level))]
        hidden = shown in (f"<{THRESHOLD}", "[c]")
        assert pd.isna(row.events) == hidden, (row.modifier_level, row.level)
    schema = pl.read_parquet(out / "tables" / "estimates_tidy.parquet").schema
    assert schema["n"] == pl.Int64 and schema["events"] == pl.Int64
    assert schema["estimate"] == pl.Float64 and schema["suppressed"] == pl.Boolean
    assert not tidy.loc[tidy["suppressed"], "n"].isna().all()  # N shown where only events hide
