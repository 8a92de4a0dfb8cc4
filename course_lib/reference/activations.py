"""Activation functions and their gradients in numpy, same semantics as ``torch.nn.functional``.

Every forward ``name(x, ...)`` works element-wise on an array of any shape (softmax and
log_softmax along ``dim``) and keeps its float dtype (float32 in, float32 out; integer input is
computed in float64). Every backward ``name_backward(dout, x, ...)`` takes the upstream gradient
``dout`` (the shape of the output) and the *same* arguments as the forward, and returns ``dx``
of the shape of ``x``. Gradients at the kinks follow torch: ``relu'(0) = 0``,
``leaky_relu'(0) = negative_slope``, ``elu'(0) = alpha``.

Shape glossary: ``(*)`` any shape; ``K`` the classes along ``dim`` for softmax.
"""

import math
from numbers import Real

import numpy as np

from course_lib.reference._utils import as_float

__all__ = [
    "elu",
    "elu_backward",
    "erf",
    "gelu",
    "gelu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "log_softmax",
    "log_softmax_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715
_SERIES_TERMS = 60  # erf power series for |z| < 2.5: relative error ~1e-15
_CF_TERMS = 60  # erfc continued fraction for |z| >= 2.5: relative error ~1e-13


# --------------------------------------------------------------------------- argument checks

def _as_dout(dout, x):
    """Validated float ``dout`` with the shape of ``x`` and the dtype both of them promote to."""
    dout = as_float(dout, "dout")
    if dout.shape != x.shape:
        raise ValueError(f"dout must have the shape of the forward output {x.shape}, got shape {dout.shape}")
    return dout, np.result_type(dout, x)


def _number(value, name, minimum=None):
    """A finite real ``value`` (not a bool) as a float, optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return float(value)


def _axis(dim, x):
    """``dim`` validated like torch (``-ndim <= dim < ndim``; a 0-d array counts as 1-d)."""
    ndim = max(x.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim={dim} is out of range for x of shape {x.shape} "
                         f"(valid dims: {-ndim} ... {ndim - 1})")
    return int(dim) % ndim


def _approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


# --------------------------------------------------------------------------- erf without scipy

def _erfc_large(z):
    """erfc(z) for z >= 2.5 by its continued fraction, evaluated bottom-up (float64)."""
    f = z.copy()
    for k in range(_CF_TERMS, 0, -1):
        f = z + (k / 2) / f
    return np.exp(-z * z) / (math.sqrt(math.pi) * f)


def _erf_small(z):
    """erf(z) for |z| < 2.5: (2/sqrt(pi)) exp(-z^2) sum_k z (2z^2)^k / (2k+1)!! (no cancellation)."""
    term, total, z2 = z.copy(), z.copy(), 2 * z * z
    for k in range(1, _SERIES_TERMS):
        term = term * z2 / (2 * k + 1)
        total += term
    return (2 / math.sqrt(math.pi)) * np.exp(-z * z) * total


def erf(x):
    """Error function, numpy only (float64 accuracy ~1e-15 absolute; checked against ``math.erf``).

    Args:
        x: array of any shape (*).

    Returns:
        erf(x) of shape (*), dtype of ``x`` (float64 for integer input).
    """
    x = as_float(x)
    z = np.asarray(x, dtype=np.float64)
    out = np.empty_like(z)
    small = np.abs(z) < 2.5
    out[small] = _erf_small(z[small])
    big = ~small & ~np.isnan(z)
    out[big] = np.sign(z[big]) * (1.0 - _erfc_large(np.abs(z[big])))
    out[np.isnan(z)] = np.nan
    return out.astype(x.dtype, copy=False)


def _normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 in float64, accurate in the left tail too."""
    z = np.asarray(x, dtype=np.float64) / _SQRT_2
    left = z <= -2.5
    out = 0.5 * (1.0 + erf(np.where(left, 0.0, z)))
    out[left] = 0.5 * _erfc_large(-z[left])
    return out


# --------------------------------------------------------------------------- element-wise activations

def sigmoid(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow for any x.

    Args:
        x: array of any shape (*).

    Returns:
        Array (*) in [0, 1], same dtype as ``x``.
    """
    x = as_float(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(dout, x):
    """Gradient of :func:`sigmoid`: ``dout * s * (1 - s)`` with s = sigmoid(x) (at most dout / 4)."""
    x = as_float(x)
    dout, dtype = _as_dout(dout, x)
    s = sigmoid(x)
    return (dout * s * (1 - s)).astype(dtype, copy=False)


def tanh(x):
    """Hyperbolic tangent (= 2 sigmoid(2x) - 1), values in [-1, 1], zero-centred; shape (*) kept."""
    x = as_float(x)
    return np.tanh(x)


def tanh_backward(dout, x):
    """Gradient of :func:`tanh`: ``dout * (1 - tanh(x)**2)`` (at most dout, at x = 0)."""
    x = as_float(x)
    dout, dtype = _as_dout(dout, x)
    t = np.tanh(x)
    return (dout * (1 - t * t)).astype(dtype, copy=False)


def relu(x):
    """Rectified linear unit max(x, 0); shape (*) and dtype kept, NaN propagates like torch."""
    x = as_float(x)
    return np.maximum(x, 0)  # np.maximum propagates NaN, like torch


def relu_backward(dout, x):
    """Gradient of :func:`relu`: ``dout`` where x > 0, else 0 (torch's choice at x = 0)."""
    x = as_float(x)
    dout, dtype = _as_dout(dout, x)
    return np.where(x > 0, dout, 0).astype(dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU: x for x > 0, ``negative_slope * x`` otherwise.

    Args:
        x: array of any shape (*).
        negative_slope: finite real slope for x <= 0 (torch's default 0.01).

    Returns:
        Array (*), same dtype as ``x``.
    """
    x = as_float(x)
    slope = _number(negative_slope, "negative_slope")
    return np.where(x > 0, x, x * slope).astype(x.dtype, copy=False)


def leaky_relu_backward(dout, x, negative_slope=0.01):
    """Gradient of :func:`leaky_relu`: dout for x > 0, ``negative_slope * dout`` for x <= 0."""
    x = as_float(x)
    slope = _number(negative_slope, "negative_slope")
    dout, dtype = _as_dout(dout, x)
    return np.where(x > 0, dout, dout * slope).astype(dtype, copy=False)


def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0, ``alpha * (exp(x) - 1)`` otherwise (Clevert et al., 2015).

    Args:
        x: array of any shape (*).
        alpha: saturation value -alpha for x -> -inf; a finite real >= 0 (a negative alpha would
            make ELU non-monotonic, so it is refused here although torch accepts it).

    Returns:
        Array (*), same dtype as ``x``.
    """
    x = as_float(x)
    alpha = _number(alpha, "alpha", minimum=0)
    neg = alpha * np.expm1(np.minimum(x, 0))  # expm1 is exact near 0; min() avoids overflow for x >> 0
    return np.where(x > 0, x, neg).astype(x.dtype, copy=False)


def elu_backward(dout, x, alpha=1.0):
    """Gradient of :func:`elu`: dout for x > 0, ``dout * alpha * exp(x)`` for x <= 0."""
    x = as_float(x)
    alpha = _number(alpha, "alpha", minimum=0)
    dout, dtype = _as_dout(dout, x)
    return np.where(x > 0, dout, dout * alpha * np.exp(np.minimum(x, 0))).astype(dtype, copy=False)


def gelu(x, approximate="none"):
    """Gaussian error linear unit x * Phi(x) (Hendrycks & Gimpel, 2016), Phi the normal CDF.

    Args:
        x: array of any shape (*).
        approximate: ``"none"`` for the exact ``0.5 x (1 + erf(x / sqrt 2))`` or ``"tanh"`` for
            ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Returns:
        Array (*), same dtype as ``x``.
    """
    x = as_float(x)
    if _approximate(approximate) == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_C * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (x * _normal_cdf(x)).astype(x.dtype, copy=False)


def gelu_backward(dout, x, approximate="none"):
    """Gradient of :func:`gelu`: ``dout * (Phi(x) + x phi(x))`` (phi the normal density), or the
    derivative of the tanh form."""
    x = as_float(x)
    approximate = _approximate(approximate)
    dout, dtype = _as_dout(dout, x)
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x**3))
        grad = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_C * x * x)
    else:
        x64 = np.asarray(x, dtype=np.float64)
        grad = _normal_cdf(x64) + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return (dout * grad).astype(dtype, copy=False)


# --------------------------------------------------------------------------- softmax family

def softmax(x, dim=-1):
    """Softmax ``exp(x) / sum(exp(x))`` along ``dim``, computed as ``exp(x - max)`` (no overflow).

    Args:
        x: array of any shape, e.g. logits (N, K).
        dim: the axis that sums to 1, ``-x.ndim <= dim < x.ndim``.

    Returns:
        Array of the shape of ``x``, same dtype; each slice along ``dim`` sums to 1.
    """
    x = as_float(x)
    axis = _axis(dim, x)
    x1 = np.atleast_1d(x)
    e = np.exp(x1 - x1.max(axis=axis, keepdims=True))  # largest term is exp(0) = 1
    return (e / e.sum(axis=axis, keepdims=True)).reshape(x.shape)


def log_softmax(x, dim=-1):
    """log(softmax(x)) along ``dim`` by the log-sum-exp trick: ``x - max - log(sum(exp(x - max)))``.

    Args:
        x: array of any shape, e.g. logits (N, K).
        dim: the axis to normalise, ``-x.ndim <= dim < x.ndim``.

    Returns:
        Array of the shape of ``x``, same dtype; finite wherever ``x`` is (no ``log(0) = -inf``).
    """
    x = as_float(x)
    axis = _axis(dim, x)
    x1 = np.atleast_1d(x)
    shifted = x1 - x1.max(axis=axis, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).reshape(x.shape)


def softmax_backward(dout, x, dim=-1):
    """Gradient of :func:`softmax`: ``y * (dout - sum(dout * y, dim))`` with y = softmax(x, dim).

    This is the vector-Jacobian product with J = diag(y) - y y^T, without building the K x K matrix.
    """
    x = as_float(x)
    axis = _axis(dim, x)
    dout, dtype = _as_dout(dout, x)
    y, g = np.atleast_1d(softmax(x, dim)), np.atleast_1d(dout)
    dx = y * (g - (g * y).sum(axis=axis, keepdims=True))
    return dx.reshape(x.shape).astype(dtype, copy=False)


def log_softmax_backward(dout, x, dim=-1):
    """Gradient of :func:`log_softmax`: ``dout - softmax(x) * sum(dout, dim)``."""
    x = as_float(x)
    axis = _axis(dim, x)
    dout, dtype = _as_dout(dout, x)
    y, g = np.atleast_1d(softmax(x, dim)), np.atleast_1d(dout)
    dx = g - y * g.sum(axis=axis, keepdims=True)
    return dx.reshape(x.shape).astype(dtype, copy=False)
