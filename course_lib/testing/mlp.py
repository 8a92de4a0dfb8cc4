"""Exercise specifications for Chapter 1 (neural-network basics)."""

from __future__ import annotations

import numpy as np

from course_lib.data import make_separable, make_xor

from ._cases import randn
from .core import DEFAULT_FORBIDDEN, Case, Exercise, answers

mlp = answers("mlp")  # the answers, imported when first used

__all__ = ["EXERCISES"]

#: The answers are off (DEFAULT_FORBIDDEN); where the student writes the gradient check itself, the
#: course's gradient checker (a tool with a central difference of its own) is off too.
_FORBID = DEFAULT_FORBIDDEN
_FORBID_GRADCHECK = (*_FORBID, "course_lib.gradcheck")


# --------------------------------------------------------------------------- perceptron

_TRUTH = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _predict_visible():
    rng = np.random.default_rng(11)
    return [
        Case((_TRUTH, np.array([1.0, 1.0]), -1.5), note="AND gate: w = (1, 1), b = −1.5"),
        Case((_TRUTH, np.array([1.0, 1.0]), -0.5), note="OR gate: w = (1, 1), b = −0.5"),
        Case((_TRUTH, np.array([1.0, 1.0]), -1.0), note="a score of exactly 0 gives class 0"),
        Case((randn(rng, 6, 3), randn(rng, 3), 0.3), note="random inputs, D = 3"),
    ]


def _predict_hidden(rng):
    cases = []
    for _ in range(15):
        n, d = int(rng.integers(1, 20)), int(rng.integers(1, 6))
        cases.append(Case((randn(rng, n, d), randn(rng, d), float(rng.normal()))))
    cases.append(Case((np.zeros((3, 2)), np.zeros(2), 0.0), note="all scores 0"))
    return cases


def _train_visible():
    X_sep, y_sep = make_separable(20, seed=3)
    X_xor, y_xor = make_xor()
    return [
        Case((_TRUTH, np.array([0, 0, 0, 1])), {"epochs": 10}, note="AND is linearly separable: converges"),
        Case((X_sep, y_sep), {"epochs": 20, "lr": 0.5}, note="a separable toy set, lr 0.5"),
        Case((X_xor, y_xor), {"epochs": 6}, note="XOR: an error in every epoch, all 6 epochs run"),
        Case((X_sep, y_sep), {"epochs": 20, "seed": 0},
             note="seed=0: each epoch visits rng.permutation(N), rng created once"),
        Case((_TRUTH, np.array([-1, -1, -1, 1])), raises=ValueError, note="labels must be 0 or 1, not ±1"),
    ]


def _train_hidden(rng):
    cases = []
    for _ in range(10):
        X, y = make_separable(int(rng.integers(5, 40)), margin=float(rng.uniform(0.1, 0.5)),
                                  seed=int(rng.integers(1 << 30)))
        seed = None if rng.random() < 0.5 else int(rng.integers(1000))
        cases.append(Case((X, y), {"epochs": int(rng.integers(1, 30)), "lr": float(rng.uniform(0.1, 2.0)),
                                   "seed": seed}))
    X, y = make_xor(int(rng.integers(4, 30)), noise=0.1, seed=int(rng.integers(1000)))
    cases.append(Case((X, y), {"epochs": 15, "seed": int(rng.integers(1000))}))
    cases.append(Case((randn(rng, 5, 2), np.array([0, 1, 2, 1, 0])), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- affine

def _affine_visible():
    rng = np.random.default_rng(12)
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    return [
        Case((x, w, np.array([0.0, 1.0])), note="hand example: out[0] = (1 − 3, 3 + 1)"),
        Case((randn(rng, 4, 5), randn(rng, 3, 5), randn(rng, 3)), note="weight is (D_out, D_in), like torch"),
        Case((randn(rng, 2, 3), randn(rng, 4, 3), None), note="bias None"),
        Case((randn(rng, 1, 6), randn(rng, 1, 6), randn(rng, 1)), note="one sample, one output"),
        Case((randn(rng, 2, 3), randn(rng, 4, 5), randn(rng, 4)), raises=ValueError,
             note="x has 3 features but weight expects 5"),
    ]


def _affine_hidden(rng):
    cases = []
    for _ in range(15):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 8, size=3))
        b = randn(rng, d_out) if rng.random() < 0.8 else None
        cases.append(Case((randn(rng, n, d_in), randn(rng, d_out, d_in), b)))
    cases.append(Case((randn(rng, 3, 4), randn(rng, 2, 3), randn(rng, 2)), raises=ValueError))
    return cases


def _affine_backward_case(rng, n, d_in, d_out, bias=True, note=""):
    x, w = randn(rng, n, d_in), randn(rng, d_out, d_in)
    b = randn(rng, d_out) if bias else None
    return Case((randn(rng, n, d_out), x, w, b), note=note)


def _affine_backward_visible():
    rng = np.random.default_rng(13)
    return [
        Case((np.ones((2, 2)), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
              np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]), np.zeros(2)),
             note="dout of ones: db sums dout over the batch, dw sums the inputs"),
        _affine_backward_case(rng, 4, 5, 3, note="dw has the weight's shape (D_out, D_in)"),
        _affine_backward_case(rng, 3, 4, 4, note="square weight: a transposed dw has the right shape"),
        _affine_backward_case(rng, 2, 3, 2, bias=False, note="no bias: db is None"),
    ]


def _affine_backward_hidden(rng):
    return [_affine_backward_case(rng, *(int(v) for v in rng.integers(1, 8, size=3)), bias=bool(rng.random() < 0.8))
            for _ in range(15)]


# --------------------------------------------------------------------------- numerical gradient

class _Fn:
    """A named test function for numerical_gradient (its name is what a failure message shows)."""

    def __init__(self, label, fn):
        self.label, self.fn = label, fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return self.label


_SUM_SQUARES = _Fn("f(x) = sum(x**2)", lambda x: np.sum(x ** 2))
_SIN = _Fn("f(x) = sin(x)", np.sin)
_IDENTITY = _Fn("f(x) = x (returns x itself)", lambda x: x)
_CUBIC = _Fn("f(x) = x**3 - 2x", lambda x: x ** 3 - 2 * x)
_SOFTMAX_ROWS = _Fn("f(x) = softmax of each row",
                    lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(
                        -1, keepdims=True))
_MATMUL = _Fn("f(x) = x @ A", lambda x: x @ np.linspace(-1, 1, x.shape[-1] * 3).reshape(x.shape[-1], 3))


def _numgrad_visible():
    rng = np.random.default_rng(14)
    x = randn(rng, 3, 4)
    return [
        Case((_SUM_SQUARES, np.array([1.0, -2.0, 3.0])), note="scalar f, dout None: gradient 2x"),
        Case((_SIN, randn(rng, 2, 3), randn(rng, 2, 3)), note="array f: gradient of sum(f(x) * dout)"),
        Case((_MATMUL, x, randn(rng, 3, 3)), note="f changes the shape: dout has the shape of f(x)"),
        Case((_IDENTITY, randn(rng, 4), randn(rng, 4)),
             note="f returns x itself: use f's value before you change x again"),
        Case((_CUBIC, np.array([0.5, 1.5])), {"dout": np.ones(2), "h": 1e-3}, note="h = 1e-3"),
    ]


def _numgrad_hidden(rng):
    cases = []
    for _ in range(12):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 4))))
        fn = [_SIN, _IDENTITY, _CUBIC, _SOFTMAX_ROWS, _MATMUL][int(rng.integers(5))]
        x = randn(rng, *shape)
        cases.append(Case((fn, x, randn(rng, *np.shape(fn(x))))))
    cases.append(Case((_SUM_SQUARES, randn(rng, 2, 2))))
    return cases


# --------------------------------------------------------------------------- softmax cross-entropy

def _ce_visible():
    rng = np.random.default_rng(15)
    return [
        Case((np.zeros((2, 4)), np.array([0, 3])), note="equal scores: loss = log K = log 4"),
        Case((np.array([[2.0, 1.0, 0.1]]), np.array([0])), note="one sample, K = 3"),
        Case((randn(rng, 5, 3), np.array([0, 1, 2, 1, 0])), note="dscores is divided by N (mean loss)"),
        Case((np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([1, 1])),
             note="huge scores: subtract each row's max before exp"),
        Case((randn(rng, 3, 3), np.array([0, 3, 1])), raises=ValueError, note="label 3 with K = 3 classes"),
        Case((randn(rng, 3, 3), np.array([0, 1])), raises=ValueError, note="2 labels for 3 samples"),
    ]


def _ce_hidden(rng):
    cases = []
    for _ in range(15):
        n, k = int(rng.integers(1, 10)), int(rng.integers(2, 8))
        scale = 1.0 if rng.random() < 0.7 else 300.0
        cases.append(Case((randn(rng, n, k) * scale + rng.normal(0, scale), rng.integers(0, k, size=n))))
    cases += [Case((randn(rng, 4, 3), np.array([0, 1, -1, 2])), raises=ValueError),
              Case((randn(rng, 4, 3), np.array([0, 1, 2])), raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- two-layer MLP

def _mlp_case(rng, n, d, h, k, reg=0.0, note=""):
    params = {"W1": randn(rng, h, d), "b1": randn(rng, h) * 0.5,
              "W2": randn(rng, k, h), "b2": randn(rng, k) * 0.5}
    return Case((randn(rng, n, d), rng.integers(0, k, size=n), params), {"reg": reg}, note=note)


def _mlp_visible():
    rng = np.random.default_rng(16)
    return [
        _mlp_case(rng, 3, 4, 5, 3, note="N=3, D=4, H=5, K=3, no regularisation"),
        _mlp_case(rng, 6, 3, 4, 2, reg=0.1,
                  note="reg=0.1: loss + reg/2·(‖W1‖² + ‖W2‖²), gradients + reg·W (not the biases)"),
        _mlp_case(rng, 1, 2, 3, 4, note="a single sample"),
        _mlp_case(rng, 8, 6, 10, 5, reg=0.01, note="more hidden units than inputs"),
    ]


def _mlp_hidden(rng):
    cases = []
    for _ in range(12):
        n, d, h, k = (int(v) for v in rng.integers(1, 9, size=4))
        cases.append(_mlp_case(rng, n, d, h, k + 1, reg=float(rng.choice([0.0, 0.0, 0.05, 0.5]))))
    return cases


EXERCISES = {ex.name: ex for ex in [
    Exercise("perceptron_predict", mlp.perceptron_predict, _predict_visible, _predict_hidden, forbid=_FORBID),
    Exercise("perceptron_train", mlp.perceptron_train, _train_visible, _train_hidden, forbid=_FORBID,
             output_names=("w", "b", "errors")),
    Exercise("affine", mlp.affine, _affine_visible, _affine_hidden, forbid=_FORBID,
             hint="out = x @ weight.T + bias has shape (N, D_out)."),
    Exercise("affine_backward", mlp.affine_backward, _affine_backward_visible, _affine_backward_hidden,
             forbid=_FORBID, output_names=("dx", "dw", "db"),
             hint="Each gradient has the shape of the array it belongs to: dw is (D_out, D_in) like weight."),
    Exercise("numerical_gradient", mlp.numerical_gradient, _numgrad_visible, _numgrad_hidden,
             forbid=_FORBID_GRADCHECK, rtol=1e-5, atol=1e-7,
             hint="The gradient has the shape of x."),
    Exercise("softmax_cross_entropy", mlp.softmax_cross_entropy, _ce_visible, _ce_hidden, forbid=_FORBID,
             output_names=("loss", "dscores")),
    Exercise("mlp_loss_and_grads", mlp.mlp_loss_and_grads, _mlp_visible, _mlp_hidden, forbid=_FORBID,
             output_names=("loss", "grads"), hint="Each gradient has the shape of its parameter."),
]}
