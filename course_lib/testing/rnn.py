"""Exercise specifications for Chapter 11 (recurrent neural networks)."""

from __future__ import annotations

import numpy as np

from course_lib.sequences import scaled_orthogonal

from ._cases import randn
from .core import Case, Exercise, answers

rnn = answers("rnn")  # the answers, imported when first used

__all__ = ["EXERCISES"]


def _params(rng, d, h, bias=True, dtype=np.float64):
    s = 1 / np.sqrt(h)
    w_ih, w_hh = randn(rng, h, d, dtype=dtype) * s, randn(rng, h, h, dtype=dtype) * s
    if not bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, randn(rng, h, dtype=dtype) * s, randn(rng, h, dtype=dtype) * s


# --------------------------------------------------------------------------- cell

def _cell_visible():
    rng = np.random.default_rng(1101)
    x, hp = randn(rng, 3, 4), randn(rng, 3, 5)
    w = _params(rng, 4, 5)
    w_sq = _params(rng, 3, 3)
    return [
        Case((np.zeros((2, 4)), np.zeros((2, 5)), *w), note="zero input and state: tanh(b_ih + b_hh)"),
        Case((x, hp, *w), note="N=3, D=4, H=5"),
        Case((randn(rng, 2, 3), randn(rng, 2, 3), *w_sq),
             note="D = H = 3: W_ih and W_hh are square, so a missing transpose shows here"),
        Case((x, hp, w[0], w[1]), note="no biases (bias=False in torch)"),
        Case((x.astype(np.float32), hp.astype(np.float32), *(a.astype(np.float32) for a in w)), note="float32"),
        Case((x, randn(rng, 5, 3), *w), raises=ValueError, note="h_prev of shape (H, N) instead of (N, H)"),
    ]


def _cell_hidden(rng):
    cases = []
    for _ in range(8):
        n, d, h = (int(v) for v in rng.integers(1, 6, size=3))
        cases.append(Case((randn(rng, n, d), randn(rng, n, h), *_params(rng, d, h, bool(rng.random() < 0.7)))))
    cases.append(Case((randn(rng, 2, 3), randn(rng, 2, 4), *_params(rng, 3, 5)), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- sequence

def _seq_visible():
    rng = np.random.default_rng(1102)
    w = _params(rng, 3, 4)
    x = randn(rng, 5, 2, 3)
    return [
        Case((randn(rng, 1, 2, 3), randn(rng, 2, 4), *w), note="T = 1: one cell step"),
        Case((x, randn(rng, 2, 4), *w), note="T=5, N=2, D=3, H=4"),
        Case((x, None, *w), note="h0=None means a zero initial state"),
        Case((x, randn(rng, 2, 4), w[0], w[1]), note="no biases"),
        Case((x, randn(rng, 1, 2, 4), *w), raises=ValueError, note="h0 of shape (1, N, H): expected (N, H)"),
    ]


def _seq_hidden(rng):
    cases = []
    for _ in range(8):
        t, n, d, h = (int(v) for v in rng.integers(1, 7, size=4))
        h0 = randn(rng, n, h) if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, t, n, d), h0, *_params(rng, d, h, bool(rng.random() < 0.7)))))
    cases.append(Case((randn(rng, 3, 2, 3), randn(rng, 4, 2), *_params(rng, 3, 4)), raises=ValueError))
    return cases


def _backward_visible():
    rng = np.random.default_rng(1103)
    w = _params(rng, 3, 4)
    return [
        Case((randn(rng, 1, 2, 4), randn(rng, 1, 2, 3), randn(rng, 2, 4), *w), note="T = 1: no recurrence yet"),
        Case((randn(rng, 4, 2, 4), randn(rng, 4, 2, 3), randn(rng, 2, 4), *w),
             note="T = 4: the gradient of h_t also flows into h_{t-1}"),
        Case((randn(rng, 3, 1, 4), randn(rng, 3, 1, 3), None, *w), note="h0=None"),
        Case((randn(rng, 3, 2, 4), randn(rng, 3, 2, 3), randn(rng, 2, 4), w[0], w[1]),
             note="no biases: db_ih and db_hh are None"),
    ]


def _backward_hidden(rng):
    cases = []
    for _ in range(6):
        t, n, d, h = (int(v) for v in rng.integers(1, 6, size=4))
        h0 = randn(rng, n, h) if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, t, n, h), randn(rng, t, n, d), h0,
                           *_params(rng, d, h, bool(rng.random() < 0.7)))))
    return cases


def _bi_visible():
    rng = np.random.default_rng(1104)
    x = randn(rng, 4, 2, 3)
    return [
        Case((x, None, _params(rng, 3, 2), _params(rng, 3, 2)), note="h0=None, T=4, N=2, H=2"),
        Case((x, randn(rng, 2, 2, 2), _params(rng, 3, 2), _params(rng, 3, 2)),
             note="h0[0] starts the forward direction, h0[1] the reverse one"),
        Case((x, randn(rng, 2, 2, 2), _params(rng, 3, 2, False), _params(rng, 3, 2, False)), note="no biases"),
        Case((x, randn(rng, 2, 2), _params(rng, 3, 2), _params(rng, 3, 2)), raises=ValueError,
             note="h0 of shape (N, H): expected (2, N, H)"),
    ]


def _bi_hidden(rng):
    cases = []
    for _ in range(6):
        t, n, d, h = (int(v) for v in rng.integers(1, 6, size=4))
        bias = bool(rng.random() < 0.7)
        h0 = randn(rng, 2, n, h) if rng.random() < 0.7 else None
        cases.append(Case((randn(rng, t, n, d), h0, _params(rng, d, h, bias), _params(rng, d, h, bias))))
    return cases


# --------------------------------------------------------------------------- clipping, jacobians, sampling

def _clip_visible():
    rng = np.random.default_rng(1105)
    return [
        Case(((np.array([3.0]), np.array([[4.0]])), 10.0), note="norm 5 ≤ 10: unchanged, total 5"),
        Case(((np.array([3.0]), np.array([[4.0]])), 1.0), note="norm 5 > 1: scaled by 1/(5 + 1e-6)"),
        Case(((randn(rng, 3, 4) * 10, randn(rng, 4), randn(rng, 2, 2, 2)), 2.0),
             note="the norm is global, over all arrays together — not per array"),
        Case(((randn(rng, 3, dtype=np.float32) * 5,), 1.0), note="float32 stays float32"),
        Case(((randn(rng, 3),), -1.0), raises=ValueError, note="negative max_norm"),
    ]


def _clip_hidden(rng):
    cases = []
    for _ in range(8):
        grads = tuple(randn(rng, *(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 3)))))
                      * float(rng.choice([0.01, 1.0, 10.0])) for _ in range(int(rng.integers(1, 4))))
        cases.append(Case((grads, float(rng.choice([0.5, 1.0, 5.0])))))
    return cases


def _jac_visible():
    rng = np.random.default_rng(1106)
    w = scaled_orthogonal(4, 1.0, rng)
    return [
        Case((np.zeros((3, 4)), w), note="h = 0 everywhere: tanh' = 1, norms are ‖W^k‖ = √H for orthogonal W"),
        Case((np.tanh(randn(rng, 6, 4)), w), note="T = 6, H = 4"),
        Case((np.tanh(randn(rng, 5, 3)), randn(rng, 3, 3)),
             note="a general W_hh: ∂h_{t+1}/∂h_t = diag(1 − h_{t+1}²) W_hh, multiplied from the left end"),
        Case((np.zeros((1, 2)), np.eye(2)), note="T = 1: only ‖I‖ = √2"),
        Case((np.zeros((3, 4)), np.eye(3)), raises=ValueError, note="W_hh of the wrong size"),
    ]


def _jac_hidden(rng):
    cases = []
    for _ in range(8):
        t, h = int(rng.integers(1, 9)), int(rng.integers(1, 6))
        cases.append(Case((np.tanh(randn(rng, t, h) * 2), randn(rng, h, h))))
    return cases


def _sample_visible():
    return [
        Case((np.array([0.0, 0.0, 5.0]), 1.0, np.random.default_rng(0)), note="1-d logits → an int"),
        Case((np.tile([1.0, 2.0, 3.0, 0.5], (8, 1)), 0.5, np.random.default_rng(1)),
             note="temperature 0.5: sharper, divide the logits by τ"),
        Case((np.tile([1.0, 2.0, 3.0, 0.5], (8, 1)), 3.0, np.random.default_rng(1)),
             note="temperature 3: flatter, divide the logits by τ"),
        Case((np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]] * 3), 1.0, np.random.default_rng(2)),
             note="(N, V) logits → N samples from one rng.random(N)"),
        Case((np.array([1000.0, 0.0, -1000.0]), 0.1, np.random.default_rng(3)),
             note="huge logits / small temperature: subtract the max first (no overflow)"),
        Case((np.array([1.0, 2.0]), 0.0, np.random.default_rng(0)), raises=ValueError, note="temperature 0"),
    ]


def _sample_hidden(rng):
    cases = []
    for i in range(10):
        v = int(rng.integers(1, 12))
        shape = (v,) if i % 2 else (int(rng.integers(1, 6)), v)
        cases.append(Case((randn(rng, *shape) * 3, float(rng.choice([0.3, 0.7, 1.0, 1.5, 4.0])),
                           np.random.default_rng(int(rng.integers(1 << 30))))))
    return cases


EXERCISES = {
    "rnn_cell_forward": Exercise("rnn_cell_forward", rnn.rnn_cell_forward, _cell_visible, _cell_hidden,
                                 rtol=1e-5, atol=1e-6,
                                 hint="h_next is (N, H): x (N, D) @ weight_ih.T (D, H) + h_prev (N, H) @ weight_hh.T."),
    "rnn_forward": Exercise("rnn_forward", rnn.rnn_forward, _seq_visible, _seq_hidden,
                            output_names=("out", "h_n"),
                            hint="out is (T, N, H): one hidden state per time step; h_n = out[-1]."),
    "rnn_backward": Exercise("rnn_backward", rnn.rnn_backward, _backward_visible, _backward_hidden,
                             output_names=("dx", "dh0", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"),
                             hint="Each gradient has the shape of the array it belongs to."),
    "birnn_forward": Exercise("birnn_forward", rnn.birnn_forward, _bi_visible, _bi_hidden,
                              output_names=("out", "h_n"),
                              hint="out is (T, N, 2H) = [forward states, reverse states]; h_n is (2, N, H)."),
    "clip_grad_norm": Exercise("clip_grad_norm", rnn.clip_grad_norm, _clip_visible, _clip_hidden,
                               output_names=("clipped", "total_norm"),
                               hint="Each clipped gradient keeps its own shape."),
    "rnn_jacobian_norms": Exercise("rnn_jacobian_norms", rnn.rnn_jacobian_norms, _jac_visible, _jac_hidden,
                                   hint="One norm per time step: shape (T,)."),
    "sample_with_temperature": Exercise("sample_with_temperature", rnn.sample_with_temperature,
                                        _sample_visible, _sample_hidden,
                                        hint="(V,) logits give one int; (N, V) logits give an int array (N,)."),
}
