"""The Newton–Raphson driver: R's convergence rule, step halving, refusals and warnings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cohortcalc.errors import ConvergenceWarning, ModelError
from cohortcalc.survival.newton import newton_raphson, singular_terms


def quadratic(center: np.ndarray, curvature: np.ndarray):
    """A concave quadratic log-likelihood with its maximum at ``center`` (one Newton step)."""

    def objective(beta: np.ndarray):
        diff = beta - center
        return -100.0 - 0.5 * diff @ curvature @ diff, -curvature @ diff, curvature

    return objective


def test_quadratic_converges_at_the_second_evaluation() -> None:
    center = np.array([0.5, -1.0])
    result = newton_raphson(quadratic(center, np.array([[2.0, 0.3], [0.3, 1.0]])), ["a", "b"])
    np.testing.assert_allclose(result.beta, center, rtol=1e-12)
    assert result.converged and result.iterations == 2
    np.testing.assert_allclose(result.variance, np.linalg.inv([[2.0, 0.3], [0.3, 1.0]]))


def test_step_halving_recovers_from_an_overshoot() -> None:
    calls: list[float] = []

    def objective(beta: np.ndarray):  # -sqrt(1 + b²): the Newton step from b is to -b³
        b = beta[0]
        calls.append(b)
        root = np.sqrt(1.0 + b * b)
        return -root - 10.0, np.array([-b / root]), np.array([[root**-3]])

    result = newton_raphson(objective, ["b"], init=np.array([1.5]))
    assert result.converged and abs(result.beta[0]) < 1e-3
    assert any(abs(b) < abs(b_next) for b, b_next in itertools.pairwise(calls))


def test_singular_information_names_the_collinear_term() -> None:
    info = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    assert singular_terms(info, ["x", "two_x", "z"]) == ["two_x"]
    with pytest.raises(ModelError, match=r"\['two_x'\]"):
        newton_raphson(lambda b: (-1.0, np.zeros(3), info), ["x", "two_x", "z"])


def test_running_out_of_iterations_warns() -> None:
    def objective(beta: np.ndarray):  # concave but increasing forever: no maximum
        b = beta[0]
        return -np.exp(-b) + 1e-3 * b - 5.0, np.array([np.exp(-b) + 1e-3]), np.array([[np.exp(-b)]])

    with pytest.warns(ConvergenceWarning, match="did not converge"):
        result = newton_raphson(objective, ["b"], max_iter=5)
    assert not result.converged and result.iterations == 5
