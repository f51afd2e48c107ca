"""Table 1: baseline characteristics by group (CAC category by default).

Continuous variables print as mean (SD), or as median [IQR] when the sample skewness
(adjusted Fisher–Pearson, scipy.stats.skew(bias=False)) exceeds ``skew_threshold`` in absolute
value (default 1, a common rule of thumb: Bulmer, Principles of Statistics, 1979) or when the
variable is listed in ``nonnormal``. Categorical variables print as n (%), with the column
percentage among non-missing values. Group differences are shown as standardized mean
differences (Yang & Dalton, SAS Global Forum 2012, paper 335; averaged over all pairs of groups
as R tableone does) and/or p-values (ANOVA or Kruskal–Wallis; chi-squared test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from cohortcalc.errors import CohortcalcError
from cohortcalc.frames import to_polars
from cohortcalc.reporting.format import (
    VARIABLE_LABELS,
    decimals_for,
    format_count,
    format_count_percent,
    format_mean_sd,
    format_median_iqr,
    format_number,
    format_p,
    level_label,
    stratum_heading,
    variable_label,
)
from cohortcalc.reporting.table import NOT_MISSING, Table
from cohortcalc.reporting.tables import CAC_LEVELS, _Rows

Compare = Literal["smd", "p", "both"]
OVERALL = "Overall"
MISSING = "Missing, n"
MAX_GROUPS = 12


def table_one(
    frame: Any,
    *,
    by: str = "cac_category",
    variables: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    nonnormal: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    skew_threshold: float = 1.0,
    compare: Compare = "smd",
    overall: bool = True,
    title: str | None = None,
) -> Table:
    """Baseline characteristics by ``by``: one row per continuous or yes/no variable, a header
    and one row per level for other categorical variables, a "Missing, n" column, and SMD
    and/or p columns. ``variables`` defaults to the canonical baseline variables present.
    """
    if compare not in ("smd", "p", "both"):
        raise CohortcalcError(f"compare must be 'smd', 'p' or 'both', got {compare!r}.")
    if variables is None:
        present = to_polars(frame).columns
        variables = [v for v in VARIABLE_LABELS if v in present and v != by]
    variables = [v for v in variables if v != by]
    data = to_polars(frame, [by, *variables])
    empty = [v for v in variables if _n_missing(data[v]) == data.height]
    variables = [v for v in variables if v not in empty]
    kinds = {v: _kind(data[v], v in categorical) for v in variables}
    data = data.with_columns(
        pl.col(v).cast(pl.Boolean) for v, kind in kinds.items() if kind == "binary"
    )
    dropped = data[by].null_count()
    data = data.filter(pl.col(by).is_not_null())
    groups = _groups(data, by)
    group_columns = [_group_column(g, by, labels) for g in groups]
    stat_columns = {"smd": ["SMD"], "p": ["p"], "both": ["SMD", "p"]}[compare]
    columns = ["Characteristic", *([OVERALL] if overall else []), *group_columns]
    rows = _Rows([*columns, *stat_columns, MISSING])
    parts = [data.filter(pl.col(by) == g) for g in groups]
    context = _Context(rows, data, parts, group_columns, overall, labels)
    context.where = {OVERALL: ((by, NOT_MISSING),)} | {
        column: ((by, group),) for column, group in zip(group_columns, groups, strict=True)
    }
    _n_row(context)
    for variable in variables:
        if kinds[variable] == "continuous":
            _continuous(context, variable, skew_threshold, nonnormal)
        else:
            _categorical(context, variable, kinds[variable] == "binary")
    for column in context.columns:  # a column's percentages reveal its N
        rows.shares[f"N|{column}"] = tuple(
            (i, column) for i, row in enumerate(rows.rows) if "%)" in row.get(column, "")
        )
    notes = _footnotes(by, skew_threshold, compare, dropped, len(groups), nonnormal)
    if empty:
        names = ", ".join(variable_label(v, labels) for v in empty)
        notes.append(f"Not shown, missing for every participant: {names}.")
    default = f"Baseline characteristics by {variable_label(by, labels)}"
    return rows.table(title or default, notes)


class _Context:
    """What every row builder needs: the rows so far, the columns and their samples."""

    def __init__(
        self,
        rows: _Rows,
        data: pl.DataFrame,
        parts: list[pl.DataFrame],
        group_columns: list[str],
        overall: bool,
        labels: dict[str, str] | None,
    ) -> None:
        self.rows = rows
        self.columns = ([OVERALL] if overall else []) + list(group_columns)
        self.samples: list[pl.DataFrame] = ([data] if overall else []) + list(parts)
        self.parts: list[pl.DataFrame] = list(parts)
        self.group_columns = list(group_columns)
        self.labels = labels
        self.where: dict[str, tuple[tuple[str, Any], ...]] = {}


def _groups(data: pl.DataFrame, by: str) -> list[Any]:
    values = [v for v in data[by].unique().to_list() if v is not None]
    if not values:
        raise CohortcalcError(f"grouping column {by!r} has no non-missing values.")
    if len(values) > MAX_GROUPS:
        raise CohortcalcError(
            f"grouping column {by!r} has {len(values)} distinct values; Table 1 takes at most "
            f"{MAX_GROUPS} groups. Group a categorical column (e.g. cac_category), not a number."
        )
    if set(map(str, values)) <= set(CAC_LEVELS):
        return [v for level in CAC_LEVELS for v in values if str(v) == level]
    if all(isinstance(v, bool) for v in values):
        return sorted(values)  # without, then with: as the HR tables and figures
    return sorted(values)


def _kind(series: pl.Series, forced_categorical: bool) -> str:
    if series.dtype == pl.Boolean:
        return "binary"
    if forced_categorical or not series.dtype.is_numeric():
        return "categorical"
    if set(series.drop_nulls().unique().to_list()) <= {0, 1} and series.n_unique() <= 3:
        return "binary"
    return "continuous"


def _n_row(ctx: _Context) -> None:
    row = ctx.rows.add({"Characteristic": "Participants, n"})
    for column, sample in zip(ctx.columns, ctx.samples, strict=True):
        ctx.rows.rows[row][column] = format_count(sample.height)
        ctx.rows.record(row, column, "n", sample.height, f"rows in {column}")
        ctx.rows.count(f"N|{column}", sample.height, (row, column), where=ctx.where[column])
    if OVERALL in ctx.columns:
        ctx.rows.margins.append((*(f"N|{c}" for c in ctx.group_columns), f"N|{OVERALL}"))


def _n_missing(series: pl.Series) -> int:
    missing = series.null_count()
    if series.dtype.is_float():
        missing += int(series.is_nan().sum() or 0)
    return int(missing)


def _missing_cell(ctx: _Context, row: int, variable: str) -> None:
    missing = [_n_missing(part[variable]) for part in ctx.parts]
    total = sum(missing)
    ctx.rows.rows[row][MISSING] = format_count(total)
    ctx.rows.record(row, MISSING, "missing", total, f"missing {variable}, all groups")
    absent = ((variable, None),)
    ctx.rows.count(
        f"{variable}|missing|all", total, (row, MISSING), where=ctx.where[OVERALL] + absent
    )
    for column, count in zip(ctx.group_columns, missing, strict=True):
        where = ctx.where[column] + absent
        ctx.rows.count(f"{variable}|missing|{column}", count, None, where=where)
    ctx.rows.margins.append(
        (*(f"{variable}|missing|{c}" for c in ctx.group_columns), f"{variable}|missing|all")
    )


def _finite(series: pl.Series) -> np.ndarray:
    values = series.cast(pl.Float64).drop_nulls().to_numpy()
    return values[np.isfinite(values)]


def _continuous(ctx: _Context, variable: str, threshold: float, nonnormal: Sequence[str]) -> str:
    groups = [_finite(part[variable]) for part in ctx.parts]
    pooled = np.concatenate(groups)
    skew = float(stats.skew(pooled, bias=False)) if pooled.size > 2 else 0.0
    use_median = variable in nonnormal or abs(skew) > threshold
    style = "median [IQR]" if use_median else "mean (SD)"
    row = ctx.rows.add({"Characteristic": f"{variable_label(variable, ctx.labels)}, {style}"})
    spread = np.subtract(*np.percentile(pooled, [75, 25])) if use_median else pooled.std()
    decimals = decimals_for(float(spread) if pooled.size > 1 else float("nan"))
    for column, sample in zip(ctx.columns, ctx.samples, strict=True):
        x = _finite(sample[variable])
        source = f"{variable} in {column} (n = {x.size})"
        if use_median:
            q1, median, q3 = np.percentile(x, [25, 50, 75]) if x.size else [np.nan] * 3
            ctx.rows.rows[row][column] = format_median_iqr(median, q1, q3, decimals)
            quantities = {"median": median, "q1": q1, "q3": q3}
        else:
            mean, sd = (x.mean(), x.std(ddof=1)) if x.size > 1 else (np.nan, np.nan)
            ctx.rows.rows[row][column] = format_mean_sd(mean, sd, decimals)
            quantities = {"mean": mean, "sd": sd}
        for quantity, value in quantities.items():
            ctx.rows.record(row, column, quantity, value, source)
    smd = _mean_pairwise(groups, _smd_continuous)
    p = _p_continuous(groups, use_median)
    _compare_cells(ctx, row, variable, smd, p, "Kruskal–Wallis" if use_median else "ANOVA")
    _missing_cell(ctx, row, variable)
    return style


def _categorical(ctx: _Context, variable: str, binary: bool) -> str:
    series = pl.concat([part[variable] for part in ctx.parts])
    levels = [True] if binary else _all_levels(series, binary, variable)
    label = f"{variable_label(variable, ctx.labels)}, n (%)"
    header = ctx.rows.add({"Characteristic": label})
    all_levels = _all_levels(series, binary, variable)
    tables = np.array(
        [[int((part[variable] == level).sum()) for level in all_levels] for part in ctx.parts]
    )
    smd = _mean_pairwise(list(tables), _smd_categorical)
    observed = tables[tables.sum(axis=1) > 0][:, tables.sum(axis=0) > 0]
    p = float(stats.chi2_contingency(observed)[1]) if min(observed.shape) > 1 else None
    _compare_cells(ctx, header, variable, smd, p, "chi-squared")
    _missing_cell(ctx, header, variable)
    for level in levels:
        row = header if binary else ctx.rows.add({"Characteristic": f"  {level_label(level)}"})
        _level_cells(ctx, row, variable, level)
    _category_margins(ctx, variable, all_levels)
    return "n (%)"


def _all_levels(series: pl.Series, binary: bool, variable: str) -> list[Any]:
    """[True, False] for yes/no; else the data dictionary's order of the codes (never,
    former, current), then any other values sorted."""
    if binary:
        return [True, False]
    present = sorted(v for v in series.unique().to_list() if v is not None)
    order = [code for code in dictionary_codes().get(variable, ()) if code in present]
    return order + [v for v in present if v not in order]


@lru_cache(maxsize=1)
def dictionary_codes() -> dict[str, tuple[str, ...]]:
    """Each categorical variable's codes in the data dictionary's (natural) order."""
    from cohortcalc.dictionary import load_dictionary

    dictionary = load_dictionary()
    return {
        variable.name: tuple(variable.codes)
        for table in dictionary.tables.values()
        for variable in table.variables
        if variable.codes
    }


def _level_cells(ctx: _Context, row: int, variable: str, level: Any) -> None:
    for column, sample in zip(ctx.columns, ctx.samples, strict=True):
        observed = sample[variable].drop_nulls()
        count = int((observed == level).sum())
        ctx.rows.rows[row][column] = format_count_percent(count, observed.len())
        pct = 100.0 * count / observed.len() if observed.len() else np.nan
        source = f"{variable} == {level!r} in {column} (of {observed.len()} non-missing)"
        ctx.rows.record(row, column, "n", count, source)
        ctx.rows.record(row, column, "percent", pct, source)
        where = ctx.where[column] + ((variable, level),)
        ctx.rows.count(f"{variable}|{level}|{column}", count, (row, column), where=where)


def _category_margins(ctx: _Context, variable: str, levels: list[Any]) -> None:
    """Levels + missing add up to the group N; groups add up to the overall column."""
    counts = ctx.rows.counts
    for column, sample in zip(ctx.columns, ctx.samples, strict=True):
        observed = sample[variable].drop_nulls()
        for level in levels:
            cid = f"{variable}|{level}|{column}"
            if cid not in counts:
                where = ctx.where[column] + ((variable, level),)
                ctx.rows.count(cid, int((observed == level).sum()), None, where=where)
        if column == OVERALL:
            continue
        parts = [f"{variable}|{level}|{column}" for level in levels]
        ctx.rows.margins.append((*parts, f"{variable}|missing|{column}", f"N|{column}"))
    if OVERALL in ctx.columns:
        for level in levels:
            parts = [f"{variable}|{level}|{c}" for c in ctx.group_columns]
            ctx.rows.margins.append((*parts, f"{variable}|{level}|{OVERALL}"))


def _compare_cells(ctx: _Context, row: int, variable: str, smd, p, test: str) -> None:
    if "SMD" in ctx.rows.columns:
        ctx.rows.rows[row]["SMD"] = format_number(smd, 2)
        ctx.rows.record(row, "SMD", "smd", smd, f"{variable}: mean pairwise SMD")
    if "p" in ctx.rows.columns:
        ctx.rows.rows[row]["p"] = format_p(p)
        ctx.rows.record(row, "p", "p", p if p is not None else np.nan, f"{variable}: {test}")


def _mean_pairwise(groups: list, smd) -> float:
    values = [smd(a, b) for a, b in combinations(groups, 2)]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _smd_continuous(a: np.ndarray, b: np.ndarray) -> float:
    """|mean_a - mean_b| / sqrt((var_a + var_b) / 2) (Yang & Dalton 2012, eq. 1)."""
    if a.size < 2 or b.size < 2:
        return float("nan")
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0)
    return float(abs(a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def _smd_categorical(a: np.ndarray, b: np.ndarray) -> float:
    """Multinomial SMD sqrt((T-C)' S^-1 (T-C)) (Yang & Dalton 2012, eq. 3), first level dropped."""
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    t, c = (a / a.sum())[1:], (b / b.sum())[1:]
    cov = (np.diag(t) - np.outer(t, t) + np.diag(c) - np.outer(c, c)) / 2.0
    diff = t - c
    return float(np.sqrt(max(diff @ np.linalg.pinv(cov) @ diff, 0.0)))


def _p_continuous(groups: list[np.ndarray], use_median: bool) -> float | None:
    usable = [g for g in groups if g.size > 1]
    if len(usable) < 2:
        return None
    test = stats.kruskal if use_median else stats.f_oneway
    return float(test(*usable).pvalue)


def _group_column(group: Any, by: str, labels: dict[str, str] | None) -> str:
    """Column header of a group: its value, or "CKD: Yes" for a yes/no grouping."""
    if isinstance(group, bool):
        return stratum_heading(by, group, labels)
    return level_label(group)


def _footnotes(
    by: str, threshold: float, compare: str, dropped: int, groups: int, nonnormal: Sequence[str]
) -> list[str]:
    if math.isinf(threshold):
        listed = ", ".join(variable_label(v).split(", ")[0] for v in nonnormal)
        rule = f"median [IQR] for {listed}" if listed else "no median [IQR]"
        summary = f"Continuous variables: mean (SD), {rule} (as the analysis specifies)"
    else:
        summary = (
            f"Continuous variables: mean (SD), or median [IQR] when |skewness| > {threshold:g}"
        )
    notes = [f"{summary}; categorical variables: n (% of non-missing)."]
    if compare in ("smd", "both"):
        pairs = groups * (groups - 1) // 2
        across = (
            "between the two groups" if groups == 2
            else f"the mean of the {pairs} pairwise SMDs of the {groups} groups (as R tableone)"
        )  # fmt: skip
        notes.append(
            "SMD, standardized mean difference (Yang & Dalton 2012): |difference in means| / "
            "√((SD₁² + SD₂²)/2) for continuous variables, the multinomial (Mahalanobis) form "
            f"for categorical ones; {across}."
        )
    if compare in ("p", "both"):
        notes.append(
            "p: ANOVA (mean) or Kruskal–Wallis (median) for continuous variables, "
            "chi-squared test for categorical variables."
        )
    if dropped:
        notes.append(f"{format_count(dropped)} participants with missing {by} are excluded.")
    return notes
