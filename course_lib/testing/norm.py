"""Exercise specifications for Chapter 5 (normalisation and regularisation).

The graded batch-norm exercises are *pure* functions: ``batch_norm_train`` returns the new running
statistics instead of updating them in place (the checker refuses functions that change their
inputs), and the notebook then wraps them into a layer with torch's in-place behaviour.
"""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, CheckFailure, Exercise, Extra, answers, forbidden

norm = answers("norm")  # the answers, imported when first used

__all__ = ["EXERCISES"]

_TOL = {"rtol": 1e-5, "atol": 1e-6}
_BN_HINT = "The output has the shape of x; running statistics, weight and bias have shape (C,)."


# --------------------------------------------------------------------------- references

# (``course_lib.reference.norm`` is imported inside the wrappers, so that it is switched off for them too
# while a student's function is checked: passing or calling a wrapper earns nothing.)

def batch_norm_train(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5):
    """Training-mode batch norm without side effects: (out, new_running_mean, new_running_var)."""
    from course_lib.reference import norm as reference

    new_mean, new_var = running_mean.copy(), running_var.copy()
    out = reference.batch_norm(x, new_mean, new_var, weight, bias, training=True, momentum=momentum, eps=eps)
    return out, new_mean, new_var


def batch_norm_eval(x, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """Evaluation-mode batch norm (running statistics)."""
    from course_lib.reference import norm as reference

    return reference.batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=eps)


# --------------------------------------------------------------------------- case builders

def _stats(rng, c, dtype=np.float64):
    """Plausible running statistics: mean (C,), var (C,) > 0."""
    return randn(rng, c, dtype=dtype), (rng.random(c) + 0.5).astype(dtype)


def _affine(rng, c, dtype=np.float64, p_none=0.3):
    w = randn(rng, c, dtype=dtype) if rng.random() >= p_none else None
    b = randn(rng, c, dtype=dtype) if rng.random() >= p_none else None
    return w, b


def _random_x(rng, dtype=np.float64, min_values=2):
    """(N, C), (N, C, L) or (N, C, H, W) with at least ``min_values`` values per channel, shifted and scaled."""
    kind = rng.integers(0, 3)
    c = int(rng.integers(1, 5))
    if kind == 0:
        shape = (int(rng.integers(min_values, 9)), c)
    elif kind == 1:
        shape = (int(rng.integers(1, 4)), c, int(rng.integers(min_values, 6)))
    else:
        shape = (int(rng.integers(1, 4)), c, int(rng.integers(1, 4)), int(rng.integers(min_values, 5)))
    scale = np.exp(rng.uniform(-1.5, 1.5, size=c)).reshape((1, c) + (1,) * (len(shape) - 2))
    shift = rng.uniform(-3, 3, size=c).reshape(scale.shape)
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


_EPS = (1e-5, 1e-5, 1e-3, 0.1, 0.5)


# --------------------------------------------------------------------------- batch_norm_train

def _bn_train_visible():
    rng = np.random.default_rng(50)
    x_small = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [6.0, 60.0]])  # (N=4, C=2)
    zeros, ones = np.zeros(2), np.ones(2)
    m3, v3 = _stats(rng, 3)
    return [
        Case((x_small, zeros, ones), note="(N, C) input, no gamma/beta, default momentum 0.1"),
        Case((randn(rng, 4, 3, 2, 2) * 2 + 1, m3, v3, randn(rng, 3), randn(rng, 3)), {"momentum": 0.5},
             note="(N, C, H, W): statistics over N, H and W; gamma and beta"),
        Case((np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 1.0]]), np.zeros(3), np.ones(3)), {"momentum": 1.0},
             note="momentum 1: the running stats become the batch stats, with the UNBIASED variance"),
        Case((randn(rng, 5, 3) * 0.5, m3, v3), {"eps": 0.5}, note="a large eps, added to the variance"),
        Case((randn(rng, 3, 2, 2, 2, dtype=np.float32), np.zeros(2, np.float32), np.ones(2, np.float32)),
             note="float32 stays float32"),
        Case((randn(rng, 4, 3), np.zeros(2), np.ones(2)), raises=ValueError,
             note="x has 3 channels but the running stats have 2"),
        Case((randn(rng, 1, 3), np.zeros(3), np.ones(3)), raises=ValueError,
             note="one value per channel: no variance to estimate"),
    ]


def _bn_train_hidden(rng):
    cases = []
    for _ in range(25):
        x = _random_x(rng)
        c = x.shape[1]
        m, v = _stats(rng, c)
        w, b = _affine(rng, c)
        cases.append(Case((x, m, v, w, b), {"momentum": float(rng.choice([0.1, 0.01, 0.5, 0.9, 1.0, 0.0])),
                                            "eps": float(rng.choice(_EPS))}))
    c = 3
    cases += [
        Case((randn(rng, 4, c, 2, 2), *_stats(rng, c + 1)), raises=ValueError),
        Case((randn(rng, 4, c), *_stats(rng, c), randn(rng, c + 2)), raises=ValueError),
        Case((randn(rng, 1, c, 1, 1), *_stats(rng, c)), raises=ValueError),
    ]
    return cases


# --------------------------------------------------------------------------- batch_norm_eval

def _bn_eval_visible():
    rng = np.random.default_rng(51)
    return [
        Case((np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([2.0, 20.0]), np.array([1.0, 100.0])),
             note="(N, C) input: (x - running_mean) / sqrt(running_var + eps)"),
        Case((randn(rng, 2, 3, 3, 3), *_stats(rng, 3), randn(rng, 3), randn(rng, 3)),
             note="(N, C, H, W) with gamma and beta"),
        Case((randn(rng, 1, 4), *_stats(rng, 4)), note="a single sample is fine in evaluation mode"),
        Case((randn(rng, 3, 2), *_stats(rng, 2)), {"eps": 0.5}, note="a large eps"),
        Case((randn(rng, 2, 3, 4), *_stats(rng, 2)), raises=ValueError,
             note="x has 3 channels but the running stats have 2"),
    ]


def _bn_eval_hidden(rng):
    cases = []
    for _ in range(20):
        x = _random_x(rng, min_values=1)
        c = x.shape[1]
        cases.append(Case((x, *_stats(rng, c), *_affine(rng, c)), {"eps": float(rng.choice(_EPS))}))
    cases.append(Case((randn(rng, 2, 4, 3), *_stats(rng, 3)), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- batch_norm_backward

def _bn_backward_case(x, weight, bias, rng, eps=1e-5, note=""):
    return Case((randn(rng, *x.shape), x, weight, bias), {"eps": eps}, note=note)


def _bn_backward_visible():
    rng = np.random.default_rng(52)
    return [
        _bn_backward_case(randn(rng, 4, 3) * 2 + 1, randn(rng, 3), randn(rng, 3), rng, note="(N, C)"),
        _bn_backward_case(randn(rng, 2, 3, 3, 3), randn(rng, 3), randn(rng, 3), rng,
                          note="(N, C, H, W): sums over N, H and W"),
        _bn_backward_case(randn(rng, 5, 2), None, None, rng, note="no gamma/beta: dweight and dbias are None"),
        _bn_backward_case(randn(rng, 3, 2, 2) * 0.3, randn(rng, 2), None, rng, eps=0.5,
                          note="large eps, (N, C, L) input, no bias"),
    ]


def _bn_backward_hidden(rng):
    cases = []
    for _ in range(20):
        x = _random_x(rng)
        cases.append(_bn_backward_case(x, *_affine(rng, x.shape[1]), rng, eps=float(rng.choice(_EPS))))
    return cases


# --------------------------------------------------------------------------- layer_norm

def _ln_visible():
    rng = np.random.default_rng(53)
    return [
        Case((np.array([[1.0, 2.0, 3.0, 4.0, 10.0], [0.0, 0.0, 1.0, 1.0, 3.0]]), 5),
             note="(N, D), normalized_shape=D: each row on its own"),
        Case((randn(rng, 2, 3, 4), (3, 4), randn(rng, 3, 4), randn(rng, 3, 4)),
             note="normalise over the last two axes, with gamma/beta of shape (3, 4)"),
        Case((randn(rng, 2, 3, 4), 4, randn(rng, 4), None), note="(N, T, D), normalized_shape=(D,)"),
        Case((randn(rng, 1, 6) * 3 + 2, (6,)), {"eps": 0.5}, note="one sample, large eps"),
        Case((randn(rng, 2, 3, 4), 3), raises=ValueError, note="normalized_shape (3,) is not the last axis (4)"),
    ]


def _ln_hidden(rng):
    cases = []
    for _ in range(20):
        ndim = int(rng.integers(2, 5))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=ndim))
        k = int(rng.integers(1, ndim + 1))
        ns = shape[ndim - k:]
        x = (randn(rng, *shape) * np.exp(rng.uniform(-1, 1)) + rng.uniform(-2, 2))
        w = randn(rng, *ns) if rng.random() < 0.6 else None
        b = randn(rng, *ns) if rng.random() < 0.6 else None
        cases.append(Case((x, ns[0] if k == 1 and rng.random() < 0.5 else ns, w, b),
                          {"eps": float(rng.choice(_EPS))}))
    cases.append(Case((randn(rng, 2, 5), 4), raises=ValueError))
    cases.append(Case((randn(rng, 2, 3, 4), (2, 4)), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- dropout

def _dropout_visible():
    rng = np.random.default_rng(54)
    return [
        Case((np.ones((4, 5)), 0.5), {"rng": 0}, note="p=0.5, seed 0: kept ones become 2.0"),
        Case((randn(rng, 2, 3, 4, 4), 0.2), {"rng": 1}, note="p=0.2: kept values scaled by 1/0.8"),
        Case((randn(rng, 3, 4), 0.5), {"training": False, "rng": 2}, note="evaluation mode: the identity"),
        Case((randn(rng, 3, 4), 0.0), {"rng": 3}, note="p=0 drops nothing"),
        Case((randn(rng, 6, 3), 0.7), {"rng": np.random.default_rng(7)}, note="rng given as a Generator"),
        Case((randn(rng, 2, 8, dtype=np.float32), 0.25), {"rng": 4}, note="float32 stays float32"),
        Case((np.ones((2, 2)), 1.0), raises=ValueError, note="p=1 would divide by zero"),
        Case((np.ones((2, 2)), -0.1), raises=ValueError, note="p must be >= 0"),
    ]


def _dropout_hidden(rng):
    cases = []
    for _ in range(15):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 5))))
        seed = int(rng.integers(0, 2**31))
        cases.append(Case((randn(rng, *shape), float(rng.choice([0.0, 0.1, 0.25, 0.5, 0.8]))),
                          {"training": bool(rng.random() < 0.8),
                           "rng": seed if rng.random() < 0.5 else np.random.default_rng(seed)}))
    cases += [Case((np.ones(3), 1.5), raises=ValueError), Case((np.ones(3), 1.0), {"training": False},
                                                              raises=ValueError)]
    return cases


_DROP_PS = (0.2, 0.5, 0.8)


def _dropout_runs(ex: Exercise, fn) -> dict:
    """Kernel side of the statistics check: the outputs on ones for three p, and two rng=None calls."""
    x = np.ones((400, 250))
    with forbidden(fn, ex.forbid, ex.name, ex.allow):
        outs = [np.asarray(fn(x.copy(), p, True, np.random.default_rng(123))) for p in _DROP_PS]
        again = [np.asarray(fn(x[:10].copy(), 0.5, True, None)) for _ in range(2)]
    return {"outs": outs, "again": again}


def _dropout_statistics(ex: Exercise, data: dict) -> None:
    """The mean is preserved, a fraction p is dropped, rng=None is not a fixed seed."""
    for p, out in zip(_DROP_PS, data["outs"], strict=True):
        out = np.asarray(out, dtype=np.float64)
        if out.shape != (400, 250):
            raise CheckFailure(f"dropout(x of shape (400, 250), p={p}) returned shape {out.shape}.")
        dropped = float((out == 0).mean())
        if abs(dropped - p) > 0.01:
            raise CheckFailure(f"dropout(x, p={p}) zeroed {dropped:.3f} of 100,000 values; expected about {p}.")
        if abs(out.mean() - 1.0) > 0.03:
            raise CheckFailure(f"dropout(x of ones, p={p}) has mean {out.mean():.3f}; inverted dropout keeps "
                               f"the expectation: scale the kept values by 1 / (1 - p) = {1 / (1 - p):.3f}.")
    a, b = data["again"]
    if np.array_equal(a, b):
        raise CheckFailure("dropout(x, p=0.5, rng=None) gave the same mask twice: with rng=None draw fresh "
                           "random numbers (np.random.default_rng(None)), do not fix a seed.")


# --------------------------------------------------------------------------- local_response_norm

def _lrn_visible():
    rng = np.random.default_rng(55)
    return [
        Case((np.ones((1, 5, 1, 1)), 3), {"alpha": 3.0, "beta": 1.0, "k": 1.0},
             note="ones, size 3: the first and last channel see a zero neighbour"),
        Case((randn(rng, 2, 8, 4, 4) * 10, 5), {"alpha": 5e-4, "beta": 0.75, "k": 2.0},
             note="AlexNet's setting: the paper's α = 1e-4 on the plain sum is alpha = 5e-4 divided by size 5"),
        Case((randn(rng, 2, 6, 7), 2), {"alpha": 0.5, "beta": 0.75, "k": 1.0},
             note="(N, C, L) input, even size: channels c-1 and c"),
        Case((randn(rng, 1, 4, 3, 3), 4), {"alpha": 1.0, "beta": 0.5, "k": 1.0}, note="size 4, strong alpha"),
        Case((randn(rng, 1, 3, 2, 2), 1), {"alpha": 1.0, "beta": 1.0, "k": 0.5}, note="size 1: each channel alone"),
        Case((randn(rng, 2, 3, 2, 2), 9), {"alpha": 1.0}, note="window larger than C"),
    ]


def _lrn_hidden(rng):
    cases = []
    for _ in range(20):
        ndim = int(rng.integers(3, 5))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 9)), *(int(v) for v in rng.integers(1, 5, ndim - 2)))
        cases.append(Case((randn(rng, *shape) * float(rng.choice([1.0, 5.0])), int(rng.integers(1, 8))),
                          {"alpha": float(rng.choice([1e-4, 0.1, 1.0])), "beta": float(rng.choice([0.5, 0.75, 1.0])),
                           "k": float(rng.choice([0.5, 1.0, 2.0]))}))
    return cases


EXERCISES = {ex.name: ex for ex in [
    Exercise("batch_norm_train", batch_norm_train, _bn_train_visible, _bn_train_hidden, hint=_BN_HINT,
             output_names=("out", "new_running_mean", "new_running_var"), **_TOL),
    Exercise("batch_norm_eval", batch_norm_eval, _bn_eval_visible, _bn_eval_hidden, hint=_BN_HINT, **_TOL),
    Exercise("batch_norm_backward", norm.batch_norm_backward, _bn_backward_visible, _bn_backward_hidden,
             output_names=("dx", "dweight", "dbias"), hint="Each gradient has the shape of the array it belongs to.",
             **_TOL),
    Exercise("layer_norm", norm.layer_norm, _ln_visible, _ln_hidden,
             hint="The output has the shape of x.", **_TOL),
    Exercise("dropout", norm.dropout, _dropout_visible, _dropout_hidden,
             extra=Extra(_dropout_runs, _dropout_statistics), **_TOL),
    Exercise("local_response_norm", norm.local_response_norm, _lrn_visible, _lrn_hidden, **_TOL),
]}
