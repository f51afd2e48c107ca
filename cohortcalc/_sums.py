"""The compiled sum of outer products that the imputation models' XᵀWX and the risk-set
engine's per-bin S2 share (numba, cached)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def add_outer_rows(out: np.ndarray, left: np.ndarray, right: np.ndarray, rows: int) -> None:
    """out[a, b] += Σ over t < ``rows`` of left[t, a]·right[t, b], for b >= a (the upper
    triangle), each element's terms added in row order. With eight rows (the usual case)
    each element is held in a register while its eight terms are added: the same additions
    in the same order as one row at a time (bit-identical), with an eighth of the loads and
    stores, which bound the one-row loop. Inlined, and indexed from 0 (a caller passes a
    view such as ``out[1:, 1:]``): an index offset known only at run time made numba check
    every index for wraparound, 25% slower."""
    p = left.shape[1]
    if rows == 8:
        for a in range(p):
            l0, l1, l2, l3 = left[0, a], left[1, a], left[2, a], left[3, a]
            l4, l5, l6, l7 = left[4, a], left[5, a], left[6, a], left[7, a]
            for b in range(a, p):
                acc = out[a, b]
                acc += l0 * right[0, b]
                acc += l1 * right[1, b]
                acc += l2 * right[2, b]
                acc += l3 * right[3, b]
                acc += l4 * right[4, b]
                acc += l5 * right[5, b]
                acc += l6 * right[6, b]
                acc += l7 * right[7, b]
                out[a, b] = acc
        return
    for t in range(rows):
        for a in range(p):
            la = left[t, a]
            for b in range(a, p):
                out[a, b] += la * right[t, b]
