# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 17 — Autoencoders and VAEs
#
# An **autoencoder** (自编码器) is a network trained to copy its input to its output through a narrow
# middle layer, the **bottleneck**. The lecture notes put it in one line: *the hidden layer is like a
# lossy compression algorithm (有损压缩) — the encoder takes the information apart, the decoder puts it
# back together*. Hinton & Salakhutdinov (Science, 2006) squeezed 784-pixel MNIST digits through a
# 30-number code and reconstructed them better than PCA with 30 components; Vincent et al. (2008) showed
# that training to remove noise (a **denoising** autoencoder) learns more robust features; and Kingma &
# Welling (2013) turned the autoencoder into a generative model, the **variational autoencoder** (VAE,
# 变分自编码器), whose 2-D latent space of MNIST digits is one of the best-known pictures in deep learning.
#
# A decoder must go from a small feature map back to a full image: **upsampling** (上采样) — "any
# technique that raises the resolution: unpooling (上池化), transposed convolution (反卷积),
# interpolation (插值)", as the notes say — though the proper name of the transposed convolution is
# 转置卷积 (section 1). You build both learnable and fixed versions first.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `conv_transpose_output_size` — the output size of a transposed convolution | 2 |
# | 2 | `conv_transpose2d` — transposed convolution in numpy, like `F.conv_transpose2d` | 4 |
# | 3 | `max_pool2d_with_indices` — max pooling that remembers where the maxima were | 2 |
# | 4 | `max_unpool2d` — put the maxima back, like `F.max_unpool2d` | 3 |
# | 5 | `vae_reparameterize` — the reparameterisation trick | 1 |
# | 6 | `vae_kl_divergence` — KL(q(z\|x) ‖ N(0, I)) in closed form | 3 |
# | 7 | `vae_loss` — the negative ELBO with a Bernoulli decoder | 3 |
#
# Each exercise has a `check_*` cell that explains the first thing that is wrong (shape, dtype, which
# element, expected vs got). While your function is checked, `torch`, `scipy` and the course's reference
# implementations are switched off: write the numpy yourself. The models are trained with PyTorch.
#
# **Key terms** ([glossary](../../docs/glossary.md)): autoencoder 自编码器 · encoder 编码器 · decoder 解码器 · bottleneck 瓶颈层 · lossy compression 有损压缩 · upsampling 上采样 · transposed convolution 转置卷积 · unpooling 上池化 · interpolation 插值 · denoising autoencoder 去噪自编码器 · variational autoencoder 变分自编码器 · latent space 隐空间 · reparameterization trick 重参数化技巧 · KL divergence KL 散度 · evidence lower bound (ELBO) 证据下界

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import digits_split, load_photo
from course_lib.models import count_params
from course_lib.reference.autoencoders import ConvAutoencoder, ConvVAE, train_autoencoder, vae_loss_torch
from course_lib.reference.conv import conv2d, conv2d_backward
from course_lib.testing import (
    check_conv_transpose2d,
    check_conv_transpose_output_size,
    check_max_pool2d_with_indices,
    check_max_unpool2d,
    check_vae_kl_divergence,
    check_vae_loss,
    check_vae_reparameterize,
)
from course_lib.viz import show_images
from course_lib.viz.autoencoders import LatentExplorer

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine
T0 = time.perf_counter()


def pair(value):
    """``3`` → ``(3, 3)``; ``(2, 1)`` → ``(2, 1)``."""
    return (value, value) if isinstance(value, int) else tuple(value)


# %% [markdown]
# ## 1. Transposed convolution: how big is the output?
#
# A convolution with kernel K, stride S and padding P maps length N to $\lfloor (N + 2P - K)/S \rfloor + 1$.
# A **transposed convolution** (转置卷积; the notes call it 反卷积, "deconvolution", a misnomer — it does
# not invert the convolution) goes the other way. Every input pixel stamps a copy of the kernel, scaled by the pixel,
# onto the output; consecutive stamps are S pixels apart, so N inputs cover $(N-1)S + K$ outputs. Then P
# rows are cropped from each side, and `output_padding` adds OP extra rows at the bottom/right:
#
# $$N_{out} = (N - 1)\,S - 2P + K + OP$$
#
# Why `output_padding`? With S = 2, a 3×3 conv with padding 1 maps *both* 7 and 8 to 4. The transposed
# layer must pick one: OP = 0 gives 7, OP = 1 gives 8. So OP must be smaller than S (PyTorch's rule).
# (Dumoulin & Visin, *A guide to convolution arithmetic*, 2016, tabulate all the cases.)
#
# **Exercise 1.** Implement the formula. Raise `ValueError` when `in_size`, `kernel_size` or `stride`
# is < 1, `padding` or `output_padding` is < 0, `output_padding >= stride`, or the result is < 1.

# %% nbgrader={"grade": false, "grade_id": "conv_transpose_output_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_transpose_output_size(in_size, kernel_size, stride=1, padding=0, output_padding=0):
    """Output length of a transposed convolution along one axis.

    Returns:
        (in_size − 1)·stride − 2·padding + kernel_size + output_padding, as an int.
    """
    ### BEGIN SOLUTION
    if min(in_size, kernel_size, stride) < 1:
        raise ValueError(f"in_size, kernel_size and stride must be ≥ 1, got {in_size}, {kernel_size}, {stride}")
    if min(padding, output_padding) < 0:
        raise ValueError(f"padding and output_padding must be ≥ 0, got {padding}, {output_padding}")
    if output_padding >= stride:
        raise ValueError(f"output_padding ({output_padding}) must be smaller than stride ({stride})")
    out = (in_size - 1) * stride - 2 * padding + kernel_size + output_padding
    if out < 1:
        raise ValueError(f"the output size would be {out}: padding {padding} crops everything")
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose_output_size", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv_transpose_output_size", "seed": 1701}
check_conv_transpose_output_size(conv_transpose_output_size)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv_transpose_output_size", conv_transpose_output_size, seed=1701)
### END HIDDEN TESTS

# %% [markdown]
# The decoders of this chapter, and DCGAN's generator, double the resolution with S = 2. Two common
# choices — K = 4, P = 1 and K = 3, P = 1, OP = 1 — both give exactly 2N; and the transposed layer undoes
# the size change of the matching convolution:

# %%
for n in (4, 7, 8):
    print(f"N = {n}: K=4,S=2,P=1 → {conv_transpose_output_size(n, 4, 2, 1)};  "
          f"K=3,S=2,P=1,OP=1 → {conv_transpose_output_size(n, 3, 2, 1, 1)}")
for n in (7, 8):
    m = (n + 2 - 3) // 2 + 1
    print(f"conv 3×3/2, P=1: {n} → {m};  transposed back with OP={(n + 2 - 3) % 2}: "
          f"{m} → {conv_transpose_output_size(m, 3, 2, 1, (n + 2 - 3) % 2)}")

# %% [markdown]
# ## 2. Transposed convolution in numpy
#
# With input `x` (N, C, H, W) and weight (C, F, KH, KW) — **input channels first**, the transpose of
# `conv2d`'s (F, C, KH, KW) — every input pixel `x[n, c, i, j]` adds `x[n, c, i, j] * weight[c]` (an
# (F, KH, KW) stamp) to the output window whose top-left corner is (i·SH, j·SW). Build the full
# $(H-1)S_H + K_H + OP_H$ by $(W-1)S_W + K_W + OP_W$ output, add the stamps, keep rows PH … PH + H_out − 1
# and columns PW … PW + W_out − 1 (this drops PH rows at the top and PH at the bottom of the buffer),
# then add the bias.
#
# A loop over the KH·KW kernel offsets is enough: for offset (u, v), all pixels at once add
# `einsum("nchw,cf->nfhw", x, weight[:, :, u, v])` to the strided slice `[u : u + SH·H : SH, v : v + SW·W : SW]`.
#
# **Exercise 2.** Implement `conv_transpose2d` with the semantics of `torch.nn.functional.conv_transpose2d`
# (no groups, no dilation). Use your `conv_transpose_output_size`. Raise `ValueError` when `weight` is not
# 4-D or its first axis is not C. The result has dtype `np.result_type(x, weight)`.

# %% nbgrader={"grade": false, "grade_id": "conv_transpose2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """2-D transposed convolution.

    Args:
        x: input of shape (N, C, H, W).
        weight: (C, F, KH, KW).
        bias: (F,) or None.
        stride, padding, output_padding: int or pair.

    Returns:
        Array of shape (N, F, H_out, W_out), H_out = (H − 1)·SH − 2·PH + KH + OPH.
    """
    ### BEGIN SOLUTION
    if weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight must have shape (C, F, KH, KW) with C = {x.shape[1]}, got {weight.shape}")
    n, c, h, w = x.shape
    _, f, kh, kw = weight.shape
    (sh, sw), (ph, pw), (oph, opw) = pair(stride), pair(padding), pair(output_padding)
    h_out = conv_transpose_output_size(h, kh, sh, ph, oph)
    w_out = conv_transpose_output_size(w, kw, sw, pw, opw)
    full = np.zeros((n, f, (h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw), dtype=np.result_type(x, weight))
    for u in range(kh):
        for v in range(kw):
            full[:, :, u:u + sh * h:sh, v:v + sw * w:sw] += np.einsum("nchw,cf->nfhw", x, weight[:, :, u, v])
    out = full[:, :, ph:ph + h_out, pw:pw + w_out].copy()
    if bias is not None:
        out += bias.reshape(1, f, 1, 1)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose2d", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} course={"exercise": "conv_transpose2d", "seed": 1702}
check_conv_transpose2d(conv_transpose2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("conv_transpose2d", conv_transpose2d, seed=1702)
### END HIDDEN TESTS

# %% [markdown]
# ### It matches PyTorch — and it *is* the backward pass of convolution
#
# Write a convolution as a matrix: $y = A x$. Its gradient with respect to the input is
# $\partial L/\partial x = A^{\top}\, \partial L/\partial y$: the **transpose** of the same matrix — hence the
# name. So `conv_transpose2d(dout, w)` must equal the `dx` of Chapter 2's `conv2d_backward(dout, x, w)`,
# with `output_padding = (H + 2P − K) mod S` to recover the rows that the convolution's floor dropped.
# The matrix view also gives the *adjoint identity* $\langle A x, y\rangle = \langle x, A^{\top} y\rangle$.

# %%
rng = np.random.default_rng(17)
x = rng.standard_normal((2, 3, 9, 8))                     # the convolution's input
w = rng.standard_normal((4, 3, 3, 3))                     # conv2d weight (F, C, KH, KW) = transposed weight (C_in, C_out, ...) of the way back
stride, padding = 2, 1
y = conv2d(x, w, stride=stride, padding=padding)          # (2, 4, 5, 4)
dout = rng.standard_normal(y.shape)
dx, _, _ = conv2d_backward(dout, x, w, stride=stride, padding=padding)
op = tuple((n + 2 * padding - 3) % stride for n in x.shape[2:])   # (0, 1): 9 is reached exactly, 8 is not
ours = conv_transpose2d(dout, w, stride=stride, padding=padding, output_padding=op)
theirs = F.conv_transpose2d(torch.from_numpy(dout), torch.from_numpy(w), stride=stride, padding=padding,
                            output_padding=op).numpy()
print(f"conv2d {x.shape} → {y.shape};  conv_transpose2d {dout.shape} → {ours.shape} (output_padding {op})")
print("max |conv_transpose2d − conv2d_backward's dx| =", np.abs(ours - dx).max())
print("max |conv_transpose2d − F.conv_transpose2d|    =", np.abs(ours - theirs).max())
print(f"<conv2d(x), dout> = {np.sum(y * dout):.10f}\n<x, conv_transpose2d(dout)> = {np.sum(x * ours):.10f}")

# %% [markdown]
# Another way to see it: a stride-S transposed convolution is an ordinary stride-1 convolution, with the
# kernel flipped and its channel axes swapped, of the input with S − 1 zeros inserted between pixels and
# K − 1 − P zeros around it. That is why it "upsamples": the zeros are filled in by the kernel.

# %%
xs = rng.standard_normal((1, 2, 4, 4))
wt = rng.standard_normal((2, 3, 3, 3))                     # (C_in, C_out, KH, KW)
s, p, k = 2, 1, 3
dilated = np.zeros((1, 2, (4 - 1) * s + 1, (4 - 1) * s + 1))
dilated[:, :, ::s, ::s] = xs                               # zeros between the pixels
direct = conv2d(dilated, np.ascontiguousarray(wt.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]), padding=k - 1 - p)
print("zero insertion + flipped-kernel conv2d == conv_transpose2d:",
      np.allclose(direct, conv_transpose2d(xs, wt, stride=s, padding=p)), direct.shape)

# %% [markdown]
# **Checkerboard artifacts.** When the kernel size is not a multiple of the stride, the stamps overlap
# unevenly: with K = 3, S = 2 some output pixels get one stamp, others two or four. Even a constant input
# and a constant kernel then give a checkerboard (Odena et al., *Deconvolution and checkerboard
# artifacts*, Distill 2016). K = 4, S = 2 overlaps evenly in the interior; K = 2, S = 2 does not overlap.

# %%
flat = np.ones((1, 1, 6, 6))
patterns = {f"K={kk}, S=2": conv_transpose2d(flat, np.ones((1, 1, kk, kk)), stride=2)[0, 0] for kk in (2, 3, 4)}
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (name, img) in zip(axes, patterns.items()):
    ax.imshow(img, cmap="viridis")
    ax.set_title(f"{name}: interior values {sorted({int(v) for v in img[2:-2, 2:-2].ravel()})}", fontsize=9)
    ax.set_axis_off()
fig.suptitle("transposed convolution of a constant image with a constant kernel")
fig.tight_layout()

# %% [markdown]
# ## 3. Max pooling that remembers, and unpooling
#
# Max pooling throws away 3 of every 4 values (2×2 windows) *and* where the maximum was. Zeiler & Fergus
# (2014) kept those positions ("switches") to visualise what a CNN has learned; SegNet (Badrinarayanan et
# al., 2015) feeds them to its decoder. `F.max_pool2d(x, k, return_indices=True)` returns them as flat
# positions `row * W + col` in each (H, W) plane of the *input* — padding does not count.
#
# **Exercise 3.** `max_pool2d_with_indices(x, kernel_size, stride=None, padding=0)` → `(out, indices)`,
# both (N, C, H_out, W_out), `indices` int64. Pad with `-inf` (padding ≤ kernel_size // 2, else
# `ValueError`); on ties take the first maximum in row-major window order (`np.argmax` does). A loop over
# the H_out·W_out windows is fine.

# %% nbgrader={"grade": false, "grade_id": "max_pool2d_with_indices", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool2d_with_indices(x, kernel_size, stride=None, padding=0):
    """Max pooling that also returns the flat position (row·W + col) of each maximum."""
    ### BEGIN SOLUTION
    (kh, kw) = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"padding must be at most half the kernel, got {padding} for kernel {kernel_size}")
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), -np.inf)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, h_out, w_out), dtype=x.dtype)
    idx = np.zeros((n, c, h_out, w_out), dtype=np.int64)
    for i in range(h_out):
        for j in range(w_out):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, -1)
            a = win.argmax(axis=-1)
            out[:, :, i, j] = win.max(axis=-1)
            idx[:, :, i, j] = (i * sh + a // kw - ph) * w + (j * sw + a % kw - pw)
    return out, idx
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d_with_indices", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "max_pool2d_with_indices", "seed": 1703}
check_max_pool2d_with_indices(max_pool2d_with_indices)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("max_pool2d_with_indices", max_pool2d_with_indices, seed=1703)
### END HIDDEN TESTS

# %% [markdown]
# **Max unpooling** (上池化) is the partial inverse: an output of zeros, with every pooled value put back
# at its recorded position. The default output size is the pooling's input size *if* nothing was dropped,
# $(H - 1)S - 2P + K$; when the floor dropped rows (pooling 7×7 with 2×2 windows gives 3×3, and 3×3 unpools
# to 6×6), pass `output_size=(7, 7)`. PyTorch accepts an `output_size` within one stride of the default.
#
# **Exercise 4.** `max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None)` like
# `F.max_unpool2d`. `output_size` may be `(H_out, W_out)` or a 4-tuple ending in them. Raise `ValueError`
# if `indices` does not have the shape of `x`, if `output_size` is not strictly between default − S and
# default + S (per axis), or if an index does not fit the output plane.
# (Hint: reshape the output to (N, C, H_out·W_out) and use `np.put_along_axis`.)

# %% nbgrader={"grade": false, "grade_id": "max_unpool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Scatter x (N, C, H, W) into zeros of shape (N, C, H_out, W_out) at the flat positions ``indices``."""
    ### BEGIN SOLUTION
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {x.shape}, got {indices.shape}")
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    h_out, w_out = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw
    if output_size is not None:
        want_h, want_w = tuple(output_size)[-2:]
        if not (h_out - sh < want_h < h_out + sh and w_out - sw < want_w < w_out + sw):
            raise ValueError(f"output_size {output_size} must be within one stride of the default {(h_out, w_out)}")
        h_out, w_out = want_h, want_w
    if indices.size and (indices.min() < 0 or indices.max() >= h_out * w_out):
        raise ValueError(f"indices must be in 0..{h_out * w_out - 1}, got max {indices.max()}")
    out = np.zeros((n, c, h_out * w_out), dtype=x.dtype)
    np.put_along_axis(out, indices.reshape(n, c, -1), x.reshape(n, c, -1), axis=-1)
    return out.reshape(n, c, h_out, w_out)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_unpool2d", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "max_unpool2d", "seed": 1704}
check_max_unpool2d(max_unpool2d)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("max_unpool2d", max_unpool2d, seed=1704)
### END HIDDEN TESTS

# %% [markdown]
# Both agree with PyTorch, on a photo with overlapping 3×3 windows (stride 2, padding 1):

# %%
photo = load_photo("china", size=64)[None, None]                  # (1, 1, 64, 64)
pooled, where = max_pool2d_with_indices(photo, 3, 2, 1)
t_pooled, t_where = F.max_pool2d(torch.from_numpy(photo), 3, 2, 1, return_indices=True)
print("pool: values equal", np.array_equal(pooled, t_pooled.numpy()), "| indices equal",
      np.array_equal(where, t_where.numpy()))
un = max_unpool2d(pooled, where, 3, 2, 1, output_size=(64, 64))
print("unpool equal:", np.array_equal(un, F.max_unpool2d(t_pooled, t_where, 3, 2, 1, output_size=(64, 64)).numpy()),
      f"| non-zero pixels after unpooling: {np.count_nonzero(un)} of {un.size}")

# %% [markdown]
# The lecture's three ways up, side by side — from the 2×2-pooled 32×32 photo back to 64×64: **unpooling**
# puts each maximum back where it was (sharp, but mostly zeros), **nearest-neighbour** and **bilinear
# interpolation** spread every value over its neighbourhood (no learning, blurry), and a **transposed
# convolution** with a 2×2 kernel of ones and stride 2 is exactly nearest-neighbour — a learned kernel can
# do better. Fixed rules cannot recover what pooling threw away; a decoder has to learn it.

# %%
small, where2 = max_pool2d_with_indices(photo, 2)                 # (1, 1, 32, 32)
ups = {
    "original 64×64": photo,
    "max-pooled 32×32": small,
    "max unpooling": max_unpool2d(small, where2, 2),
    "nearest": F.interpolate(torch.from_numpy(small), scale_factor=2, mode="nearest").numpy(),
    "bilinear": F.interpolate(torch.from_numpy(small), scale_factor=2, mode="bilinear").numpy(),
    "transposed conv, ones 2×2/2": conv_transpose2d(small, np.ones((1, 1, 2, 2)), stride=2),
}
print("transposed conv with a 2×2 kernel of ones == nearest:", np.allclose(ups["nearest"], ups[list(ups)[-1]]))
fig = show_images([v[0, 0] for v in ups.values()], titles=list(ups), ncols=6)

# %% [markdown]
# ## 4. A convolutional autoencoder on the digits
#
# The model (`course_lib.reference.autoencoders.ConvAutoencoder`) encodes an 8×8 digit with two convolutions (the
# second with stride 2: 8×8 → 4×4) and a linear layer into a **code** of D numbers; the decoder mirrors it:
# a linear layer back to 32×4×4, a **`ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)`**
# (4×4 → 8×8, exercise 1's formula) and a 3×3 convolution to one channel of logits. A sigmoid turns the
# logits into pixels in [0, 1]; the loss is the mean squared error to the input.
#
# **How much is compressed?** A digit has 64 pixels with 17 grey levels (0…16), i.e. at most
# $64 \log_2 17 \approx 261.6$ bits. Store each code number with 8 bits (the int8 quantization of
# Chapter 15 — we check below that it costs almost nothing) and a code of D numbers takes 8D bits.
# We train one autoencoder for each D ∈ {2, 4, 8, 16} and compare with PCA, the best *linear*
# code of the same size (an autoencoder with linear layers and MSE learns the PCA subspace).

# %%
X_train, y_train, X_test, y_test = digits_split(test_fraction=0.2, seed=0)   # (1437, 1, 8, 8), (360, 1, 8, 8)
INPUT_BITS = 64 * np.log2(17)
print(f"train {X_train.shape}, test {X_test.shape}; one digit ≤ {INPUT_BITS:.1f} bits")


def reconstruct(model, X):
    """sigmoid(model(X)) as numpy (for a VAE: decode the mean code)."""
    with torch.no_grad():
        out = model(torch.from_numpy(X))
        return torch.sigmoid(out[0] if isinstance(out, tuple) else out).numpy()


def mse(a, b):
    return float(np.mean((a - b) ** 2))


def pca_mse(k):
    """Test MSE of reconstructing with the top-k principal components of the training digits."""
    A, B = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    mean = A.mean(axis=0)
    _, _, vt = np.linalg.svd(A - mean, full_matrices=False)
    V = vt[:k].T                                                        # (64, k)
    return mse((B - mean) @ V @ V.T + mean, B)


codes, curves, sweep = (2, 4, 8, 16), {}, {}
start = time.perf_counter()
for d in codes:
    torch.manual_seed(0)
    model = ConvAutoencoder(code_dim=d)
    curves[d] = train_autoencoder(model, X_train, epochs=20, desc=f"autoencoder D={d}")
    sweep[d] = model
ae_seconds = time.perf_counter() - start
print(f"4 autoencoders trained in {ae_seconds:.1f} s; D=8 has {count_params(sweep[8]):,} parameters")

# %%
rows = []
for d, model in sweep.items():
    with torch.no_grad():
        z = model.encode(torch.from_numpy(X_test))                      # (360, D)
        scale = z.abs().max() / 127                                     # symmetric int8, one scale
        zq = torch.round(z / scale).clamp(-127, 127) * scale
        rec_q = torch.sigmoid(model.decode(zq)).numpy()
    rows.append((d, 8 * d, INPUT_BITS / (8 * d), mse(reconstruct(model, X_test), X_test), mse(rec_q, X_test),
                 pca_mse(d)))
print(" D | code bits | ratio | AE test MSE | AE, int8 code | PCA test MSE")
for d, bits, ratio, m, mq, mp in rows:
    print(f"{d:2d} | {bits:9d} | {ratio:5.1f} | {m:11.4f} | {mq:13.4f} | {mp:12.4f}")
print(f"(predicting the mean digit: MSE {mse(X_train.mean(axis=0), X_test):.4f})")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for d in codes:
    axes[0].plot(range(1, len(curves[d]) + 1), curves[d], marker="o", ms=3, label=f"D = {d}")
axes[0].set(xlabel="epoch", ylabel="training MSE", yscale="log", title="training curves")
axes[0].legend()
ratios = [r[2] for r in rows]
axes[1].plot(ratios, [r[3] for r in rows], "o-", label="conv autoencoder")
axes[1].plot(ratios, [r[5] for r in rows], "s--", label="PCA, same D")
for d, r in zip(codes, rows):
    axes[1].annotate(f"D={d}", (r[2], r[3]), textcoords="offset points", xytext=(4, 4), fontsize=8)
axes[1].set(xscale="log", xlabel="compression ratio (input bits / 8·D code bits)", ylabel="test MSE",
            title="lossy compression: more compression, more error")
axes[1].set_xticks(ratios, [f"{r:.1f}×" for r in ratios])
axes[1].minorticks_off()
axes[1].legend()
fig.tight_layout()

# %% [markdown]
# The trade-off of lossy compression in one curve: every halving of the code costs reconstruction
# quality, and the nonlinear autoencoder beats PCA — the best linear code — at every size
# (Hinton & Salakhutdinov's point, here on a small scale). Quantizing the code to 8 bits barely changes the
# error, so the bit counts above are honest. Reconstructions of test digits:

# %%
pick = np.array([np.flatnonzero(y_test == k)[0] for k in range(10)])
rec = {d: reconstruct(sweep[d], X_test[pick]) for d in (2, 8, 16)}
fig = show_images([*X_test[pick], *rec[2], *rec[8], *rec[16]], ncols=10, figsize=(10, 4.4),
                  titles=[f"input {k}" for k in range(10)] + [f"D={d}" for d in (2, 8, 16) for _ in range(10)])

# %% [markdown]
# ## 5. A denoising autoencoder
#
# A plain autoencoder with a wide enough code could learn the identity. Vincent et al. (2008) corrupt the
# input and keep the *clean* image as the target: the network must learn what digits look like to undo
# the damage. Here the input gets Gaussian noise with σ = 0.3 (clipped to [0, 1]); the same D = 16 model
# as above is trained for the same 20 epochs on (noisy input → clean target).

# %%
torch.manual_seed(0)
dae = ConvAutoencoder(code_dim=16)
t_start = time.perf_counter()
dae_curve = train_autoencoder(dae, X_train, epochs=20, noise_std=0.3, desc="denoising autoencoder")
dae_seconds = time.perf_counter() - t_start
noisy_test = np.clip(X_test + 0.3 * np.random.default_rng(1).standard_normal(X_test.shape), 0, 1).astype(np.float32)
denoised, plain = reconstruct(dae, noisy_test), reconstruct(sweep[16], noisy_test)
print(f"trained in {dae_seconds:.1f} s. Test MSE to the clean digits:")
print(f"  noisy input itself        {mse(noisy_test, X_test):.4f}")
print(f"  plain autoencoder (D=16)  {mse(plain, X_test):.4f}")
print(f"  denoising autoencoder     {mse(denoised, X_test):.4f}")
print(f"  denoising AE on clean input {mse(reconstruct(dae, X_test), X_test):.4f}")
fig = show_images([*noisy_test[pick], *plain[pick], *denoised[pick], *X_test[pick]], ncols=10, figsize=(10, 4.4),
                  titles=[*(["noisy"] * 10), *(["plain AE"] * 10), *(["denoising AE"] * 10), *(["clean"] * 10)])

# %% [markdown]
# ## 6. The variational autoencoder
#
# A plain autoencoder gives codes but no way to *generate*: nothing in its training says where in the
# code space the digits live, at what scale, or that the space between them decodes to anything sensible. A VAE (Kingma & Welling, 2013) makes the encoder output a
# *distribution* $q(z\mid x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))$, decodes a *sample* from it, and
# pulls every $q(z\mid x)$ towards the prior $p(z) = \mathcal N(0, I)$. It maximises the **evidence lower
# bound** (ELBO) on $\log p(x)$:
#
# $$\log p(x) \;\ge\; \mathrm{ELBO}(x) = \mathbb E_{z\sim q(z\mid x)}\big[\log p(x\mid z)\big] - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)$$
#
# **Reparameterisation trick** (重参数化技巧). Sampling $z \sim \mathcal N(\mu, \sigma^2)$ is not differentiable in
# μ and σ — but $z = \mu + \sigma\,\varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ is the same
# distribution, and now the randomness sits in ε, outside the path of the gradient. The encoder predicts
# $\log\sigma^2$ ("logvar", any real number) rather than σ (which must be positive): $\sigma = e^{\text{logvar}/2}$.
#
# **Exercise 5.** `vae_reparameterize(mu, logvar, eps)` returns z; all three have shape (N, D) (else
# `ValueError`). The noise is an argument so the result is reproducible.

# %% nbgrader={"grade": false, "grade_id": "vae_reparameterize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vae_reparameterize(mu, logvar, eps):
    """z = mu + exp(logvar / 2) · eps, all of shape (N, D)."""
    ### BEGIN SOLUTION
    if not mu.shape == logvar.shape == eps.shape:
        raise ValueError(f"mu, logvar and eps must have the same shape, got {mu.shape}, {logvar.shape}, {eps.shape}")
    return mu + np.exp(0.5 * logvar) * eps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_vae_reparameterize", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vae_reparameterize", "seed": 1705}
check_vae_reparameterize(vae_reparameterize)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vae_reparameterize", vae_reparameterize, seed=1705)
### END HIDDEN TESTS

# %% [markdown]
# **The KL term in closed form** (KL 散度). For one latent dimension,
# $\mathrm{KL}(\mathcal N(\mu, \sigma^2)\,\|\,\mathcal N(0, 1)) = \tfrac12(\mu^2 + \sigma^2 - 1 - \log\sigma^2)$; the D
# dimensions are independent, so their KLs add (Kingma & Welling, appendix B):
#
# $$\mathrm{KL} = -\tfrac12 \sum_{d=1}^{D} \big(1 + \text{logvar}_d - \mu_d^2 - e^{\text{logvar}_d}\big)$$
#
# It is 0 exactly when μ = 0 and σ = 1, and positive otherwise.
#
# **Exercise 6.** `vae_kl_divergence(mu, logvar, reduction="mean")` with mu, logvar of shape (N, D): the
# per-example KL summed over D; `reduction` `"none"` returns the (N,) array, `"mean"` / `"sum"` reduce
# over the batch to a float. `ValueError` for another reduction, or if mu and logvar are not both (N, D).

# %% nbgrader={"grade": false, "grade_id": "vae_kl_divergence", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vae_kl_divergence(mu, logvar, reduction="mean"):
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) per example (summed over D), then reduced over the batch."""
    ### BEGIN SOLUTION
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both be (N, D), got {mu.shape} and {logvar.shape}")
    kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)
    if reduction == "none":
        return kl
    if reduction == "mean":
        return float(kl.mean())
    if reduction == "sum":
        return float(kl.sum())
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_vae_kl_divergence", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vae_kl_divergence", "seed": 1706}
check_vae_kl_divergence(vae_kl_divergence)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vae_kl_divergence", vae_kl_divergence, seed=1706)
### END HIDDEN TESTS

# %% [markdown]
# The closed form against two independent references: `torch.distributions.kl_divergence`, and a
# **Monte-Carlo estimate** $\frac1M \sum_m \big[\log q(z_m) - \log p(z_m)\big]$ with $z_m$ drawn by your
# reparameterisation. The estimate's standard error shrinks like $1/\sqrt M$:

# %%
mu_t = np.array([[0.5, -1.0], [2.0, 0.3]])
logvar_t = np.array([[0.0, -1.0], [0.7, 0.2]])
closed = vae_kl_divergence(mu_t, logvar_t, reduction="none")
q = torch.distributions.Normal(torch.from_numpy(mu_t), torch.from_numpy(np.exp(0.5 * logvar_t)))
p = torch.distributions.Normal(torch.zeros(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))
print("closed form:", closed, "| torch.distributions:", torch.distributions.kl_divergence(q, p).sum(1).numpy())


def log_normal(z, mu, logvar):
    return -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mu) ** 2 / np.exp(logvar), axis=-1)


mc_rng = np.random.default_rng(0)
for m in (100, 10_000, 300_000):
    eps = mc_rng.standard_normal((m, *mu_t.shape))                         # (M, N, D)
    z = vae_reparameterize(np.broadcast_to(mu_t, eps.shape), np.broadcast_to(logvar_t, eps.shape), eps)
    terms = log_normal(z, mu_t, logvar_t) - log_normal(z, 0.0, 0.0)       # (M, N)
    print(f"M = {m:>9,}: Monte Carlo {terms.mean(0)} ± {terms.std(0) / np.sqrt(m)}")

# %% [markdown]
# **The loss.** We need a likelihood $p(x\mid z)$. For pixels in [0, 1] the usual choice — and ours — is
# **Bernoulli**: the decoder outputs one logit per pixel, $p = \sigma(\text{logit})$, and
# $-\log p(x\mid z) = \sum_\text{pixels} \mathrm{BCE}(p, x)$. (A Gaussian likelihood with fixed σ would give a
# scaled squared error instead.) Our digits have grey levels, not 0/1, so strictly the BCE is a
# cross-entropy to soft targets: its minimum is the entropy of the targets, not 0; we print that floor
# below so the number means something. The VAE minimises the **negative ELBO**, estimated with one
# sample $z$ per example:
#
# $$\mathcal L = \underbrace{\sum_\text{pixels}\mathrm{BCE}(\sigma(\text{logits}), x)}_{\text{recon}} + \beta\cdot\underbrace{\mathrm{KL}}_{\text{kl}},\qquad \beta = 1$$
#
# **Exercise 7.** `vae_loss(logits, x, mu, logvar, beta=1.0)` returns `(loss, recon, kl)` as floats, each the
# mean over the N examples; `recon` sums over all the other axes of `logits`. Use the stable form
# $\mathrm{BCE} = \max(l, 0) - l\,x + \log(1 + e^{-|l|})$ (`np.log1p`). `ValueError` if `logits` and `x` differ
# in shape. Use your `vae_kl_divergence`.

# %% nbgrader={"grade": false, "grade_id": "vae_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vae_loss(logits, x, mu, logvar, beta=1.0):
    """Negative ELBO with a Bernoulli decoder: (loss, recon, kl), means over the batch."""
    ### BEGIN SOLUTION
    if logits.shape != x.shape:
        raise ValueError(f"logits and x must have the same shape, got {logits.shape} and {x.shape}")
    bce = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    recon = float(bce.reshape(len(x), -1).sum(axis=1).mean())
    kl = vae_kl_divergence(mu, logvar, "mean")
    return recon + beta * kl, recon, kl
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_vae_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vae_loss", "seed": 1707}
check_vae_loss(vae_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vae_loss", vae_loss, seed=1707)
### END HIDDEN TESTS

# %% [markdown]
# ### Training a VAE with a 2-D latent space
#
# `ConvVAE(latent_dim=2)` is the autoencoder of section 4 whose encoder outputs 2 + 2 numbers (μ, logvar).
# While training it decodes $z = \mu + \sigma\varepsilon$; the loss is `vae_loss_torch`, the torch twin of your
# `vae_loss` (torch needs it to compute gradients). We check that the two agree on a batch.

# %%
torch.manual_seed(0)
vae = ConvVAE(latent_dim=2)
t_start = time.perf_counter()
vae_curve = train_autoencoder(vae, X_train, epochs=25, desc="VAE, D=2")
vae_seconds = time.perf_counter() - t_start
print(f"trained in {vae_seconds:.1f} s ({count_params(vae):,} parameters)")

with torch.no_grad():
    xt = torch.from_numpy(X_test)
    mu_v, logvar_v = vae.encode(xt)
    mu_v, logvar_v = mu_v.double().numpy(), logvar_v.double().numpy()
    elbo_rng = np.random.default_rng(0)
    estimates = []
    for _ in range(20):                                                # 20 samples of z per test digit
        z = vae_reparameterize(mu_v, logvar_v, elbo_rng.standard_normal(mu_v.shape))
        logits = vae.decode(torch.from_numpy(z).float()).double().numpy()
        estimates.append(vae_loss(logits, X_test.astype(np.float64), mu_v, logvar_v))
    torch_loss = vae_loss_torch(vae.decode(torch.from_numpy(z).float()).double(), xt.double(),
                                torch.from_numpy(mu_v), torch.from_numpy(logvar_v))[0].item()
loss_v, recon_v, kl_v = np.mean(estimates, axis=0)
x64 = X_test.astype(np.float64).reshape(len(X_test), -1)
floor = float(np.mean(np.sum(-(x64 * np.log(np.clip(x64, 1e-12, 1)) + (1 - x64) * np.log(np.clip(1 - x64, 1e-12, 1))),
                             axis=1)))
print(f"your vae_loss vs vae_loss_torch on the last sample: {estimates[-1][0]:.6f} vs {torch_loss:.6f}")
print(f"test negative ELBO {loss_v:.2f} nats per digit = recon {recon_v:.2f} + KL {kl_v:.2f}   (ELBO = {-loss_v:.2f})")
print(f"recon floor (entropy of the grey-level targets): {floor:.2f} nats → recon above the floor: {recon_v - floor:.2f}")
print(f"mean-code reconstruction MSE: {mse(reconstruct(vae, X_test), X_test):.4f} "
      f"(plain autoencoder with D=2: {rows[0][3]:.4f})")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(range(1, len(vae_curve) + 1), vae_curve, marker="o", ms=3)
axes[0].set(xlabel="epoch", ylabel="negative ELBO (nats / digit)", title="VAE training loss")
sc = axes[1].scatter(mu_v[:, 0], mu_v[:, 1], c=y_test, cmap="tab10", s=10, vmin=0, vmax=9)
for k in range(10):
    axes[1].annotate(str(k), np.median(mu_v[y_test == k], axis=0), weight="bold", fontsize=12,
                     color=sc.cmap(sc.norm(k)))
axes[1].set(xlabel="μ₁", ylabel="μ₂", title="latent means of the test digits")
fig.colorbar(sc, ax=axes[1], ticks=range(10))
fig.tight_layout()

# %% [markdown]
# The price of the KL term shows in the mean-code reconstruction error: a little worse than the plain
# D = 2 autoencoder's, because the codes may not spread out freely. In exchange,
# the classes form clusters although the VAE never saw a label, and — thanks to the KL term — they sit
# around the origin within a few units, roughly like samples of $\mathcal N(0, I)$. That is what makes the
# VAE a **generator**: decode any $z$ from the prior and you get a plausible digit. Kingma & Welling's
# figure 4 decodes a grid over the 2-D latent space (evenly spaced quantiles of the prior); here is a
# plain evenly spaced grid, next to the same kind of grid decoded by
# the plain D = 2 autoencoder of section 4 (its codes are spread at their own scale, so its grid spans
# its codes' range):

# %%
def decode_grid(model, lim_x, lim_y, n=10):
    """One (n·9, n·9) picture: the decoded 8×8 digits of an n×n grid of codes, with 1-pixel grey borders."""
    g1, g2 = np.linspace(*lim_x, n), np.linspace(*lim_y, n)
    zz = np.array([[a, b] for b in g2[::-1] for a in g1], dtype=np.float32)   # rows top → bottom: z₂ decreasing
    with torch.no_grad():
        imgs = torch.sigmoid(model.decode(torch.from_numpy(zz))).numpy()[:, 0]   # (n·n, 8, 8)
    tiles = np.pad(imgs, ((0, 0), (0, 1), (0, 1)), constant_values=0.4)            # (n·n, 9, 9)
    return tiles.reshape(n, n, 9, 9).transpose(0, 2, 1, 3).reshape(n * 9, n * 9)


with torch.no_grad():
    ae_codes = sweep[2].encode(torch.from_numpy(X_test)).numpy()
lo, hi = np.percentile(ae_codes, [2, 98], axis=0)
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
axes[0].imshow(decode_grid(vae, (-2.5, 2.5), (-2.5, 2.5)), cmap="gray")
axes[0].set_title("VAE: decoder on a grid z ∈ [−2.5, 2.5]²")
axes[1].imshow(decode_grid(sweep[2], (lo[0], hi[0]), (lo[1], hi[1])), cmap="gray")
axes[1].set_title("plain autoencoder, D = 2: grid over its codes")
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
print(f"spread of the test codes (std per dimension): VAE means {mu_v.std(axis=0)}, plain autoencoder {ae_codes.std(axis=0)}")

# %% [markdown]
# Be honest about what this shows: in two dimensions, on these small digits, the plain autoencoder's grid
# also decodes to digits almost everywhere inside its codes' range, and its codes even have a similar spread.
# The difference is a guarantee, not luck: the VAE's KL term *pins* its codes to $\mathcal N(0, I)$, so we
# know where to sample before looking at any data, and gaps between clusters are penalised; the plain
# autoencoder's code scale and shape are whatever training happened to produce (with more dimensions its
# codes fill only a thin part of the space, and decoding random points gives garbage).

# %% [markdown]
# ### Explore the latent space
#
# Move the sliders: the cross moves through the VAE's latent space and the decoder draws that code live.
# Walk from one cluster to another and watch one digit morph into the next. (Pass `sweep[2]` and its codes
# instead to compare with the plain autoencoder.)

# %%
explorer = LatentExplorer(vae, codes=mu_v, labels=y_test, limit=3.0)
explorer.set_z(*np.median(mu_v[y_test == 0], axis=0))
explorer

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **反卷积 → 转置卷积.** The notes call the transposed convolution 反卷积 ("deconvolution"); it does not invert a convolution, so the course uses 转置卷积 (errata 51d97dd).
# > * **VAE.** The notes only name the variational autoencoder; the chapter derives its loss (a Bernoulli decoder's negative ELBO with the closed-form KL).

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does a VAE sample $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim N(0, I)$ instead of drawing $z \sim N(\mu, \sigma^2)$ directly?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_reparam", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Backpropagation cannot pass through a random draw whose distribution depends on the parameters. Writing z as a deterministic, differentiable function of μ, σ and noise that does not depend on them lets the gradient of the reconstruction loss reach the encoder, with much lower variance than score-function (REINFORCE) estimators.
#
# **Rubric (2 points).** 1 pt: sampling is not differentiable in μ, σ. 1 pt: the noise is moved outside, z is differentiable (low-variance gradient).
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why can transposed convolutions leave checkerboard artifacts, and what are two common fixes?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_checkerboard", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** When the kernel size is not a multiple of the stride, the kernel stamps overlap unevenly: with K = 3, S = 2 every other output pixel receives two contributions and its neighbours one, a periodic pattern the network must learn to cancel. Fixes: a kernel divisible by the stride (K = 4, S = 2), or upsampling (nearest or bilinear) followed by an ordinary convolution (Odena et al., 2016).
#
# **Rubric (2 points).** 1 pt: uneven overlap when K is not divisible by S. 1 pt: either fix.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). What does the KL term of the VAE loss do, and what happens if it is dropped or weighted too strongly?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_kl", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** It pulls each $q(z|x)$ towards $N(0, I)$, so the codes fill a smooth region around 0 and decoding a sample from the prior gives a plausible image. Without it the model is a plain autoencoder: codes spread out, the prior's samples fall into holes and decode to garbage. Too strong a weight makes the posterior ignore x (posterior collapse): blurry, average reconstructions.
#
# **Rubric (2 points).** 1 pt: regularises codes towards the prior so sampling works. 1 pt: either failure mode.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# - A **transposed convolution** stamps the kernel once per input pixel, S pixels apart:
#   $N_{out} = (N-1)S - 2P + K + OP$. It is the transpose (the backward pass) of the convolution with the
#   same weight — the `dx` of Chapter 2 — and learns how to upsample; uneven overlap (K not a multiple of S)
#   causes checkerboards.
# - **Max unpooling** puts the pooled maxima back at the recorded positions; interpolation spreads them.
# - An **autoencoder**'s bottleneck is lossy compression: with 8-bit codes, 16 down to 2 numbers
#   (2–16× compression) trade bits for reconstruction error, ahead of PCA with the same number of numbers.
# - A **denoising** autoencoder learns to map corrupted digits to clean ones.
# - A **VAE** encodes a distribution, samples it with the reparameterisation trick, and minimises the
#   negative ELBO = reconstruction + KL to N(0, I); its latent space is smooth enough to decode anywhere.

# %%
print(f"notebook ran in {time.perf_counter() - T0:.1f} s")
