"""The result of ``cc.predict`` (Cox and Fine–Gray alike), apart from the two predictors so
that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class PredictedRisk:
    """Absolute risk by each of ``times`` (columns) for each row of the frame (rows).

    ``risk`` = 1 − S(t | x) (Cox) or the cumulative incidence of the cause (Fine–Gray);
    ``se`` its standard error (delta method: S·se(Λ)); ``lower``/``upper`` the interval of
    ``method``. Rows with a missing covariate hold NaN (``n_missing`` of them).
    """

    times: tuple[float, ...]
    risk: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float
    method: str
    n_missing: int = 0

    @property
    def table(self) -> pd.DataFrame:
        """Long table: row, time, risk, se, lower, upper."""
        n, k = self.risk.shape
        return pd.DataFrame(
            {
                "row": np.repeat(np.arange(n), k),
                "time": np.tile(np.asarray(self.times, dtype=np.float64), n),
                "risk": self.risk.ravel(),
                "se": self.se.ravel(),
                "lower": self.lower.ravel(),
                "upper": self.upper.ravel(),
            }
        )
