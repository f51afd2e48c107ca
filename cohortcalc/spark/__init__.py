"""The registry-scale engine: cohortcalc's models on PySpark DataFrames.

``cc.cox``, ``cc.finegray``, ``cc.kaplan_meier``, ``cc.cumulative_incidence`` and
``cc.incidence_rates`` route a PySpark DataFrame here (``cc.derive`` already runs on Spark
through narwhals). The rows stay in the cluster: each Newton step is one Spark aggregation by
(stratum, time) and only O(distinct times × p²) numbers reach the driver, where the local
engine's own code (reverse cumulative sums, Efron terms, Newton driver, variances) finishes
the job. Executors need nothing but Spark: every per-row expression is Spark SQL, no Python
UDFs. Import this package only when PySpark is installed.
"""

from cohortcalc.spark.cox import cox
from cohortcalc.spark.finegray import finegray
from cohortcalc.spark.nonparametric import cumulative_incidence, incidence_rates, kaplan_meier

__all__ = ["cox", "cumulative_incidence", "finegray", "incidence_rates", "kaplan_meier"]
