"""The one Spark aggregation per Newton step: sums of w·e^{(x-c)β}·a aᵀ, a = (1, x - c).

Grouped by integer keys (a bin of distinct times and a row kind), only the upper triangle of
the q x q matrix (q = p + 1: S0, S1, S2) is summed; the driver receives one row per group —
O(T·p²) numbers — and unpacks it into the local engine's flat q x q layout (entry 0 is S0,
1..p are S1, (1+i)·q + 1+j is S2[i, j]; ``survival/_kernels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

RISK = "__r"


def centred(x_columns: Sequence[str], center: np.ndarray) -> list[Column]:
    """x - c as column expressions (c is the centring of the local engine)."""
    return [F.col(name) - F.lit(float(c)) for name, c in zip(x_columns, center, strict=True)]


def linear_predictor(x_columns: Sequence[str], center: np.ndarray, beta: np.ndarray) -> Column:
    """η = (x - c)β as a column expression."""
    eta = F.lit(0.0)
    for column, b in zip(centred(x_columns, center), beta, strict=True):
        eta = eta + column * F.lit(float(b))
    return eta


def moment_sums(
    rows: DataFrame,
    keys: Sequence[str],
    x_columns: Sequence[str],
    center: np.ndarray,
    beta: np.ndarray,
    weight: str,
) -> np.ndarray:
    """Per group of ``keys``: [keys..., upper triangle of Σ r·a aᵀ] as a float array.

    One Spark job; ``weight`` names the (signed) case-weight column. The expressions are SQL
    text (a handful of JVM calls, not thousands); β enters as a one-row broadcast table, not
    as literals, so every Newton step reuses the compiled code of the first.
    """
    p = len(x_columns)
    xc = [f"`__c{j}`" for j in range(p)]
    shifted = sql_centred(x_columns, center)
    names = [f"__beta{j}" for j in range(p)]
    coefficients = rows.sparkSession.createDataFrame([tuple(map(float, beta))], names)
    eta = " + ".join(f"{x} * `{b}`" for x, b in zip(shifted, names, strict=True)) or "0D"
    prepared = rows.crossJoin(F.broadcast(coefficients)).selectExpr(
        *(f"`{k}`" for k in keys),
        *(f"{x} AS {c}" for x, c in zip(shifted, xc, strict=True)),
        f"`{weight}` * exp({eta}) AS `{RISK}`",
    )
    r = f"`{RISK}`"
    aggregates = [f"sum({r})", *(f"sum({r} * {c})" for c in xc)]
    aggregates += [f"sum({r} * {xc[i]} * {xc[j]})" for i in range(p) for j in range(i, p)]
    collected = prepared.groupBy(*keys).agg(*(F.expr(a) for a in aggregates)).collect()
    width = len(keys) + len(aggregates)
    if not collected:
        return np.empty((0, width))
    return np.array([tuple(row) for row in collected], dtype=np.float64)


def sql_centred(x_columns: Sequence[str], center: np.ndarray) -> list[str]:
    """x - c as Spark SQL expressions."""
    return [f"(`{name}` - {_double(c)})" for name, c in zip(x_columns, center, strict=True)]


def sql_linear_predictor(x_columns: Sequence[str], center: np.ndarray, beta: np.ndarray) -> str:
    """η = (x - c)β as a Spark SQL expression."""
    shifted = sql_centred(x_columns, center)
    return " + ".join(f"{x} * {_double(b)}" for x, b in zip(shifted, beta, strict=True)) or "0D"


def _double(value: float) -> str:
    """A float as an exact Spark SQL double literal."""
    return f"CAST('{float(value)!r}' AS DOUBLE)" if not np.isfinite(value) else f"{float(value)!r}D"


def full_moments(sums: np.ndarray, p: int) -> np.ndarray:
    """Upper triangles (the order of ``np.triu_indices(p + 1)``) -> flat q x q per row."""
    q = p + 1
    upper_i, upper_j = np.triu_indices(q)
    out = np.empty((sums.shape[0], q * q))
    out[:, upper_i * q + upper_j] = sums
    out[:, upper_j * q + upper_i] = sums
    return out
