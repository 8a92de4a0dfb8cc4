"""2-D pooling from scratch in numpy, same semantics as ``torch.nn.functional``.

Layout NCHW. Shape glossary: N batch, C channels, H/W height/width, KH/KW kernel (window),
SH/SW stride, PH/PW padding, H_out/W_out output height/width.
"""

from numbers import Integral

import numpy as np

from course_lib.reference._utils import check_nchw, fold, pair, windows

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "l2_pool2d",
    "max_pool2d",
    "max_pool2d_backward",
    "spatial_pyramid_pool",
    "spp_windows",
    "stochastic_pool2d",
]


def _check_pool(x, kernel_size, stride, padding):
    """Validate pooling arguments; return (kernel, stride, padding, (N, C, H_out, W_out))."""
    check_nchw(x, "x")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if min(kernel) < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel}")
    if min(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(
            f"padding should be at most half of kernel_size, but got padding={padding} and kernel_size={kernel}"
        )
    n, c, h, w = x.shape
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    if kernel[0] > hp or kernel[1] > wp:
        raise ValueError(
            f"kernel_size {kernel} does not fit the padded input (H + 2*PH, W + 2*PW) = {(hp, wp)} "
            f"(x shape {x.shape}, padding {padding}): the output would be empty"
        )
    out_shape = (n, c, (hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1)
    return kernel, stride, padding, out_shape


def _check_dout(dout, out_shape):
    if not isinstance(dout, np.ndarray) or dout.shape != out_shape:
        seen = f"shape {dout.shape}" if isinstance(dout, np.ndarray) else type(dout).__name__
        raise ValueError(f"dout must have the forward output shape (N, C, H_out, W_out) = {out_shape}, got {seen}")


def _lowest(dtype):
    """The value that never wins a max: -inf for floats, the minimum for integers."""
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D max pooling, same semantics as ``torch.nn.functional.max_pool2d``.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to ``kernel_size``.
        padding: int or pair, implicit -inf padding on both sides, at most half the kernel.

    Returns:
        Array of shape (N, C, H_out, W_out), H_out = (H + 2*PH - KH) // SH + 1.
    """
    kernel, stride, padding, _ = _check_pool(x, kernel_size, stride, padding)
    win = windows(x, kernel, stride, padding, fill=_lowest(x.dtype))  # (N, C, H_out, W_out, KH, KW)
    return win.max(axis=(-2, -1))


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of :func:`max_pool2d` w.r.t. ``x``.

    Each window sends its upstream gradient to its arg-max (the first maximum in row-major
    window order, as torch does); where windows overlap (e.g. 3x3 stride 2) the gradients add up.

    Args:
        dout: upstream gradient of shape (N, C, H_out, W_out).
        x, kernel_size, stride, padding: the forward arguments.

    Returns:
        Array ``dx`` of shape (N, C, H, W).
    """
    kernel, stride, padding, out_shape = _check_pool(x, kernel_size, stride, padding)
    _check_dout(dout, out_shape)
    kh, kw = kernel
    win = windows(x, kernel, stride, padding, fill=_lowest(x.dtype))  # (N, C, H_out, W_out, KH, KW)
    arg = win.reshape(*out_shape, kh * kw).argmax(axis=-1)  # (N, C, H_out, W_out)
    onehot = arg[..., None] == np.arange(kh * kw)  # (N, C, H_out, W_out, KH*KW)
    dtype = np.result_type(dout, x) if np.issubdtype(x.dtype, np.floating) else dout.dtype
    dwin = (onehot * dout[..., None]).astype(dtype, copy=False)  # (N, C, H_out, W_out, KH*KW)
    return fold(dwin.reshape(*out_shape, kh, kw), x.shape, stride, padding)  # (N, C, H, W)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D average pooling, same as ``F.avg_pool2d`` (``count_include_pad=True``, ``ceil_mode=False``).

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to ``kernel_size``.
        padding: int or pair, zero padding on both sides (counted in the average), at most half
            the kernel.

    Returns:
        Array of shape (N, C, H_out, W_out): every window's sum divided by KH*KW.
    """
    kernel, stride, padding, _ = _check_pool(x, kernel_size, stride, padding)
    win = windows(x, kernel, stride, padding)  # (N, C, H_out, W_out, KH, KW)
    return win.mean(axis=(-2, -1))


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of :func:`avg_pool2d` w.r.t. ``x``: each window spreads ``dout / (KH*KW)`` evenly.

    Args:
        dout: upstream gradient of shape (N, C, H_out, W_out).
        x, kernel_size, stride, padding: the forward arguments.

    Returns:
        Array ``dx`` of shape (N, C, H, W).
    """
    kernel, stride, padding, out_shape = _check_pool(x, kernel_size, stride, padding)
    _check_dout(dout, out_shape)
    share = dout / (kernel[0] * kernel[1])  # (N, C, H_out, W_out)
    dwin = np.broadcast_to(share[..., None, None], (*out_shape, *kernel))  # (N, C, H_out, W_out, KH, KW)
    return fold(dwin, x.shape, stride, padding)  # (N, C, H, W)


def l2_pool2d(x, kernel_size, stride=None):
    """L2 pooling: the square root of the **sum** of squares of each window.

    Same as ``torch.nn.functional.lp_pool2d(x, 2, kernel_size, stride)``, whose definition is
    f(X) = (Σ_{x∈X} x^p)^{1/p} — a sum, not a mean (the root of the mean would be this divided by
    sqrt(KH·KW)). L2 pooling is the p = 2 case of Lp pooling (Boureau, Ponce & LeCun, ICML 2010;
    Sermanet, Chintala & LeCun, ICPR 2012): p = 1 sums |x|, p → ∞ tends to max pooling of |x|.
    No padding, like torch's ``lp_pool2d``.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to ``kernel_size``.

    Returns:
        Array of shape (N, C, H_out, W_out), H_out = (H - KH) // SH + 1.
    """
    kernel, stride, padding, _ = _check_pool(x, kernel_size, stride, 0)
    win = windows(x, kernel, stride, padding)  # (N, C, H_out, W_out, KH, KW)
    return np.sqrt((win * win).sum(axis=(-2, -1)))


def _stochastic_probs(win):
    """p_i = a_i / Σ_j a_j per window (last axis); all zeros for an all-zero window."""
    total = win.sum(axis=-1, keepdims=True)  # (..., 1)
    return np.divide(win, total, out=np.zeros_like(win), where=total > 0)


def stochastic_pool2d(x, kernel_size, stride=None, training=True, rng=None):
    """Stochastic pooling (Zeiler & Fergus, ICLR 2013) of non-negative activations (after a ReLU).

    In every window the activations a_i define probabilities p_i = a_i / Σ_j a_j.

    * Training: each window's output is **one of its elements, drawn with probability p_i**,
      independently for every window (a window of zeros gives 0).
    * Test (``training=False``): the probability-weighted average Σ_i p_i a_i = Σ a_i² / Σ a_i,
      the expectation of the training-time output (0 for a window of zeros). Deterministic.

    Sampling protocol of this reference: ``rng = np.random.default_rng(rng)``, one call
    ``u = rng.random((N, C, H_out, W_out))``, and in each window (elements in row-major order) the
    first element whose cumulative probability exceeds u. The course's checks do not require this
    protocol: any sampler with these probabilities passes (every output is an element of its window,
    zero windows give 0, the frequencies over many draws match p_i); but with the same int seed a
    function must give the same output twice, and with ``rng=None`` fresh draws.

    Args:
        x: non-negative input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to ``kernel_size``. No padding.
        training: sample (True) or take the expectation (False).
        rng: a ``numpy.random.Generator`` (its state advances), an int seed, or None (fresh entropy).

    Returns:
        Array of shape (N, C, H_out, W_out), the dtype of ``x``.
    """
    kernel, stride, padding, out_shape = _check_pool(x, kernel_size, stride, 0)
    if (np.issubdtype(x.dtype, np.floating) and np.isnan(x).any()) or (x < 0).any():
        raise ValueError(f"x must be non-negative (stochastic pooling follows a ReLU), got min {np.nanmin(x)} "
                         f"in x of shape {x.shape}")
    win = windows(x, kernel, stride, padding).reshape(*out_shape, -1)  # (N, C, H_out, W_out, KH*KW)
    probs = _stochastic_probs(win.astype(np.float64))  # (N, C, H_out, W_out, KH*KW)
    if not training:
        return (probs * win).sum(axis=-1).astype(x.dtype, copy=False)  # Σ p_i a_i
    u = np.random.default_rng(rng).random(out_shape)  # (N, C, H_out, W_out)
    cum = np.cumsum(probs, axis=-1)  # (N, C, H_out, W_out, KH*KW)
    idx = (cum <= u[..., None]).sum(axis=-1)  # first index with cum > u
    last = win.shape[-1] - 1 - np.argmax((win > 0)[..., ::-1], axis=-1)  # last element with p_i > 0
    idx = np.minimum(idx, last)  # rounding: cum[-1] may fall a hair below u
    picked = np.take_along_axis(win, idx[..., None], axis=-1)[..., 0]  # (N, C, H_out, W_out)
    return np.where(cum[..., -1] > 0, picked, 0).astype(x.dtype, copy=False)


def global_avg_pool2d(x):
    """Average over all spatial positions, as ``F.adaptive_avg_pool2d(x, 1)`` (NiN, GoogLeNet, ResNet).

    Args:
        x: input of shape (N, C, H, W).

    Returns:
        Array of shape (N, C, 1, 1).
    """
    check_nchw(x, "x")
    return x.mean(axis=(2, 3), keepdims=True)


def _adaptive_bins(in_size, out_size):
    """torch's bins: bin i covers [floor(i*in/out), ceil((i+1)*in/out)); bins may overlap."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def _adaptive_pool(x, output_size, reduce):
    check_nchw(x, "x")
    n, c, h, w = x.shape
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        # torch allows None for "keep this input size".
        output_size = tuple(s if d is None else d for d, s in zip(output_size, (h, w), strict=True))
    out_h, out_w = pair(output_size, "output_size")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output_size must be >= 1, got {(out_h, out_w)}")
    dtype = x.dtype if reduce is np.max or np.issubdtype(x.dtype, np.inexact) else np.float64
    out = np.empty((n, c, out_h, out_w), dtype=dtype)
    for i, (h0, h1) in enumerate(_adaptive_bins(h, out_h)):
        for j, (w0, w1) in enumerate(_adaptive_bins(w, out_w)):
            out[:, :, i, j] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out


def adaptive_max_pool2d(x, output_size):
    """Max pooling to a fixed output size, same as ``F.adaptive_max_pool2d`` (without indices).

    Args:
        x: input of shape (N, C, H, W).
        output_size: int or (H_out, W_out); an entry may be None to keep that input size.

    Returns:
        Array of shape (N, C, H_out, W_out); output row i pools input rows
        floor(i*H/H_out) .. ceil((i+1)*H/H_out) - 1 (likewise for columns).
    """
    return _adaptive_pool(x, output_size, np.max)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size, same as ``F.adaptive_avg_pool2d``.

    Args:
        x: input of shape (N, C, H, W).
        output_size: int or (H_out, W_out); an entry may be None to keep that input size.

    Returns:
        Array of shape (N, C, H_out, W_out), with the bins of :func:`adaptive_max_pool2d`.
    """
    return _adaptive_pool(x, output_size, np.mean)


def spp_windows(size, n):
    """SPP-net's pooling window and stride for n bins over ``size`` cells: ``(ceil(size/n), floor(size/n))``.

    He et al. (2014, sec. 2.3) implement a pyramid level of n×n bins on an a×a map as a sliding-window
    pooling with window ⌈a/n⌉ and stride ⌊a/n⌋. That gives exactly n windows only when
    ``size % n <= size // n`` (true for the paper's 13×13 conv5 maps and levels 6, 3, 2, 1), so any other
    size raises ``ValueError``. When ``size % n >= 2`` the n windows leave the last ``size % n - 1`` cells out.

    Args:
        size: H or W of the feature map.
        n: bins along that axis.

    Returns:
        (window, stride) as ints.
    """
    window, stride = -(-size // n), size // n
    if stride < 1 or (size - window) // stride + 1 != n:
        count = 0 if stride < 1 else (size - window) // stride + 1
        raise ValueError(f"SPP-net's windows do not give {n} bins on {size} cells: window ⌈{size}/{n}⌉ = {window}, "
                         f"stride ⌊{size}/{n}⌋ = {stride} give {count}; use bins='adaptive'")
    return window, stride


def spatial_pyramid_pool(x, levels=(6, 3, 2, 1), bins="paper", mode="max"):
    """Spatial pyramid pooling (SPP-net, He et al. 2014): a fixed-length vector for any input size.

    Level ``n`` pools each channel into an n×n grid and the levels are concatenated: the paper's
    experiments use levels (6, 3, 2, 1), 36 + 9 + 4 + 1 = 50 bins per channel; its illustration (and
    the lecture notes) use (4, 2, 1), 21 bins. Two ways to place the bins:

    * ``bins="paper"``: SPP-net's sliding windows, window ⌈H/n⌉ × ⌈W/n⌉ and stride ⌊H/n⌋ × ⌊W/n⌋
      (see :func:`spp_windows`), i.e. ``F.max_pool2d(x, (ceil(H/n), ceil(W/n)), (H//n, W//n))``;
      ``ValueError`` for a size where these windows do not give n bins.
    * ``bins="adaptive"``: torch's adaptive bins, ``F.adaptive_max_pool2d(x, n)``, which give n bins
      for any size (bin i covers floor(i·H/n) … ceil((i+1)·H/n) − 1).

    Where ``H % n`` is 0 or 1 the two agree; otherwise the paper's windows leave the last rows
    (columns) out and the adaptive bins do not.

    Args:
        x: input of shape (N, C, H, W).
        levels: grid sizes n, each an int >= 1.
        bins: "paper" or "adaptive".
        mode: "max" or "avg".

    Returns:
        Array of shape (N, C * sum(n*n for n in levels)), level by level, channel-major within a level.
    """
    check_nchw(x, "x")
    adaptive = {"max": adaptive_max_pool2d, "avg": adaptive_avg_pool2d}
    sliding = {"max": max_pool2d, "avg": avg_pool2d}
    if mode not in adaptive:
        raise ValueError(f'mode must be "max" or "avg", got {mode!r}')
    if bins not in ("paper", "adaptive"):
        raise ValueError(f'bins must be "paper" or "adaptive", got {bins!r}')
    levels = tuple(levels)
    if not levels or not all(isinstance(l, Integral) and not isinstance(l, bool) and l >= 1 for l in levels):
        raise ValueError(f"levels must be a non-empty sequence of ints >= 1, got {levels!r}")
    n, _, h, w = x.shape
    parts = []
    for level in (int(l) for l in levels):
        if bins == "adaptive":
            pooled = adaptive[mode](x, level)  # (N, C, level, level)
        else:
            (kh, sh), (kw, sw) = spp_windows(h, level), spp_windows(w, level)
            pooled = sliding[mode](x, (kh, kw), (sh, sw))  # (N, C, level, level)
        parts.append(pooled.reshape(n, -1))  # (N, C*level*level)
    return np.concatenate(parts, axis=1)  # (N, C * sum(level**2))
