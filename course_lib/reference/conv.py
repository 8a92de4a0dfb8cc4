"""2-D convolution from scratch in numpy, same semantics as ``torch.nn.functional.conv2d``.

Layout NCHW; "convolution" means cross-correlation, as in every deep-learning library.
Shape glossary: N batch, C input channels, F output channels (filters), H/W height/width,
KH/KW kernel height/width, SH/SW stride, PH/PW padding, H_out/W_out output height/width.
"""

from numbers import Integral

import numpy as np

from course_lib.reference._utils import check_int, check_nchw, fold, pad_hw, pair, windows

__all__ = [
    "conv2d",
    "conv2d_backward",
    "conv2d_naive",
    "conv_flops",
    "conv_output_size",
    "conv_params",
    "receptive_field",
    "zero_pad2d",
]


def conv_output_size(in_size, kernel_size, stride=1, padding=0, strict=False):
    """Output length of a convolution along one axis: ``(in_size - kernel_size + 2*padding) // stride + 1``.

    Floors like torch does: input rows/columns that the last stride step cannot reach are ignored.

    Args:
        in_size: input length H (or W), >= 1.
        kernel_size: kernel length KH (or KW), >= 1 and <= ``in_size + 2*padding``.
        stride: step S >= 1.
        padding: zeros added on each side, P >= 0.
        strict: if True, also require the stride to fit exactly, i.e.
            ``(in_size - kernel_size + 2*padding) % stride == 0`` (the CS231n rule).

    Returns:
        The output length H_out (or W_out) as an int.
    """
    in_size = check_int(in_size, "in_size")
    kernel_size = check_int(kernel_size, "kernel_size")
    stride = check_int(stride, "stride")
    padding = check_int(padding, "padding")
    if in_size < 1:
        raise ValueError(f"in_size must be >= 1, got {in_size}")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    span = in_size - kernel_size + 2 * padding
    if span < 0:
        raise ValueError(
            f"kernel_size={kernel_size} is larger than the padded input "
            f"in_size + 2*padding = {in_size} + 2*{padding} = {in_size + 2 * padding}"
        )
    if strict and span % stride != 0:
        fits = [p for p in range(kernel_size + 2 * stride) if (in_size - kernel_size + 2 * p) % stride == 0]
        hint = (
            f"paddings that would fit: {', '.join(map(str, fits[:3]))}"
            if fits
            else "no padding can fix this (the stride is even and in_size - kernel_size is odd); "
            "change in_size or kernel_size by one"
        )
        raise ValueError(
            f"stride={stride} does not fit: in_size - kernel_size + 2*padding = {in_size} - {kernel_size} "
            f"+ 2*{padding} = {span} is not divisible by {stride}, so the last {span % stride} "
            f"row(s)/column(s) of the padded input would be ignored; {hint}"
        )
    return span // stride + 1


def zero_pad2d(x, padding):
    """Zero-pad height and width, same as ``F.pad(x, (PW, PW, PH, PH))``.

    Args:
        x: input of shape (N, C, H, W).
        padding: int or (PH, PW), zeros added on both sides, >= 0.

    Returns:
        Array of shape (N, C, H + 2*PH, W + 2*PW), same dtype as ``x``.
    """
    check_nchw(x)
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {(ph, pw)}")
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H + 2PH, W + 2PW)


def _check_conv(x, weight, bias, stride, padding):
    """Validate conv2d arguments; return (stride, padding, (N, F, H_out, W_out), dtype)."""
    check_nchw(x, "x")
    if not isinstance(weight, np.ndarray) or weight.ndim != 4:
        seen = f"shape {weight.shape}" if isinstance(weight, np.ndarray) else type(weight).__name__
        raise ValueError(f"weight must be a numpy array of shape (F, C, KH, KW), got {seen}")
    f, c, kh, kw = weight.shape
    if x.shape[1] != c:
        raise ValueError(f"x has C={x.shape[1]} channels but weight expects {c} (weight shape {weight.shape})")
    if bias is not None and (not isinstance(bias, np.ndarray) or bias.shape != (f,)):
        seen = f"shape {bias.shape}" if isinstance(bias, np.ndarray) else type(bias).__name__
        raise ValueError(f"bias must have shape (F,) = ({f},) for weight shape {weight.shape}, got {seen}")
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    if min(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    n, _, h, w = x.shape
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    if kh < 1 or kw < 1 or kh > hp or kw > wp:
        raise ValueError(
            f"kernel (KH, KW) = {(kh, kw)} does not fit the padded input (H + 2*PH, W + 2*PW) = "
            f"{(hp, wp)} (x shape {x.shape}, weight shape {weight.shape}, padding {padding})"
        )
    out_shape = (n, f, (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1)
    return stride, padding, out_shape, np.result_type(x, weight)


def conv2d_naive(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution with explicit loops, same semantics as ``F.conv2d`` (the model answer).

    Args:
        x: input of shape (N, C, H, W).
        weight: filters of shape (F, C, KH, KW).
        bias: shape (F,) or None.
        stride: int or (SH, SW).
        padding: int or (PH, PW), zero padding on both sides.

    Returns:
        Array of shape (N, F, H_out, W_out), H_out = (H + 2*PH - KH) // SH + 1.
    """
    (sh, sw), padding, (n, f, h_out, w_out), dtype = _check_conv(x, weight, bias, stride, padding)
    kh, kw = weight.shape[2:]
    xp = pad_hw(x, padding)  # (N, C, H + 2PH, W + 2PW)
    out = np.zeros((n, f, h_out, w_out), dtype=dtype)
    for i_n in range(n):
        for i_f in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    window = xp[i_n, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (C, KH, KW)
                    out[i_n, i_f, i, j] = np.sum(window * weight[i_f])
            if bias is not None:
                out[i_n, i_f] += bias[i_f]
    return out


def _im2col(x, kernel, stride, padding):
    """Columns of every window: shape (C*KH*KW, N*H_out*W_out), contiguous."""
    win = windows(x, kernel, stride, padding)  # (N, C, H_out, W_out, KH, KW)
    cols = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3))  # (C, KH, KW, N, H_out, W_out)
    return cols.reshape(-1, cols.shape[3] * cols.shape[4] * cols.shape[5])  # (C*KH*KW, N*H_out*W_out)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Vectorised 2-D convolution (im2col + one matrix product), same semantics as ``F.conv2d``.

    Args:
        x: input of shape (N, C, H, W).
        weight: filters of shape (F, C, KH, KW).
        bias: shape (F,) or None.
        stride: int or (SH, SW).
        padding: int or (PH, PW), zero padding on both sides.

    Returns:
        Array of shape (N, F, H_out, W_out), dtype ``np.result_type(x, weight)`` (a transposed
        view of an (F, N, H_out, W_out) buffer; ``np.ascontiguousarray`` it if layout matters).
    """
    stride, padding, (n, f, h_out, w_out), dtype = _check_conv(x, weight, bias, stride, padding)
    cols = _im2col(x.astype(dtype, copy=False), weight.shape[2:], stride, padding)  # (C*KH*KW, N*H_out*W_out)
    out = weight.reshape(f, -1).astype(dtype, copy=False) @ cols  # (F, N*H_out*W_out)
    if bias is not None:
        out += bias.astype(dtype, copy=False)[:, None]
    # A transposed view, not a copy: the memory stays (F, N, H_out, W_out), which saves a pass.
    return out.reshape(f, n, h_out, w_out).transpose(1, 0, 2, 3)  # (N, F, H_out, W_out)


def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    """Gradients of :func:`conv2d` w.r.t. its input, weight and bias.

    Args:
        dout: upstream gradient of shape (N, F, H_out, W_out).
        x, weight, bias, stride, padding: the forward arguments.

    Returns:
        Tuple ``(dx, dw, db)`` of shapes (N, C, H, W), (F, C, KH, KW) and (F,); ``db`` is None
        when ``bias`` is None.
    """
    stride, padding, out_shape, dtype = _check_conv(x, weight, bias, stride, padding)
    if not isinstance(dout, np.ndarray) or dout.shape != out_shape:
        seen = f"shape {dout.shape}" if isinstance(dout, np.ndarray) else type(dout).__name__
        raise ValueError(f"dout must have the forward output shape (N, F, H_out, W_out) = {out_shape}, got {seen}")
    n, f, h_out, w_out = out_shape
    c, kh, kw = weight.shape[1:]
    dtype = np.result_type(dtype, dout)
    dout_mat = dout.astype(dtype, copy=False).transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*H_out*W_out)
    cols = _im2col(x.astype(dtype, copy=False), (kh, kw), stride, padding)  # (C*KH*KW, N*H_out*W_out)
    dw = (dout_mat @ cols.T).reshape(weight.shape)  # (F, C, KH, KW)
    dcols = weight.reshape(f, -1).astype(dtype, copy=False).T @ dout_mat  # (C*KH*KW, N*H_out*W_out)
    dcols = dcols.reshape(c, kh, kw, n, h_out, w_out)  # (C, KH, KW, N, H_out, W_out)
    dwin = dcols.transpose(3, 0, 4, 5, 1, 2)  # (N, C, H_out, W_out, KH, KW)
    dx = fold(dwin, x.shape, stride, padding)  # (N, C, H, W)
    db = None if bias is None else dout.sum(axis=(0, 2, 3)).astype(dtype, copy=False)
    return dx, dw, db


def conv_params(in_channels, out_channels, kernel_size, bias=True):
    """Number of learnable parameters of a conv layer: ``(KH*KW*C_in + 1) * C_out`` (+1 only with bias)."""
    c_in, c_out = check_int(in_channels, "in_channels"), check_int(out_channels, "out_channels")
    kh, kw = pair(kernel_size, "kernel_size")
    return (kh * kw * c_in + (1 if bias else 0)) * c_out


def conv_flops(in_channels, out_channels, kernel_size, input_size, stride=1, padding=0, bias=True):
    """Multiply-accumulates (MACs) of one conv layer: ``H_out*W_out*C_out*(KH*KW*C_in + 1)`` (+1 only with bias).

    Despite the historical name this counts MACs, not FLOPs: a MAC is one multiply and one add, so the
    floating-point operations are about twice this number.

    The lecture notes write ``In_w * In_h * (k_w*k_h*C_in + 1) * C_out``; that equals this count for
    'same' padding with stride 1 (where H_out = H). In general each *output* position costs one
    dot product, so the output size is the correct factor.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: int or (KH, KW).
        input_size: int or (H, W).
        stride: int or (SH, SW).
        padding: int or (PH, PW).
        bias: whether the layer adds a bias (counted as one extra accumulate).

    Returns:
        The number of multiply-accumulates as an int.
    """
    c_in, c_out = check_int(in_channels, "in_channels"), check_int(out_channels, "out_channels")
    (kh, kw), (h, w) = pair(kernel_size, "kernel_size"), pair(input_size, "input_size")
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    h_out = conv_output_size(h, kh, sh, ph)
    w_out = conv_output_size(w, kw, sw, pw)
    return h_out * w_out * c_out * (kh * kw * c_in + (1 if bias else 0))


def receptive_field(layers):
    """Receptive field of a stack of conv/pool layers: ``r = 1 + sum_i (k_i - 1) * prod_{j<i} s_j``.

    Args:
        layers: sequence, first layer first; each item is a kernel size ``k`` (stride 1) or a
            ``(k, s)`` pair.

    Returns:
        The side length r of the input region one output unit sees, e.g. two 3x3 convs -> 5,
        three -> 7.
    """
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if isinstance(layer, Integral) and not isinstance(layer, bool):
            k, s = int(layer), 1
        elif isinstance(layer, (tuple, list)) and len(layer) == 2:
            k = check_int(layer[0], f"layers[{i}] kernel size")
            s = check_int(layer[1], f"layers[{i}] stride")
        else:
            raise ValueError(f"layers[{i}] must be a kernel size or a (kernel_size, stride), got {layer!r}")
        if k < 1 or s < 1:
            raise ValueError(f"layers[{i}] needs kernel size >= 1 and stride >= 1, got {layer!r}")
        r += (k - 1) * jump
        jump *= s
    return r
