# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 6 — Loss functions
#
# A loss function (损失函数) turns "how wrong is the network on this example?" into one number;
# its gradient is what trains every weight. Choosing it looks like a detail. It is not.
#
# The memorable case is **RetinaNet** (Lin et al., 2017, *Focal Loss for Dense Object Detection*).
# A one-stage detector classifies every anchor box of an image in one go — about **100,000
# anchors per image**, of which only a handful (often fewer than 100) cover an object. Trained with
# plain cross-entropy, the classifier drowns in the loss of the ~100,000 easy background anchors.
# The authors changed *only the loss*: the **focal loss** with **γ = 2, α = 0.25** scales each
# anchor's cross-entropy down by $(1 - p_t)^\gamma$, so confident easy examples count almost
# nothing. With it a simple one-stage detector (ResNet-101-FPN) reached **39.1 AP on COCO**
# test-dev, ahead of every two-stage detector of the time, and still fast.
#
# In this chapter you write the losses that detection and classification networks use, with the
# semantics of `torch.nn.functional` (and `torchvision.ops` for the focal loss), and look at what
# their gradients do:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `smooth_l1_loss` — the box-regression loss of Fast/Faster R-CNN and SSD | 2 |
# | 2 | `cross_entropy` — softmax cross-entropy from logits, numerically stable, label smoothing | 3 |
# | 3 | `cross_entropy_backward` — its gradient: softmax − one-hot | 3 |
# | 4 | `binary_cross_entropy_with_logits` — stable sigmoid + BCE, `pos_weight` | 3 |
# | 5 | `sigmoid_focal_loss` — RetinaNet's loss | 2 |
# | 6 | `multi_margin_loss` — the multi-class hinge (SVM) loss | 2 |
#
# Every loss takes `reduction`, exactly as in PyTorch: `"none"` returns one loss per sample (or per
# element), `"mean"` their average and `"sum"` their total. Each exercise has a `check_*` cell that
# explains the first thing that is wrong; grading runs the same comparison on randomised cases.
# While your functions are checked, `torch`, `scipy` and the course's reference implementations are
# switched off: write the numpy yourself.
#
# Shapes: N samples, K classes. Logits are the raw scores *before* softmax or sigmoid.
#
# **Key terms** ([glossary](../../docs/glossary.md)): loss function 损失函数 · loss layer loss层 · cross-entropy 交叉熵 · entropy 熵 · likelihood 似然 · binary cross-entropy 二分类交叉熵 · one-hot encoding one-hot 编码 · L2 loss L2损失 · class imbalance 类别不平衡 · focal loss 焦点损失 · one-stage one stage系 · classification 分类任务损失

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.gradcheck import gradcheck
from course_lib.testing import (
    check_binary_cross_entropy_with_logits,
    check_cross_entropy,
    check_cross_entropy_backward,
    check_multi_margin_loss,
    check_sigmoid_focal_loss,
    check_smooth_l1_loss,
)

np.set_printoptions(precision=4, suppress=True)


REDUCTIONS = {"none": lambda loss: loss, "mean": np.mean, "sum": np.sum}


def apply_reduction(loss, reduction):
    """PyTorch's ``reduction`` on an array of losses: "none" → unchanged, "mean" → average, "sum" → total."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return REDUCTIONS[reduction](loss)


# %% [markdown]
# ## 1. Regression: L1, L2 and Smooth L1
#
# A box regressor predicts four numbers per box; with the error $d = x - y$ between prediction and
# target, the classic losses are
#
# | loss | value | gradient $\partial\ell/\partial x$ | torch |
# |---|---|---|---|
# | L2 (squared error) | $d^2$ | $2d$ | `F.mse_loss` |
# | L1 (absolute error) | $\lvert d\rvert$ | $\operatorname{sign}(d)$ | `F.l1_loss` |
# | Smooth L1 | $\tfrac{1}{2}d^2/\beta$ if $\lvert d\rvert < \beta$, else $\lvert d\rvert - \tfrac{1}{2}\beta$ | $d/\beta$ inside, $\operatorname{sign}(d)$ outside | `F.smooth_l1_loss` |
#
# L2's gradient grows with the error, so a few badly wrong boxes (outliers) dominate a batch, and
# early in training the gradients can explode. L1's gradient is ±1 however small the error — it
# has a kink at 0 (the lecture notes: "L1 在 0 处不可导, L2 在 0 处可导") and keeps pushing with full
# force right next to the answer. **Smooth L1** (Girshick, *Fast R-CNN*, 2015) is quadratic inside
# $[-\beta, \beta]$ and linear outside: gradients bounded by 1 far away, shrinking to 0 near the
# answer. Fast R-CNN, Faster R-CNN and SSD regress boxes with it (torch's default β = 1; Faster
# R-CNN's region proposal network uses β = 1/9). β → 0 gives back L1: torch treats β = 0 as L1.
#
# **Exercise 1.** Implement `smooth_l1_loss`. Raise `ValueError` if `input` and `target` have
# different shapes or `beta < 0`. With `beta == 0` return the L1 loss (do not divide by zero).
# Finish with `apply_reduction(loss, reduction)` (defined in the setup cell), which also rejects an
# unknown `reduction`.

# %% nbgrader={"grade": false, "grade_id": "smooth_l1_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Smooth L1 loss, same semantics as ``torch.nn.functional.smooth_l1_loss``.

    Args:
        input: predictions, any shape (...).
        target: targets, same shape.
        reduction: "none" → shape (...), "mean" or "sum" → a number.
        beta: half-width of the quadratic zone, ≥ 0 (0 means L1).

    Returns:
        The loss, reduced as asked.
    """
    ### BEGIN SOLUTION
    if input.shape != target.shape:
        raise ValueError(f"input and target must have the same shape, got {input.shape} and {target.shape}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    d = np.abs(input - target)
    if beta == 0:
        loss = d
    else:
        loss = np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)
    return apply_reduction(loss, reduction)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_smooth_l1_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "smooth_l1_loss", "seed": 601}
check_smooth_l1_loss(smooth_l1_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("smooth_l1_loss", smooth_l1_loss, seed=601)
### END HIDDEN TESTS

# %% [markdown]
# The losses (left) and what training feels: their gradients (right), against the error $d$.
# Smooth L1 is L2 near zero and L1 far away; β sets where one turns into the other.

# %%
d = np.linspace(-3, 3, 601)
zeros = np.zeros_like(d)
fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_l.plot(d, d**2, label="L2: $d^2$", color="#d62728")
ax_g.plot(d, 2 * d, label="L2: $2d$", color="#d62728")
ax_l.plot(d, np.abs(d), label="L1: $|d|$", color="#1f77b4")
ax_g.plot(d, np.sign(d), label="L1: sign(d)", color="#1f77b4")
for beta, style in [(0.25, ":"), (1.0, "--"), (2.0, "-.")]:
    ax_l.plot(d, smooth_l1_loss(d, zeros, reduction="none", beta=beta), style, color="#2ca02c",
              label=f"Smooth L1, β = {beta:g}")
    ax_g.plot(d, np.clip(d / beta, -1, 1), style, color="#2ca02c", label=f"Smooth L1, β = {beta:g}")
ax_l.set_ylim(-0.1, 4)
ax_g.set_ylim(-3.2, 3.2)
for ax, title in [(ax_l, "loss ℓ(d)"), (ax_g, "gradient ∂ℓ/∂x")]:
    ax.set_xlabel("error d = prediction − target")
    ax.set_title(title)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# What the gradient shape means in practice: fit **one number** $c$ to 20 measurements near 1.0
# plus 3 outliers at 10, by minimising $\sum_i \ell(c - y_i)$. L2 gives the mean — dragged towards
# the outliers; L1 gives the median — ignores them; Smooth L1 sits close to L1.

# %%
rng = np.random.default_rng(0)
y = np.concatenate([rng.normal(1.0, 0.3, 20), [10.0, 10.0, 10.0]])
grid = np.linspace(0, 5, 5001)                                          # candidate values of c
costs = {"L2 (mean)": ((grid[:, None] - y) ** 2).sum(1),
         "L1 (median)": np.abs(grid[:, None] - y).sum(1),
         "Smooth L1, β = 1": smooth_l1_loss(np.repeat(grid[:, None], len(y), 1), np.tile(y, (len(grid), 1)),
                                            reduction="none").sum(1)}
for name, cost in costs.items():
    print(f"{name:>17}: best c = {grid[cost.argmin()]:.3f}")
print(f"{'':>17}  (mean {y.mean():.3f}, median {np.median(y):.3f} of the data)")

# %% [markdown]
# ## 2. Cross-entropy
#
# A classifier outputs K logits $z$; softmax turns them into probabilities
# $p_k = e^{z_k} / \sum_j e^{z_j}$. The **cross-entropy** (交叉熵) between the target distribution
# $q$ and the prediction $p$ is
#
# $$H(q, p) = -\sum_k q_k \log p_k = H(q) + \mathrm{KL}(q \,\|\, p), \qquad H(q) = -\sum_k q_k \log q_k,$$
#
# where $H(q)$ is the **entropy** (熵) of the target — how uncertain it is — and the KL divergence
# measures how far the prediction is from it. With a one-hot target ($q_y = 1$) the entropy is 0 and
# the loss is just $-\log p_y$: the negative log-likelihood of the right class (the notes: 源于逻辑回归
# 似然). It is 0 only when the network puts all its probability on the right class.
#
# **Computing it safely.** $-\log p_y = -z_y + \log\sum_j e^{z_j}$. With logits around 1000,
# $e^{1000}$ overflows to `inf` in float64 (in float32 already at $e^{89}$) and the result is `inf` or `nan`.
# The **log-sum-exp trick** subtracts the largest logit $m$ first — softmax does not change when the
# same number is subtracted from every logit:
#
# $$\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}, \qquad m = \max_j z_j,$$
#
# and now every exponent is ≤ 0 and the largest term is $e^0 = 1$.
#
# **Label smoothing** (Szegedy et al., 2016, Inception-v3: ε = 0.1) trains against a softened target
# $q = (1-\varepsilon)\,\text{one-hot}(y) + \varepsilon/K$, so the network is never pushed to infinite
# confidence:
#
# $$\ell = (1-\varepsilon)\,(-\log p_y) + \varepsilon \cdot \tfrac{1}{K}\sum_k (-\log p_k).$$
#
# **Exercise 2.** Implement `cross_entropy` from logits `(N, K)` and integer targets `(N,)`, with
# the log-sum-exp trick. Raise `ValueError` when a target is not a class index (`< 0` or `≥ K`) — say
# which sample and what K is — or when `target` does not have shape `(N,)`.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy(input, target, *, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits, same semantics as ``torch.nn.functional.cross_entropy``.

    Args:
        input: logits of shape (N, K).
        target: integer class indices of shape (N,), each in [0, K).
        reduction: "none" → shape (N,), "mean" or "sum" → a number.
        label_smoothing: ε in [0, 1].

    Returns:
        The loss, reduced as asked.
    """
    ### BEGIN SOLUTION
    n, k = input.shape
    if target.shape != (n,):
        raise ValueError(f"target must have shape (N,) = ({n},), got {target.shape}")
    bad = np.flatnonzero((target < 0) | (target >= k))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target[{i}] = {target[i]} is not a class index for K = {k} classes")
    shifted = input - input.max(axis=1, keepdims=True)                       # (N, K), each row's max is 0
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))    # (N, K) log-softmax
    nll = -log_p[np.arange(n), target]                                      # (N,) −log p_y
    loss = (1 - label_smoothing) * nll - label_smoothing * log_p.mean(axis=1)
    return apply_reduction(loss, reduction)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "cross_entropy", "seed": 602}
check_cross_entropy(cross_entropy)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("cross_entropy", cross_entropy, seed=602)
### END HIDDEN TESTS

# %% [markdown]
# **Stable versus naive.** Scale the logits `[2, 1, −1]` up (a confident network, or one whose
# weights blew up) and compare the textbook formula `−log(exp(z_y) / sum(exp(z)))` in float64 and
# float32 with yours and with PyTorch. The true class is 2: the network is confidently *wrong*, and the
# right answer is about 3 × scale (a large loss, but a finite one that training can use).

# %%
def naive_cross_entropy(z, y):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return -np.log(p[np.arange(len(y)), y]).mean() + 0.0          # + 0.0 turns −0 into 0


base, label = np.array([[2.0, 1.0, -1.0]]), np.array([2])
print(f"{'scale':>6} {'naive float64':>14} {'naive float32':>14} {'yours':>12} {'torch':>12}")
for scale in [1, 10, 50, 100, 400, 1000]:
    z = scale * base
    torch_value = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(label)).item()
    print(f"{scale:>6} {naive_cross_entropy(z, label):>14.6g} {naive_cross_entropy(z.astype(np.float32), label):>14.6g} "
          f"{float(cross_entropy(z, label)):>12.6g} {torch_value:>12.6g}")

# %% [markdown]
# **The loss against the predicted probability** of the right class (left): $-\log p_y$ is 0.69
# at $p_y = 0.5$, 2.3 at 0.1 and 4.6 at 0.01 — it punishes confident mistakes without limit.
# On the right, the gradient with respect to the right class's logit: $p_y - 1$ (derived in the
# next section). Compare the squared error on the probability, $(1 - p_y)^2$: its gradient through
# the softmax/sigmoid, $-2(1-p_y)\,p_y(1-p_y)$, **vanishes when the network is confidently wrong**
# ($p_y \to 0$) — exactly when it should learn most. That is why classifiers use cross-entropy.

# %%
p_y = np.linspace(0.001, 0.999, 999)
logits_2 = np.stack([np.log(p_y), np.log1p(-p_y)], axis=1)        # 2 classes with softmax = (p_y, 1 − p_y)
ce_curve = cross_entropy(logits_2, np.zeros(len(p_y), dtype=int), reduction="none")
fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_l.plot(p_y, ce_curve, label="cross-entropy −log p_y", color="#1f77b4")
ax_l.plot(p_y, (1 - p_y) ** 2, label="squared error (1 − p_y)²", color="#d62728")
ax_g.plot(p_y, p_y - 1, label="cross-entropy: p_y − 1", color="#1f77b4")
ax_g.plot(p_y, -2 * (1 - p_y) * p_y * (1 - p_y), label="squared error: −2(1 − p_y)·p_y(1 − p_y)", color="#d62728")
ax_l.set_ylim(0, 5)
ax_l.set_title("loss")
ax_g.set_title("gradient with respect to the right class's logit")
for ax in (ax_l, ax_g):
    ax.set_xlabel("predicted probability of the right class p_y")
    ax.axhline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Entropy and label smoothing.** With a smoothed target the best possible prediction is the target
# itself, and the loss there is not 0 but the target's entropy $H(q)$: the network has no reason to
# push its logits to infinity. Check it with your function, using logits $\log q$ (whose softmax is
# $q$):

# %%
K, eps = 10, 0.1
q = np.full(K, eps / K)
q[3] += 1 - eps
entropy = -(q * np.log(q)).sum()
best = cross_entropy(np.log(q)[None], np.array([3]), label_smoothing=eps)
print(f"H(q) of the smoothed target (K = {K}, ε = {eps}): {entropy:.4f} nats")
print(f"your cross-entropy at the best prediction p = q:   {float(best):.4f} nats")
print(f"(and a one-hot target has entropy 0: −1·log 1 = 0; the most uncertain, uniform one has log K = {np.log(K):.4f})")

# %% [markdown]
# ## 3. The gradient of cross-entropy
#
# Differentiate $\ell = -z_y + \log\sum_j e^{z_j}$ with respect to logit $z_j$:
#
# $$\frac{\partial \ell}{\partial z_j} = \frac{e^{z_j}}{\sum_i e^{z_i}} - [j = y] = p_j - [j = y],$$
#
# i.e. **softmax minus one-hot**: push the right class up by $1 - p_y$, every other class down by
# its own probability. With label smoothing the one-hot becomes the smoothed target $q$: $p - q$.
# The reduction scales it: `"mean"` divides by N, `"sum"` does not, and with `"none"` row $n$ is
# multiplied by the upstream gradient `dout[n]`. With `"mean"`/`"sum"`, `dout` is a number (1.0
# when this loss is the end of the graph).
#
# **Exercise 3.** Implement `cross_entropy_backward(dout, input, target, ...)` returning
# $\partial(\text{dout}\cdot\ell)/\partial\,\text{input}$ of shape (N, K). Compute the softmax
# stably (subtract the row maximum).

# %% nbgrader={"grade": false, "grade_id": "cross_entropy_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy_backward(dout, input, target, *, reduction="mean", label_smoothing=0.0):
    """Gradient of ``cross_entropy`` with respect to the logits.

    Args:
        dout: upstream gradient — a number for "mean"/"sum", shape (N,) for "none".
        input, target, reduction, label_smoothing: the arguments of the forward call.

    Returns:
        d input of shape (N, K).
    """
    ### BEGIN SOLUTION
    n, k = input.shape
    shifted = input - input.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)                                       # (N, K) softmax
    q = np.full_like(p, label_smoothing / k)                                # (N, K) smoothed one-hot
    q[np.arange(n), target] += 1 - label_smoothing
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"unknown reduction {reduction!r}")
    scale = dout[:, None] if reduction == "none" else dout / n if reduction == "mean" else dout
    return (p - q) * scale
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "cross_entropy_backward", "seed": 603}
check_cross_entropy_backward(cross_entropy_backward)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("cross_entropy_backward", cross_entropy_backward, seed=603)
### END HIDDEN TESTS

# %% [markdown]
# The independent truth: numerical gradient checking (central differences, float64) of your
# backward against your forward. A correct gradient has a relative error around $10^{-9}$ or less.

# %%
rng = np.random.default_rng(1)
z_gc, y_gc = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
for reduction in ["mean", "sum", "none"]:
    dout_gc = rng.standard_normal(5) if reduction == "none" else 1.7
    analytic = cross_entropy_backward(dout_gc, z_gc, y_gc, reduction=reduction, label_smoothing=0.1)
    errors = gradcheck(lambda input, r=reduction: cross_entropy(input, y_gc, reduction=r, label_smoothing=0.1),
                       {"input": z_gc}, {"input": analytic}, dout_gc)
    print(f"reduction={reduction!r:>7}: relative error {errors['input']:.2e}")

# %% [markdown]
# ## 4. Binary cross-entropy with logits
#
# For yes/no questions — "is there an object in this anchor?", or multi-label classification where
# each of K labels is its own yes/no — a single logit $x$ per question goes through the sigmoid
# $\sigma(x) = 1/(1 + e^{-x})$ and the loss for a target $t \in [0, 1]$ is
#
# $$\ell = -\left[\,t \log\sigma(x) + (1 - t)\log(1 - \sigma(x))\,\right].$$
#
# Computing $\sigma$ first and then its log fails for large $|x|$: $\sigma(40) = 1$ in float64,
# and $\log(1 - 1) = -\infty$. Work with logs directly. The **softplus**
# $\operatorname{sp}(u) = \log(1 + e^{u})$ gives $-\log\sigma(x) = \operatorname{sp}(-x)$ and
# $-\log(1 - \sigma(x)) = \operatorname{sp}(x) = x + \operatorname{sp}(-x)$, so
#
# $$\ell = t\,\operatorname{sp}(-x) + (1 - t)\,\bigl(x + \operatorname{sp}(-x)\bigr),$$
#
# and `np.logaddexp(0, u)` $= \log(e^0 + e^u)$ computes $\operatorname{sp}(u)$ without overflow.
# `pos_weight` multiplies the positive term $t\,\operatorname{sp}(-x)$: with 100 positives and 300
# negatives per class, `pos_weight = 3` makes them count equally (it broadcasts like the last axis,
# e.g. shape `(K,)` for inputs `(N, K)`).
#
# A remark on the lecture notes, which write "a = 0.5 时, C 最大" for this loss: for a *given*
# label the loss grows without bound as the prediction moves to the wrong side. What peaks at
# $a = 0.5$ (at $\log 2 ≈ 0.693$) is the prediction's *entropy* — the expected loss if the label
# were drawn with probability $a$.
#
# **Exercise 4.** Implement `binary_cross_entropy_with_logits`, stable for any logits. Raise
# `ValueError` if the shapes differ or a target lies outside [0, 1].

# %% nbgrader={"grade": false, "grade_id": "binary_cross_entropy_with_logits", "locked": false, "schema_version": 3, "solution": true, "task": false}
def binary_cross_entropy_with_logits(input, target, *, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy, same semantics as ``F.binary_cross_entropy_with_logits``.

    Args:
        input: logits x, any shape (...).
        target: targets t in [0, 1], same shape.
        reduction: "none" → shape (...), "mean" or "sum" → a number.
        pos_weight: optional weight of the positive term, broadcastable to the input (e.g. (K,)).

    Returns:
        The loss, reduced as asked.
    """
    ### BEGIN SOLUTION
    if input.shape != target.shape:
        raise ValueError(f"input and target must have the same shape, got {input.shape} and {target.shape}")
    if np.any((target < 0) | (target > 1)):
        raise ValueError(f"targets must lie in [0, 1], found values in [{target.min()}, {target.max()}]")
    sp_neg = np.logaddexp(0, -input)                                        # softplus(−x) = −log σ(x)
    w_pos = 1 if pos_weight is None else pos_weight
    loss = w_pos * target * sp_neg + (1 - target) * (input + sp_neg)
    return apply_reduction(loss, reduction)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_binary_cross_entropy_with_logits", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "binary_cross_entropy_with_logits", "seed": 604}
check_binary_cross_entropy_with_logits(binary_cross_entropy_with_logits)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("binary_cross_entropy_with_logits", binary_cross_entropy_with_logits, seed=604)
### END HIDDEN TESTS

# %% [markdown]
# A binary logit $x$ is the same as a 2-class softmax over logits $(0, x)$: your two losses agree.

# %%
x_demo = np.array([-30.0, -2.0, 0.0, 0.5, 3.0, 30.0])
t_demo = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
as_two_classes = np.stack([np.zeros_like(x_demo), x_demo], axis=1)      # (N, 2): class 1 = "yes"
print("BCE with logits:      ", binary_cross_entropy_with_logits(x_demo, t_demo, reduction="none"))
print("2-class cross-entropy:", cross_entropy(as_two_classes, t_demo.astype(int), reduction="none"))

# %% [markdown]
# ## 5. Focal loss: easy examples should not drown the hard ones
#
# In a one-stage detector almost every anchor is background, and almost all of those are *easy*:
# the detector already says "background" with probability 0.99. Each then has a tiny
# cross-entropy, $-\log 0.99 ≈ 0.01$ — but 100,000 of them add up to far more than the loss of the
# few objects. This is the "类别极不平衡" of the lecture notes: two-stage detectors cut the
# background down to ~2,000 proposals first; a one-stage detector has to live with it.
# (The notes say cross-entropy is "惯用" for *regression*; it is the classification branch here.)
#
# Write $p = \sigma(x)$ and $p_t = p$ for a positive ($t = 1$), $1 - p$ for a negative — the
# probability given to the right answer — and $\alpha_t = \alpha$ for positives, $1 - \alpha$ for
# negatives. Then (Lin et al., 2017)
#
# $$\mathrm{CE} = -\log p_t, \qquad \mathrm{FL} = -\alpha_t\,(1 - p_t)^{\gamma}\,\log p_t .$$
#
# The **modulating factor** $(1 - p_t)^\gamma$ is ≈ 1 for a misclassified example and ≈ 0 for an
# easy one: with γ = 2, an example at $p_t = 0.9$ loses 100× less than with CE, and one at
# $p_t = 0.968$ about 1000× less. RetinaNet uses γ = 2 with α = 0.25 — α *down*-weights the rare
# positives, because γ already silenced the easy negatives. It also sums the loss over all ~100k
# anchors and divides by the number of *positive* anchors only. `torchvision.ops.sigmoid_focal_loss`
# implements the formula with $\alpha < 0$ meaning "no α weighting" and `reduction="none"` by default.
#
# **Exercise 5.** Implement `sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2,
# reduction="none")` with torchvision's semantics: the binary cross-entropy (use your Exercise 4),
# times $(1 - p_t)^\gamma$, times $\alpha_t$ when $\alpha \ge 0$. The targets may also be
# probabilities: compute $p_t = p\,t + (1 - p)(1 - t)$ and $\alpha_t = \alpha t + (1 - \alpha)(1 - t)$.
# Compute the sigmoid without overflow (hint: $\sigma(x) = e^{-\operatorname{sp}(-x)}$).

# %% nbgrader={"grade": false, "grade_id": "sigmoid_focal_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """Focal loss of RetinaNet, same semantics as ``torchvision.ops.sigmoid_focal_loss``.

    Args:
        inputs: logits, any shape (...).
        targets: labels in [0, 1] (1 = object, 0 = background), same shape.
        alpha: weight of the positives in [0, 1]; negative means no α weighting.
        gamma: focusing exponent γ ≥ 0; γ = 0 gives (α-balanced) cross-entropy.
        reduction: "none" (the default, as in torchvision) → shape (...), "mean" or "sum".

    Returns:
        The loss, reduced as asked.
    """
    ### BEGIN SOLUTION
    ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p = np.exp(-np.logaddexp(0, -inputs))                                   # σ(x) without overflow
    p_t = targets * p + (1 - targets) * (1 - p)                              # probability of the right answer
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets) if alpha >= 0 else 1.0
    return apply_reduction(alpha_t * (1 - p_t) ** gamma * ce, reduction)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid_focal_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sigmoid_focal_loss", "seed": 605}
check_sigmoid_focal_loss(sigmoid_focal_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sigmoid_focal_loss", sigmoid_focal_loss, seed=605)
### END HIDDEN TESTS

# %% [markdown]
# The paper's Figure 1, with your function (α switched off): the loss of a positive example against
# $p_t$ for several γ (left), and the size of its gradient with respect to the logit on a log scale
# (right, by finite differences of your loss). Beyond $p_t ≈ 0.6$ the focal loss is orders of
# magnitude smaller than cross-entropy (γ = 0).

# %%
x_grid = np.linspace(-5, 8, 1301)                                       # logits of a positive example
p_t_grid = 1 / (1 + np.exp(-x_grid))
ones = np.ones_like(x_grid)
fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
for gamma, color in zip([0, 0.5, 1, 2, 5], ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]):
    fl = sigmoid_focal_loss(x_grid, ones, alpha=-1, gamma=gamma)
    label = f"γ = {gamma}" + (" (cross-entropy)" if gamma == 0 else "")
    ax_l.plot(p_t_grid, fl, color=color, label=label)
    ax_g.semilogy(p_t_grid, np.abs(np.gradient(fl, x_grid)), color=color, label=label)
ax_l.set_ylim(0, 5)
ax_l.set_title("focal loss of a positive example")
ax_g.set_title("|∂ loss / ∂ logit| (log scale)")
ax_g.set_ylim(1e-8, 2)
for ax in (ax_l, ax_g):
    ax.set_xlabel("probability of the right class p_t")
    ax.axvspan(0.6, 1.0, color="gray", alpha=0.12, lw=0)
    ax.legend(fontsize=8)
ax_l.text(0.8, 4.4, "well-classified\nexamples", ha="center", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **The imbalance, computed.** A synthetic image with **100,000 anchors**, 100 of them objects
# (1 : 1000). The detector is half-trained: it is unsure about the objects (logits around 0.5) and
# says "background" confidently for most of the rest (logits around −5), with ~1% hard negatives.
# Where does the total loss come from?

# %%
rng = np.random.default_rng(6)
n_pos, n_neg = 100, 100_000
anchor_logits = np.concatenate([rng.normal(0.5, 1.5, n_pos), rng.normal(-5.0, 1.2, n_neg)])
anchor_labels = np.concatenate([np.ones(n_pos), np.zeros(n_neg)])
p_right = np.where(anchor_labels == 1, 1 / (1 + np.exp(-anchor_logits)), 1 / (1 + np.exp(anchor_logits)))
groups = {"positives": anchor_labels == 1,
          "hard negatives (p_t < 0.9)": (anchor_labels == 0) & (p_right < 0.9),
          "easy negatives (p_t ≥ 0.9)": (anchor_labels == 0) & (p_right >= 0.9)}
variants = {"cross-entropy": dict(alpha=-1, gamma=0),
            "focal, γ = 2": dict(alpha=-1, gamma=2),
            "focal, γ = 2, α = 0.25 (RetinaNet)": dict(alpha=0.25, gamma=2)}
print("anchors per group: " + ", ".join(f"{name} {mask.sum():,}" for name, mask in groups.items()))
shares = {}
for name, kwargs in variants.items():
    per_anchor = sigmoid_focal_loss(anchor_logits, anchor_labels, **kwargs)
    total = per_anchor.sum()
    shares[name] = [per_anchor[mask].sum() / total for mask in groups.values()]
    print(f"{name:>36}: total {total:9.2f} = {total / n_pos:7.3f} per positive;  shares "
          + ", ".join(f"{s:6.1%}" for s in shares[name]))

fig, ax = plt.subplots(figsize=(9, 2.6))
left = np.zeros(len(variants))
for i, (group, color) in enumerate(zip(groups, ["#2ca02c", "#ff7f0e", "#1f77b4"])):
    widths = np.array([s[i] for s in shares.values()])
    ax.barh(list(variants), widths, left=left, color=color, label=group)
    for y_pos, (w, l) in enumerate(zip(widths, left)):
        if w > 0.04:
            ax.text(l + w / 2, y_pos, f"{w:.0%}", ha="center", va="center", color="white", fontsize=9)
    left += widths
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("share of the total loss")
ax.set_title("100 objects among 100,000 anchors: who contributes the loss?")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# With cross-entropy, the easy negatives — each nearly right — contribute most of the loss and of the
# gradient, so training spends its effort making confident background more confident. The focal loss
# hands the loss back to the objects and the hard negatives: the examples the detector still gets wrong.
#
# ## 6. The multi-class hinge (SVM) loss
#
# The multi-class SVM loss (Weston & Watkins; CS231n) asks the right class's score to beat every
# other class's score by a margin Δ and ignores everything beyond that:
#
# $$\ell_n = \frac{1}{K}\sum_{j \ne y_n} \max\bigl(0,\ \Delta - z_{y_n} + z_j\bigr)^p .$$
#
# PyTorch's `F.multi_margin_loss` divides by K (CS231n's version does not) and offers $p = 2$, the
# squared hinge. Unlike cross-entropy, once every margin is met the loss is exactly 0 and the
# example stops contributing — the hinge is "satisfied", cross-entropy never is.
#
# **Exercise 6.** Implement `multi_margin_loss` for scores `(N, K)`, integer targets `(N,)`, `p`
# 1 or 2, and `margin` Δ. Same `ValueError`s for class indices as `cross_entropy`, and for a `p`
# other than 1 or 2.

# %% nbgrader={"grade": false, "grade_id": "multi_margin_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multi_margin_loss(input, target, p=1, margin=1.0, *, reduction="mean"):
    """Multi-class hinge loss, same semantics as ``torch.nn.functional.multi_margin_loss``.

    Args:
        input: scores of shape (N, K).
        target: integer class indices of shape (N,), each in [0, K).
        p: 1 (hinge) or 2 (squared hinge).
        margin: the margin Δ.
        reduction: "none" → shape (N,), "mean" or "sum" → a number.

    Returns:
        The loss, reduced as asked.
    """
    ### BEGIN SOLUTION
    n, k = input.shape
    if target.shape != (n,):
        raise ValueError(f"target must have shape (N,) = ({n},), got {target.shape}")
    bad = np.flatnonzero((target < 0) | (target >= k))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target[{i}] = {target[i]} is not a class index for K = {k} classes")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    rows = np.arange(n)
    correct = input[rows, target][:, None]                                  # (N, 1) score of the right class
    hinge = np.maximum(0, margin - correct + input)                         # (N, K)
    hinge[rows, target] = 0                                                 # no margin against itself
    loss = (hinge**p).sum(axis=1) / k
    return apply_reduction(loss, reduction)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_multi_margin_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "multi_margin_loss", "seed": 606}
check_multi_margin_loss(multi_margin_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("multi_margin_loss", multi_margin_loss, seed=606)
### END HIDDEN TESTS

# %% [markdown]
# CS231n's example — scores for three images of a cat, a car and a frog — gives SVM losses 2.9,
# 0 and 12.9; PyTorch's convention divides each by K = 3:

# %%
scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])   # rows: cat, car, frog images
print("yours × K:", multi_margin_loss(scores, np.array([0, 1, 2]), reduction="none") * 3)

# %% [markdown]
# The three classification losses for one comparison, against the margin $s = z_y - z_j$ by which
# the right class wins (for two classes, cross-entropy is $\log(1 + e^{-s})$), with the 0-1 loss
# that all of them stand in for. The hinge's gradient is exactly 0 beyond the margin; cross-entropy's
# only decays.

# %%
s = np.linspace(-3, 4, 701)
two = np.stack([s, np.zeros_like(s)], axis=1)                           # logits (right class, other class)
right = np.zeros(len(s), dtype=int)
curves = {"0-1 loss": (s <= 0).astype(float),
          "hinge (p = 1)": 2 * multi_margin_loss(two, right, reduction="none"),
          "squared hinge (p = 2)": 2 * multi_margin_loss(two, right, p=2, reduction="none"),
          "cross-entropy": cross_entropy(two, right, reduction="none")}
colors = ["gray", "#d62728", "#ff7f0e", "#1f77b4"]
fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
for (name, curve), color in zip(curves.items(), colors):
    ax_l.plot(s, curve, color=color, label=name, ls="--" if name == "0-1 loss" else "-")
    if name != "0-1 loss":
        ax_g.plot(s, np.gradient(curve, s), color=color, label=name)
ax_l.set_ylim(-0.1, 4)
ax_g.set_ylim(-2.2, 0.3)
ax_l.set_title("loss (margin Δ = 1)")
ax_g.set_title("gradient ∂ loss / ∂ s")
for ax in (ax_l, ax_g):
    ax.set_xlabel("margin of the right class s = z_y − z_j")
    ax.axhline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Everything against PyTorch
#
# The course's reference implementations (`course_lib.reference.losses`, with a backward for every loss) and
# your functions, compared with PyTorch on the same random inputs for every reduction: forward
# values, and gradients from torch's autograd. torchvision is not installed, so the focal loss is
# compared with a line-by-line transcription of `torchvision.ops.sigmoid_focal_loss`.

# %%
from course_lib.reference import losses as reference


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, transcribed."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


rng = np.random.default_rng(7)
z, labels = 3 * rng.standard_normal((8, 5)), rng.integers(0, 5, 8)
y, soft = rng.standard_normal((8, 5)), rng.uniform(0, 1, (8, 5))
binary, pos_weight = (rng.random((8, 5)) < 0.3).astype(float), rng.uniform(0.5, 3, 5)
# name: (torch function, your function or None, target, options)
cases = {
    "cross_entropy": (F.cross_entropy, cross_entropy, labels, {"label_smoothing": 0.1}),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, binary_cross_entropy_with_logits,
                                         soft, {"pos_weight": pos_weight}),
    "mse_loss": (F.mse_loss, None, y, {}),
    "l1_loss": (F.l1_loss, None, y, {}),
    "smooth_l1_loss": (F.smooth_l1_loss, smooth_l1_loss, y, {"beta": 0.5}),
    "sigmoid_focal_loss": (torchvision_sigmoid_focal_loss, sigmoid_focal_loss, binary, {"gamma": 2}),
    "multi_margin_loss": (F.multi_margin_loss, multi_margin_loss, labels, {"margin": 0.7}),
}


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


print(f"{'loss':>34} {'reduction':>9} {'reference':>10} {'ref. grad':>10} {'yours':>10}")
worst = 0.0
for name, (torch_fn, yours, target, options) in cases.items():
    for reduction in ["none", "mean", "sum"]:
        zt = torch.tensor(z, requires_grad=True)
        torch_options = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
        out = torch_fn(zt, torch.from_numpy(target), reduction=reduction, **torch_options)
        dout = rng.uniform(0.5, 2.0, tuple(out.shape))
        out.backward(torch.from_numpy(dout))
        dout = dout if reduction == "none" else float(dout)
        ref_fwd = max_diff(getattr(reference, name)(z, target, reduction=reduction, **options), out.detach())
        ref_bwd = max_diff(getattr(reference, name + "_backward")(dout, z, target, reduction=reduction, **options),
                           zt.grad)
        worst = max(worst, ref_fwd, ref_bwd)
        try:
            mine = "—" if yours is None else f"{max_diff(yours(z, target, reduction=reduction, **options), out.detach()):.1e}"
        except NotImplementedError:
            mine = "not yet"
        print(f"{name:>34} {reduction:>9} {ref_fwd:>10.1e} {ref_bwd:>10.1e} {mine:>10}")
assert worst < 1e-10, worst
print(f"largest difference between the references and torch: {worst:.1e}")
zt = torch.tensor(z, requires_grad=True)
F.cross_entropy(zt, torch.from_numpy(labels), label_smoothing=0.1).backward()
try:
    print(f"your cross_entropy_backward vs torch autograd: "
          f"{max_diff(cross_entropy_backward(1.0, z, labels, label_smoothing=0.1), zt.grad):.1e}")
except NotImplementedError:
    print("your cross_entropy_backward: not yet")

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **"a = 0.5 时, C 最大".** For a given label the binary cross-entropy grows without bound as the prediction moves to the wrong side; what peaks at $a = 0.5$ is the prediction's entropy.
# > * **Focal loss.** The notes write the α-balanced cross-entropy $-\alpha_t \log p_t$ and call cross-entropy "惯用" for *regression*; the chapter implements RetinaNet's full $-\alpha_t (1 - p_t)^\gamma \log p_t$ (γ = 2, α = 0.25) for the classification branch.
# > * **Smooth L1's β.** The notes' Smooth L1 is β = 1; the chapter follows PyTorch's `beta` argument (β = 0 gives L1).

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does focal loss need α as well as γ?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_focal_alpha", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** γ down-weights *easy* examples, whatever their class: $(1 - p_t)^\gamma$ is tiny for the 100,000 well-classified background anchors. It does not balance positives against negatives — that is α's job, a class weight. The two interact: once γ = 2 has silenced the easy negatives, the few positives would dominate, so the best α in RetinaNet is 0.25, which *down*-weights the positives (at γ = 0, α = 0.75 was best).
#
# **Rubric (2 points).** 1 pt: γ focuses on hard vs easy, α weights classes (positives vs negatives). 1 pt: they interact — with γ = 2 the best α is 0.25 < 0.5.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why do Fast R-CNN and SSD regress boxes with Smooth L1 rather than L2 or L1?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_smooth_l1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** L2's gradient grows with the error, so a few far-off targets (bad proposals, outliers) dominate the gradient and can make training unstable; L1's gradient has constant size ±1, robust to outliers but it does not shrink near the optimum (and L1 has a kink at 0), so it oscillates. Smooth L1 is quadratic inside $|d| < \beta$ — gradient shrinking to 0 — and linear outside — gradient bounded by 1.
#
# **Rubric (2 points).** 1 pt: L2's unbounded gradient / outlier sensitivity. 1 pt: L1's constant gradient near 0; Smooth L1 combines both.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). With label smoothing ε over K classes, what do the optimal predicted probabilities look like, and why does that help?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_label_smoothing", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** The target puts $1 - \varepsilon + \varepsilon/K$ on the right class and $\varepsilon/K$ on each other; cross-entropy is minimised when the prediction equals the target, so the optimal logit gap is finite, $\log\frac{1 - \varepsilon + \varepsilon/K}{\varepsilon/K}$. Without smoothing the optimum is $p_y = 1$, reached only as logits grow without bound: smoothing stops that, curbs over-confidence and usually improves calibration and generalisation.
#
# **Rubric (2 points).** 1 pt: the optimum equals the smoothed target (finite logits). 1 pt: prevents unbounded logits / over-confidence.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Regression: L2's gradient grows with the error (outliers dominate), L1's never shrinks (and has
#   a kink at 0); Smooth L1 is L2 inside $[-\beta, \beta]$ and L1 outside — the box loss of Fast/Faster
#   R-CNN and SSD.
# * Cross-entropy $-\log p_y$ = negative log-likelihood; compute it from logits with the
#   log-sum-exp trick, never as `log(softmax)`. Its gradient is softmax − one-hot (÷N for the mean).
# * Binary cross-entropy with logits: $t\,\operatorname{sp}(-x) + (1-t)(x + \operatorname{sp}(-x))$,
#   stable with `np.logaddexp`.
# * Focal loss $-\alpha_t(1-p_t)^\gamma\log p_t$ (γ = 2, α = 0.25) silences the easy negatives that
#   dominate cross-entropy when objects are 1 in 1000 anchors — RetinaNet's 39.1 AP.
# * The hinge loss is satisfied at the margin; cross-entropy keeps pushing.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch06")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch06_losses/ch06_losses.ipynb`.
