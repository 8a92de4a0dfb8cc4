"""Vanilla recurrent networks in numpy, with ``torch.nn.RNN``'s semantics and weight names.

Shapes follow torch's default (``batch_first=False``): a sequence is ``(T, N, D)`` (time, batch,
features), hidden states are ``(N, H)``, ``weight_ih`` is ``(H, D)``, ``weight_hh`` is ``(H, H)``,
biases are ``(H,)`` or None. One step is

    h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
"""

from __future__ import annotations

import numpy as np

__all__ = ["birnn_forward", "check_recurrent_weights", "check_state", "clip_grad_norm", "rnn_backward",
           "rnn_cell_forward", "rnn_forward", "rnn_jacobian_norms", "sample_with_temperature"]


def check_recurrent_weights(d, weight_ih, weight_hh, bias_ih, bias_hh, gates=1):
    """Hidden size H after checking that the weights fit an input of D features.

    ``gates`` is how many blocks of H rows the weights stack: 1 for an RNN, 4 for an LSTM
    (i, f, g, o), 3 for a GRU (r, z, n) — so ``weight_ih`` is (gates·H, D), ``weight_hh`` (gates·H, H).
    """
    k = "" if gates == 1 else str(gates)
    if weight_ih.ndim != 2 or weight_ih.shape[0] % gates:
        raise ValueError(f"weight_ih should be 2-d ({k}H, D), got shape {weight_ih.shape}")
    h = weight_ih.shape[0] // gates
    if weight_ih.shape[1] != d:
        raise ValueError(f"weight_ih should have shape ({k}H, D) = ({gates * h}, {d}) for inputs with D = {d} "
                         f"features, got {weight_ih.shape}")
    if weight_hh.shape != (gates * h, h):
        raise ValueError(f"weight_hh should have shape ({k}H, H) = ({gates * h}, {h}), got {weight_hh.shape}")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None and b.shape != (gates * h,):
            raise ValueError(f"{name} should have shape ({k}H,) = ({gates * h},), got {b.shape}")
    return h


def check_state(h, expected, name="h0"):
    """Raise a ValueError naming ``name``, the expected and the actual shape, unless they agree."""
    if h.shape != expected:
        raise ValueError(f"{name} should have shape {expected}, got {h.shape}")


def rnn_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of ``torch.nn.RNNCell`` (tanh): x (N, D), h_prev (N, H) → h_next (N, H)."""
    if x.ndim != 2:
        raise ValueError(f"x should be 2-d (N, D), got shape {x.shape}")
    h = check_recurrent_weights(x.shape[1], weight_ih, weight_hh, bias_ih, bias_hh)
    check_state(h_prev, (x.shape[0], h), "h_prev")
    a = x @ weight_ih.T + h_prev @ weight_hh.T
    if bias_ih is not None:
        a = a + bias_ih
    if bias_hh is not None:
        a = a + bias_hh
    return np.tanh(a)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """A single-layer ``torch.nn.RNN`` over a sequence.

    Args:
        x: (T, N, D). h0: (N, H) or None (zeros).

    Returns:
        (out, h_n): every hidden state (T, N, H) and the last one (N, H).
    """
    if x.ndim != 3:
        raise ValueError(f"x should be 3-d (T, N, D), got shape {x.shape}")
    t_len, n, d = x.shape
    h = check_recurrent_weights(d, weight_ih, weight_hh, bias_ih, bias_hh)
    dtype = np.result_type(x, weight_ih)
    if h0 is None:
        h0 = np.zeros((n, h), dtype=dtype)
    check_state(h0, (n, h))
    out = np.zeros((t_len, n, h), dtype=dtype)
    state = h0
    for t in range(t_len):
        state = rnn_cell_forward(x[t], state, weight_ih, weight_hh, bias_ih, bias_hh)
        out[t] = state
    return out, (out[-1].copy() if t_len else h0.astype(dtype))


def rnn_backward(dout, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Backpropagation through time for :func:`rnn_forward`.

    Args:
        dout: gradient of the loss with respect to ``out``, (T, N, H) (add the gradient of ``h_n`` to
            ``dout[-1]``). The other arguments are those of :func:`rnn_forward`.

    Returns:
        (dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh); a bias gradient is None when that bias is.
    """
    out, _ = rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    if dout.shape != out.shape:
        raise ValueError(f"dout should have the shape of out (T, N, H) = {out.shape}, got {dout.shape}")
    t_len, n, h = out.shape
    if h0 is None:
        h0 = np.zeros((n, h), dtype=out.dtype)
    dx = np.zeros(x.shape, dtype=out.dtype)
    dw_ih = np.zeros(weight_ih.shape, dtype=out.dtype)
    dw_hh = np.zeros(weight_hh.shape, dtype=out.dtype)
    db = np.zeros(h, dtype=out.dtype)
    dh_next = np.zeros((n, h), dtype=out.dtype)
    for t in reversed(range(t_len)):
        h_prev = out[t - 1] if t > 0 else h0
        da = (dout[t] + dh_next) * (1 - out[t] ** 2)     # through tanh
        dx[t] = da @ weight_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ h_prev
        db += da.sum(axis=0)
        dh_next = da @ weight_hh
    return (dx, dh_next, dw_ih, dw_hh, None if bias_ih is None else db.copy(),
            None if bias_hh is None else db.copy())


def birnn_forward(x, h0, forward_params, backward_params):
    """``torch.nn.RNN(bidirectional=True)``, one layer.

    Args:
        x: (T, N, D). h0: (2, N, H) or None — [forward direction, reverse direction].
        forward_params, backward_params: (weight_ih, weight_hh, bias_ih, bias_hh) of each direction
            (torch's ``*_l0`` and ``*_l0_reverse``); biases may be None.

    Returns:
        (out, h_n): out (T, N, 2H) = [forward state at t, reverse state at t], h_n (2, N, H).
    """
    if x.ndim != 3:
        raise ValueError(f"x should be 3-d (T, N, D), got shape {x.shape}")
    h = forward_params[0].shape[0]
    if h0 is not None:
        check_state(h0, (2, x.shape[1], h))
    h_f, h_b = (None, None) if h0 is None else (h0[0], h0[1])
    out_f, last_f = rnn_forward(x, h_f, *forward_params)
    out_r, last_b = rnn_forward(x[::-1], h_b, *backward_params)
    return np.concatenate([out_f, out_r[::-1]], axis=-1), np.stack([last_f, last_b])


def clip_grad_norm(grads, max_norm, eps=1e-6):
    """``torch.nn.utils.clip_grad_norm_`` without the in-place update.

    Returns:
        (clipped, total_norm): a tuple of new arrays, scaled by min(1, max_norm / (total_norm + eps)),
        and the global L2 norm of all gradients before clipping (a float).
    """
    if max_norm < 0:
        raise ValueError(f"max_norm must be ≥ 0, got {max_norm}")
    total = float(np.sqrt(sum(float(np.sum(np.asarray(g, dtype=np.float64) ** 2)) for g in grads)))
    coef = min(1.0, max_norm / (total + eps))
    return tuple(g * np.asarray(coef, dtype=g.dtype) for g in grads), total


def sample_with_temperature(logits, temperature, rng):
    """Sample token ids from ``softmax(logits / temperature)`` by the inverse CDF.

    One uniform number per row: ``u = rng.random()`` for logits (V,), ``u = rng.random(N)`` for
    (N, V); the sample is the number of cumulative probabilities ≤ u (``np.searchsorted(cdf, u,
    side="right")``), at most V − 1.

    Returns:
        An int for (V,) logits, an int64 array (N,) for (N, V) logits.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(f"logits should have shape (V,) or (N, V) with V ≥ 1, got {logits.shape}")
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if logits.ndim == 1:
        u = rng.random()
        return int(min(np.searchsorted(np.cumsum(p), u, side="right"), p.size - 1))
    u = rng.random(logits.shape[0])
    cdf = np.cumsum(p, axis=-1)
    idx = np.array([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u, strict=True)], dtype=np.int64)
    return np.minimum(idx, p.shape[1] - 1)


def rnn_jacobian_norms(out, weight_hh):
    """Frobenius norms of ∂h_{T-1}/∂h_t for t = 0 … T-1 of one tanh RNN sequence.

    Args:
        out: the hidden states (T, H) of one sequence (``rnn_forward(...)[0][:, 0]``).
        weight_hh: (H, H).

    Returns:
        float64 array (T,); the last entry is ‖I‖ = √H. Uses
        ∂h_{t+1}/∂h_t = diag(1 − h_{t+1}²) W_hh.
    """
    if out.ndim != 2:
        raise ValueError(f"out should be 2-d (T, H), got shape {out.shape}")
    t_len, h = out.shape
    if weight_hh.shape != (h, h):
        raise ValueError(f"weight_hh should have shape (H, H) = ({h}, {h}), got {weight_hh.shape}")
    norms = np.zeros(t_len)
    jac = np.eye(h)
    for t in reversed(range(t_len)):
        norms[t] = np.linalg.norm(jac)
        if t > 0:
            jac = jac @ ((1 - out[t] ** 2)[:, None] * weight_hh)
    return norms
