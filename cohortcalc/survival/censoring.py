"""The Kaplan–Meier estimate of the censoring distribution, G(t) = P(C > t).

Fine & Gray (1999, JASA 94:496, §2.2) weight a subject whose competing event came at Tᵢ by
G(t-)/G(Tᵢ-) at later times t. G is the product-limit estimate with the roles of event and
censoring swapped: at each distinct time, the censored (weighted) count over the (weighted)
number still at risk, everyone with time ≥ t, so an event tied with a censoring leaves the
risk set after it (as `survival::survfit` on the censoring indicator, which `cmprsk::crr` uses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CensoringSurvival:
    """G at each distinct time: `survival` is G(t) (right-continuous), `before` is G(t-)."""

    time: np.ndarray
    n_at_risk: np.ndarray
    n_censored: np.ndarray
    survival: np.ndarray

    @property
    def before(self) -> np.ndarray:
        """G(t-) at each distinct time: the survival just before it."""
        return np.concatenate(([1.0], self.survival[:-1]))

    def left_limit(self, t: np.ndarray) -> np.ndarray:
        """G(t-) at arbitrary times t: the product over distinct times strictly before t."""
        index = np.searchsorted(self.time, np.asarray(t, dtype=float), side="left")
        return np.concatenate(([1.0], self.survival))[index]


def censoring_survival(
    time: np.ndarray, censored: np.ndarray, weights: np.ndarray | None = None
) -> CensoringSurvival:
    """Kaplan–Meier estimate of the censoring survival G from one stratum's rows.

    G(t) = Π_{s ≤ t} (1 - c(s)/Y(s)), c(s) the (weighted) number censored at s and Y(s)
    the (weighted) number with time ≥ s (Kaplan & Meier 1958, eq. 2, with censoring as the
    event). Case weights act as replication counts.
    """
    time = np.asarray(time, dtype=float)
    censored = np.asarray(censored, dtype=bool)
    weights = np.ones_like(time) if weights is None else np.asarray(weights, dtype=float)
    distinct, row_bin = np.unique(time, return_inverse=True)
    total = np.bincount(row_bin, weights=weights, minlength=distinct.size)
    n_censored = np.bincount(row_bin, weights=weights * censored, minlength=distinct.size)
    n_at_risk = np.cumsum(total[::-1])[::-1]
    return CensoringSurvival(
        time=distinct,
        n_at_risk=n_at_risk,
        n_censored=n_censored,
        survival=product_limit(n_at_risk, n_censored),
    )


def product_limit(n_at_risk: np.ndarray, n_censored: np.ndarray) -> np.ndarray:
    """G(t) = Π_{s ≤ t} (1 - c(s)/Y(s)) over consecutive distinct times (one stratum)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_censored > 0, 1.0 - n_censored / n_at_risk, 1.0)
    return np.cumprod(factor)
