"""Survival stage of cohortcalc: the models and tests, over frames and arrays.

Model layer (written once, any frame): ``cox.py`` (``cc.cox``), ``finegray.py``
(``cc.finegray``), ``terms.py`` (covariates -> named, coded design columns), ``checks.py``
(every refusal and warning), ``newton.py`` (R-style Newton–Raphson), ``results.py``,
``finegray_result.py``, ``proportionality.py`` (``cc.ph_test``); ``nonparametric.py``,
``aalen_johansen.py``, ``rates.py``, ``tests.py`` over counts per distinct time, with the input
checks of ``inputs.py``. The engine interface is ``engine.py``: the local engine (``local.py``,
``design.py``, ``riskset.py``, ``finegray_riskset.py``, ``censoring.py`` and the numba kernels
``_layout``, ``_kernels``, ``_finegray_kernels``) and the Spark one (``cohortcalc.spark``)
supply the sums. The public names are re-exported by ``cohortcalc``.
"""
