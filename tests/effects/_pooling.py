"""A scalar per-data-set quantity for ``cc.pool`` (it pools any object with ``estimate``,
``variance`` and ``dfcom``): the reference the pooled curves and interactions are checked
against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scalar:
    estimate: float
    variance: float
    dfcom: float
