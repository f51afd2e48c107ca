"""Multiple imputation by chained equations and Rubin's rules (``cc.impute``, ``cc.pool``).

Above ``features`` and ``survival``: it imputes raw inputs, re-derives features from them with
``cc.derive`` and pools the fits of each completed data set.
"""

from cohortcalc.imputation.pooled_tests import PooledTest
from cohortcalc.imputation.pooling import PooledResult, pool

__all__ = ["PooledResult", "PooledTest", "pool"]
