# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 — Activations
#
# Without an activation function (激活函数) between them, any stack of linear layers is *one* linear
# layer: $W_2(W_1x) = (W_2W_1)x$. The non-linearity after every layer is what lets a deep network
# represent more than a straight line — and the choice of that non-linearity decides whether the
# network can be trained at all. The most memorable number: in the AlexNet paper (Krizhevsky,
# Sutskever & Hinton, 2012) a four-layer CNN with **ReLU** units reached 25 % training error on
# CIFAR-10 **six times faster** than the same network with tanh units. The reason is the gradient: a
# sigmoid's slope is never more than 1/4, so ten sigmoid layers can shrink a gradient by
# $(1/4)^{10} \approx 10^{-6}$ — the lecture notes' 梯度离散 (vanishing gradients).
#
# In this chapter you will write the classic activations and their backward passes in numpy, check
# them against PyTorch, and watch what they do to signals and gradients in deep stacks:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `sigmoid` — without overflow for any input | 2 |
# | 2 | `sigmoid_backward`, `tanh_backward` — and why saturation kills gradients | 1 + 1 |
# | 3 | `relu`, `relu_backward` | 1 + 1 |
# | 4 | `leaky_relu`, `elu` — no dead units | 1 + 1 |
# | 5 | `gelu` — exact and tanh approximation (BERT, GPT) | 2 |
# | 6 | `softmax` — numerically stable, along any `dim` | 2 |
# | 7 | `log_softmax` — the log-sum-exp trick | 1 |
# | 8 | `softmax_backward` — a Jacobian without building it | 2 |
#
# Each exercise has a `check_*` cell: run it after writing your code. It explains the first thing
# that is wrong (shape, dtype, which element, expected vs got). Grading runs the same checks on more,
# randomised cases — and also checks that **float32 inputs give float32 outputs**, as in PyTorch.
# While your function is checked, `torch`, `scipy` and the course's reference implementations are
# switched off: write the numpy yourself.
#
# Semantics follow `torch.nn.functional` (`F.sigmoid`, `F.relu`, `F.leaky_relu`, `F.elu`, `F.gelu`,
# `F.softmax`, `F.log_softmax`); backward functions take the upstream gradient `dout` (the shape of
# the output) and the same arguments as the forward, and return `dx` (the shape of `x`).
#
# **Key terms** ([glossary](../../docs/glossary.md)): activation function 激活函数 · nonlinearity 非线性 · step function 阶跃函数 · sigmoid Sigmoid 函数 · hyperbolic tangent 双曲正切 · zero-centred output 以 0 为中心的输出 · saturation 饱和 · vanishing gradient 梯度消失 · exploding gradient 梯度爆炸 · ReLU (rectified linear unit) 修正线性单元 · dead ReLU 神经元死亡 · leaky ReLU 带泄露的 ReLU

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import load_digits
from course_lib.gradcheck import gradcheck
from course_lib.testing import (
    check_elu,
    check_gelu,
    check_leaky_relu,
    check_log_softmax,
    check_relu,
    check_relu_backward,
    check_sigmoid,
    check_sigmoid_backward,
    check_softmax,
    check_softmax_backward,
    check_tanh_backward,
)
from course_lib.viz.activations import ActivationExplorer

np.set_printoptions(precision=4, suppress=True)


def erf(x):
    """The error function, element-wise (``math.erf`` on every element); keeps x's float dtype."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=dtype)


# %% [markdown]
# First, the claim of the introduction in three lines: two linear layers without an activation are
# exactly one linear layer.

# %%
rng = np.random.default_rng(0)
W1, W2, x_demo = rng.standard_normal((5, 3)), rng.standard_normal((2, 5)), rng.standard_normal(3)
print("W2 @ (W1 @ x)   =", W2 @ (W1 @ x_demo))
print("(W2 @ W1) @ x   =", (W2 @ W1) @ x_demo, " ← one 2×3 layer does the same")

# %% [markdown]
# ## 1. Sigmoid
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}$$
#
# squashes any number into (0, 1): $\sigma(0) = 0.5$, large positive inputs give almost 1, large
# negative ones almost 0 — handy for a probability (it is still the output of every binary
# classifier and of the gates of an LSTM). The lecture notes list its two flaws, which we will see
# below: for large |x| its slope is almost 0 (**saturation**, 饱和, which makes gradients vanish), and
# its outputs are all positive (**not zero-centred**).
#
# Computing it naively has a trap: for x = −1000, $e^{-x} = e^{1000}$ overflows to `inf` (numpy
# warns), and the equivalent form $e^{x}/(1 + e^{x})$ gives `inf/inf = nan` for x = +1000. The
# stable way only ever exponentiates a non-positive number: with $e = e^{-|x|} \in (0, 1]$,
#
# $$\sigma(x) = \frac{1}{1 + e} \text{ for } x \ge 0, \qquad \sigma(x) = \frac{e}{1 + e} \text{ for } x < 0.$$
#
# **Exercise 1.** Implement `sigmoid(x)` element-wise for an array of any shape, stable for any x
# (`np.where` picks between the two forms), keeping the dtype.

# %% nbgrader={"grade": false, "grade_id": "sigmoid", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), like ``torch.sigmoid``.

    Args:
        x: array of any shape (*).

    Returns:
        Array of shape (*) with values in [0, 1], same dtype as x.
    """
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(x))                    # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sigmoid", "seed": 401}
check_sigmoid(sigmoid)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sigmoid", sigmoid, seed=401)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Derivatives: where the gradient goes to die
#
# The sigmoid has a beautiful derivative, $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$: it is largest at
# x = 0, where it is only **1/4**, and it is practically 0 once |x| > 5.
#
# Its zero-centred sibling **tanh** (双曲正切),
# $\tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}} = 2\sigma(2x) - 1$, maps to (−1, 1); the lecture notes
# mention it is the usual choice inside recurrent networks. Its derivative is
# $1 - \tanh^2(x)$: 1 at the origin — four times the sigmoid's — but it saturates just the same.
# (`np.tanh` is the forward; it is stable already.)
#
# A backward function receives the upstream gradient `dout` $= \partial L/\partial y$ and returns
# $\partial L/\partial x = $ `dout` $\cdot f'(x)$ element-wise (the chain rule).
#
# **Exercise 2.** `sigmoid_backward(dout, x)` and `tanh_backward(dout, x)`. Use your `sigmoid`.

# %% nbgrader={"grade": false, "grade_id": "sigmoid_tanh_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_backward(dout, x):
    """Gradient of ``sigmoid`` with respect to x.

    Args:
        dout: upstream gradient of shape (*), the shape of x.
        x: the input of the forward call, shape (*).

    Returns:
        dx of shape (*): dout · σ(x) · (1 − σ(x)).
    """
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return dout * s * (1 - s)
    ### END SOLUTION


def tanh_backward(dout, x):
    """Gradient of ``np.tanh`` with respect to x: dout · (1 − tanh²(x)), shape (*)."""
    ### BEGIN SOLUTION
    t = np.tanh(x)
    return dout * (1 - t * t)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sigmoid_backward", "seed": 402}
check_sigmoid_backward(sigmoid_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sigmoid_backward", sigmoid_backward, seed=402)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_tanh_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "tanh_backward", "seed": 403}
check_tanh_backward(tanh_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("tanh_backward", tanh_backward, seed=403)
### END HIDDEN TESTS

# %% [markdown]
# Both curves with their derivatives (computed by your backward functions with `dout = 1`). Shaded:
# where the slope is below 1 % of its maximum — a unit whose input lands there passes almost no
# gradient back. The identity $\tanh(x) = 2\sigma(2x) - 1$ holds for your sigmoid too.

# %%
xs = np.linspace(-7, 7, 701)
ones = np.ones_like(xs)
print("max |tanh(x) − (2σ(2x) − 1)| =", np.abs(np.tanh(xs) - (2 * sigmoid(2 * xs) - 1)).max())
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=True)
for ax, name, f, df in [(axes[0], "sigmoid", sigmoid(xs), sigmoid_backward(ones, xs)),
                        (axes[1], "tanh", np.tanh(xs), tanh_backward(ones, xs))]:
    ax.plot(xs, f, lw=2, label=f"{name}(x)")
    ax.plot(xs, df, "--", lw=2, label=f"{name}'(x), max {df.max():.2f}")
    flat = df < 0.01 * df.max()
    ax.fill_between(xs, -1.1, 1.1, where=flat, color="0.85", label="saturated: slope < 1 % of max")
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel("x")
    ax.set_title(f"{name}: saturates on both sides")
    ax.legend(loc="upper left", fontsize=8)
plt.show()

# %% [markdown]
# ## 3. ReLU
#
# The rectified linear unit (修正线性单元) is almost embarrassingly simple, $\mathrm{relu}(x) = \max(x, 0)$,
# and the lecture notes call it the most used activation in deep learning. Its slope is exactly **1**
# for every positive input — no saturation, so gradients pass through positive units unchanged — and
# exactly 0 for negative ones. It is also cheap (a comparison, no exponential) and makes many outputs
# exactly 0 (sparse activations).
#
# At x = 0 the derivative is undefined; PyTorch uses 0 there, and so do we.
#
# **Exercise 3.** `relu(x)` and `relu_backward(dout, x)`. Keep the dtype.

# %% nbgrader={"grade": false, "grade_id": "relu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relu(x):
    """max(x, 0) element-wise, like ``torch.relu``; shape (*) and dtype kept."""
    ### BEGIN SOLUTION
    return np.maximum(x, 0)
    ### END SOLUTION


def relu_backward(dout, x):
    """Gradient of ``relu``: dout where x > 0, else 0; shape (*)."""
    ### BEGIN SOLUTION
    return dout * (x > 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_relu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "relu", "seed": 404}
check_relu(relu)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("relu", relu, seed=404)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_relu_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "relu_backward", "seed": 405}
check_relu_backward(relu_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("relu_backward", relu_backward, seed=405)
### END HIDDEN TESTS

# %% [markdown]
# ### Vanishing gradients, measured
#
# Now the experiment behind the AlexNet number. Stack 10 fully-connected layers
# $h_l = f(h_{l-1}W_l)$ of 64 units, push a batch through, send a random gradient back from the top
# and measure how much of it reaches each layer — using **your** forward and backward functions.
# Each activation gets its usual initialisation: Xavier/Glorot (Glorot & Bengio, 2010) for sigmoid and
# tanh — variance $2/(\text{fan\_in} + \text{fan\_out})$, which for these square D × D layers is $1/D$
# (std $\sqrt{1/D}$; $1/\text{fan\_in}$ in general is LeCun's initialisation) — and He/Kaiming
# (std $\sqrt{2/D}$, He et al., 2015) for ReLU, which compensates for the half of the units that output 0.
#
# On the way down every layer multiplies the gradient by $f'(a_l)$ (element-wise) and by $W_l^T$.
# With $\sigma' \le 1/4$, the sigmoid stack loses a factor of roughly 4 per layer.

# %%
def stack_gradients(forward, backward, weight_std, depth=10, width=64, batch=64, seed=0):
    """Mean |∂L/∂a_l| reaching the pre-activations of every layer of h_l = f(h_{l-1} W_l), layer 1 first."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, width))                       # (N, D) input batch
    weights = [rng.standard_normal((width, width)) * weight_std for _ in range(depth)]
    pre = []
    for w in weights:                                             # forward, keeping every a_l
        pre.append(h @ w)                                         # (N, D)
        h = forward(pre[-1])
    dh = rng.standard_normal(h.shape)                             # some upstream gradient ∂L/∂h_L
    grads = []
    for w, a in zip(reversed(weights), reversed(pre)):            # backward, last layer first
        da = backward(dh, a)                                      # ∂L/∂a_l = ∂L/∂h_l · f'(a_l)
        grads.append(np.abs(da).mean())
        dh = da @ w.T                                             # ∂L/∂h_{l-1}
    return np.array(grads[::-1])


D = 64
runs = {"sigmoid (Xavier)": (sigmoid, sigmoid_backward, math.sqrt(1 / D)),
        "tanh (Xavier)": (np.tanh, tanh_backward, math.sqrt(1 / D)),
        "ReLU (He)": (relu, relu_backward, math.sqrt(2 / D))}
layers = np.arange(1, 11)
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for (label, (f, df, std)), marker in zip(runs.items(), "os^"):
    g = stack_gradients(f, df, std)
    ax.plot(layers, g, marker + "-", label=label)
    print(f"{label:>17}: gradient at layer 1 / at layer 10 = {g[0] / g[-1]:.2g}")
ax.set_yscale("log")
ax.set_xticks(layers)
ax.set_xlabel("layer (1 = closest to the input)")
ax.set_ylabel("mean |∂L/∂a| at the layer")
ax.set_title("Gradient reaching each of 10 stacked layers")
ax.legend()
plt.show()

# %% [markdown]
# The sigmoid stack's first layer receives about a millionth of the gradient of its last layer — it
# would learn a million times more slowly. That is 梯度消失 / 梯度离散. Tanh does much better (slope 1
# at 0); ReLU with He initialisation passes the gradient through all ten layers at the same size.
#
# ReLU's weakness is the other side of its zero slope: a unit whose input is negative for *every*
# example receives no gradient at all, so nothing can ever move it back — a **dead ReLU**. With
# non-negative inputs (pixels!) one large update that pushes a unit's weights negative is enough.
# Section 9 kills most of a network this way with too large a learning rate.
#
# ## 4. Leaky ReLU and ELU: keep a little slope
#
# Two popular fixes give negative inputs a non-zero slope, so no unit is ever cut off:
#
# * **Leaky ReLU** (Maas et al., 2013): $x$ for $x > 0$, else $\alpha x$ with a small slope
#   (`negative_slope`, PyTorch's default 0.01). YOLO uses it (slope 0.1), as the lecture notes mention.
# * **ELU** (Clevert et al., 2015): $x$ for $x > 0$, else $\alpha\,(e^x - 1)$. Smooth, saturates
#   at $-\alpha$ for very negative inputs, and its mean output is closer to 0 than ReLU's.
#   Use `np.expm1(x)` for $e^x - 1$ (exact for tiny x) and exponentiate only non-positive numbers
#   (`np.minimum(x, 0)`), or `np.where` will overflow computing the branch it then throws away.
#
# **Exercise 4.** `leaky_relu(x, negative_slope=0.01)` and `elu(x, alpha=1.0)`; `elu` raises
# `ValueError` for a negative `alpha` (the function would no longer be monotonic).

# %% nbgrader={"grade": false, "grade_id": "leaky_relu_elu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope · x otherwise, like ``F.leaky_relu``; shape (*) and dtype kept."""
    ### BEGIN SOLUTION
    return np.where(x > 0, x, negative_slope * x)
    ### END SOLUTION


def elu(x, alpha=1.0):
    """x for x > 0, alpha · (exp(x) − 1) otherwise, like ``F.elu``; shape (*) and dtype kept."""
    ### BEGIN SOLUTION
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_leaky_relu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "leaky_relu", "seed": 406}
check_leaky_relu(leaky_relu)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("leaky_relu", leaky_relu, seed=406)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_elu", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "elu", "seed": 407}
check_elu(elu)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("elu", elu, seed=407)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. GELU: the activation of Transformers
#
# BERT and the GPT models use the Gaussian error linear unit (Hendrycks & Gimpel, 2016),
#
# $$\mathrm{gelu}(x) = x\,\Phi(x) = \tfrac12\, x\,\bigl(1 + \mathrm{erf}(x/\sqrt2)\bigr),$$
#
# where $\Phi$ is the standard normal CDF: each input is scaled by the probability that a standard
# normal variable is smaller than it. It looks like a smoothed ReLU with a small dip below 0 around
# x ≈ −0.75. Because erf used to be slow on GPUs, the original BERT code used a tanh approximation,
# PyTorch's `approximate="tanh"`:
#
# $$\mathrm{gelu}(x) \approx \tfrac12\, x\,\Bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\bigr)\Bigr).$$
#
# **Exercise 5.** `gelu(x, approximate="none")` for both forms; raise `ValueError` for any other
# `approximate`. numpy has no erf: use the `erf(x)` defined in the setup cell. Write constants with
# `math.sqrt` and `math.pi` — a numpy float64 scalar such as `np.sqrt(2)` would turn a float32 array
# into float64.

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gelu(x, approximate="none"):
    """Gaussian error linear unit, like ``F.gelu``.

    Args:
        x: array of any shape (*).
        approximate: "none" (exact, with erf) or "tanh".

    Returns:
        Array of shape (*), same dtype as x.
    """
    ### BEGIN SOLUTION
    if approximate == "none":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gelu", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "gelu", "seed": 408}
check_gelu(gelu)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("gelu", gelu, seed=408)
### END HIDDEN TESTS

# %% [markdown]
# How good is the approximation? And do all your functions agree with PyTorch? Below: the largest
# difference from `torch.nn.functional` on a grid, then the whole family with its slopes. The
# derivatives are central differences of your forward functions — the course's references have
# backward functions for all of them (`course_lib.reference.activations.*_backward`).

# %%
grid = np.linspace(-6, 6, 1201)
tg = torch.from_numpy(grid)
print(f"max |gelu exact − gelu tanh| = {np.abs(gelu(grid) - gelu(grid, 'tanh')).max():.1e}")
family = {
    "sigmoid": (sigmoid, torch.sigmoid), "tanh": (np.tanh, torch.tanh), "relu": (relu, F.relu),
    "leaky_relu(0.1)": (lambda v: leaky_relu(v, 0.1), lambda t: F.leaky_relu(t, 0.1)),
    "elu": (elu, F.elu), "gelu": (gelu, F.gelu),
}
for name, (mine, theirs) in family.items():
    print(f"{name:>16}: max |yours − torch| = {np.abs(mine(grid) - theirs(tg).numpy()).max():.1e}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, (mine, _) in family.items():
    axes[0].plot(grid, mine(grid), lw=1.8, label=name)
    axes[1].plot(grid, np.gradient(mine(grid), grid), lw=1.8, label=name)
axes[0].set_ylim(-1.5, 3)
axes[0].set_title("activations f(x)")
axes[1].set_ylim(-0.2, 1.2)
axes[1].set_title("slopes f'(x)")
for ax in axes:
    ax.set_xlim(-4, 3)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("x")
axes[0].legend(fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# ## 6. Softmax
#
# A classifier's last layer produces one score (logit) per class; softmax turns K logits into a
# probability distribution (the lecture notes: it normalises the output and "highlights the largest
# value"):
#
# $$\mathrm{softmax}(z)_j = \frac{e^{z_j}}{\sum_{k} e^{z_k}}.$$
#
# Naively this overflows: $e^{1000}$ is `inf` in float64, and in float32 already $e^{89}$ is. The
# fix is free: adding a constant to all logits does not change the result (it cancels between the
# numerator and the denominator), so subtract the largest logit first. Then every exponent is ≤ 0,
# the largest term is exactly $e^0 = 1$, and the sum is between 1 and K.
#
# **Exercise 6.** `softmax(x, dim=-1)` along axis `dim` of an array of any shape (keep the other
# axes: `keepdims=True` is your friend), stable for huge logits. A `dim` that does not exist must
# raise `ValueError` (numpy's `AxisError` is one).

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax(x, dim=-1):
    """Softmax along ``dim``, like ``F.softmax(x, dim)``.

    Args:
        x: array of any shape, e.g. logits (N, K).
        dim: the axis whose entries become probabilities.

    Returns:
        Array of the shape of x; every slice along dim is positive and sums to 1.
    """
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=dim, keepdims=True)     # the largest logit becomes 0
    e = np.exp(shifted)
    return e / e.sum(axis=dim, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "softmax", "seed": 409}
check_softmax(softmax)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("softmax", softmax, seed=409)
### END HIDDEN TESTS

# %% [markdown]
# Naive against stable, on the logits $m - [2, 1, 0]$ for a growing largest logit $m$. The exact
# probabilities do not depend on $m$ at all (0.090, 0.245, 0.665). The naive version returns `nan`
# once $e^m$ overflows — beyond $m \approx 88.7$ in float32 and $m \approx 709.8$ in float64 — yours
# never does.

# %%
def naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


big = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):                # silence numpy's overflow warnings
    print("logits [1000, 1001, 1002]:  naive", naive_softmax(big), "  stable", softmax(big))
tops = np.geomspace(1, 3000, 300)
fig, ax = plt.subplots(figsize=(7, 3.4))
for dtype, style, label in [(np.float32, "-", "stable (yours), float32"), (np.float32, "--", "naive, float32"),
                            (np.float64, ":", "naive, float64")]:
    fn = softmax if label.startswith("stable") else naive_softmax
    with np.errstate(over="ignore", invalid="ignore"):
        p_top = np.array([fn((m - np.array([2.0, 1.0, 0.0])).astype(dtype))[-1] for m in tops])
    line, = ax.plot(tops, p_top, style, lw=3 if fn is softmax else 2, label=label)
    nan = np.isnan(p_top)
    if nan.any():                                                  # show where the result is nan
        row = 0.53 if dtype == np.float32 else 0.515
        ax.plot(tops[nan][::10], np.full(nan.sum(), row)[::10], "x", color=line.get_color())
ax.text(1.2, 0.52, "× : the naive result is nan", fontsize=9)
for limit, name in ((88.7, "float32"), (709.8, "float64")):
    ax.axvline(limit, color="0.6", lw=1)
    ax.text(limit * 1.08, 0.6, f"exp overflows\nin {name}", fontsize=8, color="0.3")
ax.set_xscale("log")
ax.set_ylim(0.5, 0.72)
ax.set_xlabel("largest logit m (logits m − [2, 1, 0])")
ax.set_ylabel("probability of the top class")
ax.set_title("Softmax: exact answer 0.665 for every m")
ax.legend(loc="upper left", fontsize=8)
plt.show()

# %% [markdown]
# ## 7. log_softmax and the log-sum-exp trick
#
# Classification losses need $\log \mathrm{softmax}$ (cross-entropy is $-\log p_{\text{true class}}$).
# Taking the log of your softmax fails when a probability underflows to 0: `log(0) = -inf`, and the
# loss becomes infinite although the exact answer is a perfectly ordinary number. Work in log space
# instead, with $m = \max_k z_k$:
#
# $$\log \mathrm{softmax}(z)_j = (z_j - m) - \log \sum_k e^{z_k - m}.$$
#
# The sum is between 1 and K, so its log is harmless. (This is why PyTorch's `cross_entropy` takes
# logits, not probabilities.)
#
# **Exercise 7.** `log_softmax(x, dim=-1)`.

# %% nbgrader={"grade": false, "grade_id": "log_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def log_softmax(x, dim=-1):
    """log(softmax(x)) along ``dim``, computed stably, like ``F.log_softmax(x, dim)``; shape of x."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_log_softmax", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "log_softmax", "seed": 410}
check_log_softmax(log_softmax)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("log_softmax", log_softmax, seed=410)
### END HIDDEN TESTS

# %%
z = np.array([0.0, 800.0])
with np.errstate(divide="ignore"):
    print("log(softmax(z)) =", np.log(softmax(z)), "  ← the first class got -inf")
print("log_softmax(z)  =", log_softmax(z), " ← exact")
print("torch           =", F.log_softmax(torch.from_numpy(z), dim=-1).numpy())

# %% [markdown]
# ## 8. Backward through softmax
#
# Softmax is not element-wise: every output depends on every input of its slice. Its Jacobian is
#
# $$\frac{\partial y_i}{\partial x_j} = y_i(\delta_{ij} - y_j), \qquad J = \mathrm{diag}(y) - y\,y^T,$$
#
# a K×K matrix per slice — but you never need to build it. The backward pass only needs the
# vector–Jacobian product $dx = J^T\,dout$ (J is symmetric):
#
# $$dx_j = y_j\Bigl(dout_j - \sum_i dout_i\, y_i\Bigr).$$
#
# Sanity check: if `dout` is the same for every class, dx = 0 — the outputs always sum to 1, so
# moving all of them together is impossible.
#
# **Exercise 8.** `softmax_backward(dout, x, dim=-1)`; use your `softmax`.

# %% nbgrader={"grade": false, "grade_id": "softmax_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_backward(dout, x, dim=-1):
    """Gradient of ``softmax`` with respect to x.

    Args:
        dout: upstream gradient, the shape of x.
        x, dim: the arguments of the forward call.

    Returns:
        dx of the shape of x.
    """
    ### BEGIN SOLUTION
    y = softmax(x, dim)
    return y * (dout - (dout * y).sum(axis=dim, keepdims=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "softmax_backward", "seed": 411}
check_softmax_backward(softmax_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("softmax_backward", softmax_backward, seed=411)
### END HIDDEN TESTS

# %% [markdown]
# The independent truth, as in Chapter 2: numerical gradients (梯度检验) of your forward functions
# against your backward functions, in float64. A correct gradient gives a relative error far below
# $10^{-7}$. (For ReLU the inputs stay away from the kink at 0, where no derivative exists.)

# %%
rng = np.random.default_rng(4)
x_gc = rng.standard_normal((4, 5)) * 2
x_gc_relu = np.where(np.abs(x_gc) < 0.1, 0.5, x_gc)
dout_gc = rng.standard_normal((4, 5))
for name, fwd, bwd, x0 in [("sigmoid", sigmoid, sigmoid_backward, x_gc), ("tanh", np.tanh, tanh_backward, x_gc),
                           ("relu", relu, relu_backward, x_gc_relu),
                           ("softmax dim=0", lambda x: softmax(x, 0), lambda d, x: softmax_backward(d, x, 0), x_gc)]:
    x0 = x0.copy()
    err = gradcheck(lambda x, fwd=fwd: fwd(x), {"x": x0}, {"x": bwd(dout_gc, x0)}, dout_gc)
    print(f"{name:>14}_backward: relative error {err['x']:.1e}")

# %% [markdown]
# ## 9. Dead ReLUs in a real network
#
# Everything together: a 64 → 64 → 10 network on the 8×8 digits (pixels in [0, 1]), trained with
# plain SGD for 300 steps of 32 images — your `relu`/`leaky_relu` and their backwards in the hidden
# layer, your `softmax` for the gradient of the cross-entropy ($\partial L/\partial z = p - y$) and
# your `log_softmax` for the loss. Only the learning rate changes. After training we count the hidden
# units whose input is ≤ 0 for **every one** of the 1,797 digits.
#
# (`leaky_relu` gets a backward here in one line: slope 1 for x > 0, `negative_slope` otherwise.)

# %%
X_dig, y_dig = load_digits(flat=True)                       # (1797, 64) in [0, 1], labels 0..9
X_dig = X_dig.astype(np.float64)
Y_dig = np.eye(10)[y_dig]                                    # (1797, 10) one-hot


def leaky(x):
    return leaky_relu(x, 0.01)


def leaky_backward(dout, x):
    return dout * np.where(x > 0, 1.0, 0.01)


def train_mlp(act, act_backward, lr, steps=300, hidden=64, batch=32, seed=0):
    """Train 64 → hidden → 10 with SGD; return (fraction of never-active units, accuracy, loss)."""
    rng = np.random.default_rng(seed)
    W1, b1 = rng.standard_normal((64, hidden)) * math.sqrt(2 / 64), np.zeros(hidden)
    W2, b2 = rng.standard_normal((hidden, 10)) * math.sqrt(1 / hidden), np.zeros(10)
    for _ in range(steps):
        idx = rng.integers(0, len(X_dig), batch)
        a = X_dig[idx] @ W1 + b1                              # (B, hidden) pre-activations
        h = act(a)
        dz = (softmax(h @ W2 + b2) - Y_dig[idx]) / batch     # ∂(mean cross-entropy)/∂logits, (B, 10)
        da = act_backward(dz @ W2.T, a)                       # (B, hidden)
        for param, grad in ((W2, h.T @ dz), (b2, dz.sum(0)), (W1, X_dig[idx].T @ da), (b1, da.sum(0))):
            param -= lr * grad
    a = X_dig @ W1 + b1                                       # every digit, (1797, hidden)
    logits = act(a) @ W2 + b2
    loss = -log_softmax(logits)[np.arange(len(y_dig)), y_dig].mean()
    return np.mean((a <= 0).all(axis=0)), np.mean(logits.argmax(1) == y_dig), loss


lrs = [0.03, 0.1, 0.3, 1.0, 1.5, 2.0, 3.0, 4.0]
results = {name: np.array([train_mlp(f, df, lr) for lr in lrs])
           for name, (f, df) in {"ReLU": (relu, relu_backward), "leaky ReLU (0.01)": (leaky, leaky_backward)}.items()}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for (name, res), marker in zip(results.items(), "os"):
    axes[0].plot(lrs, res[:, 0], marker + "-", label=name)
    axes[1].plot(lrs, res[:, 1], marker + "-", label=name)
axes[0].set_ylabel("hidden units ≤ 0 on every digit")
axes[0].set_title("Too large a learning rate kills ReLUs")
axes[1].set_ylabel("training accuracy")
axes[1].set_title("…and the network with them")
for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylim(-0.03, 1.03)
    ax.legend()
plt.show()
for name, res in results.items():
    print(f"{name:>17}, lr = {lrs[-3]}: {res[-3, 0]:.0%} of units never active, accuracy {res[-3, 1]:.0%}, "
          f"loss {res[-3, 2]:.2f}")

# %% [markdown]
# Past a learning rate of about 1.5 almost every ReLU unit is dead and the network is stuck at chance
# (10 %): no gradient reaches the first layer any more, so no learning rate can bring it back. Most
# leaky units are negative too, but their 0.01 slope still carries a gradient: the network stays above
# chance and can recover (noisily — these learning rates are far too large for any activation). (A smaller learning rate, or normalised inputs, is of course the real fix — batch
# normalisation, later in the course, normalises the inputs of every layer.)
#
# ## 10. Activation explorer
#
# Choose an activation, a depth, an initialisation and a weight multiplier. Left: the function and
# its derivative. Middle: the histogram of every layer's activations in a stack of 64-unit layers
# (bright = many values). Right: the spread of the activations and the size of the gradient, layer by
# layer. Your functions are plugged in.
#
# Things to try: sigmoid with Xavier — the histograms collapse onto 0.5 and the gradient falls by
# ~4× per layer; tanh with "small" init — everything collapses to 0; ReLU with Xavier versus He —
# the signal shrinks by √2 per layer with Xavier and holds with He; weight × 2 — explosion; 30
# layers of ReLU — count the dead units.

# %%
explorer = ActivationExplorer(activation="sigmoid", fns={
    "sigmoid": (sigmoid, sigmoid_backward), "tanh": (np.tanh, tanh_backward), "relu": (relu, relu_backward),
    "leaky_relu": leaky_relu, "elu": elu, "gelu": gelu})
explorer

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **Glorot's variance.** The explorer's "Xavier" scale is Glorot's $2/(\text{fan\_in} + \text{fan\_out})$; $1/\text{fan\_in}$ in general is LeCun's (they coincide for square layers; errata c836542).
# > * **Leaky ReLU's slope.** `leaky_relu` defaults to PyTorch's 0.01; YOLO, which the notes mention, uses 0.1.
# > * **Beyond the notes.** GELU (BERT, GPT) and the softmax Jacobian are not in the notes; the chapter adds them.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why did deep networks of sigmoid units train so badly, and what does ReLU change?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_sigmoid_depth", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** $\sigma'(x) \le 1/4$, so the backward pass multiplies by at most 1/4 per layer — $(1/4)^{10} \approx 10^{-6}$ after ten — and by ≈ 0 wherever a unit saturates; the outputs are also all positive (not zero-centred), so a unit's weight gradients share one sign and updates zig-zag. ReLU's slope is exactly 1 for positive inputs, so the gradient passes unshrunk (and it is cheap); the cost is units that can die.
#
# **Rubric (2 points).** 1 pt: the ≤ 1/4 factor / saturation compounding over layers. 1 pt: ReLU's unit slope (zero-centring as a bonus point only within the 2).
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). What is a dead ReLU, how does it happen, and how do leaky ReLU and ELU avoid it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_dead_relu", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A unit whose pre-activation is negative for every input: its output and gradient are 0, so its weights never change again. A large update (high learning rate) or a bad initialisation that pushes the bias far negative can cause it. Leaky ReLU ($\alpha x$ for $x < 0$) and ELU ($\alpha(e^x - 1)$) have a non-zero slope for negative inputs, so the unit keeps receiving gradient and can come back.
#
# **Rubric (2 points).** 1 pt: definition (always negative → zero gradient forever) with a cause. 1 pt: non-zero negative slope keeps the gradient.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). Why does a stable softmax subtract $\max_j z_j$ first, and why does this not change the result?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_softmax_shift", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** $e^{z}$ overflows for $z \gtrsim 710$ in float64 (and underflows to 0/0 for very negative logits). Softmax is invariant to adding a constant to every logit: $e^{z_i - c}/\sum_j e^{z_j - c} = e^{z_i}/\sum_j e^{z_j}$. With $c = \max z$ every exponent is ≤ 0 and the largest term is 1, so the denominator is ≥ 1: no overflow, no division by zero.
#
# **Rubric (2 points).** 1 pt: overflow/underflow. 1 pt: shift invariance (with the reason the denominator stays ≥ 1).
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Without activations a deep network is one linear map; the activation's *slope* decides how
#   gradients survive the trip back.
# * Sigmoid and tanh saturate (slope → 0 for large |x|); σ' ≤ 1/4 makes gradients vanish
#   geometrically with depth. ReLU has slope 1 where active — the reason for AlexNet's 6× faster
#   training — but units can die; leaky ReLU and ELU keep a small negative slope; GELU is the smooth
#   choice of Transformers.
# * Stability is part of the definition: sigmoid via $e^{-|x|}$, softmax after subtracting the max,
#   log-softmax with the log-sum-exp trick.
# * Softmax backward: $dx = y\,(dout - \langle dout, y\rangle)$ — a Jacobian-vector product without the
#   Jacobian.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch04")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch04_activations/ch04_activations.ipynb`.
