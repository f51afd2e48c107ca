"""Survival stage of cohortcalc: the models and tests, over frames and arrays.

Cox regression: ``design.py`` (frame -> design matrix), ``riskset.py`` + ``_kernels.py`` (the
engine: risk-set sums aggregated by distinct event time), ``newton.py`` (R-style Newton–Raphson),
``cox.py`` (``cc.cox``), ``results.py`` (``CoxResult``), ``proportionality.py`` (``cc.ph_test``).
The public names are re-exported by ``cohortcalc``.
"""
