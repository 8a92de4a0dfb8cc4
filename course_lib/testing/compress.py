"""Exercise specifications for Chapter 15 (model compression)."""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, Exercise, answers

compress = answers("compress")  # the answers, imported when first used

__all__ = ["EXERCISES"]


def _channels(rng, shape, axis=0):
    """A random array whose slices along ``axis`` have very different ranges (like real conv filters)."""
    x = randn(rng, *shape)
    spread = np.exp(rng.uniform(-3, 1, size=shape[axis]))
    return x * spread.reshape([-1 if a == axis else 1 for a in range(len(shape))])


# --------------------------------------------------------------------------- quant_params

def _qp_visible():
    rng = np.random.default_rng(150)
    return [
        Case((np.array([-1.0, 0.0, 0.5, 3.0]),), note="affine 8-bit: scale = 4 / 255, zero_point = round(1 / scale)"),
        Case((np.array([-2.0, 0.5, 1.0]),), {"symmetric": True}, note="symmetric: scale = max|x| / 127"),
        Case((np.array([0.5, 1.0, 2.0]),), note="all positive: the range is widened to include 0"),
        Case((np.array([-1.0, 2.0]),), {"bits": 4}, note="4 bits: integers 0..15"),
        Case((_channels(rng, (3, 2, 2)),), {"symmetric": True, "axis": 0},
             note="per-channel along axis 0: scales of shape (3, 1, 1)"),
        Case((_channels(rng, (2, 3), axis=1),), {"axis": 1}, note="per-channel affine along axis 1: shape (1, 3)"),
        Case((np.zeros((2, 2)),), note="all zeros: scale 1.0"),
        Case((randn(rng, 2, 5, dtype=np.float32),), {"symmetric": True}, note="float32 input"),
        Case((np.ones(3),), {"bits": 1}, raises=ValueError, note="bits must be in 2..16"),
        Case((np.ones((2, 2)),), {"axis": 2}, raises=ValueError, note="axis 2 does not exist for a 2-D array"),
    ]


def _qp_hidden(rng):
    cases = []
    for _ in range(14):
        ndim = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=ndim))
        axis = None if rng.random() < 0.4 else int(rng.integers(-ndim, ndim))
        x = _channels(rng, shape, axis=axis % ndim if axis is not None else 0)
        if rng.random() < 0.3:
            x = np.abs(x) * rng.choice([-1.0, 1.0])  # one-signed ranges
        kwargs = {"bits": int(rng.choice([2, 3, 4, 8, 8, 8, 16])), "symmetric": bool(rng.random() < 0.5),
                  "axis": axis}
        cases.append(Case((x.astype(rng.choice([np.float32, np.float64])),), kwargs))
    cases += [Case((np.zeros(4),), {"symmetric": True}), Case((np.ones(3),), {"bits": 17}, raises=ValueError),
              Case((np.ones((2, 3)),), {"axis": -3}, raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- quantize / dequantize

def _quantize_case(rng, shape, bits, symmetric, axis, dtype=np.float64, widen=1.0):
    x = _channels(rng, shape, 0 if axis is None else axis).astype(dtype)
    scale, zero_point = compress.quant_params(x / widen, bits, symmetric, axis)  # widen > 1: some clamping
    return Case((x, scale, zero_point), {"bits": bits, "symmetric": symmetric})


def _quantize_visible():
    rng = np.random.default_rng(151)
    x = np.array([-1.0, 0.0, 0.5, 3.0])
    ties = np.array([-1.25, -0.75, -0.25, 0.25, 0.75, 1.25])
    return [
        Case((ties, 0.5, 0), {"symmetric": True}, note="x / scale = ±0.5, ±1.5, ±2.5: ties round to even "
                                                             "(np.round, np.rint and torch do)"),
        Case((x, 4 / 255, 64), note="affine uint8 with zero point 64"),
        Case((np.array([-10.0, -1.0, 1.0, 10.0]), 0.05, 0), {"symmetric": True},
             note="values beyond the range are clamped to -128 and 127"),
        _quantize_case(rng, (3, 2, 2), 8, True, 0),
        Case((np.array([-1.0, 0.35, 2.0]), 0.2, 5), {"bits": 4}, note="4 bits: clamp to 0..15"),
        _quantize_case(rng, (2, 4), 8, False, None, dtype=np.float32),
        Case((x, 0.0, 0), raises=ValueError, note="scale must be > 0"),
    ]


def _quantize_hidden(rng):
    cases = []
    for _ in range(12):
        ndim = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=ndim))
        axis = None if rng.random() < 0.5 else int(rng.integers(0, ndim))
        cases.append(_quantize_case(rng, shape, int(rng.choice([2, 4, 8, 8, 16])), bool(rng.random() < 0.5), axis,
                                    dtype=rng.choice([np.float32, np.float64]), widen=float(rng.choice([1, 1.5]))))
    ties = (np.arange(-8, 9) + 0.5) * 0.25
    return cases + [Case((ties, 0.25, 0), {"symmetric": True}), Case((ties, 0.25, 100)),
                    Case((ties, -1.0, 0), raises=ValueError)]


def _dequantize_visible():
    rng = np.random.default_rng(152)
    return [
        Case((np.array([0, 64, 65, 255], dtype=np.uint8), 4 / 255, 64),
             note="uint8 codes below the zero point: subtract in a signed type, or 0 - 64 wraps around to 192"),
        Case((np.array([-127, -1, 0, 5, 127], dtype=np.int8), 0.01, 0), note="symmetric int8"),
        Case((rng.integers(-128, 128, size=(3, 2, 2)).astype(np.int8), np.array([0.1, 0.02, 0.5]).reshape(3, 1, 1),
              np.zeros((3, 1, 1), np.int64)), note="per-channel scales of shape (3, 1, 1)"),
    ]


def _dequantize_hidden(rng):
    cases = []
    for case in _quantize_hidden(rng):
        if case.raises is None:
            x, scale, zero_point = case.args
            cases.append(Case((compress.quantize(x, scale, zero_point, **case.kwargs), scale, zero_point)))
    return cases


# --------------------------------------------------------------------------- pruning

def _tuple_result(fn):
    """The reference with list results turned into tuples (compared part by part)."""
    def reference(w, sparsity):
        out = fn(w, sparsity)
        return tuple(out) if isinstance(out, list) else out

    return reference


def _prune_visible():
    rng = np.random.default_rng(153)
    return [
        Case((np.array([0.5, -2.0, 0.1, 3.0, -0.3]), 0.4), note="prune the 2 smallest |w|: 0.1 and -0.3"),
        Case((randn(rng, 4, 3, 3, 3), 0.5), note="conv weights (F, C, KH, KW)"),
        Case((np.array([0.0, 0.0, 1.0, 0.0, -1.0, 0.0]), 0.5),
             note="ties: k = 3 of four zeros, earlier positions first (np.argsort(..., kind='stable'))"),
        Case((randn(rng, 3, 4), 0.0), note="sparsity 0 keeps everything"),
        Case((randn(rng, 3, 4), 1.0), note="sparsity 1 removes everything"),
        Case(([0.1 * randn(rng, 2, 3), randn(rng, 4)], 0.5),
             note="a list: one global threshold, the layer with small weights loses more"),
        Case((randn(rng, 3), 1.5), raises=ValueError, note="sparsity must be in [0, 1]"),
    ]


def _prune_hidden(rng):
    cases = []
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 5))))
        w = randn(rng, *shape)
        if rng.random() < 0.3:
            w = np.round(w)  # many ties
        cases.append(Case((w, float(rng.choice([0.0, 0.1, 0.33, 0.5, 0.75, 0.9, 1.0, rng.random()])))))
    for _ in range(4):
        layers = [randn(rng, *rng.integers(1, 5, size=2)) * float(np.exp(rng.uniform(-2, 1)))
                  for _ in range(int(rng.integers(1, 4)))]
        cases.append(Case((layers, float(rng.random()))))
    return cases + [Case((randn(rng, 4), -0.1), raises=ValueError)]


def _channel_visible():
    rng = np.random.default_rng(154)
    return [
        Case((randn(rng, 4, 2, 3, 3) * np.array([1.0, 0.1, 3.0, 0.5]).reshape(4, 1, 1, 1), 0.5),
             note="keep the 2 filters with the largest L1 norm"),
        Case((randn(rng, 5, 3), 0.6), note="linear weights (F, D): keep 3 of 5 rows"),
        Case((np.array([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]), 0.5),
             note="L1 norm (sum of |w|): [1, 1, 1, 1] (4) beats [3, 0, 0, 0] (3), unlike the L2 norm"),
        Case((np.array([[1.0, -1.0], [2.0, 0.0], [0.0, -2.0], [0.5, 0.5]]), 0.5),
             note="ties: equal norms, the lower index is kept"),
        Case((randn(rng, 3, 2, 1, 1), 1.0), note="keep_ratio 1 keeps all"),
        Case((randn(rng, 6, 2, 3, 3), 0.01), note="keeps at least one filter"),
        Case((randn(rng, 3, 2), 0.0), raises=ValueError, note="keep_ratio must be in (0, 1]"),
    ]


def _channel_hidden(rng):
    cases = []
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(2, 5))))
        w = _channels(rng, shape)
        if rng.random() < 0.3:
            w = np.sign(w)  # equal norms everywhere
        cases.append(Case((w, float(rng.choice([0.1, 0.25, 0.5, 0.75, 1.0, rng.uniform(0.01, 1)])))))
    return cases + [Case((randn(rng, 4, 3), 1.2), raises=ValueError)]


# --------------------------------------------------------------------------- distillation

def _distill_case(rng, n, k, spread=3.0, **kwargs):
    s, t = randn(rng, n, k), spread * randn(rng, n, k)
    return Case((s, t, rng.integers(0, k, size=n)), kwargs)


def _distill_visible():
    rng = np.random.default_rng(155)
    same = randn(rng, 3, 4)
    cases = [
        (_distill_case(rng, 4, 5), "defaults T=4, alpha=0.9"),
        (_distill_case(rng, 3, 4, T=4.0, alpha=0.0), "alpha=0: plain cross-entropy with the labels"),
        (_distill_case(rng, 3, 4, T=1.0, alpha=1.0), "alpha=1, T=1: KL divergence only, no T² effect"),
        (_distill_case(rng, 5, 3, T=2.0, alpha=1.0), "alpha=1, T=2: the soft term is multiplied by T² = 4"),
        (Case((same, same.copy(), np.array([0, 1, 2])), {"alpha": 1.0}), "teacher = student: KL is 0"),
        (_distill_case(rng, 2, 3, spread=1000.0, T=1.0, alpha=0.5),
         "teacher logits around ±1000: use log-softmax (subtract the max), not exp then log"),
    ]
    for case, note in cases:
        case.note = note
    return [case for case, _ in cases]


def _distill_hidden(rng):
    cases = []
    for _ in range(10):
        cases.append(_distill_case(rng, int(rng.integers(1, 9)), int(rng.integers(2, 11)),
                                   spread=float(rng.choice([1.0, 5.0, 50.0])), T=float(rng.choice([1, 2, 4, 8, 20])),
                                   alpha=float(rng.choice([0.0, 0.5, 0.9, 1.0, rng.random()]))))
    return cases


# --------------------------------------------------------------------------- Winograd

def _wino_visible():
    rng = np.random.default_rng(156)
    return [
        Case((np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 3, 3))), note="one 4×4 tile → one 2×2 output tile"),
        Case((randn(rng, 2, 3, 6, 6), randn(rng, 4, 3, 3, 3), randn(rng, 4)), note="3 channels, 4 filters, bias"),
        Case((randn(rng, 1, 2, 7, 5), randn(rng, 2, 2, 3, 3)), note="odd output size 5×3: pad, then crop"),
        Case((randn(rng, 1, 2, 6, 6), randn(rng, 3, 2, 3, 3)), {"padding": 1}, note="'same' padding 1"),
        Case((randn(rng, 1, 1, 4, 6, dtype=np.float32), randn(rng, 2, 1, 3, 3, dtype=np.float32)),
             note="float32 stays float32"),
        Case((randn(rng, 1, 1, 6, 6), randn(rng, 1, 1, 5, 5)), raises=ValueError, note="only 3×3 kernels"),
    ]


def _wino_hidden(rng):
    cases = []
    for _ in range(10):
        n, c, f = (int(v) for v in rng.integers(1, 5, size=3))
        padding = int(rng.integers(0, 3)) if rng.random() < 0.7 else (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        h, w = int(rng.integers(max(1, 3 - 2 * ph), 12)), int(rng.integers(max(1, 3 - 2 * pw), 12))
        dtype = np.float32 if rng.random() < 0.2 else np.float64
        bias = randn(rng, f, dtype=dtype) if rng.random() < 0.5 else None
        cases.append(Case((randn(rng, n, c, h, w, dtype=dtype), randn(rng, f, c, 3, 3, dtype=dtype), bias),
                          {"padding": padding}))
    return cases + [Case((randn(rng, 1, 2, 5, 5), randn(rng, 1, 3, 3, 3)), raises=ValueError)]


_QP_HINT = "Per-channel scales keep x.ndim dimensions: size C along axis, 1 elsewhere (keepdims=True)."

EXERCISES = {ex.name: ex for ex in [
    Exercise("quant_params", compress.quant_params, _qp_visible, _qp_hidden, output_names=("scale", "zero_point"),
             hint=_QP_HINT),
    Exercise("quantize", compress.quantize, _quantize_visible, _quantize_hidden,
             hint="The integer codes have the shape of x."),
    Exercise("dequantize", compress.dequantize, _dequantize_visible, _dequantize_hidden, rtol=1e-6, atol=1e-7),
    Exercise("magnitude_prune", _tuple_result(compress.magnitude_prune), _prune_visible, _prune_hidden,
             hint="The mask has the shape of w (one mask per array for a list)."),
    Exercise("channel_prune_mask", compress.channel_prune_mask, _channel_visible, _channel_hidden,
             hint="One bool per filter: shape (F,)."),
    Exercise("distillation_loss", compress.distillation_loss, _distill_visible, _distill_hidden,
             rtol=1e-6, atol=1e-9),
    Exercise("winograd_f2x2_3x3", compress.winograd_f2x2_3x3, _wino_visible, _wino_hidden,
             hint="H_out = H + 2·P − 2 (stride 1, 3×3 kernel).", rtol=1e-5, atol=1e-5),
]}
