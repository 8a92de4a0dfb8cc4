# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 7 — Training & optimization
#
# A network is only as good as the way it is trained. The architecture fixes *what* can be learned;
# the optimizer, the learning rate (学习率), its schedule, the initial weights (权重初始化) and a
# handful of habits decide *whether* it is learned. Two numbers to remember: He et al. (2015)
# reported that a 30-layer ReLU network **does not learn at all** with the then-standard Xavier
# initialization but trains with theirs; and Goyal et al. (2017) trained ResNet-50 on ImageNet **in
# one hour** with batches of 8,192 — possible only with a linear learning-rate warm-up.
#
# In this chapter you write the update rules of `torch.optim` in numpy, check them step by step
# against PyTorch, watch them race on 2-D loss surfaces, and then test the lecture notes' practical
# training tips one by one with small experiments. The capstone trains LeNet-5 to ≥ 98 % on the
# digits in a few seconds.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `sgd_step` — SGD with momentum (动量), dampening, Nesterov and weight decay, like `torch.optim.SGD` | 3 |
# | 2 | `rmsprop_step` — RMSProp, like `torch.optim.RMSprop` | 2 |
# | 3 | `adam_step` — Adam with bias correction, like `torch.optim.Adam` | 3 |
# | 4 | `step_decay` — the step schedule (`StepLR`) | 1 |
# | 5 | `cosine_lr` — cosine annealing (`CosineAnnealingLR`) | 2 |
# | 6 | `fan_in_and_fan_out` — fans of linear and conv weights | 1 |
# | 7 | `xavier_uniform` — Glorot initialization | 1 |
# | 8 | `kaiming_normal` — He initialization, with gains | 2 |
# | 9 | `minibatches` — shuffled mini-batch (小批量) indices for one epoch | 1 |
#
# **The update rules are pure functions.** PyTorch's optimizers keep a *state* per parameter (the
# momentum buffer, Adam's moment estimates). Here the state goes in and comes out explicitly:
# `w, buf = sgd_step(w, dw, buf, lr=0.1, momentum=0.9)`. Never modify an input in place (`w -= ...`
# or `m *= beta1` would change the caller's array): build new arrays. The state arrays are named
# like the keys of `torch.optim.Adam(...).state[p]`, so you can compare them with PyTorch's.
#
# Each exercise has a `check_*` cell that explains the first thing that is wrong. While your functions
# are checked, `torch`, `scipy` and the course's reference implementations are switched off.
#
# **Key terms** ([glossary](../../docs/glossary.md)): learning rate 学习率 · momentum 动量 · Nesterov momentum Nesterov 动量 · bias correction 偏差修正 · learning-rate schedule 学习率调度 · step decay 阶梯衰减 · cosine annealing 余弦退火 · warm-up 预热 · reduce on plateau 平台期学习率衰减 · weight initialization 权重初始化 · Gaussian initialization 高斯分布初始权重 · uniform initialization 均匀分布初始权重

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.data import digits_split
from course_lib.models import LeNet5, count_params, digits_to_32
from course_lib.testing import (
    check_adam_step,
    check_cosine_lr,
    check_fan_in_and_fan_out,
    check_kaiming_normal,
    check_minibatches,
    check_rmsprop_step,
    check_sgd_step,
    check_step_decay,
    check_xavier_uniform,
)
from course_lib.train import evaluate, fit, plot_histories
from course_lib.viz.optim import LANDSCAPES, RULES, OptimizerRace, draw_contours

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine

# %% [markdown]
# ## 1. Gradient descent, and why it needs momentum
#
# Gradient descent moves the weights against the gradient: $w \leftarrow w - \eta\,\nabla L(w)$, with
# learning rate $\eta$. On a long, narrow valley it has a dilemma. Take
# $L(x, y) = \tfrac12(x^2 + 50\,y^2)$: the curvature is 50 across the valley and 1 along it. A step
# larger than $2/50$ makes $y$ overshoot further each time — divergence — so $\eta < 0.04$, and then
# $x$ shrinks by only a factor $(1 - \eta) \approx 0.96$ per step. The condition number (here 50)
# sets the speed.
#
# **Momentum** (Polyak, 1964) keeps a running sum of past gradients, a velocity: components that
# keep their sign (along the valley) add up, components that flip sign (across it) cancel. PyTorch's
# `SGD` does, for gradient $g_t$, momentum $\mu$ and dampening $\tau$:
#
# $$b_1 = g_1,\qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t,\qquad w_t = w_{t-1} - \eta\, b_t$$
#
# (the first buffer is the gradient itself, undampened). **Nesterov** momentum (Nesterov, 1983;
# brought to deep learning by Sutskever et al., 2013) looks ahead: it steps along $g_t + \mu\, b_t$
# instead of $b_t$. **Weight decay** $\lambda$ adds
# $\lambda w$ to the gradient first ($g_t = \nabla L + \lambda w$): the gradient of $\tfrac{\lambda}{2}\|w\|^2$.
#
# **Exercise 1.** `sgd_step(w, dw, momentum_buffer, lr, momentum, dampening, nesterov, weight_decay)`
# returns `(w_new, momentum_buffer)`. `momentum_buffer` is `None` on the first step; with
# `momentum == 0` there is no buffer and you return `None` for it. Raise `ValueError` if `w` and `dw`
# have different shapes, or if `nesterov` is asked for without `momentum > 0` and `dampening == 0`
# (PyTorch refuses that too).

# %% nbgrader={"grade": false, "grade_id": "sgd_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd_step(w, dw, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0):
    """One step of ``torch.optim.SGD``.

    Args:
        w: parameter, any shape.
        dw: gradient of the loss w.r.t. w, same shape.
        momentum_buffer: buffer returned by the previous step, or None on the first step.
        lr, momentum, dampening, weight_decay: floats ≥ 0, as in torch.
        nesterov: use Nesterov momentum.

    Returns:
        (w_new, momentum_buffer): arrays of w's shape; the buffer is None when momentum == 0.
    """
    ### BEGIN SOLUTION
    if w.shape != dw.shape:
        raise ValueError(f"w has shape {w.shape} but dw has shape {dw.shape}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
    g = dw + weight_decay * w
    if momentum == 0:
        return w - lr * g, None
    if momentum_buffer is None:
        buf = g.copy()
    else:
        buf = momentum * momentum_buffer + (1 - dampening) * g
    direction = g + momentum * buf if nesterov else buf
    return w - lr * direction, buf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sgd_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "sgd_step", "seed": 701}
check_sgd_step(sgd_step)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("sgd_step", sgd_step, seed=701)
### END HIDDEN TESTS

# %% [markdown]
# Every optimizer lives in the same loop: compute the gradient, call the update rule, carry the state
# to the next step. Here it is on the valley, 100 steps each: plain gradient descent at $\eta = 0.038$
# (just under the $2/50$ limit), and momentum 0.9 with and without Nesterov at $\eta = 0.02$.

# %%
valley = LANDSCAPES["ill-conditioned valley"]   # .f(w) -> (loss, gradient), .start, .minimum, ...


def descend(f, w0, steps, **hp):
    """Run sgd_step from w0; return the path (steps + 1, 2) and the losses (steps + 1,)."""
    w, buf = np.array(w0, dtype=float), None
    path, losses = [w], [f(w)[0]]
    for _ in range(steps):
        loss, grad = f(w)
        w, buf = sgd_step(w, grad, buf, **hp)
        path.append(w)
        losses.append(f(w)[0])
    return np.array(path), np.array(losses)


kappa = 50.0                                              # condition number: curvatures 1 and 50
tuned = dict(lr=4 / (np.sqrt(kappa) + 1) ** 2, momentum=((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2)
runs = {"sgd": dict(lr=0.038), "momentum": dict(lr=0.02, momentum=0.9),
        "nesterov": dict(lr=0.02, momentum=0.9, nesterov=True), "momentum, tuned": tuned}
colours = {**RULES, "momentum, tuned": "#9467bd"}
fig, (ax, axl) = plt.subplots(1, 2, figsize=(11, 3.6))
draw_contours(ax, valley)
for name, hp in runs.items():
    path, losses = descend(valley.f, valley.start, 100, **hp)
    label = f"{name} " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else k for k, v in hp.items())
    if name != "momentum, tuned":   # its first swings leave this view: the loss rises before it falls
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, color=colours[name], label=label)
    axl.semilogy(np.maximum(losses, 1e-20), color=colours[name], label=label)
    print(f"{name:>15}: loss after 100 steps {losses[-1]:.2e}")
ax.set_xlim(valley.xlim), ax.set_ylim(valley.ylim), ax.legend(fontsize=7, loc="lower right")
ax.set_title("L = ½(x² + 50y²): start ●, minimum ★")
axl.set(xlabel="step", ylabel="loss (log scale)", title="loss per step")
axl.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# Gradient descent zig-zags across the valley (each step overshoots to the other side) and crawls
# along it. Momentum 0.9 overshoots too — it swings past the minimum along x — but builds up speed
# along the valley floor; Nesterov's look-ahead damps the swings. With settings chosen from the two
# curvatures ($\eta = 4/(\sqrt{50}+1)^2$, $\mu = ((\sqrt{50}-1)/(\sqrt{50}+1))^2 \approx 0.57$; Polyak's
# heavy ball) momentum shrinks the error by a factor ≈ 0.75 per step instead of 0.96: about
# $\sqrt{50} \approx 7$ times fewer steps for the same accuracy.
#
# ## 2. RMSProp: one learning rate per coordinate
#
# Momentum treats all coordinates alike. RMSProp (Hinton's 2012 lecture) divides each coordinate's
# gradient by a running root-mean-square of that coordinate's past gradients, so steep directions get
# small steps and flat ones large steps:
#
# $$s_t = \alpha\, s_{t-1} + (1 - \alpha)\, g_t^2, \qquad w_t = w_{t-1} - \eta\, \frac{g_t}{\sqrt{s_t} + \epsilon}$$
#
# (element-wise; $s_0 = 0$; PyTorch adds ε *after* the square root; weight decay as in SGD).
#
# **Exercise 2.** `rmsprop_step(w, dw, square_avg, lr, alpha, eps, weight_decay)` returns
# `(w_new, square_avg)`. `square_avg` starts as zeros. Raise `ValueError` if `dw` or `square_avg` do
# not have the shape of `w`.

# %% nbgrader={"grade": false, "grade_id": "rmsprop_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop_step(w, dw, square_avg, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    """One step of ``torch.optim.RMSprop`` (no momentum, not centred).

    Args:
        w: parameter, any shape.
        dw: its gradient, same shape.
        square_avg: running average of squared gradients (zeros before the first step), same shape.
        lr, alpha, eps, weight_decay: as in torch.

    Returns:
        (w_new, square_avg): arrays of w's shape.
    """
    ### BEGIN SOLUTION
    if dw.shape != w.shape or square_avg.shape != w.shape:
        raise ValueError(f"w {w.shape}, dw {dw.shape} and square_avg {square_avg.shape} must have one shape")
    g = dw + weight_decay * w
    square_avg = alpha * square_avg + (1 - alpha) * g * g
    return w - lr * g / (np.sqrt(square_avg) + eps), square_avg
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rmsprop_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rmsprop_step", "seed": 702}
check_rmsprop_step(rmsprop_step)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rmsprop_step", rmsprop_step, seed=702)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Adam: momentum + RMSProp + bias correction
#
# Adam (Kingma & Ba, 2014) keeps both running averages — of the gradient (first moment $m$, the
# momentum) and of its square (second moment $v$, as in RMSProp):
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2$$
#
# Both start at zero, so early on they are biased towards zero: after one step $m_1 = 0.1\,g_1$ with
# $\beta_1 = 0.9$. Dividing by $1 - \beta^t$ removes the bias exactly for a constant gradient:
#
# $$\hat m_t = \frac{m_t}{1 - \beta_1^t},\qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},\qquad
# w_t = w_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$
#
# $t$ counts steps from 1. Weight decay, as before, is added to the gradient first. (PyTorch computes
# the same thing as $\frac{\eta}{1-\beta_1^t}\, m_t / (\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon)$.)
#
# **Exercise 3.** `adam_step(w, dw, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay)` returns
# `(w_new, exp_avg, exp_avg_sq)`. Raise `ValueError` for `step < 1`.

# %% nbgrader={"grade": false, "grade_id": "adam_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step(w, dw, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """One step of ``torch.optim.Adam``.

    Args:
        w: parameter, any shape.
        dw: its gradient, same shape.
        exp_avg, exp_avg_sq: m and v from the previous step (zeros before the first), same shape.
        step: number t of this step, 1 for the first.
        lr, betas, eps, weight_decay: as in torch.

    Returns:
        (w_new, exp_avg, exp_avg_sq): arrays of w's shape.
    """
    ### BEGIN SOLUTION
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    beta1, beta2 = betas
    g = dw + weight_decay * w
    m = beta1 * exp_avg + (1 - beta1) * g
    v = beta2 * exp_avg_sq + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adam_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "adam_step", "seed": 703}
check_adam_step(adam_step)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("adam_step", adam_step, seed=703)
### END HIDDEN TESTS

# %% [markdown]
# What bias correction buys: feed a constant gradient $g = 1$ and look at the step size
# $|w_t - w_{t-1}|/\eta$. With correction it is 1 from the very first step (Adam's steps are about
# η long whatever the gradient's scale). Without it the first step is $0.1/\sqrt{0.001} \approx 3.2$
# times too long, and with β₂ = 0.9999 (as some papers use) even 10×.

# %%
fig, ax = plt.subplots(figsize=(6.5, 3))
for beta2 in (0.999, 0.9999):
    w, m, v, corrected, raw = np.zeros(1), np.zeros(1), np.zeros(1), [], []
    for t in range(1, 201):
        w_new, m, v = adam_step(w, np.ones(1), m, v, t, lr=1.0, betas=(0.9, beta2))
        corrected.append(abs(w_new - w)[0])
        raw.append(m[0] / (np.sqrt(v[0]) + 1e-8))   # the same step without the two corrections
        w = w_new
    ax.plot(raw, label=f"no bias correction, β₂ = {beta2}")
ax.plot(corrected, "k--", label="with bias correction (yours)")
ax.set(xlabel="step t", ylabel="step length / lr", title="Adam on a constant gradient g = 1")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. The race
#
# All five update rules on three surfaces, with learning rates picked for each (`LANDSCAPES[...].lrs`):
# the valley, the same valley turned by 45°, and Rosenbrock's banana-shaped valley
# $(1-x)^2 + 100\,(y - x^2)^2$ whose floor bends. `race_all` uses your three functions.

# %%
def race_all(land, steps):
    """Run the five rules with your step functions; return {rule: (path, losses)}."""
    results = {}
    for rule in RULES:
        w, lr = np.array(land.start, dtype=float), land.lrs[rule]
        state = {"sgd": [None], "momentum": [None], "nesterov": [None], "rmsprop": [np.zeros(2)],
                 "adam": [np.zeros(2), np.zeros(2)]}[rule]
        path, losses = [w], [land.f(w)[0]]
        for t in range(1, steps + 1):
            grad = land.f(w)[1]
            if rule == "adam":
                w, *state = adam_step(w, grad, *state, t, lr=lr)
            elif rule == "rmsprop":
                w, *state = rmsprop_step(w, grad, *state, lr=lr)
            else:
                w, *state = sgd_step(w, grad, *state, lr=lr, momentum=0.0 if rule == "sgd" else 0.9,
                                     nesterov=rule == "nesterov")
            path.append(w)
            losses.append(land.f(w)[0])
        results[rule] = np.array(path), np.array(losses)
    return results


surfaces = [("ill-conditioned valley", 100), ("rotated valley", 100), ("rosenbrock", 500)]
fig, axes = plt.subplots(2, 3, figsize=(14, 7))
for col, (name, steps) in enumerate(surfaces):
    land = LANDSCAPES[name]
    draw_contours(axes[0, col], land)
    for rule, (path, losses) in race_all(land, steps).items():
        axes[0, col].plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, color=RULES[rule], label=rule)
        axes[1, col].semilogy(np.maximum(losses, 1e-16), color=RULES[rule], label=f"{rule} (lr {land.lrs[rule]:g})")
    axes[0, col].set(xlim=land.xlim, ylim=land.ylim, title=f"{name}: {steps} steps")
    axes[1, col].set(xlabel="step", ylabel="loss (log scale)")
    axes[1, col].legend(fontsize=8)
axes[0, 0].legend(fontsize=8, loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to notice:
#
# * On the axis-aligned valley RMSProp and Adam fix the conditioning by themselves: dividing each
#   coordinate by its own gradient scale makes the valley round. **Turned by 45°** the valley's axes
#   are no longer the coordinates, per-coordinate scaling cannot help, and RMSProp (no momentum) is
#   the slowest; the momentum methods do not care about the rotation.
# * On Rosenbrock the floor of the valley bends: momentum and Nesterov follow it best at these
#   settings; Adam gets there more slowly; plain gradient descent and RMSProp are far behind.
# * No optimizer wins everywhere, and each result depends on its learning rate. Try it: the race
#   below has a slider per learning rate, the momentum and Adam's β₁, and a saddle-shaped surface.
#   Push SGD's learning rate past 0.04 on the valley and watch it diverge.

# %%
race_widget = OptimizerRace(step_fns={"sgd": sgd_step, "rmsprop": rmsprop_step, "adam": adam_step})
race_widget

# %% [markdown]
# ## 5. Same numbers as `torch.optim`
#
# Your functions claim PyTorch's semantics: check them on a real model. A tiny network (4 → 8 → 3,
# tanh) is trained for 6 steps by a `torch.optim` optimizer; a numpy copy of its weights is trained
# by your update rules, with gradients from the same loss. After every step the two sets of weights
# should agree to about 1e-15 (float64 round-off).

# %%
torch.manual_seed(0)
X_tiny, y_tiny = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))


def tiny_model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def tiny_grads(arrays):
    """Gradients of the tiny model's loss at the weights `arrays` (numpy), via autograd."""
    model = tiny_model()
    with torch.no_grad():
        for p, a in zip(model.parameters(), arrays):
            p.copy_(torch.from_numpy(a))
    F.cross_entropy(model(X_tiny), y_tiny).backward()
    return [p.grad.numpy() for p in model.parameters()]


def your_step(kind, w, g, state, t, hp):
    if kind == "sgd":
        w, buf = sgd_step(w, g, state[0], **hp)
        return w, [buf]
    if kind == "rmsprop":
        w, sq = rmsprop_step(w, g, state[0], **hp)
        return w, [sq]
    w, m, v = adam_step(w, g, state[0], state[1], t, **hp)
    return w, [m, v]


configs = {
    "SGD, momentum 0.9, dampening 0.1, weight decay": ("sgd", torch.optim.SGD,
                                                       dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    "SGD, Nesterov": ("sgd", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "RMSprop, weight decay": ("rmsprop", torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=1e-2)),
    "Adam": ("adam", torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99))),
}
for name, (kind, opt_class, hp) in configs.items():
    model = tiny_model()
    opt = opt_class(model.parameters(), **hp)
    arrays = [p.detach().numpy().copy() for p in model.parameters()]
    states = [[None] if kind == "sgd" else [np.zeros_like(a)] * (2 if kind == "adam" else 1) for a in arrays]
    diffs = []
    for t in range(1, 7):
        opt.zero_grad()
        F.cross_entropy(model(X_tiny), y_tiny).backward()
        opt.step()                                                       # torch's step
        grads = tiny_grads(arrays)
        for i, g in enumerate(grads):                                    # your step, parameter by parameter
            arrays[i], states[i] = your_step(kind, arrays[i], g, states[i], t, hp)
        diffs.append(max(np.abs(a - p.detach().numpy()).max() for a, p in zip(arrays, model.parameters())))
    verdict = "✔ same as torch" if max(diffs) < 1e-10 else "✘ differs from torch"
    print(f"{name:>48}: max |yours − torch| per step " + " ".join(f"{d:.0e}" for d in diffs) + f"  {verdict}")

# %% [markdown]
# ## 6. Learning-rate schedules
#
# The lecture notes' recipe: start with a learning rate like 0.01 and **divide it by 10 when the loss
# stops going down**. Large steps early make fast progress; small steps late settle into a minimum
# instead of bouncing around it. Common schedules, as functions of the epoch (0, 1, 2, …; the value
# is the rate used *during* that epoch, like PyTorch after `epoch` calls of `scheduler.step()`):
#
# * **step decay** (`StepLR`): $\eta_0\,\gamma^{\lfloor e / s\rfloor}$ — multiply by γ (e.g. 0.1) every s epochs;
# * **cosine annealing** (Loshchilov & Hutter 2016): from $\eta_0$ down to $\eta_{min}$ along half a
#   cosine over `total` epochs, $\eta_{min} + \tfrac12(\eta_0 - \eta_{min})\,(1 + \cos(\pi e / T))$,
#   then held at $\eta_{min}$. PyTorch's `CosineAnnealingLR(T_max=T)` gives the same values for
#   $e \le T$ but keeps following the cosine after that: it climbs back to $\eta_0$ at $2T$ and repeats
#   with period $2T$ — fine when you stop at $T$, a surprise if you train longer;
# * **warm-up** (`LinearLR`): start small and grow linearly for the first few epochs, so that the
#   large early gradients of a random network do not throw it far off (Goyal et al., 2017);
# * **reduce on plateau** (`ReduceLROnPlateau`): divide by 10 when a monitored loss has not improved
#   for `patience` epochs — the lecture notes' rule, automated.
#
# **Exercise 4.** `step_decay(epoch, lr0, step_size, gamma=0.1)`. **Exercise 5.**
# `cosine_lr(epoch, lr0, total, lr_min=0.0)`, the clamped version: after `total` epochs the rate stays
# at `lr_min`. Both
# return a float and raise `ValueError` for a negative epoch, `step_size < 1` or `total < 1`.

# %% nbgrader={"grade": false, "grade_id": "step_decay", "locked": false, "schema_version": 3, "solution": true, "task": false}
def step_decay(epoch, lr0, step_size, gamma=0.1):
    """Learning rate of epoch ``epoch`` under ``StepLR(step_size, gamma)`` starting from lr0."""
    ### BEGIN SOLUTION
    if epoch < 0:
        raise ValueError(f"epoch must be ≥ 0, got {epoch}")
    if step_size < 1:
        raise ValueError(f"step_size must be ≥ 1, got {step_size}")
    return lr0 * gamma ** (epoch // step_size)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_step_decay", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "step_decay", "seed": 704}
check_step_decay(step_decay)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("step_decay", step_decay, seed=704)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "cosine_lr", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cosine_lr(epoch, lr0, total, lr_min=0.0):
    """Clamped cosine annealing: ``CosineAnnealingLR(T_max=total, eta_min=lr_min)`` up to ``total``, then lr_min."""
    ### BEGIN SOLUTION
    if epoch < 0:
        raise ValueError(f"epoch must be ≥ 0, got {epoch}")
    if total < 1:
        raise ValueError(f"total must be ≥ 1, got {total}")
    e = min(epoch, total)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * e / total))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cosine_lr", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "cosine_lr", "seed": 705}
check_cosine_lr(cosine_lr)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("cosine_lr", cosine_lr, seed=705)
### END HIDDEN TESTS

# %% [markdown]
# Your schedules (lines) against PyTorch's schedulers (dots), plus warm-up + cosine, the usual
# recipe for training from scratch today (`course_lib.reference.optim.warmup_cosine`, built from the two).

# %%
from course_lib.reference.optim import warmup_cosine  # noqa: E402  (reference: linear warm-up, then cosine)


def torch_schedule(make, epochs, lr0=0.1):
    """The lr of each epoch under a torch scheduler."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr0)
    sched, lrs = make(opt), []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


E, lr0 = 30, 0.1
epochs = np.arange(E)
LR = torch.optim.lr_scheduler
curves = {
    "step decay (10, ×0.1)": ([step_decay(e, lr0, 10) for e in epochs], torch_schedule(lambda o: LR.StepLR(o, 10, 0.1), E)),
    "cosine (total 30)": ([cosine_lr(e, lr0, E) for e in epochs], torch_schedule(lambda o: LR.CosineAnnealingLR(o, E), E)),
    "warm-up 5 + cosine": ([warmup_cosine(e, lr0, E, 5) for e in epochs], torch_schedule(
        lambda o: LR.SequentialLR(o, [LR.LinearLR(o, 1 / 3, total_iters=5), LR.CosineAnnealingLR(o, E - 5)], [5]), E)),
}
fig, ax = plt.subplots(figsize=(7, 3.2))
for (name, (ours, theirs)), colour in zip(curves.items(), ["C0", "C1", "C2"]):
    ax.plot(epochs, ours, color=colour, label=name)
    ax.plot(epochs, theirs, "o", ms=3, color=colour)
    print(f"{name:>22}: max |yours − torch| = {np.max(np.abs(np.subtract(ours, theirs))):.1e}")
ax.set(xlabel="epoch", ylabel="learning rate", title="Schedules: yours (lines) vs torch.optim.lr_scheduler (dots)")
ax.legend()
plt.show()

# past T_max the two cosines part ways: yours is clamped, torch's climbs back (period 2·T_max)
torch_cos = torch_schedule(lambda o: LR.CosineAnnealingLR(o, E), 2 * E + 1)
for e in (E, 3 * E // 2, 2 * E):
    print(f"epoch {e:>2}: yours {cosine_lr(e, lr0, E):.4f}, CosineAnnealingLR {torch_cos[e]:.4f}")

# %% [markdown]
# ## 7. Initialization
#
# The lecture notes list the common ways to draw the initial weights: Gaussian, uniform, Glorot (=
# Xavier) and He. The first two need a scale, and the notes' "Gaussian times a small number"
# (0.01) is exactly what breaks deep networks. Why: a linear layer with `fan_in` inputs sums
# `fan_in` products, so the variance of its output is $\text{fan\_in}\cdot\text{Var}(w)\cdot E[x^2]$.
# To keep the signal's scale from layer to layer:
#
# * **Glorot & Bengio (2010)** — for tanh/linear units, balancing forward and backward passes:
#   $\text{Var}(w) = \frac{2}{\text{fan\_in} + \text{fan\_out}}$; as a uniform distribution
#   $U(-b, b)$ with $b = \text{gain}\cdot\sqrt{6 / (\text{fan\_in} + \text{fan\_out})}$.
# * **He et al. (2015)** — ReLU zeroes half of its inputs, halving $E[x^2]$; compensate with twice the
#   variance: $\text{std} = \text{gain}/\sqrt{\text{fan}}$ with gain √2 for ReLU.
#
# PyTorch's gains (`torch.nn.init.calculate_gain`): 1 for linear and sigmoid, 5/3 for tanh, √2 for
# ReLU, $\sqrt{2/(1 + a^2)}$ for leaky ReLU with negative slope $a$. And its fans: a linear weight is
# `(D_out, D_in)`, so fan_in = D_in and fan_out = D_out; a conv weight `(F, C, KH, KW)` has
# fan_in = C·KH·KW and fan_out = F·KH·KW (each output sees C·KH·KW inputs).
#
# **Exercise 6.** `fan_in_and_fan_out(shape)` → `(fan_in, fan_out)` as ints; `ValueError` for fewer than
# 2 dimensions. **Exercise 7.** `xavier_uniform(shape, rng, gain=1.0)`: compute the bound and draw
# with **one call** `rng.uniform(-bound, bound, size=shape)` (the check gives your function and the
# reference identical copies of `rng`, so the numbers must match exactly). **Exercise 8.**
# `kaiming_normal(shape, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu")`: the std from the gain
# of `nonlinearity` (one of "relu", "leaky_relu", "tanh", "linear", "sigmoid"; `a` is the leaky
# slope) and the fan chosen by `mode` ("fan_in" or "fan_out", else `ValueError`), drawn with
# `rng.normal(0.0, std, size=shape)`. The defaults are PyTorch's.

# %% nbgrader={"grade": false, "grade_id": "fan_in_and_fan_out", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight of ``shape``: (D_out, D_in) or (F, C, KH, KW, ...)."""
    ### BEGIN SOLUTION
    if len(shape) < 2:
        raise ValueError(f"a weight needs at least 2 dimensions to have fans, got shape {shape}")
    receptive = int(np.prod(shape[2:]))   # 1 for a linear weight
    return int(shape[1]) * receptive, int(shape[0]) * receptive
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_fan_in_and_fan_out", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "fan_in_and_fan_out", "seed": 706}
check_fan_in_and_fan_out(fan_in_and_fan_out)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("fan_in_and_fan_out", fan_in_and_fan_out, seed=706)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "xavier_uniform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def xavier_uniform(shape, rng, gain=1.0):
    """Glorot-uniform weights of ``shape``, drawn from ``rng`` (a numpy Generator)."""
    ### BEGIN SOLUTION
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_xavier_uniform", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "xavier_uniform", "seed": 707}
check_xavier_uniform(xavier_uniform)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("xavier_uniform", xavier_uniform, seed=707)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "kaiming_normal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kaiming_normal(shape, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He-normal weights of ``shape``, drawn from ``rng`` (a numpy Generator)."""
    ### BEGIN SOLUTION
    gains = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": np.sqrt(2.0),
             "leaky_relu": np.sqrt(2.0 / (1 + a ** 2))}
    if nonlinearity not in gains:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gains[nonlinearity] / np.sqrt(fan_in if mode == "fan_in" else fan_out)
    return rng.normal(0.0, std, size=shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_kaiming_normal", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "kaiming_normal", "seed": 708}
check_kaiming_normal(kaiming_normal)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("kaiming_normal", kaiming_normal, seed=708)
### END HIDDEN TESTS

# %% [markdown]
# ### Activation statistics through ten layers
#
# Push 500 random inputs through 10 layers of 256 units with each initialization and record the
# standard deviation of the activations after every layer (the experiment of Glorot & Bengio's and
# He et al.'s papers, and of CS231n).

# %%
inits = {
    "Gaussian, std 0.01": lambda shape, rng: rng.normal(0.0, 0.01, size=shape),
    "Xavier (yours)": lambda shape, rng: xavier_uniform(shape, rng),
    "He, ReLU gain (yours)": lambda shape, rng: kaiming_normal(shape, rng, nonlinearity="relu"),
}
activations = {"tanh": np.tanh, "ReLU": lambda z: np.maximum(z, 0.0)}


def activation_stds(init, act, depth=10, width=256, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((500, width))                    # (N, D)
    stds = []
    for _ in range(depth):
        h = act(h @ init((width, width), rng).T)             # weight (D_out, D_in), like nn.Linear
        stds.append(h.std())
    return stds


fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
for ax, (act_name, act) in zip(axes, activations.items()):
    for init_name, init in inits.items():
        stds = activation_stds(init, act)
        ax.semilogy(range(1, 11), stds, "o-", ms=4, label=init_name)
        print(f"{act_name:>5} | {init_name:<22}: std after layer 1 = {stds[0]:.2e}, after layer 10 = {stds[-1]:.2e}")
    ax.set(xlabel="layer", title=f"{act_name} network, 256 units per layer")
    ax.legend()
axes[0].set_ylabel("std of the activations (log)")
plt.tight_layout()
plt.show()

# %% [markdown]
# With std 0.01 each layer multiplies the signal's scale by about $\sqrt{256}\cdot0.01 = 0.16$ (with
# ReLU, which zeroes half of the units, $0.16/\sqrt2 \approx 0.11$): after ten layers nothing is left, and the gradients, which flow back through the same
# weights, vanish too. Xavier keeps tanh networks alive but lets ReLU networks shrink by $\sqrt2$ per
# layer; He's factor 2 makes up for the half of the units that ReLU switches off, and the scale stays
# put. Does it matter for training? A 10-layer ReLU network on the digits, three initializations,
# same everything else:

# %%
Xtr, ytr, Xte, yte = digits_split()                                   # (1437, 1, 8, 8) / (360, 1, 8, 8)
mean, std = Xtr.reshape(len(Xtr), -1).mean(0), Xtr.reshape(len(Xtr), -1).std(0) + 0.1
Ztr = (Xtr.reshape(len(Xtr), -1) - mean) / std                        # (1437, 64): standardised features
Zte = (Xte.reshape(len(Xte), -1) - mean) / std                        # (360, 64), with the training statistics


def mlp(depth=1, width=128, act=nn.ReLU, dropout=0.0, seed=0):
    """64 → [width, act] × depth → 10, with optional dropout before each hidden-to-next layer."""
    torch.manual_seed(seed)
    layers, d = [], 64
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()] + ([nn.Dropout(dropout)] if dropout else [])
        d = width
    return nn.Sequential(*layers, nn.Linear(d, 10))


def initialise(model, init, seed=0):
    """Overwrite every Linear weight with init(shape, rng) and zero the biases."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.copy_(torch.from_numpy(init(tuple(layer.weight.shape), rng)))
                layer.bias.zero_()
    return model


histories = {}
for name, init in tqdm(inits.items(), desc="10-layer ReLU nets"):
    model = initialise(mlp(depth=10, width=64), init)
    histories[name] = fit(model, (Ztr, ytr), (Zte, yte), epochs=6, optimizer="momentum", lr=0.01, progress=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
plot_histories(histories, "train_loss", ax=axes[0])
plot_histories(histories, "val_acc", ax=axes[1])
axes[0].set_title("10-layer ReLU MLP on the digits")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8. Mini-batches
#
# The gradient of the loss over the whole training set is exact but costs a full pass per step. The
# gradient of one example is cheap but noisy. A **mini-batch** of B examples is the compromise, and
# vectorised hardware computes it almost as fast as a single example. Each epoch visits every example
# once, in a **new random order** — the first of the lecture notes' tips: "样本要随机化" (shuffle the
# samples).
#
# **Exercise 9.** `minibatches(n, batch_size, rng, shuffle=True, drop_last=False)` returns a list of
# index arrays: with `shuffle`, take `order = rng.permutation(n)` (one call), otherwise
# `np.arange(n)`; cut it into consecutive batches of `batch_size`; the last batch may be smaller,
# unless `drop_last` (then it is dropped when incomplete). `ValueError` for `batch_size < 1`.

# %% nbgrader={"grade": false, "grade_id": "minibatches", "locked": false, "schema_version": 3, "solution": true, "task": false}
def minibatches(n, batch_size, rng=None, shuffle=True, drop_last=False):
    """Index arrays of one epoch's mini-batches over n examples."""
    ### BEGIN SOLUTION
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_minibatches", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "minibatches", "seed": 709}
check_minibatches(minibatches)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("minibatches", minibatches, seed=709)
### END HIDDEN TESTS

# %% [markdown]
# ## 9. The lecture notes' training tips, tested
#
# The notes (调参方法, "how to tune") list nine habits. Each gets a small experiment below, on the
# digits with a small MLP (a few seconds each at most). A bare training loop, built on your
# `minibatches`, serves the experiments that `course_lib.train.fit` cannot express (a fixed batch
# order, a plateau schedule); the others use `fit`.

# %%
def train_loop(model, X, y, *, epochs, lr, batch_size=32, momentum=0.9, shuffle=True, plateau=None, seed=0):
    """SGD (+ momentum) over minibatches(...) of (X, y); returns per-epoch train loss, val loss/acc and lr."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    log = {"train_loss": [], "val_loss": [], "val_acc": [], "lr": []}
    for _ in range(epochs):
        total = 0.0
        for idx in minibatches(len(Xt), batch_size, rng, shuffle=shuffle):
            idx = torch.as_tensor(idx)
            loss = F.cross_entropy(model(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val_loss, val_acc = evaluate(model, Zte, yte)
        log["lr"].append(opt.param_groups[0]["lr"])
        log["train_loss"].append(total / len(Xt))
        log["val_loss"].append(val_loss)
        log["val_acc"].append(val_acc)
        if plateau is not None:                     # "divide by 10 when the loss stops going down"
            for group in opt.param_groups:
                group["lr"] = plateau.step(log["train_loss"][-1])
    return log


# %% [markdown]
# ### Tip 1 — shuffle the samples (样本要随机化)
#
# Same model, same data, same number of steps; once in a new random order every epoch, once sorted by
# label (all 0s first, then all 1s, …). Sorted, each stretch of batches pulls the network towards one
# class and the next stretch undoes it: it learns whichever class came last.

# %%
order = np.argsort(ytr, kind="stable")
tip1 = {"shuffled each epoch": train_loop(mlp(), Ztr, ytr, epochs=5, lr=0.05),
        "sorted by label": train_loop(mlp(), Ztr[order], ytr[order], epochs=5, lr=0.05, shuffle=False)}
for name, log in tip1.items():
    print(f"{name:>20}: validation accuracy after each epoch {np.round(log['val_acc'], 3)}")

# %% [markdown]
# ### Tip 2 — normalise the inputs (样本要做归一化)
#
# Raw pixels of an image file are 0–255, all positive. Standardising each feature (subtract the
# training mean, divide by the training std) centres the inputs and puts them on one scale, which
# makes the loss surface rounder — the valley of section 1 again. Sweep the learning rate for both:

# %%
raw_tr, raw_te = Xtr.reshape(len(Xtr), -1) * 255, Xte.reshape(len(Xte), -1) * 255   # like 8-bit pixels
lrs = [1e-4, 1e-3, 1e-2, 1e-1]
tip2 = {"raw pixels 0–255": (raw_tr, raw_te), "standardised": (Ztr, Zte)}
fig, ax = plt.subplots(figsize=(6, 3))
for name, (a, b) in tqdm(tip2.items(), desc="lr sweeps"):
    final = [fit(mlp(), (a, ytr), (b, yte), epochs=5, optimizer="momentum", lr=lr, progress=False).train_loss[-1]
             for lr in lrs]
    ax.loglog(lrs, np.nan_to_num(final, nan=10.0), "o-", label=name)
    print(f"{name:>17}: final training loss per lr {np.round(final, 3)}")
ax.axhline(np.log(10), color="gray", ls=":", label="ln 10: chance")
ax.set(xlabel="learning rate (SGD, momentum 0.9)", ylabel="training loss after 5 epochs",
       title="Standardised inputs tolerate a 100× larger lr")
ax.legend()
plt.show()

# %% [markdown]
# With raw pixels only a tiny learning rate works — from 0.01 on, the first steps are so large that
# the ReLUs die and the loss is stuck at chance — while standardised inputs train best at a learning
# rate a hundred times larger and reach a lower loss.
#
# ### Tip 3 — ReLU for deep networks (激活函数要视样本输入选择; 多层一般使用 ReLU)
#
# Five hidden layers of 64 units, identical except for the activation, each with the initialization
# that suits it (section 7). The sigmoid's derivative is at most 1/4, so the gradient shrinks by 4×
# or more per layer on the way back: the first layers hardly learn. ReLU passes gradients through
# unchanged where it is active. The dashed line is ReLU again with PyTorch's default initialization.

# %%
tip3_setups = {
    "sigmoid + Xavier": (nn.Sigmoid, lambda shape, rng: xavier_uniform(shape, rng)),
    "tanh + Xavier (gain 5/3)": (nn.Tanh, lambda shape, rng: xavier_uniform(shape, rng, gain=5 / 3)),
    "ReLU + He": (nn.ReLU, lambda shape, rng: kaiming_normal(shape, rng, nonlinearity="relu")),
    "ReLU + torch's default init": (nn.ReLU, None),
}
tip3 = {}
for name, (act, init) in tqdm(tip3_setups.items(), desc="activations"):
    model = mlp(depth=5, width=64, act=act)
    tip3[name] = fit(model if init is None else initialise(model, init), (Ztr, ytr), (Zte, yte), epochs=8,
                     optimizer="momentum", lr=0.02, progress=False)
ax = plot_histories(tip3, "train_loss")
ax.lines[-1].set_linestyle("--")
ax.legend()
ax.set_title("5 hidden layers, SGD + momentum: training loss")
plt.show()

# %% [markdown]
# ### Tip 4 — mini-batches of a sensible size (mini batch 很重要)
#
# Same learning rate, 10 epochs, four batch sizes (the whole training set is 1,437 examples). Small
# batches make many noisy steps per epoch; large ones few precise steps, each cheaper per example.
# The notes' "几百是比较合适的" (a few hundred) is advice for large data sets; on 1,437 digits a
# batch of 64 already makes 23 updates per epoch.

# %%
tip4 = {}
for bs in tqdm([16, 64, 256, len(Ztr)], desc="batch sizes"):
    tip4[f"batch {bs}"] = fit(mlp(), (Ztr, ytr), (Zte, yte), epochs=10, batch_size=bs, optimizer="momentum",
                              lr=0.02, progress=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
plot_histories(tip4, "train_loss", ax=axes[0], logy=True)
for name, h in tip4.items():
    axes[1].semilogy(np.cumsum(h.seconds), h.train_loss, "o-", ms=3, label=name)
axes[1].set(xlabel="seconds", ylabel="train loss", title="the same runs against wall-clock time")
axes[1].legend()
axes[0].set_title("per epoch: small batches make more updates")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Tip 5 — divide the learning rate by 10 when the loss stops going down (学习速率除以10)
#
# A learning rate that is too large (0.3 with momentum 0.9): kept constant, against the same start with
# `ReduceOnPlateau` (PyTorch's `ReduceLROnPlateau`, in `course_lib.reference.optim`), which divides the rate by
# 10 whenever the training loss has not improved for `patience` = 1 epoch.

# %%
from course_lib.reference.optim import ReduceOnPlateau  # noqa: E402  (the reference "reduce on plateau" rule)

tip5 = {"constant lr 0.3": train_loop(mlp(), Ztr, ytr, epochs=12, lr=0.3),
        "lr 0.3, ÷10 on plateau": train_loop(mlp(), Ztr, ytr, epochs=12, lr=0.3,
                                             plateau=ReduceOnPlateau(0.3, factor=0.1, patience=1))}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for name, log in tip5.items():
    axes[0].semilogy(log["train_loss"], "o-", ms=3, label=name)
    axes[1].semilogy(log["lr"], "o-", ms=3, label=name)
    print(f"{name:>22}: train loss per epoch {np.round(log['train_loss'], 3)}, final val accuracy {log['val_acc'][-1]:.3f}")
axes[0].set(xlabel="epoch", ylabel="train loss", title="training loss")
axes[1].set(xlabel="epoch", ylabel="learning rate", title="learning rate")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# At the constant rate the loss never settles and then grows: the steps are too large. The plateau
# rule notices the first epoch without progress and divides the rate by 10 — and the loss plunges,
# the staircase you see in the training curves of many papers (ResNet on ImageNet started at 0.1 and
# divided by 10 whenever the error plateaued; PyTorch's ImageNet example fixes the steps at every 30
# epochs).
#
# ### Tip 6 — initialise the weights well (权重初始化)
#
# Section 7: the notes' "Gaussian × a small number" works for shallow networks but starves deep ones;
# Xavier for tanh, He for ReLU. `torch.nn.Linear` and `Conv2d` default to `kaiming_uniform_` with
# $a = \sqrt5$, i.e. std $= 1/\sqrt{3\,\text{fan\_in}}$: a sixth of He's variance. Fine for one or two
# layers (the other experiments here use it), too small for Tip 3's five ReLU layers.
#
# ### Tip 7 — Adam vs SGD + momentum
#
# The notes: Adam converges faster, but well-tuned SGD + momentum often ends at a solution as good or
# better; when a model is hard to train with SGD, Adam shows its strength. On the digits:

# %%
tip7 = {name: fit(mlp(), (Ztr, ytr), (Zte, yte), epochs=15, optimizer=opt, lr=lr, progress=False)
        for name, (opt, lr) in tqdm({"SGD, lr 0.02": ("sgd", 0.02), "SGD + momentum 0.9, lr 0.02": ("momentum", 0.02),
                                     "Adam, lr 1e-3": ("adam", 1e-3)}.items(), desc="optimizers")}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
plot_histories(tip7, "train_loss", ax=axes[0], logy=True)
plot_histories(tip7, "val_acc", ax=axes[1])
for name, h in tip7.items():
    print(f"{name:>28}: train loss {h.train_loss[-1]:.4f}, best val accuracy {max(h.val_acc):.3f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Tips 8 and 9 — dropout (位置以及大小非常重要) and early stopping (early stop)
#
# Overfitting needs a model much larger than its data: 150 training digits, two hidden layers of 512
# units. Dropout zeroes a random fraction p of the hidden units at every training step (and none at
# test time), so the network cannot rely on any single unit. Early stopping watches the validation
# loss and stops when it has not improved for `patience` epochs, restoring the best weights
# (`fit(..., early_stopping=5)`).

# %%
small = slice(0, 150)
tip8 = {}
for p in tqdm([0.0, 0.5, 0.9], desc="dropout"):
    tip8[f"dropout {p}"] = fit(mlp(depth=2, width=512, dropout=p), (Ztr[small], ytr[small]), (Zte, yte), epochs=30,
                               optimizer="adam", lr=1e-3, progress=False)
stopped = fit(mlp(depth=2, width=512), (Ztr[small], ytr[small]), (Zte, yte), epochs=30, optimizer="adam", lr=1e-3,
              early_stopping=5, progress=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
plot_histories(tip8, "val_loss", ax=axes[0])
plot_histories(tip8, "train_loss", ax=axes[1], logy=True)
axes[0].axvline(stopped.best_epoch + 1, color="C0", ls=":", label="early stopping: best epoch")
axes[0].axvline(stopped.epochs, color="C0", ls="--", label=f"…stopped at epoch {stopped.epochs}")
axes[0].set(ylim=(0.3, 1.2), title="validation loss (150 training digits)")
axes[0].legend(fontsize=8)
axes[1].set_title("training loss")
plt.tight_layout()
plt.show()
for name, h in tip8.items():
    print(f"{name:>12}: best val loss {min(h.val_loss):.3f} (epoch {int(np.argmin(h.val_loss)) + 1}), "
          f"final val loss {h.val_loss[-1]:.3f}, final val acc {h.val_acc[-1]:.3f}, final train loss {h.train_loss[-1]:.4f}")
print(f"early stopping: ran {stopped.epochs} of 30 epochs and kept the weights of epoch {stopped.best_epoch + 1}: "
      f"val loss {min(stopped.val_loss):.3f}, val acc {stopped.val_acc[stopped.best_epoch]:.3f}")

# %% [markdown]
# Without dropout the training loss goes to almost 0 and the validation loss, after its minimum a few
# epochs in, creeps up: the network grows more confident about digits it gets wrong. Moderate dropout
# keeps training loss higher and the validation loss lower for longer; too much (0.9) starves the
# network. Early stopping gets the best of the no-dropout run for a fraction of the epochs. The
# effects are modest here because 8×8 digits are easy; on large networks they decide the result.
#
# ## 10. Capstone: LeNet-5 on the digits
#
# Everything together: LeNet-5 (61,706 parameters, Chapter 2's convolutions and Chapter 3's pooling)
# with batch normalization, on the digits upsampled to 32×32, trained with Adam (lr 3e-3) and cosine
# annealing over 15 epochs, shuffled mini-batches of 128 (the pixels stay in [0, 1]: the first
# BatchNorm standardises what the first convolution sees). Target: **≥ 98 % test accuracy in ≤ 30 s
# on a laptop CPU.** The bar shows the epochs; the plot below it is redrawn after every epoch.

# %%
torch.manual_seed(0)
lenet = LeNet5(batch_norm=True)
print(f"LeNet-5 with BatchNorm: {count_params(lenet):,} parameters")
start = time.perf_counter()
history = fit(lenet, (Xtr, ytr), (Xte, yte), epochs=15, batch_size=128, optimizer="adam", lr=3e-3,
              scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15),
              transform=digits_to_32, progress=True, live_plot=True, desc="LeNet-5")
seconds = time.perf_counter() - start
test_loss, test_acc = evaluate(lenet, digits_to_32(Xte), yte)
print(f"test accuracy {test_acc:.2%} (loss {test_loss:.3f}) after {history.epochs} epochs in {seconds:.1f} s")
assert test_acc >= 0.98, f"LeNet-5 reached only {test_acc:.2%}"

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **Initialization.** The notes' "Gaussian × a small number" (0.01) is tested and shown to starve a deep ReLU network (a factor ≈ 0.11 per layer); Glorot for tanh, He for ReLU.
# > * **"Divide the learning rate by 10".** ResNet did it when the error plateaued; the fixed 30-epoch steps are PyTorch's ImageNet example (errata 6f0ce85).
# > * **Cosine.** `cosine_lr` is the clamped schedule (it stays at `lr_min` after `total` epochs); PyTorch's `CosineAnnealingLR` is periodic. Nesterov momentum is Nesterov (1983), brought to deep learning by Sutskever et al. (2013).
# > * **"几百是比较合适的" batch size** is advice for large data sets; on 1,437 digits a few hundred leaves a handful of updates per epoch, so Tip 4 compares batches from 16 to the whole set at one learning rate.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (4 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does Adam divide its moment estimates by $1 - \beta^t$? What would the first step look like without the correction (β₁ = 0.9, β₂ = 0.999)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_adam_bias", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** m and v start at 0, so early on they are biased towards 0: $E[m_t] = (1 - \beta_1^t)\,E[g]$, and likewise for v with β₂. Dividing by $1 - \beta^t$ removes that bias. Without it, step 1 would be $\text{lr}\cdot 0.1 g/\sqrt{0.001 g^2} \approx 3.2\,\text{lr}$ per coordinate instead of lr (v's bias is larger than m's), and the steps would stay mis-scaled for the first ~1000 iterations.
#
# **Rubric (2 points).** 1 pt: the estimates are biased towards zero because they start at 0. 1 pt: the effect — mis-scaled (≈ 3× too large) early steps.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does He initialization use $\mathrm{Var}(w) = 2/\text{fan\_in}$ for ReLU layers, and what happens to a deep ReLU network initialised with std 0.01 instead?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_he_init", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A layer's output variance is $\text{fan\_in}\cdot\mathrm{Var}(w)\cdot E[x^2]$, and after a ReLU $E[x^2]$ is half the pre-activation variance; $\mathrm{Var}(w) = 2/\text{fan\_in}$ keeps the scale constant from layer to layer (forwards, and the gradients backwards). With std 0.01 each layer multiplies the scale by $0.01\sqrt{\text{fan\_in}/2}$ — about 0.11 for 256 inputs — so activations and gradients shrink geometrically with depth and the network barely trains.
#
# **Rubric (2 points).** 1 pt: variance preservation with the ReLU factor 2. 1 pt: a small fixed std shrinks signals geometrically (vanishing).
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Update rules: SGD $w \leftarrow w - \eta g$; momentum accumulates a velocity (Nesterov looks
#   ahead); RMSProp divides each coordinate by its RMS gradient; Adam does both, with bias correction
#   so the first steps are not tiny. Every rule matches `torch.optim` to round-off.
# * Ill-conditioning (a long narrow valley) is what makes plain gradient descent slow; momentum fixes
#   it in any direction, per-coordinate scaling only along the axes.
# * Schedules: step decay, cosine, warm-up, and "÷10 on plateau" — large steps early, small late.
# * Initialization keeps the activations' scale: Var(w) = 2/(fan_in + fan_out) (Xavier, tanh),
#   2/fan_in (He, ReLU). Gaussian 0.01 kills a 10-layer network.
# * The practical tips hold up: shuffle, standardise, ReLU, a sensible batch size, ÷10 on plateau,
#   Adam for speed / SGD + momentum for the last bit, dropout and early stopping against overfitting.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch07")`.
#
# Check your whole notebook from a terminal with `course check chapters/ch07_training/ch07_training.ipynb`.
