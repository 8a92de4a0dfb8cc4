"""Gated recurrent cells in numpy — LSTM and GRU — with torch's semantics, gate order and weight names.

Shapes follow ``torch.nn.LSTM`` / ``nn.GRU`` (``batch_first=False``): a sequence is (T, N, D), states
are (N, H). The weights stack one block of H rows per gate:

* LSTM: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), biases (4H,), gate order **i, f, g, o**::

      i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o)     a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
      c' = f ⊙ c + i ⊙ g          h' = o ⊙ tanh(c')

* GRU: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), biases (3H,), gate order **r, z, n**::

      r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)      z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
      n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h

  (b_hn sits *inside* r ⊙ (…): that is torch's GRU, not the paper's, where r multiplies h first.)
"""

from __future__ import annotations

import numpy as np

from course_lib.reference.rnn import check_recurrent_weights, check_state

__all__ = ["adding_problem", "coupled_lstm_cell_forward", "forget_gate_products", "gru_cell_forward",
           "gru_forward", "lstm_backward", "lstm_cell_backward", "lstm_cell_forward", "lstm_forward",
           "lstm_gate_trace", "sigmoid"]


def sigmoid(a):
    """σ(a) = 1 / (1 + e^(−a)), computed as (1 + tanh(a/2)) / 2: no overflow for large |a|."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _preact(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, gates, name="h_prev"):
    """Check shapes; return (x W_ihᵀ + b_ih, h W_hhᵀ + b_hh), each (N, gates·H)."""
    if x.ndim != 2:
        raise ValueError(f"x should be 2-d (N, D), got shape {x.shape}")
    h = check_recurrent_weights(x.shape[1], weight_ih, weight_hh, bias_ih, bias_hh, gates=gates)
    check_state(h_prev, (x.shape[0], h), name)
    a_x, a_h = x @ weight_ih.T, h_prev @ weight_hh.T
    if bias_ih is not None:
        a_x = a_x + bias_ih
    if bias_hh is not None:
        a_h = a_h + bias_hh
    return a_x, a_h


def _lstm_gates(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    a_x, a_h = _preact(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, 4)
    check_state(c_prev, h_prev.shape, "c_prev")
    a_i, a_f, a_g, a_o = np.split(a_x + a_h, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    return i, f, g, o, c


def lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of ``torch.nn.LSTMCell``: x (N, D), h_prev and c_prev (N, H) → (h_next, c_next)."""
    *_, o, c = _lstm_gates(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    return o * np.tanh(c), c


def _initial_states(x, hc0, weight_hh):
    if x.ndim != 3:
        raise ValueError(f"x should be 3-d (T, N, D), got shape {x.shape}")
    n, h = x.shape[1], weight_hh.shape[1]
    dtype = np.result_type(x, weight_hh)
    if hc0 is None:
        return np.zeros((n, h), dtype=dtype), np.zeros((n, h), dtype=dtype)
    if not isinstance(hc0, (tuple, list)) or len(hc0) != 2:
        raise ValueError("hc0 should be None or a pair (h0, c0) of arrays (N, H), like torch's (h_0, c_0)")
    check_state(hc0[0], (n, h), "h0")
    check_state(hc0[1], (n, h), "c0")
    return hc0


def lstm_gate_trace(x, hc0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Run an LSTM over x (T, N, D) and keep everything: a dict of arrays (T, N, H) for the gates
    ``i, f, g, o``, the cell states ``c`` and the hidden states ``h``."""
    h, c = _initial_states(x, hc0, weight_hh)
    check_recurrent_weights(x.shape[2], weight_ih, weight_hh, bias_ih, bias_hh, gates=4)
    trace = {k: [] for k in "ifgohc"}
    for t in range(x.shape[0]):
        i, f, g, o, c = _lstm_gates(x[t], h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        h = o * np.tanh(c)
        for key, value in zip("ifgohc", (i, f, g, o, h, c), strict=True):
            trace[key].append(value)
    shape = (0, x.shape[1], weight_hh.shape[1])
    return {k: np.stack(v) if v else np.zeros(shape, dtype=np.result_type(x, weight_hh)) for k, v in trace.items()}


def lstm_forward(x, hc0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A one-layer ``torch.nn.LSTM``: x (T, N, D), hc0 = (h0, c0) or None → (out (T, N, H), (h_n, c_n))."""
    trace = lstm_gate_trace(x, hc0, weight_ih, weight_hh, bias_ih, bias_hh)
    if x.shape[0] == 0:
        h0, c0 = _initial_states(x, hc0, weight_hh)
        return trace["h"], (h0.copy(), c0.copy())
    return trace["h"], (trace["h"][-1].copy(), trace["c"][-1].copy())


def lstm_cell_backward(dh_next, dc_next, x, h_prev, c_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Gradients of one :func:`lstm_cell_forward` step.

    Args:
        dh_next, dc_next: gradients of the loss with respect to h_next and c_next (N, H); dc_next is
            only what reaches c_next directly (from the next step), not through h_next.

    Returns:
        (dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh); a bias gradient is None
        when that bias is.
    """
    i, f, g, o, c = _lstm_gates(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    check_state(dh_next, c.shape, "dh_next")
    check_state(dc_next, c.shape, "dc_next")
    tc = np.tanh(c)
    dc = dc_next + dh_next * o * (1 - tc ** 2)
    da = np.concatenate([dc * g * i * (1 - i),            # input gate
                         dc * c_prev * f * (1 - f),       # forget gate
                         dc * i * (1 - g ** 2),           # candidate
                         dh_next * tc * o * (1 - o)],     # output gate
                        axis=1)
    db = da.sum(axis=0)
    return (da @ weight_ih, da @ weight_hh, dc * f, da.T @ x, da.T @ h_prev,
            None if bias_ih is None else db, None if bias_hh is None else db.copy())


def lstm_backward(dout, x, hc0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Backpropagation through time for :func:`lstm_forward` (gradient of ``sum(out * dout)``).

    Returns:
        (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh).
    """
    h0, c0 = _initial_states(x, hc0, weight_hh)
    trace = lstm_gate_trace(x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh)
    if dout.shape != trace["h"].shape:
        raise ValueError(f"dout should have the shape of out (T, N, H) = {trace['h'].shape}, got {dout.shape}")
    dx = np.zeros(x.shape, dtype=trace["h"].dtype)
    grads = [np.zeros(w.shape, dtype=trace["h"].dtype) if w is not None else None
             for w in (weight_ih, weight_hh, bias_ih, bias_hh)]
    dh, dc = np.zeros_like(h0, dtype=dx.dtype), np.zeros_like(c0, dtype=dx.dtype)
    for t in reversed(range(x.shape[0])):
        h_prev, c_prev = (trace["h"][t - 1], trace["c"][t - 1]) if t else (h0, c0)
        dx[t], dh, dc, *dw = lstm_cell_backward(dout[t] + dh, dc, x[t], h_prev, c_prev,
                                                weight_ih, weight_hh, bias_ih, bias_hh)
        for acc, d in zip(grads, dw, strict=True):
            if acc is not None:
                acc += d
    return (dx, dh, dc, *grads)


def gru_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of ``torch.nn.GRUCell``: x (N, D), h_prev (N, H) → h_next (N, H)."""
    a_x, a_h = _preact(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, 3)
    x_r, x_z, x_n = np.split(a_x, 3, axis=1)
    h_r, h_z, h_n = np.split(a_h, 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h_prev


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A one-layer ``torch.nn.GRU``: x (T, N, D), h0 (N, H) or None → (out (T, N, H), h_n (N, H))."""
    if x.ndim != 3:
        raise ValueError(f"x should be 3-d (T, N, D), got shape {x.shape}")
    h = check_recurrent_weights(x.shape[2], weight_ih, weight_hh, bias_ih, bias_hh, gates=3)
    dtype = np.result_type(x, weight_ih)
    state = np.zeros((x.shape[1], h), dtype=dtype) if h0 is None else h0
    check_state(state, (x.shape[1], h))
    out = np.zeros((x.shape[0], x.shape[1], h), dtype=dtype)
    for t in range(x.shape[0]):
        state = gru_cell_forward(x[t], state, weight_ih, weight_hh, bias_ih, bias_hh)
        out[t] = state
    return out, np.array(state, dtype=dtype, copy=True)


def coupled_lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The coupled input–forget gate LSTM (CIFG): one gate decides both forgetting and writing.

    Weights stack three gates in the order **f, g, o** ((3H, D), (3H, H), (3H,)); the input gate is
    i = 1 − f, so ``c' = f ⊙ c + (1 − f) ⊙ g`` (a convex mix of old and new), ``h' = o ⊙ tanh(c')``.

    Returns:
        (h_next, c_next).
    """
    a_x, a_h = _preact(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, 3)
    check_state(c_prev, h_prev.shape, "c_prev")
    a_f, a_g, a_o = np.split(a_x + a_h, 3, axis=1)
    f, g, o = sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + (1 - f) * g
    return o * np.tanh(c), c


def forget_gate_products(f):
    """The "conveyor belt" gradient: ∂c_{T−1}/∂c_t along the direct cell-state path.

    Along c_t → c_{t+1} → … the only factor is the forget gate, so the direct-path derivative is
    ∏_{s=t+1}^{T−1} f_s (element-wise). Args: f (T, H) forget-gate activations of one sequence.

    Returns:
        (T, H) float64; row T−1 is all ones (the empty product).
    """
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"f should be 2-d (T, H), got shape {f.shape}")
    out = np.ones_like(f)
    for t in range(f.shape[0] - 2, -1, -1):
        out[t] = out[t + 1] * f[t + 1]
    return out


def adding_problem(n, length, rng):
    """The adding problem, in the simplified form of later work: remember two numbers across a long gap.

    Each sequence has ``length`` steps of two features: a value drawn from U(0, 1) and a marker that is
    1 at exactly two steps — one in the first half, one in the second — and 0 elsewhere. The target is
    the sum of the two marked values. Always predicting 1 gives mean squared error 1/6 ≈ 0.167.
    (Hochreiter & Schmidhuber's 1997 experiment 4 differs: values in [−1, 1], the first marker among
    the first ten steps, the second also in the first half, target 0.5 + (X₁ + X₂)/4.)

    Returns:
        (x, y): float32 arrays (length, n, 2) — time first — and (n,).
    """
    if length < 2 or n < 1:
        raise ValueError(f"need length ≥ 2 and n ≥ 1, got length={length}, n={n}")
    values = rng.random((length, n))
    marks = np.zeros((length, n))
    cols = np.arange(n)
    marks[rng.integers(0, length // 2, n), cols] = 1
    marks[rng.integers(length // 2, length, n), cols] = 1
    x = np.stack([values, marks], axis=-1).astype(np.float32)
    return x, (values * marks).sum(axis=0).astype(np.float32)
