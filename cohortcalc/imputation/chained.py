"""One chain of multiple imputation by chained equations (van Buuren & Groothuis-Oudshoorn
2011, J Stat Softw 45(3)), over arrays: the frame layer (``impute.py``) prepares them.

Missing values start as random draws from the variable's observed values; each iteration
visits the variables in order and re-imputes each from a model on its observed rows given the
current values of its predictors. Chains are independent, each with its own child of the
seed, so a result does not depend on how many processes ran them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass

import numpy as np

from cohortcalc.imputation import _kernels, models


@dataclass(frozen=True)
class Variable:
    """A column as the engine sees it: float values (category codes for categorical ones, NaN
    where missing), how it is imputed ("pmm", "logistic", "multinomial" or "" for a complete
    predictor), its number of levels (categorical) and, if imputed, its predictors."""

    name: str
    values: np.ndarray
    method: str
    n_levels: int = 0
    ordered: bool = False
    predictors: tuple[str, ...] = ()

    @property
    def nominal(self) -> bool:
        """Enters other models as dummies (unordered categories; ordered ones too)."""
        return self.n_levels > 2


@dataclass(frozen=True)
class Problem:
    """A suspect model fit: variable, what was wrong, in which iteration."""

    variable: str
    message: str
    iteration: int


@dataclass(frozen=True)
class ChainResult:
    """A chain's final imputed values per variable (missing rows only), the mean and SD of
    the imputed values after each iteration (iterations × variables) and its problems."""

    imputed: dict[str, np.ndarray]
    trace_mean: np.ndarray
    trace_sd: np.ndarray
    problems: tuple[Problem, ...]


def run_chains(
    variables: Sequence[Variable],
    iterations: int,
    donors: int,
    seeds: Sequence[np.random.SeedSequence],
    pool: Executor | None,
) -> Iterator[tuple[int, ChainResult]]:
    """Run one chain per seed, here or in ``pool``'s processes (the results are the same),
    yielding (index of its seed, result) as each chain finishes."""
    starts = first_starts(variables)
    if pool is None or len(seeds) == 1:
        for index, seed in enumerate(seeds):
            yield index, run_chain(variables, iterations, donors, seed, starts)
        return
    futures = {pool.submit(run_chain, variables, iterations, donors, s, starts): i
               for i, s in enumerate(seeds)}  # fmt: skip
    for future in as_completed(futures):
        yield futures[future], future.result()


def first_starts(variables: Sequence[Variable]) -> dict[str, models.Logit]:
    """Per logistic or multinomial target, its logit on the rows where it and all its
    predictors are observed: where every chain's first fit of it starts (from zero, Newton
    needs several information evaluations, more where a rare predictor nearly separates
    the categories). Computed once, before the chains, so that every chain starts alike."""
    by_name = {v.name: v for v in variables}
    starts = {}
    for v in variables:
        if v.method not in ("logistic", "multinomial"):
            continue
        parts = [by_name[p] for p in v.predictors]
        rows = ~np.isnan(v.values)
        for part in parts:
            rows &= ~np.isnan(part.values)
        x = np.column_stack([np.ones(int(rows.sum()))] + [block(p, p.values[rows]) for p in parts])
        if len(x) <= 2 * x.shape[1]:
            continue  # too few complete rows to be worth it
        fit, converged = models.logit(v.values[rows].astype(np.int64), v.n_levels, x)
        if converged:
            starts[v.name] = fit
    return starts


def run_chain(
    variables: Sequence[Variable],
    iterations: int,
    donors: int,
    seed: np.random.SeedSequence,
    starts: dict[str, models.Logit] | None = None,
) -> ChainResult:
    rng = np.random.default_rng(seed)
    by_name = {v.name: v for v in variables}
    targets = [v for v in variables if v.method]
    current = {v.name: v.values.copy() for v in variables}
    missing = {v.name: np.isnan(v.values) for v in targets}
    for v in targets:  # start: random draws from the observed values
        observed = v.values[~missing[v.name]]
        current[v.name][missing[v.name]] = rng.choice(observed, int(missing[v.name].sum()))
    blocks = {name: block(by_name[name], current[name]) for name in current}
    designs = {v.name: _Design(v, blocks, missing[v.name]) for v in targets}
    trace_mean = np.empty((iterations, len(targets)))
    trace_sd = np.empty((iterations, len(targets)))
    problems: list[Problem] = []
    fits: dict[str, models.Logit | None] = {v.name: (starts or {}).get(v.name) for v in targets}
    for iteration in range(iterations):
        for j, v in enumerate(targets):
            miss = missing[v.name]
            if not miss.any():  # a stated variable that happens to be complete
                trace_mean[iteration, j] = trace_sd[iteration, j] = np.nan
                continue
            design = designs[v.name]
            y = current[v.name][~miss]
            if v.method == "pmm":
                draw = models.pmm(y, design.observed, design.missing, rng, donors, design.gram)
            else:
                draw = models.multinomial(
                    y.astype(np.int64), v.n_levels, design.observed, design.missing, rng,
                    fits[v.name],
                )  # fmt: skip
                fits[v.name] = draw.estimate
            if draw.problem:
                problems.append(Problem(v.name, draw.problem, iteration + 1))
            current[v.name][miss] = draw.values.astype(np.float64)
            updated = block(v, current[v.name])
            for other in designs.values():
                other.update(v.name, updated)
            trace_mean[iteration, j] = draw.values.mean()
            trace_sd[iteration, j] = draw.values.std(ddof=1) if len(draw.values) > 1 else 0.0
    imputed = {v.name: current[v.name][missing[v.name]] for v in targets}
    return ChainResult(imputed, trace_mean, trace_sd, tuple(problems))


class _Design:
    """A target's model matrix (intercept, then its predictors' blocks), kept split into its
    observed and missing rows; ``update`` rewrites one predictor's columns in place after that
    predictor is re-imputed (the values a rebuilt matrix would hold, without rebuilding). A
    PMM target also keeps ``gram``, XᵀX of the observed rows, of which an update recomputes
    only that predictor's rows and columns (the same numbers as recomputing it all)."""

    def __init__(self, v: Variable, blocks: dict[str, np.ndarray], miss: np.ndarray) -> None:
        full = np.column_stack([np.ones(len(miss))] + [blocks[p] for p in v.predictors])
        self.observed, self.missing = full[~miss], full[miss]
        self._rows = (np.flatnonzero(~miss), np.flatnonzero(miss))
        self._columns: dict[str, slice] = {}
        start = 1
        for p in v.predictors:
            width = blocks[p].shape[1]
            self._columns[p] = slice(start, start + width)
            start += width
        self.gram = None
        if v.method == "pmm":
            self.gram = _kernels.weighted_gram(self.observed, np.ones(len(self.observed)))

    def update(self, name: str, block: np.ndarray) -> None:
        columns = self._columns.get(name)
        if columns is None:
            return
        self.observed[:, columns] = block.take(self._rows[0], axis=0)
        self.missing[:, columns] = block.take(self._rows[1], axis=0)
        if self.gram is not None:
            rows = _kernels.gram_rows(self.observed, columns.start, columns.stop)
            self.gram[columns, :] = rows
            self.gram[:, columns] = rows.T


def block(variable: Variable, values: np.ndarray) -> np.ndarray:
    """The variable's columns in other variables' models: itself, or K − 1 dummies."""
    if not variable.nominal:
        return values[:, None]
    return (values[:, None] == np.arange(1, variable.n_levels)[None, :]).astype(np.float64)
