"""Multiple imputation by chained equations and Rubin's rules (``cc.impute``, ``cc.pool``).

Above ``features`` and ``survival``: it imputes raw inputs, re-derives features from them with
``cc.derive`` and pools the fits of each completed data set.

Names load their module on first use (PEP 562, as the top-level package): the worker
processes of a run import what the chains and fits need, not matplotlib. ``impute`` is
imported at once: it shares its name with its module, whose import would otherwise rebind
``cohortcalc.imputation.impute`` to the module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cohortcalc.imputation.impute import impute

if TYPE_CHECKING:
    from cohortcalc.imputation.figures import plot_imputation_trace, plot_imputed_vs_observed
    from cohortcalc.imputation.pooled_tests import PooledTest
    from cohortcalc.imputation.pooling import PooledResult, pool
    from cohortcalc.imputation.results import Imputations

#: public name -> module, loaded by ``__getattr__``.
_LAZY = {
    "Imputations": "cohortcalc.imputation.results",
    "PooledResult": "cohortcalc.imputation.pooling",
    "PooledTest": "cohortcalc.imputation.pooled_tests",
    "pool": "cohortcalc.imputation.pooling",
    "plot_imputation_trace": "cohortcalc.imputation.figures",
    "plot_imputed_vs_observed": "cohortcalc.imputation.figures",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name here."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cohortcalc.imputation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Imputations",
    "PooledResult",
    "PooledTest",
    "impute",
    "plot_imputation_trace",
    "plot_imputed_vs_observed",
    "pool",
]
