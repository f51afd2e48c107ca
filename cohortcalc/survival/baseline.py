"""The baseline cumulative hazard of a Cox fit and its variance pieces, for ``cc.predict``.

Cumulated within stratum from the per-bin terms every engine gives
(``riskset.baseline_terms``: one construction, from the risk-set sums at the final β, local
or Spark). Conventions are R ``survfit.coxph``'s (survival 3.5, ``agsurv``): for a Breslow
fit the Nelson–Aalen-type increment W/S0 with variance W/S0² and x̄ term (S1/S0)·W/S0; for an
Efron fit the Fleming–Harrington correction, d terms with denominators S0 − (j/d)·D0
(Therneau & Grambsch 2000, sec. 10.2; Kalbfleisch & Prentice 2002, sec. 4.3).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cohortcalc.survival.riskset import BaselineTerms


@dataclass(frozen=True)
class BaselineHazard:
    """Cumulative baseline hazard at each distinct event time, by stratum, at centred x.

    Arrays run over the fit's bins (distinct event times ordered by stratum, time);
    ``stratum_start[s]:stratum_start[s+1]`` are stratum s's bins. ``cumhaz`` is Λ0(t) for
    x = ``center``; ``cumvar`` the cumulated Σ W/den² (R's ``cumsum(varhaz)``); ``cumxbar``
    (bins x p) the cumulated Σ hazard·x̄ (R's ``xbar``), with x centred at ``center``.
    """

    time: np.ndarray
    stratum_start: np.ndarray
    cumhaz: np.ndarray
    cumvar: np.ndarray
    cumxbar: np.ndarray
    center: np.ndarray


def baseline_hazard(terms: BaselineTerms) -> BaselineHazard:
    """Λ0 and its variance pieces: the per-bin terms of a fit (``CoxResult.baseline_terms()``)
    cumulated within stratum."""
    start = terms.stratum_start
    return BaselineHazard(
        time=terms.time,
        stratum_start=start,
        cumhaz=_cumsum_by_stratum(terms.hazard, start),
        cumvar=_cumsum_by_stratum(terms.hazard_variance, start),
        cumxbar=_cumsum_by_stratum(terms.hazard_mean_x, start),
        center=terms.center,
    )


def _cumsum_by_stratum(values: np.ndarray, stratum_start: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for first, last in itertools.pairwise(stratum_start):
        out[first:last] = np.cumsum(values[first:last], axis=0)
    return out
