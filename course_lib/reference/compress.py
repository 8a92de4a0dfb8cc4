"""Model compression from scratch in numpy: quantization, pruning, distillation and fast convolution.

Quantization follows PyTorch's ``torch.quantize_per_tensor`` / ``torch.quantize_per_channel``
(``q = clamp(round(x / scale) + zero_point)``, ties to even; ``quint8`` for affine, ``qint8`` for
symmetric). Shape glossary: N batch, C input channels, F output channels (filters), H/W height/width,
KH/KW kernel, D features, K classes.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.reference.conv import _check_conv

__all__ = [
    "WINOGRAD_AT",
    "WINOGRAD_BT",
    "WINOGRAD_G",
    "channel_prune_mask",
    "conv2d_fft",
    "dequantize",
    "distillation_loss",
    "distillation_loss_backward",
    "fake_quantize",
    "magnitude_prune",
    "model_size_bytes",
    "qrange",
    "quant_params",
    "quantize",
    "quantized_linear",
    "winograd_f2x2_3x3",
]


def _check_float_array(x, name):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        seen = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{name} must be a floating-point numpy array, got {seen}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")


def qrange(bits=8, symmetric=False):
    """Integer range ``(qmin, qmax)``: symmetric ``(-2**(bits-1), 2**(bits-1) - 1)`` (like torch.qint8
    for 8 bits), affine ``(0, 2**bits - 1)`` (like torch.quint8). ``bits`` must be an int in 2..16."""
    if not isinstance(bits, Integral) or isinstance(bits, bool) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in 2..16, got {bits!r}")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


def quant_params(x, bits=8, symmetric=False, axis=None):
    """Scale and zero point mapping the range of ``x`` onto ``bits``-bit integers.

    Affine (asymmetric): ``lo = min(x.min(), 0)``, ``hi = max(x.max(), 0)`` (the range always contains 0,
    so 0 is represented exactly), ``scale = (hi - lo) / (qmax - qmin)``,
    ``zero_point = clamp(qmin - round(lo / scale))`` — torch's ``MinMaxObserver`` for quint8.
    Symmetric: ``scale = max|x| / qmax`` (±max|x| maps to ±(2**(bits-1) - 1), e.g. ±127), zero_point 0.
    A zero range (x all zeros) gets ``scale = 1.0``.

    Args:
        x: float array of any shape, e.g. conv weights (F, C, KH, KW).
        bits: 2..16; the integer range is :func:`qrange`.
        symmetric: symmetric (signed, zero point 0) instead of affine (unsigned).
        axis: None for one (scale, zero_point) for the whole tensor (per-tensor); an int for one pair
            per index along ``axis`` computed over all other axes (per-channel; axis=0: per filter).

    Returns:
        Per-tensor: ``(scale, zero_point)`` as (float, int). Per-channel: float64 and int64 arrays with
        ``x.ndim`` dimensions, size C along ``axis`` and 1 elsewhere (e.g. (F, 1, 1, 1)), which
        broadcast against ``x``.
    """
    _check_float_array(x, "x")
    qmin, qmax = qrange(bits, symmetric)
    if axis is None:
        reduce = None
    else:
        if not isinstance(axis, Integral) or isinstance(axis, bool) or not -x.ndim <= axis < x.ndim:
            raise ValueError(f"axis must be None or an int in [{-x.ndim}, {x.ndim - 1}] for x of shape {x.shape}, "
                             f"got {axis!r}")
        reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    xf = x.astype(np.float64)
    lo = np.minimum(xf.min(axis=reduce, keepdims=True), 0.0)  # (1, .., C, .., 1)
    hi = np.maximum(xf.max(axis=reduce, keepdims=True), 0.0)
    if symmetric:
        scale = np.maximum(-lo, hi) / qmax
    else:
        scale = (hi - lo) / (qmax - qmin)
    scale = np.where(scale > 0, scale, 1.0)
    zero_point = np.zeros(scale.shape, np.int64) if symmetric else \
        np.clip(qmin - np.rint(lo / scale), qmin, qmax).astype(np.int64)
    if axis is None:
        return float(scale.item()), int(zero_point.item())
    return scale, zero_point


def _int_dtype(bits, symmetric):
    if bits <= 8:
        return np.int8 if symmetric else np.uint8
    return np.int16 if symmetric else np.uint16


def _check_qparams(scale, zero_point, qmin, qmax, shape):
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    if zero_point.dtype.kind not in "iu" and not np.array_equal(zero_point, np.round(zero_point)):
        raise ValueError(f"zero_point must be an integer, got {zero_point}")
    if (zero_point < qmin).any() or (zero_point > qmax).any():
        raise ValueError(f"zero_point must be in [{qmin}, {qmax}], got {zero_point}")
    for name, value in (("scale", scale), ("zero_point", zero_point)):
        try:
            if np.broadcast_shapes(value.shape, shape) != shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"{name} of shape {value.shape} does not broadcast to shape {shape}") from None
    return scale, zero_point.astype(np.int64)


def quantize(x, scale, zero_point, bits=8, symmetric=False):
    """``q = clamp(round(x / scale) + zero_point, qmin, qmax)``, ties to even (like ``torch.quantize_per_tensor``).

    Args:
        x: float array of any shape.
        scale: float > 0, or an array broadcasting against ``x`` (per-channel, from :func:`quant_params`).
        zero_point: int in ``[qmin, qmax]``, or an array like ``scale``.
        bits, symmetric: the integer range :func:`qrange`.

    Returns:
        Integer array of x's shape: int8/uint8 for bits <= 8 (symmetric/affine), int16/uint16 above.
    """
    _check_float_array(x, "x")
    qmin, qmax = qrange(bits, symmetric)
    scale, zero_point = _check_qparams(scale, zero_point, qmin, qmax, x.shape)
    q = np.rint(x / scale) + zero_point  # float64, exact for integers
    return np.clip(q, qmin, qmax).astype(_int_dtype(bits, symmetric))


def dequantize(q, scale, zero_point):
    """``x ≈ (q - zero_point) * scale`` as float32 (like ``Tensor.dequantize``).

    Args:
        q: integer array (any integer dtype: the subtraction is done in int64, so uint8 codes below the
            zero point do not wrap around).
        scale, zero_point: as for :func:`quantize` (scalars or broadcasting arrays).
    """
    if not isinstance(q, np.ndarray) or q.dtype.kind not in "iu":
        raise ValueError(f"q must be an integer numpy array, got {getattr(q, 'dtype', type(q).__name__)}")
    scale, zero_point = _check_qparams(scale, zero_point, -(2**62), 2**62, q.shape)
    return ((q.astype(np.int64) - zero_point) * scale).astype(np.float32)


def fake_quantize(x, bits=8, symmetric=False, axis=None):
    """``dequantize(quantize(x, *quant_params(x, ...)))`` in x's dtype: the values a quantized model uses."""
    scale, zero_point = quant_params(x, bits, symmetric, axis)
    return dequantize(quantize(x, scale, zero_point, bits, symmetric), scale, zero_point).astype(x.dtype)


def _fixed_point(multiplier):
    """``multiplier ≈ m0 * 2**-shift`` with int64 ``m0`` in [2**30, 2**31] (Q31, as gemmlowp does)."""
    m, e = np.frexp(multiplier)  # multiplier = m * 2**e, 0.5 <= m < 1
    m0 = np.rint(m * 2.0**31).astype(np.int64)
    shift = 31 - e.astype(np.int64)
    if (shift < 1).any() or (shift > 62).any():
        raise ValueError(f"requantisation multiplier x_scale*w_scale/out_scale out of range: {multiplier}")
    return m0, shift


def quantized_linear(x_q, w_q, x_scale, x_zero_point, w_scale, w_zero_point, bias, out_scale, out_zero_point,
                     bits=8):
    """Fully-connected layer computed with integer arithmetic only (Jacob et al., 2018).

    With ``x ≈ s_x (x_q - z_x)`` and ``w ≈ s_w (w_q - z_w)`` the float layer ``y = x @ w.T + bias`` is

        y ≈ s_x s_w · acc,   acc = (x_q - z_x) @ (w_q - z_w).T + round(bias / (s_x s_w))   (int32)

    ``acc`` is an integer matrix product accumulated in int32 (checked for overflow). It is requantised
    to the output's scale by the multiplier ``M = s_x s_w / s_y`` written as a fixed-point number
    ``M = M0 · 2**-shift`` (integer multiply, then a rounding right shift):
    ``y_q = clamp(round(M · acc) + z_y, 0, 2**bits - 1)``.

    Args:
        x_q: (N, D) integer inputs.
        w_q: (F, D) integer weights.
        x_scale, x_zero_point: per-tensor float and int of the inputs.
        w_scale, w_zero_point: float/int, or arrays of F values (per output channel, any shape).
        bias: (F,) float or None.
        out_scale, out_zero_point: per-tensor affine quantization of the output.
        bits: output bits; the output range is ``qrange(bits)`` = 0..2**bits - 1.

    Returns:
        (N, F) integer array ``y_q`` (uint8 for 8 bits); ``dequantize(y_q, out_scale, out_zero_point)``
        approximates the float layer.
    """
    for name, a, nd in (("x_q", x_q, 2), ("w_q", w_q, 2)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != nd:
            raise ValueError(f"{name} must be a 2-D integer numpy array, got {getattr(a, 'dtype', type(a))} "
                             f"{getattr(a, 'shape', '')}")
    (_, d), (f, d_w) = x_q.shape, w_q.shape
    if d != d_w:
        raise ValueError(f"x_q has D={d} features but w_q expects {d_w} (w_q shape {w_q.shape})")
    qmin, qmax = qrange(bits)
    w_scale = np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), (f,))
    w_zp = np.broadcast_to(np.asarray(w_zero_point, np.int64).reshape(-1), (f,))
    acc = (x_q.astype(np.int64) - int(x_zero_point)) @ (w_q.astype(np.int64) - w_zp[:, None]).T  # (N, F)
    acc_scale = float(x_scale) * w_scale  # (F,)
    if bias is not None:
        acc = acc + np.rint(np.asarray(bias, np.float64) / acc_scale).astype(np.int64)
    if np.abs(acc).max(initial=0) >= 2**31:
        raise ValueError("int32 accumulator overflow: use fewer bits or shorter rows")
    m0, shift = _fixed_point(acc_scale / float(out_scale))  # (F,), (F,)
    y = (acc * m0 + (np.int64(1) << (shift - 1))) >> shift  # round(M · acc), half up
    return np.clip(y + int(out_zero_point), qmin, qmax).astype(_int_dtype(bits, False))


def magnitude_prune(w, sparsity):
    """Mask that removes the ``sparsity`` fraction of weights with the smallest ``|w|`` (Han et al., 2015).

    Args:
        w: one weight array (per-layer pruning), or a list/tuple of arrays (global pruning: one threshold
            for all of them, so layers with many small weights lose more).
        sparsity: fraction in [0, 1]; exactly ``k = round(sparsity * n)`` entries are pruned, n = total size.

    Ties: equal ``|w|`` are pruned in order of position (flat index; for a list, first array first), so
    exactly k entries are pruned even when many are equal (e.g. zeros).

    Returns:
        bool mask of w's shape (True = keep), or a list of masks for a list.
    """
    single = isinstance(w, np.ndarray)
    arrays = [w] if single else list(w) if isinstance(w, (list, tuple)) else None
    if not arrays or not all(isinstance(a, np.ndarray) and a.dtype.kind in "fiu" for a in arrays):
        raise ValueError(f"w must be a numeric numpy array or a non-empty list of them, got {type(w).__name__}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.number)) or not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be a number in [0, 1], got {sparsity!r}")
    flat = np.concatenate([np.abs(a).ravel() for a in arrays])  # (n,)
    if np.isnan(flat).any():
        raise ValueError("w contains NaN")
    k = int(round(float(sparsity) * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argsort(flat, kind="stable")[:k]] = False
    masks = [m.reshape(a.shape) for m, a in zip(np.split(keep, np.cumsum([a.size for a in arrays])[:-1]), arrays,
                                                 strict=True)]
    return masks[0] if single else masks


def channel_prune_mask(weight, keep_ratio):
    """Keep the filters (output channels) with the largest L1 norm ``sum |weight[f]|`` (Li et al., 2017).

    Args:
        weight: (F, C, KH, KW) conv weights or (F, D) linear weights; filter f is ``weight[f]``.
        keep_ratio: fraction in (0, 1]; keeps ``k = max(1, round(keep_ratio * F))`` filters.

    Ties: filters with equal norms are kept in order of index (lower index first).

    Returns:
        bool array (F,), True = keep.
    """
    if not isinstance(weight, np.ndarray) or weight.dtype.kind not in "fiu" or weight.ndim < 2 or weight.size == 0:
        seen = f"shape {weight.shape}" if isinstance(weight, np.ndarray) else type(weight).__name__
        raise ValueError(f"weight must be a numeric array of shape (F, ...) with at least 2 dims, got {seen}")
    if isinstance(keep_ratio, bool) or not isinstance(keep_ratio, (int, float, np.number)) \
            or not 0 < keep_ratio <= 1:
        raise ValueError(f"keep_ratio must be a number in (0, 1], got {keep_ratio!r}")
    f = weight.shape[0]
    norms = np.abs(weight).reshape(f, -1).sum(axis=1)  # (F,)
    k = max(1, int(round(float(keep_ratio) * f)))
    keep = np.zeros(f, dtype=bool)
    keep[np.argsort(-norms, kind="stable")[:k]] = True
    return keep


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _check_distill(student_logits, teacher_logits, labels, T, alpha):
    _check_float_array(student_logits, "student_logits")
    if student_logits.ndim != 2:
        raise ValueError(f"student_logits must have shape (N, K), got {student_logits.shape}")
    _check_float_array(teacher_logits, "teacher_logits")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits has shape {teacher_logits.shape} but student_logits {student_logits.shape}")
    n, k = student_logits.shape
    labels = np.asarray(labels)
    if labels.shape != (n,) or labels.dtype.kind not in "iu" or (labels < 0).any() or (labels >= k).any():
        raise ValueError(f"labels must be {n} integers in 0..{k - 1}, got {labels.dtype} {labels.shape}")
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return labels


def distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    """Knowledge-distillation loss (Hinton, Vinyals & Dean, 2015), averaged over the batch:

        L = alpha · T² · KL(p_t ‖ p_s) + (1 - alpha) · CE(s, y),   p = softmax(logits / T)

    ``KL(p_t ‖ p_s) = (1/N) Σ_n Σ_k p_t[n, k] (log p_t[n, k] - log p_s[n, k])`` is
    ``F.kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean")``; CE is the mean cross-entropy
    of the student at temperature 1 with the hard labels. The gradient of the soft term scales as
    1/T²; the T² factor keeps it comparable to the hard term when T changes.

    Args:
        student_logits, teacher_logits: (N, K) float arrays.
        labels: (N,) ints in 0..K-1.
        T: temperature > 0. alpha: weight in [0, 1] of the soft term.

    Returns:
        The loss as a Python float.
    """
    labels = _check_distill(student_logits, teacher_logits, labels, T, alpha)
    s, t = student_logits.astype(np.float64), teacher_logits.astype(np.float64)
    log_ps, log_pt = _log_softmax(s / T), _log_softmax(t / T)  # (N, K)
    kl = np.sum(np.exp(log_pt) * (log_pt - log_ps)) / len(s)
    ce = -np.mean(_log_softmax(s)[np.arange(len(s)), labels])
    return float(alpha * T**2 * kl + (1 - alpha) * ce)


def distillation_loss_backward(dout, student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    """Gradient of :func:`distillation_loss` w.r.t. ``student_logits``, times the scalar ``dout``:

        dL/ds = alpha · T · (p_s - p_t) / N + (1 - alpha) · (softmax(s) - onehot(y)) / N

    Returns:
        (N, K) float64 array.
    """
    labels = _check_distill(student_logits, teacher_logits, labels, T, alpha)
    s, t = student_logits.astype(np.float64), teacher_logits.astype(np.float64)
    n = len(s)
    soft = np.exp(_log_softmax(s / T)) - np.exp(_log_softmax(t / T))  # (N, K)
    hard = np.exp(_log_softmax(s))
    hard[np.arange(n), labels] -= 1.0
    return dout * (alpha * T * soft + (1 - alpha) * hard) / n


def _fast_len(n):
    """Smallest m >= n with no prime factor above 5: FFTs of such lengths are fast."""
    m = n
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return n if m == 1 else _fast_len(n + 1)


def conv2d_fft(x, weight, bias=None, padding=0):
    """Stride-1 2-D convolution (cross-correlation, like ``F.conv2d``) via the FFT.

    By the convolution theorem, correlating with a kernel is a product of spectra:
    ``irfft2(rfft2(x) · conj(rfft2(w)))`` is the circular correlation; its first H_out × W_out values
    (H_out = H + 2PH - KH + 1) do not wrap around and equal the linear one. Transform lengths are
    rounded up to products of 2, 3 and 5 (fast FFT sizes). The cost per image and
    filter pair is O(HW log HW) whatever the kernel size, against O(HW·KH·KW) directly.

    Args:
        x: (N, C, H, W). weight: (F, C, KH, KW). bias: (F,) or None. padding: int or (PH, PW).

    Returns:
        (N, F, H_out, W_out) array of dtype ``np.result_type(x, weight)``.
    """
    _, padding, (n, f, h_out, w_out), dtype = _check_conv(x, weight, bias, 1, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))  # (N, C, Hp, Wp)
    size = tuple(_fast_len(s) for s in xp.shape[2:])  # >= (Hp, Wp): more zeros never wrap into the output
    xs = np.fft.rfft2(xp, s=size)  # (N, C, Hp, Wp // 2 + 1) complex
    ws = np.conj(np.fft.rfft2(weight, s=size))  # (F, C, Hp, Wp // 2 + 1): kernel zero-padded to Hp × Wp
    # Sum over C of the products, one (N, C) @ (C, F) matrix product per frequency.
    prod = np.matmul(xs.transpose(2, 3, 0, 1), ws.transpose(2, 3, 1, 0))  # (Hp, Wf, N, F)
    out = np.fft.irfft2(prod.transpose(2, 3, 0, 1), s=size)[:, :, :h_out, :w_out]  # (N, F, H_out, W_out)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=dtype)


#: Winograd F(2×2, 3×3) transforms (Lavin & Gray, 2016): ``Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A``.
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
for _m in (WINOGRAD_BT, WINOGRAD_G, WINOGRAD_AT):
    _m.setflags(write=False)


def _sandwich(m, t):
    """``m t mᵀ`` on the two leading axes of t: (K, K, ...) -> (R, R, ...) for m of shape (R, K)."""
    mt = np.tensordot(m, t, axes=(1, 0))  # (R, K, ...)
    return np.moveaxis(np.tensordot(mt, m, axes=(1, 1)), -1, 1)  # (R, R, ...)


def winograd_f2x2_3x3(x, weight, bias=None, padding=0):
    """Stride-1 3×3 convolution (like ``F.conv2d``) with Winograd's minimal filtering F(2×2, 3×3).

    Each 2×2 output tile is computed from a 4×4 input tile d (tiles overlap by 2) and the kernel g as
    ``Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A``: 16 multiplications per tile and channel pair instead of 2·2·9 = 36.
    The transforms only add and halve; ``G g Gᵀ`` is computed once per kernel. Summed over the input
    channels, the 16 element-wise products become 16 matrix products (tiles × C) @ (C × F).
    Odd output sizes are handled by padding the input with extra zeros and cropping.

    Args:
        x: (N, C, H, W). weight: (F, C, 3, 3). bias: (F,) or None. padding: int or (PH, PW).

    Returns:
        (N, F, H_out, W_out) with H_out = H + 2PH - 2, dtype ``np.result_type(x, weight)``.
    """
    _, (ph, pw), (n, f, h_out, w_out), dtype = _check_conv(x, weight, bias, 1, padding)
    if weight.shape[2:] != (3, 3):
        raise ValueError(f"winograd_f2x2_3x3 needs 3×3 kernels, got weight shape {weight.shape}")
    c, h, w = x.shape[1:]
    th, tw = -(-h_out // 2), -(-w_out // 2)  # tiles per axis (rounded up)
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=dtype)  # padding + zeros to complete the last tile
    xp[:, :, ph:ph + h, pw:pw + w] = x
    d = sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]  # (N, C, TH, TW, 4, 4)
    d = d.transpose(4, 5, 0, 2, 3, 1)  # (4, 4, N, TH, TW, C): tile axes first
    bt, g, at = (m.astype(dtype) for m in (WINOGRAD_BT, WINOGRAD_G, WINOGRAD_AT))
    v = _sandwich(bt, d).reshape(16, n * th * tw, c)  # Bᵀ d B: (16, N·TH·TW, C)
    u = _sandwich(g, weight.astype(dtype).transpose(2, 3, 1, 0)).reshape(16, c, f)  # G g Gᵀ: (16, C, F)
    m = (v @ u).reshape(4, 4, n, th, tw, f)  # 16 products summed over C: (4, 4, N, TH, TW, F)
    y = _sandwich(at, m)  # Aᵀ m A: (2, 2, N, TH, TW, F)
    out = y.transpose(2, 5, 3, 0, 4, 1).reshape(n, f, 2 * th, 2 * tw)[:, :, :h_out, :w_out]  # (N, F, H_out, W_out)
    if bias is not None:
        out = out + bias.astype(dtype).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=dtype)


def model_size_bytes(tensors, bits=32, sparse=False, n_scales=0):
    """Bytes needed to store ``tensors`` with ``bits`` bits per stored value.

    Args:
        tensors: a torch ``nn.Module`` (its floating-point parameters and buffers, e.g. BatchNorm's
            running statistics), or an iterable of numpy arrays / torch tensors.
        bits: bits per stored value: 32 (float32), 16 (fp16), 8 (int8), ...
        sparse: store only the non-zero values plus a bitmap of 1 bit per entry saying which are non-zero.
        n_scales: number of (scale, zero_point) pairs stored with quantized values, 8 bytes each
            (float32 + int32).

    Returns:
        int: ``ceil(values · bits / 8)`` per tensor (+ ``ceil(size / 8)`` bitmap bytes if sparse)
        + ``8 · n_scales``.
    """
    if not isinstance(bits, Integral) or isinstance(bits, bool) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be an int in 1..64, got {bits!r}")
    if hasattr(tensors, "parameters") and hasattr(tensors, "buffers"):
        tensors = [*tensors.parameters(), *tensors.buffers()]
    total = 8 * int(n_scales)
    for t in tensors:
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        if a.dtype.kind != "f":
            continue  # integer bookkeeping such as BatchNorm's num_batches_tracked
        values = int(np.count_nonzero(a)) if sparse else a.size
        total += -(-values * bits // 8) + (-(-a.size // 8) if sparse else 0)
    return total
