"""The registry-scale engine: cohortcalc's models on PySpark DataFrames.

An engine in the sense of ``survival/engine.py`` (registered for PySpark frames by the package
root): ``cox_rows`` and ``finegray_rows`` read a frame (``design.py``, ``rows.py``) and supply
the risk-set sums, each one Spark aggregation (``sums.py``, ``riskset.py``, ``moments.py``);
the model layer (names, coding, checks, Newton driver, variances, results) is the one in
``cohortcalc.survival``. ``kaplan_meier``, ``cumulative_incidence`` and ``incidence_rates``
need counts per distinct time only: one Spark group-by, then the local estimator on the
counts (``nonparametric.py``). The rows stay in the cluster; executors need nothing but Spark
(every per-row expression is Spark SQL, no Python UDFs). Import only when PySpark is installed.
"""

from cohortcalc.spark.nonparametric import cumulative_incidence, incidence_rates, kaplan_meier
from cohortcalc.spark.rows import cox_rows, finegray_rows

__all__ = ["cox_rows", "cumulative_incidence", "finegray_rows", "incidence_rates", "kaplan_meier"]
