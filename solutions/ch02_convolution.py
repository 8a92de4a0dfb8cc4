# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 2 — Convolution
#
# A convolutional layer slides a small kernel (卷积核) over an image and takes a dot product at every
# position. Two ideas make it the workhorse of computer vision: **local connectivity** (each output
# looks at a small window) and **weight sharing** (the same kernel is used everywhere). AlexNet's first
# layer, for example, maps a 227×227×3 image to 96 feature maps of 55×55 with only 34,944 parameters;
# a fully-connected layer between the same two shapes would need over 44 *billion*.
#
# In this chapter you will build convolution from scratch in numpy and check every piece against
# PyTorch:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `conv_output_size` — the output-size formula, with errors for impossible settings | 2 |
# | 2 | `zero_pad2d` — zero padding | 1 |
# | 3 | `conv2d_naive` — convolution with loops | 3 |
# | 4 | `conv2d` — the vectorised version (im2col / stride tricks), ≥ 5× faster | 3 |
# | 5 | `conv2d_backward` — gradients dx, dw, db, verified numerically | 4 |
# | 6 | `conv_params` and `conv_flops` — what a layer costs | 2 |
# | 7 | `receptive_field` — why VGG stacks 3×3 kernels | 2 |
#
# Each exercise has a `check_*` cell: run it after writing your code. It explains the first thing
# that is wrong (shape, dtype, which element, expected vs got). Grading runs the same checks on more,
# randomised cases. While your function is checked, `torch`, `scipy` and the course's reference
# implementations are switched off: write the numpy yourself.
#
# Shapes follow PyTorch: images are `(N, C, H, W)` (batch, channels, height, width), kernels are
# `(F, C, KH, KW)` (F output channels), biases `(F,)`.
#
# **Key terms** ([glossary](../../docs/glossary.md)): convolution 卷积 · kernel 卷积核 · feature map 特征图 · stride 步长 · zero padding 补零 · receptive field 感受野 · weight sharing 权值共享 · local connectivity 局部连接 · number of parameters 参数量 · computation (FLOPs / MACs) 计算量 · fully-connected layer 全连接层 · cross-correlation 互相关

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import load_photo
from course_lib.gradcheck import gradcheck
from course_lib.testing import (
    check_conv2d,
    check_conv2d_backward,
    check_conv2d_naive,
    check_conv_flops,
    check_conv_output_size,
    check_conv_params,
    check_receptive_field,
    check_zero_pad2d,
)
from course_lib.viz import KernelPlayground, show_images

np.set_printoptions(precision=4, suppress=True)


def pair(value):
    """``3`` → ``(3, 3)``; ``(2, 1)`` → ``(2, 1)``. Used for kernel sizes, strides and paddings."""
    return (value, value) if isinstance(value, int) else tuple(value)


# %% [markdown]
# ## 1. How big is the output?
#
# Slide an F-wide kernel over an N-wide input padded with P zeros on each side, moving S pixels at a
# time. The kernel fits at positions 0, S, 2S, … as long as it stays inside the padded input:
#
# $$N_{out} = \frac{N - F + 2P}{S} + 1$$
#
# When S does not divide $N - F + 2P$ the last few columns are never reached. Frameworks round
# down (PyTorch does); a careful designer chooses P so that the division is exact. With S = 1,
# "same" padding $P = (F-1)/2$ keeps the size: F = 3 → P = 1, F = 5 → P = 2, F = 7 → P = 3.
#
# **Exercise 1.** Implement the formula for one axis. Round down like PyTorch, and raise a
# `ValueError` (with a message that says what is wrong) when:
# `in_size < 1`, `kernel_size < 1`, `stride < 1`, `padding < 0`, the kernel is larger than the padded
# input, or `strict=True` and the stride does not divide $N - F + 2P$.

# %% nbgrader={"grade": false, "grade_id": "conv_output_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_output_size(in_size, kernel_size, stride=1, padding=0, strict=False):
    """Output length of a convolution or pooling along one axis.

    Args:
        in_size: input length N (int ≥ 1).
        kernel_size: kernel length F (int ≥ 1).
        stride: step S (int ≥ 1).
        padding: zeros added on each side P (int ≥ 0).
        strict: if True, raise ValueError unless S divides N − F + 2P exactly.

    Returns:
        (N − F + 2P) // S + 1 as an int.
    """
    ### BEGIN SOLUTION
    if in_size < 1:
        raise ValueError(f"in_size must be ≥ 1, got {in_size}")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be ≥ 1, got {kernel_size}")
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    span = in_size + 2 * padding - kernel_size
    if span < 0:
        raise ValueError(f"kernel_size={kernel_size} is larger than the padded input "
                         f"{in_size} + 2·{padding} = {in_size + 2 * padding}")
    if strict and span % stride:
        raise ValueError(f"stride {stride} does not divide N − F + 2P = {span}")
    return span // stride + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_output_size", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv_output_size", "seed": 201}
check_conv_output_size(conv_output_size)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv_output_size", conv_output_size, seed=201)
### END HIDDEN TESTS

# %% [markdown]
# Two famous numbers fall out of the formula: AlexNet's first layer (11×11 kernels, stride 4, on
# 227×227 inputs) and the 7×7 stride-2 "stem" of ResNet on 224×224 inputs.

# %%
for name, (n, k, s, p) in {"AlexNet conv1": (227, 11, 4, 0), "ResNet stem": (224, 7, 2, 3),
                           "3×3 'same' padding": (32, 3, 1, 1)}.items():
    m = conv_output_size(n, k, s, p)
    print(f"{name:>18}: {n}×{n} input, {k}×{k} kernel, stride {s}, padding {p} → {m}×{m}")

# %% [markdown]
# ## 2. Zero padding
#
# Without padding every 3×3 layer shaves a pixel off each border, and the border pixels take part in
# fewer windows than the centre ones. Zero padding adds a frame of zeros so that the output can keep
# the input's size (and the borders count as much as the rest).
#
# **Exercise 2.** Pad the last two axes of an `(N, C, H, W)` array with `padding` zeros on each side
# (`padding` is an int or a pair `(PH, PW)`), like `torch.nn.functional.pad(x, (PW, PW, PH, PH))`. Keep
# the dtype; raise `ValueError` for negative padding. (Hint: `np.pad` with a pad width per axis.)

# %% nbgrader={"grade": false, "grade_id": "zero_pad2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def zero_pad2d(x, padding):
    """Zero-pad the spatial axes.

    Args:
        x: array of shape (N, C, H, W).
        padding: int P or pair (PH, PW).

    Returns:
        Array of shape (N, C, H + 2·PH, W + 2·PW), same dtype as x.
    """
    ### BEGIN SOLUTION
    ph, pw = pair(padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_zero_pad2d", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "zero_pad2d", "seed": 202}
check_zero_pad2d(zero_pad2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("zero_pad2d", zero_pad2d, seed=202)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Convolution with loops
#
# For output channel f at position (i, j) the layer takes the window of the padded input that starts
# at (i·S, j·S), multiplies it element by element with kernel f (all C input channels at once), sums,
# and adds the bias:
#
# $$\text{out}[n, f, i, j] = b_f + \sum_{c}\sum_{u}\sum_{v} x_p[n, c, iS + u, jS + v]\; w[f, c, u, v]$$
#
# (Deep-learning "convolution" does not flip the kernel: strictly it is cross-correlation. PyTorch
# does the same.)
#
# **Exercise 3.** Write it with explicit loops over n, f, i and j — slow, but you can see every step.
# Use your `zero_pad2d` and `conv_output_size`. Raise `ValueError` if `x` and `weight` disagree on the
# number of input channels. The result has dtype `np.result_type(x, weight)`.

# %% nbgrader={"grade": false, "grade_id": "conv2d_naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_naive(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution with loops, same semantics as ``torch.nn.functional.conv2d``.

    Args:
        x: input of shape (N, C, H, W).
        weight: kernels of shape (F, C, KH, KW).
        bias: (F,) or None.
        stride: int or (SH, SW).
        padding: int or (PH, PW), zeros on both sides.

    Returns:
        Array of shape (N, F, H_out, W_out).
    """
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    f, c_w, kh, kw = weight.shape
    if c != c_w:
        raise ValueError(f"x has {c} channels but weight expects {c_w} (weight shape {weight.shape})")
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    h_out = conv_output_size(h, kh, sh, ph)
    w_out = conv_output_size(w, kw, sw, pw)
    xp = zero_pad2d(x, (ph, pw))
    out = np.zeros((n, f, h_out, w_out), dtype=np.result_type(x, weight))
    for b in range(n):
        for k in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    window = xp[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (C, KH, KW)
                    out[b, k, i, j] = np.sum(window * weight[k])
            if bias is not None:
                out[b, k] += bias[k]
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv2d_naive", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv2d_naive", "seed": 203}
check_conv2d_naive(conv2d_naive)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv2d_naive", conv2d_naive, seed=203)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Vectorised convolution: im2col
#
# Four nested Python loops are hopeless for real networks. The trick every framework uses on the
# CPU is **im2col**: gather every window into a row of a matrix, then one matrix product with the
# flattened kernels computes all outputs at once:
#
# ```
# windows: (N, C, H_out, W_out, KH, KW) ──reshape──► (N·H_out·W_out, C·KH·KW)
# kernels: (F, C, KH, KW)               ──reshape──► (C·KH·KW, F)
# product: (N·H_out·W_out, F)           ──reshape──► (N, F, H_out, W_out)
# ```
#
# `np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))` gives all windows as a
# *view* (no copy) of shape (N, C, H_p − KH + 1, W_p − KW + 1, KH, KW); take every S-th one with
# `[:, :, ::SH, ::SW]`. Then `np.einsum` or `np.tensordot` does the product.
#
# **Exercise 4.** Write `conv2d` without Python loops over positions. Same arguments, result and
# `ValueError` as `conv2d_naive`. The hidden tests also time it: it must be at least 5× faster
# than the loop version.

# %% nbgrader={"grade": false, "grade_id": "conv2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Vectorised 2-D convolution (im2col), same semantics as ``torch.nn.functional.conv2d``.

    Args:
        x: input of shape (N, C, H, W).
        weight: kernels of shape (F, C, KH, KW).
        bias: (F,) or None.
        stride: int or (SH, SW).
        padding: int or (PH, PW).

    Returns:
        Array of shape (N, F, H_out, W_out).
    """
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    f, c_w, kh, kw = weight.shape
    if c != c_w:
        raise ValueError(f"x has {c} channels but weight expects {c_w} (weight shape {weight.shape})")
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)   # validates the sizes
    xp = zero_pad2d(x, (ph, pw))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))     # (N, H_out, W_out, F)
    out = out.transpose(0, 3, 1, 2)                                      # (N, F, H_out, W_out)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=np.result_type(x, weight))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv2d", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv2d", "seed": 204}
check_conv2d(conv2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv2d", conv2d, seed=204)
### END HIDDEN TESTS

# %% [markdown]
# How much faster? Time the three versions side by side on a CIFAR-sized batch: 64 images of
# 3×32×32 and 16 kernels of 3×3. (The loop version runs on 2 images and is scaled up: it is linear
# in N.)

# %%
rng = np.random.default_rng(0)
xb = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
wb = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
bb = rng.standard_normal(16).astype(np.float32)


def best_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


t_naive = best_time(lambda: conv2d_naive(xb[:2], wb, bb, 1, 1), repeats=1) * 32
t_vec = best_time(lambda: conv2d(xb, wb, bb, 1, 1))
xt, wt, bt = map(torch.from_numpy, (xb, wb, bb))
with torch.no_grad():
    t_torch = best_time(lambda: F.conv2d(xt, wt, bt, 1, 1))
np.testing.assert_allclose(conv2d(xb, wb, bb, 1, 1), F.conv2d(xt, wt, bt, 1, 1).numpy(), rtol=1e-4, atol=1e-4)

names, times = ["loops", "im2col (yours)", "torch F.conv2d"], [t_naive, t_vec, t_torch]
for name, t in zip(names, times):
    print(f"{name:>16}: {t * 1e3:9.2f} ms   ({t / t_torch:7.1f}× torch)")
fig, ax = plt.subplots(figsize=(6, 2.2))
ax.barh(names, [t * 1e3 for t in times], color=["#d62728", "#1f77b4", "#2ca02c"])
ax.set_xscale("log")
ax.set_xlabel("milliseconds (log scale)")
ax.set_title("conv2d on x=(64, 3, 32, 32), w=(16, 3, 3, 3)")
plt.show()

# %% [markdown]
# ## 5. Backpropagation through a convolution
#
# Training needs the gradients of the loss with respect to the input, the kernels and the bias,
# given the upstream gradient `dout = ∂L/∂out` of shape (N, F, H_out, W_out). Each output is a dot
# product of a window with a kernel, so:
#
# * **db** — every output of channel f contains $+b_f$: $\;db_f = \sum_{n,i,j} dout[n,f,i,j]$.
# * **dw** — kernel weight $w[f,c,u,v]$ met input $x_p[n,c,iS+u,jS+v]$ at every output:
#   $\;dw[f,c,u,v] = \sum_{n,i,j} dout[n,f,i,j]\; x_p[n,c,iS+u,jS+v]$.
# * **dx** — each input pixel receives $dout \cdot w$ from every window it was part of; compute it
#   for the padded input, then cut the padding off.
#
# A compact way: loop over the KH·KW kernel offsets (u, v) only; for each, the input pixels it met
# form a strided slice `xp[:, :, u:u + SH·H_out:SH, v:v + SW·W_out:SW]` of shape (N, C, H_out, W_out).
#
# **Exercise 5.** Return `(dx, dw, db)`; `db` is `None` when `bias` is `None`.

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_backward(dout, x, weight, bias=None, stride=1, padding=0):
    """Gradients of a 2-D convolution.

    Args:
        dout: upstream gradient of shape (N, F, H_out, W_out).
        x, weight, bias, stride, padding: the arguments of the forward call.

    Returns:
        (dx, dw, db) with the shapes of x, weight and bias (db is None when bias is None).
    """
    ### BEGIN SOLUTION
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    _, _, h, w = x.shape
    _, _, kh, kw = weight.shape
    h_out, w_out = dout.shape[2:]
    xp = zero_pad2d(x, (ph, pw))
    dxp = np.zeros_like(xp, dtype=np.result_type(x, weight))
    dw = np.zeros_like(weight, dtype=np.result_type(x, weight))
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + sh * h_out, sh)
            cols = slice(v, v + sw * w_out, sw)
            patch = xp[:, :, rows, cols]                                   # (N, C, H_out, W_out)
            dw[:, :, u, v] = np.einsum("nfhw,nchw->fc", dout, patch)
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, weight[:, :, u, v])
    dx = dxp[:, :, ph:ph + h, pw:pw + w]
    db = dout.sum(axis=(0, 2, 3)) if bias is not None else None
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv2d_backward", "seed": 205}
check_conv2d_backward(conv2d_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv2d_backward", conv2d_backward, seed=205)
### END HIDDEN TESTS

# %% [markdown]
# The checks compared your gradients with the course's. Here is the independent truth: **numerical
# gradient checking** (梯度检验). Nudge every input by ±h, measure how the loss $\sum dout \cdot out$
# changes, and compare with your analytic gradient. In float64 the relative error of a correct
# gradient is around $10^{-9}$–$10^{-11}$; a bug shows up as $10^{-2}$ or worse.

# %%
rng = np.random.default_rng(1)
x_gc, w_gc, b_gc = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
dout_gc = rng.standard_normal(conv2d(x_gc, w_gc, b_gc, 2, 1).shape)
dx, dw, db = conv2d_backward(dout_gc, x_gc, w_gc, b_gc, 2, 1)
errors = gradcheck(lambda x, weight, bias: conv2d(x, weight, bias, 2, 1),
                   {"x": x_gc, "weight": w_gc, "bias": b_gc}, {"x": dx, "weight": dw, "bias": db}, dout_gc)
for name, err in errors.items():
    print(f"relative error d{name}: {err:.2e}")

# %% [markdown]
# ## 6. What does a layer cost?
#
# Weight sharing makes the parameter count independent of the image size:
#
# $$\text{params} = (K_H \cdot K_W \cdot C_{in} + 1)\cdot C_{out}$$
#
# (the +1 is the bias). The computation, on the other hand, is paid at every output position:
#
# $$\text{MACs} = H_{out}\cdot W_{out}\cdot C_{out}\cdot(K_H\cdot K_W\cdot C_{in} + 1)$$
#
# multiply-accumulates, **MACs** (one multiply and one add each; count the +1 only with a bias). A
# count of floating-point operations, **FLOPs**, counts the multiply and the add separately, so
# FLOPs ≈ 2 × MACs; papers and tools use both units (and sometimes call MACs "FLOPs"), so check which
# one a number is before comparing. The lecture notes write this with the *input* size, $In_W\cdot In_H\cdot(k_w k_h C_{in}+1)\cdot C_{out}$ — the
# same number for "same" padding with stride 1, but the output size is what counts in general: a
# stride-2 layer does a quarter of the work.
#
# **Exercise 6.** `conv_params(in_channels, out_channels, kernel_size, bias=True)` and
# `conv_flops(in_channels, out_channels, kernel_size, input_size, stride=1, padding=0, bias=True)`
# (`kernel_size` and `input_size` may be ints or pairs; use your `conv_output_size`). Despite its
# name, `conv_flops` returns the MACs of the formula above, as the notes' 计算量 does.

# %% nbgrader={"grade": false, "grade_id": "conv_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_params(in_channels, out_channels, kernel_size, bias=True):
    """Number of learnable parameters of a Conv2d layer."""
    ### BEGIN SOLUTION
    kh, kw = pair(kernel_size)
    return (kh * kw * in_channels + int(bias)) * out_channels
    ### END SOLUTION


def conv_flops(in_channels, out_channels, kernel_size, input_size, stride=1, padding=0, bias=True):
    """Multiply-accumulates (MACs) of one forward pass of a Conv2d layer on one image (FLOPs ≈ 2 × MACs)."""
    ### BEGIN SOLUTION
    kh, kw = pair(kernel_size)
    h, w = pair(input_size)
    h_out = conv_output_size(h, kh, stride, padding)
    w_out = conv_output_size(w, kw, stride, padding)
    return h_out * w_out * out_channels * (kh * kw * in_channels + int(bias))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_params", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv_params", "seed": 206}
check_conv_params(conv_params)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv_params", conv_params, seed=206)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv_flops", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv_flops", "seed": 207}
check_conv_flops(conv_flops)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv_flops", conv_flops, seed=207)
### END HIDDEN TESTS

# %% [markdown]
# PyTorch agrees on the parameters. And the AlexNet comparison from the introduction: the
# convolution has 34,944 parameters; a fully-connected layer from 227·227·3 inputs to 55·55·96
# outputs would have over 44 billion.

# %%
for c_in, c_out, k in [(3, 64, 3), (3, 96, 11), (256, 64, 1)]:
    layer = torch.nn.Conv2d(c_in, c_out, k)
    n_torch = sum(p.numel() for p in layer.parameters())
    print(f"Conv2d({c_in:>3}, {c_out:>3}, {k:>2}): yours {conv_params(c_in, c_out, k):>6,}  torch {n_torch:>6,}")
macs = conv_flops(3, 96, 11, 227, stride=4)
print(f"AlexNet conv1: {conv_params(3, 96, 11):,} parameters, {macs / 1e6:.0f} M multiply-accumulates "
      f"(≈ {2 * macs / 1e6:.0f} M FLOPs) per image")
print(f"a dense layer between the same shapes: {(227 * 227 * 3 + 1) * 55 * 55 * 96:,} parameters")

# %% [markdown]
# ## 7. Receptive field: small kernels, stacked
#
# The receptive field (感受野) of a unit is the input region it depends on. One 3×3 layer sees 3×3;
# a second 3×3 layer on top sees 3×3 windows of the first, i.e. 5×5 of the input; a third, 7×7.
# With strides, each later layer's growth is multiplied by the product of the strides before it:
#
# $$r = 1 + \sum_i (k_i - 1)\prod_{j<i} s_j$$
#
# **Exercise 7.** `receptive_field(layers)`: `layers` is a list whose items are an int kernel size
# (stride 1) or a `(kernel_size, stride)` pair. An empty list has receptive field 1.

# %% nbgrader={"grade": false, "grade_id": "receptive_field", "locked": false, "schema_version": 3, "solution": true, "task": false}
def receptive_field(layers):
    """Receptive field (in input pixels, per axis) of a stack of convolution/pooling layers."""
    ### BEGIN SOLUTION
    rf, jump = 1, 1
    for layer in layers:
        k, s = (layer, 1) if isinstance(layer, int) else layer
        rf += (k - 1) * jump
        jump *= s
    return rf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_receptive_field", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "receptive_field", "seed": 208}
check_receptive_field(receptive_field)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("receptive_field", receptive_field, seed=208)
### END HIDDEN TESTS

# %% [markdown]
# This is VGG's argument (Simonyan & Zisserman, 2014): three stacked 3×3 layers see as far as one
# 7×7 layer, with three non-linearities instead of one and fewer parameters — $3\cdot(3\cdot3\,C^2) =
# 27C^2$ against $49C^2$ (ignoring biases). The lecture notes' version: two 3×3 = one 5×5, three
# 3×3 = one 7×7.

# %%
C = 256
for n in (2, 3):
    big = 2 * n + 1
    stacked = n * conv_params(C, C, 3, bias=False)
    single = conv_params(C, C, big, bias=False)
    print(f"{n} × 3×3: receptive field {receptive_field([3] * n)}, {stacked:,} params  |  "
          f"one {big}×{big}: {single:,} params  → {1 - stacked / single:.0%} fewer")

depths = np.arange(1, 11)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(depths, [receptive_field([3] * d) for d in depths], "o-", label="3×3, stride 1")
ax.plot(depths, [receptive_field([(3, 2)] * d) for d in depths], "s-", label="3×3, stride 2")
ax.set_yscale("log")
ax.set_xlabel("number of stacked layers")
ax.set_ylabel("receptive field (pixels)")
ax.legend()
ax.set_title("Strides make the receptive field grow exponentially")
plt.show()

# %% [markdown]
# ## 8. The 1×1 convolution: mixing channels
#
# A 1×1 kernel sees one pixel, so it cannot detect shapes — but it mixes the C input channels of
# every pixel with the same C_out×C matrix. That is a fully-connected layer applied at each position,
# and the cheapest way to change the number of channels (Network-in-Network, GoogLeNet's bottlenecks).
# Your `conv2d` with a 1×1 kernel is exactly an `einsum` over channels:

# %%
rng = np.random.default_rng(2)
x1 = rng.standard_normal((2, 256, 14, 14))
w1 = rng.standard_normal((64, 256, 1, 1))
mixed = np.einsum("fc,nchw->nfhw", w1[:, :, 0, 0], x1)
print("1×1 conv == per-pixel matrix product:", np.allclose(conv2d(x1, w1), mixed))
print(f"256→64 with 1×1 before a 3×3 (64→64): {conv_params(256, 64, 1) + conv_params(64, 64, 3):,} params "
      f"vs a 3×3 directly on 256 channels (256→64): {conv_params(256, 64, 3):,}")

# %% [markdown]
# ## 9. Classic kernels on a real photo
#
# Before learning, people designed kernels by hand: a box or Gaussian blur averages neighbours
# (low-pass), Sobel kernels take differences (horizontal/vertical gradients — edges), the Laplacian
# responds to blobs and fine detail, sharpening adds the detail back. A CNN's first layer learns
# kernels that look much like these.

# %%
from course_lib.data import CLASSIC_KERNELS  # noqa: E402  (the named kernels, used for the pictures)

photo = load_photo("china", size=160)                                # (H, W) in [0, 1]
batch = photo[None, None]                                            # (1, 1, H, W)
names = ["identity", "gaussian blur", "sharpen", "sobel x", "sobel y", "laplacian"]
kernels = np.stack([CLASSIC_KERNELS[k] for k in names])[:, None]     # (6, 1, 3, 3)
maps = conv2d(batch, kernels, padding=1)[0]                          # (6, H, W)
show_images(list(maps), titles=names, ncols=3)
plt.show()

# %% [markdown]
# ## 10. Kernel playground
#
# Pick an image and a preset, then drag the nine kernel sliders, the stride and the padding. The
# output and its size update live; the size line uses the formula from Exercise 1. Pass your own
# function with `KernelPlayground(conv_fn=conv2d)` to see *your* convolution at work.
#
# Things to try: make the kernel sum to 0 (what happens to flat regions?); make it sum to 2; set
# stride 2 and watch the output shrink; compare "sobel x" with its transpose.

# %%
playground = KernelPlayground(conv_fn=conv2d)
playground

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **"1000 个特征就有 900 个值".** The notes' example of shared weights says a 9-value feature gives 900 values for 1000 features; it is $1000 \times 9 = 9{,}000$ (plus 1000 biases: `conv_params` counts $(k_w k_h C_{in} + 1)\,C_{out}$).
# > * **计算量 uses the output size.** The notes multiply by the *input* size $In_W \cdot In_H$; `conv_flops` multiplies by the output size, the same for "same" padding with stride 1 but a quarter of it for stride 2.
# > * **MACs, not FLOPs.** `conv_flops` (its name kept) returns multiply-accumulates, as the notes' 计算量 does; a FLOP count is about twice that (errata 49248ca).
# > * **The output size.** The notes write $(N - F)/\text{stride} + 1$; the chapter uses $\lfloor (N + 2P - K)/S \rfloor + 1$ and raises `ValueError` for settings no layer can have.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (4 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). A 3×3 convolution from 64 to 64 channels on a 56×56 map, and a fully-connected layer between the same two 56×56×64 maps: how many parameters does each have, and which two properties of images make the convolution's assumptions reasonable?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_weight_sharing", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Convolution: $(3\cdot3\cdot64 + 1)\cdot 64 = 36{,}928$. Fully connected: $(56\cdot56\cdot64)^2 \approx 4\times10^{10}$ weights. The convolution assumes **locality** (a feature depends on a small neighbourhood: local connections) and **stationarity / translation equivariance** (the same feature is useful everywhere: shared weights).
#
# **Rubric (2 points).** 1 pt: both counts, at least to the order of magnitude. 1 pt: locality and weight sharing / translation equivariance, in any words.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Two stacked 3×3 convolutions against one 5×5 (C channels in and out): compare receptive field, parameters and what else changes.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_stacked_kernels", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Same 5×5 receptive field; $2\cdot 9C^2 = 18C^2$ weights against $25C^2$ (28 % fewer); one more non-linearity, so a more expressive function; the price is one more layer (another activation map to store and one more step for the gradient).
#
# **Rubric (2 points).** 1 pt: equal receptive field with the parameter counts. 1 pt: the extra non-linearity (or depth's cost, memory/latency).
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Output size $(N - F + 2P)/S + 1$; "same" padding $P = (F-1)/2$ for stride 1.
# * Convolution = a dot product per window; im2col turns all windows into one matrix product —
#   orders of magnitude faster than loops and within a small factor of PyTorch.
# * Backward: db sums dout, dw correlates dout with the input, dx scatters dout·w back to the input.
# * Parameters $(K_HK_WC_{in}+1)C_{out}$ do not depend on the image; the cost scales with the output
#   size.
# * Stacked 3×3 kernels reach the receptive field of large kernels with fewer parameters.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch02")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch02_convolution/ch02_convolution.ipynb`.
