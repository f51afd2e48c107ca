"""The frozen result of ``cc.impute``: completed data sets and their diagnostics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.imputation.chained import ChainResult, Problem, Variable

_METHOD_TEXT = {
    "pmm": "predictive mean matching ({donors} donors)",
    "pmm_ordered": "predictive mean matching on the ordered categories",
    "logistic": "logistic regression",
    "multinomial": "multinomial logistic regression",
}


@dataclass(frozen=True, eq=False)
class Imputations:
    """m completed data sets (``datasets``) and how they were made.

    ``missing``: per variable n, n_missing, fraction_missing, method, n_predictors.
    ``trace``: long table variable, iteration, imputation, mean, sd of the imputed values
    after each iteration (convergence: chains should mix, no trend). ``imputed``: per variable
    the m × n_missing imputed values (category labels for categorical ones); ``observed`` the
    observed values; ``levels`` the categories of categorical ones, in order;
    ``excluded_predictors``: columns left out of the models and why;
    ``problems``: (imputation, variable, message, iteration) of suspect model fits.
    Fit the analysis on each data set and combine with ``cc.pool``.
    """

    datasets: tuple[Any, ...]
    variables: tuple[str, ...]
    methods: Mapping[str, str]
    predictors: Mapping[str, tuple[str, ...]]
    m: int
    iterations: int
    seed: int
    donors: int
    outcomes: tuple[tuple[str, str], ...]
    missing: pd.DataFrame
    trace: pd.DataFrame
    imputed: Mapping[str, np.ndarray] = field(repr=False)
    observed: Mapping[str, np.ndarray] = field(repr=False)
    levels: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    excluded_predictors: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[tuple[int, Problem], ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """One sentence per variable whose imputation model was suspect, with how often."""
        by_variable: dict[str, list[tuple[int, Problem]]] = {}
        for chain, problem in self.problems:
            by_variable.setdefault(problem.variable, []).append((chain, problem))
        out = []
        for variable, found in by_variable.items():
            chains = sorted({c for c, _ in found})
            out.append(
                f"imputation model of {variable!r}: {found[0][1].message} (in {len(found)} of "
                f"{self.m * self.iterations} fits, imputations {[c + 1 for c in chains]}); "
                "inspect it (cc.plot_imputed_vs_observed), simplify its predictors or recode it."
            )
        incomplete = [n for n, r in self.excluded_predictors.items() if "missing value" in r]
        if incomplete:
            out.append(
                f"column(s) {incomplete} have missing values and are not imputed, so they were "
                "left out of the imputation models; if an analysis uses them, add them to "
                "variables=."
            )
        return tuple(out)

    @property
    def methods_text(self) -> str:
        """A methods-section paragraph describing the imputation."""
        rows = self.missing
        listed = ", ".join(
            f"{name} ({100 * rows.loc[name, 'fraction_missing']:.1f}% missing, "
            f"{self._method_text(name)})"
            for name in self.variables
        )
        outcome = ""
        if self.outcomes:
            names = ", ".join(f"{event} (time {time})" for time, event in self.outcomes)
            outcome = (
                f" Each imputation model included the other imputed variables, the complete "
                f"covariates, and for the outcome(s) {names} the event indicator and "
                "Nelson–Aalen cumulative hazard of each cause (White & Royston 2009)."
            )
        return (
            f"Missing values of {listed} were imputed by multiple imputation by chained "
            f"equations (m = {self.m} imputations, {self.iterations} iterations, seed "
            f"{self.seed}).{outcome} Derived variables were computed from the imputed values. "
            "Estimates from the completed data sets were combined by Rubin's rules, with "
            "Barnard–Rubin degrees of freedom."
        )

    def _method_text(self, name: str) -> str:
        return _METHOD_TEXT[self.methods[name]].format(donors=self.donors)


def summarise(
    datasets: Sequence[Any],
    targets: Sequence[Variable],
    codings: Mapping[str, Any],
    chains: Sequence[ChainResult],
    excluded: Mapping[str, str],
    outcomes: Sequence[tuple[str, str]],
    m: int,
    iterations: int,
    seed: int,
    donors: int,
) -> Imputations:
    """Assemble ``Imputations`` from the chains (diagnostic tables, labels restored)."""
    methods = {v.name: "pmm_ordered" if v.ordered else v.method for v in targets}
    n = len(targets[0].values)
    missing = pd.DataFrame(
        {
            "n": n,
            "n_missing": [int(np.isnan(v.values).sum()) for v in targets],
            "method": [methods[v.name] for v in targets],
            "n_predictors": [len(v.predictors) for v in targets],
        },
        index=pd.Index([v.name for v in targets], name="variable"),
    )
    missing.insert(2, "fraction_missing", missing["n_missing"] / n)
    records = []
    for chain_index, chain in enumerate(chains):
        for j, v in enumerate(targets):
            for it in range(iterations):
                mean, sd = chain.trace_mean[it, j], chain.trace_sd[it, j]
                records.append((v.name, it + 1, chain_index + 1, mean, sd))
    trace = pd.DataFrame(records, columns=["variable", "iteration", "imputation", "mean", "sd"])
    imputed, observed = {}, {}
    for v in targets:
        values = np.stack([chain.imputed[v.name] for chain in chains])
        seen = v.values[~np.isnan(v.values)]
        labels = codings[v.name].labels
        if labels is not None:
            lookup = np.asarray(labels, dtype=object)
            values, seen = lookup[values.astype(np.int64)], lookup[seen.astype(np.int64)]
        imputed[v.name], observed[v.name] = values, seen
    problems = tuple((i, p) for i, chain in enumerate(chains) for p in chain.problems)
    return Imputations(
        tuple(datasets), tuple(v.name for v in targets), methods,
        {v.name: v.predictors for v in targets}, m, iterations, seed, donors,
        tuple(outcomes), missing, trace, imputed, observed,
        {v.name: codings[v.name].labels for v in targets if codings[v.name].labels is not None},
        dict(excluded), problems,
    )  # fmt: skip
