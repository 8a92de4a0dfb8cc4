"""Exercise specifications for Chapter 4 (activations)."""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, CheckFailure, Exercise, Extra, answers, describe_call, forbidden

act = answers("activations")  # the answers, imported when first used

__all__ = ["EXERCISES"]


# --------------------------------------------------------------------------- random inputs

def _random_x(rng, dtype=None, max_ndim=4, scale=None):
    """A random array of 1..max_ndim dims (sides 1..5), scaled by 0.1 .. 30, float64 or (20 %) float32."""
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, max_ndim + 1))))
    if dtype is None:
        dtype = np.float32 if rng.random() < 0.2 else np.float64
    if scale is None:
        scale = float(rng.choice([0.1, 1.0, 3.0, 30.0]))
    return (randn(rng, *shape) * scale).astype(dtype)


def _with_dout(rng, cases):
    """Backward cases from forward ones: prepend a random upstream gradient of the input's shape."""
    out = []
    for case in cases:
        if case.raises is not None:
            continue
        x = case.args[0]
        dout = randn(rng, *x.shape, dtype=x.dtype)
        out.append(Case((dout, *case.args), dict(case.kwargs), note=case.note))
    return out


def _keeps_float32(make_args):
    """An :class:`Extra` hidden check: float32 inputs must give a float32 result (like torch)."""

    def probe(ex: Exercise, fn) -> dict:
        args, kwargs = make_args(np.random.default_rng(0))
        with forbidden(fn, ex.forbid, ex.name, ex.allow):
            got = fn(*args, **kwargs)
        return {"out": got if isinstance(got, np.ndarray) else None, "type": type(got).__name__}

    def verify(ex: Exercise, data: dict) -> None:
        out = data["out"]
        dtype = out.dtype if isinstance(out, np.ndarray) else str(data["type"])
        if dtype != np.float32:
            args, kwargs = make_args(np.random.default_rng(0))
            call = describe_call(ex.name, args, kwargs)
            raise CheckFailure(f"{call} returned dtype {dtype}; float32 inputs must give a float32 result "
                               "(like torch). Build arrays from x (np.zeros_like(x), np.where, x * ...) "
                               "instead of np.zeros(shape), which is float64.")

    return Extra(probe, verify)


def _x32(rng):
    return (randn(rng, 3, 4, dtype=np.float32) * 3,), {}


def _dx32(rng):
    return (randn(rng, 3, 4, dtype=np.float32), randn(rng, 3, 4, dtype=np.float32) * 3), {}


# --------------------------------------------------------------------------- sigmoid and tanh

def _sigmoid_visible():
    rng = np.random.default_rng(41)
    return [
        Case((np.array([0.0]),), note="sigmoid(0) = 0.5"),
        Case((np.array([-2.0, -1.0, 0.0, 1.0, 2.0]),), note="symmetric: sigmoid(-x) = 1 - sigmoid(x)"),
        Case((np.array([-1000.0, -50.0, 50.0, 1000.0]),),
             note="extreme inputs: no NaN, no overflow — use exp(-|x|), which is never larger than 1"),
        Case((randn(rng, 2, 3, 4),), note="3-d array: element-wise, shape kept"),
        Case((randn(rng, 3, 4, dtype=np.float32) * 5,), note="float32 stays float32"),
    ]


def _elementwise_hidden(rng, extremes=True):
    cases = [Case((_random_x(rng),)) for _ in range(15)]
    if extremes:
        cases.append(Case((np.array([-1e4, -745.0, -710.0, -30.0, 0.0, 30.0, 710.0, 1e4]),)))
        cases.append(Case((np.array([-1e3, 1e3], dtype=np.float32),)))
    return cases


def _sigmoid_backward_visible():
    rng = np.random.default_rng(42)
    return [
        Case((np.ones(5), np.array([-2.0, -1.0, 0.0, 1.0, 2.0])), note="dout = 1: the derivative itself, 0.25 at 0"),
        Case((np.ones(4), np.array([-1000.0, -20.0, 20.0, 1000.0])), note="saturated: the gradient vanishes, no NaN"),
        Case((randn(rng, 2, 3), randn(rng, 2, 3)), note="multiply by the upstream gradient"),
        Case((randn(rng, 2, 3, dtype=np.float32), randn(rng, 2, 3, dtype=np.float32)), note="float32"),
    ]


def _tanh_backward_visible():
    rng = np.random.default_rng(43)
    return [
        Case((np.ones(5), np.array([-2.0, -1.0, 0.0, 1.0, 2.0])), note="dout = 1: the derivative itself, 1 at 0"),
        Case((np.ones(4), np.array([-1000.0, -20.0, 20.0, 1000.0])), note="saturated: the gradient vanishes"),
        Case((randn(rng, 4, 2), randn(rng, 4, 2)), note="multiply by the upstream gradient"),
        Case((randn(rng, 2, 3, dtype=np.float32), randn(rng, 2, 3, dtype=np.float32)), note="float32"),
    ]


def _elementwise_backward_hidden(rng):
    return _with_dout(rng, _elementwise_hidden(rng))


# --------------------------------------------------------------------------- the ReLU family

_KINKS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])


def _relu_visible():
    rng = np.random.default_rng(44)
    return [
        Case((_KINKS.copy(),), note="negatives become 0, positives pass"),
        Case((randn(rng, 3, 4),), note="2-d array"),
        Case((-np.abs(randn(rng, 2, 5)),), note="all negative: all zeros"),
        Case((randn(rng, 2, 2, 3, dtype=np.float32),), note="float32 stays float32"),
    ]


def _relu_backward_visible():
    rng = np.random.default_rng(45)
    return [
        Case((np.ones(7), _KINKS.copy()), note="dout = 1: 1 for x > 0, 0 for x <= 0 (torch's choice at 0)"),
        Case((randn(rng, 3, 4), randn(rng, 3, 4)), note="gradient passes where x > 0"),
        Case((randn(rng, 2, 3, dtype=np.float32), randn(rng, 2, 3, dtype=np.float32)), note="float32"),
    ]


def _leaky_visible():
    rng = np.random.default_rng(46)
    return [
        Case((_KINKS.copy(),), note="default negative_slope=0.01"),
        Case((_KINKS.copy(), 0.2), note="negative_slope=0.2 (the slope only scales x <= 0)"),
        Case((randn(rng, 3, 4),), {"negative_slope": 0.0}, note="slope 0 is a plain ReLU"),
        Case((randn(rng, 2, 3, dtype=np.float32), 0.1), note="float32 stays float32"),
    ]


def _leaky_hidden(rng):
    return [Case((_random_x(rng), float(rng.choice([0.0, 0.01, 0.1, 0.3, 1.5])))) for _ in range(15)]


def _elu_visible():
    rng = np.random.default_rng(47)
    return [
        Case((_KINKS.copy(),), note="default alpha=1: alpha·(exp(x) − 1) for x <= 0"),
        Case((np.array([-50.0, -10.0, 0.0, 2.0]), 0.5), note="alpha=0.5: saturates at −alpha"),
        Case((np.array([-1e-10, 1e-10]),), note="tiny x: elu(x) ≈ x (np.expm1 keeps the digits)"),
        Case((np.array([1000.0, -1000.0]),), note="large |x|: no overflow, no NaN"),
        Case((randn(rng, 2, 3, dtype=np.float32), 1.5), note="float32 stays float32"),
        Case((_KINKS.copy(), -1.0), raises=ValueError, note="alpha must be >= 0"),
    ]


def _elu_hidden(rng):
    cases = [Case((_random_x(rng), float(rng.choice([0.0, 0.3, 1.0, 2.5])))) for _ in range(15)]
    return cases + [Case((np.array([-1e-12, -1e-8, 1e-8, 800.0, -800.0]),)),
                    Case((randn(rng, 3), -0.5), raises=ValueError)]


def _gelu_visible():
    rng = np.random.default_rng(48)
    return [
        Case((_KINKS.copy(),), note="exact: x·Phi(x) = 0.5·x·(1 + erf(x/√2))"),
        Case((_KINKS.copy(), "tanh"), note="approximate='tanh'"),
        Case((randn(rng, 2, 3, 4),), {"approximate": "none"}, note="3-d array"),
        Case((np.array([-8.0, 8.0]),), note="far tails: gelu(-8) ≈ 0, gelu(8) ≈ 8"),
        Case((randn(rng, 3, 4, dtype=np.float32),), note="float32 stays float32"),
        Case((_KINKS.copy(), "fast"), raises=ValueError, note="approximate must be 'none' or 'tanh'"),
    ]


def _gelu_hidden(rng):
    cases = [Case((_random_x(rng, scale=float(rng.choice([0.3, 1.0, 3.0]))),
                   str(rng.choice(["none", "tanh"])))) for _ in range(16)]
    return cases + [Case((randn(rng, 3), "exact"), raises=ValueError)]


# --------------------------------------------------------------------------- softmax family

def _softmax_visible():
    rng = np.random.default_rng(49)
    return [
        Case((np.array([1.0, 2.0, 3.0]),), note="one vector of logits"),
        Case((randn(rng, 4, 5),), note="a batch (N, K): each row sums to 1"),
        Case((randn(rng, 3, 4, 2),), {"dim": 1}, note="dim=1 of a 3-d array"),
        Case((randn(rng, 4, 3),), {"dim": 0}, note="dim=0: each column sums to 1"),
        Case((np.array([[1e4, 1e4 + 1.0, 1e4 - 2.0], [-1e4, 0.0, 1e4]]),),
             note="huge logits: exp(10000) overflows — subtract the max first"),
        Case((np.array([[100.0, 90.0, 80.0]], dtype=np.float32),),
             note="float32: exp(100) is inf in float32 (subtract the max), float32 stays float32"),
        Case((np.array([0.0, -np.inf, 1.0]),), note="a -inf logit (a masked class) gets probability 0"),
        Case((randn(rng, 2, 3),), {"dim": 2}, raises=ValueError, note="dim=2 is out of range for a 2-d array"),
    ]


def _softmax_hidden(rng):
    cases = []
    for _ in range(16):
        x = _random_x(rng, scale=float(rng.choice([0.5, 3.0, 100.0, 1e4])))
        cases.append(Case((x,), {"dim": int(rng.integers(-x.ndim, x.ndim))}))
    cases.append(Case((np.array([[2e4, -3e4, 1e4 + 3]], dtype=np.float32),)))
    x = randn(rng, 2, 3, 4)
    cases += [Case((x,), {"dim": 3}, raises=ValueError), Case((x,), {"dim": -4}, raises=ValueError)]
    return cases


def _log_softmax_visible():
    rng = np.random.default_rng(50)
    return [
        Case((np.array([1.0, 2.0, 3.0]),), note="one vector of logits"),
        Case((randn(rng, 4, 5),), note="a batch (N, K)"),
        Case((np.array([0.0, 1000.0]),),
             note="log(softmax) would give log(0) = -inf for the first class; the answer is -1000"),
        Case((np.array([[1e4, 1e4 + 1.0, -1e4]]),), note="huge logits: use the log-sum-exp trick"),
        Case((randn(rng, 2, 3, 4),), {"dim": 0}, note="dim=0 of a 3-d array"),
        Case((np.array([[100.0, 90.0, 80.0]], dtype=np.float32),), note="float32 stays float32"),
        Case((randn(rng, 3),), {"dim": 1}, raises=ValueError, note="dim=1 is out of range for a 1-d array"),
    ]


def _softmax_backward_visible():
    rng = np.random.default_rng(51)
    return [
        Case((np.array([1.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0])), note="dout picks the first output"),
        Case((np.ones((2, 3)), randn(rng, 2, 3)), note="dout = 1: the outputs always sum to 1, so dx = 0"),
        Case((randn(rng, 4, 5), randn(rng, 4, 5)), note="a batch (N, K)"),
        Case((randn(rng, 3, 4), randn(rng, 3, 4)), {"dim": 0}, note="dim=0"),
        Case((randn(rng, 1, 3), np.array([[1e4, 1e4 + 1.0, 0.0]])), note="huge logits: no NaN"),
        Case((randn(rng, 2, 3, dtype=np.float32), randn(rng, 2, 3, dtype=np.float32)), note="float32"),
    ]


def _softmax_backward_hidden(rng):
    return _with_dout(rng, _softmax_hidden(rng))


_EXTRA32 = _keeps_float32(_x32)
_BACKWARD32 = _keeps_float32(_dx32)
_SOFTMAX_TOL = {"rtol": 1e-5, "atol": 1e-7}

EXERCISES = {ex.name: ex for ex in [
    Exercise("sigmoid", act.sigmoid, _sigmoid_visible, _elementwise_hidden, extra=_EXTRA32,
             hint="sigmoid is element-wise: the output has the shape of x."),
    Exercise("sigmoid_backward", act.sigmoid_backward, _sigmoid_backward_visible, _elementwise_backward_hidden,
             extra=_BACKWARD32, hint="dx has the shape of x."),
    Exercise("tanh_backward", act.tanh_backward, _tanh_backward_visible, _elementwise_backward_hidden,
             extra=_BACKWARD32, hint="dx has the shape of x."),
    Exercise("relu", act.relu, _relu_visible, _elementwise_hidden, extra=_EXTRA32),
    Exercise("relu_backward", act.relu_backward, _relu_backward_visible, _elementwise_backward_hidden,
             extra=_BACKWARD32, hint="dx has the shape of x."),
    Exercise("leaky_relu", act.leaky_relu, _leaky_visible, _leaky_hidden, extra=_EXTRA32),
    Exercise("elu", act.elu, _elu_visible, _elu_hidden, extra=_EXTRA32),
    Exercise("gelu", act.gelu, _gelu_visible, _gelu_hidden, extra=_EXTRA32, rtol=1e-5, atol=1e-6),
    Exercise("softmax", act.softmax, _softmax_visible, _softmax_hidden, extra=_EXTRA32, **_SOFTMAX_TOL,
             hint="softmax keeps the shape of x; only the values along dim are normalised."),
    Exercise("log_softmax", act.log_softmax, _log_softmax_visible, _softmax_hidden, extra=_EXTRA32,
             **_SOFTMAX_TOL),
    Exercise("softmax_backward", act.softmax_backward, _softmax_backward_visible, _softmax_backward_hidden,
             extra=_BACKWARD32, hint="dx has the shape of x.", **_SOFTMAX_TOL),
]}
