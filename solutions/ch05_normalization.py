# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 5 — Normalization & regularization
#
# Deep networks are hard to train because every layer's input keeps changing while the layers
# before it learn. **Batch normalization** (批归一化, Ioffe & Szegedy, 2015) re-centres and re-scales
# every channel with the statistics of the current mini-batch. Added to Inception (the network
# called BN-Inception, or Inception v2), it reached the accuracy of the original network with
# **14× fewer training steps**, tolerated much higher learning rates, and an ensemble of six of them
# reached 4.9 % top-5 error on the ImageNet validation set (4.82 % on the test set) — better than the
# reported human rate.
#
# **Dropout** (Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, 2014) attacks the other
# big problem, overfitting (过拟合): during training every unit is switched off with probability p,
# so no unit can rely on a particular partner. AlexNet used it in its fully-connected layers and
# reported that without it the network "exhibits substantial overfitting". Before BN, AlexNet also
# used **local response normalization** (局部响应归一化, LRN), which later networks dropped.
#
# In this chapter you implement these layers in numpy, check them against PyTorch, and then watch
# them work in real training runs:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `batch_norm_train` — batch statistics, plus the running statistics update | 3 |
# | 2 | `batch_norm_eval` — normalising with the running statistics | 2 |
# | 3 | `batch_norm_backward` — dx, dγ, dβ with the compact formula | 4 |
# | 4 | `layer_norm` — per-sample normalisation (RNNs, Transformers) | 2 |
# | 5 | `dropout` — inverted dropout, reproducible with a seed | 2 |
# | 6 | `local_response_norm` — AlexNet's LRN, exactly as PyTorch computes it | 3 |
#
# Each exercise has a `check_*` cell that explains the first thing that is wrong. Grading runs the
# same comparison on more, randomised cases. While your function is checked, `torch`, `scipy` and
# the course's reference implementations are switched off: write the numpy yourself.
#
# Shapes follow PyTorch: a batch of feature vectors is `(N, C)`, a batch of images `(N, C, H, W)`;
# batch norm has one mean, variance, γ (gamma, `weight`) and β (beta, `bias`) per channel: shape `(C,)`.
#
# **Key terms** ([glossary](../../docs/glossary.md)): batch normalization 批归一化 · running statistics 滑动平均 (移动平均) 统计量 · momentum (in BN) 动量 · internal covariate shift 内部协变量偏移 · layer normalization 层归一化 · dropout 丢弃法 · inverted dropout 反向丢弃法 · local response normalization 局部响应归一化 · lateral inhibition 侧抑制 · overfitting 过拟合 · regularization 正则化 · weight decay 权重衰减

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import digits_split
from course_lib.gradcheck import gradcheck
from course_lib.models import LeNet5, digits_to_32
from course_lib.testing import (
    check_batch_norm_backward,
    check_batch_norm_eval,
    check_batch_norm_train,
    check_dropout,
    check_layer_norm,
    check_local_response_norm,
)
from course_lib.train import evaluate, fit, plot_histories
from course_lib.viz import show_images
from course_lib.viz.norm import BatchNormExplorer

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # the models here are tiny: one thread is as fast, and steadier on a shared CPU


def channel_axes(x):
    """Axes batch norm averages over: all but the channel axis 1. (N, C) → (0,); (N, C, H, W) → (0, 2, 3)."""
    return (0, *range(2, x.ndim))


def per_channel(v, x):
    """Reshape a per-channel vector (C,) to broadcast against x (N, C, *): (1, C) or (1, C, 1, 1)."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


# %% [markdown]
# ## 1. Batch normalization in training mode
#
# For every channel c, batch norm takes all the values of that channel in the batch — over the N
# samples and, for images, over all H·W positions: m = N·H·W values — and computes
#
# $$\mu_c = \frac1m\sum x, \qquad \sigma_c^2 = \frac1m\sum (x-\mu_c)^2, \qquad
# \hat x = \frac{x-\mu_c}{\sqrt{\sigma_c^2+\epsilon}}, \qquad y = \gamma_c\,\hat x + \beta_c .$$
#
# $\hat x$ has mean 0 and variance 1 in every channel; the learnable $\gamma_c, \beta_c$ let the
# network undo that when it helps (γ = σ, β = μ gives back the input). The lecture notes describe
# the same steps: mean, then variance, then normalise, then scale and shift.
#
# At test time there may be a single image, so there is no batch to average over. The layer
# therefore keeps **running statistics**, updated at every training step:
#
# $$\text{running\_mean} \leftarrow (1-\text{momentum})\cdot\text{running\_mean} + \text{momentum}\cdot\mu_c$$
# $$\text{running\_var} \leftarrow (1-\text{momentum})\cdot\text{running\_var} + \text{momentum}\cdot\tfrac{m}{m-1}\,\sigma_c^2$$
#
# Two details that trip everyone up, both exactly as in PyTorch:
#
# * **momentum is the weight of the new batch** (default 0.1). TensorFlow/Keras call the weight of
#   the *old* value momentum: their `momentum=0.99` is PyTorch's `momentum=0.01`.
# * The variance used to **normalise** is the biased one (divide by m), but the **running** variance
#   stores the unbiased estimate (divide by m − 1, i.e. multiply σ² by m/(m − 1)).
#
# **Exercise 1.** `batch_norm_train` returns `(out, new_running_mean, new_running_var)` and does not
# modify its inputs (PyTorch updates the running statistics in place; returning new arrays is easier
# to test, and section 2 shows how a layer stores them). `weight` (γ) and `bias` (β) may be `None`
# (meaning 1 and 0). Raise `ValueError` if `running_mean`, `running_var`, `weight` or `bias` does not
# have shape `(C,)` for `C = x.shape[1]`, or if there is only one value per channel (m = 1: no
# variance to estimate; PyTorch refuses too). The helpers `channel_axes(x)` and `per_channel(v, x)`
# from the setup cell do the axis bookkeeping for both `(N, C)` and `(N, C, H, W)`.

# %% nbgrader={"grade": false, "grade_id": "batch_norm_train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batch_norm_train(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5):
    """Batch normalisation in training mode, without side effects.

    Args:
        x: input of shape (N, C) or (N, C, H, W).
        running_mean, running_var: running statistics of shape (C,) (not modified).
        weight: gamma, (C,) or None (= ones).
        bias: beta, (C,) or None (= zeros).
        momentum: weight of the new batch statistics in the running averages (PyTorch's meaning).
        eps: added to the variance before the square root.

    Returns:
        (out, new_running_mean, new_running_var): out has the shape and dtype of x, the others (C,).
    """
    ### BEGIN SOLUTION
    c = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if v is not None and v.shape != (c,):
            raise ValueError(f"x has C={c} channels (shape {x.shape}) but {name} has shape {v.shape}")
    axes = channel_axes(x)
    m = x.size // c                                    # values per channel: N·H·W
    if m < 2:
        raise ValueError(f"need more than one value per channel in training mode, got x of shape {x.shape}")
    mean = x.mean(axis=axes)                           # (C,)
    var = x.var(axis=axes)                             # (C,), biased: divides by m
    out = (x - per_channel(mean, x)) / np.sqrt(per_channel(var, x) + eps)
    if weight is not None:
        out = out * per_channel(weight, x)
    if bias is not None:
        out = out + per_channel(bias, x)
    unbiased = var * m / (m - 1)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * unbiased
    return out, new_mean, new_var
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_batch_norm_train", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "batch_norm_train", "seed": 501}
check_batch_norm_train(batch_norm_train)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("batch_norm_train", batch_norm_train, seed=501)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Evaluation mode, and a layer that remembers
#
# In evaluation mode nothing is learned or updated: every channel is normalised with the running
# statistics, $\hat x = (x - \text{running\_mean}) / \sqrt{\text{running\_var} + \epsilon}$, then
# scaled and shifted. Now the output of one sample no longer depends on the rest of the batch, and a
# batch of one is fine. Forgetting `model.eval()` before testing a BN network is a classic bug.
#
# **Exercise 2.** `batch_norm_eval`, with the same `ValueError` for channel counts that disagree.

# %% nbgrader={"grade": false, "grade_id": "batch_norm_eval", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batch_norm_eval(x, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """Batch normalisation in evaluation mode (running statistics).

    Args:
        x: input of shape (N, C) or (N, C, H, W).
        running_mean, running_var: (C,).
        weight, bias: gamma and beta, (C,) or None.
        eps: added to the variance before the square root.

    Returns:
        Array with the shape and dtype of x.
    """
    ### BEGIN SOLUTION
    c = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if v is not None and v.shape != (c,):
            raise ValueError(f"x has C={c} channels (shape {x.shape}) but {name} has shape {v.shape}")
    out = (x - per_channel(running_mean, x)) / np.sqrt(per_channel(running_var, x) + eps)
    if weight is not None:
        out = out * per_channel(weight, x)
    if bias is not None:
        out = out + per_channel(bias, x)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_batch_norm_eval", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "batch_norm_eval", "seed": 502}
check_batch_norm_eval(batch_norm_eval)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("batch_norm_eval", batch_norm_eval, seed=502)
### END HIDDEN TESTS

# %% [markdown]
# A layer object holds γ, β and the running statistics, and switches between your two functions.
# Below it runs side by side with `torch.nn.BatchNorm2d` for five training steps on batches whose
# mean drifts, then once in evaluation mode. The differences should be at rounding level (~1e-16).

# %%
class BatchNorm:
    """A numpy BatchNorm layer with PyTorch's behaviour, built on your two functions."""

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.weight, self.bias = np.ones(num_features), np.zeros(num_features)
        self.running_mean, self.running_var = np.zeros(num_features), np.ones(num_features)
        self.momentum, self.eps, self.training = momentum, eps, True

    def __call__(self, x):
        if self.training:
            out, self.running_mean, self.running_var = batch_norm_train(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.momentum, self.eps)
            return out
        return batch_norm_eval(x, self.running_mean, self.running_var, self.weight, self.bias, self.eps)


rng = np.random.default_rng(0)
ours, theirs = BatchNorm(3), torch.nn.BatchNorm2d(3).double()
for step in range(5):
    xb = rng.standard_normal((8, 3, 4, 4)) * 2 + step           # the input's mean drifts upwards
    out = ours(xb)
    ref = theirs(torch.from_numpy(xb)).detach().numpy()
    print(f"step {step}: |out − torch| ≤ {np.abs(out - ref).max():.1e}   "
          f"running_mean {ours.running_mean}  (torch {theirs.running_mean.numpy()})")
print(f"running_var after 5 steps: {ours.running_var}  (torch {theirs.running_var.numpy()})")
ours.training = False
theirs.eval()
x_test = rng.standard_normal((2, 3, 4, 4)) + 4
print(f"evaluation mode: |out − torch| ≤ "
      f"{np.abs(ours(x_test) - theirs(torch.from_numpy(x_test)).detach().numpy()).max():.1e}")

# %% [markdown]
# ## 3. Backpropagation through batch norm
#
# Training needs ∂L/∂x, ∂L/∂γ and ∂L/∂β given `dout` = ∂L/∂y. The last two are easy: per channel,
# $d\gamma = \sum dout\cdot\hat x$ and $d\beta = \sum dout$ (sums over the m values of the channel).
#
# ∂L/∂x is the interesting part: every $x_i$ reaches the loss three ways — directly through
# $\hat x_i$, and through μ and σ², which every output of the channel depends on. Adding the three
# paths and simplifying gives the compact formula (with $g = \gamma\cdot dout$ and bars meaning the
# mean over the channel's m values):
#
# $$\frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}\Big(g - \bar g - \hat x\;\overline{g\,\hat x}\Big)$$
#
# Read it as: the gradient of a normalised layer has no component along "shift the whole channel"
# ($-\bar g$) or "scale the whole channel" ($-\hat x\,\overline{g\hat x}$) — normalisation undoes those
# anyway. That is one reason BN makes training less sensitive to the scale of the weights.
#
# **Exercise 3.** `batch_norm_backward(dout, x, weight=None, bias=None, eps=1e-5)` for training mode
# (batch statistics). Return `(dx, dweight, dbias)`; `dweight` is `None` when `weight` is `None`, and
# `dbias` is `None` when `bias` is `None`. Recompute μ, σ² and $\hat x$ from x: no caches.

# %% nbgrader={"grade": false, "grade_id": "batch_norm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batch_norm_backward(dout, x, weight=None, bias=None, eps=1e-5):
    """Gradients of training-mode batch norm.

    Args:
        dout: upstream gradient, shape of x.
        x, weight, bias, eps: the arguments of the forward call.

    Returns:
        (dx, dweight, dbias) with the shapes of x, weight and bias (None where those are None).
    """
    ### BEGIN SOLUTION
    axes = channel_axes(x)
    mean = x.mean(axis=axes, keepdims=True)                         # (1, C, 1, 1) for images
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    g = dout * per_channel(weight, x) if weight is not None else dout
    dx = inv_std * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    dweight = (dout * xhat).sum(axis=axes) if weight is not None else None
    dbias = dout.sum(axis=axes) if bias is not None else None
    return dx, dweight, dbias
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_batch_norm_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false} course={"exercise": "batch_norm_backward", "seed": 503}
check_batch_norm_backward(batch_norm_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("batch_norm_backward", batch_norm_backward, seed=503)
### END HIDDEN TESTS

# %% [markdown]
# The independent truth is a numerical gradient check (梯度检验): perturb every input by ±h and
# watch $\sum dout\cdot y$ change. In float64, correct gradients agree to about $10^{-8}$ or better.

# %%
rng = np.random.default_rng(1)
x_gc = rng.standard_normal((4, 3, 2, 2)) * 2 + 1
w_gc, b_gc = rng.standard_normal(3), rng.standard_normal(3)
dout_gc = rng.standard_normal(x_gc.shape)
dx, dw, db = batch_norm_backward(dout_gc, x_gc, w_gc, b_gc)
errors = gradcheck(lambda x, weight, bias: batch_norm_train(x, np.zeros(3), np.ones(3), weight, bias)[0],
                   {"x": x_gc, "weight": w_gc, "bias": b_gc}, {"x": dx, "weight": dw, "bias": db}, dout_gc,
                   raise_on_fail=False)
for name, err in errors.items():
    print(f"relative error d{name}: {err:.2e}")
print("sum of dx over each channel (always 0: a shift of the whole channel changes nothing):",
      dx.sum(axis=(0, 2, 3)))

# %% [markdown]
# ## 4. Does it help? The same CNN with and without BN
#
# LeNet-5 on the 8×8 handwritten digits (upsampled to 32×32), trained with plain SGD at three
# learning rates. `LeNet5(batch_norm=True)` inserts `BatchNorm2d` after each convolution and
# `BatchNorm1d` after each hidden fully-connected layer, before the ReLU — the usual place
# (conv → BN → ReLU; the conv's bias becomes redundant because β plays its role).

# %%
X_train, y_train, X_test, y_test = digits_split()
X_train32, X_test32 = digits_to_32(X_train), digits_to_32(X_test)      # (N, 1, 32, 32) tensors
learning_rates = (0.01, 0.1, 0.5)
runs = {}
for lr in learning_rates:
    for bn in (False, True):
        torch.manual_seed(0)
        runs[lr, bn] = fit(LeNet5(batch_norm=bn), (X_train32, y_train), (X_test32, y_test), epochs=4, lr=lr,
                           optimizer="sgd", seed=0, desc=f"lr {lr}, {'with' if bn else 'no'} BN")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.3), sharey=True)
for ax, lr in zip(axes, learning_rates):
    plot_histories({"without BN": runs[lr, False], "with BN": runs[lr, True]}, "train_loss", ax=ax)
    ax.set_title(f"plain SGD, learning rate {lr}")
    ax.set_xticks(range(1, runs[lr, True].epochs + 1))
fig.suptitle("LeNet-5 on the digits: training loss per epoch")
fig.tight_layout()
plt.show()
print(f"{'learning rate':>13} | {'final train loss (no BN → BN)':^30} | {'test accuracy (no BN → BN)':^27}")
for lr in learning_rates:
    a, b = runs[lr, False], runs[lr, True]
    print(f"{lr:>13} | {a.train_loss[-1]:>13.3f} → {b.train_loss[-1]:<13.3f} | {a.val_acc[-1]:>12.1%} → {b.val_acc[-1]:<12.1%}")

# %% [markdown]
# Without BN, plain SGD barely moves the loss in four epochs at any of these learning rates — at 0.5
# it stays at chance level (loss ln 10 ≈ 2.30, 10 % accuracy). With BN every learning rate works, and
# the large ones are the fastest. (The plain network does learn with more epochs or with Adam: BN's
# gift is speed and robustness to the learning rate, not a capability.) That is the
# lecture notes' list of BN's benefits in one picture: it **tolerates (and rewards) larger learning
# rates, so it converges faster**; it makes the scale of the initial weights matter less; the noise
# of the batch statistics acts as a mild **regulariser** (正则化), so dropout and L2 can be reduced;
# and it made LRN unnecessary. Ioffe & Szegedy explained the effect by reduced "internal covariate
# shift"; later work (Santurkar et al., 2018) argues that the main reason is a smoother loss surface
# — either way, the learning-rate picture above is what practitioners rely on.
#
# ## 5. Batch norm explorer
#
# Shift and scale the incoming batch and watch BN undo it; change γ and β; switch between train and
# eval mode. The coloured bars above the input histogram are the running mean ± running standard
# deviation.
#
# Things to try:
# * In **train** mode move *input shift* and *input scale*: the output does not change at all.
# * Pick *after ReLU*: BN standardises the mean and the spread, it does not make the data Gaussian.
# * Switch to **eval** before any training step: the running statistics are still (0, 1), so the
#   output is just the input. Click *train 20 steps*, then eval: now the output is normalised.
# * After training, move *input shift* in eval mode: the running statistics no longer fit the data —
#   this is what happens when test data drift away from the training data.
# * Set *momentum* to 0.9 or 0.01 and count how many steps the running mean needs to catch up.
#
# The explorer uses *your* functions through the small adapter `my_batch_norm`, which has
# PyTorch's signature and updates the running statistics in place.

# %%
def my_batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """PyTorch's ``F.batch_norm`` interface on top of your functions (running stats updated in place)."""
    if training:
        out, running_mean[:], running_var[:] = batch_norm_train(x, running_mean, running_var, weight, bias,
                                                                momentum, eps)
        return out
    return batch_norm_eval(x, running_mean, running_var, weight, bias, eps)


explorer = BatchNormExplorer(bn_fn=my_batch_norm)
explorer

# %% [markdown]
# ## 6. Layer normalization
#
# Batch norm needs a batch: with one sample per step, or with sequences of different lengths, the
# batch statistics are useless. **Layer normalization** (Ba, Kiros & Hinton, 2016) normalises each
# sample on its own, over its last dimensions (`normalized_shape`): the features of a token in a
# Transformer, or all of C×H×W of an image. There are no running statistics and training and
# evaluation are the same computation. γ and β have the shape `normalized_shape`.
#
# | | averages over | per-sample? | running stats |
# |---|---|---|---|
# | batch norm, x (N, C, H, W) | N, H, W (one μ per channel) | no | yes |
# | layer norm, normalized_shape (C, H, W) | C, H, W (one μ per sample) | yes | no |
#
# **Exercise 4.** `layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5)` like
# `F.layer_norm`; `normalized_shape` is an int or a tuple. Use the biased variance. Raise `ValueError`
# when `normalized_shape` is not the shape of the last dimensions of `x`.

# %% nbgrader={"grade": false, "grade_id": "layer_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation, same semantics as ``torch.nn.functional.layer_norm``.

    Args:
        x: input of shape (*, *normalized_shape).
        normalized_shape: int D or tuple, the trailing dimensions to normalise over.
        weight, bias: gamma and beta of shape normalized_shape, or None.
        eps: added to the variance before the square root.

    Returns:
        Array with the shape and dtype of x.
    """
    ### BEGIN SOLUTION
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k > x.ndim or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"normalized_shape {shape} is not the last dimensions of x {x.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_layer_norm", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "layer_norm", "seed": 504}
check_layer_norm(layer_norm)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("layer_norm", layer_norm, seed=504)
### END HIDDEN TESTS

# %% [markdown]
# The difference in one experiment: normalise the same sample inside a batch of 8 and inside a batch
# of 2. Batch norm's answer depends on its neighbours; layer norm's does not.

# %%
rng = np.random.default_rng(2)
xs = rng.standard_normal((8, 6)) * 3 + 1
zeros, ones = np.zeros(6), np.ones(6)
bn_8, bn_2 = batch_norm_train(xs, zeros, ones)[0][0], batch_norm_train(xs[:2], zeros, ones)[0][0]
ln_8, ln_2 = layer_norm(xs, 6)[0], layer_norm(xs[:2], 6)[0]
print("sample 0, batch norm, batch of 8:", bn_8)
print("sample 0, batch norm, batch of 2:", bn_2)
print("sample 0, layer norm, batch of 8:", ln_8)
print("sample 0, layer norm, batch of 2:", ln_2)
print(f"layer norm vs F.layer_norm: {np.abs(ln_8 - F.layer_norm(torch.from_numpy(xs), (6,))[0].numpy()).max():.1e}")

# %% [markdown]
# ## 7. Dropout
#
# During training, dropout (丢弃法) sets every element to zero with probability p, independently,
# and leaves the rest. A network trained like this cannot rely on any single unit, so it learns
# redundant features that work in many combinations — roughly, it trains an ensemble of $2^n$
# thinned networks that share weights. The lecture notes: "randomly drop part of the input …
# solves overfitting, acts as an average, reduces the dependence between neurons".
#
# At test time all units are used, so the layer's output would be larger than during training by a
# factor $1/(1-p)$ on average. The original paper multiplied the weights by $1-p$ at test time;
# every framework today uses **inverted dropout** instead: divide the kept values by $1-p$ during
# training, so that $E[\text{out}] = x$ and evaluation is simply the identity.
#
# To make it testable, the randomness comes from a numpy generator: `rng` may be a
# `np.random.Generator`, an int seed, or `None` (fresh randomness) — `np.random.default_rng(rng)`
# accepts all three. Draw **exactly once**, `u = rng.random(x.shape)`, and keep the elements where
# `u >= p`; then the same seed gives the same mask as the reference. (The backward pass applies
# the same mask and scale to `dout`; the reference `dropout_backward` redraws the mask from the same
# seed instead of storing it, as FlashAttention does.)
#
# **Exercise 5.** `dropout(x, p=0.5, training=True, rng=None)`. In evaluation mode return `x`
# unchanged. Keep the dtype of `x`. Raise `ValueError` if p is not in [0, 1) (p = 1 would drop
# everything and divide by zero).

# %% nbgrader={"grade": false, "grade_id": "dropout", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout(x, p=0.5, training=True, rng=None):
    """Inverted dropout.

    Args:
        x: input of any shape.
        p: probability of dropping an element, in [0, 1).
        training: drop and rescale (True) or return x unchanged (False).
        rng: np.random.Generator, int seed or None.

    Returns:
        Array with the shape and dtype of x.
    """
    ### BEGIN SOLUTION
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    if not training:
        return x
    rng = np.random.default_rng(rng)
    keep = rng.random(x.shape) >= p
    return np.where(keep, x / (1 - p), 0).astype(x.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dropout", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "dropout", "seed": 505}
check_dropout(dropout)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("dropout", dropout, seed=505)
### END HIDDEN TESTS

# %% [markdown]
# One digit through dropout with p = 0.5: every draw keeps a different half of the pixels, twice as
# bright. The average of many draws is the original image — the expectation is preserved.

# %%
digit = digits_to_32(X_test[:1])[0, 0].numpy().astype(np.float64)   # (32, 32)
draws = [dropout(digit, 0.5, rng=seed) for seed in range(1000)]
show_images([digit, draws[0], draws[1], np.mean(draws[:10], axis=0), np.mean(draws, axis=0)],
            titles=["input", "p=0.5, seed 0", "p=0.5, seed 1", "mean of 10", "mean of 1000"], ncols=5)
plt.show()
print(f"max |mean of 1000 draws − input| = {np.abs(np.mean(draws, axis=0) - digit).max():.3f} "
      f"(pixel values up to {digit.max():.2f})")

# %% [markdown]
# **Dropout against overfitting.** With only 200 training digits, LeNet-5 memorises the training set
# within about 15 epochs (training accuracy 100 %), and then the test loss starts to rise again: the
# network is now fitting the noise of its 200 examples. `LeNet5(dropout=0.5)` adds dropout before each hidden fully-connected layer
# (where most of the parameters are, as in AlexNet). Same data, same seed, same 30 epochs of Adam.

# %%
small = torch.from_numpy(np.random.default_rng(0).permutation(len(X_train))[:200])
X_small, y_small = X_train32[small], y_train[small.numpy()]
histories, accuracy = {}, {}
for p in (0.0, 0.5):
    torch.manual_seed(0)
    model = LeNet5(dropout=p)
    histories[p] = fit(model, (X_small, y_small), (X_test32, y_test), epochs=30, lr=2e-3, batch_size=20,
                       seed=0, desc=f"dropout p={p}")
    accuracy[p] = (evaluate(model, X_small, y_small)[1], evaluate(model, X_test32, y_test)[1])

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
names = ["no dropout", "dropout 0.5"]
for p, name, colour in zip((0.0, 0.5), names, ("C0", "C1")):
    h = histories[p]
    epochs = np.arange(1, h.epochs + 1)
    ax_loss.plot(epochs, h.val_loss, "o-", ms=3, color=colour, label=f"{name}: test")
    ax_loss.plot(epochs, h.train_loss, "--", color=colour, label=f"{name}: train")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("cross-entropy loss (log scale)")
ax_loss.set_title("200 training digits: loss per epoch")
ax_loss.legend(fontsize=9)
train_acc = [accuracy[p][0] for p in (0.0, 0.5)]
test_acc = [accuracy[p][1] for p in (0.0, 0.5)]
pos = np.arange(2)
ax_acc.bar(pos - 0.2, train_acc, 0.4, label="train (eval mode)")
ax_acc.bar(pos + 0.2, test_acc, 0.4, label="test")
for i in range(2):
    ax_acc.annotate(f"gap {train_acc[i] - test_acc[i]:.1%}", (pos[i], max(train_acc[i], test_acc[i]) + 0.008),
                    ha="center")
ax_acc.set_xticks(pos, names)
ax_acc.set_ylim(0.85, 1.1)
ax_acc.set_yticks(np.arange(0.85, 1.001, 0.05))
ax_acc.set_ylabel("accuracy")
ax_acc.set_title("final accuracy: train vs test")
ax_acc.legend(loc="upper center", ncol=2, fontsize=9)
fig.tight_layout()
plt.show()
for p, name in zip((0.0, 0.5), names):
    h = histories[p]
    print(f"{name:>12}: train acc {accuracy[p][0]:.1%}, test acc {accuracy[p][1]:.1%}, "
          f"gap {accuracy[p][0] - accuracy[p][1]:.1%}; test loss best {min(h.val_loss):.3f}, final {h.val_loss[-1]:.3f}")

# %% [markdown]
# Dropout does not stop the network from fitting its 200 examples, but the test loss keeps falling
# instead of creeping back up, ends lower, and part of the train–test gap closes. The dashed
# training curves (measured during training, so with dropout switched on) show the price: with
# dropout the network learns more slowly. It is not free:
# training with dropout needs more epochs (AlexNet: "roughly doubles the number of iterations
# required to converge"), and where it goes matters — the lecture notes stress that "the position
# and size of dropout are very important". In convolutional layers with BN it is usually left out,
# as BN already regularises (section 4).
#
# ## 8. Local response normalization (AlexNet)
#
# AlexNet (Krizhevsky, Sutskever & Hinton, 2012) normalised each activation by the activity of the
# same position in the *neighbouring channels*:
#
# $$b_c = a_c \Big/ \Big(k + \alpha \sum_{c'=c-n/2}^{c+n/2} a_{c'}^2\Big)^{\beta}$$
#
# with k = 2, n = 5, α = 10⁻⁴, β = 0.75, after the ReLUs of the first two convolutions. Inspired by
# lateral inhibition in real neurons, it makes large responses stand out against their neighbours
# ("creates competition", as the lecture notes put it), and reduced AlexNet's top-1/top-5 error by
# 1.4 / 1.2 points. VGG (2014) found it did not help their deeper networks, and BN replaced it.
#
# PyTorch's `F.local_response_norm(x, size, alpha, beta, k)` differs from the paper in one detail:
# it **averages** instead of summing — the sum is divided by `size` — so the paper's setting is
# `alpha = 5 × 10⁻⁴` in PyTorch. The window for channel c runs from `c − size // 2` to
# `c + (size − 1) // 2` (for even sizes, one more channel before than after), and channels beyond
# 0…C−1 count as zeros:
#
# $$\text{out}_c = x_c \Big/ \Big(k + \frac{\alpha}{\text{size}} \sum_{c'=c-\lfloor \text{size}/2\rfloor}^{c+\lfloor(\text{size}-1)/2\rfloor} x_{c'}^2\Big)^{\beta}$$
#
# **Exercise 6.** `local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0)` for inputs
# `(N, C, *)` with at least 3 dimensions, exactly like PyTorch. Hint: square, pad the channel axis
# with `size // 2` zeros before and `(size − 1) // 2` after (`np.pad` with one pair per axis), then
# add up `size` shifted channel slices.

# %% nbgrader={"grade": false, "grade_id": "local_response_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels, same as ``torch.nn.functional.local_response_norm``.

    Args:
        x: input of shape (N, C, *), e.g. (N, C, H, W).
        size: number of channels in each window (including the channel itself).
        alpha, beta, k: the constants of the formula (alpha is divided by size, like PyTorch).

    Returns:
        Array with the shape and dtype of x.
    """
    ### BEGIN SOLUTION
    c = x.shape[1]
    pad = [(0, 0)] * x.ndim
    pad[1] = (size // 2, (size - 1) // 2)
    sq = np.pad(x * x, pad)                               # (N, C + size − 1, *)
    total = sum(sq[:, j:j + c] for j in range(size))      # (N, C, *): sum over each channel window
    return x / (k + alpha / size * total) ** beta
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_local_response_norm", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "local_response_norm", "seed": 506}
check_local_response_norm(local_response_norm)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("local_response_norm", local_response_norm, seed=506)
### END HIDDEN TESTS

# %% [markdown]
# Competition between channels, made visible: 16 channels at one pixel with moderate activity and
# one strong response at channel 5. After LRN (size 5, and a strong α so that the effect is large)
# the *gain* out/x dips around channel 5: its neighbours are suppressed, far channels are not.

# %%
a = np.random.default_rng(3).uniform(0.5, 1.5, 16)
a[5] = 4.0
x_lrn = a.reshape(1, 16, 1, 1)
out_lrn = local_response_norm(x_lrn, size=5, alpha=2.0, beta=0.75, k=1.0)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 2.8))
ax1.bar(np.arange(16) - 0.2, a, 0.4, label="before")
ax1.bar(np.arange(16) + 0.2, out_lrn.ravel(), 0.4, label="after LRN")
ax1.set_xlabel("channel")
ax1.set_ylabel("activation")
ax1.legend()
ax2.plot(out_lrn.ravel() / a, "o-")
ax2.axvspan(3, 7, color="orange", alpha=0.2, label="window of channel 5")
ax2.set_xlabel("channel")
ax2.set_ylabel("gain out / x")
ax2.legend()
fig.suptitle("Local response normalization: a strong channel suppresses its neighbours")
fig.tight_layout()
plt.show()

x_alex = np.maximum(np.random.default_rng(4).standard_normal((1, 96, 6, 6)) * 20, 0)   # ReLU outputs
paper = x_alex / (2 + 1e-4 * sum(np.pad(x_alex**2, [(0, 0), (2, 2), (0, 0), (0, 0)])[:, j:j + 96]
                                  for j in range(5))) ** 0.75
print(f"paper's formula vs yours with alpha = 5·1e-4: {np.abs(paper - local_response_norm(x_alex, 5, 5e-4, 0.75, 2.0)).max():.1e}")
print(f"yours vs F.local_response_norm, same setting: "
      f"{np.abs(local_response_norm(x_alex, 5, 5e-4, 0.75, 2.0) - F.local_response_norm(torch.from_numpy(x_alex), 5, 5e-4, 0.75, 2.0).numpy()).max():.1e}")

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **LRN's α.** AlexNet's α = 1e-4 multiplies the plain sum of squares; PyTorch divides by `size`, so the AlexNet setting is torch's `alpha=5e-4` (errata bedae51).
# > * **BN-Inception's error.** The 4.9 % is the six-network ensemble's ImageNet *validation* error; its test error is 4.82 % (the 4.8 % the notes quote).
# > * **Dropout.** The notes describe dropping inputs at random; the chapter implements *inverted* dropout (scaling by $1/(1-p)$ while training, nothing at test time), as PyTorch does, and calls it 丢弃法 (errata 51d97dd).

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (4 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does batch norm use running statistics at test time instead of the batch's own, and what happens to a fully-connected BN layer in training mode with a batch of one?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bn_eval", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** At test time a prediction must depend on its own input only, and be deterministic: with batch statistics the same image would get a different output depending on its batch-mates (and a batch of one would be degenerate). The running averages estimate the population mean and variance. With one sample in training mode the mean is the sample itself and the variance 0, so $\hat x = 0$ and the output is $\beta$ whatever the input.
#
# **Rubric (2 points).** 1 pt: the output must not depend on the other samples / be deterministic; running stats estimate the population. 1 pt: batch of one gives $\hat x = 0$ (output β).
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does inverted dropout divide the kept activations by $1 - p$ during training? What would go wrong at test time with plain (non-inverted) dropout if you forgot its test-time scaling?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_inverted_dropout", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** So that the expected activation is unchanged: $E[m\,x/(1-p)] = x$ for a keep mask $m$ with $P(m = 1) = 1 - p$; the network is then used as is at test time. Plain dropout trains without scaling, so at test time (all units on) every layer's input would be $1/(1-p)$ times larger than in training — a shift the next layers never saw — unless the weights are multiplied by $1 - p$.
#
# **Rubric (2 points).** 1 pt: keeps the expectation equal between training and test. 1 pt: forgetting the scaling makes test activations $1/(1-p)$ too large.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * **Batch norm**: per channel, normalise with the batch mean and biased variance, then $\gamma\hat x + \beta$.
#   Running statistics — `(1 − momentum)·old + momentum·new`, unbiased variance — replace them in
#   evaluation mode. Backward: $dx = (g - \bar g - \hat x\,\overline{g\hat x})/\sqrt{\sigma^2+\epsilon}$.
# * BN lets plain SGD use learning rates that break the same network without it, and converge
#   in far fewer steps (BN-Inception: 14× fewer).
# * **Layer norm** normalises each sample over its last dimensions: no batch dependence, no running
#   statistics — the choice for RNNs and Transformers.
# * **Dropout** zeroes units with probability p and scales the rest by 1/(1 − p) during training,
#   the identity at test time; it narrows the gap between training and test performance.
# * **LRN** divides by the local energy across channels (PyTorch averages: α/size); historic, replaced by BN.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch05")`.
#
# Check your whole notebook from a terminal with
# `course check chapters/ch05_normalization/ch05_normalization.ipynb`.
