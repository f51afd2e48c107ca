"""Multiple imputation by chained equations and Rubin's rules (``cc.impute``, ``cc.pool``).

Above ``features`` and ``survival``: it imputes raw inputs, re-derives features from them with
``cc.derive`` and pools the fits of each completed data set.

Names load their module on first use (PEP 562, as the top-level package): the worker
processes of a run import what the chains and fits need, not matplotlib. ``impute`` is
imported at once: it shares its name with its module, whose import would otherwise rebind
``cohortcalc.imputation.impute`` to the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cohortcalc._lazy import lazy_names
from cohortcalc.imputation.impute import impute

if TYPE_CHECKING:
    from cohortcalc.imputation.figures import plot_imputation_trace, plot_imputed_vs_observed
    from cohortcalc.imputation.pooled_tests import PooledTest
    from cohortcalc.imputation.pooling import PooledResult, pool
    from cohortcalc.imputation.results import Imputations

__getattr__, __dir__ = lazy_names(
    globals(),
    {
        name: (f"cohortcalc.imputation.{module}", name)
        for name, module in (
            ("Imputations", "results"),
            ("PooledResult", "pooling"),
            ("PooledTest", "pooled_tests"),
            ("pool", "pooling"),
            ("plot_imputation_trace", "figures"),
            ("plot_imputed_vs_observed", "figures"),
        )
    },
)


__all__ = [
    "Imputations",
    "PooledResult",
    "PooledTest",
    "impute",
    "plot_imputation_trace",
    "plot_imputed_vs_observed",
    "pool",
]
