"""Exercise specifications for Chapter 17 (autoencoders and VAEs)."""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, Exercise, answers

ae = answers("autoencoders")  # the answers, imported when first used

__all__ = ["EXERCISES"]


# --------------------------------------------------------------------------- conv_transpose_output_size

def _size_visible():
    return [
        Case((4, 3), note="stride 1, no padding: a 3×3 kernel grows 4 → 6"),
        Case((4, 3), {"stride": 2, "padding": 1}, note="(4 − 1)·2 − 2·1 + 3 = 7"),
        Case((4, 3), {"stride": 2, "padding": 1, "output_padding": 1}, note="output_padding 1 adds a row: 8"),
        Case((7, 4), {"stride": 2, "padding": 1}, note="the DCGAN layer: 4×4 kernel, stride 2 doubles 7 → 14"),
        Case((1, 5), {"stride": 3}, note="a single input pixel gives one kernel-sized stamp"),
        Case((4, 3), {"stride": 2, "output_padding": 2}, raises=ValueError,
             note="output_padding must be smaller than stride"),
        Case((1, 1), {"padding": 1}, raises=ValueError, note="padding crops everything: size < 1"),
        Case((0, 3), raises=ValueError, note="in_size must be ≥ 1"),
    ]


def _size_hidden(rng):
    cases = []
    for _ in range(20):
        s = int(rng.integers(1, 5))
        k = int(rng.integers(1, 6))
        n = int(rng.integers(1, 10))
        p = int(rng.integers(0, (k + 1) // 2 + 1))
        op = int(rng.integers(0, s))
        try:
            ae.conv_transpose_output_size(n, k, s, p, op)
        except ValueError:
            cases.append(Case((n, k, s, p, op), raises=ValueError))
            continue
        cases.append(Case((n, k), {"stride": s, "padding": p, "output_padding": op}))
    return cases + [Case((3, 3, 2, 0, 3), raises=ValueError), Case((3, 0), raises=ValueError),
                    Case((3, 3, 0), raises=ValueError), Case((3, 3, 1, -1), raises=ValueError)]


# --------------------------------------------------------------------------- conv_transpose2d

def _ct_visible():
    rng = np.random.default_rng(170)
    one = np.ones((1, 1, 2, 2))
    return [
        Case((np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), one), note="stride 1: 2×2 stamps overlap and add up → 3×3"),
        Case((np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), one), {"stride": 2},
             note="stride 2: the stamps tile without overlap → 4×4 (nearest-neighbour upsampling)"),
        Case((randn(rng, 2, 3, 3, 3), randn(rng, 3, 4, 3, 3), randn(rng, 4)),
             note="weight is (C_in, C_out, KH, KW): 3 → 4 channels, with bias"),
        Case((randn(rng, 1, 2, 4, 4), randn(rng, 2, 2, 3, 3)), {"stride": 2, "padding": 1},
             note="stride 2, padding 1 crops one row/column on each side: 4 → 7"),
        Case((randn(rng, 1, 2, 4, 4), randn(rng, 2, 1, 3, 3)), {"stride": 2, "padding": 1, "output_padding": 1},
             note="output_padding 1: one extra row/column at the bottom/right → 8"),
        Case((randn(rng, 1, 1, 3, 2), randn(rng, 1, 2, 2, 3), None), {"stride": (2, 1), "padding": (0, 1)},
             note="pairs: stride (2, 1), padding (0, 1)"),
        Case((randn(rng, 1, 2, 3, 3, dtype=np.float32), randn(rng, 2, 3, 2, 2, dtype=np.float32)),
             note="float32 stays float32"),
        Case((randn(rng, 1, 3, 3, 3), randn(rng, 2, 3, 3, 3)), raises=ValueError,
             note="weight must be (C_in, C_out, KH, KW) with C_in = 3 (this one is (2, 3, 3, 3))"),
    ]


def _ct_hidden(rng):
    cases = []
    for _ in range(18):
        n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, (kh + 1) // 2)), int(rng.integers(0, (kw + 1) // 2))
        oph, opw = int(rng.integers(0, sh)), int(rng.integers(0, sw))
        h, w = (int(v) for v in rng.integers(2, 6, size=2))
        dtype = np.float32 if rng.random() < 0.2 else np.float64
        bias = randn(rng, f, dtype=dtype) if rng.random() < 0.6 else None
        square = rng.random() < 0.5 and kh == kw
        kwargs = ({"stride": sh, "padding": ph, "output_padding": min(oph, sh - 1)} if square and sh == sw and ph == pw
                  else {"stride": (sh, sw), "padding": (ph, pw), "output_padding": (oph, opw)})
        cases.append(Case((randn(rng, n, c, h, w, dtype=dtype), randn(rng, c, f, kh, kw, dtype=dtype), bias), kwargs))
    return cases + [Case((randn(rng, 1, 2, 3, 3), randn(rng, 3, 2, 2, 2)), raises=ValueError),
                    Case((randn(rng, 1, 1, 3, 3), randn(rng, 1, 1, 2, 2)), {"stride": 2, "output_padding": 2},
                         raises=ValueError)]


# --------------------------------------------------------------------------- max_pool2d_with_indices

def _pool_visible():
    rng = np.random.default_rng(171)
    x = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 1.0, 1.0], [7.0, 6.0, 0.0, 9.0]]]])
    return [
        Case((x, 2), note="2×2 windows: maxima 5, 8, 7, 9 at flat positions 1, 6, 12, 15 (row·W + col)"),
        Case((randn(rng, 2, 3, 6, 6), 3, 2), note="overlapping 3×3 windows, stride 2"),
        Case((np.ones((1, 1, 4, 4)), 2), note="ties: the first maximum in row-major window order"),
        Case((randn(rng, 1, 2, 5, 5), 3, 2, 1), note="padding 1: indices still count in the un-padded 5×5 plane"),
        Case((randn(rng, 1, 1, 5, 7), (2, 3)), note="non-square 2×3 kernel; W = 7 in row·W + col"),
        Case((randn(rng, 1, 1, 4, 4), 2, 2, 2), raises=ValueError, note="padding must be ≤ kernel_size // 2"),
    ]


def _pool_hidden(rng):
    cases = []
    for _ in range(16):
        k = int(rng.integers(1, 4))
        s = None if rng.random() < 0.3 else int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        h, w = (int(v) for v in rng.integers(max(1, k - 2 * p), 9, size=2))
        x = randn(rng, int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w)
        if rng.random() < 0.3:
            x = np.round(x)  # ties
        cases.append(Case((x.astype(rng.choice([np.float32, np.float64])), k, s, p)))
    return cases


# --------------------------------------------------------------------------- max_unpool2d

def _unpool_case(rng, shape, k, s=None, p=0, output_size=None, dtype=np.float64):
    x = randn(rng, *shape, dtype=dtype)
    out, idx = ae.max_pool2d_with_indices(x, k, s, p)
    default = tuple((n - 1) * (s or k) - 2 * p + k for n in out.shape[2:])
    if default != shape[2:]:  # the indices count in the (H, W) plane: only output_size=(H, W) is right
        output_size = shape[2:]
    kwargs = {} if output_size is None else {"output_size": output_size}
    return Case((out, idx, k, s, p), kwargs)


def _unpool_visible():
    rng = np.random.default_rng(172)
    vals = np.array([[[[5.0, 8.0], [7.0, 9.0]]]])
    idx = np.array([[[[1, 6], [12, 15]]]])
    cases = [
        (Case((vals, idx, 2)), "2×2 → 4×4: 5, 8, 7, 9 go back to flat positions 1, 6, 12, 15; the rest is 0"),
        (_unpool_case(rng, (2, 3, 6, 6), 2), "what max_pool2d_with_indices(x, 2) gives"),
        (_unpool_case(rng, (1, 2, 7, 7), 2, output_size=(7, 7)),
         "pooled from 7×7: the default size is 6×6, output_size=(7, 7) restores it"),
        (_unpool_case(rng, (1, 1, 7, 7), 3, 2, 1), "3×3 windows, stride 2, padding 1: default (4 − 1)·2 − 2 + 3 = 7"),
        (_unpool_case(rng, (1, 1, 4, 6), 2, dtype=np.float32), "float32 stays float32"),
        (Case((vals, idx[..., :1], 2), raises=ValueError), "indices must have the shape of x"),
        (Case((vals, idx + 10, 2), raises=ValueError), "index 25 does not fit a 4×4 output"),
    ]
    for case, note in cases:
        case.note = note
    return [case for case, _ in cases]


def _unpool_hidden(rng):
    cases = []
    for _ in range(14):
        k = int(rng.integers(1, 4))
        s = None if rng.random() < 0.4 else int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        h, w = (int(v) for v in rng.integers(max(2, k - 2 * p), 9, size=2))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w)
        out_size = None if rng.random() < 0.5 else (h, w) if rng.random() < 0.5 else shape
        cases.append(_unpool_case(rng, shape, k, s, p, out_size, dtype=rng.choice([np.float32, np.float64])))
    bad = np.zeros((1, 1, 2, 2))
    return cases + [Case((bad, np.full((1, 1, 2, 2), 16), 2), raises=ValueError),
                    Case((bad, np.zeros((1, 1, 2, 2), dtype=np.int64), 2), {"output_size": (9, 9)}, raises=ValueError)]


# --------------------------------------------------------------------------- VAE

def _gauss(rng, n, d, dtype=np.float64):
    return randn(rng, n, d, dtype=dtype), (0.5 * randn(rng, n, d) - 0.5).astype(dtype)


def _rep_visible():
    rng = np.random.default_rng(173)
    mu, logvar = _gauss(rng, 4, 2)
    return [
        Case((np.array([[1.0, -1.0]]), np.array([[0.0, np.log(4.0)]]), np.array([[0.5, 0.5]])),
             note="σ = exp(logvar / 2): σ = 1 and 2 → z = [1.5, 0.0]"),
        Case((mu, logvar, randn(rng, 4, 2)), note="a batch of 4, D = 2"),
        Case((mu, logvar, np.zeros((4, 2))), note="eps = 0 gives z = mu"),
        Case((mu, logvar, randn(rng, 3, 2)), raises=ValueError, note="eps has a different shape"),
    ]


def _rep_hidden(rng):
    cases = []
    for _ in range(10):
        n, d = (int(v) for v in rng.integers(1, 8, size=2))
        dtype = rng.choice([np.float32, np.float64])
        mu, logvar = _gauss(rng, n, d, dtype)
        cases.append(Case((mu, logvar, randn(rng, n, d, dtype=dtype))))
    return cases + [Case((np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 3))), raises=ValueError)]


def _kl_visible():
    rng = np.random.default_rng(174)
    mu, logvar = _gauss(rng, 5, 3)
    return [
        Case((np.zeros((2, 3)), np.zeros((2, 3))), note="q = N(0, I) is the prior: KL = 0"),
        Case((np.array([[1.0, 2.0]]), np.zeros((1, 2))), note="σ = 1: KL = Σ mu² / 2 = 2.5"),
        Case((np.zeros((1, 1)), np.array([[np.log(4.0)]])), note="mu = 0, σ² = 4: KL = (4 − 1 − ln 4) / 2"),
        Case((mu, logvar), note="default reduction 'mean': sum over D, mean over the batch"),
        Case((mu, logvar), {"reduction": "none"}, note="reduction 'none': one KL per example, shape (N,)"),
        Case((mu, logvar), {"reduction": "sum"}, note="reduction 'sum' over the batch"),
        Case((mu, logvar), {"reduction": "max"}, raises=ValueError, note="unknown reduction"),
        Case((mu, logvar[:, :2]), raises=ValueError, note="mu and logvar differ in shape"),
    ]


def _kl_hidden(rng):
    cases = []
    for _ in range(12):
        n, d = (int(v) for v in rng.integers(1, 9, size=2))
        mu, logvar = _gauss(rng, n, d, rng.choice([np.float32, np.float64]))
        cases.append(Case((mu * float(rng.choice([0.1, 1, 5])), logvar * float(rng.choice([0.1, 1, 4]))),
                          {"reduction": str(rng.choice(["none", "mean", "sum"]))}))
    return cases + [Case((np.zeros(3), np.zeros(3)), raises=ValueError)]


def _loss_case(rng, n, d, pixels=(1, 4, 4), scale=2.0, **kwargs):
    logits = scale * randn(rng, n, *pixels)
    x = rng.random((n, *pixels))
    mu, logvar = _gauss(rng, n, d)
    return Case((logits, x, mu, logvar), kwargs)


def _loss_visible():
    rng = np.random.default_rng(175)
    cases = [
        (Case((np.zeros((1, 4)), np.full((1, 4), 0.5), np.zeros((1, 2)), np.zeros((1, 2)))),
         "logits 0 predict 0.5 for every pixel: recon = 4 · ln 2, KL = 0"),
        (_loss_case(rng, 3, 2), "images (N, 1, 4, 4): recon sums over the 16 pixels, then averages over N"),
        (_loss_case(rng, 4, 2, beta=0.5), "beta = 0.5 weighs the KL term by a half"),
        (_loss_case(rng, 2, 3, pixels=(6,), scale=200.0),
         "logits around ±200: exp(200) overflows — use max(l, 0) − l·x + log(1 + exp(−|l|))"),
        (Case((np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((2, 2)), np.zeros((2, 2))), raises=ValueError),
         "logits and x differ in shape"),
    ]
    for case, note in cases:
        case.note = note
    return [case for case, _ in cases]


def _loss_hidden(rng):
    cases = []
    for _ in range(10):
        n, d = (int(v) for v in rng.integers(1, 6, size=2))
        pixels = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 4))))
        cases.append(_loss_case(rng, n, d, pixels, scale=float(rng.choice([0.5, 3.0, 100.0])),
                                beta=float(rng.choice([1.0, 1.0, 0.1, 4.0]))))
    binary = _loss_case(rng, 3, 2)
    binary.args = (binary.args[0], np.round(binary.args[1]), *binary.args[2:])  # 0/1 targets
    return [*cases, binary]


EXERCISES = {ex.name: ex for ex in [
    Exercise("conv_transpose_output_size", ae.conv_transpose_output_size, _size_visible, _size_hidden),
    Exercise("conv_transpose2d", ae.conv_transpose2d, _ct_visible, _ct_hidden, rtol=1e-5, atol=1e-6,
             hint="H_out = (H − 1)·SH − 2·PH + KH + OPH; weight is (C_in, C_out, KH, KW)."),
    Exercise("max_pool2d_with_indices", ae.max_pool2d_with_indices, _pool_visible, _pool_hidden,
             output_names=("out", "indices"), hint="H_out = (H + 2·P − K) // S + 1."),
    Exercise("max_unpool2d", ae.max_unpool2d, _unpool_visible, _unpool_hidden,
             hint="Default H_out = (H − 1)·S − 2·P + K, or output_size[-2:] when it is given."),
    Exercise("vae_reparameterize", ae.vae_reparameterize, _rep_visible, _rep_hidden, rtol=1e-5, atol=1e-7),
    Exercise("vae_kl_divergence", ae.vae_kl_divergence, _kl_visible, _kl_hidden, rtol=1e-5, atol=1e-7,
             hint="reduction='none' returns one value per example: shape (N,)."),
    Exercise("vae_loss", ae.vae_loss, _loss_visible, _loss_hidden, output_names=("loss", "recon", "kl"),
             rtol=1e-6, atol=1e-8),
]}
