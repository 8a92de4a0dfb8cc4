"""Exercise specifications for Chapter 3 (pooling)."""

from __future__ import annotations

from functools import partial

import numpy as np

from ._cases import fitting_size, maybe_pair, randn
from .core import DEFAULT_FORBIDDEN, Case, CheckFailure, Exercise, Extra, answers, forbidden

pool = answers("pool")  # the answers, imported when first used

__all__ = ["EXERCISES"]

#: Chapter 2's answers (e.g. conv_output_size) are fair game in Chapter 3; the pooling answers are not.
_ALLOW = ("course_lib.reference.conv",)

_SIZE_HINT = "Output size per axis: H_out = (H + 2·P − K) // S + 1, with S = K when stride is None."


def _pool_visible():
    rng = np.random.default_rng(4)
    grid = np.arange(16.0).reshape(1, 1, 4, 4)
    return [
        Case((grid, 2), note="2×2 windows, stride defaults to the kernel size"),
        Case((randn(rng, 2, 3, 6, 6), 3, 2), note="overlapping 3×3 windows with stride 2 (AlexNet)"),
        Case((randn(rng, 1, 2, 5, 5), 2, 1, 1), note="padding 1"),
        Case((randn(rng, 1, 1, 4, 7), (2, 3), (1, 2)), note="kernel and stride pairs"),
        Case((-np.abs(randn(rng, 1, 1, 3, 3)), 2, 1, 1), note="all-negative input with padding"),
        Case((randn(rng, 1, 2, 4, 4, dtype=np.float32), 2), note="float32 stays float32"),
    ]


def _pool_hidden(rng):
    cases = []
    for _ in range(20):
        k = maybe_pair(rng, 1, 4)
        kh, kw = k if isinstance(k, tuple) else (k, k)
        stride = None if rng.random() < 0.3 else maybe_pair(rng, 1, 3)
        padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
        dtype = np.float32 if rng.random() < 0.2 else np.float64
        x = randn(rng, *(int(v) for v in rng.integers(1, 4, size=2)), fitting_size(rng, kh, padding[0]),
                  fitting_size(rng, kw, padding[1]), dtype=dtype)
        cases.append(Case((x, k, stride, padding)))
    return cases


def _backward_cases(rng, forward_cases):
    cases = []
    for case in forward_cases:
        if case.raises is not None:
            continue
        out = pool.avg_pool2d(*case.args, **case.kwargs)
        dout = randn(rng, *out.shape, dtype=out.dtype)
        cases.append(Case((dout, *case.args), dict(case.kwargs), note=case.note))
    return cases


def _backward_visible():
    return _backward_cases(np.random.default_rng(5), _pool_visible())


def _backward_hidden(rng):
    return _backward_cases(rng, _pool_hidden(rng))


def _gap_visible():
    rng = np.random.default_rng(6)
    return [Case((np.arange(8.0).reshape(1, 2, 2, 2),), note="mean of each channel"),
            Case((randn(rng, 3, 4, 5, 7),), note="non-square"),
            Case((randn(rng, 2, 3, 1, 1),), note="1×1 input")]


def _gap_hidden(rng):
    return [Case((randn(rng, *(int(v) for v in rng.integers(1, 9, size=4))),)) for _ in range(10)]


def _adaptive_visible():
    rng = np.random.default_rng(7)
    return [Case((np.arange(16.0).reshape(1, 1, 4, 4), 2), note="4×4 → 2×2: like max_pool2d(x, 2)"),
            Case((randn(rng, 2, 3, 5, 5), 2), note="5 is not divisible by 2: bins overlap"),
            Case((randn(rng, 1, 2, 7, 9), (3, 4)), note="pair output size"),
            Case((randn(rng, 1, 1, 6, 6), 1), note="one bin = global max"),
            Case((randn(rng, 1, 1, 3, 3), 4), note="more bins than pixels: bins repeat pixels")]


def _adaptive_hidden(rng):
    return [Case((randn(rng, *(int(v) for v in rng.integers(1, 4, size=2)),
                        *(int(v) for v in rng.integers(1, 14, size=2))), maybe_pair(rng, 1, 6)))
            for _ in range(20)]


def _spp_visible():
    rng = np.random.default_rng(8)
    return [Case((randn(rng, 2, 3, 13, 13),),
                 note="SPP-net's setting: 13×13 conv5, levels (6, 3, 2, 1) → 50 bins per channel; level 6 has "
                      "windows ⌈13/6⌉ = 3 with stride ⌊13/6⌋ = 2"),
            Case((randn(rng, 1, 2, 13, 9),), {"levels": (4, 2, 1)},
                 note="the notes' 21-bin pyramid (4, 2, 1) on a 13×9 map: windows (4, 3), strides (3, 2) at level 4"),
            Case((randn(rng, 1, 2, 14, 14),), {"levels": (4,)},
                 note="14 cells, 4 bins: windows of 4 with stride 3 cover cells 0…12 — SPP-net's windows leave "
                      "the last cell out, torch's adaptive bins would not"),
            Case((randn(rng, 1, 2, 10, 10),), {"bins": "adaptive"},
                 note="bins='adaptive' on 10×10 (the paper's 180-pixel network), where SPP-net's windows cannot "
                      "give 6 bins: torch's adaptive bins, as in adaptive_max_pool2d"),
            Case((randn(rng, 1, 1, 7, 5),), {"levels": (1, 2, 4), "bins": "adaptive"},
                 note="adaptive bins overlap where n does not divide the size")]


def _fits_paper(size, n):
    """SPP-net's windows ⌈size/n⌉ with stride ⌊size/n⌋ give exactly n bins."""
    return size >= n and (size - -(-size // n)) // (size // n) + 1 == n


def _spp_hidden(rng):
    cases = []
    for i in range(14):
        levels = tuple(int(v) for v in rng.choice(np.arange(1, 7), size=int(rng.integers(1, 4)), replace=False))
        n, c = (int(v) for v in rng.integers(1, 4, size=2))
        if i % 2:
            cases.append(Case((randn(rng, n, c, *(int(v) for v in rng.integers(1, 16, size=2))),),
                              {"levels": levels, "bins": "adaptive"}))
            continue
        sizes = [a for a in range(1, 40) if all(_fits_paper(a, lv) for lv in levels)]
        h, w = (int(v) for v in rng.choice(sizes, size=2))
        cases.append(Case((randn(rng, n, c, h, w),), {"levels": levels, "bins": "paper"}))
    return cases


def _l2_visible():
    rng = np.random.default_rng(9)
    return [Case((np.array([[[[3.0, 4.0], [0.0, 0.0]]]]), 2),
                 note="√(3² + 4² + 0 + 0) = 5: the sum of squares, not the mean"),
            Case((randn(rng, 2, 3, 6, 6), 3, 2), note="overlapping 3×3 windows, stride 2"),
            Case((randn(rng, 1, 2, 4, 7), (2, 3), (1, 2)), note="kernel and stride pairs"),
            Case((randn(rng, 1, 2, 4, 4, dtype=np.float32), 2), note="float32 stays float32")]


def _l2_hidden(rng):
    cases = []
    for _ in range(15):
        k = maybe_pair(rng, 1, 4)
        kh, kw = k if isinstance(k, tuple) else (k, k)
        stride = None if rng.random() < 0.3 else maybe_pair(rng, 1, 3)
        x = randn(rng, *(int(v) for v in rng.integers(1, 4, size=2)), fitting_size(rng, kh, 0),
                  fitting_size(rng, kw, 0))
        cases.append(Case((x, k, stride)))
    return cases


def _relu(a):
    return np.maximum(a, 0)


def _stochastic_visible():
    rng = np.random.default_rng(10)
    return [Case((np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), 2), {"training": False},
                 note="test time: Σ aᵢ² / Σ aᵢ = 30 / 10 = 3"),
            Case((np.zeros((1, 1, 2, 2)), 2), {"training": False}, note="a window of zeros gives 0, not 0 / 0"),
            Case((_relu(randn(rng, 2, 3, 6, 6)), 3, 2), {"training": False},
                 note="after a ReLU, 3×3 windows, stride 2"),
            Case((_relu(randn(rng, 1, 2, 4, 6, dtype=np.float32)), (2, 3)), {"training": False},
                 note="float32 stays float32"),
            Case((randn(rng, 1, 1, 4, 4) - 3.0, 2), raises=ValueError, note="negative input: not probabilities")]


def _stochastic_hidden(rng):
    cases = []
    for _ in range(15):
        k = maybe_pair(rng, 1, 4)
        kh, kw = k if isinstance(k, tuple) else (k, k)
        stride = None if rng.random() < 0.3 else maybe_pair(rng, 1, 3)
        x = _relu(randn(rng, *(int(v) for v in rng.integers(1, 4, size=2)), fitting_size(rng, kh, 0),
                        fitting_size(rng, kw, 0)))
        cases.append(Case((x, k, stride), {"training": False}))
    return cases


#: The statistics check: 4,000 copies of three windows (one all zeros), sampled once each.
_WINDOWS = np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]])
_COPIES = 4000


def _small_relu():
    return _relu(np.random.default_rng(11).standard_normal((2, 2, 6, 6)))


def _stochastic_runs(ex: Exercise, fn) -> dict:
    """Kernel side: training-mode draws on many copies of three windows, two seeded and two unseeded calls."""
    x = np.tile(_WINDOWS.reshape(1, 3, 2, 2), (_COPIES, 1, 1, 1))  # (4000, 3, 2, 2): one window per channel
    small = _small_relu()
    with forbidden(fn, ex.forbid, ex.name, ex.allow):
        draws = np.asarray(fn(x.copy(), 2, stride=None, training=True, rng=np.random.default_rng(123)))
        overlap = np.asarray(fn(small.copy(), 3, stride=1, training=True, rng=np.random.default_rng(7)))
        seeded = [np.asarray(fn(small.copy(), 2, stride=None, training=True, rng=42)) for _ in range(2)]
        fresh = [np.asarray(fn(small.copy(), 2, stride=None, training=True, rng=None)) for _ in range(2)]
    return {"draws": draws, "overlap": overlap, "seeded": seeded, "fresh": fresh}


def _stochastic_statistics(ex: Exercise, data: dict) -> None:
    """Every sample is an element of its window, zero windows give 0, frequencies match p_i = a_i / Σa."""
    call = "stochastic_pool2d(x, 2, training=True, rng=...)"
    draws = np.asarray(data["draws"], dtype=np.float64)
    if draws.shape != (_COPIES, 3, 1, 1):
        raise CheckFailure(f"{call} on x of shape ({_COPIES}, 3, 2, 2) returned shape {draws.shape}, "
                           f"expected ({_COPIES}, 3, 1, 1).")
    for c, window in enumerate(_WINDOWS.reshape(3, -1)):
        got = draws[:, c, 0, 0]
        shown = window.reshape(2, 2).tolist()
        if window.sum() == 0:
            if (got != 0).any():
                raise CheckFailure(f"{call}: a window of zeros {shown} gave {got[got != 0][0]:g}; it should give 0 "
                                   "(all probabilities are 0: no division by zero).")
            continue
        if not np.isin(got, window).all():
            bad = got[~np.isin(got, window)][0]
            raise CheckFailure(f"{call}: the window {shown} gave {bad:g}, which is not one of its elements. In "
                               "training mode stochastic pooling *picks* one activation (it does not average).")
        for value in np.unique(window):
            expected, freq = window[window == value].sum() / window.sum(), float(np.mean(got == value))
            if abs(freq - expected) > 0.04:
                raise CheckFailure(f"{call}: over {_COPIES:,} copies of the window {shown}, {value:g} was picked "
                                   f"{freq:.3f} of the time; expected about p = {value:g} / {window.sum():g} = "
                                   f"{expected:.3f}. Draw each window independently with pᵢ = aᵢ / Σ aⱼ.")
    overlap, small = np.asarray(data["overlap"], dtype=np.float64), _small_relu()
    if overlap.shape != (2, 2, 4, 4):
        raise CheckFailure(f"stochastic_pool2d(x of shape (2, 2, 6, 6), 3, stride=1, training=True) returned shape "
                           f"{overlap.shape}, expected (2, 2, 4, 4).")
    for idx in np.ndindex(overlap.shape):
        n, ch, i, j = idx
        window = small[n, ch, i:i + 3, j:j + 3]
        if not (overlap[idx] in window.ravel() or (window.sum() == 0 and overlap[idx] == 0)):
            raise CheckFailure(f"stochastic_pool2d(x, 3, stride=1, training=True): output {idx} is {overlap[idx]:g}, "
                               "not an element of its 3×3 window (rows i·S … i·S + 2, columns j·S … j·S + 2).")
    a, b = (np.asarray(v) for v in data["seeded"])
    if a.shape != b.shape or not np.array_equal(a, b):
        raise CheckFailure("stochastic_pool2d(x, 2, rng=42) gave different outputs in two calls: an int seed must "
                           "repeat its draws (np.random.default_rng(rng)).")
    a, b = (np.asarray(v) for v in data["fresh"])
    if np.array_equal(a, b):
        raise CheckFailure("stochastic_pool2d(x, 2, rng=None) gave the same output twice: with rng=None draw fresh "
                           "random numbers (np.random.default_rng(None)), do not fix a seed.")


_exercise = partial(Exercise, forbid=DEFAULT_FORBIDDEN, allow=_ALLOW)

EXERCISES = {ex.name: ex for ex in [
    _exercise("max_pool2d", pool.max_pool2d, _pool_visible, _pool_hidden, hint=_SIZE_HINT),
    _exercise("avg_pool2d", pool.avg_pool2d, _pool_visible, _pool_hidden, hint=_SIZE_HINT, rtol=1e-5, atol=1e-6),
    _exercise("max_pool2d_backward", pool.max_pool2d_backward, _backward_visible, _backward_hidden,
             hint="dx has the shape of x.", rtol=1e-5, atol=1e-6),
    _exercise("avg_pool2d_backward", pool.avg_pool2d_backward, _backward_visible, _backward_hidden,
             hint="dx has the shape of x.", rtol=1e-5, atol=1e-6),
    _exercise("global_avg_pool2d", pool.global_avg_pool2d, _gap_visible, _gap_hidden,
             hint="Keep the spatial axes: (N, C, H, W) → (N, C, 1, 1).", rtol=1e-5, atol=1e-6),
    _exercise("adaptive_max_pool2d", pool.adaptive_max_pool2d, _adaptive_visible, _adaptive_hidden,
             hint="Bin i covers rows floor(i·H/out) … ceil((i+1)·H/out) − 1."),
    _exercise("l2_pool2d", pool.l2_pool2d, _l2_visible, _l2_hidden, rtol=1e-5, atol=1e-6,
              hint="Output size per axis: H_out = (H − K) // S + 1 (no padding), with S = K when stride is None."),
    _exercise("stochastic_pool2d", pool.stochastic_pool2d, _stochastic_visible, _stochastic_hidden, rtol=1e-5,
              atol=1e-6, extra=Extra(_stochastic_runs, _stochastic_statistics, visible=True),
              hint="Output size per axis: H_out = (H − K) // S + 1 (no padding), with S = K when stride is None."),
    _exercise("spatial_pyramid_pool", pool.spatial_pyramid_pool, _spp_visible, _spp_hidden,
             hint="Level n: bins='paper' → max_pool2d with window ⌈H/n⌉ × ⌈W/n⌉ and stride ⌊H/n⌋ × ⌊W/n⌋; "
                  "bins='adaptive' → adaptive_max_pool2d(x, n). Concatenate each level's (N, C, n, n) output "
                  "flattened to (N, C·n·n), level by level."),
]}
