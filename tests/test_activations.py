"""course_lib.reference.activations against torch.nn.functional (forward and autograd), numerical gradients,
numerical stability and error messages."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.gradcheck import gradcheck
from course_lib.reference import activations as act

TIGHT = {"rtol": 1e-12, "atol": 1e-14}

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)


def arrays(max_value=30.0, dtype=np.float64):
    elements = st.floats(-max_value, max_value, allow_nan=False, allow_subnormal=False, width=64)
    return hnp.arrays(dtype, shapes, elements=elements)


#: name -> (numpy forward, numpy backward, torch forward, hyper-parameter strategy as kwargs)
ELEMENTWISE = {
    "sigmoid": (act.sigmoid, act.sigmoid_backward, torch.sigmoid, st.just({})),
    "tanh": (act.tanh, act.tanh_backward, torch.tanh, st.just({})),
    "relu": (act.relu, act.relu_backward, F.relu, st.just({})),
    "leaky_relu": (act.leaky_relu, act.leaky_relu_backward, F.leaky_relu,
                   st.fixed_dictionaries({"negative_slope": st.floats(0, 1)})),
    "elu": (act.elu, act.elu_backward, F.elu, st.fixed_dictionaries({"alpha": st.floats(0, 3)})),
    "gelu": (act.gelu, act.gelu_backward, F.gelu,
             st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
}


def _torch_forward_backward(torch_fn, x, dout, **kwargs):
    xt = torch.from_numpy(x).requires_grad_()
    out = torch_fn(xt, **kwargs)
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_elementwise_matches_torch_forward_and_autograd(name, data):
    forward, backward, torch_fn, hyper = ELEMENTWISE[name]
    x = data.draw(arrays())
    kwargs = data.draw(hyper)
    dout = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).standard_normal(x.shape)
    expected, expected_dx = _torch_forward_backward(torch_fn, x, dout, **kwargs)
    out = forward(x, **kwargs)
    assert out.shape == x.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, **TIGHT)
    dx = backward(dout, x, **kwargs)
    assert dx.shape == x.shape and dx.dtype == np.float64
    np.testing.assert_allclose(dx, expected_dx, **TIGHT)


@st.composite
def softmax_cases(draw):
    x = draw(arrays(max_value=1e4))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, dim


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=60, deadline=None)
@given(case=softmax_cases(), seed=st.integers(0, 2**32 - 1))
def test_softmax_family_matches_torch_forward_and_autograd(name, case, seed):
    x, dim = case
    forward, backward = getattr(act, name), getattr(act, f"{name}_backward")
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    expected, expected_dx = _torch_forward_backward(getattr(F, name), x, dout, dim=dim)
    out = forward(x, dim)
    assert out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backward(dout, x, dim), expected_dx, rtol=1e-10, atol=1e-13)


def test_kinks_follow_torch():
    x = np.array([-1.0, 0.0, 1.0])
    ones = np.ones(3)
    np.testing.assert_array_equal(act.relu_backward(ones, x), [0, 0, 1])  # relu'(0) = 0
    np.testing.assert_array_equal(act.leaky_relu_backward(ones, x, 0.2), [0.2, 0.2, 1])
    np.testing.assert_allclose(act.elu_backward(ones, x, 1.5), [1.5 * math.exp(-1), 1.5, 1])
    for fn, torch_fn in [(act.relu_backward, F.relu), (act.leaky_relu_backward, F.leaky_relu),
                         (act.elu_backward, F.elu)]:
        np.testing.assert_allclose(fn(ones, x), _torch_forward_backward(torch_fn, x, ones)[1])


@pytest.mark.parametrize("name", [*ELEMENTWISE, "softmax", "log_softmax"])
def test_float32_stays_float32_and_close_to_torch(name):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 7)) * 4).astype(np.float32)
    dout = rng.standard_normal((4, 7)).astype(np.float32)
    forward, backward = getattr(act, name), getattr(act, f"{name}_backward")
    if name in ELEMENTWISE:
        expected, expected_dx = _torch_forward_backward(ELEMENTWISE[name][2], x, dout)
    else:
        expected, expected_dx = _torch_forward_backward(getattr(F, name), x, dout, dim=-1)
    out, dx = forward(x), backward(dout, x)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-5, atol=1e-6)


def test_integer_input_is_computed_in_float64():
    assert act.sigmoid(np.array([0, 1])).dtype == np.float64
    np.testing.assert_allclose(act.softmax([1, 2, 3]), F.softmax(torch.tensor([1.0, 2, 3], dtype=torch.float64),
                                                                  -1).numpy())


def test_zero_dimensional_softmax_like_torch():
    x = np.array(3.0)
    for name in ("softmax", "log_softmax"):
        expected = getattr(F, name)(torch.tensor(3.0, dtype=torch.float64), 0).numpy()
        out = getattr(act, name)(x, 0)
        assert out.shape == () and out == expected
    assert act.softmax_backward(np.array(2.0), x).shape == ()


# --- numerical gradients -------------------------------------------------------------------------


GRADCHECK = [
    ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {"alpha": 0.7}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
    ("softmax", {"dim": 0}), ("softmax", {"dim": -1}), ("log_softmax", {"dim": 1}),
]


@pytest.mark.parametrize(("name", "kwargs"), GRADCHECK)
def test_backward_gradcheck(name, kwargs):
    rng = np.random.default_rng(1)
    # Relative errors are only meaningful where the gradient is not tiny: stay out of deep saturation,
    # away from the kinks at 0 (relu, leaky_relu, elu) and from gelu's zero slope at x = -0.75.
    x = np.clip(rng.standard_normal((3, 4, 5)) * 1.5, -3, 3)
    x = np.where((np.abs(x) < 0.05) | (np.abs(x + 0.75) < 0.3), 0.5, x)
    dout = rng.choice([-1.0, 1.0], size=x.shape) * rng.uniform(0.5, 1.5, size=x.shape)
    forward, backward = getattr(act, name), getattr(act, f"{name}_backward")
    errors = gradcheck(lambda x: forward(x, **kwargs), {"x": x}, {"x": backward(dout, x, **kwargs)}, dout)
    assert errors["x"] < 1e-7, errors


# --- stability ------------------------------------------------------------------------------------


def test_large_inputs_no_overflow_no_warning():
    big = np.array([-1e4, -1000.0, -745.0, 0.0, 745.0, 1000.0, 1e4])
    logits = np.array([[1e4, 1e4 + 1, 1e4 - 2], [-1e4, 0.0, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow, invalid) fails the test
        s = act.sigmoid(big)
        np.testing.assert_array_equal(s[[0, 1, 3, 5, 6]], [0, 0, 0.5, 1, 1])
        assert np.isfinite(act.sigmoid_backward(np.ones(7), big)).all()
        e = act.elu(big)
        np.testing.assert_array_equal(e[[0, 5, 6]], [-1, 1000, 1e4])
        assert np.isfinite(act.elu_backward(np.ones(7), big)).all()
        g = act.gelu(big)
        np.testing.assert_array_equal(g[[0, 6]], [0, 1e4])
        p = act.softmax(logits)
        lp = act.log_softmax(logits)
        dx = act.softmax_backward(np.ones_like(logits), logits)
        dlx = act.log_softmax_backward(np.ones_like(logits), logits)
    expected = F.softmax(torch.from_numpy(logits), -1).numpy()
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(lp, F.log_softmax(torch.from_numpy(logits), -1).numpy(), rtol=1e-12)
    assert lp[1, 0] == -2e4  # exact, where log(softmax) would be log(0) = -inf
    np.testing.assert_allclose(dx, 0, atol=1e-15)  # a constant dout moves nothing
    assert np.isfinite(dlx).all()


def test_float32_softmax_of_large_logits():
    x = np.array([[100.0, 90.0, 80.0], [1e4, 1e4 + 1, 0.0]], dtype=np.float32)
    p = act.softmax(x)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p, F.softmax(torch.from_numpy(x), -1).numpy(), rtol=1e-6)


def test_masked_logits():
    x = np.array([0.0, -np.inf, 1.0])
    np.testing.assert_allclose(act.softmax(x), F.softmax(torch.from_numpy(x), -1).numpy())
    assert act.softmax(x)[1] == 0
    assert act.log_softmax(x)[1] == -np.inf


def test_erf_matches_math_erf():
    z = np.concatenate([np.linspace(-7, 7, 20001), [-30.0, -2.5, 2.5, 30.0, 1e-300, -1e-12]])
    expected = np.array([math.erf(v) for v in z])
    np.testing.assert_allclose(act.erf(z), expected, rtol=1e-14, atol=2e-16)
    assert act.erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert np.isnan(act.erf(np.array([np.nan])))[0]
    assert act.erf(np.array([0.5], dtype=np.float32)).dtype == np.float32


def test_gelu_left_tail_is_accurate():
    # x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2, relative accuracy where 1 + erf cancels
    x = np.array([-5.0, -8.0, -12.0, -20.0])
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(act.gelu(x), expected, rtol=1e-12)


def test_nan_propagates_like_torch():
    x = np.array([np.nan, 1.0, -1.0])
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"):
        out = getattr(act, name)(x)
        expected = ELEMENTWISE[name][2](torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected), err_msg=name)


# --- argument errors -----------------------------------------------------------------------------


def test_dim_out_of_range_message():
    x = np.zeros((2, 3))
    for name in ("softmax", "log_softmax"):
        with pytest.raises(ValueError) as info:
            getattr(act, name)(x, 2)
        assert str(info.value) == "dim=2 is out of range for x of shape (2, 3) (valid dims: -2 ... 1)"
        with pytest.raises(ValueError, match=r"dim=-3 is out of range"):
            getattr(act, name)(x, dim=-3)
        with pytest.raises(ValueError, match="dim must be an int, got 1.0"):
            getattr(act, name)(x, 1.0)
        with pytest.raises(ValueError, match="dim must be an int, got True"):
            getattr(act, name)(x, True)
    with pytest.raises(ValueError, match="dim=5"):
        act.softmax_backward(x, x, 5)


def test_hyper_parameter_messages():
    x = np.zeros(3)
    with pytest.raises(ValueError) as info:
        act.gelu(x, approximate="fast")
    assert str(info.value) == "approximate must be 'none' or 'tanh', got 'fast'"
    with pytest.raises(ValueError, match="approximate"):
        act.gelu_backward(x, x, approximate=None)
    with pytest.raises(ValueError) as info:
        act.elu(x, alpha=-1.0)
    assert str(info.value) == "alpha must be >= 0, got -1.0"
    with pytest.raises(ValueError, match="alpha"):
        act.elu_backward(x, x, alpha=-0.5)
    for bad in (float("nan"), float("inf"), "0.1", None, True):
        with pytest.raises(ValueError, match="negative_slope must be a finite real number"):
            act.leaky_relu(x, bad)
    with pytest.raises(ValueError, match="alpha must be a finite real number"):
        act.elu(x, alpha=np.inf)


def test_array_messages():
    with pytest.raises(ValueError) as info:
        act.relu_backward(np.zeros((2, 3)), np.zeros((3, 2)))
    assert str(info.value) == "dout must have the shape of the forward output (3, 2), got shape (2, 3)"
    with pytest.raises(ValueError, match=r"x must be a real-valued \(float\) array, got dtype complex128"):
        act.sigmoid(np.zeros(2, dtype=complex))
    with pytest.raises(ValueError, match="x must be a real-valued"):
        act.relu(np.array([True, False]))
    with pytest.raises(ValueError, match="dout must be a real-valued"):
        act.tanh_backward(np.array(["a", "b"]), np.zeros(2))


def test_all_exports_exist_and_backwards_are_paired():
    for name in act.__all__:
        assert callable(getattr(act, name)), name
    forwards = {n for n in act.__all__ if not n.endswith("_backward") and n != "erf"}
    assert forwards == {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softmax", "log_softmax"}
    assert all(f"{n}_backward" in act.__all__ for n in forwards)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x0, d0 = x.copy(), dout.copy()
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softmax", "log_softmax"):
        getattr(act, name)(x)
        getattr(act, f"{name}_backward")(dout, x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)
    assert act.relu(x) is not x
