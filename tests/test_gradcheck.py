"""course_lib.gradcheck (rel_error, gradcheck's failure report) and the answer numerical_gradient."""

import re

import numpy as np
import pytest

from course_lib.gradcheck import GradcheckError, gradcheck, rel_error
from course_lib.reference.mlp import numerical_gradient


def test_rel_error_basics():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(0.0, 0.0) == 0.0  # the 1e-8 floor avoids 0/0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 2e-7])) == pytest.approx(5e-8, rel=1e-6)
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)  # |x-y| / 1e-8
    assert isinstance(rel_error(np.ones(3), np.ones(3)), float)
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError, match="shapes"):
        rel_error(np.ones(3), np.ones((3, 1)))


def test_numerical_gradient_of_known_functions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    # scalar function: f(x) = sum(x**3) -> 3 x**2
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-8, atol=1e-9)
    # array function with dout: f(x) = sin(x) -> dout * cos(x)
    dout = rng.standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(np.sin, x, dout), dout * np.cos(x), rtol=1e-8, atol=1e-9)
    # matrix product: f(W) = x @ W, d sum(f * dout) / dW = x.T @ dout
    a, w = rng.standard_normal((5, 3)), rng.standard_normal((3, 2))
    dout = rng.standard_normal((5, 2))
    assert rel_error(numerical_gradient(lambda v: a @ v, w, dout), a.T @ dout) < 1e-8


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(1).standard_normal((4, 5))
    before = x.copy()
    numerical_gradient(lambda v: np.sum(np.exp(v)), x, h=0.1)
    np.testing.assert_array_equal(x, before)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_handles_f_returning_a_view():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(numerical_gradient(lambda v: v, x, np.full((2, 3), 2.0)), np.full((2, 3), 2.0))


def test_numerical_gradient_errors():
    with pytest.raises(ValueError, match="float"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="dout"):
        numerical_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(ValueError, match="dout has shape"):
        numerical_gradient(lambda v: v * 2, np.ones(3), np.ones(4))


def affine(x, w, b):
    return x @ w + b


def test_gradcheck_passes_for_a_correct_gradient():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    dout = rng.standard_normal((4, 2))
    errors = gradcheck(affine, {"x": x, "w": w, "b": b}, {"x": dout @ w.T, "w": x.T @ dout, "b": dout.sum(0)}, dout)
    assert set(errors) == {"x", "w", "b"}
    assert max(errors.values()) < 1e-7


def test_gradcheck_reports_a_wrong_gradient():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    dout = rng.standard_normal((4, 2))
    wrong_dw = x.T @ dout
    wrong_dw[2, 1] += 0.5  # a deliberate bug in one element
    with pytest.raises(GradcheckError) as info:
        gradcheck(affine, {"x": x, "w": w, "b": b}, {"w": wrong_dw, "b": dout.sum(0)}, dout)
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "w: relative error" in message and "tol 1.0e-07" in message
    assert "worst at index (2, 1)" in message
    assert f"analytic {wrong_dw[2, 1]:.10g}" in message
    numeric = float(re.search(r"numeric (\S+) vs analytic", message).group(1))
    assert numeric == pytest.approx((x.T @ dout)[2, 1], rel=1e-8)
    assert "b:" not in message  # only the failing input is reported

    errors = gradcheck(affine, {"x": x, "w": w, "b": b}, {"w": wrong_dw}, dout, raise_on_fail=False)
    assert errors["w"] > 1e-3


def test_gradcheck_scalar_function_and_argument_errors():
    x = np.random.default_rng(4).standard_normal(5)
    assert gradcheck(lambda x: np.sum(x**2), {"x": x}, {"x": 2 * x}, None)["x"] < 1e-7
    with pytest.raises(ValueError, match="not in inputs"):
        gradcheck(lambda x: np.sum(x**2), {"x": x}, {"y": 2 * x}, None)
    with pytest.raises(ValueError, match="shape"):
        gradcheck(lambda x: np.sum(x**2), {"x": x}, {"x": np.ones(4)}, None)
