"""Exercise specifications for Chapter 12 (LSTM and GRU)."""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, Exercise, answers

rnn_gates = answers("rnn_gates")  # the answers, imported when first used

__all__ = ["EXERCISES"]


def _params(rng, d, h, gates, bias=True, dtype=np.float64):
    s = 1 / np.sqrt(h)
    w = randn(rng, gates * h, d, dtype=dtype) * s, randn(rng, gates * h, h, dtype=dtype) * s
    if not bias:
        return (*w, None, None)
    return (*w, randn(rng, gates * h, dtype=dtype) * s, randn(rng, gates * h, dtype=dtype) * s)


def _sizes(rng, k=3, high=6):
    return (int(v) for v in rng.integers(1, high, size=k))


def _only(gates, h, block, value=1.0):
    """A bias (gates·H,) that is zero except the given gate block."""
    b = np.zeros(gates * h)
    b[block * h:(block + 1) * h] = value
    return b


# --------------------------------------------------------------------------- LSTM

def _lstm_cell_visible():
    rng = np.random.default_rng(1201)
    x, hp, cp = randn(rng, 3, 4), randn(rng, 3, 2), randn(rng, 3, 2)
    w = _params(rng, 4, 2, 4)
    w0, wh = np.zeros((8, 4)), np.zeros((8, 2))
    return [
        Case((np.zeros((2, 4)), np.zeros((2, 2)), np.ones((2, 2)), w0, wh),
             note="all weights 0: every sigmoid gate is 0.5 and g = 0, so c' = 0.5·c, h' = 0.5·tanh(c')"),
        Case((np.zeros((1, 4)), np.zeros((1, 2)), np.ones((1, 2)), w0, wh, _only(4, 2, 1, 20.0), None),
             note="a huge forget-gate bias (rows H:2H — gate order i, f, g, o): f ≈ 1 keeps c"),
        Case((x, hp, cp, *w), note="N=3, D=4, H=2"),
        Case((x, hp, cp, w[0], w[1]), note="no biases (bias=False)"),
        Case((x.astype(np.float32), hp.astype(np.float32), cp.astype(np.float32),
              *(a.astype(np.float32) for a in w)), note="float32 stays float32"),
        Case((x, hp, randn(rng, 2, 3), *w), raises=ValueError, note="c_prev of shape (H, N) instead of (N, H)"),
    ]


def _lstm_cell_hidden(rng):
    cases = []
    for _ in range(8):
        n, d, h = _sizes(rng)
        cases.append(Case((randn(rng, n, d), randn(rng, n, h), randn(rng, n, h) * 2,
                           *_params(rng, d, h, 4, bool(rng.random() < 0.7)))))
    cases.append(Case((randn(rng, 2, 3), randn(rng, 2, 4), randn(rng, 2, 5), *_params(rng, 3, 4, 4)),
                      raises=ValueError))
    return cases


def _lstm_seq_visible():
    rng = np.random.default_rng(1202)
    w = _params(rng, 3, 4, 4)
    x = randn(rng, 5, 2, 3)
    return [
        Case((randn(rng, 1, 2, 3), (randn(rng, 2, 4), randn(rng, 2, 4)), *w), note="T = 1: one cell step"),
        Case((x, (randn(rng, 2, 4), randn(rng, 2, 4)), *w), note="T=5, N=2, D=3, H=4; hc0 = (h0, c0)"),
        Case((x, None, *w), note="hc0=None means zero initial h and c"),
        Case((x, None, w[0], w[1]), note="no biases"),
        Case((x, randn(rng, 2, 4), *w), raises=ValueError, note="hc0 must be a pair (h0, c0), not one array"),
    ]


def _lstm_seq_hidden(rng):
    cases = []
    for _ in range(8):
        t, n, d, h = _sizes(rng, 4)
        hc0 = (randn(rng, n, h), randn(rng, n, h)) if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, t, n, d), hc0, *_params(rng, d, h, 4, bool(rng.random() < 0.7)))))
    cases.append(Case((randn(rng, 3, 2, 3), (randn(rng, 2, 4), randn(rng, 4, 2)), *_params(rng, 3, 4, 4)),
                      raises=ValueError))
    return cases


def _lstm_back_visible():
    rng = np.random.default_rng(1203)
    w = _params(rng, 3, 2, 4)
    args = lambda n: (randn(rng, n, 3), randn(rng, n, 2), randn(rng, n, 2))  # noqa: E731
    return [
        Case((randn(rng, 2, 2), np.zeros((2, 2)), *args(2), *w),
             note="dc_next = 0: the gradient reaches c' only through h' = o ⊙ tanh(c')"),
        Case((np.zeros((2, 2)), randn(rng, 2, 2), *args(2), *w),
             note="dh_next = 0: only the conveyor belt — do = 0, dc_prev = dc_next ⊙ f"),
        Case((randn(rng, 3, 2), randn(rng, 3, 2), *args(3), *w), note="both gradients, N=3, D=3, H=2"),
        Case((randn(rng, 2, 2), randn(rng, 2, 2), *args(2), w[0], w[1]), note="no biases: dbias_* are None"),
    ]


def _lstm_back_hidden(rng):
    cases = []
    for _ in range(6):
        n, d, h = _sizes(rng)
        cases.append(Case((randn(rng, n, h), randn(rng, n, h), randn(rng, n, d), randn(rng, n, h), randn(rng, n, h),
                           *_params(rng, d, h, 4, bool(rng.random() < 0.7)))))
    return cases


def _forget_visible():
    rng = np.random.default_rng(1204)
    return [
        Case((np.full((1, 3), 0.5),), note="T = 1: only the empty product, ones"),
        Case((np.full((5, 2), 0.9),), note="constant f = 0.9: row t is 0.9^(T−1−t)"),
        Case((rng.uniform(0, 1, (6, 3)),), note="row t multiplies f_{t+1} … f_{T−1} — not f_t itself"),
        Case((np.ones((4, 1)),), note="f = 1: nothing is forgotten, all ones"),
        Case((np.ones(4),), raises=ValueError, note="1-d input: expected (T, H)"),
    ]


def _forget_hidden(rng):
    return [Case((rng.uniform(0, 1, (int(rng.integers(1, 10)), int(rng.integers(1, 5)))),)) for _ in range(8)]


# --------------------------------------------------------------------------- GRU and the coupled LSTM

def _gru_cell_visible():
    rng = np.random.default_rng(1205)
    x, hp = randn(rng, 3, 4), randn(rng, 3, 2)
    w = _params(rng, 4, 2, 3)
    w0, wh = np.zeros((6, 4)), np.zeros((6, 2))
    return [
        Case((np.zeros((2, 4)), np.ones((2, 2)), w0, wh),
             note="all weights 0: r = z = 0.5, n = 0, so h' = 0.5·h (gate order r, z, n)"),
        Case((np.zeros((1, 4)), np.ones((1, 2)), w0, wh, _only(3, 2, 1, 20.0), None),
             note="a huge update-gate bias: z ≈ 1 keeps the old state, h' = (1 − z)·n + z·h ≈ h"),
        Case((np.zeros((1, 4)), np.ones((1, 2)), w0, wh, _only(3, 2, 0, -20.0), _only(3, 2, 2, 3.0)),
             note="r ≈ 0 and only b_hn ≠ 0: torch puts b_hn inside r ⊙ (h W_hnᵀ + b_hn), so it vanishes"),
        Case((x, hp, *w), note="N=3, D=4, H=2"),
        Case((x, hp, w[0], w[1]), note="no biases"),
        Case((x, randn(rng, 2, 3), *w), raises=ValueError, note="h_prev of shape (H, N) instead of (N, H)"),
    ]


def _gru_cell_hidden(rng):
    cases = []
    for _ in range(8):
        n, d, h = _sizes(rng)
        cases.append(Case((randn(rng, n, d), randn(rng, n, h), *_params(rng, d, h, 3, bool(rng.random() < 0.7)))))
    cases.append(Case((randn(rng, 2, 3), randn(rng, 2, 5), *_params(rng, 3, 4, 3)), raises=ValueError))
    return cases


def _gru_seq_visible():
    rng = np.random.default_rng(1206)
    w = _params(rng, 3, 4, 3)
    x = randn(rng, 5, 2, 3)
    return [
        Case((randn(rng, 1, 2, 3), randn(rng, 2, 4), *w), note="T = 1: one cell step"),
        Case((x, randn(rng, 2, 4), *w), note="T=5, N=2, D=3, H=4"),
        Case((x, None, *w), note="h0=None means a zero initial state"),
        Case((x, randn(rng, 2, 4), w[0], w[1]), note="no biases"),
        Case((x, randn(rng, 1, 2, 4), *w), raises=ValueError, note="h0 of shape (1, N, H): expected (N, H)"),
    ]


def _gru_seq_hidden(rng):
    cases = []
    for _ in range(8):
        t, n, d, h = _sizes(rng, 4)
        h0 = randn(rng, n, h) if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, t, n, d), h0, *_params(rng, d, h, 3, bool(rng.random() < 0.7)))))
    return cases


def _cifg_visible():
    rng = np.random.default_rng(1207)
    x, hp, cp = randn(rng, 3, 4), randn(rng, 3, 2), randn(rng, 3, 2)
    w = _params(rng, 4, 2, 3)
    return [
        Case((np.zeros((2, 4)), np.zeros((2, 2)), np.ones((2, 2)), np.zeros((6, 4)), np.zeros((6, 2))),
             note="all weights 0: f = 0.5, i = 1 − f = 0.5, g = 0 → c' = 0.5·c"),
        Case((np.zeros((1, 4)), np.zeros((1, 2)), np.ones((1, 2)), np.zeros((6, 4)), np.zeros((6, 2)),
              _only(3, 2, 1, 20.0), _only(3, 2, 0, -20.0)),
             note="f ≈ 0 (rows 0:H) and g ≈ 1 (rows H:2H): c' ≈ g — gate order f, g, o"),
        Case((x, hp, cp, *w), note="N=3, D=4, H=2"),
        Case((x, hp, cp, w[0], w[1]), note="no biases"),
        Case((x, hp, cp, *_params(rng, 4, 2, 4)), raises=ValueError, note="4H rows of weights: expected 3H (f, g, o)"),
    ]


def _cifg_hidden(rng):
    cases = []
    for _ in range(8):
        n, d, h = _sizes(rng)
        cases.append(Case((randn(rng, n, d), randn(rng, n, h), randn(rng, n, h),
                           *_params(rng, d, h, 3, bool(rng.random() < 0.7)))))
    return cases


EXERCISES = {
    "lstm_cell_forward": Exercise(
        "lstm_cell_forward", rnn_gates.lstm_cell_forward, _lstm_cell_visible, _lstm_cell_hidden,
        output_names=("h_next", "c_next"), rtol=1e-5, atol=1e-6,
        hint="Split x @ weight_ih.T + h_prev @ weight_hh.T (+ biases), shape (N, 4H), into i, f, g, o — in that "
             "order, H columns each."),
    "lstm_forward": Exercise(
        "lstm_forward", rnn_gates.lstm_forward, _lstm_seq_visible, _lstm_seq_hidden,
        output_names=("out", "(h_n, c_n)"),
        hint="Return (out, (h_n, c_n)) like nn.LSTM: out is (T, N, H); h_n and c_n are (N, H)."),
    "lstm_cell_backward": Exercise(
        "lstm_cell_backward", rnn_gates.lstm_cell_backward, _lstm_back_visible, _lstm_back_hidden,
        output_names=("dx", "dh_prev", "dc_prev", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"),
        hint="Each gradient has the shape of its array; the pre-activation gradient da is (N, 4H) in the order "
             "i, f, g, o."),
    "forget_gate_products": Exercise(
        "forget_gate_products", rnn_gates.forget_gate_products, _forget_visible, _forget_hidden,
        hint="Shape (T, H), float64; the last row is all ones."),
    "gru_cell_forward": Exercise(
        "gru_cell_forward", rnn_gates.gru_cell_forward, _gru_cell_visible, _gru_cell_hidden, rtol=1e-5, atol=1e-6,
        hint="Keep the input part and the hidden part apart: n = tanh(x_n + r ⊙ h_n), where h_n includes b_hn."),
    "gru_forward": Exercise(
        "gru_forward", rnn_gates.gru_forward, _gru_seq_visible, _gru_seq_hidden, output_names=("out", "h_n"),
        hint="out is (T, N, H); h_n = out[-1]."),
    "coupled_lstm_cell_forward": Exercise(
        "coupled_lstm_cell_forward", rnn_gates.coupled_lstm_cell_forward, _cifg_visible, _cifg_hidden,
        output_names=("h_next", "c_next"), rtol=1e-5, atol=1e-6,
        hint="Three gates f, g, o (3H rows); the input gate is 1 − f."),
}
