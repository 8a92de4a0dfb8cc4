# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 3 — Pooling
#
# A pooling layer (池化层) summarises each window of a feature map by one number — its maximum or
# its mean. It has **no parameters**, shrinks the feature maps (a 2×2 window with stride 2 halves
# both sides and removes three quarters of the computation of the next layer), widens the receptive
# field of everything after it, and makes the output less sensitive to small shifts of the input.
#
# Two numbers worth remembering: AlexNet (Krizhevsky et al., 2012) used *overlapping* 3×3 windows
# with stride 2 and reported 0.4 % / 0.3 % lower top-1 / top-5 error than non-overlapping 2×2;
# SPP-net (He et al., 2014) pooled the last feature map into a pyramid of grids — 6×6, 3×3, 2×2 and 1×1
# in its experiments, **50 bins per channel whatever the image size** (the paper's figure and the
# lecture notes draw 4×4, 2×2, 1×1: 21 bins) — so one network could take images of any size.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `max_pool2d` | 3 |
# | 2 | `avg_pool2d` | 2 |
# | 3 | `max_pool2d_backward` — gradients routed to the arg-max | 3 |
# | 4 | `avg_pool2d_backward` | 2 |
# | 5 | `global_avg_pool2d` | 1 |
# | 6 | `adaptive_max_pool2d` — a fixed output size for any input | 2 |
# | 7 | `spatial_pyramid_pool` — SPP-net's 50 (or the notes' 21) bins | 2 |
# | 8 | `l2_pool2d` — the root of the sum of squares | 1 |
# | 9 | `stochastic_pool2d` — sample in training, expectation at test time | 2 |
#
# Semantics follow `torch.nn.functional` exactly (checked against it): `stride` defaults to
# `kernel_size`; max pooling pads with −∞ (padding never wins), average pooling pads with zeros and
# divides by the full window size (`count_include_pad=True`); padding may be at most half the kernel.
# `torch`, `scipy` and the course's pooling reference are switched off while your functions are
# checked.
#
# **Key terms** ([glossary](../../docs/glossary.md)): feature map 特征图 · stride 步长 · backpropagation 反向传播 · pooling 池化 · max pooling 最大池化 · average pooling 平均池化 · overlapping pooling 重叠池化 · global average pooling 全局平均池化 · spatial pyramid pooling 空间金字塔池化 · stochastic pooling 随机池化 · L2 pooling L2池化 · translation invariance 平移不变性 · downsampling 下采样

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import load_digits, load_photo, shifted
from course_lib.gradcheck import gradcheck
from course_lib.pool_experiments import compare_downsampling
from course_lib.reference.conv import conv_output_size  # Chapter 2's formula: (N − F + 2P) // S + 1
from course_lib.testing import (
    check_adaptive_max_pool2d,
    check_avg_pool2d,
    check_avg_pool2d_backward,
    check_global_avg_pool2d,
    check_l2_pool2d,
    check_max_pool2d,
    check_max_pool2d_backward,
    check_spatial_pyramid_pool,
    check_stochastic_pool2d,
)
from course_lib.viz import PoolingExplorer, show_images

np.set_printoptions(precision=3, suppress=True)


def pair(value):
    """``3`` → ``(3, 3)``; ``(2, 1)`` → ``(2, 1)``."""
    return (value, value) if isinstance(value, int) else tuple(value)


def pool_geometry(x, kernel_size, stride, padding):
    """Validated (KH, KW), (SH, SW), (PH, PW) and (H_out, W_out) of a pooling layer on x."""
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride if stride is not None else kernel_size)
    ph, pw = pair(padding)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"padding {padding} should be at most half of kernel_size {kernel_size}")
    h_out = conv_output_size(x.shape[2], kh, sh, ph)
    w_out = conv_output_size(x.shape[3], kw, sw, pw)
    return (kh, kw), (sh, sw), (ph, pw), (h_out, w_out)


# %% [markdown]
# ## 1. Max pooling
#
# Slide a KH×KW window with stride S over every channel separately and keep the largest value. The
# output size is the convolution formula from Chapter 2 (`pool_geometry` above computes it for you).
# Padding is filled with −∞ so that it is never the maximum.
#
# You may use loops over output positions, or `np.lib.stride_tricks.sliding_window_view` on the
# padded input (`np.pad(..., constant_values=-np.inf)`) and one `.max(axis=(-2, -1))`.
#
# **Exercise 1.** `max_pool2d(x, kernel_size, stride=None, padding=0)`.

# %% nbgrader={"grade": false, "grade_id": "max_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D max pooling, same semantics as ``torch.nn.functional.max_pool2d``.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to kernel_size.
        padding: int or pair, implicit −inf padding on both sides (at most half the kernel).

    Returns:
        Array of shape (N, C, H_out, W_out), H_out = (H + 2·PH − KH) // SH + 1.
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = pool_geometry(x, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, ., ., KH, KW)
    windows = windows[:, :, ::sh, ::sw][:, :, :h_out, :w_out]                      # (N, C, H_out, W_out, KH, KW)
    return windows.max(axis=(-2, -1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "max_pool2d", "seed": 301}
check_max_pool2d(max_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("max_pool2d", max_pool2d, seed=301)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Average pooling
#
# The same windows, but the mean. With padding, PyTorch's default counts the padded zeros in the
# mean (`count_include_pad=True`): always divide by KH·KW.
#
# **Exercise 2.** `avg_pool2d(x, kernel_size, stride=None, padding=0)`.

# %% nbgrader={"grade": false, "grade_id": "avg_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D average pooling, same semantics as ``torch.nn.functional.avg_pool2d`` (zero padding
    counted in the mean).

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to kernel_size.
        padding: int or pair of zeros on both sides (at most half the kernel).

    Returns:
        Array of shape (N, C, H_out, W_out).
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = pool_geometry(x, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw][:, :, :h_out, :w_out]                      # (N, C, H_out, W_out, KH, KW)
    return windows.mean(axis=(-2, -1)).astype(x.dtype, copy=False)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_avg_pool2d", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "avg_pool2d", "seed": 302}
check_avg_pool2d(avg_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("avg_pool2d", avg_pool2d, seed=302)
### END HIDDEN TESTS

# %% [markdown]
# Both on a real photo, 4×4 windows: max pooling keeps the bright details (the sharpest responses),
# average pooling blurs. And AlexNet's overlapping pooling: 3×3 windows with stride 2 take its 55×55
# conv1 maps to 27×27 — each pixel (except on the edges) belongs to more than one window.

# %%
photo = load_photo("china", size=128)[None, None]                     # (1, 1, 128, 128)
show_images([photo[0, 0], max_pool2d(photo, 4)[0, 0], avg_pool2d(photo, 4)[0, 0]],
            titles=["input 128×128", "max_pool2d(4) → 32×32", "avg_pool2d(4) → 32×32"], ncols=3)
plt.show()
print("AlexNet pool1: 55×55 →", conv_output_size(55, 3, 2), "×", conv_output_size(55, 3, 2),
      "(overlapping 3×3, stride 2);  non-overlapping 2×2 would give", conv_output_size(55, 2, 2))

# %% [markdown]
# ## 3. Backward through max pooling: gradient routing
#
# A max is a switch: only the winning input of each window influenced the output, so the whole
# upstream gradient of that output goes to the arg-max and the other inputs get 0. Where windows
# overlap (stride < kernel) an input can win several windows: **add** the gradients up.
# (Ties do not occur with real-valued data; PyTorch gives the gradient to the first maximum in
# row-major order within the window — `np.argmax` does the same.)
#
# **Exercise 3.** `max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0)` returns `dx`
# with the shape of `x`. A loop over output positions is fine here.

# %% nbgrader={"grade": false, "grade_id": "max_pool2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of ``max_pool2d`` with respect to x.

    Args:
        dout: upstream gradient of shape (N, C, H_out, W_out).
        x, kernel_size, stride, padding: the arguments of the forward call.

    Returns:
        dx of shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = pool_geometry(x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    dxp = np.zeros(xp.shape, dtype=np.result_type(x, dout))
    nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")               # (N, C) index grids
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, -1)
            u, v = np.unravel_index(window.argmax(axis=-1), (kh, kw))               # (N, C) each
            np.add.at(dxp, (nn, cc, i * sh + u, j * sw + v), dout[:, :, i, j])
    return dxp[:, :, ph:ph + h, pw:pw + w]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "max_pool2d_backward", "seed": 303}
check_max_pool2d_backward(max_pool2d_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("max_pool2d_backward", max_pool2d_backward, seed=303)
### END HIDDEN TESTS

# %% [markdown]
# Here is the routing on a 5×5 input with AlexNet-style overlapping 3×3 / stride 2 windows and an
# upstream gradient of ones: the number in each cell of `dx` counts how many windows that pixel won.

# %%
rng = np.random.default_rng(3)
x_small = rng.permutation(25).reshape(1, 1, 5, 5).astype(float)
dx_small = max_pool2d_backward(np.ones((1, 1, 2, 2)), x_small, 3, 2)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
for ax, data, title in zip(axes, [x_small[0, 0], dx_small[0, 0]], ["x (5×5)", "dx: windows won"]):
    ax.imshow(data, cmap="viridis")
    for (r, col), val in np.ndenumerate(data):
        ax.text(col, r, f"{val:g}", ha="center", va="center", color="white")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. Backward through average pooling
#
# Each output is the mean of KH·KW inputs, so each input in the window receives
# `dout / (KH·KW)` — again summed over all windows that contain it (padded positions are cut off
# at the end).
#
# **Exercise 4.** `avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0)`.

# %% nbgrader={"grade": false, "grade_id": "avg_pool2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of ``avg_pool2d`` with respect to x.

    Args:
        dout: upstream gradient of shape (N, C, H_out, W_out).
        x, kernel_size, stride, padding: the arguments of the forward call.

    Returns:
        dx of shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = pool_geometry(x, kernel_size, stride, padding)
    _, _, h, w = x.shape
    dxp = np.zeros((x.shape[0], x.shape[1], h + 2 * ph, w + 2 * pw), dtype=np.result_type(x, dout))
    share = dout / (kh * kw)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + sh * h_out:sh, v:v + sw * w_out:sw] += share
    return dxp[:, :, ph:ph + h, pw:pw + w]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_avg_pool2d_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "avg_pool2d_backward", "seed": 304}
check_avg_pool2d_backward(avg_pool2d_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("avg_pool2d_backward", avg_pool2d_backward, seed=304)
### END HIDDEN TESTS

# %% [markdown]
# Numerical gradient check of both backward passes (float64; a correct gradient gives a relative
# error far below 1e-7):

# %%
rng = np.random.default_rng(4)
x_gc = rng.standard_normal((2, 3, 7, 7))
for name, fwd, bwd in [("max", max_pool2d, max_pool2d_backward), ("avg", avg_pool2d, avg_pool2d_backward)]:
    dout_gc = rng.standard_normal(fwd(x_gc, 3, 2, 1).shape)
    err = gradcheck(lambda x, fwd=fwd: fwd(x, 3, 2, 1), {"x": x_gc},
                    {"x": bwd(dout_gc, x_gc, 3, 2, 1)}, dout_gc)
    print(f"{name}_pool2d_backward: relative error {err['x']:.2e}")

# %% [markdown]
# ## 5. Global average pooling
#
# Network-in-Network (Lin et al., 2013) and GoogLeNet replaced the huge fully-connected layers at the
# end of a CNN by one average per channel: with C channels at the end, C numbers go to the classifier,
# whatever H and W. No parameters, less over-fitting (the lecture notes: the FC layers hold about 90 %
# of AlexNet's and VGG's parameters).
#
# **Exercise 5.** `global_avg_pool2d(x)` returns shape (N, C, 1, 1), like
# `F.adaptive_avg_pool2d(x, 1)`.

# %% nbgrader={"grade": false, "grade_id": "global_avg_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def global_avg_pool2d(x):
    """Mean over the spatial axes: (N, C, H, W) → (N, C, 1, 1)."""
    ### BEGIN SOLUTION
    return x.mean(axis=(2, 3), keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_global_avg_pool2d", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "global_avg_pool2d", "seed": 305}
check_global_avg_pool2d(global_avg_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("global_avg_pool2d", global_avg_pool2d, seed=305)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Adaptive pooling: choose the output size, not the window
#
# To get an `out × out` grid from an H×W map whatever H is, let the windows adapt. PyTorch's rule for
# bin i (rows; the same for columns):
#
# $$\text{start}_i = \left\lfloor \frac{i\,H}{out} \right\rfloor, \qquad
#   \text{end}_i = \left\lceil \frac{(i+1)\,H}{out} \right\rceil$$
#
# so the bins cover the whole map, have nearly equal sizes, and overlap by a pixel when `out` does
# not divide H. (In integers: `end = -((-(i + 1) * H) // out)`.)
#
# **Exercise 6.** `adaptive_max_pool2d(x, output_size)` with `output_size` an int or a pair.

# %% nbgrader={"grade": false, "grade_id": "adaptive_max_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adaptive_max_pool2d(x, output_size):
    """Adaptive max pooling, same semantics as ``torch.nn.functional.adaptive_max_pool2d``.

    Args:
        x: input of shape (N, C, H, W).
        output_size: int or (OH, OW).

    Returns:
        Array of shape (N, C, OH, OW).
    """
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    oh, ow = pair(output_size)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].max(axis=(2, 3))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adaptive_max_pool2d", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "adaptive_max_pool2d", "seed": 306}
check_adaptive_max_pool2d(adaptive_max_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("adaptive_max_pool2d", adaptive_max_pool2d, seed=306)
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Spatial pyramid pooling (SPP-net)
#
# R-CNN had to warp every region to 227×227 because the fully-connected layers need a fixed-length
# input. SPP-net pools the last feature map at several grid sizes n and concatenates the levels. The
# paper's experiments use n = 6, 3, 2, 1: $36 + 9 + 4 + 1 = 50$ bins per channel; its illustration and
# the lecture notes use 4, 2, 1: $16 + 4 + 1 = 21$. Either way the vector has a fixed length, 50·C or
# 21·C, **for any image size**. The coarse level is global pooling; the finer ones keep where things are.
#
# *Where* do the bins go? Two rules are in use:
#
# * **SPP-net's windows** (the paper, section 2.3): on an a×a map, level n is an ordinary max pooling
#   with window ⌈a/n⌉ and stride ⌊a/n⌋. On the paper's 13×13 conv5 maps, level 6 has windows of 3 with
#   stride 2, level 3 windows of 5 with stride 4. The rule gives exactly n windows only when
#   a mod n ≤ ⌊a/n⌋ — on a 10×10 map, level 6 would give 9 windows of 2 — and when a mod n ≥ 2 the
#   windows leave the last (a mod n) − 1 rows out (14 rows, n = 4: windows of 4, stride 3, rows 0…12).
# * **Adaptive bins** (PyTorch's `adaptive_max_pool2d`, section 6): n bins for any size, covering every row.
#
# Where a mod n is 0 or 1 — as for 13×13 with 6, 3, 2, 1 — the two rules give the same bins.
#
# **Exercise 7.** `spatial_pyramid_pool(x, levels=(6, 3, 2, 1), bins="paper")`: for each level n, pool
# x to n×n — with `bins="paper"`, your `max_pool2d` with window (⌈H/n⌉, ⌈W/n⌉) and stride (⌊H/n⌋, ⌊W/n⌋)
# (in integers ⌈H/n⌉ is `-(-H // n)`; the checks only use sizes where this gives n×n bins), with
# `bins="adaptive"` your `adaptive_max_pool2d(x, n)` — then flatten to (N, C·n·n) and concatenate the
# levels in order → shape (N, C·Σ n²). The same in torch: `F.max_pool2d(x, (-(-H // n), -(-W // n)),
# (H // n, W // n))`, or `F.adaptive_max_pool2d(x, n)`, flattened and concatenated with `torch.cat`.

# %% nbgrader={"grade": false, "grade_id": "spatial_pyramid_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_pyramid_pool(x, levels=(6, 3, 2, 1), bins="paper"):
    """Spatial pyramid pooling: a fixed-length vector from a feature map of any size.

    Args:
        x: input of shape (N, C, H, W).
        levels: grid sizes n of the pyramid.
        bins: "paper" (SPP-net's windows ⌈H/n⌉, strides ⌊H/n⌋) or "adaptive" (adaptive_max_pool2d).

    Returns:
        Array of shape (N, C·Σ n²).
    """
    ### BEGIN SOLUTION
    N, _, H, W = x.shape
    parts = []
    for n in levels:
        if bins == "paper":
            pooled = max_pool2d(x, (-(-H // n), -(-W // n)), (H // n, W // n))  # (N, C, n, n)
        else:
            pooled = adaptive_max_pool2d(x, n)                                 # (N, C, n, n)
        parts.append(pooled.reshape(N, -1))
    return np.concatenate(parts, axis=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_spatial_pyramid_pool", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "spatial_pyramid_pool", "seed": 307}
check_spatial_pyramid_pool(spatial_pyramid_pool)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("spatial_pyramid_pool", spatial_pyramid_pool, seed=307)
### END HIDDEN TESTS

# %% [markdown]
# The promise, kept: feature maps of very different sizes give vectors of the same length — 50·C with
# the paper's levels, 21·C with the notes' — and your function agrees with the PyTorch constructions.
# The last line shows the two bin rules disagreeing on a 14×14 map: a maximum in the last row is seen
# by the adaptive bins and missed by SPP-net's windows.


# %%
def torch_spp(fmap, levels, bins):
    t, (h, w) = torch.from_numpy(fmap), fmap.shape[-2:]
    level = {"paper": lambda n: F.max_pool2d(t, (-(-h // n), -(-w // n)), (h // n, w // n)),
             "adaptive": lambda n: F.adaptive_max_pool2d(t, n)}[bins]
    return torch.cat([level(n).flatten(1) for n in levels], 1)


rng = np.random.default_rng(5)
for (h, w), levels, bins in [((13, 13), (6, 3, 2, 1), "paper"), ((27, 40), (6, 3, 2, 1), "paper"),
                             ((10, 10), (6, 3, 2, 1), "adaptive"), ((13, 9), (4, 2, 1), "paper"),
                             ((40, 25), (4, 2, 1), "adaptive")]:
    fmap = rng.standard_normal((1, 256, h, w))
    vec = spatial_pyramid_pool(fmap, levels, bins)
    bins_per_channel = sum(n * n for n in levels)
    print(f"256×{h}×{w:<3} levels {levels}, {bins:>8} bins → length {vec.shape[1]} (= {bins_per_channel}·256: "
          f"{vec.shape[1] == bins_per_channel * 256}); matches torch: {np.allclose(vec, torch_spp(fmap, levels, bins).numpy())}")
corner = np.zeros((1, 1, 14, 14))
corner[0, 0, 13, 13] = 1.0
print("14×14 map, a 1 in the last row and column, level 4: paper windows see",
      spatial_pyramid_pool(corner, (4,), "paper").max(), "/ adaptive bins see", spatial_pyramid_pool(corner, (4,), "adaptive").max())

# %% [markdown]
# ## 8. L2 pooling
#
# The lecture notes list three poolings: max, average and **L2 pooling** (L2池化). L2 pooling keeps the
# Euclidean norm of each window, $\sqrt{\sum_{i \in \text{window}} x_i^2}$. It is the p = 2 member of
# the Lp pooling family $\big(\sum x_i^p\big)^{1/p}$ (Boureau, Ponce & LeCun, ICML 2010; used by
# Sermanet, Chintala & LeCun, ICPR 2012, on house numbers): p = 1 adds the magnitudes, and as p → ∞ it
# tends to the maximum of |x|, so p slides between average-like and max-like pooling.
#
# **Sum or mean?** Some texts write the root of the *mean* of squares. This course follows PyTorch's
# `F.lp_pool2d(x, 2, kernel_size, stride)`, whose documented definition is
# $f(X) = \sqrt[p]{\sum_{x \in X} x^p}$ — the **sum**. (The root-mean-square is this divided by
# $\sqrt{KH \cdot KW}$.) No padding: `lp_pool2d` has none.
#
# **Exercise 8.** `l2_pool2d(x, kernel_size, stride=None)`.

# %% nbgrader={"grade": false, "grade_id": "l2_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def l2_pool2d(x, kernel_size, stride=None):
    """L2 pooling, same semantics as ``torch.nn.functional.lp_pool2d(x, 2, kernel_size, stride)``.

    Args:
        x: input of shape (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to kernel_size. No padding.

    Returns:
        Array of shape (N, C, H_out, W_out): √(Σ x²) over each window, H_out = (H − KH) // SH + 1.
    """
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), _, (h_out, w_out) = pool_geometry(x, kernel_size, stride, 0)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw][:, :, :h_out, :w_out]                      # (N, C, H_out, W_out, KH, KW)
    return np.sqrt((windows ** 2).sum(axis=(-2, -1)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_l2_pool2d", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "l2_pool2d", "seed": 308}
check_l2_pool2d(l2_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("l2_pool2d", l2_pool2d, seed=308)
### END HIDDEN TESTS

# %% [markdown]
# ## 9. Stochastic pooling
#
# Max pooling always passes on the strongest activation and average pooling dilutes it among weak
# ones. **Stochastic pooling** (随机池化; Zeiler & Fergus, *Stochastic Pooling for Regularization of Deep
# Convolutional Neural Networks*, ICLR 2013) picks an activation *at random*, favouring the strong ones.
# In each window of non-negative activations $a_i$ (they come after a ReLU):
#
# $$p_i = \frac{a_i}{\sum_j a_j}, \qquad
#   \text{training: } s = a_k \text{ with } k \sim \text{Multinomial}(p_1, \dots, p_n), \qquad
#   \text{test: } s = \sum_i p_i a_i = \frac{\sum_i a_i^2}{\sum_i a_i}.$$
#
# Training-time sampling is a regulariser, like dropout: the next layer sees a slightly different
# network each time. At test time the paper uses the **probability-weighted average** — the expected
# value of the training-time output — a deterministic, softer max. A window of zeros gives 0 in both
# modes (no 0 / 0). With the same window as before, `[[1, 2], [3, 4]]`: training picks 4 with
# probability 0.4, 3 with 0.3, …; test time gives (1 + 4 + 9 + 16) / 10 = 3, between the mean 2.5
# and the max 4.
#
# **Exercise 9.** `stochastic_pool2d(x, kernel_size, stride=None, training=True, rng=None)`, no
# padding. Raise `ValueError` for an input with a negative value. `rng` follows NumPy's convention: start
# with `rng = np.random.default_rng(rng)` (a Generator, an int seed, or None for fresh randomness).
#
# *How it is checked.* Test time is compared with the reference. Training mode is checked by its
# statistics, so any correct way of sampling passes: every output is an element of its window, a
# window of zeros gives 0, over 4,000 copies of a window each element is picked with frequency
# $p_i \pm 0.04$, the same int seed gives the same output twice, and `rng=None` does not. (The
# reference draws one `u = rng.random((N, C, H_out, W_out))` and picks, in each window in row-major
# order, the first element whose cumulative probability exceeds u — you need not do the same.)

# %% nbgrader={"grade": false, "grade_id": "stochastic_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stochastic_pool2d(x, kernel_size, stride=None, training=True, rng=None):
    """Stochastic pooling (Zeiler & Fergus, 2013) of non-negative activations.

    Args:
        x: non-negative input of shape (N, C, H, W); ValueError if any value is negative.
        kernel_size: int or (KH, KW).
        stride: int or pair; defaults to kernel_size. No padding.
        training: True: each window outputs one of its elements a_i, drawn with probability
            a_i / Σ a_j, independently per window. False: Σ a_i² / Σ a_i. A window of zeros gives 0.
        rng: a numpy Generator, an int seed, or None (np.random.default_rng(rng)).

    Returns:
        Array of shape (N, C, H_out, W_out) with the dtype of x.
    """
    ### BEGIN SOLUTION
    if (x < 0).any():
        raise ValueError(f"x must be non-negative, got a minimum of {x.min()}")
    (kh, kw), (sh, sw), _, (h_out, w_out) = pool_geometry(x, kernel_size, stride, 0)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw][:, :, :h_out, :w_out].reshape(*x.shape[:2], h_out, w_out, kh * kw)
    total = windows.sum(axis=-1, keepdims=True)                                    # (N, C, H_out, W_out, 1)
    probs = np.divide(windows, total, out=np.zeros(windows.shape), where=total > 0)
    if not training:
        return (probs * windows).sum(axis=-1).astype(x.dtype)
    u = np.random.default_rng(rng).random((*x.shape[:2], h_out, w_out, 1))
    k = (np.cumsum(probs, axis=-1) <= u).sum(axis=-1, keepdims=True)              # first cumulative p > u
    k = np.minimum(k, kh * kw - 1)
    return np.where(total[..., 0] > 0, np.take_along_axis(windows, k, axis=-1)[..., 0], 0).astype(x.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stochastic_pool2d", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "stochastic_pool2d", "seed": 309}
check_stochastic_pool2d(stochastic_pool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("stochastic_pool2d", stochastic_pool2d, seed=309)
### END HIDDEN TESTS

# %% [markdown]
# Five poolings of the same window of ReLU activations, and the training-time draws of stochastic
# pooling: over many draws the frequencies follow $p_i$ and the mean of the draws approaches the
# test-time value. `F.lp_pool2d` agrees with your L2 pooling.

# %%
window = np.array([[[[0.0, 1.0], [2.0, 5.0]]]])                                 # (1, 1, 2, 2)
draws = np.array([stochastic_pool2d(window, 2, rng=seed)[0, 0, 0, 0] for seed in range(2000)])
print(f"max {max_pool2d(window, 2)[0, 0, 0, 0]:.3f} · average {avg_pool2d(window, 2)[0, 0, 0, 0]:.3f} · "
      f"L2 {l2_pool2d(window, 2)[0, 0, 0, 0]:.3f} · stochastic, test time "
      f"{stochastic_pool2d(window, 2, training=False)[0, 0, 0, 0]:.3f} · mean of 2,000 draws {draws.mean():.3f}")
fig, ax = plt.subplots(figsize=(5, 2.6))
values = window.ravel()
ax.bar([f"{v:g}" for v in values], [np.mean(draws == v) for v in values], label="frequency in 2,000 draws")
ax.plot([f"{v:g}" for v in values], values / values.sum(), "ko", label="pᵢ = aᵢ / Σ a")
ax.set_xlabel("activation in the window")
ax.legend()
ax.set_title("Stochastic pooling picks aᵢ with probability pᵢ")
plt.show()
x_lp = np.random.default_rng(9).standard_normal((2, 3, 7, 7))
print("l2_pool2d matches F.lp_pool2d(x, 2, 3, 2):",
      np.allclose(l2_pool2d(x_lp, 3, 2), F.lp_pool2d(torch.from_numpy(x_lp), 2, 3, 2).numpy()))

# %% [markdown]
# ## 10. Max, average or a strided convolution? An experiment inside LeNet-5
#
# Which downsampling should a network use? Train the same LeNet-5 (Chapter 7's capstone) on the digits
# three times, with the same split, initial seed and budget, changing only its two downsampling layers:
# 2×2 **max pooling**, 2×2 **average pooling** (LeCun's original "sub-sampling") and a learned 2×2
# **convolution with stride 2** — the all-convolutional net's replacement for pooling (Springenberg et
# al., *Striving for Simplicity*, 2015), which adds 1,190 parameters. `compare_downsampling` in
# `course_lib.pool_experiments` does the training (about 15 s).
#
# On 1,437 small images and five epochs the three land within a few points of each other, and the order
# can change with the seed: the choice matters less than the rest of the network here. On large data
# Springenberg et al. found strided convolutions as good as max pooling; max pooling stays the default
# because it is free and robust.

# %% tags=["skip-when-grading"]
runs = compare_downsampling()
print(f"{'downsampling':<28}{'parameters':>11}{'train acc':>11}{'test acc':>10}{'seconds':>9}")
for run in runs:
    print(f"{run.label:<28}{run.params:>11,}{run.train_acc:>11.3f}{run.test_acc:>10.3f}{run.seconds:>9.1f}")
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.barh([run.label for run in runs], [run.test_acc for run in runs])
for i, run in enumerate(runs):
    ax.text(run.test_acc, i, f" {run.test_acc:.3f}", va="center")
ax.set_xlim(0.5, 1.05)
ax.set_xlabel("test accuracy (360 digits)")
ax.set_title("LeNet-5 on the digits, 5 epochs, seed 0")
plt.show()

# %% [markdown]
# ## 11. How invariant is pooling to shifts?
#
# Shift a digit by one pixel: the raw pixels change a lot; after 2×2 max pooling fewer values
# change; after a global max, almost nothing. Pooling gives *some* translation invariance (平移不变性)
# — bounded by the window size, and not exact: a shift that moves a maximum across a window border
# changes the output.

# %%
digits, labels = load_digits()
img = np.kron(digits[:50], np.ones((1, 1, 4, 4)))                    # 50 digits upscaled to 32×32


def changed(a, b):
    return np.mean(~np.isclose(a, b))


rows = []
for shift in range(0, 5):
    moved = shifted(img, shift, shift)
    rows.append([changed(img, moved), changed(max_pool2d(img, 2), max_pool2d(moved, 2)),
                 changed(max_pool2d(img, 4), max_pool2d(moved, 4)),
                 changed(adaptive_max_pool2d(img, 1), adaptive_max_pool2d(moved, 1))])
rows = np.array(rows)
fig, ax = plt.subplots(figsize=(6, 3))
for col, label in enumerate(["pixels", "max pool 2×2", "max pool 4×4", "global max"]):
    ax.plot(range(5), rows[:, col], "o-", label=label)
ax.set_xlabel("shift (pixels, down and right)")
ax.set_ylabel("fraction of values changed")
ax.legend()
ax.set_title("Pooling makes features less sensitive to small shifts")
plt.show()

# %% [markdown]
# ## 12. Pooling explorer
#
# Choose an image, max or average, the window, stride and padding; the grid shows the windows on the
# input, and the "shift" slider moves the input to test the invariance you just measured. Pass your
# own functions with `PoolingExplorer(pool_fn={"max": max_pool2d, "avg": avg_pool2d})`.

# %% tags=["skip-when-grading"]
explorer = PoolingExplorer(pool_fn={"max": max_pool2d, "avg": avg_pool2d})
explorer

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **SPP-net's pyramid.** The notes draw 4×4, 2×2, 1×1 = 21 bins; the paper's experiments pool {6, 3, 2, 1} = 50 bins with windows $\lceil a/n \rceil$ and stride $\lfloor a/n \rfloor$. `spatial_pyramid_pool` defaults to the paper and offers the notes' levels and PyTorch's adaptive bins (errata 2c40d14).
# > * **"池化层是无参的，反向传播不会对池化层进行优化".** True — pooling has nothing to learn — but the gradient still flows *through* it to the layers below; you write that backward pass (arg-max routing, even spreading).
# > * **"步长为2则feature map大小减半".** Only for even sizes with a 2×2 window; with AlexNet's overlapping 3×3 windows, stride 2 takes 55 to 27 — `conv_output_size`'s formula applies.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (4 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). In the backward pass of max pooling, which inputs receive a gradient? What happens with ties, and with overlapping windows (3×3, stride 2)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_maxpool_backward", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Only the arg-max of each window receives that window's upstream gradient; the others get 0 (they did not affect the output). With a tie one position — the first, as PyTorch does — takes it all; it is not split. With overlapping windows one input can be the maximum of several windows and receives the *sum* of their gradients.
#
# **Rubric (2 points).** 1 pt: gradient to the arg-max only. 1 pt: ties (one winner) and accumulation over overlapping windows.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does a spatial pyramid give a fixed-length vector for any input size, and what does SPP-net's window rule miss on a 14×14 map at level n = 6 that adaptive pooling does not?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_spp_windows", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Each level always has $n^2$ bins whatever the map's size, so $\sum n^2 \cdot C$ numbers (50·C for {6, 3, 2, 1}). At a = 14, n = 6 the paper's window is ⌈14/6⌉ = 3 with stride ⌊14/6⌋ = 2: six windows cover rows 0–12, so row and column 13 are never pooled. Adaptive bins $[\lfloor i a/n \rfloor, \lceil (i+1) a/n \rceil)$ always cover the whole map.
#
# **Rubric (2 points).** 1 pt: fixed number of bins per level independent of size. 1 pt: the 3-wide, stride-2 windows leave the last row/column out (a mod n ≥ 2), adaptive bins do not.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Pooling has no parameters; it downsamples, widens the receptive field and adds some shift
#   invariance.
# * Max pooling routes the gradient to the arg-max; average pooling spreads it evenly. Overlapping
#   windows add their gradients.
# * L2 pooling keeps each window's norm √(Σ x²) (PyTorch's `lp_pool2d` with p = 2: the sum, not the
#   mean); stochastic pooling samples an activation with probability ∝ its value while training and
#   takes the expectation Σ a² / Σ a at test time (Zeiler & Fergus, 2013).
# * Inside LeNet-5 on the digits, max pooling, average pooling and a strided convolution give test
#   accuracies within a few points of each other.
# * Global average pooling replaces the FC layers (NiN, GoogLeNet); adaptive pooling fixes the output
#   size; SPP-net's pyramid — 36+9+4+1 = 50 bins per channel in the paper's experiments, 16+4+1 = 21 in
#   the notes — gives fixed-length features for any input size. SPP-net places them with windows ⌈a/n⌉
#   and strides ⌊a/n⌋, PyTorch's adaptive pooling with bins that always cover the whole map.
#
# Glossary (English–中文): `from course_lib.glossary import show_glossary; show_glossary("ch03")`.
# Check your notebook with `course check chapters/ch03_pooling/ch03_pooling.ipynb`.
