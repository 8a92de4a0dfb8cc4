"""Exercise specifications for Chapter 6 (loss functions)."""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, Exercise, answers

losses = answers("losses")  # the answers, imported when first used

__all__ = ["EXERCISES"]

_REDUCTIONS = ("none", "mean", "sum")
_TOL = {"rtol": 1e-5, "atol": 1e-6}

#: Logits that overflow ``np.exp`` in a naive softmax / sigmoid (exp(1000) = inf in float64).
_HUGE = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])


def _logits(rng, n, k, scale=None, dtype=np.float64):
    scale = scale if scale is not None else float(rng.choice([1.0, 3.0, 10.0, 1000.0]))
    return (scale * rng.standard_normal((n, k))).astype(dtype)


def _reduction(rng):
    return str(rng.choice(_REDUCTIONS))


def _dtype(rng):
    return np.float32 if rng.random() < 0.2 else np.float64


# --------------------------------------------------------------------------- cross_entropy

def _ce_visible():
    rng = np.random.default_rng(60)
    x, t = randn(rng, 3, 4), np.array([0, 3, 1])
    return [
        Case((x, t), note="3 samples, 4 classes, reduction='mean' (the default)"),
        Case((x, t), {"reduction": "none"}, note="one loss per sample"),
        Case((x, t), {"reduction": "sum"}, note="reduction='sum'"),
        Case((_HUGE, np.array([0, 2])), {"reduction": "none"},
             note="logits ±1000: exp overflows unless you subtract the row maximum first"),
        Case((x, t), {"label_smoothing": 0.1}, note="label smoothing ε = 0.1"),
        Case((randn(rng, 2, 5, dtype=np.float32), np.array([4, 0])), {"reduction": "none"},
             note="float32 stays float32"),
        Case((x, np.array([0, 4, 1])), raises=ValueError, note="class index 4 with K = 4 classes"),
        Case((x, np.array([0, -1, 1])), raises=ValueError, note="negative class index"),
        Case((x, t), {"reduction": "avg"}, raises=ValueError, note="unknown reduction"),
    ]


def _ce_hidden(rng):
    cases = []
    for _ in range(20):
        n, k = int(rng.integers(1, 9)), int(rng.integers(1, 11))
        dtype = _dtype(rng)
        x = _logits(rng, n, k, 3.0 if dtype == np.float32 else None, dtype)
        smoothing = float(rng.uniform(0, 0.5)) if rng.random() < 0.3 else 0.0
        cases.append(Case((x, rng.integers(0, k, n)), {"reduction": _reduction(rng), "label_smoothing": smoothing}))
    x = randn(rng, 4, 3)
    cases += [Case((x, np.array([0, 1, 3, 2])), raises=ValueError),
              Case((x, np.array([0, 1, -2, 2])), raises=ValueError),
              Case((x, np.array([0, 1, 1, 2])), {"reduction": "max"}, raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- cross_entropy_backward

def _ce_backward_case(rng, n, k, reduction, scale=1.0, dtype=np.float64, note="", **kwargs):
    dout = randn(rng, n, dtype=dtype) if reduction == "none" else float(rng.uniform(0.5, 2.0))
    x, t = _logits(rng, n, k, scale, dtype), rng.integers(0, k, n)
    return Case((dout, x, t), {"reduction": reduction, **kwargs}, note=note)


def _ce_backward_visible():
    rng = np.random.default_rng(61)
    x, t = randn(rng, 3, 4), np.array([0, 3, 1])
    return [
        Case((1.0, x, t), note="reduction='mean', dout = 1: (softmax − one-hot) / N"),
        Case((2.0, x, t), {"reduction": "sum"}, note="reduction='sum', dout = 2: no division by N"),
        Case((np.array([1.0, -0.5, 2.0]), x, t), {"reduction": "none"},
             note="reduction='none': row n is scaled by dout[n]"),
        Case((1.0, _HUGE, np.array([0, 2])), note="logits ±1000: the softmax must not overflow"),
        Case((1.0, x, t), {"label_smoothing": 0.2}, note="label smoothing: softmax − smoothed one-hot"),
        _ce_backward_case(rng, 2, 3, "mean", dtype=np.float32, note="float32 stays float32"),
    ]


def _ce_backward_hidden(rng):
    cases = []
    for _ in range(15):
        dtype = _dtype(rng)
        smoothing = float(rng.uniform(0, 0.5)) if rng.random() < 0.3 else 0.0
        cases.append(_ce_backward_case(rng, int(rng.integers(1, 9)), int(rng.integers(1, 11)), _reduction(rng),
                                       3.0 if dtype == np.float32 else float(rng.choice([1.0, 10.0, 1000.0])),
                                       dtype, label_smoothing=smoothing))
    return cases


# --------------------------------------------------------------------------- binary_cross_entropy_with_logits

def _bce_visible():
    rng = np.random.default_rng(62)
    x, t = randn(rng, 4, 3), rng.integers(0, 2, (4, 3)).astype(np.float64)
    huge = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    return [
        Case((x, t), note="0/1 labels, reduction='mean'"),
        Case((huge, np.array([1.0, 0.0, 0.0, 1.0])), {"reduction": "none"},
             note="logits ±1000: right → 0, wrong → 1000; a naive log(sigmoid) gives inf or nan"),
        Case((x, t), {"reduction": "sum"}, note="reduction='sum'"),
        Case((x, rng.uniform(0, 1, (4, 3))), {"reduction": "none"}, note="soft targets (probabilities)"),
        Case((x, t), {"pos_weight": np.array([1.0, 3.0, 0.5])}, note="pos_weight per class (K,)"),
        Case((randn(rng, 5, dtype=np.float32), np.array([0, 1, 1, 0, 1], np.float32)), {"reduction": "none"},
             note="float32 stays float32"),
        Case((x, t + 0.5), raises=ValueError, note="targets outside [0, 1]"),
        Case((x, t[:, :2]), raises=ValueError, note="target shape differs from input shape"),
        Case((x, t), {"reduction": "elementwise"}, raises=ValueError, note="unknown reduction"),
    ]


def _bce_hidden(rng):
    cases = []
    for _ in range(20):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        dtype = _dtype(rng)
        scale = 3.0 if dtype == np.float32 else float(rng.choice([1.0, 10.0, 1000.0]))
        x = (scale * rng.standard_normal(shape)).astype(dtype)
        t = (rng.integers(0, 2, shape) if rng.random() < 0.6 else rng.uniform(0, 1, shape)).astype(dtype)
        kwargs = {"reduction": _reduction(rng)}
        if rng.random() < 0.4:
            kwargs["pos_weight"] = rng.uniform(0.1, 5, shape[-1]).astype(dtype)
        cases.append(Case((x, t), kwargs))
    x = randn(rng, 3, 2)
    cases += [Case((x, np.full((3, 2), -0.1)), raises=ValueError), Case((x, np.full((3, 2), 1.01)), raises=ValueError),
              Case((x, np.zeros((2, 3))), raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- smooth_l1_loss

def _smooth_l1_visible():
    rng = np.random.default_rng(63)
    errors = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 0.9, 1.0, 2.5])
    x, y = randn(rng, 4, 4), randn(rng, 4, 4)
    return [
        Case((errors, np.zeros(8)), {"reduction": "none"}, note="errors on both sides of β = 1"),
        Case((errors, np.zeros(8)), {"reduction": "none", "beta": 0.5}, note="β = 0.5: divide by β"),
        Case((errors, np.zeros(8)), {"reduction": "none", "beta": 0.0}, note="β = 0 is the L1 loss"),
        Case((errors, np.zeros(8)), {"reduction": "none", "beta": 4.0}, note="β = 4: all in the quadratic zone"),
        Case((x, y), note="reduction='mean'"),
        Case((x, y), {"reduction": "sum", "beta": 2.0}, note="reduction='sum', β = 2"),
        Case((x.astype(np.float32), y.astype(np.float32)), {"reduction": "none"}, note="float32 stays float32"),
        Case((x, y[:3]), raises=ValueError, note="input and target shapes differ"),
        Case((x, y), {"beta": -1.0}, raises=ValueError, note="negative β"),
        Case((x, y), {"reduction": "average"}, raises=ValueError, note="unknown reduction"),
    ]


def _smooth_l1_hidden(rng):
    cases = []
    for _ in range(20):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        dtype = _dtype(rng)
        beta = float(rng.choice([0.0, 1.0, float(rng.uniform(0.05, 3))]))
        scale = float(rng.choice([0.3, 1.0, 5.0]))
        cases.append(Case((randn(rng, *shape, dtype=dtype) * dtype(scale), randn(rng, *shape, dtype=dtype)),
                          {"reduction": _reduction(rng), "beta": beta}))
    return cases + [Case((randn(rng, 3), randn(rng, 4)), raises=ValueError)]


# --------------------------------------------------------------------------- sigmoid_focal_loss

def _focal_visible():
    rng = np.random.default_rng(64)
    x, t = 2 * randn(rng, 6, 3), (rng.random((6, 3)) < 0.3).astype(np.float64)
    huge = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    return [
        Case((x, t), note="defaults: α = 0.25, γ = 2, reduction='none' (torchvision's defaults)"),
        Case((x, t), {"alpha": -1}, note="α < 0: no α weighting"),
        Case((x, t), {"gamma": 0}, note="γ = 0: α-balanced cross-entropy"),
        Case((x, t), {"alpha": 0.5, "gamma": 5}, note="γ = 5"),
        Case((huge, np.array([1.0, 0.0, 0.0, 1.0])), note="logits ±1000: use a stable cross-entropy"),
        Case((x, t), {"reduction": "mean"}, note="reduction='mean'"),
        Case((x, t), {"reduction": "sum"}, note="reduction='sum'"),
        Case((x, t), {"reduction": "elementwise_mean"}, raises=ValueError, note="unknown reduction"),
    ]


def _focal_hidden(rng):
    cases = []
    for _ in range(20):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        dtype = _dtype(rng)
        scale = 3.0 if dtype == np.float32 else float(rng.choice([1.0, 5.0, 1000.0]))
        x = (scale * rng.standard_normal(shape)).astype(dtype)
        t = (rng.integers(0, 2, shape) if rng.random() < 0.8 else rng.uniform(0, 1, shape)).astype(dtype)
        alpha = float(rng.choice([-1.0, 0.25, float(rng.uniform(0, 1))]))
        gamma = float(rng.choice([0.0, 1.0, 2.0, float(rng.uniform(0.5, 5))]))
        cases.append(Case((x, t), {"alpha": alpha, "gamma": gamma, "reduction": _reduction(rng)}))
    return cases


# --------------------------------------------------------------------------- multi_margin_loss

def _margin_visible():
    rng = np.random.default_rng(65)
    # CS231n's example: cat / car / frog scores for three images (columns: images → here rows).
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    x, t = randn(rng, 4, 5), np.array([4, 0, 2, 2])
    return [
        Case((scores, labels), {"reduction": "none"}, note="CS231n's cat/car/frog: 2.9, 0, 12.9, each / K = 3"),
        Case((scores, labels), note="reduction='mean'"),
        Case((x, t), {"p": 2}, note="squared hinge p = 2"),
        Case((x, t), {"margin": 0.5, "reduction": "sum"}, note="margin 0.5, reduction='sum'"),
        Case((x.astype(np.float32), t), {"reduction": "none"}, note="float32 stays float32"),
        Case((x, np.array([4, 0, 5, 2])), raises=ValueError, note="class index 5 with K = 5 classes"),
        Case((x, t), {"reduction": "mean_per_class"}, raises=ValueError, note="unknown reduction"),
    ]


def _margin_hidden(rng):
    cases = []
    for _ in range(20):
        n, k = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        dtype = _dtype(rng)
        kwargs = {"p": int(rng.integers(1, 3)), "margin": float(rng.choice([1.0, float(rng.uniform(0, 3))])),
                  "reduction": _reduction(rng)}
        cases.append(Case((_logits(rng, n, k, 2.0, dtype), rng.integers(0, k, n)), kwargs))
    return cases + [Case((randn(rng, 2, 3), np.array([3, 0])), raises=ValueError)]


EXERCISES = {ex.name: ex for ex in [
    Exercise("cross_entropy", losses.cross_entropy, _ce_visible, _ce_hidden, **_TOL),
    Exercise("cross_entropy_backward", losses.cross_entropy_backward, _ce_backward_visible, _ce_backward_hidden,
             hint="The gradient has the shape of the logits, (N, K).", **_TOL),
    Exercise("binary_cross_entropy_with_logits", losses.binary_cross_entropy_with_logits, _bce_visible,
             _bce_hidden, **_TOL),
    Exercise("smooth_l1_loss", losses.smooth_l1_loss, _smooth_l1_visible, _smooth_l1_hidden, **_TOL),
    Exercise("sigmoid_focal_loss", losses.sigmoid_focal_loss, _focal_visible, _focal_hidden, **_TOL),
    Exercise("multi_margin_loss", losses.multi_margin_loss, _margin_visible, _margin_hidden, **_TOL),
]}
