"""Exercise specifications for Chapter 2 (convolution)."""

from __future__ import annotations

import time

import numpy as np

from ._cases import fitting_size, maybe_pair, randn
from .core import Case, CheckFailure, Exercise, Extra, answers, forbidden

conv = answers("conv")  # the answers, imported when first used

__all__ = ["EXERCISES"]

_SIZE_HINT = "Output size per axis: H_out = (H + 2·P − KH) // S + 1."


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


# --------------------------------------------------------------------------- conv_output_size

def _size_visible():
    return [
        Case((5, 3), note="no padding"),
        Case((7, 3), {"stride": 2}, note="stride 2"),
        Case((32, 5, 1, 2), note="'same' padding for a 5×5 kernel"),
        Case((227, 11, 4, 0), note="AlexNet conv1: 227 → 55"),
        Case((224, 7, 2, 3), note="ResNet stem: 224 → 112"),
        Case((6, 3, 2), note="stride does not fit: floor like torch"),
        Case((3, 5), raises=ValueError, note="kernel larger than the input"),
        Case((5, 3), {"stride": 0}, raises=ValueError, note="stride must be ≥ 1"),
        Case((5, 3), {"padding": -1}, raises=ValueError, note="negative padding"),
        Case((6, 3, 2), {"strict": True}, raises=ValueError, note="strict: (6 − 3) is not divisible by 2"),
    ]


def _size_hidden(rng):
    cases = []
    for _ in range(40):
        n, k, s, p = (int(rng.integers(1, 65)), int(rng.integers(1, 8)), int(rng.integers(1, 5)),
                      int(rng.integers(0, 4)))
        strict = bool(rng.random() < 0.3)
        bad = k > n + 2 * p or (strict and (n + 2 * p - k) % s != 0)
        cases.append(Case((n, k, s, p), {"strict": strict}, raises=ValueError if bad else None))
    cases += [Case((8, 3, 0), raises=ValueError), Case((8, 0), raises=ValueError),
              Case((8, 3, 1, -2), raises=ValueError), Case((0, 1), raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- zero_pad2d

def _pad_visible():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    rng = np.random.default_rng(1)
    return [
        Case((x, 1), note="one ring of zeros"),
        Case((randn(rng, 2, 3, 4, 5), (1, 2)), note="(PH, PW) = (1, 2)"),
        Case((randn(rng, 1, 2, 3, 3), 0), note="padding 0 returns the same values"),
        Case((randn(rng, 1, 1, 2, 2, dtype=np.float32), 2), note="float32 stays float32"),
        Case((x, -1), raises=ValueError, note="negative padding"),
    ]


def _pad_hidden(rng):
    cases = [Case((randn(rng, *rng.integers(1, 5, size=4), dtype=rng.choice([np.float32, np.float64])),
                   maybe_pair(rng, 0, 3))) for _ in range(15)]
    return cases + [Case((randn(rng, 1, 1, 3, 3), (0, -1)), raises=ValueError)]


# --------------------------------------------------------------------------- conv2d (naive and vectorised)

def _conv_visible():
    rng = np.random.default_rng(2)
    ones = np.ones((1, 1, 2, 2))
    return [
        Case((np.arange(9.0).reshape(1, 1, 3, 3), ones), note="2×2 kernel of ones sums each window"),
        Case((randn(rng, 2, 3, 5, 5), randn(rng, 4, 3, 3, 3), randn(rng, 4)), note="with bias"),
        Case((randn(rng, 1, 2, 6, 6), randn(rng, 3, 2, 3, 3), None), {"stride": 2, "padding": 1},
             note="stride 2, padding 1"),
        Case((randn(rng, 1, 2, 5, 7), randn(rng, 2, 2, 3, 2), randn(rng, 2)), {"stride": (2, 1), "padding": (1, 0)},
             note="non-square kernel, stride and padding pairs"),
        Case((randn(rng, 1, 3, 4, 4, dtype=np.float32), randn(rng, 2, 3, 1, 1, dtype=np.float32)),
             note="1×1 kernel, float32"),
        Case((randn(rng, 1, 3, 5, 5), randn(rng, 2, 4, 3, 3)), raises=ValueError,
             note="x has 3 channels but weight expects 4"),
    ]


def _random_geometry(rng, max_kernel):
    """(N, C, F, H, W, KH, KW, stride, padding) of a random convolution whose kernel fits."""
    kh, kw = int(rng.integers(1, max_kernel + 1)), int(rng.integers(1, max_kernel + 1))
    stride, padding = maybe_pair(rng, 1, 3), maybe_pair(rng, 0, 2)
    ph, pw = _pair(padding)
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    return n, c, f, fitting_size(rng, kh, ph), fitting_size(rng, kw, pw), kh, kw, stride, padding


def _conv_hidden(rng):
    cases = []
    for _ in range(20):
        n, c, f, height, width, kh, kw, stride, padding = _random_geometry(rng, 4)
        dtype = np.float32 if rng.random() < 0.2 else np.float64
        x = randn(rng, n, c, height, width, dtype=dtype)
        w = randn(rng, f, c, kh, kw, dtype=dtype)
        b = randn(rng, f, dtype=dtype) if rng.random() < 0.7 else None
        cases.append(Case((x, w, b), {"stride": stride, "padding": padding}))
    cases.append(Case((randn(rng, 2, 2, 4, 4), randn(rng, 3, 5, 2, 2)), raises=ValueError))
    return cases


def _time_conv(ex: Exercise, fn) -> dict:
    """conv2d must be much faster than the loop version, measured side by side (in the kernel: the
    grader only compares the two times)."""
    rng = np.random.default_rng(0)
    x, w, b = randn(rng, 8, 3, 16, 16), randn(rng, 8, 3, 3, 3), randn(rng, 8)

    def best_of(f, repeats):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            f(x, w, b, 1, 1)
            times.append(time.perf_counter() - start)
        return min(times)

    t_naive = best_of(conv.conv2d_naive, 2)
    with forbidden(fn, ex.forbid, ex.name, ex.allow):
        t_student = best_of(fn, 3)
    return {"naive": t_naive, "student": t_student}


def _fast_enough(ex: Exercise, data: dict) -> None:
    t_naive, t_student = float(data["naive"]), float(data["student"])
    if not t_student * 5 <= t_naive:
        raise CheckFailure(
            f"conv2d took {t_student * 1e3:.1f} ms on x (8, 3, 16, 16), w (8, 3, 3, 3); the loop version "
            f"takes {t_naive * 1e3:.1f} ms. Vectorise it (im2col or stride tricks + one matrix product): "
            "it should be at least 5× faster than the loops.")


# --------------------------------------------------------------------------- conv2d_backward

def _backward_case(rng, n, c, f, h, w, kh, kw, stride, padding, bias=True, dtype=np.float64):
    x, wt = randn(rng, n, c, h, w, dtype=dtype), randn(rng, f, c, kh, kw, dtype=dtype)
    b = randn(rng, f, dtype=dtype) if bias else None
    out = conv.conv2d(x, wt, b, stride, padding)
    return Case((randn(rng, *out.shape, dtype=dtype), x, wt, b), {"stride": stride, "padding": padding})


def _backward_visible():
    rng = np.random.default_rng(3)
    cases = [_backward_case(rng, 1, 1, 1, 3, 3, 2, 2, 1, 0), _backward_case(rng, 2, 3, 4, 5, 5, 3, 3, 1, 1),
             _backward_case(rng, 2, 2, 3, 7, 6, 3, 3, 2, 1), _backward_case(rng, 1, 2, 2, 5, 5, 3, 2, (2, 1), (0, 1)),
             _backward_case(rng, 1, 2, 2, 4, 4, 3, 3, 1, 0, bias=False)]
    for case, note in zip(cases, ["single channel", "padding 1", "stride 2 (gradients only where windows "
                                  "landed)", "pairs", "no bias: db is None"], strict=True):
        case.note = note
    return cases


def _backward_hidden(rng):
    cases = []
    for _ in range(12):
        cases.append(_backward_case(rng, *_random_geometry(rng, 3), bias=bool(rng.random() < 0.7)))
    return cases


# --------------------------------------------------------------------------- counting

def _params_visible():
    return [Case((3, 64, 3), note="VGG conv1_1: (3·3·3 + 1)·64"),
            Case((64, 64, 3), {"bias": False}, note="no bias"),
            Case((3, 96, 11), note="AlexNet conv1"),
            Case((256, 64, 1), note="1×1 convolution"),
            Case((32, 32, (1, 7)), note="factorised 1×7 kernel")]


def _params_hidden(rng):
    return [Case((int(rng.integers(1, 512)), int(rng.integers(1, 512)), maybe_pair(rng, 1, 7)),
                 {"bias": bool(rng.random() < 0.7)}) for _ in range(20)]


def _flops_visible():
    return [Case((3, 64, 3, 224, 1, 1), note="VGG conv1_1 on 224×224"),
            Case((3, 96, 11, 227, 4, 0), note="AlexNet conv1: output 55×55"),
            Case((64, 64, 3, (56, 28), 2, 1), {"bias": False}, note="non-square input, stride 2, no bias"),
            Case((256, 64, 1, 14), note="1×1 convolution")]


def _flops_hidden(rng):
    cases = []
    for _ in range(20):
        k, s, p = maybe_pair(rng, 1, 5), int(rng.integers(1, 4)), int(rng.integers(0, 3))
        size = int(rng.integers(max(_pair(k)) + 1, 64))
        cases.append(Case((int(rng.integers(1, 128)), int(rng.integers(1, 128)), k, size, s, p),
                          {"bias": bool(rng.random() < 0.7)}))
    return cases


def _rf_visible():
    return [Case(([3],), note="one 3×3"), Case(([3, 3],), note="two 3×3 see as far as one 5×5"),
            Case(([3, 3, 3],), note="three 3×3 = one 7×7"), Case(([],), note="no layers: a pixel sees itself"),
            Case(([(3, 1), (2, 2), (3, 1)],), note="a stride-2 layer doubles later growth"),
            Case(([(11, 4), (3, 2), (5, 1)],), note="AlexNet conv1 → pool1 → conv2")]


def _rf_hidden(rng):
    return [Case(([int(rng.integers(1, 8)) if rng.random() < 0.3 else (int(rng.integers(1, 8)),
                                                                      int(rng.integers(1, 4)))
                   for _ in range(int(rng.integers(1, 8)))],)) for _ in range(20)]


_CONV_TOL = {"rtol": 1e-5, "atol": 1e-6}

EXERCISES = {ex.name: ex for ex in [
    Exercise("conv_output_size", conv.conv_output_size, _size_visible, _size_hidden),
    Exercise("zero_pad2d", conv.zero_pad2d, _pad_visible, _pad_hidden),
    Exercise("conv2d_naive", conv.conv2d, _conv_visible, _conv_hidden, hint=_SIZE_HINT, **_CONV_TOL),
    Exercise("conv2d", conv.conv2d, _conv_visible, _conv_hidden, hint=_SIZE_HINT, extra=Extra(_time_conv, _fast_enough),
             **_CONV_TOL),
    Exercise("conv2d_backward", conv.conv2d_backward, _backward_visible, _backward_hidden,
             output_names=("dx", "dw", "db"), hint="Each gradient has the shape of the array it belongs to.",
             **_CONV_TOL),
    Exercise("conv_params", conv.conv_params, _params_visible, _params_hidden),
    Exercise("conv_flops", conv.conv_flops, _flops_visible, _flops_hidden),
    Exercise("receptive_field", conv.receptive_field, _rf_visible, _rf_hidden),
]}
