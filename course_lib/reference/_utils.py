"""Private helpers shared by :mod:`course_lib.reference.conv` and :mod:`course_lib.reference.pool`.

Shape glossary: N batch, C channels, H/W height/width, KH/KW kernel, SH/SW stride, PH/PW padding.
"""

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["as_float", "pair", "check_int", "check_nchw", "pad_hw", "windows", "fold"]


def as_float(x, name="x", convert="iu"):
    """``x`` as a float numpy array: dtype kinds in ``convert`` (ints; add "b" for booleans) become
    float64, floats pass through, anything else raises ``ValueError`` naming the argument."""
    arr = np.asarray(x)
    if arr.dtype.kind in convert:
        return arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be a real-valued (float) array, got dtype {arr.dtype}")
    return arr


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(value, name):
    """Return ``value`` as a Python int; ``ValueError`` naming ``name`` for floats, bools, others."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


def pair(value, name):
    """Turn an int or a 2-sequence of ints into ``(int, int)``.

    Args:
        value: ``k`` or ``(kh, kw)``.
        name: argument name used in the error message.

    Returns:
        Tuple ``(a, b)`` of Python ints. Negative values are left for the caller to judge.
    """
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2 and all(_is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def check_nchw(x, name="x"):
    """Raise ``ValueError`` unless ``x`` is a 4-D numpy array of shape (N, C, H, W)."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {x.shape}")


def pad_hw(x, padding, value=0.0):
    """Pad the last two axes of an (N, C, H, W) array by (PH, PW) on both sides with ``value``.

    Returns ``x`` itself (no copy) when the padding is (0, 0).
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)  # (N, C, H + 2PH, W + 2PW)
    xp[:, :, ph : ph + h, pw : pw + w] = x  # about twice as fast as np.pad
    return xp


def windows(x, kernel, stride, padding=(0, 0), fill=0.0):
    """Read-only strided view of every kernel window of ``x``.

    Args:
        x: array of shape (N, C, H, W).
        kernel: (KH, KW).
        stride: (SH, SW).
        padding: (PH, PW), applied on both sides with ``fill`` before windowing.
        fill: padding value (0 for convolution, -inf for max pooling).

    Returns:
        View of shape (N, C, H_out, W_out, KH, KW) with H_out = (H + 2*PH - KH) // SH + 1;
        ``view[n, c, i, j]`` is the window whose top-left corner is at padded (i*SH, j*SW).
    """
    kh, kw = kernel
    sh, sw = stride
    xp = pad_hw(x, padding, fill)  # (N, C, H + 2PH, W + 2PW)
    view = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, Hp-KH+1, Wp-KW+1, KH, KW)
    return view[:, :, ::sh, ::sw]  # (N, C, H_out, W_out, KH, KW)


def fold(dwin, input_shape, stride, padding=(0, 0)):
    """Adjoint of :func:`windows`: scatter-add window gradients back onto the input.

    Loops over the KH*KW kernel offsets only; each offset is one strided slice-add.

    Args:
        dwin: gradient w.r.t. the windows, shape (N, C, H_out, W_out, KH, KW) (any strides).
        input_shape: (N, C, H, W) of the un-padded input.
        stride: (SH, SW).
        padding: (PH, PW) used by the forward pass; gradient landing on padding is dropped.

    Returns:
        Array of shape (N, C, H, W).
    """
    n, c, h, w = input_shape
    _, _, h_out, w_out, kh, kw = dwin.shape
    sh, sw = stride
    ph, pw = padding
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dwin.dtype)  # (N, C, Hp, Wp)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * h_out : sh, j : j + sw * w_out : sw] += dwin[:, :, :, :, i, j]
    if ph == 0 and pw == 0:
        return dxp
    return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + w])  # (N, C, H, W)
