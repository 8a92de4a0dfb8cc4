# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 15 — Making models small and fast
#
# A trained network is a big table of float32 numbers, and running it is mostly multiplying them.
# Model compression (模型压缩) makes the table smaller and the multiplications fewer or cheaper, so
# that a model fits on a phone, an FPGA or a microcontroller and answers in time. The number to
# remember: **Deep Compression** (Han, Mao & Dally, ICLR 2016) shrank AlexNet from 240 MB to 6.9 MB —
# **35× smaller, without loss of accuracy** — by pruning, quantization and Huffman coding; VGG-16 went
# from 552 MB to 11.3 MB (49×).
#
# The lecture notes list the families of methods; this chapter builds the core of each in numpy and
# applies it to the Chapter-7 digits CNN (LeNet-5 with batch norm):
#
# * linear quantization (量化) to 1/2 bits, int8 and fp16 — weight quantization (权重量化);
# * op-level fast algorithms: FFT convolution (7×7, 9×9 kernels) and Winograd convolution (3×3);
# * channel pruning (通道剪枝), structured, and weight sparsification (权重稀疏化), unstructured;
# * network distillation (网络蒸馏): the uncompressed model supervises the compressed one; the notes
#   quote **+0.5–2.0 % accuracy at the same compression**.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `quant_params` — scale and zero point, affine and symmetric, per tensor and per channel | 3 |
# | 2 | `quantize` — float → int with rounding and clamping | 2 |
# | 3 | `dequantize` — int → float | 1 |
# | 4 | `magnitude_prune` — unstructured pruning mask, per layer or global | 2 |
# | 5 | `channel_prune_mask` — structured pruning by the L1 norm of filters | 2 |
# | 6 | `distillation_loss` — soft targets at temperature T, with the T² factor | 3 |
# | 7 | `winograd_f2x2_3x3` — 3×3 convolution with 16 instead of 36 multiplies per tile | 3 |
#
# Every exercise has a `check_*` cell that explains the first thing that is wrong. While your
# function is checked, `torch`, `scipy` and the course's reference implementations (including
# `course_lib.reference.compress` and `course_lib.reference.conv`) are switched off: write the numpy yourself. The chapter
# ends with a table of size, accuracy and latency for every variant of the model, measured side by
# side.
#
# **Key terms** ([glossary](../../docs/glossary.md)): model compression 模型压缩 · quantization 量化 · linear (uniform) quantization 线性量化 · weight quantization 权重量化 · half precision (fp16) 半精度 · pruning 剪枝 · channel pruning 通道剪枝 · weight sparsification 权重稀疏化 · network (knowledge) distillation 网络蒸馏 · soft targets 软目标 · FFT convolution FFT卷积 · Winograd convolution Winograd卷积

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from threadpoolctl import threadpool_limits
from torch import nn

from course_lib.data import digits_split
from course_lib.models import LeNet5, count_params, digits_to_32
from course_lib.reference import compress
from course_lib.reference.conv import conv2d
from course_lib.testing import (
    check_channel_prune_mask,
    check_dequantize,
    check_distillation_loss,
    check_magnitude_prune,
    check_quant_params,
    check_quantize,
    check_winograd_f2x2_3x3,
)
from course_lib.train import evaluate, fit
from course_lib.viz.compress import QuantizationExplorer

np.set_printoptions(precision=4, suppress=True)
# One thread for torch and for numpy's BLAS: the models are small, and single-threaded timings compare
# fairly and stay stable when the CPU is shared.
torch.set_num_threads(1)
threadpool_limits(1)


def median_ms(fns, repeats=7):
    """{name: median milliseconds} of several functions, timed side by side (interleaved rounds)."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


# %% [markdown]
# ## 1. The model to compress
#
# The Chapter-7 digits CNN: LeNet-5 with batch norm on the 8×8 digits upsampled to 32×32, trained with
# Adam and a cosine schedule (a few seconds). It is the **teacher** of Section 4 and the float32
# baseline of every comparison.

# %%
X_train, y_train, X_test, y_test = digits_split()
X32_train, X32_test = digits_to_32(X_train), digits_to_32(X_test)     # (N, 1, 32, 32) float32 tensors

EPOCHS = 12
torch.manual_seed(0)
model = LeNet5(batch_norm=True)
fit(model, (X32_train, y_train), (X32_test, y_test), epochs=EPOCHS, lr=3e-3, optimizer="adam",
    scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS), seed=0, desc="LeNet-5")
model.eval()
float_acc = evaluate(model, X32_test, y_test)[1]
print(f"LeNet-5: {count_params(model):,} parameters, {compress.model_size_bytes(model):,} bytes in float32, "
      f"test accuracy {float_acc:.1%}")


def weighted_layers(net):
    """The Conv2d and Linear layers of a model, in order, by name."""
    return {name: m for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


for name, layer in weighted_layers(model).items():
    print(f"  {name:<13} {type(layer).__name__:<7} weight {tuple(layer.weight.shape)!s:<16} "
          f"{layer.weight.numel():>6,} weights")

# %% [markdown]
# Three quarters of the weights sit in the first fully-connected layer (400 → 120): that is where
# size is won or lost. The convolutions hold few weights but do most of the arithmetic.
#
# ## 2. Quantization
#
# Quantization stores each number with fewer bits. *Linear* (uniform) quantization represents a real
# value x by an integer q on an evenly spaced grid:
#
# $$x \approx \text{scale}\cdot(q - \text{zero\_point}), \qquad
#   q = \text{clamp}\big(\text{round}(x / \text{scale}) + \text{zero\_point},\ q_{min},\ q_{max}\big)$$
#
# * **Affine** (asymmetric): map the range $[lo, hi]$ onto all of $0 \dots 2^b-1$ (`torch.quint8` for
#   8 bits). The range is first widened to contain 0, $lo = \min(x_{min}, 0)$, $hi = \max(x_{max}, 0)$,
#   so that 0 — zero padding, ReLU outputs, pruned weights — is represented exactly:
#   $\text{scale} = (hi - lo)/(2^b - 1)$, $\text{zero\_point} = \text{round}(-lo/\text{scale})$.
# * **Symmetric**: zero point 0 and integers $-2^{b-1} \dots 2^{b-1}-1$ (`torch.qint8`);
#   $\text{scale} = \max|x| / (2^{b-1}-1)$, so ±max|x| map to ±127 for 8 bits. Simpler arithmetic (no
#   zero point to carry through a matrix product), the usual choice for weights.
# * **Per-tensor** uses one (scale, zero_point) for a whole weight tensor; **per-channel** uses one
#   per output channel (filter), computed over the other axes. Filters with small weights then get a
#   fine grid of their own instead of sharing the grid of the largest filter.
#
# If the range is zero (all-zero x) any scale represents it exactly: use 1.0.
#
# **Exercise 1.** `quant_params(x, bits=8, symmetric=False, axis=None)`. Per tensor return
# `(float, int)`; per channel (`axis` an int) return a float64 scale array and an int64 zero-point array
# that keep x's number of dimensions — size C along `axis`, 1 elsewhere (`keepdims=True`), e.g.
# (F, 1, 1, 1) for conv weights with `axis=0` — so that they broadcast against x. Raise `ValueError`
# unless `bits` is an int in 2..16 and `axis` is None or a valid axis of x.

# %% nbgrader={"grade": false, "grade_id": "quant_params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def quant_params(x, bits=8, symmetric=False, axis=None):
    """Scale and zero point that map the range of ``x`` onto ``bits``-bit integers.

    Args:
        x: float array of any shape, e.g. conv weights (F, C, KH, KW).
        bits: 2..16. Affine integers are 0..2**bits - 1, symmetric -2**(bits-1)..2**(bits-1) - 1.
        symmetric: zero point 0 and scale = max|x| / (2**(bits-1) - 1); otherwise affine.
        axis: None (per tensor) or the channel axis (per channel, over all other axes).

    Returns:
        (scale, zero_point): (float, int) per tensor; per channel, float64 and int64 arrays with
        x.ndim dimensions, size C along ``axis`` and 1 elsewhere.
    """
    ### BEGIN SOLUTION
    if not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in 2..16, got {bits!r}")
    if axis is None:
        others = None
    elif isinstance(axis, (int, np.integer)) and -x.ndim <= axis < x.ndim:
        others = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    else:
        raise ValueError(f"axis {axis!r} does not exist for x of shape {x.shape}")
    lo = np.minimum(x.min(axis=others, keepdims=True), 0).astype(np.float64)   # (1, .., C, .., 1)
    hi = np.maximum(x.max(axis=others, keepdims=True), 0).astype(np.float64)
    if symmetric:
        scale = np.maximum(-lo, hi) / (2 ** (bits - 1) - 1)
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.zeros(scale.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / (2 ** bits - 1)
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.clip(np.round(-lo / scale), 0, 2 ** bits - 1).astype(np.int64)
    if axis is None:
        return float(scale.item()), int(zero_point.item())
    return scale, zero_point
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_quant_params", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "quant_params", "seed": 1501}
check_quant_params(quant_params)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("quant_params", quant_params, seed=1501)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 2.** `quantize(x, scale, zero_point, bits=8, symmetric=False)`: divide, round, add the
# zero point, clamp to the integer range, return an integer array. Round ties to even (`np.round` and
# `np.rint` do, like `torch.quantize_per_tensor`): 2.5 → 2, 3.5 → 4. `scale` and `zero_point` may be
# the per-channel arrays of Exercise 1 — broadcasting does the rest. Return int8/uint8 codes for
# ≤ 8 bits (symmetric/affine), a wider integer type otherwise (any integer dtype passes the checks).
# Raise `ValueError` if any scale is ≤ 0.
#
# **Exercise 3.** `dequantize(q, scale, zero_point)` → float32 `(q − zero_point) · scale`. Careful:
# with uint8 codes, `q - 64` is computed in uint8 and wraps around (0 − 64 = 192). Convert first.

# %% nbgrader={"grade": false, "grade_id": "quantize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def quantize(x, scale, zero_point, bits=8, symmetric=False):
    """q = clamp(round(x / scale) + zero_point, qmin, qmax) as an integer array of x's shape."""
    ### BEGIN SOLUTION
    if np.any(np.asarray(scale) <= 0):
        raise ValueError(f"scale must be > 0, got {scale}")
    qmin, qmax = (-2 ** (bits - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)
    q = np.clip(np.round(x / scale) + zero_point, qmin, qmax)
    if bits <= 8:
        return q.astype(np.int8 if symmetric else np.uint8)
    return q.astype(np.int32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_quantize", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "quantize", "seed": 1502}
check_quantize(quantize)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("quantize", quantize, seed=1502)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "dequantize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dequantize(q, scale, zero_point):
    """x ≈ (q - zero_point) * scale as a float32 array of q's shape."""
    ### BEGIN SOLUTION
    return ((q.astype(np.int64) - zero_point) * scale).astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dequantize", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "dequantize", "seed": 1503}
check_dequantize(dequantize)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("dequantize", dequantize, seed=1503)
### END HIDDEN TESTS

# %% [markdown]
# A round trip on the second convolution's weights (16 filters of 6×5×5). Rounding moves each weight
# by at most half a step, so the error is bounded by scale / 2; the codes take one byte each instead
# of four.

# %%
w_conv2 = model.features[4].weight.detach().numpy()                # (16, 6, 5, 5) float32
for per_channel in (False, True):
    scale, zero_point = quant_params(w_conv2, 8, symmetric=True, axis=0 if per_channel else None)
    codes = quantize(w_conv2, scale, zero_point, 8, symmetric=True)
    error = np.abs(dequantize(codes, scale, zero_point) - w_conv2)
    print(f"{'per-channel' if per_channel else 'per-tensor ':<11}: codes {codes.dtype} {codes.nbytes:,} bytes "
          f"(float32 {w_conv2.nbytes:,}), max error {error.max():.2e} ≤ max scale / 2 = {np.max(scale) / 2:.2e}, "
          f"mean error {error.mean():.2e}")

# %% [markdown]
# What the grid looks like at 3 bits, and how the error falls with the number of bits. Each extra bit
# halves the step, so the error halves too — a straight line on a log scale (the "6 dB per bit" of
# signal processing). Per-channel scales beat the per-tensor symmetric grid at every bit width. At 2 bits
# the symmetric grid has only three usable levels (−1, 0, +1: the fourth, −2, lies beyond −max|w|), so
# affine quantization, which uses all four, does better there.

# %%
scale3, zp3 = quant_params(w_conv2, 3, symmetric=True)
w3 = dequantize(quantize(w_conv2, scale3, zp3, 3, symmetric=True), scale3, zp3)
bits_range = range(2, 9)


def relative_error(w, bits, symmetric, axis):
    scale, zero_point = quant_params(w, bits, symmetric, axis)
    w_q = dequantize(quantize(w, scale, zero_point, bits, symmetric), scale, zero_point)
    return np.linalg.norm(w_q - w) / np.linalg.norm(w)


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
ax1.hist(w_conv2.ravel(), bins=80, color="0.6", label="float32 weights")
levels, counts = np.unique(w3, return_counts=True)
ax1.vlines(levels, 0, counts / 8, color="#d62728", lw=2, label="3-bit values (count / 8)")
for level in (np.arange(-4, 4) - zp3) * scale3:
    ax1.axvline(level, color="#d62728", lw=0.5, ls=":")
ax1.set_title(f"conv2 weights and the 3-bit symmetric grid (step {scale3:.3f})")
ax1.set_xlabel("weight value")
ax1.legend(fontsize=8)
for label, symmetric, axis, style in [("per-tensor, symmetric", True, None, "o-"),
                                      ("per-tensor, affine", False, None, "s-"),
                                      ("per-channel, symmetric", True, 0, "^-")]:
    ax2.plot(bits_range, [relative_error(w_conv2, b, symmetric, axis) for b in bits_range], style, label=label)
ax2.plot(bits_range, [0.5 * 2.0 ** -(b - 2) for b in bits_range], "k--", lw=0.8, label="∝ 2^(−bits)")
ax2.set_yscale("log")
ax2.set_xlabel("bits")
ax2.set_ylabel("‖w_q − w‖ / ‖w‖")
ax2.set_title("quantization error of conv2")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### fp16: fewer bits of mantissa, same idea
#
# Half precision (fp16) keeps a float format: 1 sign bit, 5 exponent bits, 10 mantissa bits. Every
# weight moves by at most $2^{-11} \approx 0.05\,\%$ of its size, as long as it lies in fp16's range:
# at most 65,504, and below $6.1\cdot10^{-5}$ the precision falls off (subnormals). Casting is all it
# takes, and the weights shrink 2×. (Mixed-precision training, not just storage, keeps a float32 master
# copy for this reason.)

# %%
tiny = np.finfo(np.float16).tiny
for name, layer in weighted_layers(model).items():
    w = layer.weight.detach().numpy()
    w16 = w.astype(np.float16)
    normal = np.abs(w) >= tiny
    rel = np.abs(w16.astype(np.float32) - w)[normal] / np.abs(w[normal])
    print(f"{name:<13} max relative error {rel.max():.1e}, weights below fp16's smallest normal "
          f"{tiny:.1e}: {int((~normal).sum())}")


def fp16_copy(net):
    """Weights stored in fp16 (half the bytes), cast back to float32 to compute."""
    half = copy.deepcopy(net)
    with torch.no_grad():
        for t in [*half.parameters(), *half.buffers()]:
            if t.is_floating_point():
                t.copy_(t.half().float())
    return half


model_fp16 = fp16_copy(model)
print(f"test accuracy with fp16 weights: {evaluate(model_fp16, X32_test, y_test)[1]:.1%} (float32 {float_acc:.1%})")

# %% [markdown]
# ### Post-training quantization of the whole model
#
# Post-training quantization (PTQ) needs no retraining: replace every weight tensor by its quantized
# version and evaluate. Here your three functions quantize all five weight tensors (weight-only
# quantization: activations stay in float). Biases and batch-norm parameters stay in float32; they are
# 2 % of the model.

# %%
def quantized_copy(net, bits=8, symmetric=True, per_channel=False):
    """A copy of ``net`` whose Conv2d/Linear weights are dequantize(quantize(w)): weight-only PTQ."""
    qnet = copy.deepcopy(net)
    with torch.no_grad():
        for layer in weighted_layers(qnet).values():
            w = layer.weight.detach().numpy()
            scale, zero_point = quant_params(w, bits, symmetric, axis=0 if per_channel else None)
            w_q = dequantize(quantize(w, scale, zero_point, bits, symmetric), scale, zero_point)
            layer.weight.copy_(torch.from_numpy(np.asarray(w_q, dtype=np.float32)))
    return qnet


def int_model_bytes(net, bits, per_channel):
    """Bytes of ``net`` with ``bits``-bit weights (+ one scale/zero point per tensor or channel), the rest float32."""
    weights = [layer.weight for layer in weighted_layers(net).values()]
    rest = [t for t in [*net.parameters(), *net.buffers()] if all(t is not w for w in weights)]
    n_scales = sum(w.shape[0] for w in weights) if per_channel else len(weights)
    return compress.model_size_bytes(weights, bits=bits, n_scales=n_scales) + compress.model_size_bytes(rest)


print(f"{'bits':>4} {'per-tensor':>11} {'per-channel':>12} {'size (per-channel)':>19}")
for bits in (8, 6, 4, 3, 2):
    accs = [evaluate(quantized_copy(model, bits, per_channel=pc), X32_test, y_test)[1] for pc in (False, True)]
    print(f"{bits:>4} {accs[0]:>11.1%} {accs[1]:>12.1%} {int_model_bytes(model, bits, True):>13,} bytes")
print(f"float32: {float_acc:.1%}, {compress.model_size_bytes(model):,} bytes")

# %% [markdown]
# Eight bits cost nothing here, and even four bits per weight barely move the accuracy once each
# filter has its own scale. Going lower (the notes' 1–2 bits) needs quantization-aware training.
#
# ### Integer arithmetic
#
# Storing int8 weights saves memory; computing in int8 saves time and energy (an int8 multiply-add
# costs a fraction of a float32 one, and SIMD units do 4× as many per instruction). With
# $x \approx s_x(x_q - z_x)$ and $w \approx s_w(w_q - z_w)$ a linear layer becomes
#
# $$y = x w^T + b \approx s_x s_w \Big[\underbrace{(x_q - z_x)(w_q - z_w)^T + b_q}_{\text{int32 accumulator}}\Big],
#   \qquad b_q = \text{round}\big(b / (s_x s_w)\big)$$
#
# and the output is requantized to its own scale with the multiplier $M = s_x s_w / s_y$ stored as a
# fixed-point number (an integer multiply and a shift; Jacob et al., 2018). `compress.quantized_linear`
# does exactly that; here it runs the 400 → 120 layer of LeNet on real activations (uint8, affine:
# they are ≥ 0 after ReLU) with int8 per-channel weights, and is compared with float32.

# %%
fc1 = model.classifier[1]                                          # Linear(400, 120)
with torch.no_grad():
    feats = model.features(X32_test).flatten(1)                    # (360, 400) activations, ≥ 0
    y_float = fc1(feats).numpy()                                   # (360, 120)
feats, w_fc1, b_fc1 = feats.numpy(), fc1.weight.detach().numpy(), fc1.bias.detach().numpy()
x_scale, x_zp = quant_params(feats)                                # affine uint8 activations
w_scale, w_zp = quant_params(w_fc1, symmetric=True, axis=0)        # symmetric int8, per output channel
y_scale, y_zp = quant_params(y_float)                              # output range, calibrated on these data
y_q = compress.quantized_linear(quantize(feats, x_scale, x_zp), quantize(w_fc1, w_scale, w_zp, symmetric=True),
                                x_scale, x_zp, w_scale, w_zp, b_fc1, y_scale, y_zp)
y_int = dequantize(y_q, y_scale, y_zp)
err = np.abs(y_int - y_float)
print(f"int8 × uint8 → int32 → uint8 layer: max |error| {err.max():.4f} = {err.max() / y_scale:.2f} output steps "
      f"(step {y_scale:.4f}); mean {err.mean() / y_scale:.2f} steps")
fig, ax = plt.subplots(figsize=(4, 3.2))
ax.plot(y_float.ravel()[::7], y_int.ravel()[::7], ".", ms=2)
ax.plot([y_float.min(), y_float.max()], [y_float.min(), y_float.max()], "k--", lw=0.8)
ax.set_xlabel("float32 output")
ax.set_ylabel("integer pipeline output")
ax.set_title("fc1: integer vs float")
plt.show()

# %% [markdown]
# ### Quantization explorer
#
# Pick a layer, the number of bits, per-channel or per-tensor, symmetric or affine. Left: the weights
# and the quantization grid (in per-channel mode, the grid of the filter with the smallest range).
# Middle: the relative error of every output channel (bars: current mode; dots: the other mode).
# Right: test accuracy of the model with *only this layer* quantized, for every bit width.
#
# Things to try: the first convolution at 2–3 bits per tensor and per channel; the 400 → 120 layer
# (which holds most of the weights) at 4 bits; affine against symmetric for the last layer.

# %%
explorer = QuantizationExplorer(model, X32_test, y_test, bits=3)
explorer

# %% [markdown]
# ## 3. Pruning
#
# Many trained weights are close to zero and can be removed. Two flavours:
#
# * **Unstructured** pruning, weight sparsification (权重稀疏化): zero the individual weights with the
#   smallest magnitude |w| (Han et al., 2015). High sparsity is possible, but the weight tensors keep
#   their shape: the model only gets smaller if stored in a sparse format, and only faster with
#   sparse kernels.
# * **Structured** pruning, channel pruning (通道剪枝): remove whole filters — output channels — and
#   with them the matching input channels of the next layer. The result is a smaller dense network
#   that any framework runs faster as it is. Li et al. (2017) rank filters by their L1 norm
#   $\sum |w_f|$.
#
# **Exercise 4.** `magnitude_prune(w, sparsity)` returns a bool mask (True = keep) that removes exactly
# $k = \text{round}(\text{sparsity}\cdot n)$ of the n weights, those with the smallest |w|. Break ties
# by position (`np.argsort(..., kind="stable")` does): among equal magnitudes, earlier entries go first.
# `w` may also be a list of arrays: then use **one global threshold** over all of them (rank all
# weights together) and return a list of masks. Raise `ValueError` unless 0 ≤ sparsity ≤ 1.

# %% nbgrader={"grade": false, "grade_id": "magnitude_prune", "locked": false, "schema_version": 3, "solution": true, "task": false}
def magnitude_prune(w, sparsity):
    """Bool mask(s) keeping all but the round(sparsity · n) smallest-magnitude weights.

    Args:
        w: an array (per-layer pruning) or a list of arrays (global pruning).
        sparsity: fraction to remove, in [0, 1].

    Returns:
        A bool array of w's shape (True = keep), or a list of them for a list.
    """
    ### BEGIN SOLUTION
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    arrays = [w] if isinstance(w, np.ndarray) else list(w)
    flat = np.concatenate([np.abs(a).ravel() for a in arrays])     # all magnitudes, ranked together
    k = round(sparsity * flat.size)
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argsort(flat, kind="stable")[:k]] = False
    masks, start = [], 0
    for a in arrays:
        masks.append(keep[start:start + a.size].reshape(a.shape))
        start += a.size
    return masks[0] if isinstance(w, np.ndarray) else masks
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_magnitude_prune", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "magnitude_prune", "seed": 1504}
check_magnitude_prune(magnitude_prune)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("magnitude_prune", magnitude_prune, seed=1504)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 5.** `channel_prune_mask(weight, keep_ratio)`: weight is (F, C, KH, KW) for a convolution
# or (F, D) for a linear layer; filter f is `weight[f]`. Keep the $k = \max(1, \text{round}(\text{keep\_ratio}\cdot F))$
# filters with the largest L1 norm; among equal norms keep the lower index. Return a bool array (F,).
# Raise `ValueError` unless 0 < keep_ratio ≤ 1.

# %% nbgrader={"grade": false, "grade_id": "channel_prune_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def channel_prune_mask(weight, keep_ratio):
    """Bool mask (F,) keeping the filters with the largest L1 norms."""
    ### BEGIN SOLUTION
    if not 0 < keep_ratio <= 1:
        raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    n_filters = weight.shape[0]
    norms = np.abs(weight).reshape(n_filters, -1).sum(axis=1)      # L1 norm of every filter
    k = max(1, round(keep_ratio * n_filters))
    keep = np.zeros(n_filters, dtype=bool)
    keep[np.argsort(-norms, kind="stable")[:k]] = True
    return keep
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_channel_prune_mask", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "channel_prune_mask", "seed": 1505}
check_channel_prune_mask(channel_prune_mask)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("channel_prune_mask", channel_prune_mask, seed=1505)
### END HIDDEN TESTS

# %% [markdown]
# ### Pruning LeNet-5
#
# Unstructured: one global magnitude threshold over all five weight tensors, applied with
# `torch.nn.utils.prune.custom_from_mask`, which makes the layer compute with `weight_orig * mask` —
# so the pruned weights stay zero while the others are fine-tuned.
#
# Structured: `slim_lenet` keeps the filters (rows) with the largest L1 norms in every layer but the
# last and builds a genuinely smaller network — each removed conv filter also removes its batch-norm
# channel and the matching inputs of the next layer (25 inputs of the 400 → 120 layer per filter of the
# second convolution). For a fair x-axis both curves use the fraction of weights removed.

# %%
def pruned_copy(net, sparsity):
    """Global magnitude pruning of every Conv2d/Linear weight; the masks stay attached for fine-tuning."""
    pnet = copy.deepcopy(net)
    layers = list(weighted_layers(pnet).values())
    masks = magnitude_prune([layer.weight.detach().numpy() for layer in layers], sparsity)
    for layer, mask in zip(layers, masks):
        prune.custom_from_mask(layer, "weight", torch.from_numpy(mask))
    return pnet


def slim_lenet(net, keep_ratio):
    """A smaller copy of a LeNet5 with the highest-L1 filters/neurons of every layer but the last."""
    slim = copy.deepcopy(net)
    modules = [*slim.features, *slim.classifier]
    layers = [m for m in modules if isinstance(m, (nn.Conv2d, nn.Linear))]
    kept, channels = torch.arange(layers[0].weight.shape[1]), layers[0].weight.shape[1]
    for i, layer in enumerate(layers):
        w = layer.weight.data
        if isinstance(layer, nn.Linear) and w.shape[1] != channels:             # after Flatten
            per = w.shape[1] // channels                                        # 25 = 5×5 positions
            kept = (kept[:, None] * per + torch.arange(per)).reshape(-1)
        w = w[:, kept]                                                          # drop removed inputs
        out = torch.arange(w.shape[0]) if i == len(layers) - 1 else \
            torch.from_numpy(np.flatnonzero(channel_prune_mask(w.numpy(), keep_ratio)))
        layer.weight = nn.Parameter(w[out].clone())
        layer.bias = nn.Parameter(layer.bias.data[out].clone())
        if isinstance(layer, nn.Conv2d):
            layer.in_channels, layer.out_channels = len(kept), len(out)
        else:
            layer.in_features, layer.out_features = len(kept), len(out)
        after = modules[modules.index(layer) + 1:]
        bn = after[0] if after else None
        if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):                    # its channels go too
            bn.weight, bn.bias = nn.Parameter(bn.weight.data[out].clone()), nn.Parameter(bn.bias.data[out].clone())
            bn.running_mean, bn.running_var = bn.running_mean[out].clone(), bn.running_var[out].clone()
            bn.num_features = len(out)
        kept, channels = out, w.shape[0]
    return slim


def n_weights(net, nonzero=False):
    """Number of (non-zero) Conv2d/Linear weights."""
    ws = [m.weight for m in weighted_layers(net).values()]
    return sum(int((w != 0).sum()) if nonzero else w.numel() for w in ws)


total = n_weights(model)
sparsities = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95]
acc_unstructured = [evaluate(pruned_copy(model, s), X32_test, y_test)[1] for s in sparsities]
keep_ratios = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
slims = [slim_lenet(model, r) for r in keep_ratios]
removed_structured = [1 - n_weights(s) / total for s in slims]
acc_structured = [evaluate(s, X32_test, y_test)[1] for s in slims]
print("channel pruning:", ", ".join(f"keep {r:.0%} → {rm:.0%} of weights removed" for r, rm in
                                   zip(keep_ratios[1::2], removed_structured[1::2])))

# %% [markdown]
# Pruning hurts less if the network adapts afterwards. Fine-tune for 2 epochs with the masks in place
# (unstructured at 50, 80 and 90 % sparsity), and the slim network that keeps half of the filters of
# every layer.

# %%
FINE_TUNE = 2
pruned = {}
for s in (0.5, 0.8, 0.9):
    pnet = pruned_copy(model, s)
    fit(pnet, (X32_train, y_train), epochs=FINE_TUNE, lr=1e-3, seed=1, progress=False)
    for layer in weighted_layers(pnet).values():
        prune.remove(layer, "weight")                          # make the zeros permanent: a plain weight again
    pruned[s] = pnet.eval()
slim_model = slim_lenet(model, 0.5)
slim_before = evaluate(slim_model, X32_test, y_test)[1]
fit(slim_model, (X32_train, y_train), epochs=FINE_TUNE, lr=1e-3, seed=1, progress=False)
slim_model.eval()
tuned_unstructured = {s: evaluate(p, X32_test, y_test)[1] for s, p in pruned.items()}
slim_removed, slim_acc = 1 - n_weights(slim_model) / total, evaluate(slim_model, X32_test, y_test)[1]
for s, p in pruned.items():
    print(f"unstructured {s:.0%}: {n_weights(p, nonzero=True):,} of {total:,} weights left, "
          f"accuracy {acc_unstructured[sparsities.index(s)]:.1%} → {tuned_unstructured[s]:.1%} after fine-tuning")
print(f"channel-pruned (keep 50 % of filters): {n_weights(slim_model):,} weights, {count_params(slim_model):,} "
      f"parameters, accuracy {slim_before:.1%} → {slim_acc:.1%} after fine-tuning")

fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(np.array(sparsities) * 100, np.array(acc_unstructured) * 100, "o-", label="unstructured (magnitude)")
ax.plot(np.array(removed_structured) * 100, np.array(acc_structured) * 100, "s-", label="channel pruning (L1)")
ax.plot([s * 100 for s in tuned_unstructured], [a * 100 for a in tuned_unstructured.values()], "o", ms=10,
        mfc="none", mec="C0", mew=2, label="unstructured + fine-tuning")
ax.plot([slim_removed * 100], [slim_acc * 100], "s", ms=10, mfc="none", mec="C1", mew=2,
        label="channel + fine-tuning")
ax.axhline(float_acc * 100, color="k", ls="--", lw=0.8, label="float32, unpruned")
ax.set_xlabel("weights removed (%)")
ax.set_ylabel("test accuracy (%)")
ax.set_title("Accuracy vs sparsity: LeNet-5 on digits")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# Without fine-tuning, accuracy collapses somewhere past 70–80 % sparsity; two epochs of fine-tuning
# bring 90 % sparse networks back to within about a point of the original. Removing whole channels
# costs more accuracy per weight removed, but its result is a dense network 4× smaller that
# needs no sparse format and no sparse kernel. Han et al. (2016) pruned AlexNet's weights by 9× this
# way, then quantized the survivors to 5–8 bits.
#
# ## 4. Distillation
#
# A large model (the *teacher*) knows more than its top-1 answers: for a 3 it gives the 8 a little
# probability and the 1 almost none. Hinton, Vinyals & Dean (2015) train a small *student* to match
# those **soft targets** $p^T = \text{softmax}(z / T)$, where a temperature $T > 1$ flattens the
# distribution so that the small probabilities matter ("dark knowledge"). Their loss mixes the soft
# term with the usual cross-entropy on the labels:
#
# $$L = \alpha\, T^2\, \mathrm{KL}\big(p_t^T \,\|\, p_s^T\big) + (1-\alpha)\,\mathrm{CE}\big(\text{softmax}(z_s), y\big),
#   \qquad \mathrm{KL}(p\|q) = \frac{1}{N}\sum_n\sum_k p_{nk}\,(\log p_{nk} - \log q_{nk})$$
#
# Why $T^2$: the gradient of the soft term with respect to the student's logits is
# $\frac{1}{T}(p_s^T - p_t^T)$, and the soft targets themselves differ from each other by about
# $1/T$, so the soft gradients shrink like $1/T^2$. Multiplying by $T^2$ keeps the two terms balanced
# when T changes. The KL term is PyTorch's
# `F.kl_div(F.log_softmax(z_s / T, 1), F.softmax(z_t / T, 1), reduction="batchmean")`; both
# cross-entropy and KL are averaged over the batch.
#
# First, the teacher's outputs for one digit at T = 1 and T = 4:

# %%
with torch.no_grad():
    teacher_logits = model(X32_train)                               # (N_train, 10)
i = int(np.flatnonzero(y_train == 3)[0])
fig, axes = plt.subplots(1, 3, figsize=(10, 2.4), gridspec_kw={"width_ratios": [1, 3, 3]})
axes[0].imshow(X_train[i, 0], cmap="gray_r")
axes[0].set_axis_off()
for ax, T in zip(axes[1:], (1.0, 4.0)):
    p = F.softmax(teacher_logits[i] / T, dim=0).numpy()
    ax.bar(range(10), p)
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 1.5)
    ax.set_xticks(range(10))
    ax.set_title(f"teacher softmax, T = {T:g}")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Exercise 6.** `distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9)` with
# (N, K) logits and (N,) integer labels; return a Python float. Compute every log-probability as a
# numerically stable log-softmax, $z - \max z - \log\sum e^{z - \max z}$: teacher logits of ±1000 must
# work (`np.log(softmax(...))` gives `log(0) = -inf` there, and 0 · (−∞) is NaN — the KL term uses
# $p \cdot (\log p - \log q)$ with $\log p$ from the log-softmax, so those terms are exactly 0).

# %% nbgrader={"grade": false, "grade_id": "distillation_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def distillation_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    """alpha · T² · KL(softmax(t / T) ‖ softmax(s / T)) + (1 − alpha) · CE(s, labels), batch means.

    Args:
        student_logits, teacher_logits: (N, K) float arrays.
        labels: (N,) ints in 0..K-1.
        T: temperature > 0. alpha: weight of the soft term in [0, 1].

    Returns:
        The loss as a float.
    """
    ### BEGIN SOLUTION
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    n = len(student_logits)
    log_p_student, log_p_teacher = log_softmax(student_logits / T), log_softmax(teacher_logits / T)
    kl = np.sum(np.exp(log_p_teacher) * (log_p_teacher - log_p_student)) / n
    ce = -np.mean(log_softmax(student_logits)[np.arange(n), labels])
    return float(alpha * T**2 * kl + (1 - alpha) * ce)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_distillation_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "distillation_loss", "seed": 1506}
check_distillation_loss(distillation_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("distillation_loss", distillation_loss, seed=1506)
### END HIDDEN TESTS

# %% [markdown]
# Training needs gradients, so the student is trained with the same loss written in torch. It agrees
# with yours:

# %%
def distill_loss_torch(s, t, y, T=4.0, alpha=0.9):
    soft = F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(s, y)


s_demo = torch.randn(8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
t_demo = teacher_logits[:8].double()
y_demo = torch.as_tensor(y_train[:8])
print(f"torch {distill_loss_torch(s_demo, t_demo, y_demo).item():.10f}   "
      f"yours {distillation_loss(s_demo.numpy(), t_demo.numpy(), y_train[:8]):.10f}")

# %% [markdown]
# ### A small student, with and without the teacher
#
# The student is a one-hidden-layer MLP on the raw 8×8 digits: 1,210 parameters, 50× fewer than
# LeNet-5. Two versions are trained with the same loop, seeds, epochs and data; the only difference is
# the loss — labels alone ($\alpha = 0$) or distillation ($T = 4$, $\alpha = 0.9$). Several seeds,
# because a difference smaller than the seed-to-seed spread means nothing.

# %%
X_train_t, y_train_t, X_test_t = torch.as_tensor(X_train), torch.as_tensor(y_train), torch.as_tensor(X_test)


def make_student():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def train_student(alpha, T=4.0, seed=0, epochs=30, batch_size=128):
    torch.manual_seed(seed)
    student = make_student()
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X_train_t), generator=order)
        for start in range(0, len(perm), batch_size):
            idx = perm[start:start + batch_size]
            loss = distill_loss_torch(student(X_train_t[idx]), teacher_logits[idx], y_train_t[idx], T, alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return student.eval()


SEEDS = range(3)
students = {kind: [train_student(alpha, seed=s) for s in SEEDS] for kind, alpha in
            [("labels only", 0.0), ("distilled", 0.9)]}
student_acc = {kind: [evaluate(s, X_test, y_test)[1] for s in nets] for kind, nets in students.items()}
for kind, accs in student_acc.items():
    print(f"student, {kind:<11}: {np.mean(accs):.1%} ± {np.std(accs):.1%}  (seeds: "
          f"{', '.join(f'{a:.1%}' for a in accs)})")
print(f"teacher LeNet-5: {float_acc:.1%} with {count_params(model):,} parameters; "
      f"student: {count_params(make_student()):,} parameters")
student_model = students["distilled"][0]

# %% [markdown]
# **The honest result.** On the digits, distillation does *not* help this student: the distilled MLPs
# score about half a point *below* the ones trained on the labels alone (compare the means with the
# seed-to-seed spread above). The loss is not to blame — it matches PyTorch's to ten digits. The
# setting is: the 1,437 training labels are clean, the teacher is right on essentially all of them, and
# at T = 4 its distribution over the wrong classes is almost flat (the picture above), so the soft
# targets add little that the labels do not already say and mostly teach the student to be unsure.
# The gains of Hinton et al. — and the notes' +0.5–2 % — come from large data sets with many
# confusable classes, and from using the uncompressed model to supervise the fine-tuning of its own
# compressed (pruned, quantized) copy. Try other settings yourself, e.g. `train_student(0.5, T=2.0)`, and
# always compare against the seed-to-seed spread.
#
# ## 5. Fast convolution: fewer multiplications
#
# The other road to speed keeps the model and computes the same convolution with less arithmetic.
#
# **FFT convolution.** By the convolution theorem, a convolution is a pointwise product of Fourier
# transforms: $x \star w = \mathcal{F}^{-1}\big(\mathcal{F}(x)\cdot\overline{\mathcal{F}(w)}\big)$
# (the conjugate turns convolution into the cross-correlation CNNs compute). The cost,
# $O(HW\log HW)$ per image and filter pair, does not depend on the kernel size, so the FFT wins for
# large kernels — the notes' 7×7 and 9×9. `compress.conv2d_fft` implements it in a dozen lines.
#
# **Winograd's minimal filtering** (Lavin & Gray, 2016) wins for small kernels. For one 2×2 tile of
# outputs of a 3×3 kernel, read the 4×4 input tile d and compute
#
# $$Y = A^T\big[(G\,g\,G^T)\odot(B^T d\,B)\big]A,\quad
# B^T = \begin{bmatrix}1&0&-1&0\\0&1&1&0\\0&-1&1&0\\0&1&0&-1\end{bmatrix},\;
# G = \begin{bmatrix}1&0&0\\ \tfrac12&\tfrac12&\tfrac12\\ \tfrac12&-\tfrac12&\tfrac12\\0&0&1\end{bmatrix},\;
# A^T = \begin{bmatrix}1&1&1&0\\0&1&-1&-1\end{bmatrix}$$
#
# The element-wise product ⊙ of two 4×4 matrices is **16 multiplications** for 4 outputs, against
# 2·2·9 = **36** for the direct method: 2.25× fewer. The transforms $B^T d B$ and $A^T m A$ only add and
# subtract, and $G g G^T$ is computed once per kernel. Over C input channels, the 16 products are summed
# — which turns them into 16 matrix products (tiles × C) @ (C × F).
#
# **Exercise 7.** `winograd_f2x2_3x3(x, weight, bias=None, padding=0)`, stride 1, weight (F, C, 3, 3),
# same result as `F.conv2d`. Steps: zero-pad x (with `padding`, plus extra zeros at the bottom/right so
# that the output size rounds up to even); cut 4×4 tiles with stride 2
# (`np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]`); transform
# tiles and kernels; multiply and sum over C; transform back; put the 2×2 tiles in place; crop to
# H_out × W_out; add the bias. Raise `ValueError` for kernels that are not 3×3.
# (`WINOGRAD_BT`, `WINOGRAD_G` and `WINOGRAD_AT` below are the three matrices.)

# %%
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

# one tile by hand: 16 multiplications give the same 2×2 outputs as 36
d_tile, g_kernel = np.arange(16.0).reshape(4, 4), np.array([[1.0, 2, 0], [0, -1, 1], [3, 0, 1]])
m_tile = (WINOGRAD_G @ g_kernel @ WINOGRAD_G.T) * (WINOGRAD_BT @ d_tile @ WINOGRAD_BT.T)   # 16 products
direct = np.array([[np.sum(d_tile[i:i + 3, j:j + 3] * g_kernel) for j in range(2)] for i in range(2)])
print("Winograd:", (WINOGRAD_AT @ m_tile @ WINOGRAD_AT.T).ravel(), "  direct:", direct.ravel())


# %% nbgrader={"grade": false, "grade_id": "winograd_f2x2_3x3", "locked": false, "schema_version": 3, "solution": true, "task": false}
def winograd_f2x2_3x3(x, weight, bias=None, padding=0):
    """Stride-1 3×3 convolution with Winograd F(2×2, 3×3).

    Args:
        x: input of shape (N, C, H, W).
        weight: kernels of shape (F, C, 3, 3).
        bias: (F,) or None.
        padding: int or (PH, PW), zeros on both sides.

    Returns:
        Array of shape (N, F, H + 2·PH − 2, W + 2·PW − 2), dtype np.result_type(x, weight).
    """
    ### BEGIN SOLUTION
    if weight.shape[2:] != (3, 3) or weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight must have shape (F, {x.shape[1]}, 3, 3), got {weight.shape}")
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    n, c, h, w = x.shape
    f = weight.shape[0]
    dtype = np.result_type(x, weight)
    h_out, w_out = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = (h_out + 1) // 2, (w_out + 1) // 2                         # number of 2×2 output tiles
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    tiles = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]  # (N, C, TH, TW, 4, 4)
    bt, g, at = WINOGRAD_BT.astype(dtype), WINOGRAD_G.astype(dtype), WINOGRAD_AT.astype(dtype)
    v = np.einsum("ak,ncijkl,bl->abnijc", bt, tiles, bt, optimize=True)   # Bᵀ d B: (4, 4, N, TH, TW, C)
    u = np.einsum("ak,fckl,bl->abcf", g, weight.astype(dtype), g)       # G g Gᵀ: (4, 4, C, F)
    m = v.reshape(16, n * th * tw, c) @ u.reshape(16, c, f)             # 16 products summed over C
    m = m.reshape(4, 4, n, th, tw, f)
    y = np.einsum("ia,abnpqf,jb->nfpiqj", at, m, at, optimize=True)      # Aᵀ m A: (N, F, TH, 2, TW, 2)
    out = y.reshape(n, f, 2 * th, 2 * tw)[:, :, :h_out, :w_out]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_winograd_f2x2_3x3", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "winograd_f2x2_3x3", "seed": 1507}
check_winograd_f2x2_3x3(winograd_f2x2_3x3)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("winograd_f2x2_3x3", winograd_f2x2_3x3, seed=1507)
### END HIDDEN TESTS

# %% [markdown]
# Both fast algorithms against the direct convolution (`course_lib.reference.conv.conv2d`: im2col and one
# matrix product, Chapter 2), and then the clock. The multiply counts are per image for the layer
# below; the FFT count is a rough $2\,n\log_2 n$ real multiplies per transform plus 4 per complex product.

# %%
rng = np.random.default_rng(0)
x_fast = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
w3x3 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
reference = conv2d(x_fast, w3x3, None, 1, 1)
for name, fn in [("winograd (yours)", winograd_f2x2_3x3), ("fft", compress.conv2d_fft)]:
    print(f"{name:<17} max |difference| to direct: {np.abs(fn(x_fast, w3x3, None, 1) - reference).max():.1e}")

n_img, c_in, c_out, size = x_fast.shape[0], x_fast.shape[1], w3x3.shape[0], 32
direct_mults = c_out * c_in * size * size * 9
wino_mults = c_out * c_in * (size // 2) ** 2 * 16
fft_len = (size + 2) * (size + 2)
fft_mults = (c_in + c_in * c_out + c_out) * 2 * fft_len * np.log2(fft_len) + 4 * c_in * c_out * (size + 2) * (size // 2 + 2)
times = median_ms({"direct (im2col)": lambda: conv2d(x_fast, w3x3, None, 1, 1),
                   "winograd (yours)": lambda: winograd_f2x2_3x3(x_fast, w3x3, None, 1),
                   "fft": lambda: compress.conv2d_fft(x_fast, w3x3, None, 1)}, repeats=5)
print("\n3×3 layer, x (8, 16, 32, 32), w (16, 16, 3, 3), padding 1:")
for (name, t), mults in zip(times.items(), (direct_mults, wino_mults, fft_mults)):
    print(f"  {name:<17} {mults / 1e6:6.2f} M multiplies per image ({mults / direct_mults:4.2f}× direct's)"
          f"   {t:6.1f} ms (speed {times['direct (im2col)'] / t:4.2f}× direct's)")

# %% [markdown]
# And as the kernel grows: the direct method's work grows with K², the FFT's hardly at all.

# %%
x_big = rng.standard_normal((8, 8, 64, 64)).astype(np.float32)
kernel_sizes = [3, 5, 7, 9, 11]
ratios = []
for k in kernel_sizes:
    wk = rng.standard_normal((8, 8, k, k)).astype(np.float32)
    t = median_ms({"direct": lambda wk=wk, p=k // 2: conv2d(x_big, wk, None, 1, p),
                   "fft": lambda wk=wk, p=k // 2: compress.conv2d_fft(x_big, wk, None, p)})
    ratios.append(t["direct"] / t["fft"])
    print(f"{k:>2}×{k:<2} kernel: direct {t['direct']:6.1f} ms, FFT {t['fft']:6.1f} ms → FFT is {ratios[-1]:.2f}× "
          f"{'faster' if ratios[-1] > 1 else 'as fast'}")
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.bar([f"{k}×{k}" for k in kernel_sizes], ratios, color=["C1" if r < 1 else "C2" for r in ratios])
ax.axhline(1, color="k", lw=0.8)
ax.set_ylabel("speed of FFT / direct")
ax.set_title("FFT vs im2col convolution, x (8, 8, 64, 64)")
plt.show()

# %% [markdown]
# Fewer multiplications are not automatically less time. In numpy, Winograd runs *slower* than the
# im2col convolution despite 2.25× fewer multiplications: every transform is a separate pass over
# memory, and 16 thin matrix products use the BLAS less efficiently than one big one. Libraries that fuse
# the transforms into the product (cuDNN, NNPACK, the ARM Compute Library) turn the saved
# multiplications into saved time for 3×3 layers. The FFT loses for 3×3 and 5×5 kernels and wins from
# about 7×7 on, where the K² work of the direct method takes over — the notes' "FFT for 7×7, 9×9".
#
# ## 6. Summary: every variant side by side
#
# Size counts what must be stored: float32 weights, or 8-bit codes plus one scale and zero point per
# tensor or channel (biases and batch-norm statistics stay float32), or — for unstructured pruning — the
# non-zero weights plus a bitmap of one bit per weight saying where they are. Latency is the median over
# interleaved rounds of classifying the 360 test digits in one batch, all variants measured in the
# same loop. Weight-only quantized and pruned models are run the way PyTorch runs them here: as dense
# float32 models (dequantized weights, zeros included): their speed would need int8 or sparse kernels
# (fbgemm/qnnpack, TensorRT, or the integer pipeline of Section 2 in C).

# %%
def sparse_bytes(net, bits=32):
    """Non-zero weights with ``bits`` bits each + a 1-bit-per-weight bitmap (+ per-channel scales for
    bits < 32); the rest float32."""
    weights = [layer.weight for layer in weighted_layers(net).values()]
    rest = [t for t in [*net.parameters(), *net.buffers()] if all(t is not w for w in weights)]
    n_scales = sum(w.shape[0] for w in weights) if bits < 32 else 0
    return compress.model_size_bytes(weights, bits, sparse=True, n_scales=n_scales) + compress.model_size_bytes(rest)


variants = {  # name: (model, inputs, size in bytes)
    "float32": (model, X32_test, compress.model_size_bytes(model)),
    "fp16 weights": (model_fp16, X32_test, compress.model_size_bytes(model, bits=16)),
    "int8 PTQ, per-tensor": (quantized_copy(model, 8), X32_test, int_model_bytes(model, 8, False)),
    "int8 PTQ, per-channel": (quantized_copy(model, 8, per_channel=True), X32_test, int_model_bytes(model, 8, True)),
    **{f"pruned {s:.0%} + fine-tuned": (p, X32_test, sparse_bytes(p)) for s, p in pruned.items()},
    "pruned 90% + int8 per-channel": (quantized_copy(pruned[0.9], 8, per_channel=True), X32_test,
                                      sparse_bytes(pruned[0.9], bits=8)),
    "channel-pruned 50 % + fine-tuned": (slim_model, X32_test, compress.model_size_bytes(slim_model)),
    "student MLP, labels only": (students["labels only"][0], X_test_t, compress.model_size_bytes(make_student())),
    "student MLP, distilled": (student_model, X_test_t, compress.model_size_bytes(student_model)),
}
accuracy = {name: evaluate(net, x, y_test)[1] for name, (net, x, _) in variants.items()}


def forward(net, x):
    def run():
        with torch.no_grad():
            net(x)
    return run


latency = median_ms({name: forward(net, x) for name, (net, x, _) in variants.items()}, repeats=9)
base_size, base_latency = variants["float32"][2], latency["float32"]
print(f"{'variant':<34} {'size (bytes)':>12} {'smaller':>8} {'test acc':>9} {'latency (ms)':>13} {'speed-up':>9}")
print("-" * 90)
for name, (_, _, size) in variants.items():
    print(f"{name:<34} {size:>12,} {base_size / size:>7.1f}× {accuracy[name]:>9.1%} {latency[name]:>13.2f} "
          f"{base_latency / latency[name]:>8.2f}×")

# %% [markdown]
# Reading the table (latencies move by ±20 % between runs on a shared CPU: only large differences mean
# something):
#
# * **int8** weights make the model almost 4× smaller at the same accuracy, **fp16** 2×. Neither is faster
#   here, because PyTorch computes with the dequantized float32 weights: speed needs int8 kernels.
# * **Unstructured pruning** plus fine-tuning removes 90 % of the weights for about a point of accuracy.
#   With a bitmap, 50 % sparsity makes the model barely 2× smaller, and no sparsity makes it faster: a
#   dense kernel multiplies the zeros too. Pruning and int8 together — Deep Compression's recipe — shrink
#   it more than 10×.
# * **Channel pruning** is the one variant of this CNN that is faster with ordinary kernels: half the
#   filters, 4× fewer weights, 1.5–2× the speed, at most a point of accuracy less.
# * The **student MLP** is 50× smaller and hundreds of times faster, at the price of 4–5 points of
#   accuracy — and on the digits, distillation did not close that gap.
#
# ## Summary
#
# * **Quantization**: $q = \text{clamp}(\text{round}(x/\text{scale}) + \text{zero\_point})$. int8
#   weights make the model 4× smaller at no cost in accuracy on this model; per-channel scales keep
#   4 bits usable. Speed needs integer kernels (an int32 accumulator and a fixed-point requantization
#   step), not just integer storage. fp16 halves the size for free.
# * **Pruning**: magnitude pruning removes 90 % of the weights with fine-tuning, but saves bytes only
#   in a sparse format and time only with sparse kernels; channel pruning by L1 norm gives a smaller
#   *dense* network that is faster everywhere.
# * **Distillation**: soft targets at temperature T, with the T² factor, train a small student from a
#   large teacher; how much it helps depends on the student, the data and the teacher — measure it
#   over several seeds.
# * **Fast convolution**: Winograd F(2×2, 3×3) needs 16 instead of 36 multiplications per tile, the FFT
#   a number independent of the kernel size; whether that is faster depends on how well the
#   implementation uses the memory and the vector units.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch15")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch15_compression/ch15_compression.ipynb`.

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **1–2 bits.** The notes list 1/2-bit quantization; the chapter's post-training quantization goes down to int8 (and fp16): lower needs quantization-aware training.
# > * **Distillation's +0.5–2 %** is the notes' figure for large data sets; on the 1,437 clean digits the chapter measures no gain beyond the seed-to-seed spread and explains why.
# > * **FFT and Winograd.** The notes' "FFT for 7×7, 9×9" is measured: the crossover is about 7×7 here; Winograd F(2×2, 3×3) uses 16 instead of 36 multiplies per output tile.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why are convolution weights quantized per output channel, and why symmetric for weights but affine (with a zero point) for ReLU activations?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_per_channel", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Filters' ranges differ by orders of magnitude; one scale per tensor is set by the largest, so small filters get only a few levels or round to 0. A scale per channel fits each filter. Weights are centred on 0, so symmetric quantization (zero point 0) wastes little and keeps the integer products simple; activations after a ReLU are all ≥ 0, so an affine range [0, max] uses all 256 levels where a symmetric one would waste half.
#
# **Rubric (2 points).** 1 pt: per-channel ranges differ. 1 pt: symmetric for zero-centred weights, affine for one-sided activations.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does 90 % unstructured sparsity rarely make a network faster on a CPU or GPU, while pruning whole channels does?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_structured", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Dense kernels (GEMM, cuDNN) compute zeros like any other number; exploiting scattered zeros needs sparse formats whose indexing overhead and irregular memory access cancel the savings until sparsity is very high or the hardware supports it. Removing channels makes the tensors smaller, so the ordinary dense kernels simply do less work — at a larger accuracy cost per parameter removed.
#
# **Rubric (2 points).** 1 pt: dense hardware does not skip scattered zeros. 1 pt: channel pruning yields smaller dense layers.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). Why is the soft-target term of the distillation loss multiplied by T²?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_distill_t2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** The soft targets are softmaxes at temperature T; the gradient of their cross-entropy with respect to the student's logits is $(q - p)/T$, and for large T the difference $q - p$ itself shrinks like $1/T$, so the gradient scales as $1/T^2$. Multiplying by $T^2$ keeps the soft term's weight relative to the hard-label term the same when T changes (Hinton et al., 2015).
#
# **Rubric (2 points).** 1 pt: the soft gradient scales as 1/T². 1 pt: T² keeps the balance with the hard loss independent of T.
# ### END SOLUTION
